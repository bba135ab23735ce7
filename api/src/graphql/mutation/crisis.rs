//! Crisis mutations (to be completed).

use async_graphql::Object;

#[derive(Default)]
pub struct CrisisMutation;

#[Object]
impl CrisisMutation {
    /// Placeholder until the crisis mutations land.
    async fn crisis_mutations_pending(&self) -> bool {
        false
    }
}
