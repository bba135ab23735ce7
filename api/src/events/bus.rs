//! The event bus of one replica. Events enter from three sources — this replica's relay, Redis
//! (other replicas' relays) and, on PostgreSQL, a catch-up that reads numbered rows this replica
//! has not seen — and leave once each (deduplicated by cursor) to the all-events broadcast and,
//! through the router, to the subscription topics of [`super::hub`].

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use carehub_entity::{change_event, child};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ColumnTrait, DatabaseBackend, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect,
};
use tokio::sync::{broadcast, mpsc, Notify};
use uuid::Uuid;

use super::hub::{Delivery, Hub};
use super::relay::PublishedEvent;
use super::seen::Seen;
use super::stats::{EventStats, EventStatsSnapshot, RedisHealth};

/// Where an event reached this replica from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Relay,
    Redis,
    CatchUp,
    /// Handed in by a caller of [`EventBus::publish_local`].
    External,
}

/// How often the database catch-up runs on PostgreSQL.
const CATCH_UP_EVERY: Duration = Duration::from_secs(1);
/// Cursors read per catch-up pass.
const CATCH_UP_BATCH: u64 = 5000;

/// The state shared by the bus's tasks.
pub struct Core {
    tx: broadcast::Sender<Arc<PublishedEvent>>,
    seen: Mutex<Seen>,
    routed: mpsc::UnboundedSender<Arc<PublishedEvent>>,
    remote: Option<mpsc::Sender<Arc<PublishedEvent>>>,
    catch_up: Notify,
    pub hub: Hub,
    pub stats: Arc<EventStats>,
}

impl Core {
    /// Delivers an event unless this replica already has; `false` for a duplicate.
    pub fn accept(&self, ev: Arc<PublishedEvent>, source: Source) -> bool {
        let fresh = match self.seen.lock() {
            Ok(mut s) => s.insert(ev.cursor),
            Err(_) => true,
        };
        if !fresh {
            self.stats.duplicates.fetch_add(1, Ordering::Relaxed);
            return false;
        }
        self.stats.accepted.fetch_add(1, Ordering::Relaxed);
        match source {
            Source::Redis => self.stats.from_redis.fetch_add(1, Ordering::Relaxed),
            Source::CatchUp => self.stats.from_catch_up.fetch_add(1, Ordering::Relaxed),
            Source::Relay | Source::External => 0,
        };
        let _ = self.tx.send(ev.clone());
        let _ = self.routed.send(ev);
        true
    }

    /// Queues an event this replica numbered for the other replicas (no-op without Redis).
    pub fn publish_remote(&self, ev: &Arc<PublishedEvent>) {
        if let Some(out) = &self.remote {
            if out.try_send(ev.clone()).is_err() {
                self.stats
                    .redis_queue_dropped
                    .fetch_add(1, Ordering::Relaxed);
                self.stats.redis_publish_ok.store(false, Ordering::Relaxed);
            }
        }
    }

    /// Asks the database catch-up to run now (after Redis reconnects).
    pub fn request_catch_up(&self) {
        self.catch_up.notify_one();
    }

    fn watermark(&self) -> i64 {
        self.seen.lock().map(|s| s.watermark()).unwrap_or(0)
    }
}

/// Options of the bus beyond the database.
#[derive(Debug, Clone, Default)]
pub struct EventBusOptions {
    /// `REDIS_URL`: fan out across replicas through Redis pub/sub.
    pub redis_url: Option<String>,
    /// Prefix of Redis keys and channels (`CAREHUB_REDIS_PREFIX`); events use `{prefix}events`.
    pub redis_prefix: String,
    /// This replica's name (tags the messages it publishes).
    pub instance_id: String,
}

/// The event bus: the relay publishes here; subscriptions listen here.
pub struct EventBus {
    nudge: Arc<Notify>,
    core: Arc<Core>,
}

impl std::fmt::Debug for EventBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventBus")
            .field("subscribers", &self.core.tx.receiver_count())
            .field("redis", &self.core.stats.redis_health())
            .finish()
    }
}

impl EventBus {
    /// Starts the relay over `db` with the in-process bus only (the embedded default).
    pub fn start(db: DatabaseConnection) -> Self {
        let (bus, _) = Self::build(db, false);
        bus
    }

    /// Starts the relay, and the Redis fan-out when `options.redis_url` is set.
    pub fn start_with(db: DatabaseConnection, options: EventBusOptions) -> anyhow::Result<Self> {
        let redis = match options.redis_url.as_deref().filter(|u| !u.is_empty()) {
            Some(url) => Some(
                redis::Client::open(url)
                    .map_err(|e| anyhow::anyhow!("REDIS_URL is not a valid Redis URL: {e}"))?,
            ),
            None => None,
        };
        let (bus, outbox) = Self::build(db, redis.is_some());
        if let (Some(client), Some(outbox)) = (redis, outbox) {
            bus.core
                .stats
                .redis_configured
                .store(true, Ordering::Relaxed);
            let channel = super::fanout::channel(&options.redis_prefix);
            // Messages that arrive before the relay starts wait in the router's queue.
            super::fanout::spawn(
                client,
                channel,
                options.instance_id,
                bus.core.clone(),
                outbox,
            );
        }
        Ok(bus)
    }

    fn build(
        db: DatabaseConnection,
        redis: bool,
    ) -> (Self, Option<mpsc::Receiver<Arc<PublishedEvent>>>) {
        let nudge = Arc::new(Notify::new());
        let (tx, _) = broadcast::channel(4096);
        let (routed, routed_rx) = mpsc::unbounded_channel();
        let (remote, outbox) = if redis {
            let (t, r) = mpsc::channel(super::fanout::PUBLISH_QUEUE);
            (Some(t), Some(r))
        } else {
            (None, None)
        };
        let core = Arc::new(Core {
            tx,
            seen: Mutex::new(Seen::default()),
            routed,
            remote,
            catch_up: Notify::new(),
            hub: Hub::default(),
            stats: Arc::new(EventStats::default()),
        });
        tokio::spawn(start_tasks(db, nudge.clone(), core.clone(), routed_rx));
        (Self { nudge, core }, outbox)
    }

    /// Called after a mutation commits.
    pub fn notify_committed(&self) {
        self.nudge.notify_one();
    }

    /// Receives every event published from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<PublishedEvent>> {
        self.core.tx.subscribe()
    }

    /// Listens to changes of one record type (or `hub::ANY_ENTITY`) inside a region prefix
    /// (or `hub::ANY_REGION`).
    pub fn watch(&self, entity: &str, region_prefix: &str) -> broadcast::Receiver<Arc<Delivery>> {
        self.core.hub.watch(entity, region_prefix)
    }

    /// Publishes an event that arrived from elsewhere; dropped if this replica has it already.
    pub fn publish_local(&self, e: Arc<PublishedEvent>) {
        self.core.accept(e, Source::External);
    }

    /// The bus's counters (for `/metrics`).
    pub fn stats(&self) -> &Arc<EventStats> {
        &self.core.stats
    }

    /// A copy of the counters.
    pub fn snapshot(&self) -> EventStatsSnapshot {
        self.core.stats.snapshot()
    }

    /// `ok`, `degraded` or `disabled` (for `/readyz`).
    pub fn redis_health(&self) -> RedisHealth {
        self.core.stats.redis_health()
    }
}

/// Sets the watermark to the history already numbered, then starts the relay, the router and
/// (on PostgreSQL) the catch-up.
async fn start_tasks(
    db: DatabaseConnection,
    nudge: Arc<Notify>,
    core: Arc<Core>,
    routed: mpsc::UnboundedReceiver<Arc<PublishedEvent>>,
) {
    let mut backoff = super::fanout::Backoff::default();
    let start = loop {
        match max_cursor(&db).await {
            Ok(c) => break c,
            Err(e) => {
                tracing::warn!(error = %e, "event bus: cannot read the change feed position; retrying");
                tokio::time::sleep(backoff.next_delay()).await;
            }
        }
    };
    if let Ok(mut s) = core.seen.lock() {
        // Anything a fast Redis message marked meanwhile stays marked.
        s.advance_to(start);
    }
    tokio::spawn(route(db.clone(), core.clone(), routed));
    if db.get_database_backend() == DatabaseBackend::Postgres {
        tokio::spawn(catch_up_loop(db.clone(), core.clone()));
    }
    super::relay::run(db, nudge, core).await;
}

async fn max_cursor(db: &DatabaseConnection) -> Result<i64, sea_orm::DbErr> {
    let max: Option<Option<i64>> = change_event::Entity::find()
        .select_only()
        .column_as(Expr::col(change_event::Column::Cursor).max(), "m")
        .into_tuple()
        .one(db)
        .await?;
    Ok(max.flatten().unwrap_or(0))
}

/// Wraps events into deliveries (finding the region of those that carry none) and sends them
/// to their topics.
async fn route(
    db: DatabaseConnection,
    core: Arc<Core>,
    mut routed: mpsc::UnboundedReceiver<Arc<PublishedEvent>>,
) {
    let mut regions: HashMap<Uuid, i64> = HashMap::new();
    while let Some(ev) = routed.recv().await {
        let mut region = ev.model.region_code;
        if region.is_none() {
            if let Some(child) = ev.model.child_id {
                region = match regions.get(&child) {
                    Some(r) => Some(*r),
                    None => {
                        let found: Option<i64> = child::Entity::find_by_id(child)
                            .select_only()
                            .column(child::Column::ResidenceRegionCode)
                            .into_tuple()
                            .one(&db)
                            .await
                            .unwrap_or_else(|e| {
                                tracing::warn!(error = %e, "event router: cannot read a child's region");
                                None
                            });
                        if let Some(r) = found {
                            if regions.len() > 100_000 {
                                regions.clear();
                            }
                            regions.insert(child, r);
                        }
                        found
                    }
                };
            }
        }
        core.hub.dispatch(&Arc::new(Delivery::new(ev, region)));
    }
}

/// Every second (and at once after Redis reconnects), delivers numbered rows this replica has
/// not seen: events other replicas numbered while Redis was down or a publish failed.
async fn catch_up_loop(db: DatabaseConnection, core: Arc<Core>) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(CATCH_UP_EVERY) => {}
            _ = core.catch_up.notified() => {}
        }
        if let Err(e) = catch_up(&db, &core).await {
            tracing::warn!(error = %e, "event catch-up from the database failed; retrying");
        }
    }
}

async fn catch_up(db: &DatabaseConnection, core: &Core) -> Result<(), sea_orm::DbErr> {
    let from = core.watermark();
    let cursors: Vec<Option<i64>> = change_event::Entity::find()
        .select_only()
        .column(change_event::Column::Cursor)
        .filter(change_event::Column::Cursor.gt(from))
        .order_by_asc(change_event::Column::Cursor)
        .limit(CATCH_UP_BATCH)
        .into_tuple()
        .all(db)
        .await?;
    let cursors: Vec<i64> = cursors.into_iter().flatten().collect();
    let Some(last) = cursors.last().copied() else {
        return Ok(());
    };
    let missing: Vec<i64> = match core.seen.lock() {
        Ok(s) => cursors
            .iter()
            .copied()
            .filter(|c| !s.contains(*c))
            .collect(),
        Err(_) => Vec::new(),
    };
    if !missing.is_empty() {
        let rows = change_event::Entity::find()
            .filter(change_event::Column::Cursor.is_in(missing))
            .order_by_asc(change_event::Column::Cursor)
            .all(db)
            .await?;
        for m in rows {
            let cursor = m.cursor.unwrap_or_default();
            core.accept(
                Arc::new(PublishedEvent { cursor, model: m }),
                Source::CatchUp,
            );
        }
    }
    // Cursors are gap-free and assigned above every committed one, so nothing at or below
    // `last` can appear later.
    if let Ok(mut s) = core.seen.lock() {
        s.advance_to(last);
    }
    Ok(())
}
