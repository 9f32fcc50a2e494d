//! `/v1/settings/oidc`: the OpenID Connect issuer (Microsoft Entra ID or any other) whose
//! tokens sign the tenant's users in. Administrators only.

use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};
use roster_domain::identity::{Audience, EntraTenantId, IssuerUrl, OidcSettings};
use roster_domain::services::OidcService;

use super::ApiTags;
use super::auth::BearerAuth;
use super::problem::{Problem, answer, from_request_error, problem_responses};
use super::text::Text;

/// The OIDC settings endpoints.
#[derive(Debug, Clone)]
pub struct OidcApi {
    pub oidc: OidcService,
}

/// The issuer a tenant trusts.
#[derive(Object, Debug)]
#[oai(rename = "OidcSettings", skip_serializing_if_is_none)]
pub struct OidcSettingsBody {
    /// The issuer (`iss` of its tokens).
    pub issuer: String,
    /// The audience tokens must be issued for (`aud`): Roster's client id at the issuer.
    pub audience: String,
    /// Microsoft Entra ID: the directory whose tokens are accepted (`tid`).
    pub entra_tenant_id: Option<String>,
    /// Whether people the issuer vouches for, unknown to the tenant, are created at their
    /// first sign-in (role `user`, no license).
    pub just_in_time: bool,
}

impl From<OidcSettings> for OidcSettingsBody {
    fn from(settings: OidcSettings) -> Self {
        Self {
            issuer: settings.issuer.as_str().to_owned(),
            audience: settings.audience.as_str().to_owned(),
            entra_tenant_id: settings.entra_tenant.map(|id| id.as_str().to_owned()),
            just_in_time: settings.just_in_time,
        }
    }
}

/// The issuer to trust.
#[derive(Object, Debug)]
#[oai(rename = "SetOidcSettings", deny_unknown_fields)]
pub struct SetOidcRequest {
    /// The issuer URL, exactly as its tokens carry it: `https://...` (`http://` only on a
    /// loopback host; non-public addresses are reached only where the operator allows them).
    /// May be omitted with `entra_tenant_id`: then
    /// `https://login.microsoftonline.com/{entra_tenant_id}/v2.0`.
    #[oai(validator(min_length = 1, max_length = 512))]
    pub issuer: Option<Text>,
    /// Roster's client (application) id at the issuer.
    #[oai(validator(min_length = 1, max_length = 255))]
    pub audience: Text,
    /// Microsoft Entra ID directory (tenant) id, a GUID: tokens must carry it in `tid`.
    #[oai(validator(min_length = 1, max_length = 64))]
    pub entra_tenant_id: Option<Text>,
    /// Create unknown people at their first sign-in (role `user`, no license); `false` when
    /// omitted: they get 403 `not_provisioned`.
    pub just_in_time: Option<bool>,
}

impl SetOidcRequest {
    /// The settings, checked.
    pub fn try_into_domain(self) -> Result<OidcSettings, Problem> {
        let invalid = |code: &str, e: &dyn std::fmt::Display| Problem::unprocessable(code, e.to_string());
        let entra = self
            .entra_tenant_id
            .map(|id| EntraTenantId::parse(id.as_str()))
            .transpose()
            .map_err(|e| invalid("invalid_entra_tenant_id", &e))?;
        let issuer = match (&self.issuer, &entra) {
            (Some(issuer), _) => IssuerUrl::parse(issuer.as_str()).map_err(|e| invalid("invalid_issuer", &e))?,
            (None, Some(entra)) => IssuerUrl::entra(entra),
            (None, None) => {
                return Err(Problem::unprocessable("invalid_issuer", "give an issuer, or an entra_tenant_id"));
            }
        };
        Ok(OidcSettings {
            issuer,
            audience: Audience::parse(self.audience.as_str()).map_err(|e| invalid("invalid_audience", &e))?,
            entra_tenant: entra,
            just_in_time: self.just_in_time.unwrap_or(false),
        })
    }
}

#[derive(ApiResponse, Debug)]
#[oai(bad_request_handler = "from_request_error")]
pub enum GetOidcResponse {
    /// The issuer the tenant trusts.
    #[oai(status = 200)]
    Ok(Json<OidcSettingsBody>),
    /// `unauthenticated`.
    #[oai(status = 401, content_type = "application/problem+json")]
    Unauthorized(Json<Problem>),
    /// `forbidden`: administrators only.
    #[oai(status = 403, content_type = "application/problem+json")]
    Forbidden(Json<Problem>),
    /// `oidc_not_configured`: the tenant trusts no issuer (built-in sign-in only).
    #[oai(status = 404, content_type = "application/problem+json")]
    NotFound(Json<Problem>),
    /// `internal_error`.
    #[oai(status = 500, content_type = "application/problem+json")]
    Internal(Json<Problem>),
}
problem_responses!(GetOidcResponse { 401 => Unauthorized, 403 => Forbidden, 404 => NotFound });

#[derive(ApiResponse, Debug)]
#[oai(bad_request_handler = "from_request_error")]
pub enum SetOidcResponse {
    /// Trusted from now on (the previous issuer's subject links are forgotten).
    #[oai(status = 200)]
    Ok(Json<OidcSettingsBody>),
    /// `invalid_request`: malformed JSON, a wrong type or an unknown field.
    #[oai(status = 400, content_type = "application/problem+json")]
    BadRequest(Json<Problem>),
    /// `unauthenticated`.
    #[oai(status = 401, content_type = "application/problem+json")]
    Unauthorized(Json<Problem>),
    /// `forbidden`: administrators only.
    #[oai(status = 403, content_type = "application/problem+json")]
    Forbidden(Json<Problem>),
    /// `concurrent_modification`, or `issuer_taken`: another tenant trusts this issuer with
    /// this audience (a token carries no tenant, so each pair belongs to one tenant).
    #[oai(status = 409, content_type = "application/problem+json")]
    Conflict(Json<Problem>),
    /// `payload_too_large`: the body exceeds 64 KiB.
    #[oai(status = 413, content_type = "application/problem+json")]
    PayloadTooLarge(Json<Problem>),
    /// `unsupported_media_type`: send `Content-Type: application/json`.
    #[oai(status = 415, content_type = "application/problem+json")]
    UnsupportedMediaType(Json<Problem>),
    /// `invalid_issuer`, `invalid_audience` or `invalid_entra_tenant_id`.
    #[oai(status = 422, content_type = "application/problem+json")]
    Unprocessable(Json<Problem>),
    /// `internal_error`.
    #[oai(status = 500, content_type = "application/problem+json")]
    Internal(Json<Problem>),
}
problem_responses!(SetOidcResponse {
    400 => BadRequest, 401 => Unauthorized, 403 => Forbidden, 409 => Conflict,
    413 => PayloadTooLarge, 415 => UnsupportedMediaType, 422 => Unprocessable,
});

#[derive(ApiResponse, Debug)]
#[oai(bad_request_handler = "from_request_error")]
pub enum RemoveOidcResponse {
    /// The tenant trusts no issuer now (idempotent): only built-in sign-in and API tokens work.
    #[oai(status = 204)]
    Removed,
    /// `unauthenticated`.
    #[oai(status = 401, content_type = "application/problem+json")]
    Unauthorized(Json<Problem>),
    /// `forbidden`: administrators only.
    #[oai(status = 403, content_type = "application/problem+json")]
    Forbidden(Json<Problem>),
    /// `concurrent_modification`.
    #[oai(status = 409, content_type = "application/problem+json")]
    Conflict(Json<Problem>),
    /// `internal_error`.
    #[oai(status = 500, content_type = "application/problem+json")]
    Internal(Json<Problem>),
}
problem_responses!(RemoveOidcResponse { 401 => Unauthorized, 403 => Forbidden, 409 => Conflict });

#[OpenApi(prefix_path = "/v1", tag = "ApiTags::Settings")]
impl OidcApi {
    /// Get the tenant's OpenID Connect issuer
    #[oai(path = "/settings/oidc", method = "get", operation_id = "getOidcSettings")]
    async fn get(&self, auth: BearerAuth) -> GetOidcResponse {
        match self.oidc.settings(&auth.0).await {
            Ok(Some(settings)) => GetOidcResponse::Ok(Json(settings.into())),
            Ok(None) => Problem::not_found("oidc_not_configured", "the tenant trusts no OpenID Connect issuer").into(),
            Err(error) => Problem::from(error).into(),
        }
    }

    /// Trust an OpenID Connect issuer
    ///
    /// Its tokens (RS256 or ES256, checked against its published keys, `iss`, `aud`, `exp`,
    /// `nbf`, and `tid` for Entra ID) then sign users in as `Authorization: Bearer <token>`.
    /// A token's `email` (or `preferred_username`) maps it to a user at the first sign-in; the
    /// issuer's subject (`oid`, else `sub`) is linked to that user from then on.
    #[oai(path = "/settings/oidc", method = "put", operation_id = "setOidcSettings")]
    async fn set(&self, auth: BearerAuth, body: Json<SetOidcRequest>) -> SetOidcResponse {
        answer(
            async {
                // Who may change the settings is told before what is wrong with the change.
                self.oidc.settings(&auth.0).await?;
                let settings = body.0.try_into_domain()?;
                let stored = self.oidc.set(&auth.0, Some(settings)).await?;
                let stored = stored.ok_or_else(|| Problem::internal(&"settings were set, none came back"))?;
                Ok(SetOidcResponse::Ok(Json(stored.into())))
            }
            .await,
        )
    }

    /// Stop trusting the issuer
    #[oai(path = "/settings/oidc", method = "delete", operation_id = "removeOidcSettings")]
    async fn remove(&self, auth: BearerAuth) -> RemoveOidcResponse {
        match self.oidc.set(&auth.0, None).await {
            Ok(_) => RemoveOidcResponse::Removed,
            Err(error) => Problem::from(error).into(),
        }
    }
}
