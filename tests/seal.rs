//! Local seals: nodes that keep the root key sealed on their own disk (by a
//! passphrase keystore or an HSM) unseal themselves after a restart.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use coffer::client::{ReadConsistency, SetSecret};
use common::process::{coffer, fails, json, ok, Servers};
use common::TestCluster;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn passphrase_keystore_unseals_after_restart() {
    let secrets_dir = tempfile::tempdir().unwrap();
    let pass = secrets_dir.path().join("pass");
    std::fs::write(&pass, "correct horse battery staple\n").unwrap();
    let pass_for_nodes = pass.clone();
    let mut cluster = TestCluster::start_with(3, move |c| {
        c.seal.kind = "passphrase".into();
        c.seal.passphrase_file = Some(pass_for_nodes.clone());
    })
    .await;
    let client = cluster.client();
    client.create_vault("v", 0, false).await.unwrap();
    client.set_secret(SetSecret::new("v", "s", "kept")).await.unwrap();
    // Each node seals the root key into its keystore once it is unsealed.
    for id in 1..=3 {
        let file = cluster.dir.path().join(format!("node{id}/seal/root"));
        wait_for_file(&file).await;
    }
    for id in 1..=3 {
        cluster.kill(id).await;
    }
    for id in 1..=3 {
        cluster.restart_sealed(id).await;
    }
    for id in 1..=3 {
        cluster.wait_unsealed(id).await;
    }
    assert_eq!(client.get_secret("v", "s", None, ReadConsistency::Linearizable).await.unwrap().value, "kept");

    // A wrong passphrase leaves the node sealed with a clear error.
    cluster.kill(3).await;
    std::fs::write(&pass, "wrong passphrase, long enough").unwrap();
    cluster.restart_sealed(3).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        let st = cluster.node(3).replica().seal_status().unwrap();
        if st.seal_error.is_some() || Instant::now() > deadline {
            break st;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(status.sealed);
    assert!(status.seal_error.as_deref().unwrap_or_default().contains("wrong passphrase"), "{status:?}");
    cluster.shutdown().await;
}

async fn wait_for_file(path: &Path) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !path.exists() {
        assert!(Instant::now() < deadline, "{} never written", path.display());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

const SOFTHSM_MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";

/// A fresh SoftHSM2 token in `dir`; returns the SOFTHSM2_CONF path.
fn softhsm_token(dir: &Path, pin: &str) -> String {
    assert!(Path::new(SOFTHSM_MODULE).exists(), "SoftHSM2 is not installed (apt-get install softhsm2)");
    let tokens = dir.join("tokens");
    std::fs::create_dir_all(&tokens).unwrap();
    let conf = dir.join("softhsm2.conf");
    std::fs::write(
        &conf,
        format!("directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n", tokens.display()),
    )
    .unwrap();
    let out = std::process::Command::new("softhsm2-util")
        .args(["--init-token", "--free", "--label", "coffer", "--pin", pin, "--so-pin", "so-pin-5678"])
        .env("SOFTHSM2_CONF", &conf)
        .output()
        .expect("softhsm2-util");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    conf.display().to_string()
}

#[test]
fn hsm_seal_survives_kill_9_of_every_node() {
    let dir = tempfile::tempdir().unwrap();
    // Each node has its own HSM (its own SoftHSM token store), as in production.
    let confs: Vec<String> = (0..3).map(|i| softhsm_token(&dir.path().join(format!("hsm{i}")), "1234")).collect();
    let pin_files: Vec<_> = (0..3).map(|i| dir.path().join(format!("pin{i}"))).collect();
    for p in &pin_files {
        std::fs::write(p, "1234").unwrap();
    }
    let configs: Vec<_> = (0..3)
        .map(|i| {
            let path = dir.path().join(format!("node{i}.toml"));
            let text = format!(
                "[seal]\nkind = \"pkcs11\"\npkcs11_module = \"{SOFTHSM_MODULE}\"\npkcs11_token_label = \"coffer\"\n\
                 pkcs11_pin_file = \"{}\"\npkcs11_key_label = \"coffer-node-{i}\"\n",
                pin_files[i].display()
            );
            std::fs::write(&path, text).unwrap();
            path
        })
        .collect();
    let mut s = Servers::start_each(
        dir.path(),
        |i| vec![("SOFTHSM2_CONF".to_owned(), confs[i].clone())],
        |i| vec!["--config".into(), configs[i].display().to_string()],
    );
    let a = s.addr.clone();
    let init = json(&a, &["operator", "init", "--key-shares", "1", "--key-threshold", "1"], None);
    let share = init["key_shares"][0].as_str().unwrap().to_owned();
    common::process::use_token(init["root_token"].as_str().unwrap());
    ok(&a, &["operator", "unseal"], Some(&share));
    ok(&a, &["vault", "create", "v"], None);
    ok(&a, &["secret", "set", "v", "s"], Some("survives"));
    for i in 0..3 {
        let file = s.data_dir(i).join("seal/root");
        let deadline = Instant::now() + Duration::from_secs(30);
        while !file.exists() {
            if Instant::now() > deadline {
                let status = coffer(&a, &["operator", "status", "--format", "json"], None);
                panic!("node {i} never sealed its root key into the HSM: {}", String::from_utf8_lossy(&status.stdout));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    for i in 0..3 {
        s.kill9(i);
    }
    for i in 0..3 {
        s.restart(i);
    }
    s.wait_formed();
    // No operator action: every node unseals itself through the HSM.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let st = json(&a, &["operator", "status"], None);
        let nodes = st["nodes"].as_array().unwrap();
        if nodes.iter().all(|n| n["sealed"] == false && n["seal_type"] == "pkcs11") {
            break;
        }
        assert!(Instant::now() < deadline, "nodes stayed sealed: {st}");
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(ok(&a, &["secret", "get", "v", "s"], None), "survives\n");

    // A wrong PIN: clear error, the node stays sealed.
    s.kill9(2);
    std::fs::write(&pin_files[2], "9999").unwrap();
    s.restart(2);
    let node3 = s.addrs[2].clone();
    let deadline = Instant::now() + Duration::from_secs(60);
    let st = loop {
        let out = common::process::coffer(&a, &["operator", "status", "--node", &node3, "--format", "json"], None);
        if out.status.success() {
            let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
            if !v["nodes"][0]["seal_error"].as_str().unwrap_or_default().is_empty() {
                break v;
            }
        }
        assert!(Instant::now() < deadline, "no seal error reported");
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(st["nodes"][0]["sealed"], true);
    assert!(st["nodes"][0]["seal_error"].as_str().unwrap().contains("wrong HSM PIN"), "{st}");
    assert!(fails(&node3, &["secret", "get", "v", "s", "--stale"], None).contains("Sealed"));
}
