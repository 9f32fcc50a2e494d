//! Request body limit and access log.

use std::time::Instant;

use poem::http::StatusCode;
use poem::{Body, Endpoint, IntoResponse as _, Request, Response};

use super::MAX_JSON_BODY;
use super::problem::Problem;

fn too_large() -> Response {
    Problem::new(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", format!("the body exceeds {MAX_JSON_BODY} bytes"))
        .into_poem_response()
}

/// Refuses bodies above [`MAX_JSON_BODY`] with 413, whether announced by `Content-Length` or
/// streamed, before any handler buffers them.
pub async fn limit_body<E: Endpoint>(next: E, mut req: Request) -> poem::Result<Response> {
    let announced = req.header("content-length").and_then(|v| v.parse::<usize>().ok());
    if announced.is_some_and(|length| length > MAX_JSON_BODY) {
        return Ok(too_large());
    }
    if announced.is_none() && req.header("transfer-encoding").is_some() {
        match req.take_body().into_bytes_limit(MAX_JSON_BODY).await {
            Ok(bytes) => req.set_body(Body::from_bytes(bytes)),
            Err(poem::error::ReadBodyError::PayloadTooLarge) => return Ok(too_large()),
            Err(error) => return Ok(Problem::bad_request(error.to_string()).into_poem_response()),
        }
    }
    next.call(req).await.map(|output| output.into_response())
}

/// Logs each request with its method, path, status and duration (inside the request-id span).
pub async fn log_request<E: Endpoint>(next: E, req: Request) -> poem::Result<Response> {
    let (method, path) = (req.method().clone(), req.uri().path().to_owned());
    let started = Instant::now();
    let result = next.call(req).await.map(|output| output.into_response());
    let status = match &result {
        Ok(response) => response.status(),
        Err(error) => error.status(),
    };
    let elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
    if status.is_server_error() {
        tracing::error!(%method, path, status = status.as_u16(), elapsed_ms, "request");
    } else {
        tracing::info!(%method, path, status = status.as_u16(), elapsed_ms, "request");
    }
    result
}
