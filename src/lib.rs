//! # coffer
//!
//! A self-hosted, Raft-replicated key vault. Every node runs one state machine
//! of vault objects, replicated by openraft over tonic gRPC and persisted in
//! RocksDB. One binary, `coffer`, is the server, the client CLI and the admin
//! CLI; this library also exposes the Rust client SDK ([`client`]).
//!
//! ## Layout
//!
//! Layers, top to bottom. A module imports only modules of lower layers;
//! modules sharing a layer are independent (`tests/layering.rs` checks it).
//!
//! | layer | modules                                   |
//! |-------|-------------------------------------------|
//! | 1     | [`cli`]                                   |
//! | 2     | [`node`], [`mod@bench`]                   |
//! | 3     | [`api`]                                   |
//! | 4     | [`auth`]                                  |
//! | 5     | [`replica`]                               |
//! | 6     | [`audit`]                                 |
//! | 7     | [`storage`]                               |
//! | 8     | [`raft`]                                  |
//! | 9     | [`state`]                                 |
//! | 10    | [`rbac`], [`barrier`], [`credential`]     |
//! | 11    | [`seal`]                                  |
//! | 12    | [`config`], [`client`]                    |
//! | 13    | [`tls`]                                   |
//! | 14    | leaves: [`crypto`], [`proto`], [`error_code`], [`fsutil`], [`names`], [`faults`] |
//!
//! The SDK ([`client`]) sits below every server module: it shares only
//! [`error_code`] (codes, status metadata keys), [`proto`] and [`tls`], and
//! [`api`] uses it to reach other nodes. Where a lower layer needs
//! something from a higher one, it owns a trait the higher one implements
//! (`rbac::Assignments`, `raft::network::LogSync`,
//! `raft::service::SnapshotCheck`, `raft::service::PeerRequests`).
//!
//! | module        | what it holds                                                       |
//! |---------------|---------------------------------------------------------------------|
//! | [`cli`]       | the `coffer` command line: server, dev cluster, client commands     |
//! | [`node`]      | one running node: storage, Raft, servers, background tasks          |
//! | [`mod@bench`] | the load generator behind `coffer bench` (coffer or etcd)           |
//! | [`api`]       | gRPC services; the single error → status map; barrier crossings     |
//! | [`auth`]      | the authenticating interceptor, `authorize`                         |
//! | [`replica`]   | a node's view of the replicated state: proposer (group commit),     |
//! |               | batched read index, membership, seal operations, purger, anchors    |
//! | [`audit`]     | the audit log: anchors, checkpoints, verification, context, sink    |
//! | [`storage`]   | RocksDB log store, state machine and snapshots                      |
//! | [`raft`]      | openraft types, peer network (client/server), protobuf codec        |
//! | [`state`]     | vaults, secrets, tokens, roles, audit chain: deterministic apply    |
//! | [`rbac`]      | actions, built-in and custom roles, scopes; evaluation              |
//! | [`barrier`]   | the encryption barrier: keyring, AAD, seal state, key shares        |
//! | [`credential`]| token and join token values: format, generation, hashes            |
//! | [`seal`]      | local seals: passphrase keystore, PKCS#11 HSM                       |
//! | [`config`]    | server configuration (TOML, flags, environment)                     |
//! | [`client`]    | the Rust SDK: leader discovery, retries, typed errors               |
//! | [`tls`]       | mTLS: cluster CA and certificates (renewed), listeners, reload      |
//! | [`crypto`]    | AES-256-GCM format, 256-bit keys, Shamir, randomness                |
//! | [`proto`]     | generated protobuf types (edges only)                               |
//! | [`error_code`]| stable error codes and their gRPC status, shared with the client    |
//! | [`fsutil`]    | atomic file writes with permissions                                 |
//! | [`names`]     | the name rule of vaults, objects, roles and groups                  |
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
pub mod credential;
pub mod crypto;
pub mod error_code;
pub mod faults;
pub mod fsutil;
pub mod names;
pub mod node;
pub mod proto;
pub mod raft;
pub mod rbac;
pub mod replica;
pub mod seal;
pub mod state;
pub mod storage;
pub mod tls;
