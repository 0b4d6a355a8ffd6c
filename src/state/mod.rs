//! The replicated state: vaults and their objects. Pure logic over the
//! [`kv::Kv`] interface — no RocksDB, no Raft, no clocks, no randomness.
//! Commands carry the proposer's time and ids; [`apply::apply`] turns a
//! command into writes and per-operation results, deterministically.
//!
//! - [`apply`]: dispatches a command's operations.
//! - [`vaults`], [`secrets`]: the operations and queries of each object
//!   type (`secret_queries`: reads of versions and deleted secrets).
//! - [`tokens`], [`rbac`], [`join_tokens`]: credentials and access control.
//! - [`security`]: the keyring record (init, rotation, rekey, rewrap).
//! - [`audit`]: the audit chain's records, anchors and trims.
//! - [`removed_nodes`]: nodes an operator removed (they may not rejoin alone).
//! - [`kv`], [`keys`]: the storage interface and the keyspace layout;
//!   `record`: decoding a stored record.
//! - [`validate`], [`error`]: input rules and errors.

pub mod apply;
pub mod audit;
pub mod audit_chain;
pub mod error;
pub mod join_tokens;
pub mod keys;
pub mod kv;
pub mod rbac;
pub mod removed_nodes;
pub mod secrets;
pub mod security;
pub mod tokens;
pub mod validate;
pub mod vaults;

mod record;
mod secret_queries;

pub use apply::{ApplyOutput, OpOutput, OpResult};
pub use error::StateError;
pub use secrets::SecretView;

#[cfg(test)]
mod tests;
