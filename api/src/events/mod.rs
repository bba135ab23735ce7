//! Events: the relay that turns committed outbox rows into the ordered change feed (assigning
//! each a gap-free cursor in commit-visibility order), the bus that carries them to this
//! replica's subscriptions, and the Redis fan-out that carries them to the other replicas.

mod bus;
mod fanout;
pub mod hub;
pub mod outbox;
mod relay;
mod seen;
mod stats;

pub use bus::{EventBus, EventBusOptions};
pub use hub::Delivery;
pub use relay::{assign_cursors, PublishedEvent};
pub use stats::{EventStats, EventStatsSnapshot, RedisHealth};
