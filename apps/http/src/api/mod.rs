//! The HTTP API: poem-openapi operations under `/v1`, the OpenAPI document and the middleware.

// Parsing returns `Result<_, Problem>`, and an operation returns one variant of its response
// enum: either is built at most once per request, on its way to becoming the response, so its
// size (a user with their budget, a problem with its extension members) costs nothing worth a box.
#![allow(clippy::result_large_err, clippy::large_enum_variant)]

mod access;
mod audit;
mod auth;
pub mod budgets;
pub mod client;
pub mod document;
mod errors;
mod health;
mod invitations;
mod licenses;
mod me;
mod middleware;
mod models;
mod oidc;
pub mod problem;
mod service_credentials;
mod settings;
mod sign_in;
pub(crate) mod text;
pub(crate) mod transfer;
mod usage;
mod users;
pub(crate) mod views;

use std::sync::Arc;

use poem::middleware::{CatchPanic, RequestId, ReuseId};
use poem::web::Html;
use poem::{Endpoint, EndpointExt as _, IntoEndpoint, Response, Route, get, handler};
use poem_openapi::{OpenApiService, Tags};

use self::document::Document;
pub use self::oidc::{OidcSettingsBody, SetOidcRequest};
pub use self::text::Text;

use crate::state::AppState;

/// Groups of operations in the documentation.
#[derive(Tags)]
enum ApiTags {
    /// Users of the caller's tenant.
    Users,
    /// The caller.
    Me,
    /// Built-in sign-in (magic links, TOTP), sessions and MFA reset.
    SignIn,
    /// Invitations: invite, reinvite, copy link, revoke, accept.
    Invitations,
    /// License kinds and seats.
    Licenses,
    /// The tenant's numbers.
    Dashboard,
    /// The tenant's settings.
    Settings,
    /// Budgets and usage reports.
    Budgets,
    /// The AI gateway's metering: reservations and usage events (service credentials only).
    Usage,
    /// Credentials for machines such as the AI gateway.
    ServiceCredentials,
    /// The audit trail.
    Audit,
    /// Probes for orchestrators.
    Operations,
}

/// The largest JSON body accepted.
pub const MAX_JSON_BODY: usize = 64 * 1024;

/// The largest body of a batch of usage events (1000 events).
pub const MAX_EVENTS_BODY: usize = 1024 * 1024;

/// The largest import file: 32 MiB, some 300,000 rows of the usual format (email, country
/// code, phone), 150,000 lines of an export file.
pub const MAX_IMPORT_BODY: usize = 32 * 1024 * 1024;

/// The OpenAPI service with every operation.
#[allow(clippy::type_complexity)]
pub fn openapi(
    state: &AppState,
) -> OpenApiService<
    (
        users::UsersApi,
        transfer::TransferApi,
        me::MeApi,
        invitations::InvitationsApi,
        licenses::LicensesApi,
        access::AccessApi,
        budgets::BudgetsApi,
        usage::UsageApi,
        service_credentials::ServiceCredentialsApi,
        settings::SettingsApi,
        oidc::OidcApi,
        sign_in::SignInApi,
        audit::AuditApi,
        health::HealthApi,
    ),
    (),
> {
    let views = views::UserViews::of(state);
    let apis = (
        users::UsersApi { users: state.users.clone(), views: views.clone() },
        transfer::TransferApi { users: state.users.clone(), imports: state.imports.clone(), views: views.clone() },
        me::MeApi { users: state.users.clone(), views: views.clone() },
        invitations::InvitationsApi {
            invitations: state.invitations.clone(),
            views: views.clone(),
            limiter: Arc::new(invitations::AcceptLimiter::default()),
        },
        licenses::LicensesApi { licenses: state.licenses.clone(), views },
        access::AccessApi { access: state.access.clone() },
        budgets::BudgetsApi { budgets: state.budgets.clone(), clock: state.clock.clone() },
        usage::UsageApi { usage: state.usage.clone() },
        service_credentials::ServiceCredentialsApi { credentials: state.service_credentials.clone() },
        settings::SettingsApi { tenants: state.tenants.clone() },
        oidc::OidcApi { oidc: state.oidc.clone() },
        sign_in::SignInApi {
            sign_in: state.sign_in.clone(),
            requests: Arc::new(invitations::AcceptLimiter::default()),
            verifications: Arc::new(invitations::AcceptLimiter::default()),
        },
        audit::AuditApi { audit: state.audit.clone() },
        health::HealthApi { store: state.store.clone() },
    );
    OpenApiService::new(apis, "Roster", env!("CARGO_PKG_VERSION")).description(include_str!("openapi-description.md"))
}

#[handler]
fn serve_document(document: poem::web::Data<&Arc<Document>>) -> Response {
    Response::builder().content_type("application/json; charset=utf-8").body(document.json.clone())
}

/// The whole HTTP application: API, `/openapi.json`, Swagger UI at `/docs`, and the page that
/// mailed invitation links open (`/invitations/accept`) and the one mailed sign-in links open
/// (`/sign-in`), each of which posts the link's token to the API.
pub fn routes(state: &AppState, trusted_proxies: client::TrustedProxies) -> impl Endpoint + 'static {
    let trusted = Arc::new(trusted_proxies);
    let api = openapi(state);
    let raw = api.spec();
    let document = Arc::new(Document::from_spec(&raw));
    // The UI embeds the document it is given verbatim: show the served one.
    let docs = Html(api.swagger_ui_html().replace(&raw, &document.json));
    let docs = get(handler_fn(docs));
    Route::new()
        .nest("/", api)
        .at("/openapi.json", get(serve_document))
        .at("/docs", docs)
        .at("/invitations/accept", get(page(include_str!("accept.html"))))
        .at("/sign-in", get(page(include_str!("sign-in.html"))))
        .data(state.tokens.clone())
        .around(move |next, req| client::client_address(next, req, Arc::clone(&trusted)))
        .around(middleware::limit_body)
        .around(middleware::errors_as_problems)
        .with(CatchPanic::new().with_handler(|_| problem::Problem::internal(&"handler panicked").into_poem_response()))
        .data(document)
        .around(middleware::log_request)
        .with(RequestId::default().reuse_id(ReuseId::Use))
        .into_endpoint()
}

/// An endpoint that answers `page` to every request.
fn handler_fn(page: Html<String>) -> impl Endpoint<Output = Response> {
    poem::endpoint::make_sync(move |_| poem::IntoResponse::into_response(page.clone()))
}

/// One of the pages mailed links open, whose address carries the link's secret: never kept by
/// a cache, never sent on as a referrer, never framed, and allowed nothing but its own inline
/// script and style and calls to this API.
fn page(html: &'static str) -> impl Endpoint<Output = Response> {
    handler_fn(Html(html.to_owned())).with(
        poem::middleware::SetHeader::new()
            .overriding(poem::http::header::CACHE_CONTROL, "no-store")
            .overriding(poem::http::header::REFERRER_POLICY, "no-referrer")
            .overriding(poem::http::header::X_FRAME_OPTIONS, "DENY")
            .overriding(poem::http::header::X_CONTENT_TYPE_OPTIONS, "nosniff")
            .overriding(
                poem::http::header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; \
                 frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
            ),
    )
}
