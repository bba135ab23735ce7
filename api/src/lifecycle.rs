//! The graceful lifecycle. On SIGTERM or SIGINT: readiness goes false first (load balancers stop
//! routing here), WebSockets are told to close, in-flight requests drain, the audit writer is
//! flushed, then the process exits.
//!
//! The WebSocket module watches [`Lifecycle::subscribe`] and closes each socket with
//! [`WS_CLOSE_CODE`] and [`WS_CLOSE_REASON`] once it turns `true`.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::watch;

use crate::state::AppState;

/// WebSocket close code sent on shutdown (1001 "going away": the client should reconnect,
/// and the load balancer sends it to another replica).
pub const WS_CLOSE_CODE: u16 = 1001;
/// WebSocket close reason sent on shutdown.
pub const WS_CLOSE_REASON: &str = "server shutting down; reconnect";

/// Shutdown state shared by the server, `/readyz` and the WebSocket sessions.
#[derive(Debug)]
pub struct Lifecycle {
    shutdown: watch::Sender<bool>,
}

impl Default for Lifecycle {
    fn default() -> Self {
        Self::new()
    }
}

impl Lifecycle {
    pub fn new() -> Self {
        Self {
            shutdown: watch::channel(false).0,
        }
    }

    /// Whether shutdown began (`/readyz` answers 503 from then on).
    pub fn is_shutting_down(&self) -> bool {
        *self.shutdown.borrow()
    }

    /// A receiver that turns `true` when shutdown begins: `rx.wait_for(|s| *s).await`.
    pub fn subscribe(&self) -> watch::Receiver<bool> {
        self.shutdown.subscribe()
    }

    /// Marks the instance as shutting down and wakes every watcher.
    pub fn begin_shutdown(&self) {
        self.shutdown.send_replace(true);
    }
}

/// Resolves on SIGTERM or SIGINT (Ctrl-C).
async fn shutdown_signal() -> &'static str {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) {
            (Ok(mut term), Ok(mut int)) => tokio::select! {
                _ = term.recv() => "SIGTERM",
                _ = int.recv() => "SIGINT",
            },
            _ => {
                let _ = tokio::signal::ctrl_c().await;
                "SIGINT"
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
        "SIGINT"
    }
}

/// Serves until a shutdown signal, then shuts down in order (see the module docs).
pub async fn serve_until_signal(
    server: actix_web::dev::Server,
    metrics: Option<actix_web::dev::Server>,
    state: Arc<AppState>,
) -> std::io::Result<()> {
    let handle = server.handle();
    let metrics_handle = metrics.as_ref().map(|m| m.handle());
    if let Some(m) = metrics {
        tokio::spawn(m);
    }
    let mut server = tokio::spawn(server);
    let signal = tokio::select! {
        done = &mut server => {
            // The server stopped by itself (e.g. a fatal listener error).
            return done.map_err(std::io::Error::other)?;
        }
        s = shutdown_signal() => s,
    };
    let started = Instant::now();
    let delay = state.settings.shutdown_delay;
    tracing::info!(
        signal,
        delay_ms = delay.as_millis() as u64,
        "shutdown: readiness is now false; still serving while load balancers notice"
    );
    state.lifecycle.begin_shutdown();
    tokio::time::sleep(delay).await;
    tracing::info!("shutdown: draining in-flight requests");
    // Graceful: stop accepting, let in-flight requests finish (bounded by the drain timeout).
    handle.stop(true).await;
    let _ = server.await;
    flush_audit(&state, Duration::from_secs(10)).await;
    if let Some(h) = metrics_handle {
        h.stop(true).await;
    }
    tracing::info!(
        elapsed_ms = started.elapsed().as_millis() as u64,
        "shutdown complete"
    );
    Ok(())
}

/// Waits until the read-audit writer has committed everything queued (requests normally wait
/// for their own entries, so this is a safety net for a request cut off by the drain timeout).
pub async fn flush_audit(state: &AppState, limit: Duration) {
    let deadline = Instant::now() + limit;
    while state.audit.stats.queued.load(Ordering::Relaxed) > 0 {
        if Instant::now() >= deadline {
            tracing::error!(
                queued = state.audit.stats.queued.load(Ordering::Relaxed),
                "shutdown: audit entries still queued after the flush deadline"
            );
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}
