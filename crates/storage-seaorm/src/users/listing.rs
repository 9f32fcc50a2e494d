//! The user list: filters, keyset pagination and the total, fast with a million users in a
//! tenant (see `bench/` for measurements).
//!
//! - A page walks the index of its order (`created_at, id` or `email`, possibly prefixed by role
//!   or status) from the cursor, so every page costs the same however deep.
//! - The `q` (contains) filter first asks the trigram index (pg_trgm; FTS5 on SQLite), or for one
//!   or two characters the `(tenant_id, search_text, id)` index, for up to
//!   [`ListLimits::candidates`] matching users. When there are no more, the page and its exact
//!   total come from those users alone; when there are more, matches are dense enough for the
//!   ordered index walk to find a page quickly.
//! - Likewise, any other filter matching at most [`ListLimits::candidates`] users (known from the
//!   total, computed first) pages over their ids: no planner estimate can then turn a rare value
//!   into a walk of the whole tenant.
//! - Totals: unfiltered or filtered by role and status only, they come from `user_counts`
//!   (exact, one indexed read); filtered by license only, from the seats assigned that
//!   `license_kinds` keeps. Otherwise users are counted up to [`ListLimits::count_cap`];
//!   beyond, the total is reported as a lower bound (`exact: false`).

use roster_domain::invitation::InvitationState;
use roster_domain::user::InvitationFilter;
use roster_domain::user::SortDirection;
use roster_domain::{
    LicenseKindId, Page, SearchText, StoreError, TenantId, Total, User, UserCursor, UserFilter, UserQuery,
    UserSortField, UserStatus,
};
use sea_orm::sea_query::{Alias, Asterisk, Expr, ExprTrait as _, Func, LikeExpr, Query};
use sea_orm::{
    ColumnTrait as _, ConnectionTrait as _, DatabaseConnection, DatabaseTransaction, DbBackend, EntityTrait as _,
    Order, QueryFilter as _, QueryOrder as _, QuerySelect as _, QueryTrait as _, Select, TransactionTrait as _,
};

use super::convert::from_row;
use super::counts;
use crate::entities::invitations;
use crate::entities::users::{Column, Entity};
use crate::transaction::{raw, unexpected};

/// The thresholds of the list's strategies (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListLimits {
    /// Up to how many matching users a page is picked from by id, after fetching them through
    /// an index (the trigram index for `q`, else the filter's): beyond, matches are dense enough
    /// for the order's index walk to find a page quickly. 5,000 by default.
    pub candidates: u64,
    /// Up to how many users a filtered total counts before reporting a lower bound. 100,000 by
    /// default.
    pub count_cap: u64,
}

impl Default for ListLimits {
    fn default() -> Self {
        Self { candidates: 5_000, count_cap: 100_000 }
    }
}

/// The shortest search the trigram index serves; shorter ones read `ix_users_tenant_search`.
const TRIGRAM: usize = 3;

/// `LIKE` pattern for "contains `text`", with the wildcards in `text` escaped by `\`.
fn contains_pattern(text: &str) -> String {
    let escaped = text.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
    format!("%{escaped}%")
}

fn contains(text: &SearchText) -> sea_orm::sea_query::SimpleExpr {
    Expr::col(Column::SearchText).like(LikeExpr::new(contains_pattern(text.as_str())).escape('\\'))
}

/// The users of `tenant` that pass `filter` except its `q`, unordered.
fn filtered(tenant: TenantId, filter: &UserFilter) -> Select<Entity> {
    let mut select = Entity::find().filter(Column::TenantId.eq(tenant.as_uuid()));
    if let Some(role) = filter.role {
        select = select.filter(Column::Role.eq(role.as_str()));
    }
    if let Some(status) = filter.status {
        select = select.filter(Column::Status.eq(status.as_str()));
    }
    if let Some(from) = filter.created_from {
        select = select.filter(Column::CreatedAt.gte(from));
    }
    if let Some(to) = filter.created_to {
        select = select.filter(Column::CreatedAt.lt(to));
    }
    if let Some(code) = &filter.referral_code {
        select = select.filter(Column::ReferralCode.eq(code.as_str()));
    }
    if let Some(kind) = filter.license {
        select = select.filter(Column::LicenseId.eq(kind.as_uuid()));
    }
    match filter.licensed {
        Some(true) => select = select.filter(Column::LicenseId.is_not_null()),
        Some(false) => select = select.filter(Column::LicenseId.is_null()),
        None => {}
    }
    if let Some(InvitationFilter { state, at }) = filter.invitation {
        let live = Query::select()
            .column(invitations::Column::UserId)
            .from(invitations::Entity)
            .and_where(invitations::Column::TenantId.eq(tenant.as_uuid()))
            .and_where(invitations::Column::ExpiresAt.gt(at))
            .to_owned();
        select = select.filter(Column::Status.eq(UserStatus::Invited.as_str()));
        select = match state {
            InvitationState::Pending => select.filter(Column::Id.in_subquery(live)),
            InvitationState::Expired => select.filter(Column::Id.not_in_subquery(live)),
        };
    }
    select
}

/// Restricts `select` to the rows after `cursor` in `direction`.
fn after(select: Select<Entity>, cursor: &UserCursor, direction: SortDirection) -> Select<Entity> {
    let beyond = |left: Expr, right: Expr| match direction {
        SortDirection::Asc => left.gt(right),
        SortDirection::Desc => left.lt(right),
    };
    match cursor {
        UserCursor::CreatedAt(at, id) => select.filter(beyond(
            Expr::tuple([Expr::col(Column::CreatedAt), Expr::col(Column::Id)]),
            Expr::tuple([Expr::val(*at), Expr::val(id.as_uuid())]),
        )),
        UserCursor::Email(email) => select.filter(beyond(Expr::col(Column::Email), Expr::val(email.as_str()))),
    }
}

/// Up to `limit` ids of users of `tenant` whose search text contains `text`: through the
/// trigram index for 3 characters or more, else by reading `ix_users_tenant_search` alone.
async fn search_candidates(
    db: &DatabaseTransaction,
    tenant: TenantId,
    text: &SearchText,
    limit: u64,
) -> Result<Vec<uuid::Uuid>, StoreError> {
    let trigrams = text.as_str().chars().count() >= TRIGRAM;
    if db.get_database_backend() == DbBackend::Postgres || !trigrams {
        return Entity::find()
            .select_only()
            .column(Column::Id)
            .filter(Column::TenantId.eq(tenant.as_uuid()))
            .filter(contains(text))
            .limit(limit)
            .into_tuple()
            .all(db)
            .await
            .map_err(unexpected);
    }
    // FTS5's trigram tokenizer turns a quoted phrase into "contains this substring", but folds
    // more letters alike than `LIKE` does (final and medial sigma, say): each candidate is
    // checked as the export and PostgreSQL check it, so that all of them find the same users.
    // `CROSS JOIN` keeps the index's matches the outer loop, whatever the statistics say of
    // the tenant's size (a walk of the tenant's users probing the index for each is far slower).
    let phrase = format!("\"{}\"", text.as_str().replace('"', "\"\""));
    let statement = raw(
        DbBackend::Sqlite,
        "SELECT k.user_id AS id FROM user_search s CROSS JOIN user_search_keys k ON k.seq = s.rowid
         CROSS JOIN users u ON u.id = k.user_id
         WHERE user_search MATCH ? AND k.tenant_id = ? AND u.search_text LIKE ? ESCAPE '\\' LIMIT ?",
        [
            phrase.into(),
            tenant.as_uuid().into(),
            contains_pattern(text.as_str()).into(),
            i64::try_from(limit).unwrap_or(i64::MAX).into(),
        ],
    );
    let rows = db.query_all_raw(statement).await.map_err(unexpected)?;
    rows.iter().map(|row| row.try_get::<uuid::Uuid>("", "id").map_err(unexpected)).collect()
}

/// How many rows `select` yields, counting at most `cap`.
async fn capped_count(db: &DatabaseTransaction, select: Select<Entity>, cap: u64) -> Result<Total, StoreError> {
    let inner = select.select_only().column(Column::Id).limit(cap + 1).into_query();
    let outer = Query::select()
        .expr_as(Func::count(Expr::col(Asterisk)), Alias::new("n"))
        .from_subquery(inner, Alias::new("capped"))
        .to_owned();
    let row = db.query_one(&outer).await.map_err(unexpected)?;
    let n: i64 = match row {
        Some(row) => row.try_get("", "n").map_err(unexpected)?,
        None => 0,
    };
    let n = u64::try_from(n).unwrap_or(0);
    Ok(if n > cap { Total { count: cap, exact: false } } else { Total { count: n, exact: true } })
}

/// The number of users matching `filter` when counters kept with every change tell it: a filter
/// by role and status only (`user_counts`), or by license only (seats assigned per kind: every
/// holder of a seat is counted in its kind, every other user holds none).
async fn counted_total(
    db: &DatabaseTransaction,
    tenant: TenantId,
    filter: &UserFilter,
) -> Result<Option<u64>, StoreError> {
    let others_unset = filter.q.is_none()
        && filter.created_from.is_none()
        && filter.created_to.is_none()
        && filter.referral_code.is_none()
        && filter.invitation.is_none();
    if !others_unset {
        return Ok(None);
    }
    let by_license = filter.license.is_some() || filter.licensed.is_some();
    let by_role_or_status = filter.role.is_some() || filter.status.is_some();
    if !by_license {
        return Ok(Some(counts::count(db, tenant, filter.role, filter.status).await?));
    }
    if by_role_or_status {
        return Ok(None);
    }
    Ok(Some(match (filter.license, filter.licensed) {
        (Some(_), Some(false)) => 0,
        (Some(kind), _) => seats_assigned(db, tenant, Some(kind)).await?,
        (None, Some(true)) => seats_assigned(db, tenant, None).await?,
        (None, _) => {
            let all = counts::count(db, tenant, None, None).await?;
            all.saturating_sub(seats_assigned(db, tenant, None).await?)
        }
    }))
}

/// The seats assigned of `kind` of `tenant`, or of all its kinds.
async fn seats_assigned(
    db: &DatabaseTransaction,
    tenant: TenantId,
    kind: Option<LicenseKindId>,
) -> Result<u64, StoreError> {
    let mut sql = String::from(
        "SELECT CAST(COALESCE(SUM(assigned), 0) AS BIGINT) AS assigned FROM license_kinds WHERE tenant_id = ?",
    );
    let mut values = vec![tenant.as_uuid().into()];
    if let Some(kind) = kind {
        sql.push_str(" AND id = ?");
        values.push(kind.as_uuid().into());
    }
    let row = db.query_one_raw(raw(db.get_database_backend(), &sql, values)).await.map_err(unexpected)?;
    let assigned: i64 = match row {
        Some(row) => row.try_get("", "assigned").map_err(unexpected)?,
        None => 0,
    };
    Ok(u64::try_from(assigned).unwrap_or(0))
}

/// Up to `limit` users of `tenant` passing `filter` (its `q` as a plain contains), oldest first,
/// after `after`: the export's walk along `(created_at, id)`.
pub(crate) async fn scan(
    db: &DatabaseConnection,
    tenant: TenantId,
    filter: &UserFilter,
    after_cursor: Option<UserCursor>,
    limit: u32,
) -> Result<Vec<User>, StoreError> {
    let mut select = filtered(tenant, filter);
    if let Some(text) = &filter.q {
        select = select.filter(contains(text));
    }
    if let Some(cursor) = &after_cursor {
        select = after(select, cursor, SortDirection::Asc);
    }
    let rows = select
        .order_by(Column::CreatedAt, Order::Asc)
        .order_by(Column::Id, Order::Asc)
        .limit(u64::from(limit))
        .all(db)
        .await
        .map_err(unexpected)?;
    rows.into_iter().map(from_row).collect()
}

/// One page of users and the number of users matching the filters.
pub(crate) async fn list(
    connection: &DatabaseConnection,
    limits: ListLimits,
    tenant: TenantId,
    query: &UserQuery,
) -> Result<Page<User, UserCursor>, StoreError> {
    // PostgreSQL plans these statements for their actual values: a cached generic plan would walk
    // a whole tenant for a rare role or search (planning costs a fraction of a millisecond, which
    // a list can afford; the hot paths keep their cached plans).
    let txn = connection.begin().await.map_err(unexpected)?;
    if txn.get_database_backend() == DbBackend::Postgres {
        txn.execute_unprepared("SET LOCAL plan_cache_mode = force_custom_plan").await.map_err(unexpected)?;
    }
    let page = list_in(&txn, limits, tenant, query).await?;
    txn.commit().await.map_err(unexpected)?;
    Ok(page)
}

async fn list_in(
    db: &DatabaseTransaction,
    limits: ListLimits,
    tenant: TenantId,
    query: &UserQuery,
) -> Result<Page<User, UserCursor>, StoreError> {
    let filter = &query.filter;
    let mut matching = filtered(tenant, filter);
    let mut by_id = false;
    if let Some(text) = &filter.q {
        let candidates = search_candidates(db, tenant, text, limits.candidates + 1).await?;
        if candidates.len() as u64 <= limits.candidates {
            matching = matching.filter(Column::Id.is_in(candidates));
            by_id = true;
        } else {
            matching = matching.filter(contains(text));
        }
    }

    let total = match counted_total(db, tenant, filter).await? {
        Some(count) => Total { count, exact: true },
        None => capped_count(db, matching.clone(), limits.count_cap).await?,
    };

    let filtered_at_all = filter != &UserFilter::default();
    if filtered_at_all && !by_id && total.exact && total.count <= limits.candidates {
        // Few matches: fetch them through the filter's index and page over them by id, so that
        // no plan walks the order's index looking for rare rows (a rare role sorted by email).
        let ids: Vec<uuid::Uuid> = matching
            .clone()
            .select_only()
            .column(Column::Id)
            .limit(limits.candidates)
            .into_tuple()
            .all(db)
            .await
            .map_err(unexpected)?;
        matching = matching.filter(Column::Id.is_in(ids));
    }

    let order = match query.sort.direction {
        SortDirection::Asc => Order::Asc,
        SortDirection::Desc => Order::Desc,
    };
    let mut page = match &query.after {
        Some(cursor) => after(matching, cursor, query.sort.direction),
        None => matching,
    };
    page = match query.sort.field {
        UserSortField::CreatedAt => page.order_by(Column::CreatedAt, order.clone()).order_by(Column::Id, order),
        UserSortField::Email => page.order_by(Column::Email, order),
    };
    let limit = u64::from(query.limit.get());
    let rows = page.limit(limit + 1).all(db).await.map_err(unexpected)?;

    let has_more = rows.len() as u64 > limit;
    let items = rows.into_iter().take(limit as usize).map(from_row).collect::<Result<Vec<_>, _>>()?;
    let next = if has_more { items.last().map(|last| UserCursor::after(last, query.sort)) } else { None };
    Ok(Page { items, next, total: Some(total) })
}
