//! Helpers for CSV import and export: sending a file, reading the export (with a strict RFC 4180
//! reader of our own, so the format is checked independently of the product's CSV crate), the
//! expected import reports, and the users as a compact table.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use super::{Reply, TestApp, reply};

/// The export's columns, in order.
pub const EXPORT_COLUMNS: [&str; 12] = [
    "email",
    "name",
    "phone",
    "role",
    "status",
    "license",
    "budget_limit",
    "consumed",
    "created_at",
    "activated_at",
    "last_active_at",
    "invitation",
];

impl TestApp {
    /// `POST /v1/users/import?{query}` with `token` and `file` sent as `text/csv`.
    pub async fn import_as(&self, token: &str, query: &str, file: impl Into<reqwest::Body>) -> Reply {
        let request = self
            .client
            .post(format!("{}/v1/users/import?{query}", self.base))
            .bearer_auth(token)
            .header("content-type", "text/csv")
            .body(file);
        reply(request.send().await.expect("request sent")).await
    }

    /// Imports `file` with the options `query` as the administrator, expects 200, and returns
    /// the report.
    pub async fn import_file(&self, query: &str, file: impl Into<reqwest::Body>) -> Value {
        self.import_as(&self.admin_token, query, file).await.expect(200).clone()
    }

    /// `GET /v1/users/export?{query}` with `token`; a 200's body is the CSV text (a string).
    pub async fn export_as(&self, token: &str, query: &str) -> Reply {
        self.get(&format!("/v1/users/export?{query}"), token).await
    }

    /// The export for `query` as the administrator, as text.
    pub async fn export_text(&self, query: &str) -> String {
        let exported = self.export_as(&self.admin_token, query).await;
        exported.expect(200).as_str().unwrap_or_else(|| panic!("not CSV text: {exported:?}")).to_owned()
    }

    /// The export for `query` as the administrator: its lines after the header (which must be
    /// [`EXPORT_COLUMNS`]), each a map from column to cell.
    pub async fn export_rows(&self, query: &str) -> Vec<BTreeMap<String, String>> {
        export_table(&self.export_text(query).await)
    }

    /// Every user `GET /v1/users?{query}` lists, oldest first, page after page.
    pub async fn all_users(&self, query: &str) -> Vec<Value> {
        let mut users = Vec::new();
        let mut cursor = String::new();
        loop {
            let path = format!("/v1/users?sort=created_at&order=asc&limit=200&{query}{cursor}");
            let page = self.get(&path, &self.admin_token).await.expect(200).clone();
            users.extend(page["items"].as_array().unwrap().iter().cloned());
            match page["next_cursor"].as_str() {
                Some(next) => cursor = format!("&cursor={next}"),
                None => return users,
            }
        }
    }

    /// Every user but the first administrator, by email: name, phone, role, status and
    /// license (its name), as [`member`] writes them.
    pub async fn roster(&self) -> Value {
        let mut roster = Map::new();
        for user in self.all_users("").await {
            if user["id"] == self.admin_id.as_str() {
                continue;
            }
            let license = user["license"]["name"].clone();
            let fields = ["name", "phone", "role", "status"].map(|field| (field, user[field].clone()));
            let mut entry: Map<String, Value> = fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
            entry.insert("license".to_owned(), license);
            roster.insert(user["email"].as_str().unwrap().to_owned(), Value::Object(entry));
        }
        Value::Object(roster)
    }

    /// The first page of `/v1/audit` (200 events, newest first).
    pub async fn audit_page(&self) -> Value {
        self.get("/v1/audit?limit=200", &self.admin_token).await.expect(200).clone()
    }
}

/// A user as [`TestApp::roster`] shows them: active, unlicensed, with `role`, `name` and `phone`.
pub fn member(role: &str, name: Option<&str>, phone: Option<&str>) -> Value {
    json!({ "name": name, "phone": phone, "role": role, "status": "active", "license": null })
}

/// `member` with another `field` value.
pub fn with(mut member: Value, field: &str, value: &str) -> Value {
    member[field] = json!(value);
    member
}

/// The `format` of an import report.
pub fn layout(delimiter: &str, header: bool, ignored: &[&str], bom: bool) -> Value {
    json!({ "delimiter": delimiter, "header": header, "ignored_columns": ignored, "bom": bom })
}

/// The `format` of the usual file: commas, no header, no byte order mark.
pub fn plain() -> Value {
    layout("comma", false, &[], false)
}

/// An import report of a real run: `counts` are rows, created, updated, skipped and failed.
pub fn report(format: Value, counts: [u64; 5], problems: Value) -> Value {
    let [rows, created, updated, skipped, failed] = counts;
    json!({
        "dry_run": false, "format": format, "rows": rows, "created": created, "updated": updated,
        "skipped": skipped, "failed": failed, "problems": problems, "problems_omitted": 0,
    })
}

/// A skipped or failed row of a report, without detail.
pub fn problem(line: u64, email: &str, reason: &str) -> Value {
    json!({ "line": line, "email": email, "reason": reason })
}

/// `rows`, `created`, `updated`, `skipped` and `failed` of a report.
pub fn counts(report: &Value) -> [u64; 5] {
    ["rows", "created", "updated", "skipped", "failed"]
        .map(|field| report[field].as_u64().unwrap_or_else(|| panic!("no {field} in {report}")))
}

/// The lines after the header of an export, each a map from column to cell; the header must be
/// [`EXPORT_COLUMNS`].
pub fn export_table(text: &str) -> Vec<BTreeMap<String, String>> {
    let mut records = csv_records(text).into_iter();
    assert_eq!(records.next().expect("a header line"), EXPORT_COLUMNS, "{text}");
    records
        .map(|record| {
            assert_eq!(record.len(), EXPORT_COLUMNS.len(), "{record:?}");
            EXPORT_COLUMNS.iter().map(|column| (*column).to_owned()).zip(record).collect()
        })
        .collect()
}

/// The records of comma-separated text as RFC 4180 writes it: every line ends with CRLF (a lone
/// CR or LF outside quotes fails), cells holding a comma, quote or line end are quoted, a quote
/// inside doubled.
pub fn csv_records(text: &str) -> Vec<Vec<String>> {
    let mut records = Vec::new();
    let (mut record, mut cell) = (Vec::new(), String::new());
    let (mut quoted, mut was_quoted) = (false, false);
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                cell.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => cell.push(c),
            (false, '"') if cell.is_empty() && !was_quoted => (quoted, was_quoted) = (true, true),
            (false, ',') => {
                record.push(std::mem::take(&mut cell));
                was_quoted = false;
            }
            (false, '\r') => {
                assert_eq!(chars.next(), Some('\n'), "a CR not followed by LF in {text:?}");
                record.push(std::mem::take(&mut cell));
                records.push(std::mem::take(&mut record));
                was_quoted = false;
            }
            (false, c) => {
                assert!(c != '\n' && c != '"' && !was_quoted, "{c:?} out of place in {text:?}");
                cell.push(c);
            }
        }
    }
    assert!(record.is_empty() && cell.is_empty() && !quoted, "the last line does not end with CRLF: {text:?}");
    records
}
