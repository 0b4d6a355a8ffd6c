//! Mutual TLS: who may connect to the peer and client APIs, client
//! certificate authentication, the managed cluster CA with join tokens, and
//! certificate reload without restart.

mod common;

use std::time::{Duration, Instant};

use coffer::client::{Client, ClientTls};
use coffer::config::{Config, JoinToken};
use coffer::error_code::ErrorCode;
use coffer::node::Node;
use coffer::proto::raft::raft_service_client::RaftServiceClient;
use coffer::proto::raft::Blank;
use coffer::tls::pki::{self, node_dns_name, Ca, CERT_VALIDITY};
use common::pki::pki as test_pki;
use common::TestCluster;

fn foreign_ca() -> (Ca, String) {
    let issued = pki::new_ca("someone else's CA").unwrap();
    (Ca::new(&issued.cert_pem, &issued.key).unwrap(), issued.cert_pem)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn clients_need_the_cluster_ca_and_a_credential() {
    let cluster = TestCluster::start(1).await;
    let addr = cluster.api_addr(1);
    let (other, other_pem) = foreign_ca();

    // A client certificate from another CA: the server refuses the handshake.
    let stranger = other.issue_client("mallory", CERT_VALIDITY).unwrap();
    let tls = ClientTls::new(&test_pki().ca_pem, Some((&stranger.cert_pem, &stranger.key))).unwrap();
    let client = Client::new([addr.clone()]).unwrap().with_tls(tls).with_deadline(Duration::from_secs(2));
    let err = client.cluster_status().await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::Unavailable, "{err}");

    // A client that trusts another CA refuses the server.
    let client = Client::new([addr.clone()])
        .unwrap()
        .with_tls(ClientTls::new(&other_pem, None).unwrap())
        .with_deadline(Duration::from_secs(2));
    assert_eq!(client.cluster_status().await.unwrap_err().code(), ErrorCode::Unavailable);

    // No TLS configuration at all: a clear error, not plaintext.
    let client = Client::new([addr.clone()]).unwrap().with_token(&cluster.root_token);
    let err = client.cluster_status().await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::InvalidArgument);
    assert!(err.message().contains("COFFER_CACERT"), "{err}");

    // TLS without a credential: connected, but data requests are refused.
    let anonymous = cluster.anonymous_client();
    anonymous.cluster_status().await.unwrap();
    assert_eq!(anonymous.create_vault("v", 0, false).await.unwrap_err().code(), ErrorCode::Unauthenticated);
    assert_eq!(anonymous.who_am_i().await.unwrap_err().code(), ErrorCode::Unauthenticated);
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_client_certificate_authenticates_as_its_principal() {
    let cluster = TestCluster::start(1).await;
    let alice = Client::new([cluster.api_addr(1)]).unwrap().with_tls(test_pki().client_cert("alice"));
    let id = alice.who_am_i().await.unwrap();
    assert_eq!((id.principal.as_str(), id.credential.as_str()), ("cert:alice", "certificate"));
    // Authenticated, but without a role it may do nothing else.
    let err = alice.create_vault("v", 0, false).await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::Forbidden);
    assert!(err.message().contains("cert:alice"), "{err}");
    assert_eq!(alice.lookup_self().await.unwrap_err().code(), ErrorCode::Forbidden);
    // A token on the same connection wins over the certificate.
    let both = alice.with_token(&cluster.root_token);
    let id = both.who_am_i().await.unwrap();
    assert_eq!((id.credential.as_str(), id.policy.as_str()), ("token", "root"));
    assert_eq!(id.principal, format!("token:{}", id.accessor));
    both.create_vault("v", 0, false).await.unwrap();
    // A node certificate on the client API may not act beyond its own node.
    let node9 = test_pki().ca.issue_node(9, &["127.0.0.1".into()], CERT_VALIDITY).unwrap();
    let tls = ClientTls::new(&test_pki().ca_pem, Some((&node9.cert_pem, &node9.key))).unwrap();
    let as_node = Client::new([cluster.api_addr(1)]).unwrap().with_tls(tls);
    assert_eq!(as_node.who_am_i().await.unwrap().principal, "node:9");
    assert_eq!(as_node.promote(vec![1]).await.unwrap_err().code(), ErrorCode::Forbidden);
    assert_eq!(as_node.create_vault("w", 0, false).await.unwrap_err().code(), ErrorCode::Forbidden);
    cluster.shutdown().await;
}

/// Calls the peer API of node 1 presenting `cert`.
async fn campaign_as(cluster: &TestCluster, ca_pem: &str, cert: &pki::Issued) -> Result<(), tonic::Status> {
    let tls = ClientTls::new(ca_pem, Some((&cert.cert_pem, &cert.key))).unwrap();
    let raft_addr = cluster.node(1).raft_addr().to_string();
    let channel = coffer::tls::channel(&raft_addr, &tls, Some(node_dns_name(1)), Duration::from_secs(2), None).unwrap();
    RaftServiceClient::new(channel).campaign(Blank {}).await.map(drop)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn peers_must_be_members_with_a_cluster_certificate() {
    let cluster = TestCluster::start(3).await;
    let (other, _) = foreign_ca();
    let foreign_node = other.issue_node(2, &["127.0.0.1".into()], CERT_VALIDITY).unwrap();
    let err = campaign_as(&cluster, &test_pki().ca_pem, &foreign_node).await.unwrap_err();
    // Refused in the TLS handshake (the connection is closed, with or
    // without the alert arriving first), before any request reaches Raft.
    let refused = [tonic::Code::Unavailable, tonic::Code::Unknown, tonic::Code::Cancelled];
    assert!(refused.contains(&err.code()), "{err:?}");

    let outsider = test_pki().ca.issue_node(42, &["127.0.0.1".into()], CERT_VALIDITY).unwrap();
    let err = campaign_as(&cluster, &test_pki().ca_pem, &outsider).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::PermissionDenied, "{err}");
    assert!(err.message().contains("not a member"), "{err}");

    let client_cert = test_pki().ca.issue_client("alice", CERT_VALIDITY).unwrap();
    let err = campaign_as(&cluster, &test_pki().ca_pem, &client_cert).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::PermissionDenied, "{err}");

    // The members themselves still replicate.
    cluster.client().create_vault("still-working", 0, false).await.unwrap();
    cluster.shutdown().await;
}

fn managed_config(id: u64, dir: &std::path::Path) -> Config {
    let mut c = common::test_config(id, dir);
    c.tls = Default::default();
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_managed_cluster_admits_nodes_with_single_use_join_tokens() {
    let dir = tempfile::tempdir().unwrap();
    let mut c1 = managed_config(1, dir.path());
    c1.bootstrap = true;
    let n1 = Node::start(c1.clone()).await.unwrap();
    // The first node created the cluster CA; clients trust it.
    let ca_pem = std::fs::read_to_string(c1.data_dir.join("tls/ca.pem")).unwrap();
    let ca_key = c1.data_dir.join("tls/ca.key");
    assert!(ca_key.exists());
    let tls = ClientTls::new(&ca_pem, None).unwrap();
    let anonymous = Client::new([n1.api_addr().to_string()]).unwrap().with_tls(tls.clone());
    n1.replica().wait_for_leader(Duration::from_secs(10)).await.unwrap();
    let init = anonymous.operator_init(1, 1).await.unwrap();
    // init sealed the CA key into the cluster; no plaintext copy is left.
    assert!(!ca_key.exists());
    let root = anonymous.with_token(init.root_token.as_str());

    let (token, expires) = root.create_join_token(600).await.unwrap();
    assert!(token.starts_with("cjt_") && expires > 0);
    let mut c2 = managed_config(2, dir.path());
    c2.join = Some(n1.api_addr().to_string());
    c2.join_token = JoinToken::new(&token);
    let n2 = Node::start(c2.clone()).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let st = root.cluster_status().await.unwrap();
        if st.members.iter().any(|m| m.id == 2 && m.role != "learner") {
            break;
        }
        assert!(Instant::now() < deadline, "node 2 did not join: {st:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Its certificate came from the cluster CA and names it.
    let cert = std::fs::read_to_string(c2.data_dir.join("tls/node.pem")).unwrap();
    assert!(cert.contains(ca_pem.trim()), "the chain ends with the cluster CA");
    n2.replica().unseal(&init.shares[0]).unwrap();
    root.create_vault("joined", 0, false).await.unwrap();

    // A join token admits once; expired and malformed ones are refused.
    let (_, public_key) = pki::new_key().unwrap();
    let join = |token: String| {
        let tls = tls.clone();
        let addr = n1.api_addr().to_string();
        let public_key = public_key.clone();
        async move {
            let client = Client::new([addr]).unwrap().with_tls(tls);
            client.join(&token, 3, "127.0.0.1:1", "127.0.0.1:2", &public_key).await
        }
    };
    let err = join(token.to_string()).await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::InvalidJoinToken, "{err}");
    assert!(err.message().contains("already used"), "{err}");
    let (short, _) = root.create_join_token(60).await.unwrap();
    n1.replica().clock().advance_for_tests(120);
    let err = join(short.to_string()).await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::InvalidJoinToken);
    assert!(err.message().contains("expired"), "{err}");
    let err = join("cjt_nonsense".into()).await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::InvalidJoinToken);
    // A join token cannot buy a member's identity, a node name, or a bad key,
    // and such an attempt does not spend it.
    let (fresh, _) = root.create_join_token(600).await.unwrap();
    let client = Client::new([n1.api_addr().to_string()]).unwrap().with_tls(tls.clone());
    let err = client.join(&fresh, 1, "127.0.0.1:1", "127.0.0.1:2", &public_key).await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::InvalidArgument, "{err}");
    let err = client.join(&fresh, 3, "node-1.nodes.coffer:1", "127.0.0.1:2", &public_key).await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::InvalidCertificate, "{err}");
    let err = client.join(&fresh, 3, "127.0.0.1:1", "127.0.0.1:2", b"not a key").await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::InvalidCertificate, "{err}");
    // Then it works, and issues a certificate for the given key.
    let issued = join(fresh.to_string()).await.unwrap();
    assert_eq!(issued.ca_pem, ca_pem);
    // Only a root token may create join tokens or issue client certificates.
    assert_eq!(anonymous_err(&tls, &n1).await, ErrorCode::Unauthenticated);
    let client_cert = root.issue_client_certificate("bob", &public_key, 0).await.unwrap();
    assert!(client_cert.cert_pem.contains("BEGIN CERTIFICATE"));
    // A certificate hands out what its name holds: a non-root issuer follows
    // the delegation rule for every role the name (or its groups) holds.
    let issuer_role = coffer::client::types::Role {
        name: "cert-issuer".into(),
        actions: vec!["cluster/issue-certificate".into(), "assignments/write".into()],
        ..Default::default()
    };
    root.put_role(issuer_role, true).await.unwrap();
    let (issuer, _) = root.create_token_with_roles("issuer", 0, false, &[("cert-issuer", "/")]).await.unwrap();
    let issuer = Client::new([n1.api_addr().to_string()]).unwrap().with_tls(tls.clone()).with_token(issuer.as_str());
    root.assign_role("cert:ops-person", "operator", "/").await.unwrap();
    root.assign_role("group:auditors", "auditor", "/").await.unwrap();
    root.set_group_member("auditors", "cert:app", true).await.unwrap();
    for holder in ["ops-person", "app"] {
        let err = issuer.issue_client_certificate(holder, &public_key, 0).await.unwrap_err();
        assert_eq!(err.code(), ErrorCode::Forbidden, "{holder}: {err}");
    }
    root.assign_role("cert:reader-app", "secrets-user", "vaults/joined").await.unwrap();
    issuer.issue_client_certificate("reader-app", &public_key, 0).await.unwrap();
    issuer.issue_client_certificate("nobody-yet", &public_key, 0).await.unwrap();
    n2.shutdown().await;
    n1.shutdown().await;
}

async fn anonymous_err(tls: &ClientTls, node: &Node) -> ErrorCode {
    let client = Client::new([node.api_addr().to_string()]).unwrap().with_tls(tls.clone());
    client.create_join_token(60).await.unwrap_err().code()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn join_tokens_need_a_managed_ca() {
    let cluster = TestCluster::start(1).await;
    let err = cluster.client().create_join_token(60).await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::NoClusterCa);
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn replaced_certificates_are_used_without_a_restart() {
    let cluster = TestCluster::start_with(1, |c| c.tls.reload_secs = 1).await;
    let addr = cluster.api_addr(1);
    let old = cluster.anonymous_client();
    old.cluster_status().await.unwrap();

    // Replace node 1's CA, certificate and key with ones from a new CA.
    let (new_ca, new_pem) = foreign_ca();
    let node = new_ca.issue_node(1, &["127.0.0.1".into()], CERT_VALIDITY).unwrap();
    let files = cluster.node(1).replica().tls().files().clone();
    std::fs::write(&files.key, node.key.as_str()).unwrap();
    std::fs::write(&files.cert, format!("{}\n{}", node.cert_pem.trim_end(), new_pem)).unwrap();
    std::fs::write(&files.ca, &new_pem).unwrap();

    let fresh = || {
        Client::new([addr.clone()])
            .unwrap()
            .with_tls(ClientTls::new(&new_pem, None).unwrap())
            .with_deadline(Duration::from_secs(1))
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while fresh().cluster_status().await.is_err() {
        assert!(Instant::now() < deadline, "the new certificate was never served");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // New connections that trust only the old CA are refused now.
    let stale = common::client_for([addr.clone()]).with_deadline(Duration::from_secs(1));
    assert_eq!(stale.cluster_status().await.unwrap_err().code(), ErrorCode::Unavailable);
    // A broken file is refused and the working certificate stays in use.
    std::fs::write(&files.key, "not a key").unwrap();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    fresh().cluster_status().await.unwrap();
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_configured_client_ca_authenticates_principals_but_never_nodes() {
    let (clients_ca, clients_pem) = foreign_ca();
    let dir = tempfile::tempdir().unwrap();
    let ca_file = dir.path().join("clients-ca.pem");
    std::fs::write(&ca_file, &clients_pem).unwrap();
    let cluster = TestCluster::start_with(1, move |c| c.tls.client_ca_file = Some(ca_file.clone())).await;
    let with = |issued: &pki::Issued| {
        let tls = ClientTls::new(&test_pki().ca_pem, Some((&issued.cert_pem, &issued.key))).unwrap();
        Client::new([cluster.api_addr(1)]).unwrap().with_tls(tls)
    };
    let carol = clients_ca.issue_client("carol", CERT_VALIDITY).unwrap();
    assert_eq!(with(&carol).who_am_i().await.unwrap().principal, "cert:carol");
    // A certificate from the client CA that claims to be a node names nobody.
    let fake_node = clients_ca.issue_node(1, &["127.0.0.1".into()], CERT_VALIDITY).unwrap();
    assert_eq!(with(&fake_node).who_am_i().await.unwrap_err().code(), ErrorCode::Unauthenticated);
    cluster.shutdown().await;
}

/// The members of a managed cluster of `n` nodes whose node certificates
/// are valid for `ttl_secs`: node 1 bootstraps and is initialized (one
/// share), the others join with join tokens; all are unsealed.
struct Managed {
    nodes: Vec<(Config, Node)>,
    root: Client,
    share: String,
    tls: ClientTls,
}

async fn start_managed(dir: &std::path::Path, n: u64, ttl_secs: u64) -> Managed {
    let config = |id| {
        let mut c = managed_config(id, dir);
        c.tls.node_cert_ttl_secs = ttl_secs;
        c
    };
    let mut c1 = config(1);
    c1.bootstrap = true;
    let n1 = Node::start(c1.clone()).await.unwrap();
    let ca_pem = std::fs::read_to_string(c1.data_dir.join("tls/ca.pem")).unwrap();
    let tls = ClientTls::new(&ca_pem, None).unwrap();
    n1.replica().wait_for_leader(Duration::from_secs(10)).await.unwrap();
    let anonymous = Client::new([n1.api_addr().to_string()]).unwrap().with_tls(tls.clone());
    let init = anonymous.operator_init(1, 1).await.unwrap();
    let root = anonymous.with_token(init.root_token.as_str());
    let share = init.shares[0].to_string();
    let mut nodes = vec![(c1, n1)];
    for id in 2..=n {
        let (token, _) = root.create_join_token(600).await.unwrap();
        let mut c = config(id);
        c.join = Some(nodes[0].1.api_addr().to_string());
        c.join_token = JoinToken::new(&token);
        let node = Node::start(c.clone()).await.unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        while !root.cluster_status().await.unwrap().members.iter().any(|m| m.id == id && m.role != "learner") {
            assert!(Instant::now() < deadline, "node {id} did not join");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        node.replica().unseal(&share).unwrap();
        nodes.push((c, node));
    }
    Managed { nodes, root, share, tls }
}

/// When each node's own certificate expires, asked over a new connection
/// (so the certificate the node serves now is verified).
async fn cert_not_after(tls: &ClientTls, node: &Node) -> i64 {
    let client = Client::new([node.api_addr().to_string()]).unwrap().with_tls(tls.clone());
    client.node_status(&node.api_addr().to_string()).await.unwrap().cert_not_after.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn managed_node_certificates_are_renewed_before_they_expire() {
    let dir = tempfile::tempdir().unwrap();
    let ttl = 20;
    let Managed { mut nodes, root, share, tls } = start_managed(dir.path(), 3, ttl).await;
    let mut first = Vec::new();
    for (_, node) in &nodes {
        first.push(cert_not_after(&tls, node).await);
    }
    // Past every first certificate's end: each node serves a later one.
    let now = || std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    let expired = *first.iter().max().unwrap() + 1;
    while now() <= expired {
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    for ((_, node), first) in nodes.iter().zip(&first) {
        let renewed = cert_not_after(&tls, node).await;
        assert!(renewed > *first && renewed > now(), "node {}: {renewed} after {first}", node.replica().id());
    }

    // A restarted node connects to its peers, and they to it, with the
    // renewed certificates only.
    let (mut c2, n2) = nodes.remove(1);
    c2.api_listen = n2.api_addr();
    c2.raft_listen = n2.raft_addr();
    n2.shutdown().await;
    let n2 = Node::start(c2.clone()).await.unwrap();
    n2.replica().unseal(&share).unwrap();
    root.create_vault("after-renewal", 0, false).await.unwrap();
    let leader = root.cluster_status().await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let st = root.node_status(&n2.api_addr().to_string()).await.unwrap();
        if st.applied_index >= leader.committed_index {
            break;
        }
        assert!(Instant::now() < deadline, "node 2 did not catch up: {st:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Every renewal is on the audit record, by the node itself.
    let page = root
        .audit_query(coffer::proto::api::AuditQuery { operation: "NodeCertificateRenew".into(), ..Default::default() })
        .await
        .unwrap();
    for id in 1..=3 {
        let renewals = page.records.iter().filter(|r| r.principal == format!("node:{id}")).count();
        assert!(renewals >= 1, "node {id}: {:?}", page.records);
    }
    assert!(page.records.iter().all(|r| r.result == "ok" && r.detail.starts_with("serial ")));
    n2.shutdown().await;
    for (_, node) in nodes {
        node.shutdown().await;
    }
}
