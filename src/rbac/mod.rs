//! Authorization: Key Vault-style role-based access control.
//!
//! | module      | what it holds                                               |
//! |-------------|-------------------------------------------------------------|
//! | [`actions`] | the action namespace (`secrets/get`…) and pattern matching  |
//! | [`roles`]   | built-in roles, checks of custom ones                       |
//! | [`scope`]   | cluster / vault / object scopes and their nesting           |
//!
//! A request is allowed when one of the caller's assignments — its own
//! principal's or one of its groups' — has a scope containing the request's
//! and a role allowing its action. Nothing else allows anything (deny by
//! default); root tokens bypass this (see [`crate::auth`]). The
//! assignments are replicated state read from the local node through an
//! index by principal: no scan of all assignments, no network round trip.

pub mod actions;
pub mod roles;
pub mod scope;

pub use scope::Scope;

use crate::proto::storage::{RoleAssignment, RoleDefinition};

/// What evaluation reads: the replicated role assignments, group
/// memberships and role definitions (the state implements it).
pub trait Assignments {
    /// The error reading fails with.
    type Error;
    /// The groups `principal` belongs to.
    fn groups_of(&self, principal: &str) -> Result<Vec<String>, Self::Error>;
    /// The role assignments of `principal` (a group is `group:<name>`).
    fn assignments_of(&self, principal: &str) -> Result<Vec<RoleAssignment>, Self::Error>;
    /// The role called `name`, built-in or custom.
    fn role(&self, name: &str) -> Result<Option<RoleDefinition>, Self::Error>;
}

/// Checks a principal name: `token:<accessor>`, `cert:<name>`,
/// `node:<id>` or `group:<name>`.
pub fn check_principal(principal: &str) -> Result<(), String> {
    let bad =
        || format!("invalid principal {principal:?}: use token:<accessor>, cert:<name>, node:<id> or group:<name>");
    let (kind, name) = principal.split_once(':').ok_or_else(bad)?;
    let ok = match kind {
        "token" => name.len() == 32 && name.bytes().all(|b| b.is_ascii_hexdigit()),
        "cert" => !name.is_empty() && name.len() <= 128 && !name.chars().any(char::is_control),
        "node" => name.parse::<u64>().is_ok_and(|n| n > 0),
        "group" => crate::names::is_valid(name),
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err(bad())
    }
}

/// Whether `principal` (or a group it belongs to) may do `action` at `scope`.
pub fn allowed<A: Assignments + ?Sized>(
    assignments: &A,
    principal: &str,
    action: &str,
    scope: &Scope,
) -> Result<bool, A::Error> {
    let mut principals = vec![principal.to_owned()];
    principals.extend(assignments.groups_of(principal)?.into_iter().map(|g| format!("group:{g}")));
    for p in &principals {
        for a in assignments.assignments_of(p)? {
            let Ok(at) = Scope::parse(&a.scope) else { continue };
            if !at.contains(scope) {
                continue;
            }
            if assignments.role(&a.role)?.is_some_and(|r| roles::allows(&r, action)) {
                return Ok(true);
            }
        }
    }
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn principals_are_checked() {
        for ok in ["token:0123456789abcdef0123456789abcdef", "cert:alice", "node:3", "group:payments"] {
            assert!(check_principal(ok).is_ok(), "{ok}");
        }
        for bad in ["alice", "token:xyz", "node:0", "group:a b", "user:alice", "cert:"] {
            assert!(check_principal(bad).is_err(), "{bad}");
        }
    }
}
