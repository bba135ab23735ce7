//! Prometheus metrics in the text exposition format at `/metrics` (on the main listener, or only
//! on `CAREHUB_METRICS_BIND` when set). Event counters are process-wide statics any module can
//! bump without the app state; values mirrored from the state (audit writer, pools, readiness)
//! are read at scrape time.
//!
//! Functions for other modules:
//! - [`authz_decision`] / [`authz_read`]: one call per authorization decision.
//! - [`ws_connections_inc`]/[`ws_connections_dec`], [`ws_subscribers_inc`]/[`ws_subscribers_dec`]:
//!   WebSocket connections and active subscriptions.
//! - [`event_lag_seconds`]: commit-to-delivery lag of one published event;
//!   [`event_dropped`]: events a lagging subscriber missed.
//! - [`rate_limited`]: one refused request, by role.

use std::collections::HashSet;
use std::fmt::Write as _;
use std::sync::atomic::Ordering;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;

use actix_web::{web, HttpResponse};
use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextParseQuery, NextPrepareRequest, NextRequest,
};
use async_graphql::parser::types::{DocumentOperations, ExecutableDocument, OperationType};
use async_graphql::{Request, Response, ServerResult, Variables};
use carehub_policy::ReadDecision;
use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts,
    Registry, TextEncoder,
};
use sea_orm::{DatabaseBackend, DatabaseConnection};
use tracing::Instrument as _;

use crate::state::AppState;

/// Label value used when a caller-controlled label would grow the series without bound.
const OTHER: &str = "other";
/// Distinct GraphQL operation names kept as labels; later names count as `other`.
const MAX_OPERATION_NAMES: usize = 200;
/// Authorization outcomes, in the order of `Metrics::authz`.
const AUTHZ_OUTCOMES: [&str; 6] = [
    "allow",
    "mask",
    "deny",
    "consent_required",
    "break_glass",
    OTHER,
];

struct Metrics {
    registry: Registry,
    http_requests: IntCounterVec,
    http_duration: HistogramVec,
    graphql_operations: IntCounterVec,
    graphql_duration: HistogramVec,
    authz: Vec<IntCounter>,
    ws_connections: IntGauge,
    ws_subscribers: IntGauge,
    event_lag: Histogram,
    events_dropped: IntCounter,
    rate_limited: IntCounterVec,
    operation_names: Mutex<HashSet<String>>,
}

const LATENCY_BUCKETS: &[f64] = &[
    0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

// Metric names and label sets are constants, so building them cannot fail at run time; a
// failure here is a programming error caught by the unit test below.
#[allow(clippy::expect_used)]
fn build() -> Metrics {
    let registry = Registry::new();
    let reg = |c: Box<dyn prometheus::core::Collector>| {
        registry.register(c).expect("metric registers once")
    };
    let http_requests = IntCounterVec::new(
        Opts::new(
            "carehub_http_requests_total",
            "HTTP requests answered, by method, route pattern and status",
        ),
        &["method", "route", "status"],
    )
    .expect("valid metric");
    reg(Box::new(http_requests.clone()));
    let http_duration = HistogramVec::new(
        HistogramOpts::new(
            "carehub_http_request_duration_seconds",
            "HTTP request latency, by method and route pattern",
        )
        .buckets(LATENCY_BUCKETS.to_vec()),
        &["method", "route"],
    )
    .expect("valid metric");
    reg(Box::new(http_duration.clone()));
    let graphql_operations = IntCounterVec::new(
        Opts::new(
            "carehub_graphql_operations_total",
            "GraphQL operations executed, by operation name, type and outcome (ok, partial, error)",
        ),
        &["operation", "type", "outcome"],
    )
    .expect("valid metric");
    reg(Box::new(graphql_operations.clone()));
    let graphql_duration = HistogramVec::new(
        HistogramOpts::new(
            "carehub_graphql_operation_duration_seconds",
            "GraphQL operation latency (parse to response), by type",
        )
        .buckets(LATENCY_BUCKETS.to_vec()),
        &["type"],
    )
    .expect("valid metric");
    reg(Box::new(graphql_duration.clone()));
    let authz_vec = IntCounterVec::new(
        Opts::new(
            "carehub_authz_decisions_total",
            "Authorization decisions on fields, by outcome",
        ),
        &["outcome"],
    )
    .expect("valid metric");
    reg(Box::new(authz_vec.clone()));
    // Resolved once: the guard calls this per field per row, so no label lookup on the hot path.
    let authz = AUTHZ_OUTCOMES
        .iter()
        .map(|o| authz_vec.with_label_values(&[*o]))
        .collect();
    let ws_connections = IntGauge::new("carehub_ws_connections", "Open WebSocket connections")
        .expect("valid metric");
    reg(Box::new(ws_connections.clone()));
    let ws_subscribers = IntGauge::new(
        "carehub_ws_subscribers",
        "Active GraphQL subscriptions over WebSocket",
    )
    .expect("valid metric");
    reg(Box::new(ws_subscribers.clone()));
    let event_lag = Histogram::with_opts(
        HistogramOpts::new(
            "carehub_event_bus_lag_seconds",
            "Time from a change event's commit to its delivery to a subscriber",
        )
        .buckets(vec![
            0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 15.0, 60.0,
        ]),
    )
    .expect("valid metric");
    reg(Box::new(event_lag.clone()));
    let events_dropped = IntCounter::new(
        "carehub_event_bus_dropped_total",
        "Events a lagging subscriber missed (it must resume from the change feed)",
    )
    .expect("valid metric");
    reg(Box::new(events_dropped.clone()));
    let rate_limited = IntCounterVec::new(
        Opts::new(
            "carehub_rate_limited_total",
            "Requests refused by the rate limiter, by role",
        ),
        &["role"],
    )
    .expect("valid metric");
    reg(Box::new(rate_limited.clone()));
    // Exported at zero from the start, so dashboards and `rate()` see the series before the
    // first refusal.
    rate_limited.with_label_values(&[OTHER]).inc_by(0);
    let start_time = IntGauge::new(
        "carehub_process_start_time_seconds",
        "Start time of the process since the Unix epoch",
    )
    .expect("valid metric");
    start_time.set(chrono::Utc::now().timestamp());
    reg(Box::new(start_time));
    Metrics {
        registry,
        http_requests,
        http_duration,
        graphql_operations,
        graphql_duration,
        authz,
        ws_connections,
        ws_subscribers,
        event_lag,
        events_dropped,
        rate_limited,
        operation_names: Mutex::new(HashSet::new()),
    }
}

static METRICS: LazyLock<Metrics> = LazyLock::new(build);

/// Registers the metrics now (so the start time is the process's, not the first scrape's).
pub fn init() {
    LazyLock::force(&METRICS);
}

/// Records one answered HTTP request.
pub fn http_request(method: &str, route: &str, status: u16, elapsed: Duration) {
    let m = &*METRICS;
    m.http_requests
        .with_label_values(&[method, route, status_label(status)])
        .inc();
    m.http_duration
        .with_label_values(&[method, route])
        .observe(elapsed.as_secs_f64());
}

fn status_label(status: u16) -> &'static str {
    // Static strings for the statuses the server sends; anything else by class.
    match status {
        200 => "200",
        204 => "204",
        304 => "304",
        400 => "400",
        401 => "401",
        403 => "403",
        404 => "404",
        405 => "405",
        409 => "409",
        413 => "413",
        415 => "415",
        429 => "429",
        500 => "500",
        502 => "502",
        503 => "503",
        504 => "504",
        s if s < 200 => "1xx",
        s if s < 300 => "2xx",
        s if s < 400 => "3xx",
        s if s < 500 => "4xx",
        _ => "5xx",
    }
}

/// Records one authorization decision by outcome: `allow`, `mask`, `deny`, `consent_required`
/// or `break_glass` (anything else counts as `other`). Cheap: one atomic add.
pub fn authz_decision(outcome: &str) {
    authz_inc(
        AUTHZ_OUTCOMES
            .iter()
            .position(|o| *o == outcome)
            .unwrap_or(AUTHZ_OUTCOMES.len() - 1),
    );
}

/// Records a field read decision of the policy. The guard calls this for every field of every
/// record, so the outcome goes straight to its counter: no name, no search.
pub fn authz_read(decision: &ReadDecision) {
    authz_inc(authz_read_index(decision));
}

/// The index in `AUTHZ_OUTCOMES` of a read decision's outcome.
fn authz_read_index(decision: &ReadDecision) -> usize {
    match decision {
        ReadDecision::Allow { .. } => 0,
        ReadDecision::Mask { .. } => 1,
        ReadDecision::Deny(_) => 2,
        ReadDecision::ConsentRequired { .. } => 3,
        ReadDecision::BreakGlass { .. } => 4,
    }
}

fn authz_inc(i: usize) {
    if let Some(c) = METRICS.authz.get(i) {
        c.inc();
    }
}

/// A WebSocket connection opened.
pub fn ws_connections_inc() {
    METRICS.ws_connections.inc();
}

/// A WebSocket connection closed.
pub fn ws_connections_dec() {
    METRICS.ws_connections.dec();
}

/// A subscription started on a WebSocket.
pub fn ws_subscribers_inc() {
    METRICS.ws_subscribers.inc();
}

/// A subscription ended (completed, cancelled or its socket closed).
pub fn ws_subscribers_dec() {
    METRICS.ws_subscribers.dec();
}

/// The lag of one event: from its commit to its delivery to a subscriber, in seconds.
pub fn event_lag_seconds(seconds: f64) {
    if seconds.is_finite() {
        METRICS.event_lag.observe(seconds.max(0.0));
    }
}

/// Events a lagging subscriber missed (tokio broadcast `Lagged(n)`).
pub fn event_dropped(n: u64) {
    METRICS.events_dropped.inc_by(n);
}

/// One request refused by the rate limiter; `role` is the policy role (e.g. `partner.hotline`).
pub fn rate_limited(role: &str) {
    METRICS
        .rate_limited
        .with_label_values(&[bounded_label(role)])
        .inc();
}

/// Role names come from the policy (a few dozen); anything unexpected counts as `other`.
fn bounded_label(s: &str) -> &str {
    if !s.is_empty()
        && s.len() <= 64
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
    {
        s
    } else {
        OTHER
    }
}

/// Keeps operation names as labels up to a cap, so clients cannot grow the series unboundedly.
fn operation_label(name: Option<&str>) -> String {
    let Some(name) = name else {
        return "anonymous".to_owned();
    };
    if name.len() > 64 {
        return OTHER.to_owned();
    }
    let Ok(mut seen) = METRICS.operation_names.lock() else {
        return OTHER.to_owned();
    };
    if seen.contains(name) {
        return name.to_owned();
    }
    if seen.len() >= MAX_OPERATION_NAMES {
        return OTHER.to_owned();
    }
    seen.insert(name.to_owned());
    name.to_owned()
}

/// The GraphQL extension: one `graphql.operation` span per operation (its SQL statements nest
/// in it) and the operation counters and latency.
pub struct GraphqlMetrics;

impl ExtensionFactory for GraphqlMetrics {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(GraphqlMetricsExt {
            requested: Mutex::new(None),
            operation: Mutex::new(None),
        })
    }
}

struct GraphqlMetricsExt {
    /// The operation name the request asked for.
    requested: Mutex<Option<String>>,
    /// (type, name) of the operation, once parsed.
    operation: Mutex<Option<(&'static str, Option<String>)>>,
}

fn operation_type(ty: OperationType) -> &'static str {
    match ty {
        OperationType::Query => "query",
        OperationType::Mutation => "mutation",
        OperationType::Subscription => "subscription",
    }
}

fn find_operation(
    doc: &ExecutableDocument,
    requested: Option<&str>,
) -> Option<(&'static str, Option<String>)> {
    match (&doc.operations, requested) {
        (DocumentOperations::Single(op), _) => {
            Some((operation_type(op.node.ty), requested.map(str::to_owned)))
        }
        (DocumentOperations::Multiple(ops), Some(name)) => ops
            .iter()
            .find(|(n, _)| n.as_str() == name)
            .map(|(n, op)| (operation_type(op.node.ty), Some(n.to_string()))),
        (DocumentOperations::Multiple(ops), None) if ops.len() == 1 => ops
            .iter()
            .next()
            .map(|(n, op)| (operation_type(op.node.ty), Some(n.to_string()))),
        _ => None,
    }
}

#[async_trait::async_trait]
impl Extension for GraphqlMetricsExt {
    async fn request(&self, ctx: &ExtensionContext<'_>, next: NextRequest<'_>) -> Response {
        let span = tracing::info_span!(
            "graphql.operation",
            otel.name = tracing::field::Empty,
            graphql.operation.name = tracing::field::Empty,
            graphql.operation.type = tracing::field::Empty,
            graphql.outcome = tracing::field::Empty,
        );
        let started = std::time::Instant::now();
        let resp = next.run(ctx).instrument(span.clone()).await;
        let (ty, name) = self
            .operation
            .lock()
            .ok()
            .and_then(|o| o.clone())
            .unwrap_or(("unknown", None));
        let outcome = match (
            resp.errors.is_empty(),
            matches!(resp.data, async_graphql::Value::Null),
        ) {
            (true, _) => "ok",
            (false, false) => "partial",
            (false, true) => "error",
        };
        span.record("graphql.outcome", outcome);
        let label = operation_label(name.as_deref());
        METRICS
            .graphql_operations
            .with_label_values(&[label.as_str(), ty, outcome])
            .inc();
        METRICS
            .graphql_duration
            .with_label_values(&[ty])
            .observe(started.elapsed().as_secs_f64());
        resp
    }

    async fn prepare_request(
        &self,
        ctx: &ExtensionContext<'_>,
        request: Request,
        next: NextPrepareRequest<'_>,
    ) -> ServerResult<Request> {
        if let Ok(mut r) = self.requested.lock() {
            r.clone_from(&request.operation_name);
        }
        next.run(ctx, request).await
    }

    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let doc = next.run(ctx, query, variables).await?;
        let requested = self.requested.lock().ok().and_then(|r| r.clone());
        if let Some((ty, name)) = find_operation(&doc, requested.as_deref()) {
            let span = tracing::Span::current();
            span.record("graphql.operation.type", ty);
            span.record("graphql.operation.name", name.as_deref().unwrap_or(""));
            span.record(
                "otel.name",
                format!("{ty} {}", name.as_deref().unwrap_or("anonymous")).as_str(),
            );
            if let Ok(mut o) = self.operation.lock() {
                *o = Some((ty, name));
            }
        }
        Ok(doc)
    }
}

/// Writes one metric family in the text format.
fn family(out: &mut String, name: &str, kind: &str, help: &str, samples: &[(String, f64)]) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
    for (labels, v) in samples {
        if labels.is_empty() {
            let _ = writeln!(out, "{name} {v}");
        } else {
            let _ = writeln!(out, "{name}{{{labels}}} {v}");
        }
    }
}

/// One unlabelled sample.
fn one(v: f64) -> [(String, f64); 1] {
    [(String::new(), v)]
}

/// (size, idle, max) of a connection pool.
fn pool_usage(conn: &DatabaseConnection) -> Option<(u32, usize, u32)> {
    match conn.get_database_backend() {
        DatabaseBackend::Postgres => {
            let p = conn.get_postgres_connection_pool();
            Some((p.size(), p.num_idle(), p.options().get_max_connections()))
        }
        DatabaseBackend::Sqlite => {
            let p = conn.get_sqlite_connection_pool();
            Some((p.size(), p.num_idle(), p.options().get_max_connections()))
        }
        _ => None,
    }
}

/// The whole exposition: the process-wide registry, then the values read from `app`.
pub fn render(app: &AppState) -> String {
    // The WebSocket gauges are kept by the event hub (it owns the connections); copy them in.
    let events = app.events.snapshot();
    METRICS.ws_connections.set(events.ws_connections);
    METRICS.ws_subscribers.set(events.subscriptions);
    let mut buf = Vec::new();
    if let Err(e) = TextEncoder::new().encode(&METRICS.registry.gather(), &mut buf) {
        tracing::warn!(error = %e, "encoding metrics failed");
    }
    let mut out = String::from_utf8(buf).unwrap_or_default();
    let stats = &app.audit.stats;
    let load = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed) as f64;
    family(
        &mut out,
        "carehub_audit_queue_depth",
        "gauge",
        "Read-audit entries waiting for the group-commit writer",
        &one(load(&stats.queued)),
    );
    // A summary with only sum and count: rate(sum)/rate(count) is the mean batch size.
    let _ = writeln!(
        out,
        "# HELP carehub_audit_batch_size Entries per read-audit group commit\n# TYPE carehub_audit_batch_size summary\ncarehub_audit_batch_size_sum {}\ncarehub_audit_batch_size_count {}",
        load(&stats.entries),
        load(&stats.batches)
    );
    family(
        &mut out,
        "carehub_audit_batch_size_max",
        "gauge",
        "Largest read-audit group commit since start",
        &one(load(&stats.max_batch)),
    );
    family(
        &mut out,
        "carehub_audit_failures_total",
        "counter",
        "Read-audit group commits that failed (their sensitive data was withheld)",
        &one(load(&stats.failures)),
    );
    family(
        &mut out,
        "carehub_db_statements_total",
        "counter",
        "SQL statements executed by this process",
        &one(crate::db::TOTAL_STATEMENTS.load(Ordering::Relaxed) as f64),
    );
    let mut pools: Vec<(&str, &DatabaseConnection)> = vec![("write", &app.db.write)];
    if app.settings.database_read_url.is_some() {
        pools.push(("read", &app.db.read));
    }
    let mut conns = Vec::new();
    let mut caps = Vec::new();
    for (name, conn) in pools {
        if let Some((size, idle, cap)) = pool_usage(conn) {
            conns.push((
                format!("pool=\"{name}\",state=\"in_use\""),
                size.saturating_sub(idle as u32) as f64,
            ));
            conns.push((format!("pool=\"{name}\",state=\"idle\""), idle as f64));
            caps.push((format!("pool=\"{name}\""), cap as f64));
        }
    }
    family(
        &mut out,
        "carehub_db_pool_connections",
        "gauge",
        "Database pool connections, by pool and state (in_use, idle)",
        &conns,
    );
    family(
        &mut out,
        "carehub_db_pool_max_connections",
        "gauge",
        "Configured maximum connections per pool",
        &caps,
    );
    family(
        &mut out,
        "carehub_ready",
        "gauge",
        "1 while the instance accepts traffic, 0 once shutdown began",
        &one(if app.lifecycle.is_shutting_down() {
            0.0
        } else {
            1.0
        }),
    );
    let info = format!(
        "instance=\"{}\",version=\"{}\",policy_version=\"{}\"",
        escape(&app.instance_id),
        env!("CARGO_PKG_VERSION"),
        escape(app.policy.version())
    );
    family(
        &mut out,
        "carehub_info",
        "gauge",
        "Build and instance information",
        &[(info, 1.0)],
    );
    // The event bus and subscription counters (relay, Redis fan-out, deliveries, lag).
    out.push_str(&events.prometheus());
    out
}

fn escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// `GET /metrics`.
pub async fn metrics_handler(app: web::Data<Arc<AppState>>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(TextEncoder::new().format_type())
        .body(render(&app))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_decisions_count_under_their_outcome() {
        let name = |d: ReadDecision| AUTHZ_OUTCOMES[authz_read_index(&d)];
        assert_eq!(name(ReadDecision::Allow { audit: false }), "allow");
        let mask = ReadDecision::Mask {
            keep_start: 1,
            keep_end: 1,
            audit: true,
        };
        assert_eq!(name(mask), "mask");
        let deny = ReadDecision::Deny(carehub_policy::DenyReason::NotInRemit);
        assert_eq!(name(deny), "deny");
        // (ConsentRequired carries a GroupId, which only a compiled policy makes: index 3.)
        assert_eq!(AUTHZ_OUTCOMES[3], "consent_required");
        assert_eq!(
            name(ReadDecision::BreakGlass { audit: true }),
            "break_glass"
        );
    }

    #[test]
    fn registry_builds_and_renders_counters() {
        init();
        authz_decision("deny");
        authz_decision("nonsense");
        rate_limited("partner.hotline");
        rate_limited("bad role\n");
        http_request("GET", "/healthz", 200, Duration::from_millis(3));
        let mut buf = Vec::new();
        TextEncoder::new()
            .encode(&METRICS.registry.gather(), &mut buf)
            .unwrap();
        let text = String::from_utf8(buf).unwrap();
        assert!(
            text.contains("carehub_authz_decisions_total{outcome=\"deny\"}"),
            "{text}"
        );
        assert!(
            text.contains("carehub_authz_decisions_total{outcome=\"other\"}"),
            "{text}"
        );
        assert!(
            text.contains("carehub_rate_limited_total{role=\"partner.hotline\"}"),
            "{text}"
        );
        assert!(
            text.contains("carehub_rate_limited_total{role=\"other\"}"),
            "{text}"
        );
        assert!(
            text.contains(
                "carehub_http_request_duration_seconds_bucket{method=\"GET\",route=\"/healthz\""
            ),
            "{text}"
        );
    }

    #[test]
    fn operation_names_are_capped() {
        for i in 0..(MAX_OPERATION_NAMES + 10) {
            let _ = operation_label(Some(&format!("Op{i}")));
        }
        assert_eq!(operation_label(Some("NeverSeenBeforeOperation")), OTHER);
        assert_eq!(operation_label(None), "anonymous");
    }
}
