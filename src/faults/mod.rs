//! Fault injection for tests: a node's peer messages cut off or delayed,
//! its Raft log's syncs held back or failing, a snapshot install broken off
//! half-way, its clock moved forward.
//!
//! The switches exist only with the `fault-injection` cargo feature, which
//! the tests turn on (Cargo.toml: coffer is its own dev-dependency with the
//! feature) and a `cargo build` leaves off. Without it, every type here is
//! zero-sized and only ever says "no fault", so the production code asks
//! the same questions either way but carries nothing that could inject one
//! (`scripts/check-no-faults` checks the built binary).

#[cfg(feature = "fault-injection")]
mod injected;
#[cfg(feature = "fault-injection")]
pub use injected::{ClockSkew, Disk, Faults, Install};

#[cfg(not(feature = "fault-injection"))]
mod none;
#[cfg(not(feature = "fault-injection"))]
pub use none::{ClockSkew, Disk, Faults, Install};
