//! Liveness and readiness probes.

use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};
use roster_storage::Store;

use super::ApiTags;

/// The probes.
#[derive(Debug, Clone)]
pub struct HealthApi {
    pub store: Store,
}

/// A probe's answer.
#[derive(Object, Debug)]
#[oai(rename = "Health")]
pub struct HealthBody {
    /// `ok`, or `unavailable` with the reason in `detail`.
    pub status: String,
    /// Why the service is not ready.
    #[oai(skip_serializing_if_is_none)]
    pub detail: Option<String>,
}

#[derive(ApiResponse, Debug)]
pub enum ReadyResponse {
    /// The database answers; the instance can take traffic.
    #[oai(status = 200)]
    Ready(Json<HealthBody>),
    /// The database does not answer.
    #[oai(status = 503)]
    Unavailable(Json<HealthBody>),
}

#[OpenApi(tag = "ApiTags::Operations")]
impl HealthApi {
    /// Liveness
    ///
    /// Answers as long as the process serves HTTP.
    #[oai(path = "/healthz", method = "get", operation_id = "healthz")]
    async fn healthz(&self) -> Json<HealthBody> {
        Json(HealthBody { status: "ok".into(), detail: None })
    }

    /// Readiness
    ///
    /// Answers 200 when the database answers, 503 otherwise.
    #[oai(path = "/readyz", method = "get", operation_id = "readyz")]
    async fn readyz(&self) -> ReadyResponse {
        match self.store.ping().await {
            Ok(()) => ReadyResponse::Ready(Json(HealthBody { status: "ok".into(), detail: None })),
            Err(error) => {
                tracing::warn!(%error, "readiness check failed");
                ReadyResponse::Unavailable(Json(HealthBody {
                    status: "unavailable".into(),
                    detail: Some("database unreachable".into()),
                }))
            }
        }
    }
}
