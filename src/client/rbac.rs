//! Roles, role assignments and groups.

use super::types::rbac_service_client::RbacServiceClient;
use super::types::{self as pb, Empty};
use super::{Client, Result, Retry};

fn svc(ch: super::Transport) -> RbacServiceClient<super::Transport> {
    RbacServiceClient::new(ch)
}

impl Client {
    /// Every action a role can allow.
    pub async fn list_actions(&self) -> Result<Vec<pb::Action>> {
        self.run(
            Retry::Idempotent,
            |ch| async move { svc(ch).list_actions(Empty {}).await.map(|r| r.into_inner().actions) },
        )
        .await
    }

    /// Every role, built-in and custom.
    pub async fn list_roles(&self) -> Result<Vec<pb::Role>> {
        self.run(
            Retry::Idempotent,
            |ch| async move { svc(ch).list_roles(Empty {}).await.map(|r| r.into_inner().roles) },
        )
        .await
    }

    /// One role.
    pub async fn get_role(&self, name: &str) -> Result<pb::Role> {
        let req = pb::RoleName { name: name.into() };
        self.run(Retry::Idempotent, |ch| {
            let req = req.clone();
            async move { svc(ch).get_role(req).await.map(|r| r.into_inner()) }
        })
        .await
    }

    /// Creates (`create`) or replaces a custom role.
    pub async fn put_role(&self, role: pb::Role, create: bool) -> Result<pb::Role> {
        let req = pb::PutRoleRequest { role: Some(role), create };
        self.run(Retry::IfNotSent, |ch| {
            let req = req.clone();
            async move { svc(ch).put_role(req).await.map(|r| r.into_inner()) }
        })
        .await
    }

    /// Deletes a custom role that has no assignments.
    pub async fn delete_role(&self, name: &str) -> Result<()> {
        let req = pb::RoleName { name: name.into() };
        self.run(Retry::IfNotSent, |ch| {
            let req = req.clone();
            async move { svc(ch).delete_role(req).await.map(drop) }
        })
        .await
    }

    /// Gives `principal` the role at `scope`.
    pub async fn assign_role(&self, principal: &str, role: &str, scope: &str) -> Result<pb::Assignment> {
        let req = pb::AssignRequest { principal: principal.into(), role: role.into(), scope: scope.into() };
        self.run(Retry::IfNotSent, |ch| {
            let req = req.clone();
            async move { svc(ch).assign(req).await.map(|r| r.into_inner()) }
        })
        .await
    }

    /// Removes an assignment by id.
    pub async fn unassign_role(&self, id: &str) -> Result<pb::Assignment> {
        let req = pb::AssignmentId { id: id.into() };
        self.run(Retry::IfNotSent, |ch| {
            let req = req.clone();
            async move { svc(ch).unassign(req).await.map(|r| r.into_inner()) }
        })
        .await
    }

    /// Assignments, optionally of one principal and/or within a scope ("" = all).
    pub async fn list_assignments(&self, principal: &str, scope: &str) -> Result<Vec<pb::Assignment>> {
        let req = pb::ListAssignmentsRequest { principal: principal.into(), scope: scope.into() };
        self.run(Retry::Idempotent, |ch| {
            let req = req.clone();
            async move { svc(ch).list_assignments(req).await.map(|r| r.into_inner().assignments) }
        })
        .await
    }

    /// Adds (`member`) or removes `principal` from `group`.
    pub async fn set_group_member(&self, group: &str, principal: &str, member: bool) -> Result<()> {
        let req = pb::GroupMemberRequest { group: group.into(), principal: principal.into(), member };
        self.run(Retry::IfNotSent, |ch| {
            let req = req.clone();
            async move { svc(ch).set_group_member(req).await.map(drop) }
        })
        .await
    }

    /// Every group with its members.
    pub async fn list_groups(&self) -> Result<Vec<pb::Group>> {
        self.run(
            Retry::Idempotent,
            |ch| async move { svc(ch).list_groups(Empty {}).await.map(|r| r.into_inner().groups) },
        )
        .await
    }
}
