//! Partner integration: API clients and the client-credentials token endpoint, per-client
//! operation safelists, token-bucket rate limits and token revocation. `admit` is the one hook
//! the GraphQL route calls after authentication.

pub mod cli;
pub mod clients;
pub mod ratelimit;
pub mod revocation;
pub mod safelist;

use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::{HttpMessage, HttpRequest, HttpResponse};
use async_graphql::BatchRequest;
use carehub_policy::Principal;
use redis::aio::ConnectionManager;

use crate::config::{Mode, Settings};
use crate::error::Code;
use crate::state::AppState;

/// How long a Redis call may take before the request falls back (see `ratelimit`/`revocation`).
const REDIS_TIMEOUT: Duration = Duration::from_millis(300);
/// How long after a failed connection attempt the next one is made.
const RECONNECT_AFTER: Duration = Duration::from_secs(5);

/// A lazily connected Redis handle: requests never wait for a connection that is known to be
/// down; a failed attempt is retried at most every few seconds.
pub struct RedisHandle {
    client: Option<redis::Client>,
    prefix: String,
    state: tokio::sync::Mutex<(Option<ConnectionManager>, Option<Instant>)>,
}

impl RedisHandle {
    /// A handle for `REDIS_URL` (none when unset or unparsable).
    pub fn new(settings: &Settings) -> Self {
        let client = settings.redis_url.as_deref().and_then(|u| match redis::Client::open(u) {
            Ok(c) => Some(c),
            Err(e) => {
                tracing::error!(error = %e, "REDIS_URL is not a valid Redis URL; rate limits and revocation stay in memory");
                None
            }
        });
        Self {
            client,
            prefix: settings.redis_prefix.clone(),
            state: tokio::sync::Mutex::new((None, None)),
        }
    }

    /// Whether Redis is configured at all.
    pub fn configured(&self) -> bool {
        self.client.is_some()
    }

    /// The key prefix (per deployment, and per test).
    pub fn key(&self, suffix: &str) -> String {
        format!("{}{suffix}", self.prefix)
    }

    /// A connection, or `None` when Redis is not configured or currently unreachable.
    pub async fn conn(&self) -> Option<ConnectionManager> {
        let client = self.client.as_ref()?;
        let mut st = self.state.lock().await;
        if let Some(c) = &st.0 {
            return Some(c.clone());
        }
        if st.1.is_some_and(|t| t.elapsed() < RECONNECT_AFTER) {
            return None;
        }
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(REDIS_TIMEOUT)
            .set_response_timeout(REDIS_TIMEOUT)
            .set_number_of_retries(1);
        match tokio::time::timeout(
            REDIS_TIMEOUT * 2,
            client.get_connection_manager_with_config(config),
        )
        .await
        {
            Ok(Ok(c)) => {
                st.0 = Some(c.clone());
                st.1 = None;
                Some(c)
            }
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "Redis is unreachable; using the in-memory fallback");
                st.1 = Some(Instant::now());
                None
            }
            Err(_) => {
                tracing::warn!("Redis connection timed out; using the in-memory fallback");
                st.1 = Some(Instant::now());
                None
            }
        }
    }
}

/// Everything partner-related a server keeps: Redis, the limiter, the revocation list and the
/// safelist cache. One per server, registered as actix app data.
pub struct Partners {
    pub redis: Arc<RedisHandle>,
    pub limiter: ratelimit::RateLimiter,
    pub revocation: revocation::Revocation,
    pub safelist: safelist::Safelist,
}

impl Partners {
    /// Builds from settings; nothing connects until first use.
    pub fn new(settings: &Settings) -> Self {
        let redis = Arc::new(RedisHandle::new(settings));
        Self {
            limiter: ratelimit::RateLimiter::new(settings, redis.clone()),
            revocation: revocation::Revocation::new(redis.clone()),
            safelist: safelist::Safelist::default(),
            redis,
        }
    }
}

/// Whether the principal is a partner system (safelist and revocation apply).
pub fn is_partner(p: &Principal) -> bool {
    p.client_id.is_some() || p.role.starts_with("partner.")
}

/// Admission of an authenticated GraphQL request: revocation, rate limit, and for partner
/// clients the safelist (persisted operations are resolved to their stored text here). On
/// refusal the finished HTTP response is returned.
pub async fn admit(
    req: &HttpRequest,
    app: &Arc<AppState>,
    principal: &Principal,
    batch: BatchRequest,
    rid: &str,
) -> Result<BatchRequest, HttpResponse> {
    let Some(partners) = req.app_data::<actix_web::web::Data<Partners>>().cloned() else {
        return Ok(batch);
    };
    let mut client = None;
    if let Some(client_id) = &principal.client_id {
        // Revoked (disabled) clients are refused before anything else, on every request.
        match partners.revocation.check(app, client_id).await {
            Ok(row) => client = Some(row),
            Err((code, message)) => return Err(crate::http::error_response(code, &message, rid)),
        }
    } else if is_partner(principal) && app.settings.mode == Mode::Production {
        return Err(crate::http::error_response(
            Code::Unauthenticated,
            "partner roles authenticate as API clients: obtain a token from POST /oauth/token",
            rid,
        ));
    }
    // An oversized batch costs one more than the largest allowed, and is refused by the route.
    let oversized = matches!(&batch, BatchRequest::Batch(v) if v.len() > app.settings.max_batch);
    let cost = match &batch {
        BatchRequest::Single(_) => 1,
        BatchRequest::Batch(v) => v.len().clamp(1, app.settings.max_batch + 1) as u32,
    };
    let key = match &principal.client_id {
        Some(c) => format!("client:{c}"),
        None => format!("user:{}", principal.sub),
    };
    let outcome = partners.limiter.take(&principal.role, &key, cost).await;
    req.extensions_mut().insert(outcome.clone());
    if !outcome.allowed {
        crate::metrics::rate_limited(&principal.role);
        return Err(ratelimit::refused(&outcome, rid));
    }
    let Some(client) = client.filter(|_| !oversized) else {
        return Ok(batch);
    };
    match batch {
        BatchRequest::Single(r) => match partners.safelist.resolve(app, &client, r).await {
            Ok(r) => Ok(BatchRequest::Single(r)),
            Err((code, message)) => {
                Err(crate::guard::http::request_error(req, code, &message, rid))
            }
        },
        BatchRequest::Batch(v) => {
            let mut out = Vec::with_capacity(v.len());
            for r in v {
                match partners.safelist.resolve(app, &client, r).await {
                    Ok(r) => out.push(r),
                    Err((code, message)) => {
                        return Err(crate::guard::http::request_error(req, code, &message, rid))
                    }
                }
            }
            Ok(BatchRequest::Batch(out))
        }
    }
}
