//! `coffer login` and `coffer token …`. Tokens are read from stdin or the
//! environment, never from arguments.

use std::io::Read;
use std::path::PathBuf;

use clap::Subcommand;
use serde_json::json;

use super::output::{self, time};
use super::{CliError, CliResult, Format};
use crate::client::types as pb;
use crate::client::Client;

#[derive(Subcommand)]
pub enum TokenCmd {
    /// Create a token. Prints it once.
    Create {
        /// "default" (its roles decide) or "root" (may do everything; only
        /// a root token may create one).
        #[arg(long, default_value = "default")]
        policy: String,
        /// Roles for the new token (repeatable, each with a --scope).
        #[arg(long = "role")]
        roles: Vec<String>,
        /// Scope of each --role, in order ("/", vaults/<v>, vaults/<v>/secrets/<name>).
        #[arg(long = "scope")]
        scopes: Vec<String>,
        #[arg(long, default_value = "")]
        display_name: String,
        /// Lifetime in seconds (0: no expiry).
        #[arg(long, default_value_t = 0)]
        ttl: i64,
        /// Allow `coffer token renew` to extend it by its TTL.
        #[arg(long)]
        renewable: bool,
    },
    /// Show the current token's information.
    Lookup,
    /// Extend the current token by its TTL.
    Renew,
    /// Revoke the current token.
    Revoke,
    /// List every token's information (needs a root token).
    List,
    /// Revoke a token by its accessor (needs a root token).
    RevokeAccessor { accessor: String },
}

/// Where `coffer login` keeps the token.
pub fn token_file() -> Option<PathBuf> {
    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".coffer-token"))
}

/// The token to use: `COFFER_TOKEN`, else the file `coffer login` wrote,
/// else the dev cluster's root token in `./coffer-dev/root-token`.
pub fn resolve_token() -> Option<zeroize::Zeroizing<String>> {
    if let Ok(t) = std::env::var("COFFER_TOKEN") {
        if !t.trim().is_empty() {
            return Some(zeroize::Zeroizing::new(t.trim().to_owned()));
        }
    }
    let candidates = [token_file(), Some(PathBuf::from("coffer-dev/root-token"))];
    candidates
        .into_iter()
        .flatten()
        .find_map(|p| std::fs::read_to_string(p).ok())
        .map(|t| zeroize::Zeroizing::new(t.trim().to_owned()))
        .filter(|t| !t.is_empty())
}

fn info_json(t: &pb::TokenInfo) -> serde_json::Value {
    json!({
        "principal": format!("token:{}", t.accessor),
        "accessor": t.accessor, "policy": t.policy, "display_name": t.display_name,
        "created": t.created, "expires": t.expires, "ttl": t.ttl, "renewable": t.renewable,
    })
}

/// `coffer whoami`: who the CLI's credentials authenticate as.
pub async fn whoami(client: &Client, format: Format) -> CliResult {
    let id = client.who_am_i().await?;
    output::record(
        format,
        json!({ "principal": id.principal, "credential": id.credential, "accessor": id.accessor, "policy": id.policy }),
    );
    Ok(())
}

/// `coffer login`: verifies the token on stdin and stores it for the CLI.
pub async fn login(client: Client, format: Format) -> CliResult {
    let mut token = zeroize::Zeroizing::new(String::new());
    std::io::stdin().read_to_string(&mut token).map_err(|e| CliError::usage(format!("cannot read stdin: {e}")))?;
    let token = zeroize::Zeroizing::new(token.trim().to_owned());
    let info = client.with_token(token.as_str()).lookup_self().await?;
    let path = token_file().ok_or_else(|| CliError::usage("HOME is not set"))?;
    super::write_private(&path, &token)?;
    let mut v = info_json(&info);
    v["stored_in"] = json!(path.display().to_string());
    output::record(format, v);
    Ok(())
}

pub async fn run(cmd: TokenCmd, client: &Client, format: Format) -> CliResult {
    match cmd {
        TokenCmd::Create { policy, roles, scopes, display_name, ttl, renewable } => {
            if roles.len() != scopes.len() {
                return Err(CliError::usage("give one --scope for each --role"));
            }
            let (token, info) = if roles.is_empty() {
                client.create_token(&policy, &display_name, ttl, renewable).await?
            } else {
                if policy != "default" {
                    return Err(CliError::usage("--role goes with default tokens only"));
                }
                let pairs: Vec<(&str, &str)> =
                    roles.iter().map(String::as_str).zip(scopes.iter().map(String::as_str)).collect();
                client.create_token_with_roles(&display_name, ttl, renewable, &pairs).await?
            };
            let mut v = info_json(&info);
            v["token"] = json!(token.as_str());
            output::record(format, v);
        }
        TokenCmd::Lookup => output::record(format, info_json(&client.lookup_self().await?)),
        TokenCmd::Renew => output::record(format, info_json(&client.renew_self().await?)),
        TokenCmd::Revoke => {
            client.revoke_self().await?;
            output::record(format, json!({ "revoked": true }));
        }
        TokenCmd::List => {
            let tokens = client.list_tokens().await?;
            match format {
                Format::Json => output::json(&json!({ "tokens": tokens.iter().map(info_json).collect::<Vec<_>>() })),
                Format::Table => {
                    let rows: Vec<Vec<String>> = tokens
                        .iter()
                        .map(|t| {
                            let expires = if t.expires == 0 { "never".into() } else { time(t.expires) };
                            vec![t.accessor.clone(), t.policy.clone(), t.display_name.clone(), expires]
                        })
                        .collect();
                    output::table(&["accessor", "policy", "name", "expires"], &rows);
                }
            }
        }
        TokenCmd::RevokeAccessor { accessor } => {
            client.revoke_accessor(&accessor).await?;
            output::record(format, json!({ "revoked": accessor }));
        }
    }
    Ok(())
}
