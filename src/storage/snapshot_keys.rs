//! Where the snapshot file's MAC key comes from. The key is derived from
//! the keyring, above this layer: the node hands in a source once its
//! barrier exists, and the source answers `None` while the node holds no
//! keys (sealed, or the cluster not initialized).

use std::sync::{Arc, RwLock};

use crate::crypto::Key256;

type Source = Arc<dyn Fn() -> Option<Key256> + Send + Sync>;

/// A shared handle to the key source (cheap to clone; empty until set).
#[derive(Clone, Default)]
pub struct SnapshotKeys(Arc<RwLock<Option<Source>>>);

impl SnapshotKeys {
    /// Sets the source of the key.
    pub fn set(&self, source: impl Fn() -> Option<Key256> + Send + Sync + 'static) {
        *self.0.write().unwrap_or_else(|p| p.into_inner()) = Some(Arc::new(source));
    }

    /// The key, if this node holds it now.
    pub fn key(&self) -> Option<Key256> {
        let source = self.0.read().unwrap_or_else(|p| p.into_inner()).clone();
        source.and_then(|s| s())
    }
}

impl std::fmt::Debug for SnapshotKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SnapshotKeys(..)")
    }
}
