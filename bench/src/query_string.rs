//! The query string of `GET /v1/users` for a domain [`UserQuery`].

use roster_domain::user::SortDirection;
use roster_domain::{UserQuery, UserSortField};

/// The query string of `GET /v1/users` for `query` (defaults left out).
pub fn http_params(query: &UserQuery) -> Vec<(&'static str, String)> {
    let mut params = Vec::new();
    let filter = &query.filter;
    if let Some(q) = &filter.q {
        params.push(("q", q.as_str().to_owned()));
    }
    if let Some(role) = filter.role {
        params.push(("role", role.as_str().to_owned()));
    }
    if let Some(status) = filter.status {
        params.push(("status", status.as_str().to_owned()));
    }
    if let Some(from) = filter.created_from {
        params.push(("created_from", from.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)));
    }
    if let Some(to) = filter.created_to {
        params.push(("created_to", to.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)));
    }
    if let Some(code) = &filter.referral_code {
        params.push(("referral_code", code.as_str().to_owned()));
    }
    if query.sort.field == UserSortField::Email {
        params.push(("sort", "email".to_owned()));
    }
    if query.sort.direction == SortDirection::Asc {
        params.push(("order", "asc".to_owned()));
    }
    if let Some(cursor) = &query.after {
        params.push(("cursor", cursor.encode(query.sort.direction)));
    }
    if query.limit != roster_domain::PageLimit::default() {
        params.push(("limit", query.limit.get().to_string()));
    }
    params
}
