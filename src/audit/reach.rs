//! How far a request got: the caller the authenticating interceptor found,
//! and whether a handler audited it. The API's outermost layer
//! (`api::unhandled`) puts one in every request and, for a request that no
//! handler audited (its body would not decode, its method does not exist)
//! and the rate limit did not refuse, writes the record itself.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

/// Shared between a request's layers through its extensions (cheap to
/// clone).
#[derive(Clone, Default)]
pub struct Reach(Arc<Inner>);

#[derive(Default)]
struct Inner {
    principal: OnceLock<String>,
    audited: AtomicBool,
    throttled: AtomicBool,
}

impl Reach {
    /// The interceptor authenticated the caller as `principal`.
    pub fn authenticated(&self, principal: String) {
        let _ = self.0.principal.set(principal);
    }

    /// The caller, if the interceptor authenticated one.
    pub fn principal(&self) -> &str {
        self.0.principal.get().map_or("", String::as_str)
    }

    /// A handler took the request and audits it.
    pub fn audited(&self) {
        self.0.audited.store(true, Ordering::Release);
    }

    /// The rate limit on requests without a valid credential refused it:
    /// it gets no record of its own (see `auth::throttle`).
    pub fn throttled(&self) {
        self.0.throttled.store(true, Ordering::Release);
    }

    /// Whether the request's record is someone else's: a handler took and
    /// audits it, or the rate limit refused it unrecorded.
    pub fn accounted_for(&self) -> bool {
        self.0.audited.load(Ordering::Acquire) || self.0.throttled.load(Ordering::Acquire)
    }
}
