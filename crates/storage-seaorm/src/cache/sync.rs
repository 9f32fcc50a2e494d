//! How a store learns of other writers, so that its cache never serves what they changed.
//!
//! - PostgreSQL: a write transaction that changes something cached sends, just before it
//!   commits, a notification on the channel [`CHANNEL`] naming the users whose budgets changed,
//!   or `*` for anything (PostgreSQL delivers it when, and only if, the transaction commits).
//!   Each store listens on a connection of its own. When that connection is lost, nothing is
//!   served from memory until the store listens again, and everything kept is then forgotten
//!   (notifications sent meanwhile were missed).
//! - SQLite: a write transaction that changes something cached adds one to the change counter
//!   (the table `cache_changes`) before it commits, during this process's write turn, and the
//!   store remembers the value. Every [`POLL`] the store takes the write turn and reads the
//!   counter: any other value means that another process (the CLI, another server on the same
//!   file) wrote, and everything kept is forgotten.

use std::sync::Arc;
use std::time::Duration;

use roster_domain::UserId;
use sea_orm::sqlx::postgres::{PgConnectOptions, PgListener, PgPoolOptions};
use sea_orm::{ConnectionTrait as _, DatabaseConnection, DbBackend, Statement};
use tokio::sync::{Semaphore, oneshot};

use super::{AccessCache, Changed, WeakCache};
use crate::writes::Writes;

/// The PostgreSQL notification channel of cache invalidations.
pub(crate) const CHANNEL: &str = "roster_cache";

/// How often a SQLite store looks for other processes' writes.
pub(crate) const POLL: Duration = Duration::from_millis(100);

/// How long a PostgreSQL store waits before listening again after losing its connection.
const RETRY: Duration = Duration::from_secs(1);

/// At most this many users are named in one notification (PostgreSQL takes 8,000 bytes);
/// beyond, the notification says "anything".
const MAX_NAMED: usize = 200;

/// Adds to `writes` what tells the other instances' caches what the transaction changed: on
/// PostgreSQL a notification, on SQLite the change counter's increment (its new value is
/// [`Written::counter`](crate::writes::Written::counter)). Must be the last write.
pub(crate) fn announce(writes: &mut Writes, cache: &AccessCache, changed: Changed<'_>) {
    // An empty list of users would read as "anything" everywhere, this instance included.
    if changed.is_nothing() {
        return;
    }
    if writes.backend() == DbBackend::Postgres {
        let values = [CHANNEL.into(), payload(cache.instance(), changed).into()];
        writes.push_query("SELECT pg_notify(?, ?)".to_owned(), values);
    } else {
        writes.push("UPDATE cache_changes SET n = n + 1 RETURNING n".to_owned(), []);
    }
}

/// `<instance> *`, or `<instance> <user>,<user>,...`.
fn payload(instance: uuid::Uuid, changed: Changed<'_>) -> String {
    match changed {
        Changed::Metered(metered) => payload(instance, Changed::Budgets(&metered.users)),
        Changed::Budgets(users) if users.len() <= MAX_NAMED => {
            let mut text = String::with_capacity(37 + users.len() * 37);
            text.push_str(&instance.to_string());
            for (n, user) in users.iter().enumerate() {
                text.push(if n == 0 { ' ' } else { ',' });
                text.push_str(&user.as_uuid().to_string());
            }
            text
        }
        _ => format!("{instance} *"),
    }
}

/// What a notification asks of this cache: nothing when this instance sent it, the users it
/// names, or everything (also when it cannot be read).
fn apply(cache: &AccessCache, payload: &str) {
    let (sender, what) = payload.split_once(' ').unwrap_or(("", "*"));
    if sender.parse::<uuid::Uuid>().is_ok_and(|sender| sender == cache.instance()) {
        return;
    }
    let users: Option<Vec<UserId>> =
        what.split(',').map(|user| user.parse::<uuid::Uuid>().ok().map(UserId::from)).collect();
    match users {
        Some(users) => cache.invalidate_users(users),
        None => cache.invalidate_all(),
    }
}

/// Starts keeping `cache` in step with other writers to `db`, until the cache is dropped.
/// `writers` are the SQLite write turns of the store.
pub(crate) fn spawn(db: &DatabaseConnection, writers: Option<Arc<Semaphore>>, cache: &AccessCache) {
    let Some(stop) = cache.stopped() else { return };
    let weak = cache.downgrade();
    if db.get_database_backend() == DbBackend::Postgres {
        let options = db.get_postgres_connection_pool().connect_options();
        tokio::spawn(listen(options, weak, stop));
    } else if let Some(writers) = writers {
        tokio::spawn(poll(db.clone(), writers, weak, stop));
    }
}

/// Listens to [`CHANNEL`] on a connection of its own, reconnecting when it is lost.
async fn listen(options: Arc<PgConnectOptions>, cache: WeakCache, mut stop: oneshot::Receiver<()>) {
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .idle_timeout(None)
        .max_lifetime(None)
        .connect_lazy_with((*options).clone());
    loop {
        let subscribed = async {
            let mut listener = PgListener::connect_with(&pool).await?;
            listener.listen(CHANNEL).await?;
            Ok::<_, sea_orm::sqlx::Error>(listener)
        };
        let listener = tokio::select! {
            _ = &mut stop => return,
            subscribed = subscribed => subscribed,
        };
        match listener {
            Ok(mut listener) => {
                let Some(live) = cache.upgrade() else { return };
                live.set_live(true);
                drop(live);
                loop {
                    let next = tokio::select! {
                        _ = &mut stop => return,
                        next = listener.try_recv() => next,
                    };
                    let Some(live) = cache.upgrade() else { return };
                    match next {
                        Ok(Some(notification)) => apply(&live, notification.payload()),
                        // Reconnected at once: what was sent meanwhile is lost.
                        Ok(None) => {
                            tracing::warn!(
                                "cache invalidations: the listening connection was lost and replaced; forgot everything kept"
                            );
                            live.invalidate_all();
                        }
                        Err(error) => {
                            tracing::warn!(%error, "cache invalidations: listening failed; the cache is off until it listens again");
                            live.set_live(false);
                            break;
                        }
                    }
                }
            }
            Err(error) => {
                tracing::warn!(%error, "cache invalidations: cannot listen; the cache is off until it can");
                let Some(live) = cache.upgrade() else { return };
                live.set_live(false);
            }
        }
        tokio::select! {
            _ = &mut stop => return,
            () = tokio::time::sleep(RETRY) => {}
        }
    }
}

/// Reads SQLite's change counter every [`POLL`], during a write turn.
async fn poll(db: DatabaseConnection, writers: Arc<Semaphore>, cache: WeakCache, mut stop: oneshot::Receiver<()>) {
    loop {
        let read = async {
            let _turn = writers.acquire().await.expect("the writers' queue is never closed");
            let row =
                db.query_one_raw(Statement::from_string(DbBackend::Sqlite, "SELECT n FROM cache_changes")).await?;
            row.map(|row| row.try_get::<i64>("", "n")).transpose()
        };
        let read = tokio::select! {
            _ = &mut stop => return,
            read = read => read,
        };
        let Some(live) = cache.upgrade() else { return };
        match read {
            Ok(Some(n)) => {
                if live.counter().swap(n, std::sync::atomic::Ordering::AcqRel) != n || !live.is_live() {
                    live.set_live(true);
                }
            }
            Ok(None) => live.set_live(false),
            Err(error) => {
                tracing::warn!(%error, "cache invalidations: cannot read the change counter; the cache is off meanwhile");
                live.set_live(false);
            }
        }
        drop(live);
        tokio::select! {
            _ = &mut stop => return,
            () = tokio::time::sleep(POLL) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_notification_names_the_users_or_says_anything() {
        let instance = uuid::Uuid::now_v7();
        let users = [UserId::new(), UserId::new()];
        let named = payload(instance, Changed::Budgets(&users));
        assert_eq!(named, format!("{instance} {},{}", users[0].as_uuid(), users[1].as_uuid()));
        assert_eq!(payload(instance, Changed::Anything), format!("{instance} *"));
        let many = vec![UserId::new(); MAX_NAMED + 1];
        assert_eq!(payload(instance, Changed::Budgets(&many)), format!("{instance} *"));
        assert!(payload(instance, Changed::Budgets(&vec![UserId::new(); MAX_NAMED])).len() < 8000);
    }
}
