//! Per-child access facts, computed once for a batch of children: whether the principal reaches
//! a child only through a referral (and then sees only the referral's authorized view), which
//! field groups a lawful basis releases to the principal's agency for its purpose, and whether
//! the child is reached only through a break-glass grant.

use std::collections::{HashMap, HashSet};
use std::hash::BuildHasherDefault;
use std::sync::Arc;

use carehub_entity::enums::ReferralStatus;
use carehub_entity::{break_glass_grant, child, lawful_basis, referral};
use carehub_policy::{GroupSet, RowScope};
use sea_orm::{ColumnTrait, Condition, EntityTrait, QueryFilter, QuerySelect};
use tokio::sync::OnceCell;
use uuid::Uuid;

use super::context::{FxHasher, RequestCtx};
use crate::error::ApiError;

/// The access facts of one child for one request.
#[derive(Debug, Clone, Copy)]
pub struct ChildAccess {
    pub view: Option<GroupSet>,
    pub lawful: GroupSet,
    pub break_glass: bool,
}

impl ChildAccess {
    /// No restriction beyond the role's remit (records not tied to a child).
    pub fn unrestricted() -> Self {
        Self {
            view: None,
            lawful: GroupSet::EMPTY,
            break_glass: false,
        }
    }

    /// What a child outside the computed batch gets: nothing beyond the always-visible groups.
    fn closed() -> Self {
        Self {
            view: Some(GroupSet::EMPTY),
            lawful: GroupSet::EMPTY,
            break_glass: false,
        }
    }
}

/// Child id → access facts. Looked up once per field of every record read, so hashed with Fx:
/// the keys are the ids of the batch, at most a page.
type AccessMap = HashMap<Uuid, ChildAccess, BuildHasherDefault<FxHasher>>;

/// A batch of children (a page, or one child) whose access facts are computed together.
pub struct ChildSet {
    ids: Vec<Uuid>,
    access: OnceCell<AccessMap>,
}

impl ChildSet {
    pub fn new(ids: Vec<Uuid>) -> Arc<Self> {
        Arc::new(Self {
            ids,
            access: OnceCell::new(),
        })
    }

    /// The children of the batch.
    pub fn ids(&self) -> &[Uuid] {
        &self.ids
    }

    /// The facts for `child`, computing them for the whole batch on first use.
    pub async fn access(&self, rc: &RequestCtx, child: Uuid) -> Result<ChildAccess, ApiError> {
        let map = match self.access.get() {
            Some(map) => map,
            // Boxed, and only by the read that runs it: the computation (several queries) is a
            // large future, and this one is part of the future of every field read, which
            // async-graphql boxes (copies) per field.
            None => {
                self.access
                    .get_or_try_init(|| Box::pin(compute(rc, &self.ids)))
                    .await?
            }
        };
        Ok(map.get(&child).copied().unwrap_or_else(ChildAccess::closed))
    }
}

/// Active break-glass grants of the principal: child id → grant id (loaded once per request).
pub async fn active_grants(rc: &RequestCtx) -> Result<Arc<HashMap<Uuid, Uuid>>, ApiError> {
    rc.grants
        .get_or_try_init(|| async {
            if !rc.policy.role_info(rc.role).break_glass {
                return Ok(Arc::new(HashMap::new()));
            }
            let rows: Vec<(Uuid, Uuid)> = break_glass_grant::Entity::find()
                .select_only()
                .column(break_glass_grant::Column::ChildId)
                .column(break_glass_grant::Column::Id)
                .filter(break_glass_grant::Column::Sub.eq(rc.principal.sub.as_str()))
                .filter(break_glass_grant::Column::ExpiresAt.gt(rc.now))
                .into_tuple()
                .all(&rc.app.db.read)
                .await?;
            Ok(Arc::new(rows.into_iter().collect()))
        })
        .await
        .cloned()
}

async fn compute(rc: &RequestCtx, ids: &[Uuid]) -> Result<AccessMap, ApiError> {
    let policy = &rc.policy;
    let db = &rc.app.db.read;
    let mut out: AccessMap = ids
        .iter()
        .map(|id| (*id, ChildAccess::unrestricted()))
        .collect();
    if ids.is_empty() {
        return Ok(out);
    }

    // Break-glass: children reached through a grant but outside the normal scope.
    let grants = active_grants(rc).await?;
    let granted: Vec<Uuid> = ids
        .iter()
        .copied()
        .filter(|id| grants.contains_key(id))
        .collect();
    if !granted.is_empty() {
        let in_scope: HashSet<Uuid> = match &rc.scope {
            Some(cond) => child::Entity::find()
                .select_only()
                .column(child::Column::Id)
                .filter(child::Column::Id.is_in(granted.clone()))
                .filter(cond.clone())
                .into_tuple::<Uuid>()
                .all(db)
                .await?
                .into_iter()
                .collect(),
            None => HashSet::new(),
        };
        for id in granted.iter().filter(|id| !in_scope.contains(id)) {
            if let Some(a) = out.get_mut(id) {
                a.break_glass = true;
            }
        }
    }

    // Referral view: for roles that reach some children only as a referral's receiver.
    if policy.view_limited(rc.role) {
        let full: HashSet<Uuid> = match policy.full_view_scope(&rc.principal) {
            RowScope::Nothing => HashSet::new(),
            RowScope::All => ids.iter().copied().collect(),
            RowScope::Filter(pred) => child::Entity::find()
                .select_only()
                .column(child::Column::Id)
                .filter(child::Column::Id.is_in(ids.to_vec()))
                .filter(super::scope::to_condition(&pred))
                .into_tuple::<Uuid>()
                .all(db)
                .await?
                .into_iter()
                .collect(),
        };
        // A break-glass grant opens the role's whole remit (bar the never-opened groups), not
        // a referral's view: the emergency is not bounded by what a referral authorized.
        let limited: Vec<Uuid> = ids
            .iter()
            .copied()
            .filter(|id| !full.contains(id) && !out.get(id).is_some_and(|a| a.break_glass))
            .collect();
        if !limited.is_empty() {
            let mut views: HashMap<Uuid, GroupSet> = HashMap::new();
            if let Some(org) = rc.org {
                let rows: Vec<(Uuid, serde_json::Value)> = referral::Entity::find()
                    .select_only()
                    .column(referral::Column::ChildId)
                    .column(referral::Column::AuthorizedView)
                    .filter(referral::Column::ChildId.is_in(limited.clone()))
                    .filter(referral::Column::ToOrgId.eq(org))
                    .filter(referral::Column::Status.is_in(ReferralStatus::OPEN.iter().copied()))
                    .filter(referral::Column::ArchivedAt.is_null())
                    .into_tuple()
                    .all(db)
                    .await?;
                for (child_id, view) in rows {
                    let set = views.entry(child_id).or_insert(GroupSet::EMPTY);
                    for g in view
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|v| v.as_str())
                    {
                        if let Some(gid) = policy.group(g) {
                            set.insert(gid);
                        }
                    }
                }
            }
            for id in limited {
                if let Some(a) = out.get_mut(&id) {
                    a.view = Some(views.get(&id).copied().unwrap_or(GroupSet::EMPTY));
                }
            }
        }
    }

    // Lawful bases: only for roles that could read a group that crosses agencies on a basis.
    if policy.needs_lawful_basis(rc.role) {
        let agency = rc.agency.as_str();
        let purpose = rc.principal.purpose.as_str();
        let rows = lawful_basis::Entity::find()
            .filter(lawful_basis::Column::ChildId.is_in(ids.to_vec()))
            .filter(lawful_basis::Column::WithdrawnAt.is_null())
            .filter(lawful_basis::Column::ArchivedAt.is_null())
            .filter(lawful_basis::Column::ValidFrom.lte(rc.now))
            .filter(
                Condition::any()
                    .add(lawful_basis::Column::ValidTo.is_null())
                    .add(lawful_basis::Column::ValidTo.gt(rc.now)),
            )
            .all(db)
            .await?;
        for b in rows {
            let has = |v: &serde_json::Value, s: &str| {
                v.as_array()
                    .is_some_and(|a| a.iter().any(|x| x.as_str() == Some(s)))
            };
            if !has(&b.recipients, agency) || !has(&b.purposes, purpose) {
                continue;
            }
            if let Some(a) = out.get_mut(&b.child_id) {
                for g in b
                    .field_groups
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|v| v.as_str())
                {
                    if let Some(gid) = policy.group(g) {
                        a.lawful.insert(gid);
                    }
                }
            }
        }
    }
    Ok(out)
}
