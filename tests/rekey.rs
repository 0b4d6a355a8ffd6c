//! Rekeying after a leak of key shares: what the old shares open afterwards,
//! and how the other nodes learn the new root key.

mod common;

use std::collections::BTreeMap;
use std::io::Write;

use coffer::barrier::{aad, shares, Keyring};
use coffer::client::{ReadConsistency, SetSecret};
use coffer::crypto::{aead, shamir, Key256};
use coffer::error_code::ErrorCode;
use coffer::proto::storage::{SecretVersionRecord, SecurityRecord};
use coffer::state::keys;
use common::TestCluster;
use prost::Message;

/// A saved snapshot of the cluster's state: its key/value pairs.
async fn copy_of_state(cluster: &TestCluster) -> BTreeMap<Vec<u8>, Vec<u8>> {
    let mut bytes = Vec::new();
    cluster.client().save_snapshot(&mut bytes).await.unwrap();
    let mut file = tempfile::tempfile().unwrap();
    file.write_all(&bytes).unwrap();
    std::io::Seek::rewind(&mut file).unwrap();
    coffer::storage::snapshot_file::read_all(&mut file).unwrap().into_iter().map(|r| (r.key, r.value)).collect()
}

/// Every length-delimited field at the top level of a protobuf message.
fn byte_fields(mut buf: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    while !buf.is_empty() {
        let Ok(key) = prost::encoding::decode_varint(&mut buf) else { break };
        match key & 7 {
            0 => {
                let _ = prost::encoding::decode_varint(&mut buf);
            }
            2 => {
                let Ok(len) = prost::encoding::decode_varint(&mut buf) else { break };
                let len = (len as usize).min(buf.len());
                out.push(buf[..len].to_vec());
                buf = &buf[len..];
            }
            _ => break,
        }
    }
    out
}

/// What someone holding `root` and every copy learns: data keys by term.
/// Opens each copy's keyring with every root key known so far, and every
/// byte field of each security record with every data key known so far
/// (where a rekey's new root key once travelled), until nothing new comes.
fn attack(root: Key256, copies: &[BTreeMap<Vec<u8>, Vec<u8>>]) -> BTreeMap<u32, Key256> {
    let records: Vec<&Vec<u8>> = copies.iter().filter_map(|c| c.get(keys::SECURITY)).collect();
    let mut roots = vec![root];
    let mut data_keys = BTreeMap::new();
    loop {
        let known = (roots.len(), data_keys.len());
        for raw in &records {
            let record = SecurityRecord::decode(raw.as_slice()).unwrap();
            for root in &roots {
                if let Ok(keyring) = Keyring::open(root, &record.sealed_keyring) {
                    for term in 1..=keyring.active_term() {
                        if let Some(k) = keyring.get(term) {
                            data_keys.insert(term, k.clone());
                        }
                    }
                }
            }
            for field in byte_fields(raw) {
                let Ok(term) = aead::term_of(&field) else { continue };
                let Some(key) = data_keys.get(&term) else { continue };
                for generation in 1..=8 {
                    let ad = format!("coffer/v1/root-upgrade/{generation}");
                    if let Some(r) = aead::open(key, ad.as_bytes(), &field).ok().and_then(|b| Key256::from_slice(&b)) {
                        if !roots.iter().any(|k| k.expose() == r.expose()) {
                            roots.push(r);
                        }
                    }
                }
            }
        }
        if (roots.len(), data_keys.len()) == known {
            return data_keys;
        }
    }
}

fn root_of(share: &str) -> Key256 {
    let share = shares::decode(share).unwrap();
    Key256::from_slice(&shamir::combine(&[share]).unwrap()).unwrap()
}

fn version_record(copy: &BTreeMap<Vec<u8>, Vec<u8>>, name: &str, version: &str) -> SecretVersionRecord {
    SecretVersionRecord::decode(copy[&keys::secret_version("v", name, version)].as_slice()).unwrap()
}

/// Opens a secret value with whatever data key of its term is known.
fn open_value(data_keys: &BTreeMap<u32, Key256>, name: &str, record: &SecretVersionRecord) -> Option<String> {
    let key = data_keys.get(&aead::term_of(&record.value).ok()?)?;
    let plain = aead::open(key, &aad::secret_value("v", name, &record.version), &record.value).ok()?;
    Some(String::from_utf8(plain.to_vec()).unwrap())
}

/// The documented recovery from a leaked share set: rekey, rotate, rewrap.
/// Whoever holds the old shares and a copy of the state from before the
/// rekey, one from right after it, and one from the end learns no key of the
/// newest term and no value written under it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn after_rekey_rotate_and_rewrap_the_old_shares_open_nothing_new() {
    let cluster = TestCluster::start(3).await;
    let client = cluster.client();
    client.create_vault("v", 0, false).await.unwrap();
    let before = client.set_secret(SetSecret::new("v", "before", "known-to-the-leak")).await.unwrap().version;
    let mut copies = vec![copy_of_state(&cluster).await];

    let new_shares = client.rekey(vec![cluster.share.clone()], 1, 1).await.unwrap();
    copies.push(copy_of_state(&cluster).await);
    assert_eq!(client.rotate().await.unwrap().keyring_term, 2);
    copies.push(copy_of_state(&cluster).await);
    while client.rewrap().await.unwrap().remaining > 0 {}
    let after = client.set_secret(SetSecret::new("v", "after", "written-after-the-rotation")).await.unwrap().version;
    copies.push(copy_of_state(&cluster).await);
    let last = copies.last().unwrap();

    // The copies hold what the test looks for: the new shares open the
    // newest keyring, and the value written under its term.
    let everything = attack(root_of(&new_shares[0]), &copies);
    assert_eq!(
        open_value(&everything, "after", &version_record(last, "after", &after)).unwrap(),
        "written-after-the-rotation"
    );

    let leaked = attack(root_of(&cluster.share), &copies);
    // The leak reads what it could read before the rekey…
    assert_eq!(
        open_value(&leaked, "before", &version_record(&copies[0], "before", &before)).unwrap(),
        "known-to-the-leak"
    );
    // …but no key of the newest term, and nothing under it.
    assert_eq!(leaked.keys().collect::<Vec<_>>(), vec![&1], "the old shares yield only the data key they sealed");
    assert_eq!(open_value(&leaked, "after", &version_record(last, "after", &after)), None);
    assert_eq!(open_value(&leaked, "before", &version_record(last, "before", &before)), None, "rewrapped under term 2");
    cluster.shutdown().await;
}

/// A node that cannot be reached while the cluster is rekeyed does not get
/// the new root key: it seals itself when it applies the rekey, and the new
/// shares unseal it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_node_unreachable_during_a_rekey_seals_itself_and_takes_the_new_shares() {
    let cluster = TestCluster::start(3).await;
    let client = cluster.client();
    client.create_vault("v", 0, false).await.unwrap();
    client.set_secret(SetSecret::new("v", "s", "kept")).await.unwrap();
    let leader = cluster.leader().await;
    let away = (1..=3).find(|id| *id != leader).unwrap();
    cluster.faults.isolate(away);
    let new_shares = client.rekey(vec![cluster.share.clone()], 1, 1).await.unwrap();
    let applied = cluster.applied_on_leader().await;
    cluster.faults.heal(away);
    cluster.wait_applied(away, applied).await;

    let replica = cluster.node(away).replica().clone();
    let err = cluster.client_of(away).get_secret("v", "s", None, ReadConsistency::Stale).await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::Sealed, "{err}");
    assert!(replica.seal_status().unwrap().sealed);
    assert_eq!(replica.unseal(&cluster.share).unwrap_err().code(), ErrorCode::InvalidShares);
    assert!(!replica.unseal(&new_shares[0]).unwrap().sealed);
    let got = cluster.client_of(away).get_secret("v", "s", None, ReadConsistency::Stale).await.unwrap();
    assert_eq!(got.value, "kept");
    // The nodes that were reached followed without new shares.
    for id in (1..=3).filter(|id| *id != away) {
        assert!(!cluster.node(id).replica().seal_status().unwrap().sealed, "node {id}");
    }
    cluster.shutdown().await;
}
