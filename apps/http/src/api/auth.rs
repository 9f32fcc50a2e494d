//! Bearer authentication: `Authorization: Bearer <credential>` resolved into an [`Actor`].

use poem::Request;
use poem_openapi::SecurityScheme;
use poem_openapi::auth::Bearer;
use roster_domain::Actor;
use roster_domain::services::{Authenticated, TokenService};

use super::problem::{Problem, ProblemError};

/// A bearer credential: an API token (`rst_...`, the first administrator's is printed at first
/// start, `roster token create` issues more), a session (`rss_...`, from a magic link or an
/// accepted invitation), a service credential (`rsk_...`), or a token of the OpenID Connect
/// issuer the tenant trusts (a JWT).
#[derive(SecurityScheme, Debug)]
#[oai(ty = "bearer", checker = "authenticate")]
pub struct BearerAuth(pub Actor);

/// The same credentials as `BearerAuth`, and also a session that may only enroll in MFA (after
/// an administrator reset the user's MFA).
#[derive(SecurityScheme, Debug)]
#[oai(rename = "EnrollingSessionAuth", ty = "bearer", checker = "identify")]
pub struct SessionAuth(pub Authenticated);

fn tokens(req: &Request) -> poem::Result<&TokenService> {
    req.data::<TokenService>()
        .ok_or_else(|| ProblemError(Problem::internal(&"token service missing from the request data")).into())
}

async fn authenticate(req: &Request, bearer: Bearer) -> poem::Result<Actor> {
    tokens(req)?.authenticate(&bearer.token).await.map_err(|error| ProblemError(error.into()).into())
}

async fn identify(req: &Request, bearer: Bearer) -> poem::Result<Authenticated> {
    tokens(req)?.identify(&bearer.token).await.map_err(|error| ProblemError(error.into()).into())
}
