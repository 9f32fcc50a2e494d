//! Group commit: the reservations, commits and releases that this process's requests ask for
//! at the same time share transactions. A request joins a queue; a worker takes everything
//! queued (up to [`MAX_BATCH`]) and runs it as one [`batch`](super::batch), while the next
//! requests queue up behind it. Under light load a batch holds one operation and nothing
//! waits; under load, the cost of a transaction (its locks, round trips and commit) is shared
//! by many. Every answer is still committed before it is given.
//!
//! A batch that fails is run again one operation at a time, so that no operation fails for
//! another's sake. Correctness rests on the database's locks alone, as for a single operation:
//! the batches of several instances lock budgets, then reservations, then counters, each in
//! key order.

use std::panic::AssertUnwindSafe;
use std::sync::{Mutex, MutexGuard};

use futures::FutureExt as _;
use roster_domain::{StoreError, Timestamp, UnexpectedError};
use tokio::sync::oneshot;

use super::batch::{self, Failure, Op, Outcome};
use crate::Store;
use crate::transaction::is_deadlock;

/// The most operations in one transaction.
pub(super) const MAX_BATCH: usize = 128;

/// The queue of one store (shared by its clones). One batch runs at a time: SQLite has one
/// writer, and on PostgreSQL two or four at a time were no faster than one in the gateway
/// benchmark (the batches only got smaller: more statements for the same work).
#[derive(Debug, Default)]
pub(crate) struct Batches {
    queue: Mutex<Queue>,
}

#[derive(Debug, Default)]
struct Queue {
    pending: Vec<Pending>,
    running: bool,
}

#[derive(Debug)]
struct Pending {
    op: Op,
    now: Timestamp,
    reply: oneshot::Sender<Result<Outcome, StoreError>>,
}

impl Batches {
    fn queue(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Store {
    /// Runs `op`, judged at `now` (or, in a batch, at the latest `now` of its operations: when
    /// the batch runs), with whatever else is queued.
    pub(super) async fn submit(&self, op: Op, now: Timestamp) -> Result<Outcome, StoreError> {
        let (reply, answer) = oneshot::channel();
        let start = {
            let mut queue = self.batches.queue();
            queue.pending.push(Pending { op, now, reply });
            !std::mem::replace(&mut queue.running, true)
        };
        if start {
            // A task of its own: a request that goes away never abandons the others' batch.
            tokio::spawn(self.clone().work());
        }
        answer.await.unwrap_or_else(|_| Err(StoreError::Unexpected(UnexpectedError::new("a metering batch failed"))))
    }

    /// Runs batches until the queue is empty.
    async fn work(self) {
        loop {
            let batch: Vec<Pending> = {
                let mut queue = self.batches.queue();
                if queue.pending.is_empty() {
                    queue.running = false;
                    return;
                }
                let n = queue.pending.len().min(MAX_BATCH);
                queue.pending.drain(..n).collect()
            };
            if AssertUnwindSafe(self.run_batch(batch)).catch_unwind().await.is_err() {
                tracing::error!("a metering batch panicked; its requests were answered with an error");
            }
        }
    }

    async fn run_batch(&self, batch: Vec<Pending>) {
        if batch.len() > 1 {
            let now = batch.iter().map(|pending| pending.now).max().expect("a batch is never empty");
            let ops: Vec<&Op> = batch.iter().map(|pending| &pending.op).collect();
            for attempt in 1..=2 {
                match batch::run(self, &ops, now).await {
                    Ok(outcomes) => {
                        for (pending, outcome) in batch.into_iter().zip(outcomes) {
                            let _ = pending.reply.send(Ok(outcome));
                        }
                        return;
                    }
                    // A budget given meanwhile: the batch run again locks it in user order.
                    Err(Failure::BudgetGiven) if attempt == 1 => {}
                    Err(Failure::KeyTaken | Failure::BudgetGiven) => break,
                    Err(Failure::Store(error)) => {
                        tracing::warn!(%error, operations = batch.len(), "a metering batch failed; running its operations one by one");
                        break;
                    }
                }
            }
        }
        for pending in batch {
            let outcome = self.run_alone(&pending.op, pending.now).await;
            let _ = pending.reply.send(outcome);
        }
    }

    /// Runs `op` in a transaction of its own, again when a concurrent request took its
    /// idempotency key (the next attempt answers with that request's reservation) or when
    /// PostgreSQL broke a deadlock by failing it (see `rows::adjust_late_budgets`).
    async fn run_alone(&self, op: &Op, now: Timestamp) -> Result<Outcome, StoreError> {
        for _ in 0..3 {
            match batch::run(self, &[op], now).await {
                Ok(mut outcomes) => return Ok(outcomes.pop().expect("one outcome per operation")),
                Err(Failure::KeyTaken | Failure::BudgetGiven) => {}
                Err(Failure::Store(error)) if is_deadlock(&error) => {
                    tracing::warn!(%error, "a metering operation was chosen to break a deadlock; running it again");
                }
                Err(Failure::Store(error)) => return Err(error),
            }
        }
        Err(StoreError::Unexpected(UnexpectedError::new(
            "three attempts failed: an idempotency key taken but its reservation unreadable, budgets given meanwhile, or deadlocks",
        )))
    }
}
