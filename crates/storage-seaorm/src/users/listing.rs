//! The user list: filters, keyset pagination and the total, as one query builder used for both
//! the page and the count.

use roster_domain::user::SortDirection;
use roster_domain::{Page, StoreError, TenantId, User, UserCursor, UserFilter, UserQuery, UserSortField};
use sea_orm::sea_query::{Expr, ExprTrait as _, LikeExpr};
use sea_orm::{
    ColumnTrait as _, DatabaseConnection, EntityTrait as _, Order, PaginatorTrait as _, QueryFilter as _,
    QueryOrder as _, QuerySelect as _, Select,
};

use super::convert::from_row;
use crate::entities::users::{Column, Entity};
use crate::transaction::unexpected;

/// `LIKE` pattern for "contains `text`", with the wildcards in `text` escaped by `\`.
fn contains_pattern(text: &str) -> LikeExpr {
    let escaped = text.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
    LikeExpr::new(format!("%{escaped}%")).escape('\\')
}

/// The users of `tenant` that pass `filter`, unordered.
fn filtered(tenant: TenantId, filter: &UserFilter) -> Select<Entity> {
    let mut select = Entity::find().filter(Column::TenantId.eq(tenant.as_uuid()));
    if let Some(q) = &filter.q {
        select = select.filter(Expr::col(Column::SearchText).like(contains_pattern(q.as_str())));
    }
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

/// One page of users and the total matching the filters.
pub(crate) async fn list(
    db: &DatabaseConnection,
    tenant: TenantId,
    query: &UserQuery,
) -> Result<Page<User, UserCursor>, StoreError> {
    let order = match query.sort.direction {
        SortDirection::Asc => Order::Asc,
        SortDirection::Desc => Order::Desc,
    };
    let mut page = filtered(tenant, &query.filter);
    if let Some(cursor) = &query.after {
        page = after(page, cursor, query.sort.direction);
    }
    page = match query.sort.field {
        UserSortField::CreatedAt => page.order_by(Column::CreatedAt, order.clone()).order_by(Column::Id, order),
        UserSortField::Email => page.order_by(Column::Email, order),
    };
    let limit = u64::from(query.limit.get());
    let rows = page.limit(limit + 1).all(db).await.map_err(unexpected)?;
    let total = filtered(tenant, &query.filter).count(db).await.map_err(unexpected)?;

    let has_more = rows.len() as u64 > limit;
    let items = rows.into_iter().take(limit as usize).map(from_row).collect::<Result<Vec<_>, _>>()?;
    let next = if has_more { items.last().map(|last| UserCursor::after(last, query.sort)) } else { None };
    Ok(Page { items, next, total: Some(total) })
}
