//! Many users' budgets at once: locked with one statement, in user order (the order in which
//! every transaction locks budgets, so that concurrent ones never deadlock), and written back
//! with one.

use std::collections::{BTreeSet, HashMap};

use roster_domain::budget::Budget;
use roster_domain::{StoreError, Timestamp, UserId};
use sea_orm::{ConnectionTrait as _, DatabaseTransaction, DbBackend, Value};

use super::{BUDGET_COLUMNS, from_row};
use crate::transaction::{raw, unexpected};

/// Users to one statement: far below either database's limit of bound values.
const USERS_PER_STATEMENT: usize = 1000;

/// `?, ?, ...` for `n` values.
pub(crate) fn marks(n: usize) -> String {
    vec!["?"; n].join(", ")
}

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
        let sql = format!(
            "SELECT user_id, {BUDGET_COLUMNS} FROM budgets WHERE user_id IN ({}) ORDER BY user_id{lock}",
            marks(chunk.len())
        );
        let rows = txn
            .query_all_raw(raw(backend, &sql, chunk.iter().map(|user| user.as_uuid().into())))
            .await
            .map_err(unexpected)?;
        for row in &rows {
            let user: uuid::Uuid = row.try_get("", "user_id").map_err(unexpected)?;
            budgets.insert(user.into(), from_row(row, "")?);
        }
    }
    Ok(budgets)
}

/// Stores the consumption, reservations and period of each of `budgets` (locked by
/// [`lock_budgets`]); their policies stay as they are.
pub(crate) async fn write_budgets(
    txn: &DatabaseTransaction,
    budgets: &[(UserId, Budget)],
    now: Timestamp,
) -> Result<(), StoreError> {
    for chunk in budgets.chunks(USERS_PER_STATEMENT) {
        let sql = format!(
            "UPDATE budgets SET consumed = listed.consumed, reserved = listed.reserved, \
             period_start = listed.period_start, updated_at = ? \
             FROM (SELECT column1 AS user_id, column2 AS consumed, column3 AS reserved, column4 AS period_start \
                   FROM (VALUES {}) AS v) AS listed \
             WHERE budgets.user_id = listed.user_id",
            vec!["(?, ?, ?, ?)"; chunk.len()].join(", ")
        );
        let values = std::iter::once(now.into()).chain(chunk.iter().flat_map(|(user, budget)| -> [Value; 4] {
            [
                user.as_uuid().into(),
                budget.consumed.get().into(),
                budget.reserved.get().into(),
                budget.period_start.into(),
            ]
        }));
        txn.execute_raw(raw(txn.get_database_backend(), &sql, values)).await.map_err(unexpected)?;
    }
    Ok(())
}
