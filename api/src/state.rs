//! The process-wide state shared by every request: settings, database pools, the compiled
//! policy and its field index, the token verifier, the identifier vault, and the background
//! services (audit writer, event bus).

use std::sync::Arc;

use carehub_policy::Policy;

use crate::auth::Authenticator;
use crate::authz::FieldIndex;
use crate::config::Settings;
use crate::crypto::Vault;
use crate::db::Db;

/// Shared application state.
pub struct AppState {
    pub settings: Settings,
    pub db: Db,
    pub policy: Arc<Policy>,
    pub fields: FieldIndex,
    pub auth: Authenticator,
    pub vault: Vault,
    /// Name of this replica (audit chains, logs).
    pub instance_id: String,
    pub audit: crate::audit::AuditWriter,
    pub events: crate::events::EventBus,
    /// Shutdown state: `/readyz` and WebSocket sessions watch it.
    pub lifecycle: crate::lifecycle::Lifecycle,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("instance_id", &self.instance_id)
            .finish_non_exhaustive()
    }
}
