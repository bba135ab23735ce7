//! Logging: `tracing` with an `EnvFilter` (`RUST_LOG`, default `info`), pretty or JSON lines.
//! Every HTTP request runs in a span carrying its request id, so every line it logs has it.

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::FmtSpan;

/// Installs the global subscriber once; later calls are ignored (tests call it repeatedly).
pub fn init(format: &str, default_filter: &str) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    let result = if format == "json" {
        tracing_subscriber::fmt()
            .json()
            .with_env_filter(filter)
            .with_current_span(true)
            .with_span_list(false)
            .with_span_events(FmtSpan::NONE)
            .try_init()
    } else {
        tracing_subscriber::fmt().with_env_filter(filter).with_target(false).try_init()
    };
    let _ = result;
}
