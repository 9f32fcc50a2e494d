//! The CSV payloads: an import file in (`text/csv`, read whole within the body limit) and the
//! export out (`text/csv`, streamed).

use poem::{Body, IntoResponse, Request, RequestBody, Response};
use poem_openapi::payload::{ParsePayload, Payload};
use poem_openapi::registry::{MetaMediaType, MetaRequest, MetaSchema, MetaSchemaRef, Registry};
use poem_openapi::{ApiExtractor, ApiExtractorType, ExtractParamOptions};

use crate::api::problem::{Problem, ProblemError};

/// The media type of both payloads.
const CSV: &str = "text/csv";

fn csv_schema() -> MetaSchemaRef {
    MetaSchemaRef::Inline(Box::new(MetaSchema { format: Some("binary"), ..MetaSchema::new("string") }))
}

/// Whether `content_type` is `text/csv` (any parameters, any letter case).
fn is_csv(content_type: &str) -> bool {
    content_type.split(';').next().is_some_and(|essence| essence.trim().eq_ignore_ascii_case(CSV))
}

/// An import file: the bytes of a `text/csv` body.
#[derive(Debug)]
pub struct CsvBody(pub Vec<u8>);

impl Payload for CsvBody {
    const CONTENT_TYPE: &'static str = CSV;

    fn check_content_type(content_type: &str) -> bool {
        is_csv(content_type)
    }

    fn schema_ref() -> MetaSchemaRef {
        csv_schema()
    }
}

impl ParsePayload for CsvBody {
    const IS_REQUIRED: bool = true;

    async fn from_request(request: &Request, body: &mut RequestBody) -> poem::Result<Self> {
        Ok(Self(<Vec<u8> as poem::FromRequest>::from_request(request, body).await?))
    }
}

// By hand rather than with `impl_apirequest_for_payload!`, whose 415 says nothing of the type
// wanted: this one tells the client to send `text/csv`.
impl<'a> ApiExtractor<'a> for CsvBody {
    const TYPES: &'static [ApiExtractorType] = &[ApiExtractorType::RequestObject];

    type ParamType = ();
    type ParamRawType = ();

    fn register(registry: &mut Registry) {
        <Self as Payload>::register(registry);
    }

    fn request_meta() -> Option<MetaRequest> {
        Some(MetaRequest {
            description: None,
            content: vec![MetaMediaType { content_type: CSV, schema: csv_schema() }],
            required: true,
        })
    }

    async fn from_request(
        request: &'a Request,
        body: &mut RequestBody,
        _options: ExtractParamOptions<Self::ParamType>,
    ) -> poem::Result<Self> {
        match request.content_type() {
            Some(content_type) if is_csv(content_type) => <Self as ParsePayload>::from_request(request, body).await,
            other => {
                let sent = other.map_or_else(|| "no content type".to_owned(), |value| format!("`{value}`"));
                let detail = format!("the body must be a CSV file: send Content-Type: text/csv (sent: {sent})");
                let problem =
                    Problem::new(poem::http::StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type", detail);
                Err(ProblemError(problem).into())
            }
        }
    }
}

/// The export file, streamed.
#[derive(Debug)]
pub struct CsvFile(pub Body);

impl Payload for CsvFile {
    const CONTENT_TYPE: &'static str = "text/csv; charset=utf-8";

    fn schema_ref() -> MetaSchemaRef {
        csv_schema()
    }
}

impl IntoResponse for CsvFile {
    fn into_response(self) -> Response {
        Response::builder().content_type(Self::CONTENT_TYPE).body(self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::is_csv;

    #[test]
    fn csv_media_types() {
        for yes in ["text/csv", "TEXT/CSV", "text/csv; charset=utf-8", " text/csv ;header=absent"] {
            assert!(is_csv(yes), "{yes}");
        }
        for no in ["", "text/plain", "application/json", "text/csvx", "application/x-www-form-urlencoded"] {
            assert!(!is_csv(no), "{no}");
        }
    }
}
