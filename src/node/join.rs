//! Joining an existing cluster on first start: ask a member to add this node
//! as a learner, then to promote it to voter. Retries until it succeeds, so
//! nodes started together in any order form a cluster on their own.

use std::time::Duration;

use crate::client::Client;
use crate::replica::Replica;

pub(super) async fn run(replica: Replica, through: String) {
    let me = replica.info().api_addr.clone();
    let id = replica.id();
    let mut wait = Duration::from_millis(200);
    loop {
        match try_join(&through, &me, id).await {
            Ok(()) => {
                tracing::info!(%through, "joined the cluster as a voter");
                return;
            }
            Err(e) => tracing::info!(%through, error = %e, "join not done yet; retrying"),
        }
        tokio::time::sleep(wait).await;
        wait = (wait * 2).min(Duration::from_secs(5));
    }
}

async fn try_join(through: &str, me: &str, id: u64) -> Result<(), crate::client::ClientError> {
    let mut client = Client::new([through.to_owned()])?.with_deadline(Duration::from_secs(10));
    // Once the cluster is initialized, membership changes need a root token.
    if let Ok(token) = std::env::var("COFFER_JOIN_TOKEN") {
        client = client.with_token(token);
    }
    let status = client.cluster_status().await?;
    let member = status.members.iter().find(|m| m.id == id);
    if member.is_some_and(|m| m.role != "learner") {
        return Ok(());
    }
    if member.is_none() {
        client.add_learner(me).await?;
    }
    client.promote(vec![id]).await.map(|_| ())
}
