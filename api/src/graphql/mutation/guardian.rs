//! Guardian mutations (to be completed).

use async_graphql::Object;

#[derive(Default)]
pub struct GuardianMutation;

#[Object]
impl GuardianMutation {
    /// Placeholder until the guardian mutations land.
    async fn guardian_mutations_pending(&self) -> bool {
        false
    }
}
