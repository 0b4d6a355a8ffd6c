//! The client and admin gRPC API. Each service is a thin layer: validate the
//! request, turn it into a replicated operation or a query on
//! [`crate::replica::Replica`], convert the answer. Every operation is one
//! row of [`operations`] (its audit name, its action, whether it writes),
//! and every handler runs through [`serve`], which audits and authorizes it
//! from its row. Errors become statuses only in [`status`].

pub mod audit;
pub mod audited;
pub mod cluster;
pub mod convert;
pub mod operations;
pub mod operator;
pub mod paging;
pub mod pki;
pub mod rbac;
pub mod secrets;
pub mod serve;
pub mod status;
pub mod tokens;
pub mod unhandled;
pub mod vaults;

use tonic::service::interceptor::InterceptedService;
use tonic::transport::server::Router;
use tonic::transport::Server;
use tower::layer::util::{Identity, Stack};

use crate::auth::Authenticator;
use crate::proto::api::audit_service_server::AuditServiceServer;
use crate::proto::api::cluster_service_server::ClusterServiceServer;
use crate::proto::api::operator_service_server::OperatorServiceServer;
use crate::proto::api::pki_service_server::PkiServiceServer;
use crate::proto::api::rbac_service_server::RbacServiceServer;
use crate::proto::api::secret_service_server::SecretServiceServer;
use crate::proto::api::token_service_server::TokenServiceServer;
use crate::proto::api::vault_service_server::VaultServiceServer;
use crate::replica::Replica;

/// The services [`router`] serves, by gRPC name.
const SERVICES: &[&str] = &[
    crate::proto::api::vault_service_server::SERVICE_NAME,
    crate::proto::api::secret_service_server::SERVICE_NAME,
    crate::proto::api::operator_service_server::SERVICE_NAME,
    crate::proto::api::token_service_server::SERVICE_NAME,
    crate::proto::api::pki_service_server::SERVICE_NAME,
    crate::proto::api::rbac_service_server::SERVICE_NAME,
    crate::proto::api::audit_service_server::SERVICE_NAME,
    crate::proto::api::cluster_service_server::SERVICE_NAME,
];

/// Largest request to the secret service: a restore blob of a secret with
/// many versions.
const MAX_SECRET_REQUEST_BYTES: usize = 16 << 20;
/// Largest request to every other service (its largest valid request, a
/// role definition or a token with many roles, is a few KiB).
const MAX_REQUEST_BYTES: usize = 64 << 10;

/// The client API server for `replica`. Every service resolves the
/// request's bearer token first (see [`crate::auth`]); requests no handler
/// reaches are audited by the outermost layer ([`unhandled`]).
pub fn router(replica: Replica) -> Router<Stack<unhandled::AuditUnhandledLayer, Identity>> {
    let auth = Authenticator::new(replica.clone());
    let r = &replica;
    Server::builder()
        .layer(unhandled::AuditUnhandledLayer { replica: r.clone(), auth: auth.clone() })
        .add_service(InterceptedService::new(
            VaultServiceServer::new(vaults::Vaults::new(r.clone())).max_decoding_message_size(MAX_REQUEST_BYTES),
            auth.clone(),
        ))
        .add_service(InterceptedService::new(
            SecretServiceServer::new(secrets::Secrets::new(r.clone()))
                .max_decoding_message_size(MAX_SECRET_REQUEST_BYTES)
                .max_encoding_message_size(MAX_SECRET_REQUEST_BYTES),
            auth.clone(),
        ))
        .add_service(InterceptedService::new(
            OperatorServiceServer::new(operator::Operator::new(r.clone())).max_decoding_message_size(MAX_REQUEST_BYTES),
            auth.clone(),
        ))
        .add_service(InterceptedService::new(
            TokenServiceServer::new(tokens::Tokens::new(r.clone())).max_decoding_message_size(MAX_REQUEST_BYTES),
            auth.clone(),
        ))
        .add_service(InterceptedService::new(
            PkiServiceServer::new(pki::Pki::new(r.clone())).max_decoding_message_size(MAX_REQUEST_BYTES),
            auth.clone(),
        ))
        .add_service(InterceptedService::new(
            RbacServiceServer::new(rbac::Rbac::new(r.clone())).max_decoding_message_size(MAX_REQUEST_BYTES),
            auth.clone(),
        ))
        .add_service(InterceptedService::new(
            AuditServiceServer::new(audit::Audit::new(r.clone())).max_decoding_message_size(MAX_REQUEST_BYTES),
            auth.clone(),
        ))
        .add_service(InterceptedService::new(
            ClusterServiceServer::new(cluster::Cluster::new(replica)).max_decoding_message_size(MAX_REQUEST_BYTES),
            auth,
        ))
}
