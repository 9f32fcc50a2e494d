//! A batch of usage events (use without a reservation), in one transaction: the budgets of its
//! users locked first (in user order, as every ledger transaction does), the events inserted
//! (a key already used inserts nothing: `Duplicate` when the event is a retry of the one
//! recorded, `KeyReused` otherwise), then budgets and counters written once.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use roster_domain::budget::{Credits, MAX_CREDITS};
use roster_domain::usage::{EventOutcome, IdempotencyKey, Metrics, UsageEvent};
use roster_domain::{StoreError, TenantId, Timestamp, UnexpectedError, UserId};
use sea_orm::{ConnectionTrait as _, DatabaseTransaction};

use crate::Store;
use crate::budgets::counters::Usage;
use crate::budgets::locked::{lock_budgets, write_budgets};
use crate::cache::Changed;
use crate::listed::{Cell, Listed, text_in, uuid_in};
use crate::transaction::{corrupt, raw, unexpected};
use crate::writes::Writes;

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
    // The events recorded before under the keys that inserted nothing: a retry is told from a
    // key reused for other use by comparing them.
    let taken = insertable.iter().map(|event| event.key.as_str()).filter(|key| !recorded.contains(*key));
    let earlier = recorded_events(&txn, tenant, taken.collect()).await?;
    // The events of this batch recorded now, by key: a key twice in a batch (which the service
    // refuses) is judged against its first event.
    let mut firsts: HashMap<&str, &UsageEvent> = HashMap::new();
    let mut usage = Usage::default();
    let mut judged = BTreeSet::new();
    let mut outcomes = Vec::with_capacity(events.len());
    for event in events {
        if !known.contains(&event.user) {
            outcomes.push(EventOutcome::UserNotFound);
            continue;
        }
        // Dated ahead of the server's clock (at most `MAX_EVENT_LEAD`: the service refuses
        // more), use counts as of now: the server's clock decides its period and its day, so
        // that use dated after a reset is not spent from the period that ends.
        let at = event.occurred_at.map_or(now, |at| at.min(now));
        // Taken from the set: the same key twice in a batch is recorded once.
        if !recorded.remove(event.key.as_str()) {
            let retry = match (firsts.get(event.key.as_str()), earlier.get(event.key.as_str())) {
                (Some(first), _) => event
                    .retries(&UsageEvent { occurred_at: Some(first.occurred_at.unwrap_or(now)), ..(*first).clone() }),
                (None, Some(stored)) => event.retries(stored),
                (None, None) => {
                    return Err(StoreError::Unexpected(UnexpectedError::new(
                        "a usage event's key was taken but its event is unreadable",
                    )));
                }
            };
            outcomes.push(if retry { EventOutcome::Duplicate } else { EventOutcome::KeyReused });
            continue;
        }
        firsts.insert(event.key.as_str(), event);
        if let Some(budget) = budgets.get_mut(&event.user) {
            *budget = budget.at(now);
            // Use dated before the current period counts in usage reports only: it was
            // not spent from this period's budget.
            if budget.spends(at, now) {
                let consumed = budget.consumed.get().saturating_add(event.credits.get());
                budget.consumed = Credits::new(consumed.min(MAX_CREDITS)).expect("within bounds");
            }
            judged.insert(event.user);
        }
        usage.add(tenant, event.user, at.date_naive(), event.credits.get(), &event.metrics);
        outcomes.push(EventOutcome::Recorded);
    }
    let mut writes = Writes::new(txn.get_database_backend());
    let judged: Vec<_> = judged.iter().map(|user| (*user, budgets[user])).collect();
    write_budgets(&mut writes, &judged, now);
    usage.write(&mut writes);
    let changed: Vec<UserId> = judged.iter().map(|(user, _)| *user).collect();
    let changed = Changed::Budgets(&changed);
    let written = txn.write(writes, changed).await.map_err(unexpected)?;
    txn.commit_written(written, changed).await.map_err(unexpected)?;
    Ok(outcomes)
}

/// Those of `users` who are users of `tenant`.
async fn users_of(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    users: &BTreeSet<UserId>,
) -> Result<BTreeSet<UserId>, StoreError> {
    let backend = txn.get_database_backend();
    let mut values = vec![tenant.as_uuid().into()];
    let listed = uuid_in(backend, "id", users.iter().map(|user| user.as_uuid()), &mut values);
    let sql = format!("SELECT id FROM users WHERE tenant_id = ? AND {listed}");
    let rows = txn.query_all_raw(raw(backend, &sql, values)).await.map_err(unexpected)?;
    rows.iter().map(|row| Ok(row.try_get::<uuid::Uuid>("", "id").map_err(unexpected)?.into())).collect()
}

/// The events of `tenant` recorded under `keys`, by key, each dated when it occurred.
async fn recorded_events(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    keys: BTreeSet<&str>,
) -> Result<HashMap<String, UsageEvent>, StoreError> {
    if keys.is_empty() {
        return Ok(HashMap::new());
    }
    let backend = txn.get_database_backend();
    let mut values = vec![tenant.as_uuid().into()];
    let listed = text_in(backend, "idempotency_key", keys, &mut values);
    let sql = format!(
        "SELECT idempotency_key, user_id, credits, metrics, occurred_at FROM usage_events \
         WHERE tenant_id = ? AND {listed}"
    );
    let rows = txn.query_all_raw(raw(backend, &sql, values)).await.map_err(unexpected)?;
    let mut events = HashMap::with_capacity(rows.len());
    for row in &rows {
        let key: String = row.try_get("", "idempotency_key").map_err(unexpected)?;
        let user: uuid::Uuid = row.try_get("", "user_id").map_err(unexpected)?;
        let credits: i64 = row.try_get("", "credits").map_err(unexpected)?;
        let metrics: String = row.try_get("", "metrics").map_err(unexpected)?;
        let metrics: BTreeMap<String, u64> = serde_json::from_str(&metrics).map_err(|e| corrupt("usage metrics", e))?;
        let event = UsageEvent {
            key: IdempotencyKey::parse(&key).map_err(|e| corrupt("idempotency key", e))?,
            user: user.into(),
            credits: Credits::new(credits).map_err(|e| corrupt("event credits", e))?,
            metrics: Metrics::new(metrics.iter().map(|(name, value)| (name.as_str(), *value)))
                .map_err(|e| corrupt("usage metrics", e))?,
            occurred_at: Some(row.try_get("", "occurred_at").map_err(unexpected)?),
        };
        events.insert(key, event);
    }
    Ok(events)
}

/// Inserts `events` in key order; returns the keys inserted (not those already used).
async fn insert_events(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    events: &[&UsageEvent],
    now: Timestamp,
) -> Result<HashSet<String>, StoreError> {
    const COLUMNS: [(&str, &str); 8] = [
        ("id", "uuid"),
        ("tenant_id", "uuid"),
        ("user_id", "uuid"),
        ("idempotency_key", "text"),
        ("credits", "bigint"),
        ("metrics", "text"),
        ("occurred_at", "timestamptz"),
        ("recorded_at", "timestamptz"),
    ];
    let mut sorted = events.to_vec();
    sorted.sort_by(|a, b| a.key.cmp(&b.key));
    let tail = "ON CONFLICT (tenant_id, idempotency_key) DO NOTHING RETURNING idempotency_key";
    let mut inserted = HashSet::with_capacity(events.len());
    for chunk in sorted.chunks(EVENTS_PER_STATEMENT) {
        let mut listed = Listed::new(&COLUMNS);
        for event in chunk {
            let metrics: BTreeMap<&str, u64> =
                event.metrics.iter().map(|(name, value)| (name.as_str(), value)).collect();
            let metrics = serde_json::to_string(&metrics).map_err(|e| corrupt("usage metrics", e))?;
            listed.push(vec![
                Cell::Uuid(uuid::Uuid::now_v7()),
                Cell::Uuid(tenant.as_uuid()),
                Cell::Uuid(event.user.as_uuid()),
                Cell::Text(event.key.as_str().to_owned()),
                Cell::Int(event.credits.get()),
                Cell::Text(metrics),
                Cell::Time(event.occurred_at.unwrap_or(now)),
                Cell::Time(now),
            ]);
        }
        let (sql, values) = listed.insert(txn.get_database_backend(), "usage_events", tail);
        let rows = txn.query_all_raw(raw(txn.get_database_backend(), &sql, values)).await.map_err(unexpected)?;
        for row in &rows {
            inserted.insert(row.try_get::<String>("", "idempotency_key").map_err(unexpected)?);
        }
    }
    Ok(inserted)
}
