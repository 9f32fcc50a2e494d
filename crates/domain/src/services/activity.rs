//! `last_active_at`, kept cheaply: authenticated use is noted in memory, and the notes are
//! written in one batch now and then (the app flushes every few seconds and when it stops), never
//! a database write per request.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use crate::ports::UserRepository;
use crate::{StoreError, Timestamp, UserId};

/// Most users one flush writes; more wait for the next.
pub const FLUSH_LIMIT: usize = 10_000;

/// The users seen since the last flush, each with the last time seen. Clones share the notes.
#[derive(Clone)]
pub struct ActivityTracker {
    users: Arc<dyn UserRepository>,
    seen: Arc<Mutex<HashMap<UserId, Timestamp>>>,
}

impl std::fmt::Debug for ActivityTracker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ActivityTracker").field("pending", &self.pending()).finish()
    }
}

impl ActivityTracker {
    /// A tracker writing through `users`.
    pub fn new(users: Arc<dyn UserRepository>) -> Self {
        Self { users, seen: Arc::default() }
    }

    /// Notes that `user` acted at `at`: a map update, no I/O.
    pub fn record(&self, user: UserId, at: Timestamp) {
        let mut seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        let last = seen.entry(user).or_insert(at);
        *last = (*last).max(at);
    }

    /// Users noted and not yet written.
    #[must_use]
    pub fn pending(&self) -> usize {
        self.seen.lock().unwrap_or_else(PoisonError::into_inner).len()
    }

    /// Writes the notes (at most [`FLUSH_LIMIT`] users) and returns how many users it wrote.
    /// A stored `last_active_at` only moves forward.
    ///
    /// # Errors
    /// What storage returned; the notes are kept for the next flush then.
    pub async fn flush(&self) -> Result<usize, StoreError> {
        let batch: Vec<(UserId, Timestamp)> = {
            let mut seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
            let ids: Vec<UserId> = seen.keys().take(FLUSH_LIMIT).copied().collect();
            ids.into_iter().filter_map(|id| seen.remove(&id).map(|at| (id, at))).collect()
        };
        if batch.is_empty() {
            return Ok(0);
        }
        match self.users.record_activity(&batch).await {
            Ok(()) => Ok(batch.len()),
            Err(error) => {
                for (user, at) in batch {
                    self.record(user, at);
                }
                Err(error)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::{Duration, TimeZone as _, Utc};

    use super::*;
    use crate::ports::MockUserRepository;

    fn at(seconds: i64) -> Timestamp {
        Utc.with_ymd_and_hms(2026, 11, 23, 9, 0, 0).unwrap() + Duration::seconds(seconds)
    }

    fn sorted(mut batch: Vec<(UserId, Timestamp)>) -> Vec<(UserId, Timestamp)> {
        batch.sort();
        batch
    }

    #[tokio::test]
    async fn many_requests_of_a_user_are_one_write_with_the_latest_time() {
        let (ada, bob) = (UserId::new(), UserId::new());
        let mut users = MockUserRepository::new();
        let expected = sorted(vec![(ada, at(30)), (bob, at(5))]);
        users
            .expect_record_activity()
            .times(1)
            .withf(move |batch| sorted(batch.to_vec()) == expected)
            .returning(|_| Ok(()));
        let tracker = ActivityTracker::new(Arc::new(users));
        for second in [10, 30, 20] {
            tracker.record(ada, at(second));
        }
        tracker.record(bob, at(5));
        assert_eq!(tracker.pending(), 2);
        assert_eq!(tracker.flush().await.unwrap(), 2);
        assert_eq!(tracker.pending(), 0);
        assert_eq!(tracker.flush().await.unwrap(), 0, "nothing new: no write");
    }

    #[tokio::test]
    async fn a_failed_write_keeps_the_notes_for_the_next_flush() {
        let ada = UserId::new();
        let mut users = MockUserRepository::new();
        let mut calls = 0;
        users.expect_record_activity().times(2).returning(move |batch| {
            calls += 1;
            if calls == 1 {
                return Err(StoreError::Unexpected(crate::UnexpectedError::new("down")));
            }
            assert_eq!(batch, [(ada, at(40))], "the later use noted meanwhile wins");
            Ok(())
        });
        let tracker = ActivityTracker::new(Arc::new(users));
        tracker.record(ada, at(10));
        assert!(tracker.flush().await.is_err());
        tracker.record(ada, at(40));
        assert_eq!(tracker.flush().await.unwrap(), 1);
    }

    #[tokio::test]
    async fn a_flush_writes_at_most_its_limit_and_leaves_the_rest() {
        let mut users = MockUserRepository::new();
        users.expect_record_activity().times(2).returning(|batch| {
            assert!(batch.len() <= FLUSH_LIMIT);
            Ok(())
        });
        let tracker = ActivityTracker::new(Arc::new(users));
        for _ in 0..FLUSH_LIMIT + 5 {
            tracker.record(UserId::new(), at(0));
        }
        assert_eq!(tracker.flush().await.unwrap(), FLUSH_LIMIT);
        assert_eq!(tracker.flush().await.unwrap(), 5);
    }
}
