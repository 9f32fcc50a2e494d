//! `/v1/service-credentials`: bearer credentials for machines (the AI gateway), bound to the
//! tenant and to scopes. Administrators only; the secret is shown once.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Enum, Object, OpenApi};
use roster_domain::service::{Scope, ServiceCredential, ServiceName};
use roster_domain::services::ServiceCredentialService;
use uuid::Uuid;

use super::ApiTags;
use super::auth::BearerAuth;
use super::problem::{Problem, answer, from_request_error, problem_responses};
use super::text::Text;

/// The service-credential endpoints.
#[derive(Debug, Clone)]
pub struct ServiceCredentialsApi {
    pub credentials: ServiceCredentialService,
}

/// What a service credential may do.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[oai(rename = "Scope")]
pub enum ScopeDto {
    /// Reserve, commit and release credits; record usage events.
    #[oai(rename = "usage:write")]
    UsageWrite,
    /// Read any user's entitlements.
    #[oai(rename = "entitlements:read")]
    EntitlementsRead,
}

impl From<ScopeDto> for Scope {
    fn from(scope: ScopeDto) -> Self {
        match scope {
            ScopeDto::UsageWrite => Self::UsageWrite,
            ScopeDto::EntitlementsRead => Self::EntitlementsRead,
        }
    }
}

impl From<Scope> for ScopeDto {
    fn from(scope: Scope) -> Self {
        match scope {
            Scope::UsageWrite => Self::UsageWrite,
            Scope::EntitlementsRead => Self::EntitlementsRead,
        }
    }
}

/// A service credential to issue.
#[derive(Object, Debug)]
#[oai(rename = "CreateServiceCredential", deny_unknown_fields)]
pub struct CreateCredentialRequest {
    /// What it is for, e.g. `AI gateway`: 1 to 100 characters.
    #[oai(validator(min_length = 1, max_length = 100))]
    pub name: Text,
    /// What it may do: one or more scopes.
    #[oai(validator(min_items = 1, max_items = 2))]
    pub scopes: Vec<ScopeDto>,
}

/// A service credential (never its secret).
#[derive(Object, Debug)]
#[oai(rename = "ServiceCredential")]
pub struct CredentialBody {
    /// Id.
    pub id: Uuid,
    /// What it is for.
    pub name: String,
    /// What it may do.
    pub scopes: Vec<ScopeDto>,
    /// When it was issued.
    pub created_at: DateTime<Utc>,
}

impl From<ServiceCredential> for CredentialBody {
    fn from(credential: ServiceCredential) -> Self {
        Self {
            id: credential.id.into(),
            name: credential.name.as_str().to_owned(),
            scopes: credential.scopes.into_iter().map(Into::into).collect(),
            created_at: credential.created_at,
        }
    }
}

/// A credential just issued, with its secret (shown this once).
#[derive(Object, Debug)]
#[oai(rename = "IssuedServiceCredential")]
pub struct IssuedCredentialBody {
    /// The credential.
    pub credential: CredentialBody,
    /// The bearer secret: `Authorization: Bearer rsk_...`. Only its hash is stored.
    pub secret: String,
}

/// Every service credential of the tenant.
#[derive(Object, Debug)]
#[oai(rename = "ServiceCredentialList")]
pub struct CredentialListBody {
    /// The credentials, oldest first.
    pub items: Vec<CredentialBody>,
}

#[derive(ApiResponse, Debug)]
#[oai(bad_request_handler = "from_request_error")]
pub enum CreateCredentialResponse {
    /// Issued; the secret is in this answer only.
    #[oai(status = 201)]
    Created(Json<IssuedCredentialBody>),
    /// `invalid_request`: malformed JSON, a wrong type, an unknown field or scope, or no scope.
    #[oai(status = 400, content_type = "application/problem+json")]
    BadRequest(Json<Problem>),
    /// `unauthenticated`.
    #[oai(status = 401, content_type = "application/problem+json")]
    Unauthorized(Json<Problem>),
    /// `forbidden`: administrators only.
    #[oai(status = 403, content_type = "application/problem+json")]
    Forbidden(Json<Problem>),
    /// `concurrent_modification`.
    #[oai(status = 409, content_type = "application/problem+json")]
    Conflict(Json<Problem>),
    /// `payload_too_large`.
    #[oai(status = 413, content_type = "application/problem+json")]
    PayloadTooLarge(Json<Problem>),
    /// `unsupported_media_type`: send `Content-Type: application/json`.
    #[oai(status = 415, content_type = "application/problem+json")]
    UnsupportedMediaType(Json<Problem>),
    /// `invalid_name`.
    #[oai(status = 422, content_type = "application/problem+json")]
    Unprocessable(Json<Problem>),
    /// `internal_error`.
    #[oai(status = 500, content_type = "application/problem+json")]
    Internal(Json<Problem>),
}
problem_responses!(CreateCredentialResponse {
    400 => BadRequest, 401 => Unauthorized, 403 => Forbidden, 409 => Conflict, 413 => PayloadTooLarge,
    415 => UnsupportedMediaType, 422 => Unprocessable,
});

#[derive(ApiResponse, Debug)]
#[oai(bad_request_handler = "from_request_error")]
pub enum ListCredentialsResponse {
    /// The credentials.
    #[oai(status = 200)]
    Ok(Json<CredentialListBody>),
    /// `unauthenticated`.
    #[oai(status = 401, content_type = "application/problem+json")]
    Unauthorized(Json<Problem>),
    /// `forbidden`: administrators only.
    #[oai(status = 403, content_type = "application/problem+json")]
    Forbidden(Json<Problem>),
    /// `internal_error`.
    #[oai(status = 500, content_type = "application/problem+json")]
    Internal(Json<Problem>),
}
problem_responses!(ListCredentialsResponse { 401 => Unauthorized, 403 => Forbidden });

#[derive(ApiResponse, Debug)]
#[oai(bad_request_handler = "from_request_error")]
pub enum RevokeCredentialResponse {
    /// Revoked: it stops working at once.
    #[oai(status = 204)]
    Revoked,
    /// `invalid_request`: the id is not a UUID.
    #[oai(status = 400, content_type = "application/problem+json")]
    BadRequest(Json<Problem>),
    /// `unauthenticated`.
    #[oai(status = 401, content_type = "application/problem+json")]
    Unauthorized(Json<Problem>),
    /// `forbidden`: administrators only.
    #[oai(status = 403, content_type = "application/problem+json")]
    Forbidden(Json<Problem>),
    /// `service_credential_not_found`.
    #[oai(status = 404, content_type = "application/problem+json")]
    NotFound(Json<Problem>),
    /// `concurrent_modification`.
    #[oai(status = 409, content_type = "application/problem+json")]
    Conflict(Json<Problem>),
    /// `internal_error`.
    #[oai(status = 500, content_type = "application/problem+json")]
    Internal(Json<Problem>),
}
problem_responses!(RevokeCredentialResponse {
    400 => BadRequest, 401 => Unauthorized, 403 => Forbidden, 404 => NotFound, 409 => Conflict,
});

#[OpenApi(prefix_path = "/v1", tag = "ApiTags::ServiceCredentials")]
impl ServiceCredentialsApi {
    /// Issue a service credential
    ///
    /// A bearer secret for a machine such as the AI gateway, bound to your tenant and to its
    /// scopes: `usage:write` (reserve, commit, release, usage events) and `entitlements:read`
    /// (any user's entitlements). It has no other right. Shown once.
    #[oai(path = "/service-credentials", method = "post", operation_id = "createServiceCredential")]
    async fn create(&self, auth: BearerAuth, body: Json<CreateCredentialRequest>) -> CreateCredentialResponse {
        answer(
            async {
                let name = ServiceName::parse(body.0.name.as_str())
                    .map_err(|e| Problem::unprocessable("invalid_name", e.to_string()))?;
                let scopes: BTreeSet<Scope> = body.0.scopes.into_iter().map(Into::into).collect();
                let (credential, secret) = self.credentials.create(&auth.0, name, scopes).await?;
                let issued = IssuedCredentialBody { credential: credential.into(), secret: secret.expose().to_owned() };
                Ok(CreateCredentialResponse::Created(Json(issued)))
            }
            .await,
        )
    }

    /// List service credentials
    #[oai(path = "/service-credentials", method = "get", operation_id = "listServiceCredentials")]
    async fn list(&self, auth: BearerAuth) -> ListCredentialsResponse {
        match self.credentials.list(&auth.0).await {
            Ok(items) => ListCredentialsResponse::Ok(Json(CredentialListBody {
                items: items.into_iter().map(Into::into).collect(),
            })),
            Err(error) => Problem::from(error).into(),
        }
    }

    /// Revoke a service credential
    #[oai(path = "/service-credentials/:id", method = "delete", operation_id = "revokeServiceCredential")]
    async fn revoke(&self, auth: BearerAuth, id: Path<Uuid>) -> RevokeCredentialResponse {
        match self.credentials.revoke(&auth.0, id.0.into()).await {
            Ok(()) => RevokeCredentialResponse::Revoked,
            Err(error) => Problem::from(error).into(),
        }
    }
}
