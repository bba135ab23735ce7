//! The outbox relay. Mutations insert change events with no cursor in their own transaction;
//! after commit they nudge the relay, which — alone across replicas, under an advisory lock on
//! PostgreSQL — numbers the newly visible rows in order and publishes them. Readers of
//! `changes(after:)` only see numbered rows, so a resumed feed never skips a late commit.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use carehub_entity::change_event;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseBackend, DatabaseConnection, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, Statement,
};
use tokio::sync::Notify;

use super::bus::{Core, Source};

/// A committed, numbered change as delivered to subscribers.
#[derive(Debug, Clone)]
pub struct PublishedEvent {
    pub cursor: i64,
    pub model: change_event::Model,
}

/// Numbers committed rows whenever nudged (and every 200 ms, which also picks up rows other
/// replicas' mutations committed), then hands them to the bus and to Redis.
pub(super) async fn run(db: DatabaseConnection, nudge: Arc<Notify>, core: Arc<Core>) {
    loop {
        let _ = tokio::time::timeout(Duration::from_millis(200), nudge.notified()).await;
        loop {
            match assign_cursors(&db).await {
                Ok(events) if events.is_empty() => break,
                Ok(events) => {
                    let full = events.len() >= BATCH as usize;
                    for e in events {
                        let e = Arc::new(e);
                        core.stats.relayed.fetch_add(1, Ordering::Relaxed);
                        // This replica numbered it, so this replica tells the others.
                        core.publish_remote(&e);
                        core.accept(e, Source::Relay);
                    }
                    if !full {
                        break;
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "outbox relay pass failed; retrying");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    break;
                }
            }
        }
    }
}

const BATCH: i64 = 1000;

/// Numbers the committed rows that have no cursor yet, in id order, and returns them.
pub async fn assign_cursors(
    db: &DatabaseConnection,
) -> Result<Vec<PublishedEvent>, sea_orm::DbErr> {
    let backend = db.get_database_backend();
    let txn = crate::db::begin_write(db).await?;
    if backend == DatabaseBackend::Postgres {
        let got = txn
            .query_one_raw(Statement::from_string(
                backend,
                "SELECT pg_try_advisory_xact_lock(4207001) AS ok",
            ))
            .await?
            .and_then(|r| r.try_get::<bool>("", "ok").ok())
            .unwrap_or(false);
        if !got {
            txn.rollback().await?;
            return Ok(Vec::new());
        }
    }
    let sql = format!(
        "UPDATE change_events SET cursor = s.base + s.rn FROM (\
           SELECT p.id, ROW_NUMBER() OVER (ORDER BY p.id) AS rn, \
                  (SELECT COALESCE(MAX(c.cursor), 0) FROM change_events c WHERE c.cursor IS NOT NULL) AS base \
           FROM change_events p WHERE p.cursor IS NULL ORDER BY p.id LIMIT {BATCH}) s \
         WHERE change_events.id = s.id"
    );
    let res = txn
        .execute_raw(Statement::from_string(backend, sql))
        .await?;
    let events = if res.rows_affected() > 0 {
        change_event::Entity::find()
            .filter(change_event::Column::Cursor.is_not_null())
            .order_by_desc(change_event::Column::Cursor)
            .limit(res.rows_affected())
            .all(&txn)
            .await?
    } else {
        Vec::new()
    };
    txn.commit().await?;
    let mut out: Vec<PublishedEvent> = events
        .into_iter()
        .map(|m| PublishedEvent {
            cursor: m.cursor.unwrap_or_default(),
            model: m,
        })
        .collect();
    out.sort_by_key(|e| e.cursor);
    Ok(out)
}
