//! Flag mutations (to be completed).

use async_graphql::Object;

#[derive(Default)]
pub struct FlagMutation;

#[Object]
impl FlagMutation {
    /// Placeholder until the flag mutations land.
    async fn flag_mutations_pending(&self) -> bool {
        false
    }
}
