//! Pairing mutations (to be completed).

use async_graphql::Object;

#[derive(Default)]
pub struct PairingMutation;

#[Object]
impl PairingMutation {
    /// Placeholder until the pairing mutations land.
    async fn pairing_mutations_pending(&self) -> bool {
        false
    }
}
