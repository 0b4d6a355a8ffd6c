//! # coffer
//!
//! A self-hosted, Raft-replicated key vault. Every node runs one state machine
//! of vault objects, replicated by openraft over tonic gRPC and persisted in
//! RocksDB. One binary, `coffer`, is the server, the client CLI and the admin
//! CLI; this library also exposes the Rust client SDK ([`client`]).
//!
//! ## Layout
//!
//! Dependencies point one way: `cli` → `node` → `api` → `auth` / `replica`
//! → `barrier` / `state` / `raft` → `storage`; `crypto`, `seal` and
//! `faults` are leaves without tokio or tonic (the HSM seal aside, which
//! only calls its PKCS#11 library); `client` never imports server modules.
//!
//! | module        | what it holds                                                       |
//! |---------------|---------------------------------------------------------------------|
//! | [`cli`]       | the `coffer` command line: server, dev cluster, client commands     |
//! | [`config`]    | server configuration (TOML, flags, environment)                     |
//! | [`node`]      | one running node: storage, Raft, servers, background tasks          |
//! | [`api`]       | gRPC services; the single error → status map; barrier crossings     |
//! | [`audit`]     | the audit log: hash chain, anchors, checkpoints, verification, sink |
//! | [`auth`]      | tokens, the authenticating interceptor, `authorize`                 |
//! | [`rbac`]      | actions, built-in and custom roles, scopes; evaluation              |
//! | [`replica`]   | a node's view of the replicated state: proposer (group commit),     |
//! |               | batched read index, membership, seal operations, purger, anchors    |
//! | [`barrier`]   | the encryption barrier: keyring, AAD, seal state, key shares        |
//! | [`seal`]      | local seals: passphrase keystore, PKCS#11 HSM                       |
//! | [`crypto`]    | AES-256-GCM format, 256-bit keys, Shamir, randomness                |
//! | [`state`]     | vaults, secrets, tokens, keyring record: deterministic apply + reads |
//! | [`raft`]      | openraft types, peer network (client/server), protobuf codec        |
//! | [`storage`]   | RocksDB log store, state machine and snapshots                      |
//! | [`client`]    | the Rust SDK: leader discovery, retries, typed errors               |
//! | [`tls`]       | mTLS: cluster CA and certificates (renewed), listeners, reload      |
//! | [`mod@bench`] | the load generator behind `coffer bench` (coffer or etcd)           |
//! | [`proto`]     | generated protobuf types (edges only)                               |
//! | [`fsutil`]    | atomic file writes with permissions                                 |
//! | [`error_code`]| stable error codes shared by server and client                      |
//! | [`faults`]    | test fault switches (no-ops without the `fault-injection` feature)  |

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod api;
pub mod audit;
pub mod auth;
pub mod barrier;
pub mod bench;
pub mod cli;
pub mod client;
pub mod config;
pub mod crypto;
pub mod error_code;
pub mod faults;
pub mod fsutil;
pub mod node;
pub mod proto;
pub mod raft;
pub mod rbac;
pub mod replica;
pub mod seal;
pub mod state;
pub mod storage;
pub mod tls;
