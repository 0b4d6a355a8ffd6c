//! Applies a replicated command: each operation runs against the state as
//! left by the previous one, and gets its own result.

use prost::Message;

use super::error::StateError;
use super::kv::Txn;
use super::{audit, join_tokens, rbac, removed_nodes, secrets, security, tokens, vaults, SecretView};
use crate::proto::storage::{
    op::Kind, AuditedOp, Command, Op, RoleAssignment, RoleDefinition, SecurityRecord, TokenRecord, VaultRecord,
};

/// What a successful operation produced.
#[derive(Debug, Clone)]
pub enum OpOutput {
    /// A vault after the operation.
    Vault(VaultRecord),
    /// A secret version after the operation (without its value).
    Secret(SecretView),
    /// The security record after the operation.
    Security(SecurityRecord),
    /// A token record after the operation.
    Token(TokenRecord),
    /// A role definition after the operation.
    Role(RoleDefinition),
    /// A role assignment made or removed.
    Assignment(RoleAssignment),
    /// An audit record appended, with its sequence number.
    Audited(u64),
    /// The write of an [`crate::proto::storage::AuditedOp`] failed (its audit
    /// record, with the failure, was appended all the same).
    Refused(StateError),
    /// Nothing to report.
    Done,
}

/// The result of one operation.
pub type OpResult = Result<OpOutput, StateError>;

/// The results of a command's operations, in order.
#[derive(Debug, Clone, Default)]
pub struct ApplyOutput(pub Vec<OpResult>);

/// Applies every operation of `cmd` to `txn`. Failed operations leave no
/// writes behind; the others are unaffected by them.
pub fn apply(txn: &mut Txn<'_>, cmd: &Command) -> ApplyOutput {
    let now = cmd.now;
    let results = cmd
        .ops
        .iter()
        .map(|op| match &op.kind {
            None => Err(StateError::InvalidArgument("empty operation".into())),
            Some(kind) => {
                // Each operation writes into its own child transaction, merged
                // only on success, so a failure leaves nothing behind.
                let mut child = Txn::new(&*txn);
                let out = apply_op(&mut child, now, kind);
                let writes = child.into_writes();
                out.inspect(|_| txn.merge(writes))
            }
        })
        .collect();
    ApplyOutput(results)
}

fn apply_op(txn: &mut Txn<'_>, now: i64, kind: &Kind) -> Result<OpOutput, StateError> {
    match kind {
        Kind::CreateVault(op) => vaults::create(txn, now, op).map(OpOutput::Vault),
        Kind::UpdateVault(op) => vaults::update(txn, now, op).map(OpOutput::Vault),
        Kind::DeleteVault(op) => vaults::delete(txn, op).map(|()| OpOutput::Done),
        Kind::SetSecret(op) => secrets::set(txn, now, op).map(OpOutput::Secret),
        Kind::UpdateSecret(op) => secrets::update(txn, now, op).map(OpOutput::Secret),
        Kind::DeleteSecret(op) => secrets::delete(txn, now, op).map(OpOutput::Secret),
        Kind::RecoverSecret(op) => secrets::recover(txn, now, op).map(OpOutput::Secret),
        Kind::PurgeSecret(op) => secrets::purge(txn, now, op).map(|()| OpOutput::Done),
        Kind::RestoreSecret(op) => secrets::restore(txn, now, op).map(OpOutput::Secret),
        Kind::RewrapSecret(op) => secrets::rewrap(txn, op).map(|()| OpOutput::Done),
        Kind::RewrapClusterCa(op) => join_tokens::rewrap_cluster_ca(txn, op).map(|()| OpOutput::Done),
        Kind::InitSecurity(op) => security::init(txn, now, op).map(OpOutput::Security),
        Kind::RotateKeyring(op) => security::rotate(txn, now, op).map(OpOutput::Security),
        Kind::Rekey(op) => security::rekey(txn, op).map(OpOutput::Security),
        Kind::CreateToken(op) => tokens::create(txn, now, op).map(OpOutput::Token),
        Kind::RenewToken(op) => tokens::renew(txn, op).map(OpOutput::Token),
        Kind::RevokeToken(op) => tokens::revoke(txn, op).map(|()| OpOutput::Done),
        Kind::CreateJoinToken(op) => join_tokens::create(txn, now, op).map(|_| OpOutput::Done),
        Kind::ConsumeJoinToken(op) => join_tokens::consume(txn, now, op).map(|_| OpOutput::Done),
        Kind::MarkRemovedNode(op) => removed_nodes::mark(txn, op).map(|()| OpOutput::Done),
        Kind::PutRole(op) => rbac::put_role(txn, now, op).map(OpOutput::Role),
        Kind::DeleteRole(op) => rbac::delete_role(txn, op).map(|()| OpOutput::Done),
        Kind::AssignRole(op) => rbac::assign(txn, now, op).map(OpOutput::Assignment),
        Kind::UnassignRole(op) => rbac::unassign(txn, &op.id).map(OpOutput::Assignment),
        Kind::SetGroupMember(op) => rbac::set_group_member(txn, op).map(|()| OpOutput::Done),
        Kind::AppendAudit(op) => audit::append(txn, op.record.as_ref().ok_or_else(no_record)?).map(OpOutput::Audited),
        Kind::TrimAudit(op) => audit::trim(txn, op).map(|()| OpOutput::Done),
        Kind::AnchorAudit(op) => audit::anchor(txn, op).map(|()| OpOutput::Done),
        Kind::AuditedOp(op) => audited(txn, now, op),
    }
}

/// Runs the write of `op` (its writes kept only if it succeeds), then
/// appends its audit record with the write's result.
fn audited(txn: &mut Txn<'_>, now: i64, op: &AuditedOp) -> Result<OpOutput, StateError> {
    let inner = Op::decode(op.op.as_slice()).map_err(|_| StateError::InvalidArgument("malformed audited op".into()))?;
    let kind = inner.kind.ok_or_else(|| StateError::InvalidArgument("empty operation".into()))?;
    if matches!(kind, Kind::AuditedOp(_) | Kind::AppendAudit(_) | Kind::AnchorAudit(_)) {
        return Err(StateError::InvalidArgument("an audited op holds a write".into()));
    }
    let mut child = Txn::new(&*txn);
    let out = apply_op(&mut child, now, &kind);
    let writes = child.into_writes();
    let mut record = op.record.clone().ok_or_else(no_record)?;
    record.result = match &out {
        Ok(_) => "ok".into(),
        Err(e) => e.code().as_str().into(),
    };
    if out.is_ok() {
        txn.merge(writes);
    }
    audit::append(txn, &record)?;
    Ok(out.unwrap_or_else(OpOutput::Refused))
}

fn no_record() -> StateError {
    StateError::InvalidArgument("no audit record".into())
}
