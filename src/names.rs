//! The name rule shared by vaults, objects, roles and groups (and the
//! scopes naming them): `^[0-9a-zA-Z-]{1,127}$`.

/// Whether `name` matches `^[0-9a-zA-Z-]{1,127}$`.
pub fn is_valid(name: &str) -> bool {
    (1..=127).contains(&name.len()) && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}
