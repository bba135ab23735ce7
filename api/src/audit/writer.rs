//! The group-commit audit writer. Requests hand their entries to one background task, which
//! writes everything queued as one multi-row insert and then releases every waiting request;
//! under load, batches grow by themselves while the previous one commits. A request that read
//! sensitive data does not answer until its entries are committed.
//!
//! Mutations write their entries inside their own transaction instead, on a *lane*: one of a
//! few chains per process, held exclusively by one transaction at a time and advanced only when
//! that transaction commits, so a rolled-back write never leaves a gap in a chain.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use carehub_entity::audit_entry;
use sea_orm::{DatabaseConnection, EntityTrait};
use tokio::sync::{mpsc, oneshot, Mutex, OwnedMutexGuard};

use super::chain::{AuditRecord, Head};

/// The audit store could not record the entries.
#[derive(Debug, Clone, thiserror::Error)]
#[error("audit store unavailable: {0}")]
pub struct AuditError(pub String);

struct Job {
    records: Vec<AuditRecord>,
    done: oneshot::Sender<Result<(), AuditError>>,
}

/// Counters for metrics and the benchmark report.
#[derive(Debug, Default)]
pub struct AuditStats {
    pub batches: AtomicU64,
    pub entries: AtomicU64,
    pub max_batch: AtomicU64,
    pub failures: AtomicU64,
    pub queued: AtomicU64,
}

/// Handle to the writer task and the mutation lanes.
pub struct AuditWriter {
    tx: mpsc::Sender<Job>,
    lanes: Vec<Arc<Mutex<Head>>>,
    next_lane: AtomicU64,
    pub stats: Arc<AuditStats>,
}

/// A lane held by one transaction.
pub struct Lane {
    guard: OwnedMutexGuard<Head>,
}

impl Lane {
    /// Places records after the lane's head; insert the rows in the transaction, then call
    /// `advance` with the returned head once the transaction has committed.
    pub fn extend(&self, records: &[AuditRecord]) -> (Vec<audit_entry::ActiveModel>, Head) {
        self.guard.extend(records)
    }

    /// Moves the lane's head after a successful commit.
    pub fn advance(mut self, head: Head) {
        *self.guard = head;
    }
}

impl AuditWriter {
    /// Starts the writer task on `db`. `instance` names the chains of this process.
    pub fn start(
        db: DatabaseConnection,
        instance: &str,
        flush: Duration,
        max_batch: usize,
        lanes: usize,
    ) -> Self {
        let (tx, rx) = mpsc::channel::<Job>(8192);
        let stats = Arc::new(AuditStats::default());
        let head = Head::new(format!("{instance}/r"));
        tokio::spawn(run(db, rx, head, flush, max_batch.max(1), stats.clone()));
        let lanes = (0..lanes.max(1))
            .map(|i| Arc::new(Mutex::new(Head::new(format!("{instance}/w{i}")))))
            .collect();
        Self {
            tx,
            lanes,
            next_lane: AtomicU64::new(0),
            stats,
        }
    }

    /// Writes entries and waits until they are committed.
    pub async fn write(&self, records: Vec<AuditRecord>) -> Result<(), AuditError> {
        if records.is_empty() {
            return Ok(());
        }
        let (done, wait) = oneshot::channel();
        self.stats
            .queued
            .fetch_add(records.len() as u64, Ordering::Relaxed);
        self.tx
            .send(Job { records, done })
            .await
            .map_err(|_| AuditError("writer stopped".into()))?;
        wait.await
            .map_err(|_| AuditError("writer stopped".into()))?
    }

    /// Takes a free lane (or waits for one) for a mutation's transaction.
    pub async fn lane(&self) -> Lane {
        for l in &self.lanes {
            if let Ok(guard) = l.clone().try_lock_owned() {
                return Lane { guard };
            }
        }
        let i = self.next_lane.fetch_add(1, Ordering::Relaxed) as usize % self.lanes.len();
        Lane {
            guard: self.lanes[i].clone().lock_owned().await,
        }
    }
}

async fn run(
    db: DatabaseConnection,
    mut rx: mpsc::Receiver<Job>,
    mut head: Head,
    flush: Duration,
    max_batch: usize,
    stats: Arc<AuditStats>,
) {
    while let Some(first) = rx.recv().await {
        let mut count = first.records.len();
        let mut jobs = vec![first];
        // Take whatever is already queued; optionally wait a short window for more.
        let deadline = tokio::time::Instant::now() + flush;
        while count < max_batch {
            let next = match rx.try_recv() {
                Ok(j) => Some(j),
                Err(_) if flush.is_zero() => None,
                Err(_) => tokio::time::timeout_at(deadline, rx.recv())
                    .await
                    .ok()
                    .flatten(),
            };
            match next {
                Some(j) => {
                    count += j.records.len();
                    jobs.push(j);
                }
                None => break,
            }
        }
        let records: Vec<AuditRecord> = jobs
            .iter()
            .flat_map(|j| j.records.iter().cloned())
            .collect();
        let (rows, new_head) = head.extend(&records);
        let result = insert(&db, rows).await;
        stats
            .queued
            .fetch_sub(records.len() as u64, Ordering::Relaxed);
        match &result {
            Ok(()) => {
                head = new_head;
                stats.batches.fetch_add(1, Ordering::Relaxed);
                stats
                    .entries
                    .fetch_add(records.len() as u64, Ordering::Relaxed);
                stats
                    .max_batch
                    .fetch_max(records.len() as u64, Ordering::Relaxed);
            }
            Err(e) => {
                stats.failures.fetch_add(1, Ordering::Relaxed);
                tracing::error!(error = %e, entries = records.len(), "audit batch failed; sensitive data withheld");
            }
        }
        for j in jobs {
            let _ = j.done.send(result.clone());
        }
    }
}

async fn insert(
    db: &DatabaseConnection,
    rows: Vec<audit_entry::ActiveModel>,
) -> Result<(), AuditError> {
    let txn = crate::db::begin_write(db)
        .await
        .map_err(|e| AuditError(e.to_string()))?;
    // Chunked so a batch stays under every backend's bind-parameter limit.
    let mut rows = rows;
    while !rows.is_empty() {
        let rest = rows.split_off(rows.len().min(500));
        audit_entry::Entity::insert_many(rows)
            .exec(&txn)
            .await
            .map_err(|e| AuditError(e.to_string()))?;
        rows = rest;
    }
    txn.commit().await.map_err(|e| AuditError(e.to_string()))
}
