//! Unit tests of the state machine's operations, over the in-memory `Kv`.

use super::kv::{MemKv, Txn};
use super::{apply, secrets, vaults, OpOutput, StateError};
use crate::proto::storage::{self as st, op::Kind, Command, Op};

const V1: &str = "00000000000000000000000000000001";
const V2: &str = "00000000000000000000000000000002";
const DAY: i64 = 86_400;

/// Applies one command of `ops` at time `now` and commits it.
fn run(kv: &mut MemKv, now: i64, ops: Vec<Kind>) -> Vec<Result<OpOutput, StateError>> {
    let cmd = Command { now, ops: ops.into_iter().map(|k| Op { kind: Some(k) }).collect() };
    let (out, writes) = {
        let mut txn = Txn::new(kv);
        let out = apply::apply(&mut txn, &cmd);
        (out, txn.into_writes())
    };
    kv.commit(writes);
    out.0
}

fn one(kv: &mut MemKv, now: i64, op: Kind) -> Result<OpOutput, StateError> {
    run(kv, now, vec![op]).remove(0)
}

fn vault(name: &str, protect: bool) -> Kind {
    Kind::CreateVault(st::CreateVault { name: name.into(), retention_days: 7, purge_protection: protect })
}

fn set(vault: &str, name: &str, version: &str, value: &str) -> Kind {
    Kind::SetSecret(st::SetSecret {
        vault: vault.into(),
        name: name.into(),
        version: version.into(),
        value: value.as_bytes().to_vec(),
        attributes: Some(st::SecretAttributes { enabled: true, ..Default::default() }),
        expected_version: None,
    })
}

fn del(name: &str) -> Kind {
    Kind::DeleteSecret(st::DeleteSecret { vault: "v".into(), name: name.into() })
}

fn purge(name: &str, scheduled: bool) -> Kind {
    Kind::PurgeSecret(st::PurgeSecret { vault: "v".into(), name: name.into(), scheduled })
}

fn value(kv: &MemKv, name: &str, version: &str, now: i64) -> Result<String, StateError> {
    secrets::get(kv, "v", name, version, now).map(|v| String::from_utf8(v.version.value).unwrap())
}

#[test]
fn versions_and_latest() {
    let mut kv = MemKv::default();
    one(&mut kv, 1, vault("v", false)).unwrap();
    // Two writes in one command: the second sees the first.
    let out = run(&mut kv, 2, vec![set("v", "s", V1, "one"), set("v", "s", V2, "two")]);
    assert!(out.iter().all(Result::is_ok));
    assert_eq!(value(&kv, "s", "", 3).unwrap(), "two");
    assert_eq!(value(&kv, "s", V1, 3).unwrap(), "one");
    let versions = secrets::list_versions(&kv, "v", "s", None, 10).unwrap();
    assert_eq!(versions.iter().map(|v| v.version.version.as_str()).collect::<Vec<_>>(), vec![V1, V2]);
    assert!(versions.iter().all(|v| v.version.value.is_empty()), "lists never carry values");
    assert_eq!(secrets::list_versions(&kv, "v", "s", Some(0), 10).unwrap().len(), 1);
}

#[test]
fn failed_operation_leaves_nothing_and_others_apply() {
    let mut kv = MemKv::default();
    one(&mut kv, 1, vault("v", false)).unwrap();
    let before = kv.0.len();
    let out =
        run(&mut kv, 2, vec![set("missing", "s", V1, "x"), set("v", "bad/name", V1, "x"), set("v", "ok", V1, "x")]);
    assert_eq!(out[0].as_ref().unwrap_err().code().as_str(), "VaultNotFound");
    assert_eq!(out[1].as_ref().unwrap_err().code().as_str(), "InvalidName");
    assert!(out[2].is_ok());
    assert_eq!(kv.0.len(), before + 2, "only the valid secret's head and version were written");
}

#[test]
fn check_and_set() {
    let mut kv = MemKv::default();
    one(&mut kv, 1, vault("v", false)).unwrap();
    let mut cas = |expected: &str, version: &str| {
        let Kind::SetSecret(mut s) = set("v", "s", version, "x") else { unreachable!() };
        s.expected_version = Some(expected.into());
        one(&mut kv, 2, Kind::SetSecret(s))
    };
    assert!(cas("", V1).is_ok(), "create-only succeeds on a new secret");
    assert_eq!(cas("", V2).unwrap_err().code().as_str(), "VersionConflict");
    assert!(cas(V1, V2).is_ok());
}

#[test]
fn disabled_not_yet_valid_and_expired_are_refused() {
    let mut kv = MemKv::default();
    one(&mut kv, 1, vault("v", false)).unwrap();
    one(&mut kv, 1, set("v", "s", V1, "x")).unwrap();
    let update = |enabled, nbf, exp| {
        Kind::UpdateSecret(st::UpdateSecret {
            vault: "v".into(),
            name: "s".into(),
            enabled,
            not_before: nbf,
            expires: exp,
            ..Default::default()
        })
    };
    one(&mut kv, 2, update(Some(false), None, None)).unwrap();
    assert_eq!(value(&kv, "s", "", 3).unwrap_err().code().as_str(), "SecretDisabled");
    one(&mut kv, 2, update(Some(true), Some(100), Some(200))).unwrap();
    assert_eq!(value(&kv, "s", "", 50).unwrap_err().code().as_str(), "SecretNotYetValid");
    assert_eq!(value(&kv, "s", "", 150).unwrap(), "x");
    assert_eq!(value(&kv, "s", "", 200).unwrap_err().code().as_str(), "SecretExpired");
}

#[test]
fn soft_delete_recover_purge() {
    let mut kv = MemKv::default();
    one(&mut kv, 1, vault("v", false)).unwrap();
    one(&mut kv, 1, set("v", "s", V1, "x")).unwrap();
    let OpOutput::Secret(d) = one(&mut kv, 10, del("s")).unwrap() else { panic!() };
    assert_eq!(d.head.deleted.unwrap().scheduled_purge, 10 + 7 * DAY);
    assert_eq!(value(&kv, "s", "", 11).unwrap_err().code().as_str(), "SecretNotFound");
    assert_eq!(one(&mut kv, 11, set("v", "s", V2, "y")).unwrap_err().code().as_str(), "SecretDeleted");
    assert_eq!(secrets::list(&kv, "v", None, 10, true).unwrap().len(), 1);
    assert_eq!(secrets::list(&kv, "v", None, 10, false).unwrap().len(), 0);
    one(&mut kv, 12, Kind::RecoverSecret(st::RecoverSecret { vault: "v".into(), name: "s".into() })).unwrap();
    assert_eq!(value(&kv, "s", "", 13).unwrap(), "x");
    one(&mut kv, 14, del("s")).unwrap();
    one(&mut kv, 15, purge("s", false)).unwrap();
    assert!(kv.0.keys().all(|k| !k.starts_with(b"s")), "purge removes head and every version");
}

#[test]
fn purge_protection() {
    let mut kv = MemKv::default();
    one(&mut kv, 1, vault("v", true)).unwrap();
    one(&mut kv, 1, set("v", "s", V1, "x")).unwrap();
    one(&mut kv, 10, del("s")).unwrap();
    assert_eq!(one(&mut kv, 11, purge("s", false)).unwrap_err().code().as_str(), "PurgeProtected");
    assert_eq!(one(&mut kv, 11, purge("s", true)).unwrap_err().code().as_str(), "PurgeProtected");
    let off = Kind::UpdateVault(st::UpdateVault { name: "v".into(), purge_protection: Some(false) });
    assert_eq!(one(&mut kv, 11, off).unwrap_err().code().as_str(), "PurgeProtectionPermanent");
    // Once the retention has passed, the scheduled purge goes through.
    assert_eq!(secrets::due_for_purge(&kv, 10 + 7 * DAY, 10).unwrap().len(), 1);
    one(&mut kv, 10 + 7 * DAY, purge("s", true)).unwrap();
    assert!(secrets::due_for_purge(&kv, i64::MAX, 10).unwrap().is_empty());
}

#[test]
fn vault_lifecycle() {
    let mut kv = MemKv::default();
    one(&mut kv, 1, vault("v", false)).unwrap();
    assert_eq!(one(&mut kv, 1, vault("v", false)).unwrap_err().code().as_str(), "VaultAlreadyExists");
    let bad = Kind::CreateVault(st::CreateVault { name: "w".into(), retention_days: 3, purge_protection: false });
    assert_eq!(one(&mut kv, 1, bad).unwrap_err().code().as_str(), "InvalidArgument");
    one(&mut kv, 1, set("v", "s", V1, "x")).unwrap();
    one(&mut kv, 2, del("s")).unwrap();
    let drop_v = || Kind::DeleteVault(st::DeleteVault { name: "v".into() });
    assert_eq!(one(&mut kv, 3, drop_v()).unwrap_err().code().as_str(), "VaultNotEmpty");
    one(&mut kv, 3, purge("s", false)).unwrap();
    one(&mut kv, 3, drop_v()).unwrap();
    assert!(vaults::list(&kv, None, 10).unwrap().is_empty());
}

#[test]
fn backup_restore() {
    let mut kv = MemKv::default();
    one(&mut kv, 1, vault("v", false)).unwrap();
    one(&mut kv, 1, vault("w", false)).unwrap();
    run(&mut kv, 2, vec![set("v", "s", V1, "one"), set("v", "s", V2, "two")]);
    let backup = secrets::backup(&kv, "v", "s").unwrap();
    let restore =
        |vault: &str| Kind::RestoreSecret(st::RestoreSecret { vault: vault.into(), backup: Some(backup.clone()) });
    assert_eq!(one(&mut kv, 3, restore("v")).unwrap_err().code().as_str(), "SecretAlreadyExists");
    one(&mut kv, 3, restore("w")).unwrap();
    assert_eq!(String::from_utf8(secrets::get(&kv, "w", "s", V1, 4).unwrap().version.value).unwrap(), "one");
    let mut broken = backup.clone();
    broken.format = 99;
    let op = Kind::RestoreSecret(st::RestoreSecret { vault: "w".into(), backup: Some(broken) });
    assert_eq!(one(&mut kv, 3, op).unwrap_err().code().as_str(), "InvalidBackup");
}

#[test]
fn empty_operation_is_an_error_not_a_panic() {
    let mut kv = MemKv::default();
    let cmd = Command { now: 1, ops: vec![Op { kind: None }] };
    let mut txn = Txn::new(&kv);
    let out = apply::apply(&mut txn, &cmd);
    assert!(out.0[0].is_err());
    let writes = txn.into_writes();
    kv.commit(writes);
    assert!(kv.0.is_empty());
}

/// A state with security initialized: keyring term 1, root generation 1.
fn initialized() -> MemKv {
    let mut kv = MemKv::default();
    init_security(&mut kv, None);
    kv
}

/// Initializes security in `kv` (at index 1), with `cluster_ca` if given.
fn init_security(kv: &mut MemKv, cluster_ca: Option<crate::proto::storage::ClusterCa>) {
    use crate::proto::storage::{InitSecurity, TokenRecord};
    let root = TokenRecord { accessor: "0".repeat(32), hash: vec![1; 32], policy: "root".into(), ..Default::default() };
    let init = InitSecurity {
        sealed_keyring: vec![1],
        active_term: 1,
        key_shares: 1,
        key_threshold: 1,
        root_token: Some(root),
        cluster_ca,
    };
    one(kv, 1, Kind::InitSecurity(init)).unwrap();
}

#[test]
fn rotate_and_rekey_check_both_term_and_root_generation() {
    use crate::proto::storage::{Rekey, RotateKeyring};
    let mut kv = initialized();
    let rekey = |prev_gen, term| {
        Kind::Rekey(Rekey {
            sealed_keyring: vec![2],
            root_generation: prev_gen + 1,
            previous_generation: prev_gen,
            key_shares: 1,
            key_threshold: 1,
            active_term: term,
        })
    };
    let rotate = |prev_term, root_generation| {
        Kind::RotateKeyring(RotateKeyring {
            sealed_keyring: vec![4],
            active_term: prev_term + 1,
            previous_term: prev_term,
            root_generation,
        })
    };
    // A rotation lands first; a rekey built from the old term must not
    // replace the keyring that has the new term.
    one(&mut kv, 2, rotate(1, 1)).unwrap();
    assert_eq!(one(&mut kv, 3, rekey(1, 1)).unwrap_err().code().as_str(), "VersionConflict");
    one(&mut kv, 3, rekey(1, 2)).unwrap();
    // A rotation built under the old root key is refused after the rekey.
    assert_eq!(one(&mut kv, 4, rotate(2, 1)).unwrap_err().code().as_str(), "VersionConflict");
    one(&mut kv, 4, rotate(2, 2)).unwrap();
}

#[test]
fn a_rotation_drops_a_root_key_sealed_into_the_security_record() {
    use crate::proto::storage::RotateKeyring;
    let mut kv = initialized();
    // A record written by a version that kept the root key sealed under a
    // data key (field 8): old shares open that data key.
    let blob = b"ROOT-UPGRADE-BLOB-0123456789abcdef";
    let stored = kv.0.get_mut(super::keys::SECURITY).unwrap();
    stored.extend_from_slice(&[8 << 3 | 2, blob.len() as u8]);
    stored.extend_from_slice(blob);
    let rotate = RotateKeyring { sealed_keyring: vec![4], active_term: 2, previous_term: 1, root_generation: 1 };
    one(&mut kv, 2, Kind::RotateKeyring(rotate)).unwrap();
    let stored = &kv.0[super::keys::SECURITY];
    assert!(!stored.windows(blob.len()).any(|w| w == blob), "the rotation rewrote the record without it");
}

#[test]
fn rewrap_reaches_deleted_secrets_and_checks_value_and_meta() {
    let mut kv = MemKv::default();
    one(&mut kv, 1, vault("v", false)).unwrap();
    one(&mut kv, 1, set("v", "s", V1, "old")).unwrap();
    one(&mut kv, 2, del("s")).unwrap();
    let rewrap = |old: &str, new: &str, old_meta: &[u8], new_meta: &[u8]| {
        Kind::RewrapSecret(st::RewrapSecret {
            vault: "v".into(),
            name: "s".into(),
            version: V1.into(),
            old_value: old.into(),
            new_value: new.into(),
            old_sealed_meta: old_meta.to_vec(),
            new_sealed_meta: new_meta.to_vec(),
        })
    };
    assert_eq!(one(&mut kv, 3, rewrap("other", "new", b"", b"")).unwrap_err().code().as_str(), "VersionConflict");
    assert_eq!(one(&mut kv, 3, rewrap("old", "new", b"", b"m")).unwrap_err().code().as_str(), "InvalidArgument");
    // The secret is soft-deleted: its versions are rewrapped all the same.
    one(&mut kv, 3, rewrap("old", "new", b"", b"")).unwrap();
    one(&mut kv, 4, Kind::RecoverSecret(st::RecoverSecret { vault: "v".into(), name: "s".into() })).unwrap();
    assert_eq!(value(&kv, "s", V1, 5).unwrap(), "new");
    // Tags changed after the rewrap read the version: it must not undo that.
    let tags = st::UpdateSecret {
        vault: "v".into(),
        name: "s".into(),
        version: V1.into(),
        sealed_meta: Some(b"m1".to_vec()),
        ..Default::default()
    };
    one(&mut kv, 5, Kind::UpdateSecret(tags)).unwrap();
    assert_eq!(one(&mut kv, 6, rewrap("new", "newer", b"", b"")).unwrap_err().code().as_str(), "VersionConflict");
    one(&mut kv, 6, rewrap("new", "newer", b"m1", b"m2")).unwrap();
    let got = secrets::get(&kv, "v", "s", V1, 7).unwrap().version;
    assert_eq!((got.value.as_slice(), got.attributes.unwrap().sealed_meta.as_slice()), (&b"newer"[..], &b"m2"[..]));
}

#[test]
fn the_cluster_ca_key_is_rewrapped_only_if_unchanged() {
    use crate::proto::storage::{ClusterCa, RewrapClusterCa};
    let mut kv = MemKv::default();
    let rewrap = |old: &[u8], new: &[u8]| {
        Kind::RewrapClusterCa(RewrapClusterCa { old_sealed_key: old.to_vec(), new_sealed_key: new.to_vec() })
    };
    assert_eq!(one(&mut kv, 1, rewrap(b"k1", b"k2")).unwrap_err().code().as_str(), "NoClusterCa");
    init_security(&mut kv, Some(ClusterCa { cert_pem: "cert".into(), sealed_key: b"k1".to_vec() }));
    assert_eq!(one(&mut kv, 2, rewrap(b"k0", b"k2")).unwrap_err().code().as_str(), "VersionConflict");
    assert_eq!(one(&mut kv, 2, rewrap(b"k1", b"")).unwrap_err().code().as_str(), "InvalidArgument");
    one(&mut kv, 2, rewrap(b"k1", b"k2")).unwrap();
    let ca = super::join_tokens::cluster_ca(&kv).unwrap().unwrap();
    assert_eq!((ca.cert_pem.as_str(), ca.sealed_key.as_slice()), ("cert", &b"k2"[..]));
}
