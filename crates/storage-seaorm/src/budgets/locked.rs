//! Many users' budgets at once: locked with one statement, in user order (the order in which
//! every transaction locks budgets, so that concurrent ones never deadlock), and written back
//! with one.

use std::collections::{BTreeSet, HashMap};

use roster_domain::budget::Budget;
use roster_domain::{StoreError, Timestamp, UserId};
use sea_orm::{ConnectionTrait as _, DatabaseTransaction, DbBackend};

use super::{BUDGET_COLUMNS, from_row};
use crate::listed::{Cell, Listed, uuid_in};
use crate::transaction::{raw, unexpected};
use crate::writes::Writes;

/// Users to one statement: far below either database's limit of bound values.
const USERS_PER_STATEMENT: usize = 1000;

/// The budgets of those of `users` who have one, locked until commit (`FOR UPDATE` on
/// PostgreSQL; SQLite's write lock is the transaction's already).
pub(crate) async fn lock_budgets(
    txn: &DatabaseTransaction,
    users: &BTreeSet<UserId>,
) -> Result<HashMap<UserId, Budget>, StoreError> {
    let backend = txn.get_database_backend();
    let lock = if backend == DbBackend::Postgres { " FOR UPDATE" } else { "" };
    let users: Vec<UserId> = users.iter().copied().collect();
    let mut budgets = HashMap::with_capacity(users.len());
    for chunk in users.chunks(USERS_PER_STATEMENT) {
        let mut values = Vec::new();
        let listed = uuid_in(backend, "user_id", chunk.iter().map(|user| user.as_uuid()), &mut values);
        let sql = format!("SELECT user_id, {BUDGET_COLUMNS} FROM budgets WHERE {listed} ORDER BY user_id{lock}");
        for row in txn.query_all_raw(raw(backend, &sql, values)).await.map_err(unexpected)? {
            let user: uuid::Uuid = row.try_get("", "user_id").map_err(unexpected)?;
            budgets.insert(user.into(), from_row(&row, "")?);
        }
    }
    Ok(budgets)
}

/// Adds to `writes` what stores the consumption, reservations and period of each of `budgets`
/// (locked by [`lock_budgets`]); their policies stay as they are.
pub(crate) fn write_budgets(writes: &mut Writes, budgets: &[(UserId, Budget)], now: Timestamp) {
    const COLUMNS: [(&str, &str); 4] =
        [("user_id", "uuid"), ("consumed", "bigint"), ("reserved", "bigint"), ("period_start", "timestamptz")];
    for chunk in budgets.chunks(USERS_PER_STATEMENT) {
        let mut listed = Listed::new(&COLUMNS);
        for (user, budget) in chunk {
            listed.push(vec![
                Cell::Uuid(user.as_uuid()),
                Cell::Int(budget.consumed.get()),
                Cell::Int(budget.reserved.get()),
                Cell::Time(budget.period_start),
            ]);
        }
        let mut values = vec![now.into()];
        let source = listed.table(writes.backend(), "listed", &mut values);
        let sql = format!(
            "UPDATE budgets SET consumed = listed.consumed, reserved = listed.reserved, \
             period_start = listed.period_start, updated_at = ? FROM {source} WHERE budgets.user_id = listed.user_id"
        );
        writes.push(sql, values);
    }
}
