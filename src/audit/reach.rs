//! How far a request got: the caller the authenticating interceptor found,
//! and whether a handler audited it. The API's outermost layer
//! (`api::unhandled`) puts one in every request and, for a request that no
//! handler audited (its body would not decode, its method does not exist),
//! writes the record itself.

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

    /// Whether a handler took the request and audits it.
    pub fn was_audited(&self) -> bool {
        self.0.audited.load(Ordering::Acquire)
    }
}
