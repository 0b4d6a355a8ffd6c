//! Micro-benchmarks of the hot paths (no external harness):
//! `cargo bench --bench micro`. Each case runs for about a second after a
//! warm-up, five times; the median time per operation is printed.

use std::hint::black_box;
use std::time::{Duration, Instant};

use coffer::crypto::{aead, Key256};
use coffer::proto::storage::{op::Kind, Command, Op, SecretAttributes, SetSecret};
use coffer::state::kv::{MemKv, Txn};
use openraft::storage::RaftStateMachine;
use prost::Message;

fn measure(name: &str, mut f: impl FnMut()) {
    for _ in 0..100 {
        f();
    }
    let mut samples = Vec::new();
    for _ in 0..5 {
        let start = Instant::now();
        let mut n = 0u64;
        while start.elapsed() < Duration::from_millis(200) {
            f();
            n += 1;
        }
        samples.push(start.elapsed().as_nanos() as f64 / n as f64);
    }
    samples.sort_by(|a, b| a.total_cmp(b));
    let ns = samples[2];
    println!("{name:<44} {:>12.0} ns/op {:>12.0} op/s", ns, 1e9 / ns);
}

fn set_op(i: usize, value: &[u8]) -> Op {
    Op {
        kind: Some(Kind::SetSecret(SetSecret {
            vault: "v".into(),
            name: format!("s{i}"),
            version: format!("{i:032x}"),
            value: value.to_vec(),
            attributes: Some(SecretAttributes { enabled: true, ..Default::default() }),
            expected_version: None,
        })),
    }
}

fn main() {
    let key = Key256::generate().unwrap();
    for size in [64usize, 1024, 25 * 1024] {
        let value = vec![7u8; size];
        let aad = b"coffer/v1/secret-value/v/s/00000000000000000000000000000001";
        let ct = aead::seal(&key, 1, aad, &value).unwrap();
        measure(&format!("barrier encrypt {size} B"), || {
            black_box(aead::seal(&key, 1, aad, black_box(&value)).unwrap());
        });
        measure(&format!("barrier decrypt {size} B"), || {
            black_box(aead::open(&key, aad, black_box(&ct)).unwrap());
        });
    }

    let value = vec![7u8; 300];
    let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let sm_dir = tempfile::tempdir().unwrap();
    let (_log, mut sm, _reader) = coffer::storage::open(sm_dir.path(), 1).unwrap();
    let mut index = 0u64;
    runtime.block_on(sm.apply([entry(&mut index, setup_vault_command())])).unwrap();
    for batch in [1usize, 16, 256] {
        let cmd = Command { now: 1, ops: (0..batch).map(|i| set_op(i, &value)).collect() };
        let log_entry = coffer::proto::raft::Entry {
            log_id: Some(coffer::proto::raft::LogId {
                leader_id: Some(coffer::proto::raft::LeaderId { term: 1, node_id: 1 }),
                index: 1,
            }),
            payload: Some(coffer::proto::raft::entry::Payload::Normal(cmd.clone())),
        };
        let bytes = log_entry.encode_to_vec();
        measure(&format!("protobuf encode log entry ({batch} ops)"), || {
            black_box(black_box(&log_entry).encode_to_vec());
        });
        measure(&format!("protobuf decode log entry ({batch} ops)"), || {
            black_box(coffer::proto::raft::Entry::decode(black_box(bytes.as_slice())).unwrap());
        });
        measure(&format!("state machine apply on RocksDB ({batch} ops)"), || {
            // Fresh versions each time: every apply writes new records.
            let ops = (0..batch).map(|i| set_op(i + index as usize * 1000, &value)).collect();
            let e = entry(&mut index, Command { now: 1, ops });
            black_box(runtime.block_on(sm.apply([e])).unwrap());
        });
        let mut base = MemKv::default();
        coffer_setup_vault(&mut base);
        measure(&format!("state apply ({batch} ops, in-memory kv)"), || {
            let mut txn = Txn::new(&base);
            black_box(coffer::state::apply::apply(&mut txn, &cmd));
            black_box(txn.into_writes());
        });
    }

    let dir = tempfile::tempdir().unwrap();
    let db = rocksdb::DB::open_default(dir.path().join("db")).unwrap();
    let mut sync = rocksdb::WriteOptions::default();
    sync.set_sync(true);
    for batch in [1usize, 64] {
        let mut i = 0u64;
        measure(&format!("rocksdb write batch ({batch} x 300 B) + sync"), || {
            let mut wb = rocksdb::WriteBatch::default();
            for _ in 0..batch {
                i += 1;
                wb.put(i.to_be_bytes(), &value);
            }
            db.write_opt(wb, &sync).unwrap();
        });
    }
}

fn setup_vault_command() -> Command {
    use coffer::proto::storage::CreateVault;
    Command {
        now: 0,
        ops: vec![Op {
            kind: Some(Kind::CreateVault(CreateVault {
                name: "v".into(),
                retention_days: 90,
                purge_protection: false,
            })),
        }],
    }
}

/// The next log entry carrying `cmd`.
fn entry(index: &mut u64, cmd: Command) -> openraft::Entry<coffer::raft::TypeConfig> {
    *index += 1;
    openraft::Entry {
        log_id: openraft::LogId::new(openraft::CommittedLeaderId::new(1, 1), *index),
        payload: openraft::EntryPayload::Normal(std::sync::Arc::new(cmd)),
    }
}

fn coffer_setup_vault(kv: &mut MemKv) {
    let cmd = setup_vault_command();
    let writes = {
        let mut txn = Txn::new(kv);
        coffer::state::apply::apply(&mut txn, &cmd);
        txn.into_writes()
    };
    kv.commit(writes);
}
