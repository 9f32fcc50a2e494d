//! Who is acting: an authenticated user, a service (the AI gateway, with a scoped credential),
//! or the system itself (CLI, bootstrap).

use std::collections::BTreeSet;

use crate::service::{Scope, ServiceCredential, ServiceName};
use crate::{Capability, Email, Role, ServiceCredentialId, TenantId, UserId};

/// Who a system action is attributed to in the audit trail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ActorIdentity {
    /// A user of the tenant, authenticated by a credential.
    User {
        /// The user's id.
        id: UserId,
        /// The user's email, for the audit trail.
        email: Email,
    },
    /// A machine with a service credential: it may do what its scopes allow, nothing else.
    Service {
        /// The credential's id.
        id: ServiceCredentialId,
        /// What it is for.
        name: ServiceName,
        /// What it may do.
        scopes: BTreeSet<Scope>,
    },
    /// The operator, through the command line or at first start.
    System,
}

/// The party performing a use case, always within one tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    /// The tenant acted in.
    pub tenant: TenantId,
    /// The role acted with. The system acts as an administrator.
    pub role: Role,
    /// Who.
    pub identity: ActorIdentity,
}

impl Actor {
    /// A user acting with their role.
    #[must_use]
    pub fn user(tenant: TenantId, id: UserId, email: Email, role: Role) -> Self {
        Self { tenant, role, identity: ActorIdentity::User { id, email } }
    }

    /// The operator acting on `tenant` with administrator rights (still bound by the
    /// last-administrator rule).
    #[must_use]
    pub fn system(tenant: TenantId) -> Self {
        Self { tenant, role: Role::Administrator, identity: ActorIdentity::System }
    }

    /// A service acting with `credential`: the role `user`, whose capabilities are none, so
    /// only its scopes let it do anything.
    #[must_use]
    pub fn service(credential: &ServiceCredential) -> Self {
        Self {
            tenant: credential.tenant,
            role: Role::User,
            identity: ActorIdentity::Service {
                id: credential.id,
                name: credential.name.clone(),
                scopes: credential.scopes.clone(),
            },
        }
    }

    /// The acting user's id, when a user acts.
    #[must_use]
    pub fn user_id(&self) -> Option<UserId> {
        match &self.identity {
            ActorIdentity::User { id, .. } => Some(*id),
            ActorIdentity::Service { .. } | ActorIdentity::System => None,
        }
    }

    /// Whether a service acts with `scope`.
    #[must_use]
    pub fn has_scope(&self, scope: Scope) -> bool {
        matches!(&self.identity, ActorIdentity::Service { scopes, .. } if scopes.contains(&scope))
    }

    /// Whether the actor is `user`.
    #[must_use]
    pub fn is(&self, user: UserId) -> bool {
        self.user_id() == Some(user)
    }

    /// Whether the actor's role grants `capability`.
    #[must_use]
    pub fn can(&self, capability: Capability) -> bool {
        self.role.can(capability)
    }
}
