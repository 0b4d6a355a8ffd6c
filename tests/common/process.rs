//! Real `coffer server` processes for end-to-end tests, and helpers to run
//! the CLI against them.

use std::io::Write;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

pub const BIN: &str = env!("CARGO_BIN_EXE_coffer");

/// A port no socket holds now, for a server to listen on later. Chosen
/// below the kernel's ephemeral range (32768 and up by default): a port
/// from `bind(0)` lies in that range, where an outgoing connection may take
/// it as its local port before the server binds it. The process walks one
/// sequence from one seed (7,919 is prime to 12,000), so it never hands out
/// the same port twice in 12,000 calls, even before the first one is bound.
pub fn free_port() -> u16 {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    static SEED: OnceLock<u32> = OnceLock::new();
    let seed = *SEED.get_or_init(|| {
        std::process::id().wrapping_mul(2_654_435_761)
            ^ SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.subsec_nanos())
    });
    for _ in 0..2_000 {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let port = 20_000 + ((u64::from(seed) + u64::from(n) * 7_919) % 12_000) as u16;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Three server processes; killed (SIGKILL) on drop.
pub struct Servers {
    children: Vec<Option<Child>>,
    args: Vec<Vec<String>>,
    /// Environment of each node.
    envs: Vec<Vec<(String, String)>>,
    pub addr: String,
    pub addrs: Vec<String>,
}

impl Drop for Servers {
    fn drop(&mut self) {
        for c in self.children.iter_mut().flatten() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Servers {
    /// Starts three nodes under `dir` (node 1 bootstraps, the others join)
    /// with `extra(i)` added to node i's arguments, and waits until they
    /// form a cluster.
    pub fn start(dir: &Path, envs: &[(&str, &str)], extra: impl Fn(usize) -> Vec<String>) -> Servers {
        let envs: Vec<(String, String)> = envs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Self::start_each(dir, |_| envs.clone(), extra)
    }

    /// Like `start`, with node i's environment from `envs(i)`.
    pub fn start_each(
        dir: &Path,
        envs: impl Fn(usize) -> Vec<(String, String)>,
        extra: impl Fn(usize) -> Vec<String>,
    ) -> Servers {
        let ports: Vec<(u16, u16)> = (0..3).map(|_| (free_port(), free_port())).collect();
        let first = format!("127.0.0.1:{}", ports[0].0);
        let mut args = Vec::new();
        for (i, (api, raft)) in ports.iter().enumerate() {
            let mut a: Vec<String> = vec!["server".into(), "--node-id".into(), (i + 1).to_string()];
            a.extend([
                "--api-listen".into(),
                format!("127.0.0.1:{api}"),
                "--raft-listen".into(),
                format!("127.0.0.1:{raft}"),
            ]);
            a.extend(["--region".into(), format!("r{}", i + 1), "--data-dir".into()]);
            a.push(dir.join(format!("n{}", i + 1)).display().to_string());
            // Certificates from the test CA, as files (bring-your-own).
            let mut tls = coffer::config::Config { node_id: (i + 1) as u64, ..Default::default() };
            super::pki::pki().configure_node(&mut tls, dir);
            for (flag, path) in [
                ("--tls-ca-file", tls.tls.ca_file),
                ("--tls-cert-file", tls.tls.cert_file),
                ("--tls-key-file", tls.tls.key_file),
            ] {
                a.extend([flag.into(), path.expect("tls file").display().to_string()]);
            }
            if i == 0 {
                a.push("--bootstrap".into());
            } else {
                a.extend(["--join".into(), first.clone()]);
            }
            a.extend(extra(i));
            args.push(a);
        }
        let addrs: Vec<String> = ports.iter().map(|(a, _)| format!("127.0.0.1:{a}")).collect();
        let mut servers = Servers {
            children: vec![None, None, None],
            args,
            envs: (0..3).map(&envs).collect(),
            addr: addrs.join(","),
            addrs,
        };
        for i in 0..3 {
            servers.spawn(i);
        }
        servers.wait_formed();
        servers
    }

    /// Node i's log (stderr, appended across restarts), beside its data dir.
    fn log_path(&self, i: usize) -> PathBuf {
        self.data_dir(i).with_extension("log")
    }

    fn spawn(&mut self, i: usize) {
        let log = std::fs::OpenOptions::new().create(true).append(true).open(self.log_path(i)).expect("server log");
        let mut cmd = Command::new(BIN);
        cmd.args(&self.args[i]).stdout(Stdio::null()).stderr(log);
        for (k, v) in &self.envs[i] {
            cmd.env(k, v);
        }
        self.children[i] = Some(cmd.spawn().expect("spawn server"));
    }

    /// Kills node i (0-based) with SIGKILL.
    pub fn kill9(&mut self, i: usize) {
        if let Some(mut c) = self.children[i].take() {
            c.kill().unwrap();
            c.wait().unwrap();
        }
    }

    /// Starts node i again with the same arguments.
    pub fn restart(&mut self, i: usize) {
        self.spawn(i);
    }

    /// Waits until three voters and a leader are reported.
    pub fn wait_formed(&self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let out = coffer(&self.addr, &["cluster", "status", "--format", "json"], None);
            if out.status.success() {
                let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
                let voters = v["members"].as_array().unwrap().iter().filter(|m| m["role"] != "learner").count();
                if voters == 3 && v["leader_id"].is_u64() {
                    return;
                }
            }
            assert!(Instant::now() < deadline, "cluster did not form{}", self.logs_tail());
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// The last lines of every node's log, for a failure message.
    fn logs_tail(&self) -> String {
        (0..self.args.len())
            .map(|i| {
                let log = std::fs::read_to_string(self.log_path(i)).unwrap_or_default();
                let lines: Vec<&str> = log.lines().collect();
                format!(
                    "\n--- node {} log (last lines) ---\n{}",
                    i + 1,
                    lines[lines.len().saturating_sub(15)..].join("\n")
                )
            })
            .collect()
    }

    /// The data dir of node i.
    pub fn data_dir(&self, i: usize) -> PathBuf {
        let pos = self.args[i].iter().position(|a| a == "--data-dir").unwrap();
        PathBuf::from(&self.args[i][pos + 1])
    }
}

/// The test CA certificate as a file, for the CLI (`COFFER_CACERT`).
pub fn ca_path() -> &'static Path {
    static PATH: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    PATH.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("coffer-test-ca-{}", std::process::id()));
        super::pki::pki().ca_file(&dir)
    })
}

thread_local! {
    /// The token CLI runs on this test's thread use (`COFFER_TOKEN`).
    pub static TOKEN_FOR_TESTS: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
}

/// Makes later CLI runs on this thread authenticate with `token`.
pub fn use_token(token: &str) {
    TOKEN_FOR_TESTS.with(|t| *t.borrow_mut() = token.to_owned());
}

/// Runs the CLI with `COFFER_ADDR=addr` (and this thread's token), feeding `stdin`.
pub fn coffer(addr: &str, args: &[&str], stdin: Option<&str>) -> Output {
    let token = TOKEN_FOR_TESTS.with(|t| t.borrow().clone());
    let mut child = Command::new(BIN)
        .args(args)
        .env("COFFER_ADDR", addr)
        .env("COFFER_TOKEN", token)
        .env("COFFER_CACERT", ca_path())
        // No ambient credentials: no ~/.coffer-token, no ./coffer-dev.
        .env("HOME", "/nonexistent-coffer-test-home")
        .current_dir(std::env::temp_dir())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn cli");
    let mut input = child.stdin.take().unwrap();
    if let Some(s) = stdin {
        input.write_all(s.as_bytes()).unwrap();
    }
    drop(input);
    child.wait_with_output().unwrap()
}

/// Runs a command that must succeed; returns its stdout.
pub fn ok(addr: &str, args: &[&str], stdin: Option<&str>) -> String {
    let out = coffer(addr, args, stdin);
    assert!(out.status.success(), "{args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// Runs a command with `--format json` that must succeed.
pub fn json(addr: &str, args: &[&str], stdin: Option<&str>) -> serde_json::Value {
    let mut all = args.to_vec();
    all.extend(["--format", "json"]);
    serde_json::from_str(&ok(addr, &all, stdin)).expect("json output")
}

/// Runs a command that must fail; returns its one-line error.
pub fn fails(addr: &str, args: &[&str], stdin: Option<&str>) -> String {
    let out = coffer(addr, args, stdin);
    assert!(!out.status.success(), "{args:?} succeeded");
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(err.trim_end().lines().count(), 1, "one-line error expected: {err}");
    err
}
