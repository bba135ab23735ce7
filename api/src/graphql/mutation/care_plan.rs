//! CarePlan mutations (to be completed).

use async_graphql::Object;

#[derive(Default)]
pub struct CarePlanMutation;

#[Object]
impl CarePlanMutation {
    /// Placeholder until the care_plan mutations land.
    async fn care_plan_mutations_pending(&self) -> bool {
        false
    }
}
