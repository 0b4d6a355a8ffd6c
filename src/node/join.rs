//! Joining an existing cluster on first start. A node without a
//! certificate first obtains one: it presents its join token (which pins
//! the cluster CA) and a public key to a member, and receives its node
//! certificate. Then, authenticated by that certificate, it asks to be
//! added as a learner and promoted to voter. Retries until done, so nodes
//! started together in any order form a cluster on their own.

use std::time::Duration;

use crate::auth::join_token;
use crate::client::Client;
use crate::config::JoinToken;
use crate::replica::Replica;
use crate::tls::{pki, ClientTls};

pub(super) async fn run(replica: Replica, through: String, token: JoinToken) {
    let mut wait = Duration::from_millis(200);
    loop {
        match step(&replica, &through, token.expose()).await {
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

async fn step(replica: &Replica, through: &str, token: Option<&str>) -> Result<(), String> {
    if replica.tls().current().is_none() {
        obtain_certificate(replica, through, token).await?;
    }
    let id = replica.id();
    let client = Client::new([through.to_owned()])
        .map_err(|e| e.to_string())?
        .with_deadline(Duration::from_secs(10))
        .with_tls(replica.client_tls());
    let status = client.cluster_status().await.map_err(|e| e.to_string())?;
    let member = status.members.iter().find(|m| m.id == id);
    if member.is_some_and(|m| m.role != "learner") {
        return Ok(());
    }
    if member.is_none() {
        client.add_learner(&replica.info().api_addr).await.map_err(|e| e.to_string())?;
    }
    client.promote(vec![id]).await.map(|_| ()).map_err(|e| e.to_string())
}

async fn obtain_certificate(replica: &Replica, through: &str, token: Option<&str>) -> Result<(), String> {
    let token = token.ok_or(
        "this node has no certificate: give it a join token (COFFER_JOIN_TOKEN, from `coffer cluster join-token`)",
    )?;
    let parsed = join_token::parse(token).ok_or("COFFER_JOIN_TOKEN is not a join token (cjt_…)")?;
    let (key, public_key) = pki::new_key().map_err(|e| e.to_string())?;
    let pinned = ClientTls::pinned_ca(parsed.ca_fingerprint).map_err(|e| e.to_string())?;
    let client = Client::new([through.to_owned()])
        .map_err(|e| e.to_string())?
        .with_deadline(Duration::from_secs(10))
        .with_tls(pinned);
    let info = replica.info();
    let issued = client
        .join(token, replica.id(), &info.api_addr, &info.raft_addr, &public_key)
        .await
        .map_err(|e| format!("join refused: {e}"))?;
    let fingerprint = crate::tls::fingerprint_of_pem(&issued.ca_pem).map_err(|e| e.to_string())?;
    if fingerprint != hex::encode(parsed.ca_fingerprint) {
        return Err("the cluster sent a CA that does not match the join token".into());
    }
    replica.tls().store_node_cert(&issued.cert_pem, &key, &issued.ca_pem).map_err(|e| e.to_string())?;
    tracing::info!("received this node's certificate from the cluster CA");
    Ok(())
}
