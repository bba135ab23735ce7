//! LawfulBasis mutations (to be completed).

use async_graphql::Object;

#[derive(Default)]
pub struct LawfulBasisMutation;

#[Object]
impl LawfulBasisMutation {
    /// Placeholder until the lawful_basis mutations land.
    async fn lawful_basis_mutations_pending(&self) -> bool {
        false
    }
}
