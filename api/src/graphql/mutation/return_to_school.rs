//! ReturnToSchool mutations (to be completed).

use async_graphql::Object;

#[derive(Default)]
pub struct ReturnToSchoolMutation;

#[Object]
impl ReturnToSchoolMutation {
    /// Placeholder until the return_to_school mutations land.
    async fn return_to_school_mutations_pending(&self) -> bool {
        false
    }
}
