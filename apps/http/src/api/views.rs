//! Users as the API shows them: with the name of the license each holds, looked up once per
//! response (a tenant has a handful of license kinds) and only when a user holds one.

use std::collections::HashMap;

use roster_domain::services::LicenseService;
use roster_domain::{Actor, LicenseKindId, LicenseName, User};

use super::models::{LicenseRef, UserBody};
use super::problem::Problem;

/// Renders users for an actor.
#[derive(Debug, Clone)]
pub struct UserViews {
    pub licenses: LicenseService,
}

impl UserViews {
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
        Ok(users
            .into_iter()
            .map(|user| {
                let license = user.license.map(|kind| LicenseRef {
                    id: kind.into(),
                    // A kind with a seat assigned cannot be deleted; a missing name is a kind
                    // deleted between the two reads, shown by id alone.
                    name: names.get(&kind).map(ToString::to_string).unwrap_or_default(),
                });
                UserBody::new(user, license)
            })
            .collect())
    }
}
