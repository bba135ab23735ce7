//! The per-request authorization context: who asks (principal and compiled role), why
//! (purpose), the row scope compiled to SQL once, and the request's audit collector.

use std::collections::{BTreeSet, HashMap};
use std::hash::BuildHasherDefault;
use std::sync::{Arc, Mutex};

use async_graphql::Context;
use carehub_entity::enums::Agency;
use carehub_policy::{FieldId, GroupId, Policy, Pred, Principal, RoleId, RowScope};
use chrono::{DateTime, Utc};
use sea_orm::Condition;
use tokio::sync::OnceCell;
use uuid::Uuid;

use crate::audit::Collector;
use crate::domain::region::RegionPrefix;
use crate::error::ApiError;
use crate::state::AppState;

/// `(GraphQL type, field)` → policy field id, built once from the policy. The guard asks it
/// once per field of every record served, so it hashes with [`FxHasher`] instead of SipHash,
/// and it also hands out the field and group names as interned `&'static str`s, which the
/// audit collector stores without copying.
#[derive(Debug, Default)]
pub struct FieldIndex {
    /// `(type, field)` → id: one hash and one probe per lookup.
    by_field: FxMap<(&'static str, &'static str), FieldId>,
    /// Field name (without the type) by field id.
    names: Vec<&'static str>,
    /// Group name by group id.
    groups: Vec<&'static str>,
}

/// What the policy calls a group id it does not have (as `Policy::group_name` does).
const UNKNOWN_GROUP: &str = "(unknown group)";

impl FieldIndex {
    /// Indexes every field the policy names.
    pub fn new(policy: &Policy) -> Self {
        let mut by_field = FxMap::default();
        let mut names = Vec::new();
        for f in policy.fields() {
            let qualified = policy.field_name(f);
            let name = match qualified.split_once('.') {
                Some((ty, name)) => {
                    let name = intern(name);
                    by_field.insert((intern(ty), name), f);
                    name
                }
                None => intern(qualified),
            };
            names.push(name);
        }
        let groups = policy
            .groups()
            .map(|g| intern(policy.group_name(g)))
            .collect();
        Self {
            by_field,
            names,
            groups,
        }
    }

    /// The policy id of `Type.field`, if the policy covers it.
    pub fn get(&self, ty: &str, field: &str) -> Option<FieldId> {
        // A map is covariant in its key type: this looks the borrowed names up as they are.
        let by_field: &FxMap<(&str, &str), FieldId> = &self.by_field;
        by_field.get(&(ty, field)).copied()
    }

    /// The field name of `f` (`field` of `Type.field`), interned; `""` for a foreign id.
    pub fn field_name(&self, f: FieldId) -> &'static str {
        self.names.get(f.index()).copied().unwrap_or("")
    }

    /// The name of group `g`, interned; `(unknown group)` for a foreign id.
    pub fn group_name(&self, g: GroupId) -> &'static str {
        self.groups.get(g.index()).copied().unwrap_or(UNKNOWN_GROUP)
    }
}

/// A `HashMap` hashed with [`FxHasher`].
type FxMap<K, V> = HashMap<K, V, BuildHasherDefault<FxHasher>>;

/// The Fx hash (rustc's, from `rustc-hash`) for the per-field lookups of the guard and the audit
/// collector. Their keys are the policy's own type and field names, entity names and the ids of
/// rows already loaded, not text a caller chooses to collide: SipHash's flooding resistance buys
/// nothing there.
pub(crate) use rustc_hash::FxHasher;

/// One `&'static str` per distinct name, for the life of the process. Only `FieldIndex::new`
/// interns (once per policy load: the names of one policy file), so what it keeps is bounded
/// by the names the policies of this process ever had.
fn intern(name: &str) -> &'static str {
    static NAMES: Mutex<BTreeSet<&'static str>> = Mutex::new(BTreeSet::new());
    let mut names = NAMES.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(n) = names.get(name) {
        return n;
    }
    let n: &'static str = Box::leak(name.to_owned().into_boxed_str());
    names.insert(n);
    n
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
    /// The region prefix when the row scope is exactly "children residing in it".
    scope_region: Option<RegionPrefix>,
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
        let (scope, scope_region) = match policy.row_scope(&principal) {
            RowScope::Nothing => (None, None),
            RowScope::All => (Some(Condition::all()), None),
            RowScope::Filter(pred) => (
                Some(super::scope::to_condition(&pred)),
                match &pred {
                    Pred::RegionPrefix(p) => RegionPrefix::parse(p).ok(),
                    _ => None,
                },
            ),
        };
        Ok(Self {
            app,
            policy,
            principal,
            role,
            agency,
            org,
            scope,
            scope_region,
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

    /// The row scope for rows the query already restricts to `region`: a region scope that
    /// covers `region` adds nothing, so it is left out — its range predicate, planned once
    /// for any parameters, made PostgreSQL intersect a whole-province index range with the
    /// region's (15 ms instead of 0.5 ms for a county's page). `FORBIDDEN` like
    /// [`Self::scope_or_forbidden`] for roles that may see no rows.
    pub fn scope_within(&self, region: Option<&RegionPrefix>) -> Result<Condition, ApiError> {
        let scope = self.scope_or_forbidden()?;
        Ok(match (&self.scope_region, region) {
            (Some(s), Some(r)) if s.covers(r) => Condition::all(),
            _ => scope,
        })
    }

    /// The name of the operation being run (for the audit trail).
    pub fn operation_name(&self) -> Option<String> {
        self.operation.lock().ok().and_then(|g| g.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_index_agrees_with_the_policy() {
        let policy = Policy::default_policy();
        let index = FieldIndex::new(&policy);
        let mut seen = 0;
        for f in policy.fields() {
            let qualified = policy.field_name(f);
            let Some((ty, name)) = qualified.split_once('.') else {
                continue;
            };
            assert_eq!(index.get(ty, name), Some(f), "{qualified}");
            assert_eq!(index.field_name(f), name);
            seen += 1;
        }
        assert!(seen > 100, "{seen}");
        for g in policy.groups() {
            assert_eq!(index.group_name(g), policy.group_name(g));
        }
        assert_eq!(index.get("Child", "noSuchField"), None);
        assert_eq!(index.get("NoSuchType", "name"), None);
        // A second index (a reloaded policy) shares the interned names.
        let again = FieldIndex::new(&policy);
        let name = |i: &FieldIndex| i.get("Child", "name").map(|f| i.field_name(f).as_ptr());
        assert_eq!(name(&index), name(&again));
    }
}
