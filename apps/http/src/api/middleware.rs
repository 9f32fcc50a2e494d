//! Request body limit and access log.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::{Stream, StreamExt as _};

use poem::http::StatusCode;
use poem::{Body, Endpoint, IntoResponse as _, Request, Response};

use super::document::Document;
use super::problem::Problem;
use super::{MAX_EVENTS_BODY, MAX_IMPORT_BODY, MAX_JSON_BODY};

fn too_large(limit: usize) -> Response {
    Problem::new(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", format!("the body exceeds {limit} bytes"))
        .into_poem_response()
}

/// The largest body the operation at `path` accepts: [`MAX_EVENTS_BODY`] for a batch of usage
/// events, [`MAX_IMPORT_BODY`] for an import file, [`MAX_JSON_BODY`] for every other.
fn body_limit(path: &str) -> usize {
    match path.trim_end_matches('/') {
        "/v1/usage/events" => MAX_EVENTS_BODY,
        "/v1/users/import" => MAX_IMPORT_BODY,
        _ => MAX_JSON_BODY,
    }
}

/// How much of an oversized body is read and discarded before answering 413, and for how long.
/// A client still sending when the server closes would get a connection reset instead of the
/// answer; draining a bounded amount lets it read the 413. Bodies beyond this are cut off.
const DRAIN_LIMIT: usize = 1024 * 1024;
const DRAIN_TIME: Duration = Duration::from_secs(2);

/// Reads and drops up to [`DRAIN_LIMIT`] more bytes of `body`, for at most [`DRAIN_TIME`].
async fn drain<B: AsRef<[u8]>, E>(mut body: impl Stream<Item = Result<B, E>> + Unpin) {
    let mut drained = 0;
    let _ = tokio::time::timeout(DRAIN_TIME, async {
        while let Some(Ok(chunk)) = body.next().await {
            drained += chunk.as_ref().len();
            if drained > DRAIN_LIMIT {
                break;
            }
        }
    })
    .await;
}

/// Reads a body of unknown length up to `limit` bytes; `None` when it is longer.
async fn read_limited(body: Body, limit: usize) -> Result<Option<Vec<u8>>, std::io::Error> {
    let mut stream = Box::pin(body.into_bytes_stream());
    let mut buffer = Vec::new();
    while let Some(chunk) = stream.next().await {
        buffer.extend_from_slice(&chunk?);
        if buffer.len() > limit {
            drain(stream).await;
            return Ok(None);
        }
    }
    Ok(Some(buffer))
}

/// Refuses bodies above their operation's limit (see [`body_limit`]) with 413 for the
/// operations that read a body, whether its length is announced by `Content-Length` or not (chunked, HTTP/2), before any
/// handler buffers it. Other operations never read the body, so it is not limited there.
pub async fn limit_body<E: Endpoint>(next: E, mut req: Request) -> poem::Result<Response> {
    let reads_body = req.data::<Arc<Document>>().is_some_and(|d| d.takes_body(req.method().as_str(), req.uri().path()));
    if reads_body {
        let limit = body_limit(req.uri().path());
        let announced = req.header("content-length").and_then(|v| v.parse::<usize>().ok());
        match announced {
            Some(length) if length > limit => {
                if length <= DRAIN_LIMIT {
                    drain(Box::pin(req.take_body().into_bytes_stream())).await;
                }
                return Ok(too_large(limit));
            }
            Some(_) => {}
            None => match read_limited(req.take_body(), limit).await {
                Ok(Some(bytes)) => req.set_body(Body::from_vec(bytes)),
                Ok(None) => return Ok(too_large(limit)),
                Err(error) => {
                    return Ok(Problem::bad_request(format!("cannot read the body: {error}")).into_poem_response());
                }
            },
        }
    }
    next.call(req).await.map(|output| output.into_response())
}

/// Turns every error escaping the routes (unknown route, wrong method, ...) into a problem; a
/// 405 carries the `Allow` header the document gives for the path.
pub async fn errors_as_problems<E: Endpoint>(next: E, req: Request) -> poem::Result<Response> {
    let path = req.uri().path().to_owned();
    let document = req.data::<Arc<Document>>().cloned();
    match next.call(req).await {
        Ok(output) => Ok(output.into_response()),
        Err(error) => {
            let mut response = super::problem::from_poem_error(&error).into_poem_response();
            if response.status() == StatusCode::METHOD_NOT_ALLOWED {
                let allowed = document.as_deref().and_then(|d| d.allowed_methods(&path)).cloned().unwrap_or_default();
                let allow = allowed.into_iter().collect::<Vec<_>>().join(", ");
                if let Ok(value) = allow.parse() {
                    response.headers_mut().insert("allow", value);
                }
            }
            Ok(response)
        }
    }
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
