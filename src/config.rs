//! Server configuration: a TOML file (unknown keys rejected), overridden by
//! command-line flags and `COFFER_*` environment variables (see `cli::server`).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The shortest node certificate lifetime `[tls] node_cert_ttl_secs` takes
/// (tests use short ones; production ones are days to a year).
pub const MIN_NODE_CERT_TTL_SECS: u64 = 10;

/// Everything a node needs to start.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// This node's id; unique in the cluster, never reused.
    pub node_id: u64,
    /// Placement label shown in `cluster status` (e.g. a region or zone).
    pub region: String,
    /// Where the node keeps its RocksDB database and snapshots.
    pub data_dir: PathBuf,
    /// Client API listen address.
    pub api_listen: SocketAddr,
    /// Peer (Raft) API listen address.
    pub raft_listen: SocketAddr,
    /// Client API address other nodes and clients use (default: `api_listen`).
    pub api_advertise: Option<String>,
    /// Peer API address other nodes use (default: `raft_listen`).
    pub raft_advertise: Option<String>,
    /// Bootstrap a new single-node cluster if this node has never been part of one.
    pub bootstrap: bool,
    /// Client API address of a cluster member to join through on first start.
    pub join: Option<String>,
    /// Raft timing and log compaction.
    pub raft: RaftSettings,
    /// Request limits.
    pub limits: Limits,
    /// How this node keeps the root key across restarts.
    pub seal: SealConfig,
    /// Certificates for mutual TLS on both APIs.
    pub tls: TlsConfig,
    /// The audit log.
    pub audit: AuditConfig,
    /// The join token of a node that joins with `join` and has no
    /// certificate yet (`COFFER_JOIN_TOKEN`; never in the file).
    #[serde(skip)]
    pub join_token: JoinToken,
}

/// The audit log: on by default; optionally also copied to a local file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuditConfig {
    /// Audit every request (fail closed). Turning it off is for measuring
    /// its cost only.
    pub enabled: bool,
    /// Also write the records this node applies to this JSON Lines file.
    pub file: Option<PathBuf>,
    /// Rotate the file at this size, bytes.
    pub file_max_bytes: u64,
    /// Rotated files kept.
    pub file_keep: u32,
    /// Records younger than this many days are never trimmed.
    pub retention_days: u32,
}

impl Default for AuditConfig {
    fn default() -> Self {
        AuditConfig { enabled: true, file: None, file_max_bytes: 64 << 20, file_keep: 4, retention_days: 30 }
    }
}

/// A join token held in memory: wiped on drop, never printed.
#[derive(Clone, Default, PartialEq)]
pub struct JoinToken(Option<zeroize::Zeroizing<String>>);

impl JoinToken {
    /// Wraps a token (empty means none).
    pub fn new(token: &str) -> Self {
        let t = token.trim();
        JoinToken((!t.is_empty()).then(|| zeroize::Zeroizing::new(t.to_owned())))
    }

    /// The token, for the one place that sends it.
    pub fn expose(&self) -> Option<&str> {
        self.0.as_ref().map(|t| t.as_str())
    }
}

impl std::fmt::Debug for JoinToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() { "JoinToken(REDACTED)" } else { "JoinToken(None)" })
    }
}

/// Where the node's certificates come from. With no files given the node
/// manages them in `<data_dir>/tls`: a bootstrapping node creates the
/// cluster CA there, a joining node receives its certificate with its join
/// token. Giving `ca_file`, `cert_file` and `key_file` brings your own.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TlsConfig {
    /// CA certificate(s) that issued the nodes' certificates (PEM).
    pub ca_file: Option<PathBuf>,
    /// This node's certificate chain (PEM); it must name
    /// `node-<node_id>.nodes.coffer` and the hosts of its addresses.
    pub cert_file: Option<PathBuf>,
    /// This node's private key (PEM).
    pub key_file: Option<PathBuf>,
    /// A further CA whose client certificates may authenticate on the client API.
    pub client_ca_file: Option<PathBuf>,
    /// How often the files are checked for changes, seconds.
    pub reload_secs: u64,
    /// How long the node certificates of a cluster that manages them are
    /// valid, seconds; each node renews its own once a third is left.
    pub node_cert_ttl_secs: u64,
}

impl Default for TlsConfig {
    fn default() -> Self {
        TlsConfig {
            ca_file: None,
            cert_file: None,
            key_file: None,
            client_ca_file: None,
            reload_secs: 10,
            node_cert_ttl_secs: crate::tls::pki::CERT_VALIDITY.as_secs(),
        }
    }
}

impl Config {
    /// The TLS files this node reads.
    pub fn tls_files(&self) -> crate::tls::TlsFiles {
        let t = &self.tls;
        match (&t.ca_file, &t.cert_file, &t.key_file) {
            (Some(ca), Some(cert), Some(key)) => crate::tls::TlsFiles {
                ca: ca.clone(),
                cert: cert.clone(),
                key: key.clone(),
                client_ca: t.client_ca_file.clone(),
            },
            _ => crate::tls::TlsFiles {
                client_ca: t.client_ca_file.clone(),
                ..crate::tls::TlsFiles::managed(&self.data_dir)
            },
        }
    }

    /// Whether the node manages its own certificates (no files configured).
    pub fn tls_managed(&self) -> bool {
        self.tls.cert_file.is_none()
    }
}

/// The node's local seal. With "shamir" nothing is kept and operators unseal
/// by hand; "passphrase" and "pkcs11" store the root key sealed on this node
/// and unseal it automatically on start.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SealConfig {
    /// "shamir", "passphrase" or "pkcs11".
    pub kind: String,
    /// File holding the keystore passphrase (else `COFFER_SEAL_PASSPHRASE`).
    pub passphrase_file: Option<PathBuf>,
    /// Path of the PKCS#11 module (e.g. /usr/lib/softhsm/libsofthsm2.so).
    pub pkcs11_module: Option<PathBuf>,
    /// Label of the token to use.
    pub pkcs11_token_label: String,
    /// File holding the user PIN (else `COFFER_PKCS11_PIN`).
    pub pkcs11_pin_file: Option<PathBuf>,
    /// Label of the AES key (created inside the HSM if missing).
    pub pkcs11_key_label: String,
}

impl Default for SealConfig {
    fn default() -> Self {
        SealConfig {
            kind: "shamir".into(),
            passphrase_file: None,
            pkcs11_module: None,
            pkcs11_token_label: "coffer".into(),
            pkcs11_pin_file: None,
            pkcs11_key_label: "coffer-root-wrap".into(),
        }
    }
}

/// Raft timing and snapshot policy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RaftSettings {
    /// Leader heartbeat interval, milliseconds. It is also how long one
    /// replication call (AppendEntries) may take before it is retried:
    /// across regions, keep it above the worst round trip plus a follower's
    /// fsync.
    pub heartbeat_ms: u64,
    /// Election timeout range, milliseconds. Across regions, keep the minimum
    /// well above the worst round trip.
    pub election_timeout_min_ms: u64,
    /// Upper end of the election timeout range, milliseconds.
    pub election_timeout_max_ms: u64,
    /// Build a snapshot about every this many log entries. Each node builds
    /// at its own offset within the interval, set by its id, so the members
    /// of a cluster do not all build at once.
    pub snapshot_after_logs: u64,
    /// Log entries kept behind a snapshot, so a briefly lagging follower
    /// catches up from the log rather than a snapshot.
    pub keep_logs_after_snapshot: u64,
}

/// Request limits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Largest secret value, bytes (Azure Key Vault: 25 KiB).
    pub max_value_bytes: usize,
    /// Page size of list calls when the request gives none.
    pub default_page_size: u32,
    /// Largest page size a request may ask for.
    pub max_page_size: u32,
    /// Requests a second that one source address may make without a valid
    /// credential (each costs a replicated audit record); 0 refuses them
    /// all once the burst is spent.
    pub unauthenticated_per_second: u32,
    /// How many such requests a source may make at once.
    pub unauthenticated_burst: u32,
    /// Most audit records one `audit query` call reads (it returns where to
    /// go on) and one trim command removes.
    pub audit_scan_records: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            node_id: 1,
            region: "local".into(),
            data_dir: PathBuf::from("coffer-data"),
            api_listen: SocketAddr::from(([127, 0, 0, 1], 7700)),
            raft_listen: SocketAddr::from(([127, 0, 0, 1], 7800)),
            api_advertise: None,
            raft_advertise: None,
            bootstrap: false,
            join: None,
            raft: RaftSettings::default(),
            limits: Limits::default(),
            seal: SealConfig::default(),
            tls: TlsConfig::default(),
            audit: AuditConfig::default(),
            join_token: JoinToken::default(),
        }
    }
}

impl Default for RaftSettings {
    fn default() -> Self {
        RaftSettings {
            heartbeat_ms: 100,
            election_timeout_min_ms: 500,
            election_timeout_max_ms: 1000,
            snapshot_after_logs: 10_000,
            keep_logs_after_snapshot: 1_000,
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_value_bytes: 25 * 1024,
            default_page_size: 25,
            max_page_size: 1000,
            unauthenticated_per_second: 20,
            unauthenticated_burst: 100,
            audit_scan_records: 10_000,
        }
    }
}

/// A configuration that cannot be used.
#[allow(missing_docs)] // each variant is described by its #[error] message
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("invalid config {path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("invalid setting: {0}")]
    Invalid(String),
}

/// A commented template listing every setting with its default.
pub const SAMPLE: &str = r#"# coffer server configuration. Every setting is optional; shown are the defaults.
# Flags and COFFER_* environment variables override the file.

# This node's id: unique in the cluster, never reused.
node_id = 1
# Placement label shown in `coffer cluster status`.
region = "local"
# RocksDB database and snapshots live here.
data_dir = "coffer-data"
# Client API and peer (Raft) API listen addresses.
api_listen = "127.0.0.1:7700"
raft_listen = "127.0.0.1:7800"
# Addresses other nodes and clients use, if not the listen addresses.
# api_advertise = "node1.example:7700"
# raft_advertise = "node1.example:7800"
# Bootstrap a new single-node cluster if this node has never been in one.
bootstrap = false
# Client API address of a member to join through on first start.
# join = "node1.example:7700"

[raft]
# Also how long one replication call may take before it is retried: across
# regions, keep it above the worst round trip plus a follower's fsync.
heartbeat_ms = 100
election_timeout_min_ms = 500
election_timeout_max_ms = 1000
snapshot_after_logs = 10000
keep_logs_after_snapshot = 1000

[limits]
max_value_bytes = 25600
default_page_size = 25
max_page_size = 1000
# Per source address, requests without a valid credential (each one costs
# an audit record on every node): a rate, and the burst allowed at once.
unauthenticated_per_second = 20
unauthenticated_burst = 100
# Most audit records one `coffer audit query` call reads (the client goes on
# where it stopped) and one Raft command of `coffer audit trim` removes.
audit_scan_records = 10000

[seal]
# "shamir": keep nothing; unseal by hand with key shares after each start.
# "passphrase": root key in a local keystore under Argon2id(passphrase).
# "pkcs11": root key wrapped by an AES key inside an HSM.
# Passphrase and PIN come from files or COFFER_SEAL_PASSPHRASE / COFFER_PKCS11_PIN.
kind = "shamir"
# passphrase_file = "/etc/coffer/passphrase"
# pkcs11_module = "/usr/lib/softhsm/libsofthsm2.so"
pkcs11_token_label = "coffer"
# pkcs11_pin_file = "/etc/coffer/hsm-pin"
pkcs11_key_label = "coffer-root-wrap"

[tls]
# Mutual TLS 1.3 on both APIs, always. With no files given, the node keeps its
# certificates in <data_dir>/tls: a bootstrapping node creates the cluster CA,
# a joining node gets its certificate with COFFER_JOIN_TOKEN. To bring your own
# CA, give all three files (node certificates must name node-<id>.nodes.coffer
# and the hosts of the node's addresses):
# ca_file = "/etc/coffer/ca.pem"
# cert_file = "/etc/coffer/node.pem"
# key_file = "/etc/coffer/node.key"
# Also accept client certificates from this CA on the client API:
# client_ca_file = "/etc/coffer/clients-ca.pem"
# Changed files are picked up (new connections use them) within this many seconds.
reload_secs = 10
# Without files: how long node certificates are valid (a year). Each node
# issues itself a new certificate and key once a third of this is left.
node_cert_ttl_secs = 31536000

[audit]
# Every request gets a hash-chained audit record, replicated through Raft,
# before its result is returned. Off only to measure what it costs.
enabled = true
# Also copy the records this node applies to a JSON Lines file, rotated by size.
# file = "/var/log/coffer/audit.jsonl"
file_max_bytes = 67108864
file_keep = 4
# `coffer audit trim` never removes records younger than this many days.
retention_days = 30
"#;

impl Config {
    /// Reads and validates a TOML file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.into(), source })?;
        Self::parse(&text).map_err(|message| ConfigError::Parse { path: path.into(), message })
    }

    /// Parses TOML text.
    pub fn parse(text: &str) -> Result<Config, String> {
        toml::from_str(text).map_err(|e| e.to_string())
    }

    /// Checks the settings against each other.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let r = &self.raft;
        if self.node_id == 0 {
            return Err(ConfigError::Invalid("node_id must be at least 1".into()));
        }
        if r.heartbeat_ms == 0 || r.election_timeout_min_ms <= r.heartbeat_ms {
            return Err(ConfigError::Invalid(
                "raft.election_timeout_min_ms must exceed raft.heartbeat_ms (> 0)".into(),
            ));
        }
        if r.election_timeout_max_ms <= r.election_timeout_min_ms {
            return Err(ConfigError::Invalid(
                "raft.election_timeout_max_ms must exceed raft.election_timeout_min_ms".into(),
            ));
        }
        if r.snapshot_after_logs == 0 {
            return Err(ConfigError::Invalid("raft.snapshot_after_logs must be at least 1".into()));
        }
        let l = &self.limits;
        if l.max_value_bytes == 0 || l.max_value_bytes > 4 << 20 {
            return Err(ConfigError::Invalid("limits.max_value_bytes must be 1..=4194304".into()));
        }
        if l.default_page_size == 0 || l.default_page_size > l.max_page_size {
            return Err(ConfigError::Invalid("limits.default_page_size must be 1..=limits.max_page_size".into()));
        }
        if l.unauthenticated_burst == 0 {
            return Err(ConfigError::Invalid("limits.unauthenticated_burst must be at least 1".into()));
        }
        if l.audit_scan_records == 0 {
            return Err(ConfigError::Invalid("limits.audit_scan_records must be at least 1".into()));
        }
        if !["shamir", "passphrase", "pkcs11"].contains(&self.seal.kind.as_str()) {
            return Err(ConfigError::Invalid("seal.kind must be shamir, passphrase or pkcs11".into()));
        }
        let t = &self.tls;
        let given = [&t.ca_file, &t.cert_file, &t.key_file].iter().filter(|f| f.is_some()).count();
        if given != 0 && given != 3 {
            return Err(ConfigError::Invalid("tls.ca_file, tls.cert_file and tls.key_file go together".into()));
        }
        if t.reload_secs == 0 {
            return Err(ConfigError::Invalid("tls.reload_secs must be at least 1".into()));
        }
        let longest = crate::tls::pki::CA_VALIDITY.as_secs();
        if !(MIN_NODE_CERT_TTL_SECS..=longest).contains(&t.node_cert_ttl_secs) {
            return Err(ConfigError::Invalid(format!(
                "tls.node_cert_ttl_secs must be {MIN_NODE_CERT_TTL_SECS}..={longest} (the cluster CA's lifetime)"
            )));
        }
        if self.bootstrap && self.join.is_some() {
            return Err(ConfigError::Invalid("bootstrap and join are exclusive".into()));
        }
        Ok(())
    }

    /// The client API address other nodes and clients use.
    pub fn api_addr(&self) -> String {
        self.api_advertise.clone().unwrap_or_else(|| self.api_listen.to_string())
    }

    /// The peer API address other nodes use.
    pub fn raft_addr(&self) -> String {
        self.raft_advertise.clone().unwrap_or_else(|| self.raft_listen.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sample_is_the_default() {
        assert_eq!(Config::parse(SAMPLE).unwrap(), Config::default());
        Config::default().validate().unwrap();
    }

    #[test]
    fn unknown_keys_are_rejected() {
        let err = Config::parse("node_idd = 3").unwrap_err();
        assert!(err.contains("node_idd"), "{err}");
        assert!(Config::parse("[raft]\nheartbeat = 3").is_err());
    }

    #[test]
    fn node_certificate_lifetimes_are_bounded() {
        assert!(Config::parse("[tls]\nnode_cert_ttl_secs = 5").unwrap().validate().is_err());
        assert!(Config::parse("[tls]\nnode_cert_ttl_secs = 3650000000").unwrap().validate().is_err());
        Config::parse("[tls]\nnode_cert_ttl_secs = 86400").unwrap().validate().unwrap();
    }

    #[test]
    fn inconsistent_timeouts_are_rejected() {
        let c = Config::parse("[raft]\nheartbeat_ms = 600").unwrap();
        assert!(c.validate().is_err());
    }
}
