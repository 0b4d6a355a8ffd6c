//! The authorization service: roles, assignments, groups.

use tonic::{Request, Response, Status};

use super::audited::Note;
use super::serve::{serve, serve_scoped, Allowed};

use super::status::{internal, invalid, status, unexpected};
use crate::auth::delegation::{self, may_hand_out, Grant};
use crate::error_code::ErrorCode;
use crate::proto::api::rbac_service_server::RbacService;
use crate::proto::api::{self as pb, Empty};
use crate::proto::storage::{self as st, op::Kind};
use crate::rbac::{actions, roles, Scope};
use crate::replica::{Consistency, Replica};
use crate::state::{rbac, OpOutput, StateError};

/// Serves role definitions, assignments and groups.
pub struct Rbac {
    replica: Replica,
}

impl Rbac {
    /// The service over `replica`.
    pub fn new(replica: Replica) -> Self {
        Rbac { replica }
    }
}

fn role_pb(r: st::RoleDefinition) -> pb::Role {
    pb::Role {
        built_in: roles::is_built_in(&r.name),
        name: r.name,
        description: r.description,
        actions: r.actions,
        not_actions: r.not_actions,
        created: r.created,
        updated: r.updated,
    }
}

fn assignment_pb(a: st::RoleAssignment) -> pb::Assignment {
    pb::Assignment { id: a.id, principal: a.principal, role: a.role, scope: a.scope, created: a.created }
}

const CLUSTER: Scope = Scope::Cluster;

#[tonic::async_trait]
impl RbacService for Rbac {
    async fn list_actions(&self, req: Request<Empty>) -> Result<Response<pb::ActionList>, Status> {
        let target = Scope::Cluster;
        serve(&self.replica, req, target, |_, _| async move {
            let actions = actions::ACTIONS
                .iter()
                .map(|(a, d)| pb::Action { name: (*a).into(), description: (*d).into() })
                .collect();
            Ok(Response::new(pb::ActionList { actions }))
        })
        .await
    }

    async fn list_roles(&self, req: Request<Empty>) -> Result<Response<pb::RoleList>, Status> {
        let target = Scope::Cluster;
        serve(&self.replica, req, target, |_, _| async move {
            let all = self.replica.read(Consistency::Linearizable, rbac::roles).await?;
            Ok(Response::new(pb::RoleList { roles: all.into_iter().map(role_pb).collect() }))
        })
        .await
    }

    async fn get_role(&self, req: Request<pb::RoleName>) -> Result<Response<pb::Role>, Status> {
        let target = Scope::Cluster;
        serve(&self.replica, req, target, |req, _| async move {
            let name = req.into_inner().name;
            let role = self.replica.read(Consistency::Linearizable, |kv| rbac::role(kv, &name)).await?;
            Ok(Response::new(role_pb(role.ok_or(StateError::RoleNotFound(name))?)))
        })
        .await
    }

    async fn put_role(&self, req: Request<pb::PutRoleRequest>) -> Result<Response<pb::Role>, Status> {
        let target = Scope::Cluster;
        serve(&self.replica, req, target, |req, Allowed { auth, .. }| async move {
            let r = req.into_inner();
            let role = r.role.ok_or_else(|| invalid("no role given"))?;
            let def = st::RoleDefinition {
                name: role.name,
                description: role.description,
                actions: role.actions,
                not_actions: role.not_actions,
                created: 0,
                updated: 0,
            };
            roles::check(&def).map_err(invalid)?;
            // Defining a role is handing out its rights to whoever holds it
            // (the caller too, through its own role): the same limit.
            if !auth.is_root() && !roles::data_only(&def) {
                return Err(status(
                    ErrorCode::Forbidden,
                    format!("only a root token may define role {} (it allows more than data actions)", def.name),
                    None,
                ));
            }
            match self.replica.write(Kind::PutRole(st::PutRole { role: Some(def), create: r.create })).await? {
                OpOutput::Role(r) => Ok(Response::new(role_pb(r))),
                other => Err(unexpected(other)),
            }
        })
        .await
    }

    async fn delete_role(&self, req: Request<pb::RoleName>) -> Result<Response<Empty>, Status> {
        let target = Scope::Cluster;
        serve(&self.replica, req, target, |req, _| async move {
            let name = req.into_inner().name;
            self.replica.write(Kind::DeleteRole(st::DeleteRole { name })).await?;
            Ok(Response::new(Empty {}))
        })
        .await
    }

    async fn assign(&self, req: Request<pb::AssignRequest>) -> Result<Response<pb::Assignment>, Status> {
        let target = Scope::Cluster;
        serve_scoped(&self.replica, req, target, |req, pending| async move {
            let scope = Scope::parse(&req.get_ref().scope).map_err(invalid)?;
            let auth = pending.check(&self.replica, scope.clone())?;
            let r = req.into_inner();
            crate::rbac::check_principal(&r.principal).map_err(invalid)?;
            may_hand_out(&self.replica, &auth, &[Grant::new(r.role.clone(), scope.clone())]).await?;
            let assignment = st::RoleAssignment {
                id: crate::crypto::random_id().map_err(|e| internal(e.to_string()))?,
                principal: r.principal,
                role: r.role,
                scope: scope.to_string(),
                created: 0,
            };
            let a = &assignment;
            let note = Note::default().detail(format!("{} {} at {} ({})", a.principal, a.role, a.scope, a.id));
            note.before_write();
            match self.replica.write(Kind::AssignRole(st::AssignRole { assignment: Some(assignment) })).await? {
                OpOutput::Assignment(a) => Ok(note.to(Response::new(assignment_pb(a)))),
                other => Err(unexpected(other)),
            }
        })
        .await
    }

    async fn unassign(&self, req: Request<pb::AssignmentId>) -> Result<Response<pb::Assignment>, Status> {
        let target = Scope::Cluster;
        serve_scoped(&self.replica, req, target, |req, pending| async move {
            // Authorized at the assignment's own scope, so a vault's access
            // administrator can only remove assignments within that vault.
            let id = req.into_inner().id;
            let found = self.replica.read(Consistency::Linearizable, |kv| rbac::assignment(kv, &id)).await?;
            let scope = match &found {
                Some(a) => Scope::parse(&a.scope).map_err(|e| internal(e.to_string()))?,
                None => CLUSTER,
            };
            pending.check(&self.replica, scope)?;
            match self.replica.write(Kind::UnassignRole(st::UnassignRole { id })).await? {
                OpOutput::Assignment(a) => {
                    let note = Note::default().detail(format!("{} {} at {} ({})", a.principal, a.role, a.scope, a.id));
                    Ok(note.to(Response::new(assignment_pb(a))))
                }
                other => Err(unexpected(other)),
            }
        })
        .await
    }

    async fn list_assignments(
        &self,
        req: Request<pb::ListAssignmentsRequest>,
    ) -> Result<Response<pb::AssignmentList>, Status> {
        let target = Scope::Cluster;
        serve_scoped(&self.replica, req, target, |req, pending| async move {
            let scope = match req.get_ref().scope.as_str() {
                "" => None,
                s => Some(Scope::parse(s).map_err(invalid)?),
            };
            pending.check(&self.replica, scope.clone().unwrap_or(CLUSTER))?;
            let principal = req.into_inner().principal;
            let all = self
                .replica
                .read(Consistency::Linearizable, |kv| match principal.as_str() {
                    "" => rbac::assignments(kv),
                    p => rbac::assignments_of(kv, p),
                })
                .await?;
            let assignments = all
                .into_iter()
                .filter(|a| scope.as_ref().is_none_or(|s| Scope::parse(&a.scope).is_ok_and(|at| s.contains(&at))))
                .map(assignment_pb)
                .collect();
            Ok(Response::new(pb::AssignmentList { assignments }))
        })
        .await
    }

    async fn set_group_member(&self, req: Request<pb::GroupMemberRequest>) -> Result<Response<Empty>, Status> {
        let target = Scope::Cluster;
        serve(&self.replica, req, target, |req, Allowed { auth, .. }| async move {
            let r = req.into_inner();
            // Joining a group gives its roles: the same limit as assigning them.
            let group = format!("group:{}", r.group);
            let grants = self.replica.read(Consistency::Linearizable, |kv| delegation::assigned(kv, &group)).await?;
            may_hand_out(&self.replica, &auth, &grants).await?;
            let op = st::SetGroupMember { group: r.group, principal: r.principal, member: r.member };
            self.replica.write(Kind::SetGroupMember(op)).await?;
            Ok(Response::new(Empty {}))
        })
        .await
    }

    async fn list_groups(&self, req: Request<Empty>) -> Result<Response<pb::GroupList>, Status> {
        let target = Scope::Cluster;
        serve(&self.replica, req, target, |_, _| async move {
            let all = self.replica.read(Consistency::Linearizable, rbac::groups).await?;
            let groups = all.into_iter().map(|(name, members)| pb::Group { name, members }).collect();
            Ok(Response::new(pb::GroupList { groups }))
        })
        .await
    }
}
