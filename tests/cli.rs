//! End-to-end tests of the `coffer` binary: three real `coffer server`
//! processes, driven by the CLI as a user would.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::process::{coffer, fails, free_port, json, ok, Servers, BIN};

/// `coffer operator init` with 3 shares (threshold 2), then unseals every node.
fn init_and_unseal(addr: &str) -> Vec<String> {
    let init = json(addr, &["operator", "init", "--key-shares", "3", "--key-threshold", "2"], None);
    let shares: Vec<String> =
        init["key_shares"].as_array().unwrap().iter().map(|s| s.as_str().unwrap().to_owned()).collect();
    assert_eq!(shares.len(), 3);
    common::process::use_token(init["root_token"].as_str().unwrap());
    let two = format!("{}\n{}\n", shares[0], shares[2]);
    let status = json(addr, &["operator", "unseal"], Some(&two));
    for n in status["nodes"].as_array().unwrap() {
        assert_eq!(n["sealed"], false, "{n}");
    }
    shares
}

#[test]
fn secrets_lifecycle_through_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let s = Servers::start(dir.path(), &[], |_| vec![]);
    let a = s.addr.as_str();
    assert!(fails(a, &["vault", "create", "early"], None).contains("Uninitialized"));
    init_and_unseal(a);

    ok(a, &["vault", "create", "payments"], None);
    assert!(fails(a, &["vault", "create", "payments"], None).contains("VaultAlreadyExists"));
    let v = json(a, &["vault", "list"], None);
    assert_eq!(v["vaults"][0]["name"], "payments");

    // Value from stdin (one trailing newline dropped) and from a file.
    let p1 = json(a, &["secret", "set", "payments", "db-password", "--tag", "env=prod"], Some("hunter2\n"));
    let file = dir.path().join("value.txt");
    std::fs::write(&file, "line1\nline2\n").unwrap();
    let p2 = json(a, &["secret", "set", "payments", "db-password", "--file", file.to_str().unwrap()], None);
    assert_ne!(p1["version"], p2["version"]);
    assert_eq!(p1["tags"]["env"], "prod");

    let got = json(a, &["secret", "get", "payments", "db-password"], None);
    assert_eq!(got["value"], "line1\nline2\n");
    let v1 = p1["version"].as_str().unwrap();
    assert_eq!(ok(a, &["secret", "get", "payments", "db-password", "--version", v1], None), "hunter2\n");
    assert_eq!(ok(a, &["secret", "get", "payments", "db-password", "--stale"], None), "line1\nline2\n\n");
    let versions = json(a, &["secret", "versions", "payments", "db-password"], None);
    assert_eq!(versions["secrets"].as_array().unwrap().len(), 2);

    // Check-and-set.
    let err = fails(a, &["secret", "set", "payments", "db-password", "--if-latest", v1], Some("x"));
    assert!(err.starts_with("error: VersionConflict"), "{err}");

    // Disable → get refused with a clear code; enable again.
    ok(a, &["secret", "update", "payments", "db-password", "--disable"], None);
    assert!(fails(a, &["secret", "get", "payments", "db-password"], None).contains("SecretDisabled"));
    ok(a, &["secret", "update", "payments", "db-password", "--enable"], None);

    // Validity dates: an expiry in the past refuses the read; clearing it restores it.
    ok(a, &["secret", "update", "payments", "db-password", "--expires", "1000"], None);
    assert!(fails(a, &["secret", "get", "payments", "db-password"], None).contains("SecretExpired"));
    let props = json(a, &["secret", "update", "payments", "db-password", "--clear-expires"], None);
    assert_eq!(props["expires"], serde_json::Value::Null);
    ok(a, &["secret", "get", "payments", "db-password"], None);

    // Paged listing: 30 secrets with page size 7.
    for i in 0..30 {
        ok(a, &["secret", "set", "payments", &format!("bulk-{i:02}")], Some("v"));
    }
    let listed = json(a, &["secret", "list", "payments", "--page-size", "7"], None);
    assert_eq!(listed["secrets"].as_array().unwrap().len(), 31);

    // Soft delete, recover, delete, purge.
    ok(a, &["secret", "delete", "payments", "db-password"], None);
    assert!(fails(a, &["secret", "get", "payments", "db-password"], None).contains("SecretNotFound"));
    let deleted = json(a, &["secret", "list-deleted", "payments"], None);
    assert_eq!(deleted["secrets"][0]["name"], "db-password");
    ok(a, &["secret", "recover", "payments", "db-password"], None);
    let blob = dir.path().join("backup.bin");
    ok(a, &["secret", "backup", "payments", "db-password", "--out", blob.to_str().unwrap()], None);
    ok(a, &["secret", "delete", "payments", "db-password"], None);
    ok(a, &["secret", "purge", "payments", "db-password"], None);
    assert!(fails(a, &["secret", "recover", "payments", "db-password"], None).contains("SecretNotFound"));
    ok(a, &["secret", "restore", "payments", "--in", blob.to_str().unwrap()], None);
    assert_eq!(json(a, &["secret", "get", "payments", "db-password"], None)["value"], "line1\nline2\n");

    // Bad input: clear codes, non-zero exit, nothing stored.
    assert!(fails(a, &["secret", "set", "payments", "bad_name"], Some("x")).contains("InvalidName"));
    assert!(fails(a, &["secret", "set", "nowhere", "s"], Some("x")).contains("VaultNotFound"));
    let big = "x".repeat(26 * 1024);
    assert!(fails(a, &["secret", "set", "payments", "big"], Some(&big)).contains("ValueTooLarge"));
    assert!(fails(a, &["secret", "get", "payments", "big"], None).contains("SecretNotFound"));
    std::fs::write(dir.path().join("junk.bin"), b"not a backup").unwrap();
    let junk = dir.path().join("junk.bin");
    assert!(
        fails(a, &["secret", "restore", "payments", "--in", junk.to_str().unwrap()], None).contains("InvalidBackup")
    );

    // Purge protection: deleted secrets cannot be purged, and it cannot be undone.
    ok(a, &["vault", "create", "locked", "--purge-protection", "--retention-days", "7"], None);
    ok(a, &["secret", "set", "locked", "k"], Some("v"));
    ok(a, &["secret", "delete", "locked", "k"], None);
    assert!(fails(a, &["secret", "purge", "locked", "k"], None).contains("PurgeProtected"));
    assert!(fails(a, &["vault", "delete", "locked"], None).contains("VaultNotEmpty"));

    let status = json(a, &["cluster", "status"], None);
    assert_eq!(status["members"].as_array().unwrap().len(), 3);
    assert!(ok(a, &["cluster", "status"], None).contains("leader"));
}

#[test]
fn seal_and_unseal_with_shares() {
    let dir = tempfile::tempdir().unwrap();
    let s = Servers::start(dir.path(), &[], |_| vec![]);
    let a = s.addr.as_str();
    let shares = init_and_unseal(a);
    ok(a, &["vault", "create", "v"], None);
    ok(a, &["secret", "set", "v", "s"], Some("x"));
    let node1 = a.split(',').next().unwrap();
    // Stale reads are served by the node asked, so they show its own state.
    let applied = || ok(node1, &["secret", "get", "v", "s", "--stale"], None);
    let deadline = Instant::now() + Duration::from_secs(10);
    while coffer(node1, &["secret", "get", "v", "s", "--stale"], None).status.code() != Some(0) {
        assert!(Instant::now() < deadline, "node1 never applied the write");
        std::thread::sleep(Duration::from_millis(100));
    }

    // A sealed node refuses data requests but keeps its place in Raft.
    ok(a, &["operator", "seal", "--node", node1], None);
    assert!(fails(node1, &["secret", "get", "v", "s", "--stale"], None).contains("Sealed"));
    let st = json(a, &["operator", "status", "--node", node1], None);
    assert_eq!(st["nodes"][0]["sealed"], true);

    // One share (threshold 2) is progress, not an unseal.
    let st = json(a, &["operator", "unseal", "--node", node1], Some(&shares[1]));
    assert_eq!((st["nodes"][0]["sealed"].as_bool(), st["nodes"][0]["progress"].as_u64()), (Some(true), Some(1)));
    ok(a, &["operator", "unseal", "--node", node1, "--reset"], None);

    // A mistyped share is rejected before it is used.
    let mut typo = shares[0].clone();
    typo.replace_range(typo.len() - 3.., "000");
    assert!(fails(a, &["operator", "unseal", "--node", node1], Some(&typo)).contains("InvalidShares"));

    // A share of another cluster combines into a wrong key: rejected, reset.
    let other = "cofshare1-01".to_string() + &"ab".repeat(32);
    let bad = format!("{}\n{}\n", shares[0], crate_share_with_checksum(&other));
    assert!(fails(a, &["operator", "unseal", "--node", node1], Some(&bad)).contains("InvalidShares"));
    assert_eq!(json(a, &["operator", "status", "--node", node1], None)["nodes"][0]["progress"], 0);

    let two = format!("{}\n{}\n", shares[1], shares[2]);
    ok(a, &["operator", "unseal", "--node", node1], Some(&two));
    assert_eq!(applied(), "x\n");
}

/// A syntactically valid share (correct checksum) for `cofshare1-<hex>`
/// whose y bytes are arbitrary.
fn crate_share_with_checksum(text: &str) -> String {
    let mut full = hex::decode(text.strip_prefix("cofshare1-").unwrap()).unwrap();
    // x = 2 so it differs from the genuine share 1 it is combined with.
    full[0] = 2;
    let sum = coffer::crypto::sha256(&full);
    full.extend_from_slice(&sum[..4]);
    format!("cofshare1-{}", hex::encode(full))
}

#[test]
fn server_config_commands() {
    let sample = ok("", &["server", "--print-sample-config"], None);
    assert!(sample.contains("node_id = 1"));
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.toml");
    std::fs::write(&good, &sample).unwrap();
    assert!(ok("", &["server", "--config", good.to_str().unwrap(), "--config-check"], None).contains("OK"));
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "node_id = 1\nnode_idd = 2\n").unwrap();
    let err = fails("", &["server", "--config", bad.to_str().unwrap(), "--config-check"], None);
    assert!(err.contains("node_idd"), "{err}");
}

/// Output into a closed pipe (`coffer … | head`) ends the command quietly:
/// no panic message, success.
#[test]
fn output_into_a_closed_pipe_is_not_a_panic() {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let out = Command::new(BIN).args(["server", "--print-sample-config"]).stdout(writer).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{:?}: {err}", out.status);
    assert!(err.is_empty(), "{err}");
}

#[test]
fn unreachable_cluster_is_a_clear_error() {
    let port = free_port();
    let out = Command::new(BIN)
        .args(["secret", "get", "v", "s", "--timeout", "2"])
        .env("COFFER_ADDR", format!("127.0.0.1:{port}"))
        .env("COFFER_CACERT", common::process::ca_path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.starts_with("error: Unavailable"), "{err}");
}

#[test]
fn a_server_with_its_own_certificate_joins_an_initialized_cluster() {
    let dir = tempfile::tempdir().unwrap();
    let s = Servers::start(dir.path(), &[], |_| vec![]);
    let a = s.addr.as_str();
    let shares = init_and_unseal(a);
    let (api, raft) = (free_port(), free_port());
    let first = s.addrs[0].clone();
    // Bring-your-own certificates: node 4's certificate from the same CA is
    // its credential; no token is needed to add and promote itself.
    let mut tls = coffer::config::Config { node_id: 4, ..Default::default() };
    common::pki::pki().configure_node(&mut tls, dir.path());
    let mut fourth = Command::new(BIN)
        .args(["server", "--node-id", "4", "--join", &first])
        .args(["--api-listen", &format!("127.0.0.1:{api}"), "--raft-listen", &format!("127.0.0.1:{raft}")])
        .arg("--data-dir")
        .arg(dir.path().join("n4"))
        .arg("--tls-ca-file")
        .arg(tls.tls.ca_file.unwrap())
        .arg("--tls-cert-file")
        .arg(tls.tls.cert_file.unwrap())
        .arg("--tls-key-file")
        .arg(tls.tls.key_file.unwrap())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let node4 = format!("127.0.0.1:{api}");
    wait_for_voter(a, &[], 4);
    // It holds the replicated keyring and unseals with the same shares.
    let two = format!("{}\n{}\n", shares[0], shares[1]);
    let deadline = Instant::now() + Duration::from_secs(30);
    while !coffer(a, &["operator", "unseal", "--node", &node4], Some(&two)).status.success() {
        assert!(Instant::now() < deadline, "node 4 never received the keyring");
        std::thread::sleep(Duration::from_millis(200));
    }
    ok(a, &["vault", "create", "after-join"], None);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !coffer(&node4, &["vault", "list", "--format", "json"], None).status.success() {
        assert!(Instant::now() < deadline, "node 4 does not serve");
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = fourth.kill();
    let _ = fourth.wait();
}

/// Waits until node `id` is a voter, as `coffer cluster status` (with
/// `flags`) reports it.
fn wait_for_voter(addr: &str, flags: &[&str], id: u64) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let st = json(addr, &[flags, &["cluster", "status"]].concat(), None);
        let member = st["members"].as_array().unwrap().iter().find(|m| m["id"] == id).cloned();
        if member.is_some_and(|m| m["role"] == "follower" || m["role"] == "leader") {
            return;
        }
        assert!(Instant::now() < deadline, "node {id} did not become a voter: {st}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Starts `coffer server` with `args`, `envs`; killed on drop.
struct Server(std::process::Child);

impl Server {
    fn start(args: &[String], envs: &[(&str, &str)]) -> Server {
        let mut cmd = Command::new(BIN);
        cmd.arg("server").args(args).stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null());
        for (k, v) in envs {
            cmd.env(k, v);
        }
        Server(cmd.spawn().unwrap())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts node 1 with `--bootstrap` and a managed cluster CA on `api`;
/// returns the server and the CA certificate's path once it exists.
fn bootstrap_managed(dir: &std::path::Path, api: u16) -> (Server, String) {
    let mut args = node_args(dir, 1, api);
    args.push("--bootstrap".into());
    let server = Server::start(&args, &[]);
    let ca = dir.join("m1/tls/ca.pem");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !ca.exists() {
        assert!(Instant::now() < deadline, "no cluster CA created");
        std::thread::sleep(Duration::from_millis(100));
    }
    (server, ca.display().to_string())
}

fn node_args(dir: &std::path::Path, id: u64, api: u16) -> Vec<String> {
    let raft = free_port();
    vec![
        "--node-id".into(),
        id.to_string(),
        "--api-listen".into(),
        format!("127.0.0.1:{api}"),
        "--raft-listen".into(),
        format!("127.0.0.1:{raft}"),
        "--data-dir".into(),
        dir.join(format!("m{id}")).display().to_string(),
    ]
}

#[test]
fn a_managed_cluster_grows_with_join_tokens_and_issues_client_certificates() {
    let dir = tempfile::tempdir().unwrap();
    let (api1, api2) = (free_port(), free_port());
    let a = format!("127.0.0.1:{api1}");
    // The first node creates the cluster CA; the CLI trusts it explicitly.
    let (_n1, ca) = bootstrap_managed(dir.path(), api1);
    let with_ca = ["--cacert", ca.as_str()];
    let init =
        json(&a, &[&with_ca[..], &["operator", "init", "--key-shares", "1", "--key-threshold", "1"]].concat(), None);
    common::process::use_token(init["root_token"].as_str().unwrap());
    assert!(!dir.path().join("m1/tls/ca.key").exists(), "init seals the CA key into the cluster");

    let created = json(&a, &[&with_ca[..], &["cluster", "join-token", "--ttl", "600"]].concat(), None);
    let token = created["join_token"].as_str().unwrap().to_owned();
    let mut args = node_args(dir.path(), 2, api2);
    args.extend(["--join".into(), a.clone()]);
    let _n2 = Server::start(&args, &[("COFFER_JOIN_TOKEN", &token)]);
    wait_for_voter(&a, &with_ca, 2);
    // A client certificate from the cluster CA authenticates as its name.
    let certs = dir.path().join("alice");
    let out = certs.display().to_string();
    json(&a, &[&with_ca[..], &["cert", "request", "--name", "alice", "--out", &out]].concat(), None);
    let (cert, key) = (certs.join("client.pem"), certs.join("client.key"));
    common::process::use_token("");
    let who = json(
        &a,
        &[&with_ca[..], &["--cert", &cert.display().to_string(), "--key", &key.display().to_string(), "whoami"]]
            .concat(),
        None,
    );
    assert_eq!(who["principal"], "cert:alice");
    assert!(fails(&a, &[&with_ca[..], &["whoami"]].concat(), None).contains("Unauthenticated"));
}

#[test]
fn rewrap_reports_what_it_rewrote_by_kind() {
    let dir = tempfile::tempdir().unwrap();
    let api = free_port();
    let a = format!("127.0.0.1:{api}");
    // A managed CA, so its key is one of the sealed objects.
    let (_n1, ca) = bootstrap_managed(dir.path(), api);
    let with_ca = ["--cacert", ca.as_str()];
    let init =
        json(&a, &[&with_ca[..], &["operator", "init", "--key-shares", "1", "--key-threshold", "1"]].concat(), None);
    common::process::use_token(init["root_token"].as_str().unwrap());
    ok(&a, &[&with_ca[..], &["vault", "create", "v"]].concat(), None);
    ok(&a, &[&with_ca[..], &["secret", "set", "v", "kept"]].concat(), Some("one"));
    ok(&a, &[&with_ca[..], &["secret", "set", "v", "kept"]].concat(), Some("two"));
    ok(&a, &[&with_ca[..], &["secret", "set", "v", "dropped"]].concat(), Some("three"));
    ok(&a, &[&with_ca[..], &["secret", "delete", "v", "dropped"]].concat(), None);
    ok(&a, &[&with_ca[..], &["operator", "rotate"]].concat(), None);

    let report = json(&a, &[&with_ca[..], &["operator", "rewrap"]].concat(), None);
    assert_eq!((report["rewrapped"].as_u64(), report["remaining"].as_u64()), (Some(4), Some(0)), "{report}");
    let by_kind: Vec<(&str, u64, u64)> = report["kinds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| (k["kind"].as_str().unwrap(), k["rewrapped"].as_u64().unwrap(), k["remaining"].as_u64().unwrap()))
        .collect();
    assert_eq!(by_kind, [("secret-versions", 2, 0), ("deleted-secret-versions", 1, 0), ("cluster-ca-key", 1, 0)]);
    // The table says the same: nothing left to do now.
    let table = ok(&a, &[&with_ca[..], &["operator", "rewrap"]].concat(), None);
    let rows: Vec<Vec<&str>> = table.lines().map(|l| l.split_whitespace().collect()).collect();
    assert_eq!(rows[0], ["KIND", "REWRAPPED", "REMAINING"], "{table}");
    assert!(rows[1..].iter().any(|r| r == &["cluster-ca-key", "0", "0"]), "{table}");
}

#[test]
fn roles_and_scoped_tokens_through_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let s = Servers::start(dir.path(), &[], |_| vec![]);
    let a = s.addr.as_str();
    init_and_unseal(a);
    ok(a, &["vault", "create", "payments"], None);
    ok(a, &["secret", "set", "payments", "db-password"], Some("pw-1"));
    ok(a, &["secret", "set", "payments", "other"], Some("pw-2"));
    let roles = json(a, &["role", "list"], None);
    assert!(roles["roles"].as_array().unwrap().iter().any(|r| r["name"] == "secrets-user"));
    ok(a, &["role", "create", "no-purge", "--action", "secrets/*", "--not-action", "secrets/purge"], None);
    assert_eq!(json(a, &["role", "show", "no-purge"], None)["not_actions"][0], "secrets/purge");

    let created = json(
        a,
        &[
            "token",
            "create",
            "--role",
            "secrets-user",
            "--scope",
            "vaults/payments/secrets/db-password",
            "--ttl",
            "600",
        ],
        None,
    );
    let principal = created["principal"].as_str().unwrap().to_owned();
    let assignments = json(a, &["role", "assignments", "--principal", &principal], None);
    assert_eq!(assignments["assignments"][0]["scope"], "vaults/payments/secrets/db-password");
    common::process::use_token(created["token"].as_str().unwrap());
    assert_eq!(ok(a, &["secret", "get", "payments", "db-password"], None).trim_end(), "pw-1");
    let err = fails(a, &["secret", "get", "payments", "other"], None);
    assert!(err.contains("Forbidden") && err.contains("secrets/get at vaults/payments/secrets/other"), "{err}");
    assert!(!err.contains("pw-2"), "{err}");
    assert!(fails(a, &["role", "create", "x", "--action", "*"], None).contains("Forbidden"));
}

#[test]
fn audit_query_export_verify_trim_and_tail_through_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("audit.toml");
    std::fs::write(&config, "[audit]\nretention_days = 0\n").unwrap();
    let s = Servers::start(dir.path(), &[], |_| vec!["--config".into(), config.display().to_string()]);
    let a = s.addr.as_str();
    init_and_unseal(a);
    ok(a, &["vault", "create", "audited"], None);
    ok(a, &["secret", "set", "audited", "s"], Some("audit-cli-marker"));
    ok(a, &["secret", "get", "audited", "s"], None);
    assert!(fails(a, &["secret", "get", "audited", "missing"], None).contains("SecretNotFound"));

    let out = ok(a, &["audit", "query", "--vault", "audited", "--format", "json"], None);
    let records: Vec<serde_json::Value> = out.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let ops: Vec<&str> = records.iter().map(|r| r["operation"].as_str().unwrap()).collect();
    assert_eq!(ops, ["VaultCreate", "SecretSet", "SecretGet", "SecretGet"], "{out}");
    assert_eq!(records[3]["result"], "SecretNotFound");
    let errors = ok(a, &["audit", "query", "--result", "error", "--operation", "SecretGet"], None);
    assert_eq!(errors.lines().count(), 1, "{errors}");

    let file = dir.path().join("export.jsonl");
    let exported = json(a, &["audit", "export", "--out", file.to_str().unwrap()], None);
    let lines = std::fs::read_to_string(&file).unwrap();
    assert_eq!(lines.lines().count() as u64, exported["records"].as_u64().unwrap());
    assert!(!lines.contains("audit-cli-marker"));
    assert_eq!(json(a, &["audit", "verify"], None)["ok"], true);
    let through = exported["exported_through_seq"].as_u64().unwrap().to_string();
    let trimmed = json(a, &["audit", "trim", "--exported-through", &through, "--older-than-days", "0"], None);
    assert!(trimmed["trimmed"].as_u64().unwrap() > 0, "{trimmed}");
    let verified = json(a, &["audit", "verify"], None);
    assert_eq!((verified["ok"].as_bool(), verified["checkpoint_verified"].as_bool()), (Some(true), Some(true)));

    // tail prints records as they are committed.
    let token = common::process::TOKEN_FOR_TESTS.with(|t| t.borrow().clone());
    let mut tail = Command::new(BIN)
        .args(["audit", "tail", "--operation", "VaultCreate"])
        .env("COFFER_ADDR", a)
        .env("COFFER_TOKEN", &token)
        .env("COFFER_CACERT", common::process::ca_path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let stdout = tail.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut line = String::new();
        std::io::BufRead::read_line(&mut std::io::BufReader::new(stdout), &mut line).unwrap();
        line
    });
    let deadline = Instant::now() + Duration::from_secs(20);
    while !reader.is_finished() {
        ok(a, &["vault", "create", &format!("tailed-{}", free_port())], None);
        assert!(Instant::now() < deadline, "tail printed nothing");
        std::thread::sleep(Duration::from_millis(300));
    }
    let line = reader.join().unwrap();
    assert!(line.contains("VaultCreate") && line.contains("tailed-"), "{line}");
    let _ = tail.kill();
    let _ = tail.wait();
}
