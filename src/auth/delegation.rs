//! The one rule for handing out rights. Every path that gives a principal
//! roles — a role assignment, a token created with roles, a group
//! membership, a client certificate for a name that holds assignments —
//! is a set of [`Grant`]s, and [`may_hand_out`] decides them all: the
//! caller needs `assignments/write` at each grant's scope, and unless it
//! holds a root token, each role must be confined to data actions (so the
//! right to assign can never become cluster, token, audit or role rights).

use tonic::Status;

use super::{check, Authorized, Need};
use crate::error_code::{status, ErrorCode};
use crate::rbac::{roles, Scope};
use crate::replica::{Consistency, Replica};
use crate::state::{kv::Kv, rbac, StateError};

/// A role at a scope, about to be given to someone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// The role's name.
    pub role: String,
    /// Where it applies.
    pub scope: Scope,
}

impl Grant {
    /// `role` at `scope`.
    pub fn new(role: impl Into<String>, scope: Scope) -> Grant {
        Grant { role: role.into(), scope }
    }
}

/// Whether `auth`'s caller may hand out every grant in `grants` (see the
/// module docs). Reads the roles linearizably: a role changed a moment ago
/// is judged as it is now.
pub async fn may_hand_out(replica: &Replica, auth: &Authorized, grants: &[Grant]) -> Result<(), Status> {
    for grant in grants {
        check(auth.principal.clone(), replica, Need::Action("assignments/write", grant.scope.clone()))?;
    }
    if auth.is_root() {
        return Ok(());
    }
    for Grant { role: name, .. } in grants {
        let role = replica.read(Consistency::Linearizable, |kv| rbac::role(kv, name)).await?;
        let role = role.ok_or_else(|| StateError::RoleNotFound(name.clone()))?;
        if !roles::data_only(&role) {
            let who = auth.principal.as_ref().map(|p| p.name()).unwrap_or_default();
            return Err(status(
                ErrorCode::Forbidden,
                format!("{who} may not hand out role {name}: it allows more than data actions (root only)"),
                None,
            ));
        }
    }
    Ok(())
}

/// What `principal` holds through its own assignments and its groups':
/// what a credential for it (a client certificate) hands out.
pub fn held_by(kv: &dyn Kv, principal: &str) -> Result<Vec<Grant>, StateError> {
    let mut holders = vec![principal.to_owned()];
    holders.extend(rbac::groups_of(kv, principal)?.into_iter().map(|g| format!("group:{g}")));
    let mut grants = Vec::new();
    for holder in &holders {
        grants.extend(assigned(kv, holder)?);
    }
    Ok(grants)
}

/// The assignments made to exactly `principal` (a group's, for joining it).
pub fn assigned(kv: &dyn Kv, principal: &str) -> Result<Vec<Grant>, StateError> {
    rbac::assignments_of(kv, principal)?
        .into_iter()
        .map(|a| {
            let scope = Scope::parse(&a.scope).map_err(|_| StateError::Corrupt(format!("assignment {}", a.id)))?;
            Ok(Grant::new(a.role, scope))
        })
        .collect()
}
