//! `coffer audit`: follow, query, export, verify and trim the audit log.

use std::io::Write;
use std::path::PathBuf;

use clap::{Args, Subcommand};
use serde_json::json;
use tokio_stream::StreamExt;

use super::output;
use super::{CliError, CliResult, Format};
use crate::audit::to_json;
use crate::client::types as pb;
use crate::client::Client;
use crate::error_code::ErrorCode;
use crate::proto::storage::AuditRecord;

#[derive(Subcommand)]
pub enum AuditCmd {
    /// Follow the log: print records as they are committed (Ctrl-C stops).
    Tail {
        /// Start from the first record instead of from now.
        #[arg(long)]
        from_start: bool,
        #[command(flatten)]
        filter: Filter,
    },
    /// Print records matching the filters.
    Query {
        #[command(flatten)]
        filter: Filter,
        /// At most this many records.
        #[arg(long, default_value_t = 100)]
        limit: usize,
    },
    /// Write every matching record to a JSON Lines file.
    Export {
        #[arg(long)]
        out: PathBuf,
        #[command(flatten)]
        filter: Filter,
    },
    /// Check the hash chain and its anchors (on the node answering) and
    /// report the first break; `anchored_seq` is the last record an anchor
    /// vouches for.
    Verify {
        #[arg(long, default_value_t = 0)]
        from: u64,
        #[arg(long, default_value_t = 0)]
        to: u64,
    },
    /// Trim exported records older than an age, leaving a signed checkpoint.
    Trim {
        /// The last sequence number you exported (see `audit export`).
        #[arg(long)]
        exported_through: u64,
        /// Only records older than this many days.
        #[arg(long, default_value_t = 30)]
        older_than_days: i64,
    },
    /// HMAC-SHA256 of a value (read from stdin) under the audit key, to
    /// find it in records' `hmac` fields.
    Hmac,
}

/// Record filters.
#[derive(Args, Default, Clone)]
pub struct Filter {
    /// Only records at or after this time (Unix seconds or YYYY-MM-DDTHH:MM:SSZ).
    #[arg(long)]
    since: Option<String>,
    /// Only records at or before this time.
    #[arg(long)]
    until: Option<String>,
    #[arg(long, default_value = "")]
    principal: String,
    #[arg(long, default_value = "")]
    vault: String,
    /// Operation name, e.g. SecretGet.
    #[arg(long, default_value = "")]
    operation: String,
    /// "ok", "error", or an error code such as Forbidden.
    #[arg(long, default_value = "")]
    result: String,
}

impl Filter {
    fn query(&self) -> CliResult<pb::AuditQuery> {
        Ok(pb::AuditQuery {
            from_ms: self.since.as_deref().map(parse_time).transpose()?.unwrap_or(0),
            to_ms: self.until.as_deref().map(parse_time).transpose()?.unwrap_or(0),
            principal: self.principal.clone(),
            vault: self.vault.clone(),
            operation: self.operation.clone(),
            result: self.result.clone(),
            ..Default::default()
        })
    }
}

/// Unix seconds or `YYYY-MM-DDTHH:MM:SSZ`, as Unix milliseconds.
fn parse_time(text: &str) -> CliResult<i64> {
    if let Ok(secs) = text.parse::<i64>() {
        return Ok(secs * 1000);
    }
    let bad = || CliError::usage(format!("invalid time {text:?}: use Unix seconds or YYYY-MM-DDTHH:MM:SSZ"));
    let (date, clock) = text.trim_end_matches('Z').split_once('T').ok_or_else(bad)?;
    let num = |s: Option<&str>| s.and_then(|s| s.parse::<u32>().ok()).ok_or_else(bad);
    let mut d = date.split('-');
    let (y, mo, da) = (num(d.next())?, num(d.next())?, num(d.next())?);
    let mut c = clock.split(':');
    let (h, mi, se) = (num(c.next())?, num(c.next())?, num(c.next())?);
    let month = time::Month::try_from(mo as u8).map_err(|_| bad())?;
    let date = time::Date::from_calendar_date(y as i32, month, da as u8).map_err(|_| bad())?;
    let clock = time::Time::from_hms(h as u8, mi as u8, se as u8).map_err(|_| bad())?;
    Ok(time::PrimitiveDateTime::new(date, clock).assume_utc().unix_timestamp() * 1000)
}

fn line(r: &AuditRecord) -> String {
    let target = match (r.vault.as_str(), r.object.as_str()) {
        ("", _) => "-".to_owned(),
        (v, "") => v.to_owned(),
        (v, o) => format!("{v}/{o}"),
    };
    let who = if r.principal.is_empty() { "anonymous" } else { &r.principal };
    format!(
        "{} #{} {} {} {} {} node{} {}us",
        output::time(r.time_ms / 1000),
        r.seq,
        r.operation,
        who,
        target,
        r.result,
        r.node_id,
        r.duration_us
    )
}

fn print(format: Format, r: &AuditRecord) {
    match format {
        Format::Json => outln!("{}", to_json(r)),
        Format::Table => outln!("{}", line(r)),
    }
}

pub async fn run(cmd: AuditCmd, client: &Client, format: Format) -> CliResult {
    match cmd {
        AuditCmd::Tail { from_start, filter } => {
            let query = pb::AuditQuery { from_start, ..filter.query()? };
            let mut stream = client.audit_tail(query).await?;
            while let Some(item) = stream.next().await {
                let record = item.map_err(crate::client::ClientError::from)?;
                print(format, &record);
            }
        }
        AuditCmd::Query { filter, limit } => {
            let mut query = filter.query()?;
            let mut shown = 0;
            while shown < limit {
                query.limit = (limit - shown).min(1000) as u32;
                let page = client.audit_query(query.clone()).await?;
                for r in &page.records {
                    print(format, r);
                }
                shown += page.records.len();
                if page.next_after_seq >= page.last_seq || page.next_after_seq == query.after_seq {
                    break;
                }
                query.after_seq = page.next_after_seq;
            }
        }
        AuditCmd::Export { out, filter } => export(client, &out, filter.query()?, format).await?,
        AuditCmd::Verify { from, to } => {
            let r = client.audit_verify(from, to).await?;
            if !r.ok {
                return Err(CliError::new(
                    ErrorCode::Integrity,
                    format!("audit log broken at record {} (node {}): {}", r.break_seq, r.node_id, r.reason),
                ));
            }
            output::record(
                format,
                json!({
                    "ok": true, "node_id": r.node_id, "from_seq": r.from_seq, "to_seq": r.to_seq,
                    "checked": r.checked, "checkpoint_seq": r.checkpoint_seq,
                    "checkpoint_verified": r.checkpoint_verified,
                    "anchored_seq": r.anchored_seq, "anchors_checked": r.anchors_checked,
                }),
            );
        }
        AuditCmd::Trim { exported_through, older_than_days } => {
            if older_than_days < 0 {
                return Err(CliError::usage("--older-than-days must not be negative"));
            }
            let r = client.audit_trim(exported_through, older_than_days * 86_400).await?;
            output::record(format, json!({ "trimmed": r.trimmed, "checkpoint_seq": r.trimmed_through_seq }));
        }
        AuditCmd::Hmac => {
            let mut value = zeroize::Zeroizing::new(String::new());
            std::io::Read::read_to_string(&mut std::io::stdin(), &mut value)
                .map_err(|e| CliError::usage(format!("cannot read stdin: {e}")))?;
            output::record(format, json!({ "hmac": client.audit_hmac(value.trim_end_matches('\n')).await? }));
        }
    }
    Ok(())
}

/// Pages through every matching record into `out`, one JSON object per
/// line, with a progress bar on stderr.
async fn export(client: &Client, out: &PathBuf, mut query: pb::AuditQuery, format: Format) -> CliResult {
    let io = |e: std::io::Error| CliError::usage(format!("cannot write {}: {e}", out.display()));
    let mut file = std::io::BufWriter::new(std::fs::File::create(out).map_err(io)?);
    let head = client.audit_head().await?;
    let (first, last) = (head.first_seq, head.last_seq);
    query.after_seq = first.saturating_sub(1);
    let mut written = 0u64;
    loop {
        query.limit = 1000;
        // Page by page, so progress shows while a selective filter reads on.
        let page = client.audit_query_page(query.clone()).await?;
        for r in &page.records {
            writeln!(file, "{}", to_json(r)).map_err(io)?;
            written += 1;
        }
        let done = page.next_after_seq.min(last).saturating_sub(first.saturating_sub(1));
        let total = (last + 1).saturating_sub(first).max(1);
        eprint!(
            "\r{} {:>5.1}%  {written} records",
            crate::bench::progress_bar(done as f64 / total as f64),
            done as f64 * 100.0 / total as f64
        );
        if page.next_after_seq >= last || page.next_after_seq == query.after_seq {
            break;
        }
        query.after_seq = page.next_after_seq;
    }
    eprintln!();
    file.flush().map_err(io)?;
    file.into_inner().map_err(|e| io(e.into_error()))?.sync_all().map_err(io)?;
    output::record(
        format,
        json!({ "file": out.display().to_string(), "records": written, "exported_through_seq": last }),
    );
    Ok(())
}
