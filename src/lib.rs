//! # coffer
//!
//! A self-hosted, Raft-replicated key vault. Every node runs one state machine
//! of vault objects, replicated by openraft over tonic gRPC and persisted in
//! RocksDB. One binary, `coffer`, is the server, the client CLI and the admin
//! CLI; this library also exposes the Rust client SDK ([`client`]).
//!
//! ## Layout
//!
//! Dependencies point one way: `cli` → `node` → `api` → `state` / `raft` →
//! `storage`; `client` never imports server modules.
//!
//! | module        | what it holds                                                    |
//! |---------------|------------------------------------------------------------------|
//! | [`cli`]       | the `coffer` command line: server, dev cluster, client commands  |
//! | [`config`]    | server configuration (TOML, flags, environment)                  |
//! | [`node`]      | one running node: Raft, storage, proposer, background tasks      |
//! | [`api`]       | the gRPC client API services and the single error → status map   |
//! | [`state`]     | vaults and secrets: deterministic apply and queries over a `Kv`  |
//! | [`raft`]      | openraft types, peer network (client/server), protobuf codec     |
//! | [`storage`]   | RocksDB log store, state machine and snapshots                   |
//! | [`client`]    | the Rust SDK: leader discovery, retries, typed errors            |
//! | [`proto`]     | generated protobuf types (edges only)                            |
//! | [`error_code`]| stable error codes shared by server and client                   |

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod api;
pub mod auth;
pub mod barrier;
pub mod bench;
pub mod cli;
pub mod client;
pub mod config;
pub mod crypto;
pub mod error_code;
pub mod node;
pub mod proto;
pub mod raft;
pub mod replica;
pub mod seal;
pub mod state;
pub mod storage;
