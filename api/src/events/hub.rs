//! Routing events to subscriptions. Each subscription listens on one topic — a record type (or
//! any type) in a region prefix — so an event wakes only the subscriptions that could want it,
//! not all ten thousand. An event is wrapped once per replica in a [`Delivery`] that carries
//! per-event caches shared by every subscriber: the record is loaded once, and a scope check is
//! run once per distinct scope predicate (the same SQL gives the same answer at the same moment),
//! while each subscriber is still decided with its own, current principal.

use std::any::Any;
use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use sea_orm::{DatabaseConnection, EntityTrait, PrimaryKeyTrait};
use tokio::sync::{broadcast, OnceCell};
use uuid::Uuid;

use super::PublishedEvent;
use crate::domain::region::LEVEL_DIGITS;
use crate::error::ApiError;

/// Topic for subscriptions to every record type.
pub const ANY_ENTITY: &str = "*";
/// Region prefix of subscriptions to every region.
pub const ANY_REGION: &str = "";
/// Events buffered per topic before a slow subscriber starts missing some.
const TOPIC_CAPACITY: usize = 1024;

type Shared = Arc<dyn Any + Send + Sync>;

/// One event as delivered on this replica, with the caches its subscribers share.
pub struct Delivery {
    pub event: Arc<PublishedEvent>,
    /// Where the change happened: the event's region, else the child's residence.
    pub region: Option<i64>,
    /// When this replica accepted the event.
    pub accepted_at: Instant,
    row: OnceCell<Option<Shared>>,
    scopes: Mutex<HashMap<String, Arc<OnceCell<bool>>>>,
    shared: Mutex<HashMap<String, Shared>>,
}

impl std::fmt::Debug for Delivery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Delivery")
            .field("cursor", &self.event.cursor)
            .field("entity", &self.event.model.entity)
            .field("region", &self.region)
            .finish()
    }
}

impl Delivery {
    pub fn new(event: Arc<PublishedEvent>, region: Option<i64>) -> Self {
        Self {
            event,
            region,
            accepted_at: Instant::now(),
            row: OnceCell::new(),
            scopes: Mutex::new(HashMap::new()),
            shared: Mutex::new(HashMap::new()),
        }
    }

    /// The changed record as it is now (loaded once for all subscribers; `None` if gone or if
    /// `E` is not the event's record type).
    pub async fn row<E>(&self, db: &DatabaseConnection) -> Result<Option<Arc<E::Model>>, ApiError>
    where
        E: EntityTrait,
        E::Model: Send + Sync + 'static,
        <E::PrimaryKey as PrimaryKeyTrait>::ValueType: From<Uuid>,
    {
        let id = self.event.model.record_id;
        let shared = self
            .row
            .get_or_try_init(|| async move {
                let row = E::find_by_id(id).one(db).await?;
                Ok::<_, ApiError>(row.map(|m| Arc::new(m) as Shared))
            })
            .await?;
        Ok(shared.clone().and_then(|s| s.downcast::<E::Model>().ok()))
    }

    /// The answer of a scope check, run once per distinct `key` for this event.
    pub async fn scope_check<F, Fut>(&self, key: String, check: F) -> Result<bool, ApiError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<bool, ApiError>>,
    {
        let cell = {
            let mut map = self
                .scopes
                .lock()
                .map_err(|_| ApiError::Internal(anyhow::anyhow!("scope cache poisoned")))?;
            map.entry(key).or_default().clone()
        };
        cell.get_or_try_init(check).await.copied()
    }
}

impl Delivery {
    /// A value shared by the subscribers whose answers cannot differ (same `key`), made by the
    /// first of them: e.g. the access facts of the record's child for one role and purpose.
    pub fn shared<T: Any + Send + Sync>(&self, key: &str, make: impl FnOnce() -> Arc<T>) -> Arc<T> {
        let Ok(mut map) = self.shared.lock() else {
            return make();
        };
        if let Some(found) = map.get(key).and_then(|v| v.clone().downcast::<T>().ok()) {
            return found;
        }
        let made = make();
        map.insert(key.to_owned(), made.clone() as Shared);
        made
    }
}

/// The topics of this replica and their subscribers.
#[derive(Default)]
pub struct Hub {
    topics: Mutex<HashMap<String, broadcast::Sender<Arc<Delivery>>>>,
}

impl std::fmt::Debug for Hub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = self.topics.lock().map(|t| t.len()).unwrap_or(0);
        f.debug_struct("Hub").field("topics", &n).finish()
    }
}

fn key(entity: &str, prefix: &str) -> String {
    format!("{entity}|{prefix}")
}

impl Hub {
    /// Listens to changes of `entity` (or [`ANY_ENTITY`]) inside region `prefix` (or
    /// [`ANY_REGION`]).
    pub fn watch(&self, entity: &str, prefix: &str) -> broadcast::Receiver<Arc<Delivery>> {
        let Ok(mut topics) = self.topics.lock() else {
            // A poisoned map only happens after a panic elsewhere; a receiver that never fires
            // is the safe degradation.
            return broadcast::channel(1).1;
        };
        if topics.len() > 4096 {
            topics.retain(|_, tx| tx.receiver_count() > 0);
        }
        topics
            .entry(key(entity, prefix))
            .or_insert_with(|| broadcast::channel(TOPIC_CAPACITY).0)
            .subscribe()
    }

    /// Sends a delivery to every topic it belongs to.
    pub fn dispatch(&self, d: &Arc<Delivery>) {
        let entity = d.event.model.entity.as_str();
        let mut prefixes: Vec<String> = vec![ANY_REGION.to_owned()];
        if let Some(code) = d.region {
            let digits = crate::domain::region::format_code(code);
            prefixes.extend(
                LEVEL_DIGITS
                    .iter()
                    .filter_map(|n| digits.get(..*n).map(str::to_owned)),
            );
        }
        let Ok(mut topics) = self.topics.lock() else {
            return;
        };
        for p in &prefixes {
            for e in [entity, ANY_ENTITY] {
                let k = key(e, p);
                if let Some(tx) = topics.get(&k) {
                    if tx.send(d.clone()).is_err() {
                        // Nobody listens any more.
                        topics.remove(&k);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use carehub_entity::change_event;

    fn event(entity: &str, region: Option<i64>) -> Arc<Delivery> {
        let model = change_event::Model {
            id: 1,
            cursor: Some(1),
            entity: entity.into(),
            record_id: Uuid::nil(),
            child_id: None,
            op: "CREATE".into(),
            changed: serde_json::json!({}),
            actor: "t".into(),
            actor_agency: "CIVIL_AFFAIRS".into(),
            actor_org: None,
            purpose: None,
            request_id: None,
            region_code: region,
            at: chrono::Utc::now(),
        };
        Arc::new(Delivery::new(
            Arc::new(PublishedEvent { cursor: 1, model }),
            region,
        ))
    }

    #[test]
    fn events_reach_only_matching_topics() {
        let hub = Hub::default();
        let mut county = hub.watch("Report", "450102");
        let mut other = hub.watch("Report", "450103");
        let mut any = hub.watch(ANY_ENTITY, "45");
        let mut referrals = hub.watch("Referral", ANY_REGION);
        hub.dispatch(&event("Report", Some(450_102_001_001)));
        assert!(county.try_recv().is_ok());
        assert!(other.try_recv().is_err());
        assert!(any.try_recv().is_ok());
        assert!(referrals.try_recv().is_err());
        hub.dispatch(&event("Referral", None));
        assert!(referrals.try_recv().is_ok());
        assert!(any.try_recv().is_err(), "no region: only all-region topics");
    }
}
