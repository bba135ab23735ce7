//! Events: the relay that turns committed outbox rows into the ordered change feed (assigning
//! each a gap-free cursor in commit-visibility order) and publishes them to subscribers.

mod relay;

pub use relay::{EventBus, PublishedEvent};
