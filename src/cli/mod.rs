//! The `coffer` command line: `server` and `dev` run nodes; every other
//! command is a client of a running cluster.
//!
//! Exit status: 0 on success; 1 with a one-line `error: CODE: message` on
//! stderr when a request fails; 2 for usage errors.

/// `println!` for the command line's output: when stdout is closed early
/// (`coffer … | head`) the process ends quietly, as Unix tools do, instead
/// of panicking.
macro_rules! outln {
    () => {
        $crate::cli::output::line(format_args!(""))
    };
    ($($arg:tt)*) => {
        $crate::cli::output::line(format_args!($($arg)*))
    };
}

mod audit;
mod bench;
mod cert;
mod cluster;
mod dev;
mod operator;
mod output;
mod role;
mod secret;
mod server;
mod token;
mod vault;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

use crate::client::{Client, ClientError, ClientTls};
use crate::error_code::ErrorCode;

/// Client API addresses of the dev cluster.
pub const DEFAULT_ADDR: &str = "127.0.0.1:7701,127.0.0.1:7702,127.0.0.1:7703";

#[derive(Parser)]
#[command(name = "coffer", version, about = "A self-hosted, Raft-replicated key vault")]
struct Cli {
    /// Client API endpoints of the cluster, comma-separated.
    #[arg(long, global = true, env = "COFFER_ADDR", default_value = DEFAULT_ADDR)]
    addr: String,
    /// How long a command keeps retrying across nodes, seconds.
    #[arg(long, global = true, env = "COFFER_TIMEOUT", default_value_t = 20)]
    timeout: u64,
    /// Output format.
    #[arg(long, global = true, value_enum, default_value_t = Format::Table)]
    format: Format,
    /// The cluster CA certificate to trust (default: ./coffer-dev/tls/ca.pem if present).
    #[arg(long, global = true, env = "COFFER_CACERT")]
    cacert: Option<PathBuf>,
    /// Client certificate to authenticate with (with --key).
    #[arg(long, global = true, env = "COFFER_CERT")]
    cert: Option<PathBuf>,
    /// Private key of the client certificate.
    #[arg(long, global = true, env = "COFFER_KEY")]
    key: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

/// The dev cluster's CA, trusted by default when present.
pub const DEV_CA: &str = "coffer-dev/tls/ca.pem";

/// How results are printed.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Aligned columns for people.
    Table,
    /// One JSON document for programs.
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Run a node.
    Server(server::ServerArgs),
    /// Run a local 3-node cluster in this process, with data under ./coffer-dev.
    Dev(dev::DevArgs),
    /// Cluster membership, status and snapshots.
    #[command(subcommand)]
    Cluster(cluster::ClusterCmd),
    /// Vaults: named namespaces for secrets.
    #[command(subcommand)]
    Vault(vault::VaultCmd),
    /// Secrets.
    #[command(subcommand)]
    Secret(secret::SecretCmd),
    /// Initialize, unseal, seal; rotate the data key.
    #[command(subcommand)]
    Operator(operator::OperatorCmd),
    /// Store a token (read from stdin) for later commands.
    Login,
    /// Create, inspect, renew and revoke tokens.
    #[command(subcommand)]
    Token(token::TokenCmd),
    /// Drive load against a running cluster and report throughput and latency.
    Bench(bench::BenchArgs),
    /// Certificates: a CA and certificates of your own, or a client
    /// certificate from the cluster CA.
    #[command(subcommand)]
    Cert(cert::CertCmd),
    /// Show who the CLI authenticates as (token or client certificate).
    Whoami,
    /// Roles and role assignments (who may do what, where).
    #[command(subcommand)]
    Role(role::RoleCmd),
    /// Groups of principals (roles assigned to a group apply to its members).
    #[command(subcommand)]
    Group(role::GroupCmd),
    /// The audit log: tail, query, export, verify, trim.
    #[command(subcommand)]
    Audit(audit::AuditCmd),
}

/// A failure of a CLI command: a stable code and a message.
#[derive(Debug)]
pub struct CliError {
    code: ErrorCode,
    message: String,
}

impl CliError {
    fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        CliError { code, message: message.into() }
    }

    fn usage(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidArgument, message)
    }
}

impl From<ClientError> for CliError {
    fn from(e: ClientError) -> Self {
        CliError { code: e.code(), message: e.message().to_owned() }
    }
}

type CliResult<T = ()> = Result<T, CliError>;

/// Runs the command line and returns the process exit status.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: Internal: cannot start runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(run(cli));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let message = e.message.replace('\n', " ");
            eprintln!("error: {}: {}", e.code, message);
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> CliResult {
    let conn = Conn::of(&cli);
    let format = cli.format;
    match cli.command {
        Command::Server(args) => server::run(args).await,
        Command::Dev(args) => dev::run(args).await,
        command => {
            init_logging(if matches!(command, Command::Bench(_)) { "error" } else { "warn" });
            match command {
                Command::Cluster(cmd) => cluster::run(cmd, || conn.authenticated(), format).await,
                Command::Vault(cmd) => vault::run(cmd, &conn.authenticated()?, format).await,
                Command::Secret(cmd) => secret::run(cmd, &conn.authenticated()?, format).await,
                Command::Operator(cmd) => operator::run(cmd, &conn.authenticated()?, format).await,
                Command::Login => token::login(conn.anonymous()?, format).await,
                Command::Token(cmd) => token::run(cmd, &conn.authenticated()?, format).await,
                Command::Bench(args) => bench::run(args, conn.authenticated()?, format).await,
                Command::Cert(cmd) => cert::run(cmd, || conn.authenticated(), format).await,
                Command::Whoami => token::whoami(&conn.authenticated()?, format).await,
                Command::Role(cmd) => role::run(cmd, &conn.authenticated()?, format).await,
                Command::Group(cmd) => role::run_group(cmd, &conn.authenticated()?, format).await,
                Command::Audit(cmd) => audit::run(cmd, &conn.authenticated()?, format).await,
                Command::Server(_) | Command::Dev(_) => unreachable!("handled above"),
            }
        }
    }
}

/// Fetches every page of a paged listing; `fetch` gets the continuation
/// token and returns a page and the next token ("" at the end).
async fn all_pages<T, F, Fut>(mut fetch: F) -> CliResult<Vec<T>>
where
    F: FnMut(String) -> Fut,
    Fut: std::future::Future<Output = Result<(Vec<T>, String), ClientError>>,
{
    let mut all = Vec::new();
    let mut token = String::new();
    loop {
        let (items, next) = fetch(token).await?;
        all.extend(items);
        if next.is_empty() {
            return Ok(all);
        }
        token = next;
    }
}

/// How the CLI reaches the cluster: addresses, retry budget, TLS.
struct Conn {
    addr: String,
    timeout: u64,
    cacert: Option<PathBuf>,
    cert: Option<PathBuf>,
    key: Option<PathBuf>,
}

impl Conn {
    fn of(cli: &Cli) -> Conn {
        Conn {
            addr: cli.addr.clone(),
            timeout: cli.timeout,
            cacert: cli.cacert.clone(),
            cert: cli.cert.clone(),
            key: cli.key.clone(),
        }
    }

    fn tls(&self) -> CliResult<ClientTls> {
        let dev_ca = PathBuf::from(DEV_CA);
        let ca = self.cacert.clone().or_else(|| dev_ca.exists().then_some(dev_ca)).ok_or_else(|| {
            CliError::usage("no CA to trust: set COFFER_CACERT (or --cacert) to the cluster CA certificate")
        })?;
        let identity = match (&self.cert, &self.key) {
            (Some(c), Some(k)) => Some((c.as_path(), k.as_path())),
            (None, None) => None,
            _ => return Err(CliError::usage("--cert and --key (COFFER_CERT, COFFER_KEY) go together")),
        };
        ClientTls::from_files(&ca, identity).map_err(|e| CliError::new(e.code(), e.to_string()))
    }

    /// A client with TLS and, if given, a client certificate; no token.
    fn anonymous(&self) -> CliResult<Client> {
        Ok(Client::new(self.addr.split(',').map(str::trim))?
            .with_deadline(std::time::Duration::from_secs(self.timeout))
            .with_tls(self.tls()?))
    }

    /// Also authenticated with the token from the environment or files.
    fn authenticated(&self) -> CliResult<Client> {
        let client = self.anonymous()?;
        Ok(match token::resolve_token() {
            Some(t) => client.with_token(t.as_str()),
            None => client,
        })
    }
}

/// Writes a file only its owner can read.
fn write_private(path: &std::path::Path, text: &str) -> CliResult {
    crate::fsutil::write_atomic(path, text.as_bytes(), crate::fsutil::PRIVATE)
        .map_err(|e| CliError::usage(format!("cannot write {}: {e}", path.display())))
}

/// Logs to stderr; `RUST_LOG` overrides `default`.
fn init_logging(default: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).try_init();
}
