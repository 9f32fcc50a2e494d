//! Users as the API shows them: with the name of the license each holds, the invitation of
//! invited users, and each user's budget and usage. Each is looked up once per response (a
//! tenant has a handful of license kinds; a page holds at most 200 users), the license names and
//! invitations only when some user needs them.

use std::collections::HashMap;
use std::sync::Arc;

use roster_domain::ports::Clock;
use roster_domain::services::{BudgetService, InvitationService, LicenseService};
use roster_domain::{Actor, LicenseKindId, LicenseName, User, UserId, UserStatus};

use super::models::{InvitationBody, LicenseRef, UserBody, UserExtras};
use super::problem::Problem;

/// Renders users for an actor.
#[derive(Clone)]
pub struct UserViews {
    pub licenses: LicenseService,
    pub invitations: InvitationService,
    pub budgets: BudgetService,
    pub clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for UserViews {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("UserViews")
    }
}

impl UserViews {
    /// The views over the services of `state`.
    pub fn of(state: &crate::state::AppState) -> Self {
        Self {
            licenses: state.licenses.clone(),
            invitations: state.invitations.clone(),
            budgets: state.budgets.clone(),
            clock: state.clock.clone(),
        }
    }

    /// `user` as the API shows it.
    pub async fn one(&self, actor: &Actor, user: User) -> Result<UserBody, Problem> {
        Ok(self.many(actor, vec![user]).await?.pop().expect("one user in, one body out"))
    }

    /// `users` as the API shows them, in the same order.
    pub async fn many(&self, actor: &Actor, users: Vec<User>) -> Result<Vec<UserBody>, Problem> {
        let names: HashMap<LicenseKindId, LicenseName> = if users.iter().any(|user| user.license.is_some()) {
            self.licenses.names(actor).await?.into_iter().collect()
        } else {
            HashMap::new()
        };
        let invited: Vec<UserId> =
            users.iter().filter(|user| user.status == UserStatus::Invited).map(|user| user.id).collect();
        let invitations: HashMap<UserId, _> = if invited.is_empty() {
            HashMap::new()
        } else {
            let found = self.invitations.of_users(actor.tenant, &invited).await?;
            found.into_iter().map(|invitation| (invitation.user, invitation)).collect()
        };
        let ids: Vec<UserId> = users.iter().map(|user| user.id).collect();
        let (budgets, usage) = self.budgets.of_users(actor.tenant, &ids).await?;
        let mut budgets: HashMap<UserId, _> = budgets.into_iter().collect();
        let mut usage: HashMap<UserId, _> = usage.into_iter().collect();
        let now = self.clock.now();
        Ok(users
            .into_iter()
            .map(|user| {
                let license = user.license.map(|kind| LicenseRef {
                    id: kind.into(),
                    // A kind with a seat assigned cannot be deleted; a missing name is a kind
                    // deleted between the two reads, shown by id alone.
                    name: names.get(&kind).map(ToString::to_string).unwrap_or_default(),
                });
                let invitation =
                    (user.status == UserStatus::Invited).then(|| InvitationBody::new(invitations.get(&user.id), now));
                let budget = budgets.remove(&user.id).map(Into::into);
                let usage = usage.remove(&user.id).map(Into::into);
                UserBody::new(user, UserExtras { license, invitation, budget, usage })
            })
            .collect())
    }
}
