//! Supervision mutations (to be completed).

use async_graphql::Object;

#[derive(Default)]
pub struct SupervisionMutation;

#[Object]
impl SupervisionMutation {
    /// Placeholder until the supervision mutations land.
    async fn supervision_mutations_pending(&self) -> bool {
        false
    }
}
