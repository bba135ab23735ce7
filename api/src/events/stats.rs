//! Counters of the event bus and the WebSocket subscriptions, kept as atomics so `/metrics` and
//! `/readyz` read them without locks (`AppState::events.stats()`).

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};

/// Health of the Redis fan-out, as `/readyz` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RedisHealth {
    /// No `REDIS_URL`: the in-process bus only (one replica).
    Disabled,
    /// Subscribed, and the last publish succeeded.
    Ok,
    /// Not subscribed or publishing fails: local events still flow, other replicas' events
    /// arrive through the database catch-up (PostgreSQL), and reconnection is under way.
    Degraded,
}

impl RedisHealth {
    pub fn as_str(self) -> &'static str {
        match self {
            RedisHealth::Disabled => "disabled",
            RedisHealth::Ok => "ok",
            RedisHealth::Degraded => "degraded",
        }
    }
}

/// Process-wide counters of the bus (monotonic unless named a gauge).
#[derive(Debug, Default)]
pub struct EventStats {
    /// Events numbered by this replica's relay.
    pub relayed: AtomicU64,
    /// Events accepted into the local bus, from any source (after deduplication).
    pub accepted: AtomicU64,
    /// Copies dropped because the cursor had already been delivered here.
    pub duplicates: AtomicU64,
    /// Events that reached this replica through Redis first.
    pub from_redis: AtomicU64,
    /// Events that reached this replica through the database catch-up first.
    pub from_catch_up: AtomicU64,
    /// Gauge: 1 while a Redis URL is configured.
    pub redis_configured: AtomicBool,
    /// Gauge: 1 while the Redis subscription is established.
    pub redis_subscribed: AtomicBool,
    /// Gauge: 0 after a failed publish until the next success.
    pub redis_publish_ok: AtomicBool,
    /// Events published to Redis.
    pub redis_published: AtomicU64,
    /// Publishes that failed (Redis down or slow); other replicas catch up from the database.
    pub redis_publish_failures: AtomicU64,
    /// Publishes dropped because the publisher's queue was full.
    pub redis_queue_dropped: AtomicU64,
    /// Times the Redis subscription was lost (each starts a reconnect with backoff).
    pub redis_disconnects: AtomicU64,
    /// Times the Redis subscription was (re)established.
    pub redis_connects: AtomicU64,
    /// Gauge: open WebSocket connections.
    pub ws_connections: AtomicI64,
    /// Gauge: active GraphQL subscriptions.
    pub subscriptions: AtomicI64,
    /// Events delivered to a subscriber (after authorization).
    pub deliveries: AtomicU64,
    /// Selection sets resolved for deliveries (subscribers whose answers cannot differ share
    /// one: `deliveries / resolutions` is the sharing factor).
    pub resolutions: AtomicU64,
    /// Events withheld from a subscriber because the row is outside its current scope.
    pub withheld_out_of_scope: AtomicU64,
    /// Subscriptions ended at delivery because the token expired or the role is gone.
    pub ended_unauthorized: AtomicU64,
    /// Deliveries whose sensitive fields were withheld because the audit write failed.
    pub audit_withheld: AtomicU64,
    /// Events a lagging subscriber missed.
    pub lagged: AtomicU64,
    /// Sum of commit-to-delivery lag in microseconds (divide by `deliveries` for the mean).
    pub delivery_lag_us_sum: AtomicU64,
    /// Largest commit-to-delivery lag seen, in microseconds.
    pub delivery_lag_us_max: AtomicU64,
}

/// A consistent-enough copy of the counters for rendering.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventStatsSnapshot {
    pub redis: RedisHealth,
    pub relayed: u64,
    pub accepted: u64,
    pub duplicates: u64,
    pub from_redis: u64,
    pub from_catch_up: u64,
    pub redis_published: u64,
    pub redis_publish_failures: u64,
    pub redis_queue_dropped: u64,
    pub redis_disconnects: u64,
    pub redis_connects: u64,
    pub ws_connections: i64,
    pub subscriptions: i64,
    pub deliveries: u64,
    pub resolutions: u64,
    pub withheld_out_of_scope: u64,
    pub ended_unauthorized: u64,
    pub audit_withheld: u64,
    pub lagged: u64,
    pub delivery_lag_us_sum: u64,
    pub delivery_lag_us_max: u64,
}

impl EventStats {
    /// The Redis fan-out's health.
    pub fn redis_health(&self) -> RedisHealth {
        if !self.redis_configured.load(Ordering::Relaxed) {
            RedisHealth::Disabled
        } else if self.redis_subscribed.load(Ordering::Relaxed)
            && self.redis_publish_ok.load(Ordering::Relaxed)
        {
            RedisHealth::Ok
        } else {
            RedisHealth::Degraded
        }
    }

    /// Records one delivery and its commit-to-delivery lag.
    pub fn delivered(&self, lag: std::time::Duration) {
        let us = u64::try_from(lag.as_micros()).unwrap_or(u64::MAX);
        self.deliveries.fetch_add(1, Ordering::Relaxed);
        self.delivery_lag_us_sum.fetch_add(us, Ordering::Relaxed);
        self.delivery_lag_us_max.fetch_max(us, Ordering::Relaxed);
    }

    /// Copies every counter.
    pub fn snapshot(&self) -> EventStatsSnapshot {
        let l = |a: &AtomicU64| a.load(Ordering::Relaxed);
        EventStatsSnapshot {
            redis: self.redis_health(),
            relayed: l(&self.relayed),
            accepted: l(&self.accepted),
            duplicates: l(&self.duplicates),
            from_redis: l(&self.from_redis),
            from_catch_up: l(&self.from_catch_up),
            redis_published: l(&self.redis_published),
            redis_publish_failures: l(&self.redis_publish_failures),
            redis_queue_dropped: l(&self.redis_queue_dropped),
            redis_disconnects: l(&self.redis_disconnects),
            redis_connects: l(&self.redis_connects),
            ws_connections: self.ws_connections.load(Ordering::Relaxed),
            subscriptions: self.subscriptions.load(Ordering::Relaxed),
            deliveries: l(&self.deliveries),
            resolutions: l(&self.resolutions),
            withheld_out_of_scope: l(&self.withheld_out_of_scope),
            ended_unauthorized: l(&self.ended_unauthorized),
            audit_withheld: l(&self.audit_withheld),
            lagged: l(&self.lagged),
            delivery_lag_us_sum: l(&self.delivery_lag_us_sum),
            delivery_lag_us_max: l(&self.delivery_lag_us_max),
        }
    }
}

impl EventStatsSnapshot {
    /// Prometheus text exposition of the counters (for the `/metrics` handler to append).
    pub fn prometheus(&self) -> String {
        use std::fmt::Write as _;
        let mut out = String::new();
        let mut family = |name: &str, kind: &str, help: &str, value: String| {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
            );
        };
        let redis = |h: RedisHealth| match h {
            RedisHealth::Disabled => "-1".to_owned(),
            RedisHealth::Ok => "1".to_owned(),
            RedisHealth::Degraded => "0".to_owned(),
        };
        family(
            "carehub_event_bus_redis_up",
            "gauge",
            "Redis fan-out: 1 ok, 0 degraded, -1 not configured",
            redis(self.redis),
        );
        family(
            "carehub_event_bus_relayed_total",
            "counter",
            "Change events numbered by this replica's outbox relay",
            self.relayed.to_string(),
        );
        family(
            "carehub_event_bus_accepted_total",
            "counter",
            "Change events accepted into this replica's bus from any source",
            self.accepted.to_string(),
        );
        family(
            "carehub_event_bus_duplicates_total",
            "counter",
            "Copies of an event dropped because its cursor was already delivered here",
            self.duplicates.to_string(),
        );
        family(
            "carehub_event_bus_from_redis_total",
            "counter",
            "Events that reached this replica through Redis",
            self.from_redis.to_string(),
        );
        family(
            "carehub_event_bus_catch_up_total",
            "counter",
            "Events that reached this replica through the database catch-up",
            self.from_catch_up.to_string(),
        );
        family(
            "carehub_event_bus_redis_published_total",
            "counter",
            "Events published to Redis",
            self.redis_published.to_string(),
        );
        family(
            "carehub_event_bus_redis_publish_failures_total",
            "counter",
            "Publishes to Redis that failed",
            self.redis_publish_failures.to_string(),
        );
        family(
            "carehub_event_bus_redis_queue_dropped_total",
            "counter",
            "Publishes dropped because the Redis publisher fell behind",
            self.redis_queue_dropped.to_string(),
        );
        family(
            "carehub_event_bus_redis_disconnects_total",
            "counter",
            "Times the Redis subscription was lost",
            self.redis_disconnects.to_string(),
        );
        family(
            "carehub_event_bus_redis_connects_total",
            "counter",
            "Times the Redis subscription was established",
            self.redis_connects.to_string(),
        );
        family(
            "carehub_subscriptions_active",
            "gauge",
            "Active GraphQL subscriptions",
            self.subscriptions.to_string(),
        );
        family(
            "carehub_subscription_deliveries_total",
            "counter",
            "Events delivered to subscribers after authorization",
            self.deliveries.to_string(),
        );
        family(
            "carehub_subscription_resolutions_total",
            "counter",
            "Selection sets resolved for deliveries (shared by subscribers whose answers cannot differ)",
            self.resolutions.to_string(),
        );
        family(
            "carehub_subscription_out_of_scope_total",
            "counter",
            "Events withheld from a subscriber outside its current scope",
            self.withheld_out_of_scope.to_string(),
        );
        family(
            "carehub_subscription_ended_unauthorized_total",
            "counter",
            "Subscriptions ended because the token expired or the role is gone",
            self.ended_unauthorized.to_string(),
        );
        family(
            "carehub_subscription_audit_withheld_total",
            "counter",
            "Deliveries whose sensitive fields were withheld (audit unavailable)",
            self.audit_withheld.to_string(),
        );
        family(
            "carehub_subscription_lagged_total",
            "counter",
            "Events a lagging subscriber missed",
            self.lagged.to_string(),
        );
        family(
            "carehub_subscription_delivery_lag_seconds_max",
            "gauge",
            "Largest commit-to-delivery lag seen",
            format!("{}", self.delivery_lag_us_max as f64 / 1e6),
        );
        out
    }
}
