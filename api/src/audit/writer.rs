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
use sea_orm::{ConnectionTrait, DatabaseBackend, DatabaseConnection, EntityTrait, Statement};
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
        let (records, dones): (Vec<Vec<AuditRecord>>, Vec<_>) =
            jobs.into_iter().map(|j| (j.records, j.done)).unzip();
        let records: Vec<AuditRecord> = records.into_iter().flatten().collect();
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
        for done in dones {
            let _ = done.send(result.clone());
        }
    }
}

async fn insert(
    db: &DatabaseConnection,
    rows: Vec<audit_entry::ActiveModel>,
) -> Result<(), AuditError> {
    if db.get_database_backend() == DatabaseBackend::Postgres {
        return insert_pg(db, &rows).await;
    }
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
async fn insert_pg(
    db: &DatabaseConnection,
    rows: &[audit_entry::ActiveModel],
) -> Result<(), AuditError> {
    fn v<T: Clone + Into<sea_orm::Value>>(a: &sea_orm::ActiveValue<T>) -> Option<T> {
        a.try_as_ref().cloned()
    }
    let items: Vec<serde_json::Value> = rows
        .iter()
        .map(|r| {
            serde_json::json!({
                "writer": v(&r.writer),
                "seq": v(&r.seq),
                "prev_hash": v(&r.prev_hash),
                "hash": v(&r.hash),
                "at": v(&r.at).map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)),
                "sub": v(&r.sub),
                "agency": v(&r.agency),
                "role": v(&r.role),
                "org": v(&r.org).flatten(),
                "client_id": v(&r.client_id).flatten(),
                "purpose": v(&r.purpose),
                "lawful_basis": v(&r.lawful_basis).flatten(),
                "action": v(&r.action),
                "operation": v(&r.operation).flatten(),
                "entity": v(&r.entity).flatten(),
                "record_ids": v(&r.record_ids),
                "child_id": v(&r.child_id).flatten(),
                "fields": v(&r.fields),
                "groups": v(&r.groups),
                "decision": v(&r.decision),
                "request_id": v(&r.request_id).flatten(),
                "client_addr": v(&r.client_addr).flatten(),
                "policy_version": v(&r.policy_version),
                "region_code": v(&r.region_code).flatten(),
                "reason": v(&r.reason).flatten(),
            })
        })
        .collect();
    let body = serde_json::Value::Array(items).to_string();
    db.execute_raw(Statement::from_sql_and_values(
        DatabaseBackend::Postgres,
        PG_INSERT,
        [sea_orm::Value::from(body)],
    ))
    .await
    .map(|_| ())
    .map_err(|e| AuditError(e.to_string()))
}
