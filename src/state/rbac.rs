//! Authorization as replicated state: custom role definitions, role
//! assignments (with an index by principal, so a check reads only the
//! caller's assignments, and by role, so a role in use is not deleted) and
//! group members (with an index from member to groups).

use prost::Message;

use super::error::{Result, StateError};
use super::kv::{Kv, Txn};
use super::{keys, record};
use crate::proto::storage::{AssignRole, DeleteRole, PutRole, RoleAssignment, RoleDefinition, SetGroupMember};
use crate::rbac::{self, roles, Scope};

/// Evaluation ([`rbac::allowed`]) reads the assignments from here.
impl<'a> rbac::Assignments for dyn Kv + 'a {
    type Error = StateError;

    fn groups_of(&self, principal: &str) -> Result<Vec<String>> {
        groups_of(self, principal)
    }

    fn assignments_of(&self, principal: &str) -> Result<Vec<RoleAssignment>> {
        assignments_of(self, principal)
    }

    fn role(&self, name: &str) -> Result<Option<RoleDefinition>> {
        role(self, name)
    }
}

/// A role by name: built-in or custom.
pub fn role(kv: &dyn Kv, name: &str) -> Result<Option<RoleDefinition>> {
    match roles::built_in(name) {
        Some(r) => Ok(Some(r)),
        None => record::load(kv, &keys::role(name)),
    }
}

/// Every role: built-in first, then custom by name.
pub fn roles(kv: &dyn Kv) -> Result<Vec<RoleDefinition>> {
    let mut out = roles::built_ins();
    record::scan(kv, keys::ROLES, None, |_, r: RoleDefinition| {
        out.push(r);
        true
    })?;
    Ok(out)
}

/// The assignments whose principal is exactly `principal`.
pub fn assignments_of(kv: &dyn Kv, principal: &str) -> Result<Vec<RoleAssignment>> {
    let mut ids = Vec::new();
    kv.scan(&keys::assignments_of(principal), None, &mut |_, v| {
        ids.push(String::from_utf8_lossy(v).into_owned());
        true
    })?;
    ids.iter().filter_map(|id| assignment(kv, id).transpose()).collect()
}

/// One assignment.
pub fn assignment(kv: &dyn Kv, id: &str) -> Result<Option<RoleAssignment>> {
    record::load(kv, &keys::assignment(id))
}

/// Every assignment.
pub fn assignments(kv: &dyn Kv) -> Result<Vec<RoleAssignment>> {
    let mut out = Vec::new();
    record::scan(kv, keys::ASSIGNMENTS, None, |_, a: RoleAssignment| {
        out.push(a);
        true
    })?;
    Ok(out)
}

/// The groups `principal` is a member of.
pub fn groups_of(kv: &dyn Kv, principal: &str) -> Result<Vec<String>> {
    let mut out = Vec::new();
    kv.scan(&keys::groups_of(principal), None, &mut |_, v| {
        out.push(String::from_utf8_lossy(v).into_owned());
        true
    })?;
    Ok(out)
}

/// Every group with its members.
pub fn groups(kv: &dyn Kv) -> Result<Vec<(String, Vec<String>)>> {
    let mut out: Vec<(String, Vec<String>)> = Vec::new();
    kv.scan(keys::GROUPS, None, &mut |k, v| {
        let group = String::from_utf8_lossy(&k[keys::GROUPS.len()..]).split('/').next().unwrap_or_default().to_owned();
        let member = String::from_utf8_lossy(v).into_owned();
        match out.last_mut() {
            Some((g, members)) if *g == group => members.push(member),
            _ => out.push((group, vec![member])),
        }
        true
    })?;
    Ok(out)
}

pub(super) fn put_role(txn: &mut Txn<'_>, now: i64, op: &PutRole) -> Result<RoleDefinition> {
    let mut new = op.role.clone().ok_or_else(|| StateError::InvalidArgument("no role".into()))?;
    roles::check(&new).map_err(StateError::InvalidArgument)?;
    let key = keys::role(&new.name);
    let old: Option<RoleDefinition> = record::load(txn, &key)?;
    match (&old, op.create) {
        (Some(_), true) => return Err(StateError::RoleExists(new.name)),
        (None, false) => return Err(StateError::RoleNotFound(new.name)),
        _ => {}
    }
    new.created = old.map_or(now, |o| o.created);
    new.updated = now;
    txn.put(key, new.encode_to_vec());
    Ok(new)
}

pub(super) fn delete_role(txn: &mut Txn<'_>, op: &DeleteRole) -> Result<()> {
    if roles::is_built_in(&op.name) {
        return Err(StateError::InvalidArgument(format!("{} is a built-in role", op.name)));
    }
    let key = keys::role(&op.name);
    if txn.get(&key)?.is_none() {
        return Err(StateError::RoleNotFound(op.name.clone()));
    }
    let mut in_use = false;
    txn.scan(&keys::assignments_by_role(&op.name), None, &mut |_, _| {
        in_use = true;
        false
    })?;
    if in_use {
        return Err(StateError::InvalidArgument(format!("role {} is assigned; remove its assignments first", op.name)));
    }
    txn.delete(key);
    Ok(())
}

pub(super) fn assign(txn: &mut Txn<'_>, now: i64, op: &AssignRole) -> Result<RoleAssignment> {
    let a = op.assignment.clone().ok_or_else(|| StateError::InvalidArgument("no assignment".into()))?;
    insert_assignment(txn, now, a)
}

/// Stores an assignment and its indexes (also used by token creation).
pub(super) fn insert_assignment(txn: &mut Txn<'_>, now: i64, mut a: RoleAssignment) -> Result<RoleAssignment> {
    let id_ok = a.id.len() == 32 && a.id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    if !id_ok {
        return Err(StateError::InvalidArgument("malformed assignment id".into()));
    }
    rbac::check_principal(&a.principal).map_err(StateError::InvalidArgument)?;
    let scope = Scope::parse(&a.scope).map_err(StateError::InvalidArgument)?;
    a.scope = scope.to_string();
    if role(txn, &a.role)?.is_none() {
        return Err(StateError::RoleNotFound(a.role));
    }
    if txn.get(&keys::assignment(&a.id))?.is_some() {
        return Err(StateError::InvalidArgument("assignment already exists".into()));
    }
    let duplicate = assignments_of(txn, &a.principal)?.into_iter().any(|o| o.role == a.role && o.scope == a.scope);
    if duplicate {
        return Err(StateError::InvalidArgument(format!("{} already has {} at {}", a.principal, a.role, a.scope)));
    }
    a.created = now;
    txn.put(keys::assignment(&a.id), a.encode_to_vec());
    txn.put(keys::assignment_of(&a.principal, &a.id), a.id.clone().into_bytes());
    txn.put(keys::assignment_by_role(&a.role, &a.id), Vec::new());
    Ok(a)
}

pub(super) fn unassign(txn: &mut Txn<'_>, id: &str) -> Result<RoleAssignment> {
    let a = assignment(txn, id)?.ok_or_else(|| StateError::AssignmentNotFound(id.to_owned()))?;
    txn.delete(keys::assignment(&a.id));
    txn.delete(keys::assignment_of(&a.principal, &a.id));
    txn.delete(keys::assignment_by_role(&a.role, &a.id));
    Ok(a)
}

/// Removes every assignment of `principal` (a revoked token's).
pub(super) fn unassign_all(txn: &mut Txn<'_>, principal: &str) -> Result<()> {
    for a in assignments_of(txn, principal)? {
        unassign(txn, &a.id)?;
    }
    Ok(())
}

pub(super) fn set_group_member(txn: &mut Txn<'_>, op: &SetGroupMember) -> Result<()> {
    super::validate::name("group", &op.group)?;
    rbac::check_principal(&op.principal).map_err(StateError::InvalidArgument)?;
    if op.principal.starts_with("group:") {
        return Err(StateError::InvalidArgument("groups cannot be members of groups".into()));
    }
    let (member_key, index_key) =
        (keys::group_member(&op.group, &op.principal), keys::group_of(&op.principal, &op.group));
    if op.member {
        txn.put(member_key, op.principal.clone().into_bytes());
        txn.put(index_key, op.group.clone().into_bytes());
    } else {
        if txn.get(&member_key)?.is_none() {
            return Err(StateError::InvalidArgument(format!("{} is not in group {}", op.principal, op.group)));
        }
        txn.delete(member_key);
        txn.delete(index_key);
    }
    Ok(())
}
