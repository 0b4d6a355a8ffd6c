//! Keeps the certificate of a node that manages its certificates from
//! expiring: once less than a third of its lifetime is left, the node
//! issues itself a new one from the cluster CA
//! (`Replica::renew_node_certificate`), and tries again until that works.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::replica::Replica;

/// The longest wait between two looks at the certificate.
const CHECK_EVERY: Duration = Duration::from_secs(60);

/// How often a renewal that keeps failing is logged.
const WARN_EVERY: Duration = Duration::from_secs(3600);

/// Runs until the node stops.
pub async fn run(replica: Replica) {
    let lifetime = replica.tls().node_cert_ttl();
    // Short lifetimes (tests) are looked at more often than every minute.
    let every = (lifetime / 10).clamp(Duration::from_secs(1), CHECK_EVERY);
    let mut warned: Option<Instant> = None;
    loop {
        tokio::time::sleep(every).await;
        let Some(current) = replica.tls().current().and_then(|l| l.cert_info.clone()) else { continue };
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64);
        if !current.renewal_due(now, lifetime) {
            continue;
        }
        match replica.renew_node_certificate().await {
            Ok(_) => warned = None,
            Err(e) if warned.is_none_or(|at| at.elapsed() >= WARN_EVERY) => {
                tracing::warn!(
                    error = %e,
                    code = e.code().as_str(),
                    not_after = current.not_after,
                    "this node's certificate is due for renewal and could not be renewed; \
                     it is retried every {}s (a sealed node cannot renew)",
                    every.as_secs()
                );
                warned = Some(Instant::now());
            }
            Err(_) => {}
        }
    }
}
