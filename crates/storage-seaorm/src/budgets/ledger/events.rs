//! A batch of usage events (use without a reservation), in one transaction: the budgets of its
//! users locked first (in user order, as every ledger transaction does), the events inserted
//! (a key already used inserts nothing: `Duplicate`), then budgets and counters written once.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use roster_domain::budget::{Credits, MAX_CREDITS};
use roster_domain::usage::{EventOutcome, UsageEvent};
use roster_domain::{StoreError, TenantId, Timestamp, UserId};
use sea_orm::{ConnectionTrait as _, DatabaseTransaction, Value};

use crate::Store;
use crate::budgets::counters::Usage;
use crate::budgets::locked::{lock_budgets, marks, write_budgets};
use crate::cache::Changed;
use crate::transaction::{corrupt, insert_sql, raw, unexpected};

/// Events to one statement.
const EVENTS_PER_STATEMENT: usize = 500;

pub(super) async fn record(
    store: &Store,
    tenant: TenantId,
    events: &[UsageEvent],
    now: Timestamp,
) -> Result<Vec<EventOutcome>, StoreError> {
    if events.is_empty() {
        return Ok(Vec::new());
    }
    let txn = store.begin_write().await.map_err(unexpected)?;
    let named: BTreeSet<UserId> = events.iter().map(|event| event.user).collect();
    let known = users_of(&txn, tenant, &named).await?;
    let mut budgets = lock_budgets(&txn, &known).await?;
    let insertable: Vec<&UsageEvent> = events.iter().filter(|event| known.contains(&event.user)).collect();
    let mut recorded = insert_events(&txn, tenant, &insertable, now).await?;
    let mut usage = Usage::default();
    let mut judged = BTreeSet::new();
    let outcomes = events
        .iter()
        .map(|event| {
            if !known.contains(&event.user) {
                return EventOutcome::UserNotFound;
            }
            // Taken from the set: the same key twice in a batch is recorded once.
            if !recorded.remove(event.key.as_str()) {
                return EventOutcome::Duplicate;
            }
            let at = event.occurred_at.unwrap_or(now);
            if let Some(budget) = budgets.get_mut(&event.user) {
                *budget = budget.at(now);
                // Use dated before the current period counts in usage reports only: it was
                // not spent from this period's budget.
                if at >= budget.period_start {
                    let consumed = budget.consumed.get().saturating_add(event.credits.get());
                    budget.consumed = Credits::new(consumed.min(MAX_CREDITS)).expect("within bounds");
                }
                judged.insert(event.user);
            }
            usage.add(tenant, event.user, at.date_naive(), event.credits.get(), &event.metrics);
            EventOutcome::Recorded
        })
        .collect();
    let written: Vec<_> = judged.iter().map(|user| (*user, budgets[user])).collect();
    write_budgets(&txn, &written, now).await?;
    usage.write(&txn).await?;
    let changed: Vec<UserId> = judged.into_iter().collect();
    txn.commit_changed(Changed::Budgets(&changed)).await.map_err(unexpected)?;
    Ok(outcomes)
}

/// Those of `users` who are users of `tenant`.
async fn users_of(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    users: &BTreeSet<UserId>,
) -> Result<BTreeSet<UserId>, StoreError> {
    let sql = format!("SELECT id FROM users WHERE tenant_id = ? AND id IN ({})", marks(users.len()));
    let values = std::iter::once(tenant.as_uuid().into()).chain(users.iter().map(|user| user.as_uuid().into()));
    let rows = txn.query_all_raw(raw(txn.get_database_backend(), &sql, values)).await.map_err(unexpected)?;
    rows.iter().map(|row| Ok(row.try_get::<uuid::Uuid>("", "id").map_err(unexpected)?.into())).collect()
}

/// Inserts `events` in key order; returns the keys inserted (not those already used).
async fn insert_events(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    events: &[&UsageEvent],
    now: Timestamp,
) -> Result<HashSet<String>, StoreError> {
    let mut sorted = events.to_vec();
    sorted.sort_by(|a, b| a.key.cmp(&b.key));
    let columns = ["id", "tenant_id", "user_id", "idempotency_key", "credits", "metrics", "occurred_at", "recorded_at"];
    let tail = "ON CONFLICT (tenant_id, idempotency_key) DO NOTHING RETURNING idempotency_key";
    let row = format!("({})", marks(columns.len()));
    let mut inserted = HashSet::with_capacity(events.len());
    for chunk in sorted.chunks(EVENTS_PER_STATEMENT) {
        let mut values: Vec<Value> = Vec::with_capacity(chunk.len() * columns.len());
        for event in chunk {
            let metrics: BTreeMap<&str, u64> =
                event.metrics.iter().map(|(name, value)| (name.as_str(), value)).collect();
            let metrics = serde_json::to_string(&metrics).map_err(|e| corrupt("usage metrics", e))?;
            values.extend([
                uuid::Uuid::now_v7().into(),
                tenant.as_uuid().into(),
                event.user.as_uuid().into(),
                event.key.as_str().into(),
                event.credits.get().into(),
                metrics.into(),
                event.occurred_at.unwrap_or(now).into(),
                now.into(),
            ]);
        }
        let sql = insert_sql("usage_events", &columns, &row, chunk.len(), tail);
        let rows = txn.query_all_raw(raw(txn.get_database_backend(), &sql, values)).await.map_err(unexpected)?;
        for row in &rows {
            inserted.insert(row.try_get::<String>("", "idempotency_key").map_err(unexpected)?);
        }
    }
    Ok(inserted)
}
