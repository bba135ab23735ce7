//! Logging and tracing: `tracing` with an `EnvFilter` (`RUST_LOG`), pretty or JSON lines, and
//! optionally OpenTelemetry export (cargo feature `otel` plus `CAREHUB_OTLP_ENDPOINT`). Every
//! HTTP request runs in a span carrying the caller's `X-Request-Id` (or a new one, echoed back),
//! GraphQL operations and SQL statements nest inside it.

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::Error;
use tracing::Span;
use tracing_actix_web::{DefaultRootSpanBuilder, RootSpanBuilder};
use tracing_subscriber::fmt::format::FmtSpan;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::{EnvFilter, Layer, Registry};

use crate::config::Settings;

/// The request id header, read from callers and load balancers and sent back on every answer.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

type BoxLayer = Box<dyn Layer<Registry> + Send + Sync>;

fn fmt_layer(format: &str, filter: EnvFilter) -> BoxLayer {
    if format == "json" {
        tracing_subscriber::fmt::layer()
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .with_span_events(FmtSpan::NONE)
            .with_filter(filter)
            .boxed()
    } else {
        tracing_subscriber::fmt::layer()
            .with_target(false)
            .with_filter(filter)
            .boxed()
    }
}

/// Installs the global subscriber once; later calls are ignored (tests call it repeatedly).
pub fn init(format: &str, default_filter: &str) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    let _ = tracing_subscriber::registry()
        .with(vec![fmt_layer(format, filter)])
        .try_init();
}

/// Flushes exported spans when dropped (at the end of `carehub serve`).
pub struct TelemetryGuard {
    #[cfg(feature = "otel")]
    provider: Option<opentelemetry_sdk::trace::SdkTracerProvider>,
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        #[cfg(feature = "otel")]
        if let Some(p) = self.provider.take() {
            let _ = p.shutdown();
        }
    }
}

/// Installs the server's subscriber: the log layer, plus OTLP export when configured.
pub fn init_server(settings: &Settings, default_filter: &str) -> TelemetryGuard {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    #[allow(unused_mut)]
    let mut layers = vec![fmt_layer(&settings.log_format, filter)];
    #[cfg(feature = "otel")]
    let mut guard = TelemetryGuard { provider: None };
    #[cfg(not(feature = "otel"))]
    let guard = TelemetryGuard {};
    let mut otel_problem = None;
    if let Some(endpoint) = &settings.otlp_endpoint {
        #[cfg(feature = "otel")]
        match otel::layer(endpoint, &settings.instance_id) {
            Ok((layer, provider)) => {
                layers.push(layer);
                guard.provider = Some(provider);
            }
            Err(e) => {
                otel_problem = Some(format!("OpenTelemetry export to {endpoint} is off: {e:#}"))
            }
        }
        #[cfg(not(feature = "otel"))]
        {
            otel_problem = Some(format!("CAREHUB_OTLP_ENDPOINT={endpoint} is ignored: this binary was built without the `otel` feature"));
        }
    }
    let _ = tracing_subscriber::registry().with(layers).try_init();
    if let Some(p) = otel_problem {
        tracing::warn!("{p}");
    }
    guard
}

/// Root span of every HTTP request: method, route pattern, path (never the query string, which
/// may carry GraphQL variables), status and the request id the client sees.
pub struct CarehubRootSpan;

impl RootSpanBuilder for CarehubRootSpan {
    fn on_request_start(request: &ServiceRequest) -> Span {
        let request_id = request
            .headers()
            .get(REQUEST_ID)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let method = request.method().as_str();
        let route = request
            .match_pattern()
            .unwrap_or_else(|| "unmatched".to_owned());
        let span = tracing::info_span!(
            "HTTP request",
            http.method = %method,
            http.route = %route,
            http.target = %request.path(),
            http.status_code = tracing::field::Empty,
            otel.name = %format!("{method} {route}"),
            otel.kind = "server",
            otel.status_code = tracing::field::Empty,
            request_id = %request_id,
            exception.message = tracing::field::Empty,
            exception.details = tracing::field::Empty,
        );
        #[cfg(feature = "otel")]
        otel::set_parent(&span, request.headers());
        span
    }

    fn on_request_end<B: MessageBody>(span: Span, outcome: &Result<ServiceResponse<B>, Error>) {
        DefaultRootSpanBuilder::on_request_end(span, outcome);
    }
}

/// The tracing middleware with carehub's root span (wrap it inside [`request_id`]).
pub fn tracing_logger() -> tracing_actix_web::TracingLogger<CarehubRootSpan> {
    tracing_actix_web::TracingLogger::<CarehubRootSpan>::new()
}

/// Outermost middleware: settles the request id (the caller's, if sane, else a new one) before
/// any span or handler reads it, echoes it on every response, and records the HTTP metrics.
pub async fn request_id(
    mut req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let started = Instant::now();
    let rid = crate::http::request_id(req.headers());
    if let Ok(v) = HeaderValue::from_str(&rid) {
        req.headers_mut().insert(REQUEST_ID, v);
    }
    let method = req.method().to_string();
    let route = req
        .match_pattern()
        .unwrap_or_else(|| "unmatched".to_owned());
    let result = next.call(req).await;
    let status = match &result {
        Ok(res) => res.status(),
        Err(e) => e.as_response_error().status_code(),
    };
    crate::metrics::http_request(&method, &route, status.as_u16(), started.elapsed());
    let mut res = result?;
    if !res.headers().contains_key(REQUEST_ID) {
        if let Ok(v) = HeaderValue::from_str(&rid) {
            res.headers_mut().insert(REQUEST_ID, v);
        }
    }
    Ok(res)
}

#[cfg(feature = "otel")]
mod otel {
    //! OTLP/HTTP export of the tracing spans, and W3C `traceparent` propagation.

    use actix_web::http::header::HeaderMap;
    use opentelemetry::propagation::Extractor;
    use opentelemetry::trace::TracerProvider as _;
    use opentelemetry_otlp::WithExportConfig as _;
    use opentelemetry_sdk::propagation::TraceContextPropagator;
    use opentelemetry_sdk::trace::SdkTracerProvider;
    use tracing_opentelemetry::OpenTelemetrySpanExt as _;
    use tracing_subscriber::{EnvFilter, Layer as _};

    use super::BoxLayer;

    /// The export layer: spans at `info` and above, SQL statements included.
    pub fn layer(
        endpoint: &str,
        instance: &Option<String>,
    ) -> anyhow::Result<(BoxLayer, SdkTracerProvider)> {
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_endpoint(endpoint)
            .build()?;
        let mut resource = opentelemetry_sdk::Resource::builder().with_service_name("carehub");
        if let Some(id) = instance {
            resource = resource.with_attribute(opentelemetry::KeyValue::new(
                "service.instance.id",
                id.clone(),
            ));
        }
        let provider = SdkTracerProvider::builder()
            .with_batch_exporter(exporter)
            .with_resource(resource.build())
            .build();
        opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
        let tracer = provider.tracer("carehub");
        let filter = EnvFilter::new("info,sqlx=warn,h2=warn,hyper=warn,reqwest=warn");
        let layer = tracing_opentelemetry::layer()
            .with_tracer(tracer)
            .with_filter(filter)
            .boxed();
        Ok((layer, provider))
    }

    struct Headers<'a>(&'a HeaderMap);

    impl Extractor for Headers<'_> {
        fn get(&self, key: &str) -> Option<&str> {
            self.0.get(key).and_then(|v| v.to_str().ok())
        }
        fn keys(&self) -> Vec<&str> {
            self.0.keys().map(|k| k.as_str()).collect()
        }
    }

    /// Continues the caller's trace when it sent a `traceparent`.
    pub fn set_parent(span: &tracing::Span, headers: &HeaderMap) {
        if headers.contains_key("traceparent") {
            let cx =
                opentelemetry::global::get_text_map_propagator(|p| p.extract(&Headers(headers)));
            let _ = span.set_parent(cx);
        }
    }
}
