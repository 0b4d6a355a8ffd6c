//! Printing results as tables or JSON.

use serde_json::{json, Value};

use super::Format;
use crate::client::types as pb;

/// Writes one line to stdout (see `outln!`). A closed pipe ends the process
/// quietly with success; any other failure to write ends it with an error.
pub fn line(args: std::fmt::Arguments<'_>) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_fmt(args).and_then(|()| out.write_all(b"\n")) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("error: Internal: cannot write output: {e}");
        std::process::exit(1);
    }
}

/// Prints rows under `headers`, columns aligned.
pub fn table(headers: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.len()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<String>| {
        let padded: Vec<String> = cells.iter().zip(&widths).map(|(c, w)| format!("{c:<w$}")).collect();
        outln!("{}", padded.join("  ").trim_end());
    };
    line(headers.iter().map(|h| h.to_uppercase()).collect());
    for row in rows {
        line(row.clone());
    }
}

/// Prints `value` as pretty JSON.
pub fn json(value: &Value) {
    outln!("{}", serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string()));
}

/// Prints key/value pairs as a two-column table or a JSON object.
pub fn record(format: Format, value: Value) {
    match format {
        Format::Json => json(&value),
        Format::Table => {
            if let Value::Object(map) = &value {
                let rows: Vec<Vec<String>> = map.iter().map(|(k, v)| vec![k.clone(), cell(k, v)]).collect();
                table(&["field", "value"], &rows);
            }
        }
    }
}

/// Prints `items` (JSON objects) as `{key: [...]}` or as a table of the
/// fields named by `columns`.
pub fn list(format: Format, key: &str, columns: &[&str], items: Vec<Value>) {
    match format {
        Format::Json => json(&json!({ key: items })),
        Format::Table => {
            let rows: Vec<Vec<String>> =
                items.iter().map(|item| columns.iter().map(|c| cell(c, &item[*c])).collect()).collect();
            table(columns, &rows);
        }
    }
}

/// Fields that hold Unix seconds. A table shows them as UTC times (0 as
/// `never` for an expiry, else as `-`: never set); JSON keeps the numbers,
/// for scripts.
const TIME_FIELDS: &[&str] = &["created", "updated", "not_before", "expires", "deleted_date", "scheduled_purge_date"];

/// The table cell of `field`'s value.
fn cell(field: &str, v: &Value) -> String {
    match v.as_i64() {
        Some(0) if field == "expires" => "never".into(),
        Some(0) if TIME_FIELDS.contains(&field) => "-".into(),
        Some(secs) if TIME_FIELDS.contains(&field) => time(secs),
        _ => plain(v),
    }
}

/// A JSON value as plain text for a table cell.
pub fn plain(v: &Value) -> String {
    match v {
        Value::Null => "-".into(),
        Value::String(s) => s.clone(),
        Value::Object(m) if m.is_empty() => "-".into(),
        Value::Object(m) => m.iter().map(|(k, v)| format!("{k}={}", plain(v))).collect::<Vec<_>>().join(","),
        Value::Array(a) if a.is_empty() => "-".into(),
        Value::Array(a) => a.iter().map(plain).collect::<Vec<_>>().join(","),
        other => other.to_string(),
    }
}

/// Unix seconds as `YYYY-MM-DDTHH:MM:SSZ`.
pub fn time(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", rem / 3600, rem % 3600 / 60, rem % 60)
}

pub fn vault(v: &pb::Vault) -> Value {
    json!({
        "name": v.name,
        "retention_days": v.retention_days,
        "purge_protection": v.purge_protection,
        "created": v.created,
        "updated": v.updated,
    })
}

pub fn properties(p: &pb::SecretProperties) -> Value {
    json!({
        "vault": p.vault,
        "name": p.name,
        "version": p.version,
        "enabled": p.enabled,
        "not_before": p.not_before,
        "expires": p.expires,
        "content_type": p.content_type,
        "tags": p.tags,
        "created": p.created,
        "updated": p.updated,
        "recoverable_days": p.recoverable_days,
        "recovery_level": p.recovery_level,
    })
}

pub fn deleted(d: &pb::DeletedSecret) -> Value {
    let mut v = d.properties.as_ref().map(properties).unwrap_or_else(|| json!({}));
    v["deleted_date"] = json!(d.deleted_date);
    v["scheduled_purge_date"] = json!(d.scheduled_purge_date);
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_utc() {
        assert_eq!(time(0), "1970-01-01T00:00:00Z");
        assert_eq!(time(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(time(1_798_675_200), "2026-12-31T00:00:00Z");
    }

    #[test]
    fn table_cells_show_time_fields_as_utc_times_and_leave_other_numbers() {
        assert_eq!(cell("created", &json!(951_782_400)), "2000-02-29T00:00:00Z");
        assert_eq!(cell("expires", &json!(0)), "never", "a token that never expires");
        assert_eq!(cell("updated", &json!(0)), "-");
        assert_eq!(cell("expires", &Value::Null), "-");
        assert_eq!(cell("retention_days", &json!(90)), "90");
        assert_eq!(cell("ttl", &json!(3600)), "3600");
    }
}
