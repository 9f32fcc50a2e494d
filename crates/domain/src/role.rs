//! Roles and the capabilities they grant, derived in exactly one table: [`Role::capabilities`].

use std::fmt;
use std::str::FromStr;

/// What a member of a tenant is allowed to do, as a whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    /// Everything, including licenses, billing, budgets and other administrators.
    Administrator,
    /// Manages agents, workspaces, groups, connectors and non-administrator users.
    Collaborator,
    /// Their own profile and usage, and the agents shared with them.
    User,
}

/// One thing a role may do. The HTTP API reports these in snake_case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Capability {
    /// See every user of the tenant.
    ViewUsers,
    /// Create, edit, deactivate and reactivate non-administrator users.
    ManageUsers,
    /// Act on administrators, and grant or remove the administrator role.
    ManageAdministrators,
    /// Irreversibly delete users.
    PurgeUsers,
    /// Read the tenant's audit trail.
    ViewAudit,
    /// Buy, assign and unassign licenses.
    ManageLicenses,
    /// Set budgets and credit limits.
    ManageBudgets,
    /// Billing and tax data.
    ManageBilling,
    /// The dashboard's metrics (users, seats, invitations).
    ViewDashboard,
    /// The tenant's settings (invitation lifetime, ...).
    ManageSettings,
    /// Create and manage agents.
    ManageAgents,
    /// Create and manage workspaces.
    ManageWorkspaces,
    /// Create and manage groups.
    ManageGroups,
    /// Create and manage connectors.
    ManageConnectors,
}

use Capability as C;

const ADMINISTRATOR: &[Capability] = &[
    C::ViewUsers,
    C::ManageUsers,
    C::ManageAdministrators,
    C::PurgeUsers,
    C::ViewAudit,
    C::ManageLicenses,
    C::ManageBudgets,
    C::ManageBilling,
    C::ViewDashboard,
    C::ManageSettings,
    C::ManageAgents,
    C::ManageWorkspaces,
    C::ManageGroups,
    C::ManageConnectors,
];
const COLLABORATOR: &[Capability] =
    &[C::ViewUsers, C::ManageUsers, C::ManageAgents, C::ManageWorkspaces, C::ManageGroups, C::ManageConnectors];
const USER: &[Capability] = &[];

impl Role {
    /// Every role, most powerful first.
    pub const ALL: [Role; 3] = [Role::Administrator, Role::Collaborator, Role::User];

    /// The capabilities this role grants: the one table every permission check reads.
    #[must_use]
    pub const fn capabilities(self) -> &'static [Capability] {
        match self {
            Role::Administrator => ADMINISTRATOR,
            Role::Collaborator => COLLABORATOR,
            Role::User => USER,
        }
    }

    /// Whether this role grants `capability`.
    #[must_use]
    pub fn can(self, capability: Capability) -> bool {
        self.capabilities().contains(&capability)
    }

    /// The stable lowercase name used in storage and the API.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Role::Administrator => "administrator",
            Role::Collaborator => "collaborator",
            Role::User => "user",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The text was not one of `administrator`, `collaborator`, `user`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown role {0:?}: expected administrator, collaborator or user")]
pub struct UnknownRole(pub String);

impl FromStr for Role {
    type Err = UnknownRole;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL.into_iter().find(|role| role.as_str() == s).ok_or_else(|| UnknownRole(s.to_owned()))
    }
}

impl Capability {
    /// The stable snake_case name used in the API.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            C::ViewUsers => "view_users",
            C::ManageUsers => "manage_users",
            C::ManageAdministrators => "manage_administrators",
            C::PurgeUsers => "purge_users",
            C::ViewAudit => "view_audit",
            C::ManageLicenses => "manage_licenses",
            C::ManageBudgets => "manage_budgets",
            C::ManageBilling => "manage_billing",
            C::ViewDashboard => "view_dashboard",
            C::ManageSettings => "manage_settings",
            C::ManageAgents => "manage_agents",
            C::ManageWorkspaces => "manage_workspaces",
            C::ManageGroups => "manage_groups",
            C::ManageConnectors => "manage_connectors",
        }
    }
}

impl fmt::Display for Capability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_administrators_manage_licenses_budgets_and_administrators() {
        for capability in [C::ManageLicenses, C::ManageBudgets, C::ManageAdministrators, C::PurgeUsers] {
            assert!(Role::Administrator.can(capability));
            assert!(!Role::Collaborator.can(capability));
            assert!(!Role::User.can(capability));
        }
    }

    #[test]
    fn collaborators_manage_users_agents_and_groups_but_users_manage_nothing() {
        for capability in [C::ManageUsers, C::ManageAgents, C::ManageGroups, C::ViewUsers] {
            assert!(Role::Collaborator.can(capability));
        }
        assert!(Role::User.capabilities().is_empty());
    }

    #[test]
    fn roles_round_trip_through_their_names() {
        for role in Role::ALL {
            assert_eq!(role.as_str().parse::<Role>(), Ok(role));
        }
        assert!("admin".parse::<Role>().is_err());
    }
}
