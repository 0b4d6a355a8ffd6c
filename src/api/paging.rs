//! Page sizes and opaque continuation tokens.

use tonic::Status;

use super::status::invalid;
use crate::config::Limits;

/// The page size for a request asking for `requested` (0 = default).
pub fn page_size(requested: u32, limits: &Limits) -> Result<usize, Status> {
    match requested {
        0 => Ok(limits.default_page_size as usize),
        n if n > limits.max_page_size => Err(invalid(format!("max_results must be at most {}", limits.max_page_size))),
        n => Ok(n as usize),
    }
}

/// Encodes the position after which the next page starts.
pub fn encode(position: &str) -> String {
    hex::encode(position)
}

/// Decodes a token from a previous page (`""` = first page).
pub fn decode(token: &str) -> Result<Option<String>, Status> {
    if token.is_empty() {
        return Ok(None);
    }
    hex::decode(token)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .map(Some)
        .ok_or_else(|| invalid("invalid continuation token"))
}

/// Splits `items` (fetched with one extra) into a page and the next token.
pub fn paginate<T>(mut items: Vec<T>, size: usize, position: impl Fn(&T) -> String) -> (Vec<T>, String) {
    if items.len() > size {
        items.truncate(size);
        let token = items.last().map(|i| encode(&position(i))).unwrap_or_default();
        (items, token)
    } else {
        (items, String::new())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_reject_garbage() {
        assert_eq!(decode(&encode("db-password")).unwrap().as_deref(), Some("db-password"));
        assert_eq!(decode("").unwrap(), None);
        assert!(decode("zz").is_err());
        let (page, token) = paginate(vec![1, 2, 3], 2, |i| i.to_string());
        assert_eq!(page, vec![1, 2]);
        assert_eq!(decode(&token).unwrap().as_deref(), Some("2"));
        let (page, token) = paginate(vec![1, 2], 2, |i| i.to_string());
        assert_eq!((page.len(), token.as_str()), (2, ""));
    }
}
