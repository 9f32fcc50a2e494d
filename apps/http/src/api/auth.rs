//! Bearer authentication: `Authorization: Bearer <token>` resolved into an [`Actor`].

use poem::Request;
use poem_openapi::SecurityScheme;
use poem_openapi::auth::Bearer;
use roster_domain::Actor;
use roster_domain::services::TokenService;

use super::problem::{Problem, ProblemError};

/// An API token: `Authorization: Bearer rst_...`. The first administrator's token is printed
/// at first start; `roster token create` issues more.
#[derive(SecurityScheme, Debug)]
#[oai(ty = "bearer", checker = "authenticate")]
pub struct BearerAuth(pub Actor);

async fn authenticate(req: &Request, bearer: Bearer) -> poem::Result<Actor> {
    let tokens = req
        .data::<TokenService>()
        .ok_or_else(|| ProblemError(Problem::internal(&"token service missing from the request data")))?;
    tokens.authenticate(&bearer.token).await.map_err(|error| ProblemError(error.into()).into())
}
