//! Enrollment mutations (to be completed).

use async_graphql::Object;

#[derive(Default)]
pub struct EnrollmentMutation;

#[Object]
impl EnrollmentMutation {
    /// Placeholder until the enrollment mutations land.
    async fn enrollment_mutations_pending(&self) -> bool {
        false
    }
}
