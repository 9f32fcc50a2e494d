//! The import's limits and refusals: bodies over 32 MiB (announced or chunked), content types,
//! malformed options, an unknown license kind.

use roster_storage::on_both_databases;
use roster_storage::testing::TestDatabase;
use serde_json::json;

use crate::helpers::Reply;
use crate::helpers::{TestApp, plain, reply, report, spawn_app};

/// The import limit.
const LIMIT: usize = 32 * 1024 * 1024;

/// A file of `size` bytes: one user, then blank lines.
fn file_of(size: usize) -> Vec<u8> {
    let mut file = b"first@example.com\n".to_vec();
    file.resize(size, b'\n');
    file
}

/// `POST /v1/users/import` as the administrator with `file` sent as a chunked stream of 1 MiB
/// chunks (no `Content-Length`).
async fn import_chunked(app: &TestApp, file: Vec<u8>) -> Reply {
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> = file.chunks(1024 * 1024).map(|c| Ok(c.to_vec())).collect();
    let body = reqwest::Body::wrap_stream(futures::stream::iter(chunks));
    let request = app
        .client
        .post(format!("{}/v1/users/import", app.base))
        .bearer_auth(&app.admin_token)
        .header("content-type", "text/csv")
        .body(body);
    reply(request.send().await.expect("request sent")).await
}

/// Announces a `text/csv` body of `length` bytes to `POST /v1/users/import`, sends only its
/// first line, and returns the status line and the body of the answer: a refusal must not wait
/// for a body it will not read.
fn announce(app: &TestApp, length: usize) -> (String, serde_json::Value) {
    use std::io::{Read as _, Write as _};
    let address = app.base.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(address).expect("connected");
    stream.set_read_timeout(Some(std::time::Duration::from_secs(10))).unwrap();
    let head = format!(
        "POST /v1/users/import HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {}\r\n\
         Content-Type: text/csv\r\nContent-Length: {length}\r\n\r\nfirst@example.com\n",
        app.admin_token
    );
    stream.write_all(head.as_bytes()).expect("head sent");
    let mut answer = Vec::new();
    let mut buffer = [0; 4096];
    let (head, body) = loop {
        let read = stream.read(&mut buffer).expect("an answer before the body is sent");
        assert_ne!(read, 0, "closed without an answer: {}", String::from_utf8_lossy(&answer));
        answer.extend_from_slice(&buffer[..read]);
        let text = String::from_utf8_lossy(&answer).into_owned();
        let Some((head, body)) = text.split_once("\r\n\r\n") else { continue };
        let length = head.lines().find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("content-length").then(|| value.trim().parse::<usize>().unwrap())
        });
        if length.is_some_and(|length| body.len() >= length) {
            break (head.to_owned(), body.to_owned());
        }
    };
    let status = head.lines().next().unwrap().to_owned();
    assert!(head.to_ascii_lowercase().contains("content-type: application/problem+json"), "{head}");
    (status, serde_json::from_str(&body).expect("a JSON problem"))
}

async fn a_file_over_32_mib_is_refused_with_413_whether_its_length_is_announced_or_not(db: TestDatabase) {
    let app = spawn_app(&db).await;
    let (status, problem) = tokio::task::block_in_place(|| announce(&app, LIMIT + 1));
    assert_eq!(status, "HTTP/1.1 413 Payload Too Large", "{problem}");
    assert_eq!(problem["code"], "payload_too_large", "{problem}");
    import_chunked(&app, file_of(LIMIT + 1)).await.expect_problem(413, "payload_too_large");
    assert_eq!(app.roster().await, json!({}), "nothing imported");

    let at_limit = report(plain(), [1, 1, 0, 0, 0], json!([]));
    assert_eq!(app.import_file("", file_of(LIMIT)).await, at_limit, "exactly 32 MiB is accepted");
    let mut again = at_limit.clone();
    again["created"] = json!(0);
    again["skipped"] = json!(1);
    again["problems"] = json!([{ "line": 1, "email": "first@example.com", "reason": "already_exists" }]);
    assert_eq!(import_chunked(&app, file_of(LIMIT)).await.expect(200), &again, "also chunked");
}

async fn an_import_must_be_sent_as_text_csv(db: TestDatabase) {
    let app = spawn_app(&db).await;
    let url = format!("{}/v1/users/import", app.base);
    let send = |content_type: Option<&'static str>| {
        let mut request = app.client.post(&url).bearer_auth(&app.admin_token).body("ada@example.com\n");
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        async { reply(request.send().await.expect("request sent")).await }
    };
    for content_type in [None, Some("application/json"), Some("text/plain"), Some("multipart/form-data; boundary=x")] {
        let refused = send(content_type).await;
        refused.expect_problem(415, "unsupported_media_type");
        assert!(refused.body["detail"].as_str().unwrap().contains("text/csv"), "{refused:?}");
    }
    assert_eq!(app.roster().await, json!({}));
    let accepted = send(Some("TEXT/CSV; charset=utf-8")).await;
    assert_eq!(accepted.expect(200)["created"], 1);
}

async fn malformed_options_are_refused_and_an_unknown_license_is_not_found(db: TestDatabase) {
    let app = spawn_app(&db).await;
    for query in ["on_existing=merge", "role=boss", "license=Pro", "dry_run=maybe", "invite=yes"] {
        app.import_as(&app.admin_token, query, "ada@example.com\n").await.expect_problem(400, "invalid_request");
    }
    let unknown = format!("license={}", uuid::Uuid::now_v7());
    app.import_as(&app.admin_token, &unknown, "ada@example.com\n").await.expect_problem(404, "license_not_found");
    let theirs = app.another_tenant("globex", "boss@globex.test").await;
    let their_kind = theirs.create_license("Pro", 5).await;
    let query = format!("license={their_kind}");
    app.import_as(&app.admin_token, &query, "ada@example.com\n").await.expect_problem(404, "license_not_found");
    assert_eq!(app.roster().await, json!({}));
}

on_both_databases!(
    a_file_over_32_mib_is_refused_with_413_whether_its_length_is_announced_or_not,
    an_import_must_be_sent_as_text_csv,
    malformed_options_are_refused_and_an_unknown_license_is_not_found,
);
