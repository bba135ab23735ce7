//! VictimAid mutations (to be completed).

use async_graphql::Object;

#[derive(Default)]
pub struct VictimAidMutation;

#[Object]
impl VictimAidMutation {
    /// Placeholder until the victim_aid mutations land.
    async fn victim_aid_mutations_pending(&self) -> bool {
        false
    }
}
