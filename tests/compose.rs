//! The docker-compose smoke test (chaos/compose-smoke): a 3-node cluster in
//! containers built on this machine; write, kill the leader container, write,
//! read all. Skipped, saying so, when no Docker engine answers.

use std::process::Command;

#[test]
fn compose_cluster_survives_leader_container_kill() {
    let docker = Command::new("docker").arg("info").output();
    let compose = Command::new("docker-compose").arg("version").output();
    if !docker.is_ok_and(|o| o.status.success()) || !compose.is_ok_and(|o| o.status.success()) {
        eprintln!("SKIPPED: no Docker engine or docker-compose on this machine");
        return;
    }
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/chaos/compose-smoke");
    let out = Command::new(script).arg(env!("CARGO_BIN_EXE_coffer")).output().expect("run compose-smoke");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("compose smoke: ok"),
        "compose smoke failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
