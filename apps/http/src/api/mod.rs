//! The HTTP API: poem-openapi operations under `/v1`, the OpenAPI document and the middleware.

mod audit;
mod auth;
mod errors;
mod health;
mod me;
mod middleware;
mod models;
pub mod problem;
mod users;

use poem::middleware::{CatchPanic, RequestId, ReuseId};
use poem::{Endpoint, EndpointExt as _, IntoEndpoint, Route};
use poem_openapi::{OpenApiService, Tags};

use crate::state::AppState;

/// Groups of operations in the documentation.
#[derive(Tags)]
enum ApiTags {
    /// Users of the caller's tenant.
    Users,
    /// The caller.
    Me,
    /// The audit trail.
    Audit,
    /// Probes for orchestrators.
    Operations,
}

/// The largest JSON body accepted.
pub const MAX_JSON_BODY: usize = 64 * 1024;

/// The OpenAPI service with every operation.
#[allow(clippy::type_complexity)]
pub fn openapi(
    state: &AppState,
) -> OpenApiService<(users::UsersApi, me::MeApi, audit::AuditApi, health::HealthApi), ()> {
    let apis = (
        users::UsersApi { users: state.users.clone() },
        me::MeApi { users: state.users.clone() },
        audit::AuditApi { audit: state.audit.clone() },
        health::HealthApi { store: state.store.clone() },
    );
    OpenApiService::new(apis, "Roster", env!("CARGO_PKG_VERSION")).description(include_str!("openapi-description.md"))
}

/// The whole HTTP application: API, `/openapi.json`, Swagger UI at `/docs`.
pub fn routes(state: &AppState) -> impl Endpoint + 'static {
    let api = openapi(state);
    let spec = api.spec_endpoint();
    let docs = api.swagger_ui();
    Route::new()
        .nest("/", api)
        .at("/openapi.json", spec)
        .nest("/docs", docs)
        .data(state.tokens.clone())
        .around(middleware::limit_body)
        .catch_all_error(|error| async move { problem::from_poem_error(&error).into_poem_response() })
        .with(CatchPanic::new().with_handler(|_| problem::Problem::internal(&"handler panicked").into_poem_response()))
        .around(middleware::log_request)
        .with(RequestId::default().reuse_id(ReuseId::Use))
        .into_endpoint()
}
