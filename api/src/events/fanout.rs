//! Redis pub/sub fan-out across replicas. The replica whose relay numbered an event publishes
//! it on `{prefix}events`; every replica subscribes and feeds what it receives into its local
//! bus, where the cursor deduplicates the publisher's own copy. Redis is only the fast path:
//! when it is down, local events keep flowing, both connections reconnect with exponential
//! backoff, `/readyz` says `"redis": "degraded"`, and on PostgreSQL the database catch-up
//! (`bus.rs`) delivers what other replicas numbered meanwhile.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use carehub_entity::change_event;
use futures::StreamExt;
use rand::Rng;
use redis::AsyncCommands;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use super::bus::{Core, Source};
use super::PublishedEvent;

/// Events waiting to be published before new ones are dropped (other replicas then catch up
/// from the database).
pub const PUBLISH_QUEUE: usize = 10_000;
/// How long one Redis operation may take before it counts as failed.
const OP_TIMEOUT: Duration = Duration::from_secs(2);
/// Liveness probe of the subscription connection (a silently dropped link is noticed).
const PING_EVERY: Duration = Duration::from_secs(5);

/// One event on the wire.
#[derive(Serialize, Deserialize)]
struct Wire {
    origin: String,
    cursor: i64,
    model: change_event::Model,
}

/// Exponential backoff with jitter: 100 ms doubling to 5 s.
pub struct Backoff {
    next: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self { next: Self::FIRST }
    }
}

impl Backoff {
    const FIRST: Duration = Duration::from_millis(100);
    const MAX: Duration = Duration::from_secs(5);

    /// The delay before the next attempt (and doubles the one after).
    pub fn next_delay(&mut self) -> Duration {
        let base = self.next;
        self.next = (self.next * 2).min(Self::MAX);
        // ±20 % so that replicas restarted together do not reconnect in lockstep.
        let jitter = rand::thread_rng().gen_range(0.8..1.2);
        base.mul_f64(jitter)
    }

    pub fn reset(&mut self) {
        self.next = Self::FIRST;
    }
}

/// The channel events travel on: `{prefix}events` (`carehub:events` by default).
pub fn channel(prefix: &str) -> String {
    format!("{prefix}events")
}

/// Starts the publisher and the subscriber.
pub fn spawn(
    client: redis::Client,
    channel: String,
    instance: String,
    core: Arc<Core>,
    outbox: mpsc::Receiver<Arc<PublishedEvent>>,
) {
    tokio::spawn(publisher(
        client.clone(),
        channel.clone(),
        instance,
        core.clone(),
        outbox,
    ));
    tokio::spawn(subscriber(client, channel, core));
}

async fn connect_manager(
    client: &redis::Client,
) -> redis::RedisResult<redis::aio::ConnectionManager> {
    let config = redis::aio::ConnectionManagerConfig::new()
        .set_connection_timeout(OP_TIMEOUT)
        .set_response_timeout(OP_TIMEOUT)
        .set_number_of_retries(2)
        .set_max_delay(5_000);
    client.get_connection_manager_with_config(config).await
}

async fn publisher(
    client: redis::Client,
    channel: String,
    instance: String,
    core: Arc<Core>,
    mut outbox: mpsc::Receiver<Arc<PublishedEvent>>,
) {
    let stats = core.stats.clone();
    let mut conn: Option<redis::aio::ConnectionManager> = None;
    let mut backoff = Backoff::default();
    let mut retry_at = tokio::time::Instant::now();
    while let Some(ev) = outbox.recv().await {
        let payload = match serde_json::to_string(&Wire {
            origin: instance.clone(),
            cursor: ev.cursor,
            model: ev.model.clone(),
        }) {
            Ok(p) => p,
            Err(e) => {
                tracing::error!(error = %e, cursor = ev.cursor, "cannot encode a change event for Redis");
                continue;
            }
        };
        if conn.is_none() && tokio::time::Instant::now() >= retry_at {
            match tokio::time::timeout(OP_TIMEOUT, connect_manager(&client)).await {
                Ok(Ok(c)) => {
                    backoff.reset();
                    conn = Some(c);
                }
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "Redis publisher cannot connect; retrying with backoff")
                }
                Err(_) => {
                    tracing::warn!("Redis publisher connection timed out; retrying with backoff")
                }
            }
            if conn.is_none() {
                retry_at = tokio::time::Instant::now() + backoff.next_delay();
            }
        }
        let Some(c) = conn.as_mut() else {
            // Not connected: fail fast instead of queueing behind a dead link.
            stats.redis_publish_failures.fetch_add(1, Ordering::Relaxed);
            stats.redis_publish_ok.store(false, Ordering::Relaxed);
            continue;
        };
        match tokio::time::timeout(OP_TIMEOUT, c.publish::<_, _, i64>(&channel, payload)).await {
            Ok(Ok(_)) => {
                stats.redis_published.fetch_add(1, Ordering::Relaxed);
                stats.redis_publish_ok.store(true, Ordering::Relaxed);
            }
            failed => {
                match failed {
                    Ok(Err(e)) => tracing::warn!(error = %e, cursor = ev.cursor, "publishing to Redis failed; other replicas will catch up from the database"),
                    _ => tracing::warn!(cursor = ev.cursor, "publishing to Redis timed out; other replicas will catch up from the database"),
                }
                stats.redis_publish_failures.fetch_add(1, Ordering::Relaxed);
                stats.redis_publish_ok.store(false, Ordering::Relaxed);
                // The connection manager reconnects by itself; a fresh one after a backoff
                // covers the case where it gave up.
                conn = None;
                retry_at = tokio::time::Instant::now() + backoff.next_delay();
            }
        }
    }
}

async fn subscriber(client: redis::Client, channel: String, core: Arc<Core>) {
    let stats = core.stats.clone();
    let mut backoff = Backoff::default();
    let mut was_up = true;
    loop {
        let connected = tokio::time::timeout(OP_TIMEOUT, async {
            let mut pubsub = client.get_async_pubsub().await?;
            pubsub.subscribe(&channel).await?;
            Ok::<_, redis::RedisError>(pubsub)
        })
        .await;
        match connected {
            Ok(Ok(pubsub)) => {
                tracing::info!(channel, "subscribed to the Redis event channel");
                stats.redis_subscribed.store(true, Ordering::Relaxed);
                stats.redis_publish_ok.store(true, Ordering::Relaxed);
                stats.redis_connects.fetch_add(1, Ordering::Relaxed);
                backoff.reset();
                was_up = true;
                // Whatever other replicas published while we were away is in the database.
                core.request_catch_up();
                listen(pubsub, &core).await;
                stats.redis_subscribed.store(false, Ordering::Relaxed);
                stats.redis_disconnects.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(
                    "lost the Redis event subscription; serving local events and reconnecting"
                );
            }
            Ok(Err(e)) => {
                if was_up {
                    tracing::warn!(error = %e, "cannot subscribe to Redis; serving local events and retrying with backoff");
                }
                was_up = false;
            }
            Err(_) => {
                if was_up {
                    tracing::warn!("subscribing to Redis timed out; serving local events and retrying with backoff");
                }
                was_up = false;
            }
        }
        stats.redis_subscribed.store(false, Ordering::Relaxed);
        tokio::time::sleep(backoff.next_delay()).await;
    }
}

/// Feeds messages into the bus until the connection fails.
async fn listen(pubsub: redis::aio::PubSub, core: &Core) {
    let (mut sink, mut stream) = pubsub.split();
    let mut ping = tokio::time::interval(PING_EVERY);
    ping.tick().await;
    loop {
        tokio::select! {
            msg = stream.next() => {
                let Some(msg) = msg else { return };
                let Ok(payload) = msg.get_payload::<String>() else { continue };
                match serde_json::from_str::<Wire>(&payload) {
                    Ok(w) => {
                        core.accept(Arc::new(PublishedEvent { cursor: w.cursor, model: w.model }), Source::Redis);
                    }
                    Err(e) => tracing::warn!(error = %e, "ignoring a malformed message on the Redis event channel"),
                }
            }
            _ = ping.tick() => {
                match tokio::time::timeout(OP_TIMEOUT, sink.ping::<String>()).await {
                    Ok(Ok(_)) => {}
                    _ => return,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_to_a_cap() {
        let mut b = Backoff::default();
        let first = b.next_delay();
        assert!(first >= Duration::from_millis(80) && first <= Duration::from_millis(120));
        for _ in 0..20 {
            b.next_delay();
        }
        assert!(b.next_delay() <= Duration::from_secs(6));
        b.reset();
        assert!(b.next_delay() <= Duration::from_millis(120));
    }
}
