//! Token-bucket rate limits per API client and per user, sized per role from config.
//!
//! With `REDIS_URL` every replica shares one bucket per key, updated by a Lua script (atomic,
//! one round trip, Redis's own clock so replicas' clocks do not matter). Without Redis the
//! buckets live in this process. Fallback rule: when Redis is configured but unreachable or
//! slower than 300 ms, the request is counted in this replica's in-memory bucket instead
//! (limits then hold per replica, so a cluster of N replicas admits at most N times the limit
//! until Redis is back); requests are never refused only because Redis is down.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use actix_web::HttpResponse;

use super::{RedisHandle, REDIS_TIMEOUT};
use crate::config::Settings;
use crate::error::Code;

/// One per-role override: `pattern=per_minute/burst`, the pattern a role name or a prefix
/// ending in `*` (`partner.*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleLimit {
    pub pattern: String,
    pub per_minute: u32,
    pub burst: u32,
}

/// Parses `partner.*=600/120,partner.hotline_app=1200/200` (empty: no overrides).
pub fn parse_role_limits(raw: &str) -> Result<Vec<RoleLimit>, String> {
    let mut out = Vec::new();
    for item in raw.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let rule = || {
            format!("entry {item:?} must look like `role=per_minute/burst` or `prefix.*=per_minute/burst`")
        };
        let (pattern, limits) = item.split_once('=').ok_or_else(rule)?;
        let (pm, burst) = limits.split_once('/').ok_or_else(rule)?;
        let pattern = pattern.trim();
        if pattern.is_empty() || pattern[..pattern.len().saturating_sub(1)].contains('*') {
            return Err(rule());
        }
        out.push(RoleLimit {
            pattern: pattern.to_owned(),
            per_minute: pm.trim().parse().map_err(|_| rule())?,
            burst: burst.trim().parse().map_err(|_| rule())?,
        });
    }
    Ok(out)
}

/// The result of taking from a bucket; also drives the `RateLimit-*` response headers.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub allowed: bool,
    /// Bucket capacity (burst).
    pub limit: u32,
    pub per_minute: u32,
    pub remaining: u32,
    /// Seconds until a refused request could succeed (0 when allowed).
    pub retry_after: u64,
    /// Seconds until the bucket is full again.
    pub reset: u64,
    /// Whether the shared (Redis) bucket decided, rather than this replica's memory.
    pub shared: bool,
}

impl Outcome {
    /// The `RateLimit-*` (and, when refused, `Retry-After`) headers.
    pub fn headers(&self) -> Vec<(&'static str, String)> {
        let mut h = vec![
            ("ratelimit-limit", self.limit.to_string()),
            ("ratelimit-remaining", self.remaining.to_string()),
            ("ratelimit-reset", self.reset.to_string()),
            (
                "ratelimit-policy",
                format!("{};w=60;burst={}", self.per_minute, self.limit),
            ),
        ];
        if !self.allowed {
            h.push(("retry-after", self.retry_after.max(1).to_string()));
        }
        h
    }
}

/// The 429 response of a refused request.
pub fn refused(o: &Outcome, rid: &str) -> HttpResponse {
    let secs = o.retry_after.max(1);
    let mut resp = crate::http::error_response(
        Code::RateLimited,
        &format!(
            "rate limit of {} requests per minute (burst {}) exceeded; retry after {secs} s",
            o.per_minute, o.limit
        ),
        rid,
    );
    for (k, v) in o.headers() {
        if let Ok(v) = actix_web::http::header::HeaderValue::from_str(&v) {
            resp.headers_mut()
                .insert(actix_web::http::header::HeaderName::from_static(k), v);
        }
    }
    resp
}

/// Atomic token bucket: KEYS[1] bucket; ARGV capacity, tokens per millisecond, cost.
/// Returns {allowed, remaining, retry_after_ms, ms_until_full}.
const LUA: &str = r#"
local capacity = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local b = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(b[1])
local ts = tonumber(b[2])
if tokens == nil or ts == nil then
  tokens = capacity
  ts = now
end
if now > ts then
  tokens = math.min(capacity, tokens + (now - ts) * rate)
  ts = now
end
local allowed = 0
local retry = 0
if tokens >= cost then
  tokens = tokens - cost
  allowed = 1
else
  retry = math.ceil((cost - tokens) / rate)
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(ts))
local full = math.ceil((capacity - tokens) / rate)
redis.call('PEXPIRE', KEYS[1], full + 1000)
return {allowed, math.floor(tokens), retry, full}
"#;

struct Bucket {
    tokens: f64,
    at: Instant,
}

/// Buckets per key, in Redis when present and in memory otherwise.
pub struct RateLimiter {
    per_minute: u32,
    burst: u32,
    roles: Vec<RoleLimit>,
    redis: Arc<RedisHandle>,
    script: redis::Script,
    memory: Mutex<HashMap<String, Bucket>>,
}

impl RateLimiter {
    /// Limits from settings.
    pub fn new(settings: &Settings, redis: Arc<RedisHandle>) -> Self {
        Self {
            per_minute: settings.rate_limit_per_minute,
            burst: settings.rate_limit_burst,
            roles: settings.rate_limit_roles.clone(),
            redis,
            script: redis::Script::new(LUA),
            memory: Mutex::new(HashMap::new()),
        }
    }

    /// `(per_minute, burst)` for a role: an exact entry, else the longest matching prefix,
    /// else the defaults. `per_minute = 0` means unlimited.
    pub fn limits_for(&self, role: &str) -> (u32, u32) {
        if let Some(r) = self.roles.iter().find(|r| r.pattern == role) {
            return (r.per_minute, r.burst);
        }
        self.roles
            .iter()
            .filter_map(|r| {
                r.pattern
                    .strip_suffix('*')
                    .filter(|p| role.starts_with(p))
                    .map(|p| (p.len(), r))
            })
            .max_by_key(|(len, _)| *len)
            .map(|(_, r)| (r.per_minute, r.burst))
            .unwrap_or((self.per_minute, self.burst))
    }

    /// Takes `cost` tokens from the bucket `key` (e.g. `client:abc`, `user:u1`).
    pub async fn take(&self, role: &str, key: &str, cost: u32) -> Outcome {
        let (per_minute, burst) = self.limits_for(role);
        if per_minute == 0 {
            return Outcome {
                allowed: true,
                limit: burst,
                per_minute,
                remaining: burst,
                retry_after: 0,
                reset: 0,
                shared: false,
            };
        }
        let rate_ms = f64::from(per_minute) / 60_000.0;
        if let Some(mut conn) = self.redis.conn().await {
            let mut inv = self.script.prepare_invoke();
            inv.key(self.redis.key(&format!("rl:{key}")))
                .arg(burst)
                .arg(rate_ms)
                .arg(cost);
            match tokio::time::timeout(REDIS_TIMEOUT, inv.invoke_async::<Vec<i64>>(&mut conn)).await
            {
                Ok(Ok(v)) if v.len() == 4 => {
                    return Outcome {
                        allowed: v[0] == 1,
                        limit: burst,
                        per_minute,
                        remaining: u32::try_from(v[1].max(0)).unwrap_or(0),
                        retry_after: ms_to_secs(v[2]),
                        reset: ms_to_secs(v[3]),
                        shared: true,
                    };
                }
                Ok(Ok(v)) => tracing::warn!(
                    reply.len = v.len(),
                    "unexpected rate-limit script reply; counting in memory"
                ),
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "rate limit: Redis failed; counting in memory")
                }
                Err(_) => tracing::warn!("rate limit: Redis timed out; counting in memory"),
            }
        }
        self.take_in_memory(key, per_minute, burst, cost)
    }

    fn take_in_memory(&self, key: &str, per_minute: u32, burst: u32, cost: u32) -> Outcome {
        let rate_ms = f64::from(per_minute) / 60_000.0;
        let capacity = f64::from(burst);
        let now = Instant::now();
        let mut map = self.memory.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() > 50_000 {
            // Forget buckets that have refilled: they hold no information.
            map.retain(|_, b| {
                b.tokens + now.duration_since(b.at).as_millis() as f64 * rate_ms < capacity
            });
        }
        let b = map.entry(key.to_owned()).or_insert(Bucket {
            tokens: capacity,
            at: now,
        });
        let elapsed = now.duration_since(b.at).as_secs_f64() * 1000.0;
        b.tokens = (b.tokens + elapsed * rate_ms).min(capacity);
        b.at = now;
        let cost = f64::from(cost);
        let (allowed, retry) = if b.tokens >= cost {
            b.tokens -= cost;
            (true, 0.0)
        } else {
            (false, ((cost - b.tokens) / rate_ms).ceil())
        };
        let full = ((capacity - b.tokens) / rate_ms).ceil();
        Outcome {
            allowed,
            limit: burst,
            per_minute,
            remaining: b.tokens.floor().max(0.0) as u32,
            retry_after: ms_to_secs(retry as i64),
            reset: ms_to_secs(full as i64),
            shared: false,
        }
    }
}

fn ms_to_secs(ms: i64) -> u64 {
    u64::try_from(ms.max(0)).unwrap_or(0).div_ceil(1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_limits_parse_and_match() {
        let roles = parse_role_limits("partner.*=600/120, partner.hotline_app=60/10").unwrap();
        assert_eq!(roles.len(), 2);
        assert!(parse_role_limits("partner.*=600").is_err());
        assert!(parse_role_limits("a*b=1/1").is_err());
        assert!(parse_role_limits("").unwrap().is_empty());
        let mut s = Settings::from_sources(&Default::default()).unwrap();
        s.rate_limit_roles = roles;
        let l = RateLimiter::new(&s, Arc::new(RedisHandle::new(&s)));
        assert_eq!(l.limits_for("partner.hotline_app"), (60, 10));
        assert_eq!(l.limits_for("partner.school_system"), (600, 120));
        assert_eq!(
            l.limits_for("education.head_teacher"),
            (s.rate_limit_per_minute, s.rate_limit_burst)
        );
    }

    #[test]
    fn memory_bucket_refuses_the_burst_plus_one() {
        let s = Settings::from_sources(&Default::default()).unwrap();
        let l = RateLimiter::new(&s, Arc::new(RedisHandle::new(&s)));
        for i in 0..5 {
            let o = l.take_in_memory("k", 1, 5, 1);
            assert!(o.allowed, "request {i}");
            assert_eq!(o.remaining, 4 - i);
        }
        let o = l.take_in_memory("k", 1, 5, 1);
        assert!(!o.allowed);
        assert!(o.retry_after >= 59, "{o:?}");
        assert!(o.headers().iter().any(|(k, _)| *k == "retry-after"));
    }
}
