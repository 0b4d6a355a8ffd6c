//! The client side of the peer API: how a node sends Raft messages to the
//! others over gRPC. A replication stream's empty calls that only announce
//! a commit are deferred (see [`super::announce`]). No call tells a
//! follower of a commit beyond what the leader's own log has on disk (see
//! [`LogSync`]).

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use openraft::error::{
    InstallSnapshotError, NetworkError, RPCError, RaftError, RemoteError, SnapshotMismatch, Unreachable,
};
use openraft::network::RPCOption;
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse, VoteRequest,
    VoteResponse,
};
use openraft::{RaftNetwork, RaftNetworkFactory, SnapshotSegmentId};

use super::announce::Announcer;
use super::codec::CodecError;
use super::{NodeId, NodeInfo, TypeConfig};
use crate::faults::Faults;
use crate::proto::raft as pb;
use crate::proto::raft::raft_service_client::RaftServiceClient;
use crate::tls::{ClientTls, DirectChannel};

/// Largest peer message: a full batch of entries of maximum-size values.
pub const MAX_MESSAGE_BYTES: usize = 64 << 20;

/// The peer API's `AppendEntries`, called by hand to send entries already
/// encoded (the generated client takes only the decoded message).
const APPEND_ENTRIES_PATH: &str = "/coffer.raft.v1.RaftService/AppendEntries";

/// How far this node's own log is on disk (the storage's sync thread).
pub trait LogSync: Send + Sync {
    /// The last index known to be on disk.
    fn synced(&self) -> u64;

    /// Waits until the entry at `index` is on disk, if this log wrote it;
    /// an error if a sync failed or the log closed first.
    fn wait_synced(&self, index: u64) -> Pin<Box<dyn Future<Output = Result<(), String>> + Send + '_>>;
}

/// Creates [`PeerClient`]s over a few long-lived connections per peer.
///
/// openraft asks for a new client per replication stream and also for every
/// vote request and every leadership check (each linearizable read round):
/// a connection per client would make a TCP connection and a TLS handshake
/// on both nodes for each of those. Each peer gets two channels, handed out
/// in turn: openraft creates a replication stream's client and its snapshot
/// client one after the other, so a snapshot being sent never queues
/// entries and heartbeats behind it on one TCP connection.
pub struct NetworkFactory {
    self_id: NodeId,
    faults: Faults,
    tls: ClientTls,
    /// This node's log on disk.
    durable: Arc<dyn LogSync>,
    /// Per peer and address (a channel reconnects by itself; a peer that
    /// moves gets new ones).
    channels: HashMap<(NodeId, String), [DirectChannel; 2]>,
    turn: usize,
}

impl NetworkFactory {
    /// A factory for the node `self_id`, connecting with `tls` (its node
    /// certificate), whose log's durable point is `durable`.
    pub fn new(self_id: NodeId, faults: Faults, tls: ClientTls, durable: Arc<dyn LogSync>) -> Self {
        NetworkFactory { self_id, faults, tls, durable, channels: HashMap::new(), turn: 0 }
    }

    /// A channel to `target` at `addr`; connections open on first use.
    fn channel(&mut self, target: NodeId, addr: &str) -> Result<DirectChannel, String> {
        self.turn = self.turn.wrapping_add(1);
        let key = (target, addr.to_owned());
        if let Some(pair) = self.channels.get(&key) {
            return Ok(pair[self.turn % 2].clone());
        }
        // The peer must present the certificate of the node we mean to reach.
        let open = || {
            let name = crate::tls::pki::node_dns_name(target);
            DirectChannel::new(addr, &self.tls, &name, Duration::from_secs(2)).map_err(|e| e.to_string())
        };
        let pair = [open()?, open()?];
        let channel = pair[self.turn % 2].clone();
        self.channels.retain(|(id, _), _| *id != target);
        self.channels.insert(key, pair);
        Ok(channel)
    }
}

impl RaftNetworkFactory<TypeConfig> for NetworkFactory {
    type Network = PeerClient;

    async fn new_client(&mut self, target: NodeId, node: &NodeInfo) -> PeerClient {
        let channel = self.channel(target, &node.raft_addr);
        let route = Route { self_id: self.self_id, target, faults: self.faults.clone(), channel };
        PeerClient { route, announcer: Announcer::default(), durable: self.durable.clone() }
    }
}

/// A connection to one peer.
pub struct PeerClient {
    route: Route,
    announcer: Announcer,
    durable: Arc<dyn LogSync>,
}

/// Where a call goes (cheap to clone, so that a call can be deferred).
#[derive(Clone)]
struct Route {
    self_id: NodeId,
    target: NodeId,
    faults: Faults,
    /// The connection, or why the peer's address is unusable.
    channel: Result<DirectChannel, String>,
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct Msg(String);

type RpcErr<E = openraft::error::Infallible> = RPCError<NodeId, NodeInfo, RaftError<NodeId, E>>;

impl Route {
    /// Applies injected faults, then returns the client to use.
    async fn ready<E>(&self, option: &RPCOption) -> Result<(RaftServiceClient<DirectChannel>, Duration), RpcErr<E>>
    where
        E: std::error::Error,
    {
        let (channel, ttl) = self.ready_channel(option).await?;
        let client = RaftServiceClient::new(channel)
            .max_decoding_message_size(MAX_MESSAGE_BYTES)
            .max_encoding_message_size(MAX_MESSAGE_BYTES);
        Ok((client, ttl))
    }

    /// Applies injected faults, then returns the connection to use.
    async fn ready_channel<E>(&self, option: &RPCOption) -> Result<(DirectChannel, Duration), RpcErr<E>>
    where
        E: std::error::Error,
    {
        if let Some(d) = self.faults.delay() {
            tokio::time::sleep(d).await;
        }
        if let Some(why) = self.faults.cut(self.self_id, self.target) {
            return Err(RPCError::Unreachable(Unreachable::new(&Msg(why.into()))));
        }
        match &self.channel {
            Ok(c) => Ok((c.clone(), option.hard_ttl())),
            Err(e) => Err(RPCError::Unreachable(Unreachable::new(&Msg(e.clone())))),
        }
    }

    /// Sends entries already encoded (see [`pb::AppendEntriesRequestEncoded`])
    /// as the peer API's `AppendEntries`.
    async fn append_entries(
        self,
        msg: pb::AppendEntriesRequestEncoded,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<NodeId>, RpcErr> {
        let (channel, ttl) = self.ready_channel(&option).await?;
        let mut grpc = tonic::client::Grpc::new(channel)
            .max_decoding_message_size(MAX_MESSAGE_BYTES)
            .max_encoding_message_size(MAX_MESSAGE_BYTES);
        let call = async {
            grpc.ready().await?;
            let codec = tonic_prost::ProstCodec::<_, pb::AppendEntriesResponse>::default();
            let path = http::uri::PathAndQuery::from_static(APPEND_ENTRIES_PATH);
            grpc.unary(with_timeout(msg, ttl), path, codec).await
        };
        let resp = within(ttl, call).await;
        resp.map_err(status_err)?.into_inner().try_into().map_err(codec_err)
    }
}

/// How a failed call is reported to openraft. Only a peer that cannot be
/// reached is `Unreachable`, which pauses replication to it for 500 ms; a
/// call that ran out of time (`Cancelled`, see [`within`]) is retried at
/// once, as openraft does with its own timeouts — a follower
/// slow for a moment under load must not be cut off for half a second.
fn status_err<E: std::error::Error>(s: tonic::Status) -> RpcErr<E> {
    match s.code() {
        tonic::Code::Unavailable => RPCError::Unreachable(Unreachable::new(&s)),
        _ => RPCError::Network(NetworkError::new(&s)),
    }
}

fn codec_err<E: std::error::Error>(e: CodecError) -> RpcErr<E> {
    RPCError::Network(NetworkError::new(&e))
}

/// Ends a call at its deadline (the peer channel enforces none itself), as
/// `Cancelled`, the code tonic's own channel gives an expired call.
async fn within<T>(
    ttl: Duration,
    call: impl std::future::Future<Output = Result<T, tonic::Status>>,
) -> Result<T, tonic::Status> {
    tokio::time::timeout(ttl, call).await.unwrap_or_else(|_| Err(tonic::Status::cancelled("Timeout expired")))
}

/// The request, with its deadline for the peer (`grpc-timeout`).
fn with_timeout<T>(msg: T, ttl: Duration) -> tonic::Request<T> {
    let mut req = tonic::Request::new(msg);
    req.set_timeout(ttl);
    req
}

impl RaftNetwork<TypeConfig> for PeerClient {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<NodeId>, RpcErr> {
        // The leader's own newest entries may still be syncing: a follower
        // hears of their commit only once they are on the leader's disk.
        // (The leader's sync began before the follower's, so this rarely
        // waits.)
        if let Some(commit) = rpc.leader_commit.filter(|c| c.index > self.durable.synced()) {
            let wait = async { self.durable.wait_synced(commit.index).await.map_err(tonic::Status::internal) };
            within(option.hard_ttl(), wait).await.map_err(status_err)?;
        }
        let msg = pb::AppendEntriesRequestEncoded::from(&rpc);
        let route = self.route.clone();
        if self.announcer.defers(!rpc.entries.is_empty(), rpc.prev_log_id.as_ref()) {
            self.announcer.defer(async move {
                matches!(route.append_entries(msg, option).await, Ok(AppendEntriesResponse::Success))
            });
            return Ok(AppendEntriesResponse::Success);
        }
        let resp = route.append_entries(msg, option).await;
        let last = rpc.entries.last().map(|e| e.log_id);
        self.announcer.sent(matches!(resp, Ok(AppendEntriesResponse::Success)).then_some(last));
        resp
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<InstallSnapshotResponse<NodeId>, RpcErr<InstallSnapshotError>> {
        let (mut c, ttl) = self.route.ready(&option).await?;
        let resp = within(ttl, c.install_snapshot(with_timeout(pb::InstallSnapshotRequest::from(rpc), ttl))).await;
        use pb::install_snapshot_response::Result as R;
        match resp.map_err(status_err)?.into_inner().result {
            Some(R::Vote(v)) => Ok(InstallSnapshotResponse { vote: v.try_into().map_err(codec_err)? }),
            Some(R::Mismatch(m)) => {
                let seg = |s: Option<pb::SnapshotSegment>| {
                    let s = s.unwrap_or_default();
                    SnapshotSegmentId { id: s.id, offset: s.offset }
                };
                let err =
                    InstallSnapshotError::SnapshotMismatch(SnapshotMismatch { expect: seg(m.expect), got: seg(m.got) });
                Err(RPCError::RemoteError(RemoteError::new(self.route.target, RaftError::APIError(err))))
            }
            None => Err(codec_err(CodecError("install_snapshot_response.result"))),
        }
    }

    async fn vote(&mut self, rpc: VoteRequest<NodeId>, option: RPCOption) -> Result<VoteResponse<NodeId>, RpcErr> {
        let (mut c, ttl) = self.route.ready(&option).await?;
        let resp = within(ttl, c.vote(with_timeout(pb::VoteRequest::from(rpc), ttl))).await;
        resp.map_err(status_err)?.into_inner().try_into().map_err(codec_err)
    }
}

/// Asks node `target`, whose peer API is at `raft_addr`, to campaign for
/// leadership (see [`super::service`]), for a leadership transfer.
pub async fn request_campaign(target: NodeId, raft_addr: &str, tls: &ClientTls) -> Result<(), String> {
    let name = crate::tls::pki::node_dns_name(target);
    let channel = crate::tls::channel(raft_addr, tls, Some(name), Duration::from_secs(2), Some(Duration::from_secs(5)))
        .map_err(|e| e.to_string())?;
    RaftServiceClient::new(channel).campaign(pb::Blank {}).await.map(drop).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn append_entries_is_sent_to_the_generated_service_path() {
        let service = crate::proto::raft::raft_service_server::SERVICE_NAME;
        assert_eq!(APPEND_ENTRIES_PATH, format!("/{service}/AppendEntries"));
    }

    #[test]
    fn only_an_unavailable_peer_is_unreachable() {
        let unreachable =
            |s: tonic::Status| matches!(status_err::<openraft::error::Infallible>(s), RPCError::Unreachable(_));
        assert!(unreachable(tonic::Status::unavailable("connection refused")));
        // An expired call (`within`, and tonic's own timeout) is Cancelled:
        // retried at once, not paused as an unreachable peer.
        assert!(!unreachable(tonic::Status::cancelled("Timeout expired")));
        assert!(!unreachable(tonic::Status::deadline_exceeded("deadline")));
        assert!(!unreachable(tonic::Status::internal("bad message")));
    }
}
