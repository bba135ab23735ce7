//! ServiceRecord mutations (to be completed).

use async_graphql::Object;

#[derive(Default)]
pub struct ServiceRecordMutation;

#[Object]
impl ServiceRecordMutation {
    /// Placeholder until the service_record mutations land.
    async fn service_record_mutations_pending(&self) -> bool {
        false
    }
}
