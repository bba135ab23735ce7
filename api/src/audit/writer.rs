//! The group-commit audit writer. Requests hand their entries to a queue served by a few
//! background tasks; a free task takes everything queued, writes it as one multi-row insert on
//! its own chain and then releases every waiting request. Under load, batches grow by
//! themselves while the other tasks commit, and a request never waits behind a commit that
//! started before it arrived if another task is free. A request that read sensitive data does
//! not answer until its entries are committed.
//!
//! Mutations write their entries inside their own transaction instead, on a *lane*: one of a
//! few chains per process, held exclusively by one transaction at a time and advanced only when
//! that transaction commits, so a rolled-back write never leaves a gap in a chain.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use carehub_entity::audit_entry;
use sea_orm::{ConnectionTrait, DatabaseBackend, DatabaseConnection, EntityTrait, Statement};
use tokio::sync::{mpsc, oneshot, Mutex, OwnedMutexGuard};

use super::chain::{to_row, AuditRecord, Head, Placed};

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
    /// Starts `readers` writer tasks on `db` (each with its own chain of read entries) and
    /// `lanes` mutation lanes. `instance` names the chains of this process.
    pub fn start(
        db: DatabaseConnection,
        instance: &str,
        flush: Duration,
        max_batch: usize,
        readers: usize,
        lanes: usize,
    ) -> Self {
        let (tx, rx) = mpsc::channel::<Job>(8192);
        let rx = Arc::new(Mutex::new(rx));
        let stats = Arc::new(AuditStats::default());
        for i in 0..readers.max(1) {
            let head = Head::new(format!("{instance}/r{i}"));
            tokio::spawn(run(
                db.clone(),
                rx.clone(),
                head,
                flush,
                max_batch.max(1),
                stats.clone(),
            ));
        }
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

/// Takes the next batch off the shared queue: the first job (waiting for one), whatever else
/// is queued, and, with a `flush` window, what arrives within it. `None` once the queue is
/// closed. The queue is held only while taking, never while writing.
async fn next_batch(
    rx: &Mutex<mpsc::Receiver<Job>>,
    flush: Duration,
    max_batch: usize,
) -> Option<Vec<Job>> {
    let mut rx = rx.lock().await;
    let first = rx.recv().await?;
    let mut count = first.records.len();
    let mut jobs = vec![first];
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
    Some(jobs)
}

async fn run(
    db: DatabaseConnection,
    rx: Arc<Mutex<mpsc::Receiver<Job>>>,
    mut head: Head,
    flush: Duration,
    max_batch: usize,
    stats: Arc<AuditStats>,
) {
    while let Some(jobs) = next_batch(&rx, flush, max_batch).await {
        let (records, dones): (Vec<Vec<AuditRecord>>, Vec<_>) =
            jobs.into_iter().map(|j| (j.records, j.done)).unzip();
        let records: Vec<AuditRecord> = records.into_iter().flatten().collect();
        let result = insert(&db, &head, &records).await;
        stats
            .queued
            .fetch_sub(records.len() as u64, Ordering::Relaxed);
        let result = match result {
            Ok(new_head) => {
                head = new_head;
                stats.batches.fetch_add(1, Ordering::Relaxed);
                stats
                    .entries
                    .fetch_add(records.len() as u64, Ordering::Relaxed);
                stats
                    .max_batch
                    .fetch_max(records.len() as u64, Ordering::Relaxed);
                Ok(())
            }
            Err(e) => {
                stats.failures.fetch_add(1, Ordering::Relaxed);
                tracing::error!(error = %e, entries = records.len(), "audit batch failed; sensitive data withheld");
                Err(e)
            }
        };
        for done in dones {
            let _ = done.send(result.clone());
        }
    }
}

/// Writes `records` after `head` as one atomic batch; returns the chain's new head.
async fn insert(
    db: &DatabaseConnection,
    head: &Head,
    records: &[AuditRecord],
) -> Result<Head, AuditError> {
    let (placed, next) = head.place(records);
    if db.get_database_backend() == DatabaseBackend::Postgres {
        insert_pg(db, &placed).await?;
        return Ok(next);
    }
    let txn = crate::db::begin_write(db)
        .await
        .map_err(|e| AuditError(e.to_string()))?;
    // Chunked so a batch stays under every backend's bind-parameter limit.
    for chunk in placed.chunks(500) {
        audit_entry::Entity::insert_many(chunk.iter().map(to_row))
            .exec(&txn)
            .await
            .map_err(|e| AuditError(e.to_string()))?;
    }
    txn.commit().await.map_err(|e| AuditError(e.to_string()))?;
    Ok(next)
}

/// One INSERT … SELECT over the rows of a JSON array (PostgreSQL).
const PG_INSERT: &str =
    "INSERT INTO audit_entries (writer, seq, prev_hash, hash, at, sub, agency, \
     role, org, client_id, purpose, lawful_basis, action, operation, entity, record_ids, child_id, \
     fields, groups, decision, request_id, client_addr, policy_version, region_code, reason) \
     SELECT writer, seq, prev_hash, hash, at, sub, agency, role, org, client_id, purpose, \
     lawful_basis, action, operation, entity, record_ids, child_id, fields, groups, decision, \
     request_id, client_addr, policy_version, region_code, reason \
     FROM json_to_recordset($1::json) AS x(writer varchar, seq bigint, prev_hash varchar, \
     hash varchar, at timestamptz, sub varchar, agency varchar, role varchar, org varchar, \
     client_id varchar, purpose varchar, lawful_basis varchar, action varchar, operation varchar, \
     entity varchar, record_ids json, child_id uuid, fields json, groups json, decision varchar, \
     request_id varchar, client_addr varchar, policy_version varchar, region_code bigint, \
     reason text)";

/// PostgreSQL: the whole batch as one JSON parameter expanded by `json_to_recordset`. One
/// statement text whatever the batch size, so it is prepared once per connection (a
/// multi-row VALUES list is a new statement for every batch size, parsed and planned anew
/// with 25 parameters per row), and no BEGIN/COMMIT round trips: one statement is atomic.
async fn insert_pg(db: &DatabaseConnection, placed: &[Placed<'_>]) -> Result<(), AuditError> {
    let body = serde_json::to_string(placed).map_err(|e| AuditError(e.to_string()))?;
    db.execute_raw(Statement::from_sql_and_values(
        DatabaseBackend::Postgres,
        PG_INSERT,
        [sea_orm::Value::from(body)],
    ))
    .await
    .map(|_| ())
    .map_err(|e| AuditError(e.to_string()))
}
