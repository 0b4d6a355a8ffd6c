//! `coffer server`: run one node until Ctrl-C or SIGTERM.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Args;

use super::{init_logging, CliError, CliResult};
use crate::config::{Config, SAMPLE};
use crate::error_code::ErrorCode;
use crate::node::Node;

/// Flags of `coffer server`. Each overrides the config file's setting.
#[derive(Args)]
pub struct ServerArgs {
    /// TOML configuration file.
    #[arg(long, env = "COFFER_CONFIG")]
    config: Option<PathBuf>,
    /// Print a commented configuration with every default and exit.
    #[arg(long)]
    print_sample_config: bool,
    /// Validate the configuration and exit.
    #[arg(long)]
    config_check: bool,
    #[arg(long, env = "COFFER_NODE_ID")]
    node_id: Option<u64>,
    #[arg(long, env = "COFFER_REGION")]
    region: Option<String>,
    #[arg(long, env = "COFFER_DATA_DIR")]
    data_dir: Option<PathBuf>,
    #[arg(long, env = "COFFER_API_LISTEN")]
    api_listen: Option<SocketAddr>,
    #[arg(long, env = "COFFER_RAFT_LISTEN")]
    raft_listen: Option<SocketAddr>,
    #[arg(long, env = "COFFER_API_ADVERTISE")]
    api_advertise: Option<String>,
    #[arg(long, env = "COFFER_RAFT_ADVERTISE")]
    raft_advertise: Option<String>,
    /// Bootstrap a new cluster if this node has never been in one.
    #[arg(long, env = "COFFER_BOOTSTRAP")]
    bootstrap: bool,
    /// Join the cluster through this member's client API on first start.
    /// A node without certificates also needs COFFER_JOIN_TOKEN (from
    /// `coffer cluster join-token`; read from the environment only).
    #[arg(long, env = "COFFER_JOIN")]
    join: Option<String>,
    /// CA certificate(s) of the cluster (bring-your-own certificates).
    #[arg(long, env = "COFFER_TLS_CA_FILE")]
    tls_ca_file: Option<PathBuf>,
    /// This node's certificate chain (bring-your-own certificates).
    #[arg(long, env = "COFFER_TLS_CERT_FILE")]
    tls_cert_file: Option<PathBuf>,
    /// This node's private key (bring-your-own certificates).
    #[arg(long, env = "COFFER_TLS_KEY_FILE")]
    tls_key_file: Option<PathBuf>,
}

impl ServerArgs {
    /// The configuration: file (or defaults), then flags.
    fn config(&self) -> CliResult<Config> {
        let mut c = match &self.config {
            Some(path) => Config::load(path).map_err(|e| CliError::usage(e.to_string()))?,
            None => Config::default(),
        };
        macro_rules! set {
            ($($field:ident),*) => { $( if let Some(v) = &self.$field { c.$field = v.clone().into(); } )* };
        }
        set!(node_id, region, data_dir, api_listen, raft_listen);
        if self.api_advertise.is_some() {
            c.api_advertise = self.api_advertise.clone();
        }
        if self.raft_advertise.is_some() {
            c.raft_advertise = self.raft_advertise.clone();
        }
        if self.join.is_some() {
            c.join = self.join.clone();
        }
        for (flag, setting) in [
            (&self.tls_ca_file, &mut c.tls.ca_file),
            (&self.tls_cert_file, &mut c.tls.cert_file),
            (&self.tls_key_file, &mut c.tls.key_file),
        ] {
            if flag.is_some() {
                *setting = flag.clone();
            }
        }
        c.join_token = crate::config::JoinToken::new(&std::env::var("COFFER_JOIN_TOKEN").unwrap_or_default());
        c.bootstrap |= self.bootstrap;
        c.validate().map_err(|e| CliError::usage(e.to_string()))?;
        Ok(c)
    }
}

pub async fn run(args: ServerArgs) -> CliResult {
    if args.print_sample_config {
        outln!("{}", SAMPLE.trim_end_matches('\n'));
        return Ok(());
    }
    let config = args.config()?;
    if args.config_check {
        outln!("configuration OK");
        return Ok(());
    }
    init_logging("info,openraft=warn");
    let node = Node::start(config).await.map_err(|e| CliError::new(ErrorCode::Unavailable, e.to_string()))?;
    let failure = tokio::select! {
        () = wait_for_signal() => None,
        (_, error) = crate::node::first_failure([&node]) => Some(error),
    };
    tracing::info!("shutting down");
    node.shutdown().await;
    match failure {
        // A non-zero exit, for the supervisor to restart the node.
        Some(error) => Err(CliError::new(ErrorCode::Storage, format!("the node stopped on an error: {error}"))),
        None => Ok(()),
    }
}

/// Waits for Ctrl-C or SIGTERM.
pub async fn wait_for_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term => {}
    }
}
