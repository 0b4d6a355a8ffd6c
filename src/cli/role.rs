//! `coffer role` and `coffer group`: role definitions, role assignments,
//! groups.

use clap::Subcommand;
use serde_json::{json, Value};

use super::output;
use super::{CliResult, Format};
use crate::client::types as pb;
use crate::client::Client;

#[derive(Subcommand)]
pub enum RoleCmd {
    /// List every role, built-in and custom.
    List,
    /// Show one role's actions.
    Show { name: String },
    /// List every action a role can allow.
    Actions,
    /// Create a custom role.
    Create(RoleSpec),
    /// Replace a custom role's description and actions.
    Update(RoleSpec),
    /// Delete a custom role (it must have no assignments).
    Delete { name: String },
    /// Give a principal a role at a scope.
    Assign {
        /// token:<accessor>, cert:<name>, node:<id> or group:<name>.
        #[arg(long)]
        principal: String,
        #[arg(long)]
        role: String,
        /// "/", vaults/<vault> or vaults/<vault>/secrets/<name>.
        #[arg(long, default_value = "/")]
        scope: String,
    },
    /// Remove a role assignment by its id.
    Unassign { id: String },
    /// List role assignments.
    Assignments {
        /// Only this principal's.
        #[arg(long, default_value = "")]
        principal: String,
        /// Only those at or below this scope.
        #[arg(long, default_value = "")]
        scope: String,
    },
}

#[derive(clap::Args)]
pub struct RoleSpec {
    name: String,
    /// Allowed action patterns (repeatable), e.g. secrets/get, secrets/*, */metadata.
    #[arg(long = "action", required = true)]
    actions: Vec<String>,
    /// Excluded action patterns (repeatable).
    #[arg(long = "not-action")]
    not_actions: Vec<String>,
    #[arg(long, default_value = "")]
    description: String,
}

#[derive(Subcommand)]
pub enum GroupCmd {
    /// List groups and their members.
    List,
    /// Add a principal to a group (a group exists while it has members).
    Add { group: String, principal: String },
    /// Remove a principal from a group.
    Remove { group: String, principal: String },
}

fn role_json(r: &pb::Role) -> Value {
    json!({
        "name": r.name, "built_in": r.built_in, "description": r.description,
        "actions": r.actions, "not_actions": r.not_actions,
    })
}

fn assignment_json(a: &pb::Assignment) -> Value {
    json!({ "id": a.id, "principal": a.principal, "role": a.role, "scope": a.scope, "created": a.created })
}

fn spec_role(spec: RoleSpec) -> pb::Role {
    pb::Role {
        name: spec.name,
        description: spec.description,
        actions: spec.actions,
        not_actions: spec.not_actions,
        ..Default::default()
    }
}

pub async fn run(cmd: RoleCmd, client: &Client, format: Format) -> CliResult {
    match cmd {
        RoleCmd::List => {
            let roles = client.list_roles().await?;
            output::list(format, "roles", &["name", "built_in", "description"], roles.iter().map(role_json).collect());
        }
        RoleCmd::Show { name } => output::record(format, role_json(&client.get_role(&name).await?)),
        RoleCmd::Actions => {
            let actions = client.list_actions().await?;
            let items = actions.iter().map(|a| json!({ "name": a.name, "description": a.description })).collect();
            output::list(format, "actions", &["name", "description"], items);
        }
        RoleCmd::Create(spec) => output::record(format, role_json(&client.put_role(spec_role(spec), true).await?)),
        RoleCmd::Update(spec) => output::record(format, role_json(&client.put_role(spec_role(spec), false).await?)),
        RoleCmd::Delete { name } => {
            client.delete_role(&name).await?;
            output::record(format, json!({ "deleted": name }));
        }
        RoleCmd::Assign { principal, role, scope } => {
            output::record(format, assignment_json(&client.assign_role(&principal, &role, &scope).await?))
        }
        RoleCmd::Unassign { id } => output::record(format, assignment_json(&client.unassign_role(&id).await?)),
        RoleCmd::Assignments { principal, scope } => {
            let all = client.list_assignments(&principal, &scope).await?;
            let columns = ["id", "principal", "role", "scope"];
            output::list(format, "assignments", &columns, all.iter().map(assignment_json).collect());
        }
    }
    Ok(())
}

pub async fn run_group(cmd: GroupCmd, client: &Client, format: Format) -> CliResult {
    match cmd {
        GroupCmd::List => {
            let groups = client.list_groups().await?;
            let items = groups.iter().map(|g| json!({ "name": g.name, "members": g.members })).collect();
            output::list(format, "groups", &["name", "members"], items);
        }
        GroupCmd::Add { group, principal } => {
            client.set_group_member(&group, &principal, true).await?;
            output::record(format, json!({ "group": group, "added": principal }));
        }
        GroupCmd::Remove { group, principal } => {
            client.set_group_member(&group, &principal, false).await?;
            output::record(format, json!({ "group": group, "removed": principal }));
        }
    }
    Ok(())
}
