//! The root `Subscription`: live events over WebSocket (graphql-transport-ws and graphql-ws),
//! each authorized against the subscriber's current scope and field mask at delivery.

use async_graphql::Subscription;
use futures::Stream;

/// Live operations.
#[derive(Default)]
pub struct SubscriptionRoot;

#[Subscription(name = "Subscription")]
impl SubscriptionRoot {
    /// Placeholder until the event subscriptions land: a stream that ends at once.
    async fn subscriptions_pending(&self) -> impl Stream<Item = bool> {
        futures::stream::empty()
    }
}
