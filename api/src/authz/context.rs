//! The per-request authorization context: who asks (principal and compiled role), why
//! (purpose), the row scope compiled to SQL once, and the request's audit collector.

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::Context;
use carehub_entity::enums::Agency;
use carehub_policy::{FieldId, Policy, Principal, RoleId, RowScope};
use chrono::{DateTime, Utc};
use sea_orm::Condition;
use tokio::sync::OnceCell;
use uuid::Uuid;

use crate::audit::Collector;
use crate::error::ApiError;
use crate::state::AppState;

/// `(GraphQL type, field)` → policy field id, built once from the policy.
#[derive(Debug, Default)]
pub struct FieldIndex {
    by_type: HashMap<String, HashMap<String, FieldId>>,
}

impl FieldIndex {
    /// Indexes every field the policy names.
    pub fn new(policy: &Policy) -> Self {
        let mut by_type: HashMap<String, HashMap<String, FieldId>> = HashMap::new();
        for f in policy.fields() {
            if let Some((ty, name)) = policy.field_name(f).split_once('.') {
                by_type
                    .entry(ty.to_owned())
                    .or_default()
                    .insert(name.to_owned(), f);
            }
        }
        Self { by_type }
    }

    /// The policy id of `Type.field`, if the policy covers it.
    pub fn get(&self, ty: &str, field: &str) -> Option<FieldId> {
        self.by_type.get(ty)?.get(field).copied()
    }
}

/// Everything a resolver needs to decide and account for one request.
pub struct RequestCtx {
    pub app: Arc<AppState>,
    pub policy: Arc<Policy>,
    pub principal: Principal,
    pub role: RoleId,
    pub agency: Agency,
    pub org: Option<Uuid>,
    /// The row scope as SQL; `None` means no rows at all (aggregate-only roles).
    pub scope: Option<Condition>,
    pub request_id: String,
    pub client_addr: Option<String>,
    pub operation: std::sync::Mutex<Option<String>>,
    pub audit: Collector,
    pub now: DateTime<Utc>,
    /// Children this principal holds an active break-glass grant for (loaded on first use).
    pub grants: OnceCell<Arc<HashMap<Uuid, Uuid>>>,
}

impl std::fmt::Debug for RequestCtx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RequestCtx")
            .field("sub", &self.principal.sub)
            .field("role", &self.principal.role)
            .finish()
    }
}

impl RequestCtx {
    /// Builds the context for an authenticated principal.
    pub fn new(
        app: Arc<AppState>,
        principal: Principal,
        request_id: String,
        client_addr: Option<String>,
    ) -> Result<Self, ApiError> {
        let policy = app.policy.clone();
        let role = policy.role(&principal.role).ok_or_else(|| {
            ApiError::Unauthenticated(format!(
                "role {:?} is not in the remit policy",
                principal.role
            ))
        })?;
        let agency = Agency::parse(principal.agency.as_str()).ok_or_else(|| {
            ApiError::Unauthenticated(format!("agency {:?} is unknown", principal.agency.as_str()))
        })?;
        let org = principal
            .org
            .as_deref()
            .and_then(|o| Uuid::parse_str(o).ok());
        let scope = match policy.row_scope(&principal) {
            RowScope::Nothing => None,
            RowScope::All => Some(Condition::all()),
            RowScope::Filter(pred) => Some(super::scope::to_condition(&pred)),
        };
        Ok(Self {
            app,
            policy,
            principal,
            role,
            agency,
            org,
            scope,
            request_id,
            client_addr,
            operation: std::sync::Mutex::new(None),
            audit: Collector::default(),
            now: Utc::now(),
            grants: OnceCell::new(),
        })
    }

    /// The request context stored in GraphQL request data.
    pub fn of<'a>(ctx: &'a Context<'_>) -> &'a Arc<RequestCtx> {
        ctx.data_unchecked::<Arc<RequestCtx>>()
    }

    /// The row scope, or `FORBIDDEN` for roles that may see no rows.
    pub fn scope_or_forbidden(&self) -> Result<Condition, ApiError> {
        self.scope.clone().ok_or_else(|| {
            ApiError::forbidden(format!(
                "role {} sees aggregates only, not records",
                self.principal.role
            ))
        })
    }

    /// The name of the operation being run (for the audit trail).
    pub fn operation_name(&self) -> Option<String> {
        self.operation.lock().ok().and_then(|g| g.clone())
    }
}
