//! Dynamic-monitoring indicators (动态监测) per region, computed in SQL with statistical
//! disclosure control for roles without row access.

use async_graphql::Object;

/// Indicator queries.
#[derive(Default)]
pub struct IndicatorQuery;

#[Object]
impl IndicatorQuery {
    /// Placeholder until the indicators land.
    async fn indicators_pending(&self) -> bool {
        false
    }
}
