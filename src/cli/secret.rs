//! `coffer secret …`. Values are read from stdin or a file, never taken as
//! an argument, so they stay out of shell history and process listings.

use std::collections::HashMap;
use std::io::Read;
use std::path::PathBuf;

use clap::{Args, Subcommand};
use serde_json::json;

use super::output::{self, time};
use super::{all_pages, CliError, CliResult, Format};
use crate::client::types::{self as pb};
use crate::client::{Client, ReadConsistency, SetSecret};

#[derive(Args)]
pub struct SecretRef {
    /// Vault name.
    vault: String,
    /// Secret name.
    name: String,
}

#[derive(Args)]
pub struct Attrs {
    /// Content type, e.g. text/plain.
    #[arg(long)]
    content_type: Option<String>,
    /// A tag as KEY=VALUE (repeatable).
    #[arg(long = "tag", value_parser = parse_tag)]
    tags: Vec<(String, String)>,
    /// Not valid before this unix time (seconds).
    #[arg(long)]
    not_before: Option<i64>,
    /// Expires at this unix time (seconds).
    #[arg(long)]
    expires: Option<i64>,
}

#[derive(Subcommand)]
pub enum SecretCmd {
    /// Set a new version. The value comes from --file, or else stdin (one
    /// trailing newline removed).
    Set {
        #[command(flatten)]
        at: SecretRef,
        /// Read the value from this file, byte for byte.
        #[arg(long)]
        file: Option<PathBuf>,
        #[command(flatten)]
        attrs: Attrs,
        /// Create the version disabled.
        #[arg(long)]
        disabled: bool,
        /// Write only if the latest version is this one ("" = only if new).
        #[arg(long)]
        if_latest: Option<String>,
    },
    /// Get a secret's value (latest version unless --version).
    Get {
        #[command(flatten)]
        at: SecretRef,
        #[arg(long)]
        version: Option<String>,
        /// Read from the answering node's local state (may lag).
        #[arg(long)]
        stale: bool,
    },
    /// List the secrets of a vault.
    List {
        vault: String,
        /// Page size of each request.
        #[arg(long, default_value_t = 25)]
        page_size: u32,
    },
    /// List the versions of a secret.
    Versions {
        #[command(flatten)]
        at: SecretRef,
    },
    /// Update attributes of a version (latest unless --version).
    Update {
        #[command(flatten)]
        at: SecretRef,
        #[arg(long)]
        version: Option<String>,
        #[arg(long, conflicts_with = "disable")]
        enable: bool,
        #[arg(long)]
        disable: bool,
        #[command(flatten)]
        attrs: Attrs,
        /// Replace all tags with the given --tag values (none: clear them).
        #[arg(long)]
        replace_tags: bool,
        /// Remove the not-before date.
        #[arg(long, conflicts_with = "not_before")]
        clear_not_before: bool,
        /// Remove the expiry date.
        #[arg(long, conflicts_with = "expires")]
        clear_expires: bool,
    },
    /// Soft-delete a secret.
    Delete {
        #[command(flatten)]
        at: SecretRef,
    },
    /// List soft-deleted secrets.
    ListDeleted { vault: String },
    /// Recover a soft-deleted secret.
    Recover {
        #[command(flatten)]
        at: SecretRef,
    },
    /// Permanently remove a soft-deleted secret.
    Purge {
        #[command(flatten)]
        at: SecretRef,
    },
    /// Write an opaque backup of a secret (all versions) to a file.
    Backup {
        #[command(flatten)]
        at: SecretRef,
        #[arg(long)]
        out: PathBuf,
    },
    /// Restore a backup file into a vault.
    Restore {
        vault: String,
        #[arg(long = "in")]
        input: PathBuf,
    },
}

fn parse_tag(s: &str) -> Result<(String, String), String> {
    s.split_once('=').map(|(k, v)| (k.to_owned(), v.to_owned())).ok_or_else(|| format!("tag '{s}' is not KEY=VALUE"))
}

fn read_value(file: Option<PathBuf>) -> CliResult<String> {
    let bytes = match file {
        Some(path) => {
            std::fs::read(&path).map_err(|e| CliError::usage(format!("cannot read {}: {e}", path.display())))?
        }
        None => {
            let mut buf = Vec::new();
            std::io::stdin().read_to_end(&mut buf).map_err(|e| CliError::usage(format!("cannot read stdin: {e}")))?;
            if buf.ends_with(b"\n") {
                buf.pop();
                if buf.ends_with(b"\r") {
                    buf.pop();
                }
            }
            buf
        }
    };
    String::from_utf8(bytes).map_err(|_| CliError::usage("secret values must be UTF-8 text"))
}

fn print_properties(format: Format, list: &[pb::SecretProperties]) {
    match format {
        Format::Json => output::json(&json!({ "secrets": list.iter().map(output::properties).collect::<Vec<_>>() })),
        Format::Table => {
            let rows = list
                .iter()
                .map(|p| {
                    vec![
                        p.name.clone(),
                        p.version.clone(),
                        p.enabled.to_string(),
                        p.content_type.clone(),
                        time(p.updated),
                    ]
                })
                .collect::<Vec<_>>();
            output::table(&["name", "version", "enabled", "content type", "updated"], &rows);
        }
    }
}

pub async fn run(cmd: SecretCmd, client: &Client, format: Format) -> CliResult {
    match cmd {
        SecretCmd::Set { at, file, attrs, disabled, if_latest } => {
            let value = read_value(file)?;
            let mut req = SetSecret::new(&at.vault, &at.name, value)
                .with_tags(attrs.tags.into_iter().collect::<HashMap<_, _>>())
                .with_enabled(!disabled)
                .with_validity(attrs.not_before, attrs.expires);
            if let Some(ct) = attrs.content_type {
                req = req.with_content_type(ct);
            }
            if let Some(v) = if_latest {
                req = req.if_latest_is(v);
            }
            let props = client.set_secret(req).await?;
            output::record(format, output::properties(&props));
        }
        SecretCmd::Get { at, version, stale } => {
            let consistency = if stale { ReadConsistency::Stale } else { ReadConsistency::Linearizable };
            let s = client.get_secret(&at.vault, &at.name, version.as_deref(), consistency).await?;
            match format {
                Format::Json => {
                    let mut v = s.properties.as_ref().map(output::properties).unwrap_or_else(|| json!({}));
                    v["value"] = json!(s.value);
                    output::json(&v);
                }
                // The value alone, so `$(coffer secret get …)` works.
                Format::Table => outln!("{}", s.value),
            }
        }
        SecretCmd::List { vault, page_size } => {
            let vault = &vault;
            let all = all_pages(|token| async move {
                let p = client.list_secrets(vault, page_size, &token, ReadConsistency::Linearizable).await?;
                Ok((p.secrets, p.continuation_token))
            })
            .await?;
            print_properties(format, &all);
        }
        SecretCmd::Versions { at } => {
            let at = &at;
            let all = all_pages(|token| async move {
                let p =
                    client.list_secret_versions(&at.vault, &at.name, 0, &token, ReadConsistency::Linearizable).await?;
                Ok((p.secrets, p.continuation_token))
            })
            .await?;
            print_properties(format, &all);
        }
        SecretCmd::Update { at, version, enable, disable, attrs, replace_tags, clear_not_before, clear_expires } => {
            let req = pb::UpdateSecretRequest {
                vault: at.vault,
                name: at.name,
                version: version.unwrap_or_default(),
                enabled: if enable {
                    Some(true)
                } else if disable {
                    Some(false)
                } else {
                    None
                },
                not_before: attrs.not_before,
                expires: attrs.expires,
                content_type: attrs.content_type,
                tags: attrs.tags.into_iter().collect(),
                replace_tags,
                clear_not_before,
                clear_expires,
            };
            let props = client.update_secret(req).await?;
            output::record(format, output::properties(&props));
        }
        SecretCmd::Delete { at } => {
            let d = client.delete_secret(&at.vault, &at.name).await?;
            output::record(format, output::deleted(&d));
        }
        SecretCmd::ListDeleted { vault } => {
            let vault = &vault;
            let all = all_pages(|token| async move {
                let p = client.list_deleted_secrets(vault, 0, &token, ReadConsistency::Linearizable).await?;
                Ok((p.secrets, p.continuation_token))
            })
            .await?;
            match format {
                Format::Json => {
                    output::json(&json!({ "secrets": all.iter().map(output::deleted).collect::<Vec<_>>() }))
                }
                Format::Table => {
                    let rows = all
                        .iter()
                        .map(|d| {
                            let name = d.properties.as_ref().map(|p| p.name.clone()).unwrap_or_default();
                            vec![name, time(d.deleted_date), time(d.scheduled_purge_date)]
                        })
                        .collect::<Vec<_>>();
                    output::table(&["name", "deleted", "scheduled purge"], &rows);
                }
            }
        }
        SecretCmd::Recover { at } => {
            let props = client.recover_deleted_secret(&at.vault, &at.name).await?;
            output::record(format, output::properties(&props));
        }
        SecretCmd::Purge { at } => {
            client.purge_deleted_secret(&at.vault, &at.name).await?;
            output::record(format, json!({ "purged": format!("{}/{}", at.vault, at.name) }));
        }
        SecretCmd::Backup { at, out } => {
            let blob = client.backup_secret(&at.vault, &at.name).await?;
            std::fs::write(&out, &blob).map_err(|e| CliError::usage(format!("cannot write {}: {e}", out.display())))?;
            output::record(format, json!({ "backup": out.display().to_string(), "bytes": blob.len() }));
        }
        SecretCmd::Restore { vault, input } => {
            let blob =
                std::fs::read(&input).map_err(|e| CliError::usage(format!("cannot read {}: {e}", input.display())))?;
            let props = client.restore_secret(&vault, blob).await?;
            output::record(format, output::properties(&props));
        }
    }
    Ok(())
}
