//! The local seal at work: unseal this node from its sealed root key when it
//! starts (or whenever it is sealed and holds the keyring), and store the
//! root key again after it changes (first unseal by shares, rekey).

use std::sync::Arc;
use std::time::Duration;

use crate::replica::Replica;
use crate::seal::LocalSeal;

const EVERY: Duration = Duration::from_millis(500);

pub(super) async fn run(replica: Replica, seal: Arc<LocalSeal>) {
    let mut stored = seal.stored_generation().ok().flatten();
    loop {
        let result = step(&replica, &seal, &mut stored).await;
        let error = result.err();
        if error != replica.barrier().seal_error() {
            match &error {
                Some(e) => tracing::error!(seal = seal.kind(), error = %e, "local seal"),
                None => tracing::info!(seal = seal.kind(), "local seal ok"),
            }
            replica.barrier().set_seal_error(error);
        }
        tokio::time::sleep(EVERY).await;
    }
}

async fn step(replica: &Replica, seal: &Arc<LocalSeal>, stored: &mut Option<u32>) -> Result<(), String> {
    let Some(record) = replica.security_record().map_err(|e| e.to_string())? else { return Ok(()) };
    if replica.barrier().state().sealed {
        if replica.barrier().held_by_operator() {
            return Ok(());
        }
        let opener = seal.clone();
        let loaded = tokio::task::spawn_blocking(move || opener.load()).await.map_err(|e| e.to_string())?;
        let Some((root, generation)) = loaded.map_err(|e| e.to_string())? else {
            return Err("no sealed root key on this node yet: unseal it once with key shares".into());
        };
        if generation != record.root_generation {
            return Err(format!(
                "the local seal holds root key generation {generation} but the cluster is at {}: unseal with key shares",
                record.root_generation
            ));
        }
        replica.unseal_with_root(root).map_err(|e| e.to_string())?;
        tracing::info!(seal = seal.kind(), "unsealed by the local seal");
        *stored = Some(generation);
        return Ok(());
    }
    // Unsealed: make sure the local seal holds the current root key.
    let (root, generation) = {
        let keys = replica.unsealed().map_err(|e| e.to_string())?;
        if *stored == Some(keys.root_generation()) {
            return Ok(());
        }
        (keys.root().clone(), keys.root_generation())
    };
    let sealer = seal.clone();
    tokio::task::spawn_blocking(move || sealer.store(&root, generation))
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())?;
    tracing::info!(seal = seal.kind(), generation, "root key sealed locally");
    *stored = Some(generation);
    Ok(())
}
