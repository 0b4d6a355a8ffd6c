//! Property-based fuzzing of every decoder that takes outside bytes: peer
//! messages, snapshot files, ciphertext envelopes, backup blobs, join
//! tokens and bearer tokens, key shares, continuation tokens, scopes,
//! principals and action patterns, PEM and certificates, config files, and
//! the client API's requests against a running node. Each must answer an
//! error (or a value) for any input: no panic, and nothing allocated beyond
//! what the input itself holds.
//!
//! The test command runs proptest's default budget (256 cases per target,
//! the client API a tenth of that); a long run sets `PROPTEST_CASES`, e.g.
//! `PROPTEST_CASES=100000 cargo test --release --test fuzz` (README,
//! "Security").

mod common;

use std::sync::OnceLock;

use coffer::client::{Client, ReadConsistency, SetSecret};
use coffer::error_code::ErrorCode;
use coffer::proto::raft as peer;
use coffer::raft::TypeConfig;
use common::TestCluster;
use proptest::prelude::*;
use prost::Message;

/// Measures the largest single allocation a thread makes, so a decoder that
/// trusts a length field from its input (allocating what the input only
/// claims to hold) fails the test.
struct Measured;

thread_local! {
    static LARGEST: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

fn note(size: usize) {
    let _ = LARGEST.try_with(|c| c.set(c.get().max(size)));
}

// SAFETY: every call is passed on to the system allocator unchanged; the
// wrapper only records sizes in a const-initialized thread-local cell.
unsafe impl std::alloc::GlobalAlloc for Measured {
    unsafe fn alloc(&self, layout: std::alloc::Layout) -> *mut u8 {
        note(layout.size());
        std::alloc::System.alloc(layout)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: std::alloc::Layout) {
        std::alloc::System.dealloc(ptr, layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: std::alloc::Layout, new_size: usize) -> *mut u8 {
        note(new_size);
        std::alloc::System.realloc(ptr, layout, new_size)
    }
}

#[global_allocator]
static ALLOCATOR: Measured = Measured;

/// Runs `decode` on `input` and fails if any single allocation it made on
/// this thread is out of proportion to the input: a fixed 64 KiB of
/// buffers, plus 64 bytes of decoded structure per input byte.
fn bounded<T>(input: &[u8], decode: impl FnOnce() -> T) -> Result<T, TestCaseError> {
    LARGEST.with(|c| c.set(0));
    let out = decode();
    let largest = LARGEST.with(|c| c.get());
    prop_assert!(largest <= (64 << 10) + 64 * input.len(), "{largest} bytes allocated for {} input bytes", input.len());
    Ok(out)
}

/// Arbitrary bytes, often starting like the real thing: `prefix` and then
/// noise, so decoders get past their first check.
fn bytes_after(prefix: &'static [u8]) -> impl Strategy<Value = Vec<u8>> {
    (any::<bool>(), proptest::collection::vec(any::<u8>(), 0..512)).prop_map(move |(lead, noise)| {
        if lead {
            [prefix, &noise].concat()
        } else {
            noise
        }
    })
}

/// A snapshot file's magic, a record length varint that may claim far more
/// than follows, noise, and sometimes a trailer (count, MAC kind, MAC).
fn snapshot_file() -> impl Strategy<Value = Vec<u8>> {
    (any::<u32>(), bytes_after(b""), any::<bool>(), any::<u8>()).prop_map(|(claimed, noise, trailer, count)| {
        let mut file = b"COFSNAP2".to_vec();
        let mut len = u64::from(claimed);
        while len >= 0x80 {
            file.push((len as u8) | 0x80);
            len >>= 7;
        }
        file.push(len as u8);
        file.extend(noise);
        if trailer {
            file.extend_from_slice(&u64::from(count % 4).to_le_bytes());
            file.push(count % 3);
            file.extend_from_slice(&[0; 32]);
        }
        file
    })
}

/// Text that is sometimes shaped like `prefix…` and often not.
fn text_after(prefix: &'static str) -> impl Strategy<Value = String> {
    (any::<bool>(), ".{0,200}").prop_map(move |(lead, rest)| if lead { format!("{prefix}{rest}") } else { rest })
}

/// No regressions file: a failure prints its minimal input.
fn config(cases: u32) -> ProptestConfig {
    ProptestConfig { cases, failure_persistence: None, ..ProptestConfig::default() }
}

proptest! {
    #![proptest_config(config(ProptestConfig::default().cases))]

    #[test]
    fn peer_messages_decode_to_an_error_or_a_message(bytes in bytes_after(b"\x0a\x04\x08\x01\x10\x01")) {
        bounded(&bytes, || {
            if let Ok(m) = peer::AppendEntriesRequest::decode(bytes.as_slice()) {
                let _ = openraft::raft::AppendEntriesRequest::<TypeConfig>::try_from(m);
            }
            if let Ok(m) = peer::VoteRequest::decode(bytes.as_slice()) {
                let _ = openraft::raft::VoteRequest::<u64>::try_from(m);
            }
            if let Ok(m) = peer::InstallSnapshotRequest::decode(bytes.as_slice()) {
                let _ = openraft::raft::InstallSnapshotRequest::<TypeConfig>::try_from(m);
            }
            if let Ok(m) = peer::AppendEntriesResponse::decode(bytes.as_slice()) {
                let _ = openraft::raft::AppendEntriesResponse::<u64>::try_from(m);
            }
            let _ = peer::AuditBatch::decode(bytes.as_slice());
        })?;
    }

    #[test]
    fn snapshot_files_read_to_an_error_or_records(bytes in snapshot_file()) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("fuzz.snap");
        std::fs::write(&path, &bytes).unwrap();
        let mut file = std::fs::File::open(&path).unwrap();
        prop_assert!(bounded(&bytes, || coffer::storage::snapshot_file::verify(&mut file, fuzz_key()))?.is_err());
        let read = bounded(&bytes, || coffer::storage::snapshot_file::read_all(&mut file))?;
        if let Ok(records) = read {
            let held: usize = records.iter().map(|r| r.key.len() + r.value.len()).sum();
            prop_assert!(held <= bytes.len(), "records hold more than the file");
        }
    }

    #[test]
    fn ciphertext_envelopes_open_only_when_genuine(bytes in bytes_after(b"\x01\x00\x00\x00\x01")) {
        let key = fuzz_key();
        let _ = coffer::crypto::aead::term_of(&bytes);
        prop_assert!(bounded(&bytes, || coffer::crypto::aead::open(key, b"fuzz", &bytes))?.is_err());
    }

    #[test]
    fn tokens_and_shares_parse_to_none_or_a_value(
        join in text_after("cjt_"),
        bearer in text_after("cof_"),
        share in ".{0,300}",
        page in "[0-9a-f]{0,64}|.{0,64}",
    ) {
        let _ = coffer::auth::join_token::parse(&join);
        let _ = coffer::auth::token::looks_like_token(&bearer);
        let _ = coffer::barrier::shares::decode(&share);
        let _ = coffer::api::paging::decode(&page);
    }

    #[test]
    fn names_scopes_principals_and_patterns_are_checked(text in ".{0,200}", path in "[a-z/*-]{0,60}") {
        for t in [&text, &path] {
            let _ = coffer::rbac::Scope::parse(t);
            let _ = coffer::rbac::check_principal(t);
            let _ = coffer::rbac::actions::check_pattern(t);
            let _ = coffer::state::validate::name("fuzz", t);
            let _ = coffer::state::validate::version(t);
        }
    }

    #[test]
    fn pem_and_certificates_parse_to_an_error_or_a_certificate(
        body in proptest::collection::vec(any::<u8>(), 0..600),
        der in bytes_after(b"\x30\x82"),
    ) {
        let pem = format!("-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n", base64_pem(&body));
        let origin = std::path::Path::new("fuzz.pem");
        for text in [pem.as_str(), std::str::from_utf8(&body).unwrap_or("")] {
            let _ = coffer::tls::material::certs(text, origin);
            let _ = coffer::tls::material::key(text, origin);
            let _ = coffer::tls::fingerprint_of_pem(text);
            let _ = coffer::tls::ClientTls::new(text, None);
        }
        let _ = coffer::tls::pki::CertInfo::of(&der);
        let _ = coffer::tls::pki::check_node_request(&["127.0.0.1".into()], &der);
    }

    #[test]
    fn config_files_parse_to_an_error_or_a_config(text in text_after("node_id = 1\n[limits]\n")) {
        if let Ok(config) = coffer::config::Config::parse(&text) {
            let _ = config.validate();
        }
    }
}

/// Base64 for a PEM body, without another dependency.
fn base64_pem(bytes: &[u8]) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, b)| n | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..=chunk.len() {
            out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
        }
        out.extend(std::iter::repeat_n('=', 3 - chunk.len()));
    }
    out
}

fn fuzz_key() -> &'static coffer::crypto::Key256 {
    static KEY: OnceLock<coffer::crypto::Key256> = OnceLock::new();
    KEY.get_or_init(|| coffer::crypto::Key256::generate().unwrap())
}

/// One running node for the client API target, kept across cases.
struct Target {
    runtime: tokio::runtime::Runtime,
    cluster: TestCluster,
}

fn target() -> &'static Target {
    static TARGET: OnceLock<Target> = OnceLock::new();
    TARGET.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        let cluster = runtime.block_on(async {
            let cluster = TestCluster::start(1).await;
            cluster.client().create_vault("fuzz", 0, false).await.unwrap();
            cluster
        });
        Target { runtime, cluster }
    })
}

/// Codes that mean the server failed rather than refused the input.
const SERVER_FAILURES: &[ErrorCode] =
    &[ErrorCode::Internal, ErrorCode::Storage, ErrorCode::Integrity, ErrorCode::Unavailable, ErrorCode::AuditFailed];

fn refused_cleanly<T>(what: &str, result: Result<T, coffer::client::ClientError>) -> Result<(), TestCaseError> {
    if let Err(e) = result {
        prop_assert!(!SERVER_FAILURES.contains(&e.code()), "{what}: {e}");
    }
    Ok(())
}

fn name() -> impl Strategy<Value = String> {
    prop_oneof!["[a-zA-Z0-9-]{1,20}", ".{0,40}", "[a-z]{120,140}"]
}

proptest! {
    #![proptest_config(config((ProptestConfig::default().cases / 10).max(8)))]

    #[test]
    fn the_client_api_answers_any_request_with_a_result_or_a_clean_refusal(
        vault in name(),
        secret in name(),
        value in ".{0,64}",
        tags in proptest::collection::hash_map(".{0,20}", ".{0,40}", 0..20),
        content_type in ".{0,300}",
        version in prop_oneof!["[0-9a-f]{32}", ".{0,40}"],
        scope in ".{0,60}",
        principal in ".{0,60}",
        page in ".{0,40}",
        blob in proptest::collection::vec(any::<u8>(), 0..300),
    ) {
        let t = target();
        let root: Client = t.cluster.client();
        t.runtime.block_on(async {
            let set = SetSecret::new(&vault, &secret, &value).with_content_type(&content_type).with_tags(tags);
            refused_cleanly("set", root.set_secret(set).await)?;
            refused_cleanly("get", root.get_secret(&vault, &secret, Some(&version), ReadConsistency::Stale).await)?;
            refused_cleanly("create vault", root.create_vault(&vault, 7, false).await)?;
            refused_cleanly("list", root.list_secrets(&vault, 5, &page, ReadConsistency::Stale).await)?;
            refused_cleanly("assign", root.assign_role(&principal, "secrets-user", &scope).await)?;
            refused_cleanly("restore", root.restore_secret("fuzz", blob).await)?;
            refused_cleanly("group", root.set_group_member(&secret, &principal, true).await)?;
            // The node still serves.
            root.get_vault("fuzz", ReadConsistency::Linearizable).await.unwrap();
            Ok::<(), TestCaseError>(())
        })?;
    }
}
