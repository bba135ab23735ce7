//! The outbox relay. Mutations insert change events with no cursor in their own transaction;
//! after commit they nudge the relay, which — alone across replicas, under an advisory lock on
//! PostgreSQL — numbers the newly visible rows in order and publishes them. Readers of
//! `changes(after:)` only see numbered rows, so a resumed feed never skips a late commit.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use carehub_entity::change_event;
use sea_orm::{ConnectionTrait, DatabaseBackend, DatabaseConnection, EntityTrait, Statement};
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
    let mut events = match number_batch(&txn, backend).await {
        Ok(events) => events,
        Err(e) => {
            // A position behind the feed (restored data, a hand-made row) makes numbering
            // collide with an existing cursor: put the position back on the feed's end so the
            // next pass succeeds, and report this one.
            txn.rollback().await?;
            resync_position(db).await?;
            return Err(e);
        }
    };
    if let Some(last) = events.iter().filter_map(|m| m.cursor).max() {
        let sql = format!(
            "UPDATE outbox_position SET last_cursor = {} WHERE id = 1",
            crate::service::relations::placeholders(backend, 1, 1)
        );
        txn.execute_raw(Statement::from_sql_and_values(backend, sql, [last.into()]))
            .await?;
    }
    txn.commit().await?;
    events.sort_by_key(|m| m.cursor);
    Ok(events
        .into_iter()
        .map(|m| PublishedEvent {
            cursor: m.cursor.unwrap_or_default(),
            model: m,
        })
        .collect())
}

/// Numbers up to `BATCH` rows without a cursor, in id order, after the relay's position, and
/// returns them (one statement: the rows come back through `RETURNING`).
async fn number_batch(
    txn: &sea_orm::DatabaseTransaction,
    backend: DatabaseBackend,
) -> Result<Vec<change_event::Model>, sea_orm::DbErr> {
    use sea_orm::Iterable;
    // Unqualified names: SQLite's RETURNING may only name the updated table's columns, and
    // the subquery's columns (eid, rn, base) cannot clash with them on PostgreSQL.
    let columns: Vec<&str> = change_event::Column::iter()
        .map(|c| sea_orm::IdenStatic::as_str(&c))
        .collect();
    let sql = format!(
        "UPDATE change_events SET cursor = s.base + s.rn FROM (\
           SELECT p.id AS eid, ROW_NUMBER() OVER (ORDER BY p.id) AS rn, \
                  (SELECT last_cursor FROM outbox_position WHERE id = 1) AS base \
           FROM change_events p WHERE p.cursor IS NULL ORDER BY p.id LIMIT {BATCH}) s \
         WHERE change_events.id = s.eid RETURNING {}",
        columns.join(", ")
    );
    change_event::Entity::find()
        .from_raw_sql(Statement::from_string(backend, sql))
        .all(txn)
        .await
}

/// Sets the relay's position to the highest cursor handed out.
async fn resync_position(db: &DatabaseConnection) -> Result<(), sea_orm::DbErr> {
    db.execute_raw(Statement::from_string(
        db.get_database_backend(),
        "UPDATE outbox_position SET last_cursor = \
         (SELECT COALESCE(MAX(cursor), 0) FROM change_events) WHERE id = 1",
    ))
    .await?;
    Ok(())
}
