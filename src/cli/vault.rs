//! `coffer vault …`

use clap::Subcommand;
use serde_json::json;

use super::output::{self, time};
use super::{all_pages, CliResult, Format};
use crate::client::{Client, ReadConsistency};

#[derive(Subcommand)]
pub enum VaultCmd {
    /// Create a vault.
    Create {
        name: String,
        /// Soft-delete retention, 7..=90 days.
        #[arg(long, default_value_t = 90)]
        retention_days: u32,
        /// Forbid purging deleted objects before their retention has passed.
        /// Cannot be turned off later.
        #[arg(long)]
        purge_protection: bool,
    },
    /// List vaults.
    List,
    /// Show a vault.
    Get { name: String },
    /// Turn on purge protection (irreversible).
    EnablePurgeProtection { name: String },
    /// Delete an empty vault.
    Delete { name: String },
}

pub async fn run(cmd: VaultCmd, client: &Client, format: Format) -> CliResult {
    match cmd {
        VaultCmd::Create { name, retention_days, purge_protection } => {
            let v = client.create_vault(&name, retention_days, purge_protection).await?;
            output::record(format, output::vault(&v));
        }
        VaultCmd::Get { name } => {
            let v = client.get_vault(&name, ReadConsistency::Linearizable).await?;
            output::record(format, output::vault(&v));
        }
        VaultCmd::EnablePurgeProtection { name } => {
            let v = client.update_vault(&name, Some(true)).await?;
            output::record(format, output::vault(&v));
        }
        VaultCmd::Delete { name } => {
            client.delete_vault(&name).await?;
            output::record(format, json!({ "deleted": name }));
        }
        VaultCmd::List => {
            let all = all_pages(|token| async move {
                let p = client.list_vaults(0, &token, ReadConsistency::Linearizable).await?;
                Ok((p.vaults, p.continuation_token))
            })
            .await?;
            match format {
                Format::Json => output::json(&json!({ "vaults": all.iter().map(output::vault).collect::<Vec<_>>() })),
                Format::Table => {
                    let rows = all
                        .iter()
                        .map(|v| {
                            vec![
                                v.name.clone(),
                                v.retention_days.to_string(),
                                v.purge_protection.to_string(),
                                time(v.created),
                            ]
                        })
                        .collect::<Vec<_>>();
                    output::table(&["name", "retention days", "purge protection", "created"], &rows);
                }
            }
        }
    }
    Ok(())
}
