//! Revocation of partner tokens: a disabled API client's tokens stop working at once, before
//! they expire. Checked on every request that carries a `client_id`: the revocation list (a
//! Redis hash shared by every replica when `REDIS_URL` is set, this process's memory
//! otherwise), then the client's row. The row is cached for a few seconds only while Redis
//! answers — without Redis (or while it is down) it is read on every request, so a
//! `carehub clients disable` run from another process is seen by the next request either way.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use carehub_entity::api_client;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

use super::{RedisHandle, REDIS_TIMEOUT};
use crate::error::Code;
use crate::state::AppState;

/// How long a client row is trusted while the shared revocation list is reachable.
const ROW_TTL: Duration = Duration::from_secs(10);

/// Redis hash of revoked client ids → disabled-at (unix seconds).
const KEY: &str = "revoked-clients";

/// The revocation list and a short cache of client rows.
pub struct Revocation {
    redis: Arc<RedisHandle>,
    revoked: RwLock<HashSet<String>>,
    rows: Mutex<HashMap<String, (api_client::Model, Instant)>>,
}

fn revoked_message(client_id: &str) -> String {
    format!("token was revoked: API client {client_id} is disabled")
}

impl Revocation {
    /// An empty list over `redis`.
    pub fn new(redis: Arc<RedisHandle>) -> Self {
        Self {
            redis,
            revoked: RwLock::new(HashSet::new()),
            rows: Mutex::new(HashMap::new()),
        }
    }

    fn revoked_locally(&self, client_id: &str) -> bool {
        self.revoked
            .read()
            .map(|s| s.contains(client_id))
            .unwrap_or(true)
    }

    fn remember(&self, client_id: &str) {
        if let Ok(mut s) = self.revoked.write() {
            s.insert(client_id.to_owned());
        }
    }

    /// Refuses a revoked or unknown client; otherwise returns its row (mode, role, org).
    pub async fn check(
        &self,
        app: &AppState,
        client_id: &str,
    ) -> Result<api_client::Model, (Code, String)> {
        if self.revoked_locally(client_id) {
            return Err((Code::Unauthenticated, revoked_message(client_id)));
        }
        let mut shared_ok = false;
        if let Some(mut conn) = self.redis.conn().await {
            let cmd = redis::cmd("HEXISTS")
                .arg(self.redis.key(KEY))
                .arg(client_id)
                .to_owned();
            match tokio::time::timeout(REDIS_TIMEOUT, cmd.query_async::<bool>(&mut conn)).await {
                Ok(Ok(true)) => {
                    self.remember(client_id);
                    return Err((Code::Unauthenticated, revoked_message(client_id)));
                }
                Ok(Ok(false)) => shared_ok = true,
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "revocation: Redis failed; reading the client row")
                }
                Err(_) => tracing::warn!("revocation: Redis timed out; reading the client row"),
            }
        }
        if shared_ok {
            if let Some((row, at)) = self
                .rows
                .lock()
                .ok()
                .and_then(|m| m.get(client_id).cloned())
            {
                if at.elapsed() < ROW_TTL {
                    return Ok(row);
                }
            }
        }
        let row = api_client::Entity::find()
            .filter(api_client::Column::ClientId.eq(client_id))
            .one(&app.db.write)
            .await
            .map_err(|e| {
                tracing::warn!(error = %e, "revocation: cannot read the API client");
                (
                    Code::ServiceUnavailable,
                    "the database is unavailable; retry shortly".to_owned(),
                )
            })?;
        let Some(row) = row else {
            return Err((
                Code::Unauthenticated,
                format!("token names API client {client_id}, which does not exist"),
            ));
        };
        if row.disabled_at.is_some() {
            self.remember(client_id);
            return Err((Code::Unauthenticated, revoked_message(client_id)));
        }
        if let Ok(mut m) = self.rows.lock() {
            if m.len() > 10_000 {
                m.clear();
            }
            m.insert(client_id.to_owned(), (row.clone(), Instant::now()));
        }
        Ok(row)
    }

    /// Revokes in this process and, when Redis is reachable, for every replica.
    pub async fn revoke(&self, client_id: &str) -> bool {
        self.remember(client_id);
        if let Ok(mut m) = self.rows.lock() {
            m.remove(client_id);
        }
        publish(&self.redis, client_id).await
    }
}

/// Adds `client_id` to the shared revocation list; false when Redis is absent or failed (the
/// database's `disabled_at` still revokes: see the module docs).
pub async fn publish(redis: &RedisHandle, client_id: &str) -> bool {
    let Some(mut conn) = redis.conn().await else {
        return false;
    };
    let cmd = redis::cmd("HSET")
        .arg(redis.key(KEY))
        .arg(client_id)
        .arg(chrono::Utc::now().timestamp())
        .to_owned();
    match tokio::time::timeout(REDIS_TIMEOUT, cmd.query_async::<i64>(&mut conn)).await {
        Ok(Ok(_)) => true,
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "could not publish the revocation to Redis");
            false
        }
        Err(_) => false,
    }
}
