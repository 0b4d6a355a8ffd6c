//! Input rules shared by the API (checked before proposing) and apply
//! (checked again, so a malformed command can never corrupt state).

use std::collections::HashMap;

use super::error::{Result, StateError};

/// Default soft-delete retention, days.
pub const DEFAULT_RETENTION_DAYS: u32 = 90;
/// Allowed soft-delete retention, days.
pub const RETENTION_DAYS: std::ops::RangeInclusive<u32> = 7..=90;
/// Most tags on one object (Azure Key Vault's limit).
pub const MAX_TAGS: usize = 15;
const MAX_TAG_NAME: usize = 512;
const MAX_TAG_VALUE: usize = 256;
const MAX_CONTENT_TYPE: usize = 255;

/// Checks a vault or object name against `^[0-9a-zA-Z-]{1,127}$`.
pub fn name(what: &'static str, name: &str) -> Result<()> {
    if crate::names::is_valid(name) {
        Ok(())
    } else {
        Err(StateError::InvalidName { what })
    }
}

/// Checks a version id: 32 lowercase hex characters.
pub fn version(version: &str) -> Result<()> {
    let ok = version.len() == 32 && version.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    if ok {
        Ok(())
    } else {
        Err(StateError::InvalidArgument(format!("'{version}' is not a version id")))
    }
}

/// Checks a retention period in days.
pub fn retention_days(days: u32) -> Result<()> {
    if RETENTION_DAYS.contains(&days) {
        Ok(())
    } else {
        Err(StateError::InvalidArgument(format!(
            "retention must be {}..={} days, got {days}",
            RETENTION_DAYS.start(),
            RETENTION_DAYS.end()
        )))
    }
}

/// Checks tags and content type against Azure Key Vault's limits.
pub fn attributes(tags: &HashMap<String, String>, content_type: &str) -> Result<()> {
    if tags.len() > MAX_TAGS {
        return Err(StateError::InvalidArgument(format!("at most {MAX_TAGS} tags are allowed")));
    }
    for (k, v) in tags {
        if k.is_empty() || k.len() > MAX_TAG_NAME || v.len() > MAX_TAG_VALUE {
            return Err(StateError::InvalidArgument(format!(
                "tag names must be 1..={MAX_TAG_NAME} bytes and values at most {MAX_TAG_VALUE}"
            )));
        }
    }
    if content_type.len() > MAX_CONTENT_TYPE {
        return Err(StateError::InvalidArgument(format!("content type is at most {MAX_CONTENT_TYPE} bytes")));
    }
    Ok(())
}

/// Checks a secret value's size.
pub fn value_size(len: usize, max: usize) -> Result<()> {
    if len > max {
        Err(StateError::ValueTooLarge { size: len, max })
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(name("secret", "db-password-1").is_ok());
        assert!(name("secret", &"a".repeat(127)).is_ok());
        for bad in ["", "a/b", "a b", "ä", "a.b", "a_b", &"a".repeat(128)] {
            assert_eq!(name("secret", bad), Err(StateError::InvalidName { what: "secret" }));
        }
    }

    #[test]
    fn versions_and_retention() {
        assert!(version("0123456789abcdef0123456789abcdef").is_ok());
        assert!(version("0123456789ABCDEF0123456789abcdef").is_err());
        assert!(version("abc").is_err());
        assert!(retention_days(7).is_ok() && retention_days(90).is_ok());
        assert!(retention_days(6).is_err() && retention_days(91).is_err());
    }

    #[test]
    fn tag_limits() {
        let mut tags: HashMap<String, String> = (0..15).map(|i| (format!("t{i}"), "v".into())).collect();
        assert!(attributes(&tags, "text/plain").is_ok());
        tags.insert("one-more".into(), "v".into());
        assert!(attributes(&tags, "").is_err());
        assert!(value_size(10, 10).is_ok() && value_size(11, 10).is_err());
    }
}
