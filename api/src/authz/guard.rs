//! The guard every GraphQL field goes through. A `Node` is one row plus its siblings (the rows
//! loaded with it, so nested lists load once for all of them) and the access facts of its child.
//! Reading a field asks the policy with the row's facts: allowed values are returned (and
//! audited when sensitive), masked fields return the mask, anything else is `null` plus a
//! `FORBIDDEN` or `CONSENT_REQUIRED` error naming the field.

use std::any::Any;
use std::collections::HashMap;
use std::future::Future;
use std::hash::BuildHasherDefault;
use std::sync::{Arc, Mutex};

use async_graphql::{Context, ErrorExtensions};
use carehub_entity::enums::Agency;
use carehub_policy::{ClassSet, FieldId, GroupId, ReadDecision, RowFacts};
use tokio::sync::OnceCell;
use uuid::Uuid;

use super::access::{ChildAccess, ChildSet};
use super::context::{FxHasher, RequestCtx};
use crate::audit::Decision;
use crate::error::{ApiError, GqlResult};

/// What the guard needs to know about a stored row.
pub trait Record: Send + Sync + 'static {
    /// GraphQL type name (the policy's type).
    const TYPE: &'static str;
    /// The row's id (audit record id).
    fn id(&self) -> Uuid;
    /// The child the row belongs to, if any.
    fn child_id(&self) -> Option<Uuid>;
    /// The organization that decides "own organization" rules.
    fn org_id(&self) -> Option<Uuid>;
    /// The agency that wrote the row (a read by another agency crosses agencies).
    fn owner_agency(&self) -> Option<Agency>;
    /// Row classes that move fields between groups (e.g. harm reports).
    fn classes(&self) -> ClassSet {
        ClassSet::EMPTY
    }
}

type Cell = Arc<OnceCell<Arc<dyn Any + Send + Sync>>>;

/// Rows loaded together. Relation loads are cached per (relation, argument) and run once for
/// all siblings — the statement count of a request is constant in the page size.
pub struct Siblings<M> {
    pub rows: Vec<Arc<M>>,
    cells: Mutex<HashMap<(&'static str, u64), Cell, BuildHasherDefault<FxHasher>>>,
}

impl<M: Send + Sync + 'static> Siblings<M> {
    pub fn new(rows: Vec<Arc<M>>) -> Arc<Self> {
        Arc::new(Self {
            rows,
            cells: Mutex::new(HashMap::default()),
        })
    }

    /// Runs `load` once for all siblings and shares the result.
    pub async fn load<T, F, Fut>(
        &self,
        relation: &'static str,
        arg: u64,
        load: F,
    ) -> Result<Arc<T>, ApiError>
    where
        T: Send + Sync + 'static,
        F: FnOnce(Vec<Arc<M>>) -> Fut,
        Fut: Future<Output = Result<T, ApiError>>,
    {
        let value = {
            let mut cells = self
                .cells
                .lock()
                .map_err(|_| ApiError::Internal(anyhow::anyhow!("sibling cache poisoned")))?;
            let cell = cells.entry((relation, arg)).or_default();
            // Every sibling but the first finds the relation loaded: no row list to copy.
            cell.get().cloned().ok_or_else(|| cell.clone())
        };
        let value = match value {
            Ok(value) => value,
            Err(cell) => cell
                .get_or_try_init(|| {
                    // Boxed: the load (a query) is a large future, and this one is part of the
                    // future of every relation field, which async-graphql boxes (copies).
                    Box::pin(async move {
                        load(self.rows.clone())
                            .await
                            .map(|t| Arc::new(t) as Arc<dyn Any + Send + Sync>)
                    })
                })
                .await?
                .clone(),
        };
        value.downcast::<T>().map_err(|_| {
            ApiError::Internal(anyhow::anyhow!(
                "sibling cache type mismatch for {relation}"
            ))
        })
    }
}

/// One row as seen by one request: the row, its siblings, and the children batch whose access
/// facts apply to it.
pub struct Node<M> {
    pub row: Arc<M>,
    pub siblings: Arc<Siblings<M>>,
    pub children: Arc<ChildSet>,
}

impl<M> Clone for Node<M> {
    fn clone(&self) -> Self {
        Self {
            row: self.row.clone(),
            siblings: self.siblings.clone(),
            children: self.children.clone(),
        }
    }
}

/// Values a masked field can take; everything else fails closed when the policy masks it.
pub trait Maskable: Sized {
    fn masked(self, keep_start: u8, keep_end: u8) -> Option<Self>;
}

impl Maskable for String {
    fn masked(self, keep_start: u8, keep_end: u8) -> Option<Self> {
        Some(crate::domain::idnumber::mask(
            &self,
            keep_start.into(),
            keep_end.into(),
        ))
    }
}

macro_rules! not_maskable {
    ($($t:ty),*) => {$(impl Maskable for $t { fn masked(self, _: u8, _: u8) -> Option<Self> { None } })*};
}
not_maskable!(
    bool,
    i16,
    i32,
    i64,
    f64,
    uuid::Uuid,
    chrono::DateTime<chrono::Utc>,
    chrono::NaiveDate,
    async_graphql::ID,
    serde_json::Value,
    async_graphql::Json<serde_json::Value>
);
impl<T> Maskable for Vec<T> {
    fn masked(self, _: u8, _: u8) -> Option<Self> {
        None
    }
}

/// What a read may do after the policy decided.
pub enum Access {
    /// Return the value.
    Value,
    /// Return the mask of the value.
    Mask(u8, u8),
}

/// A FORBIDDEN error for `Type.field` with the policy's reason.
pub fn forbidden_field(qualified: &str, reason: &str) -> async_graphql::Error {
    ApiError::Forbidden {
        reason: reason.to_owned(),
        field: Some(qualified.to_owned()),
    }
    .extend()
}

impl<M: Record> Node<M> {
    pub fn new(row: Arc<M>, siblings: Arc<Siblings<M>>, children: Arc<ChildSet>) -> Self {
        Self {
            row,
            siblings,
            children,
        }
    }

    /// The facts about this row the policy decides on.
    pub async fn facts(&self, rc: &RequestCtx) -> Result<RowFacts, ApiError> {
        let child = match self.row.child_id() {
            Some(id) => self.children.access(rc, id).await?,
            None => ChildAccess::unrestricted(),
        };
        Ok(RowFacts {
            own_org: matches!((self.row.org_id(), rc.org), (Some(a), Some(b)) if a == b),
            same_agency: self
                .row
                .owner_agency()
                .map(|a| a == rc.agency)
                .unwrap_or(true),
            classes: self.row.classes(),
            view: child.view,
            lawful: child.lawful,
            break_glass: child.break_glass,
            purpose: rc.principal.purpose,
        })
    }

    /// Decides the current field for this row and records the audit entry.
    pub async fn decide(&self, ctx: &Context<'_>) -> GqlResult<Access> {
        self.decide_for(ctx, M::TYPE).await
    }

    /// Decides the current field of `ty`, a type nested in this row (e.g. a care plan's
    /// interventions), with this row's facts.
    pub async fn decide_for(&self, ctx: &Context<'_>, ty: &'static str) -> GqlResult<Access> {
        let rc = RequestCtx::of(ctx);
        let fid = field_id(rc, ctx, ty)?;
        let facts = self.facts(rc).await.map_err(ApiError::into_gql)?;
        self.decide_at(ctx, rc, ty, fid, &facts)
    }

    /// Decides and, for sensitive values served, remembers their response path.
    fn decide_at(
        &self,
        ctx: &Context<'_>,
        rc: &RequestCtx,
        ty: &'static str,
        fid: FieldId,
        facts: &RowFacts,
    ) -> GqlResult<Access> {
        let policy = &rc.policy;
        let group = policy.group_of(fid, facts.classes);
        let sensitive = policy.is_sensitive(group);
        let access = self.apply_as(rc, ty, fid, group, sensitive, facts)?;
        if sensitive {
            if let Some(p) = ctx.path_node.as_ref() {
                rc.audit.served_at(p);
            }
        }
        Ok(access)
    }

    fn apply_as(
        &self,
        rc: &RequestCtx,
        ty: &'static str,
        fid: FieldId,
        group: GroupId,
        sensitive: bool,
        facts: &RowFacts,
    ) -> GqlResult<Access> {
        let policy = &rc.policy;
        // Interned names: recording them in the collector copies nothing.
        let field_name = rc.app.fields.field_name(fid);
        let group_name = rc.app.fields.group_name(group);
        let record = |decision: Decision| {
            if sensitive {
                rc.audit.read(
                    ty,
                    self.row.id(),
                    self.row.child_id(),
                    field_name,
                    group_name,
                    decision,
                );
            }
        };
        let decision = policy.decide_read(rc.role, fid, facts);
        crate::metrics::authz_read(&decision);
        match decision {
            ReadDecision::Allow { .. } => {
                record(Decision::Allowed);
                Ok(Access::Value)
            }
            ReadDecision::BreakGlass { .. } => {
                // Every break-glass read is recorded, sensitive or not.
                rc.audit.read(
                    ty,
                    self.row.id(),
                    self.row.child_id(),
                    field_name,
                    group_name,
                    Decision::BreakGlass,
                );
                Ok(Access::Value)
            }
            ReadDecision::Mask {
                keep_start,
                keep_end,
                ..
            } => {
                record(Decision::Masked);
                Ok(Access::Mask(keep_start, keep_end))
            }
            ReadDecision::Deny(reason) => {
                record(Decision::Denied);
                Err(forbidden_field(
                    &format!("{}.{field_name}", ty),
                    &reason.to_string(),
                ))
            }
            ReadDecision::ConsentRequired { group } => {
                record(Decision::ConsentRequired);
                Err(ApiError::ConsentRequired {
                    reason: format!(
                        "no valid lawful basis releases field group {} of this child to {} for purpose {}",
                        policy.group_name(group),
                        rc.agency.as_str(),
                        rc.principal.purpose.as_str()
                    ),
                    field: Some(format!("{}.{field_name}", ty)),
                }
                .extend())
            }
        }
    }

    /// Reads a scalar field through the policy.
    pub async fn read<T: Maskable>(
        &self,
        ctx: &Context<'_>,
        value: impl FnOnce(&M) -> T,
    ) -> GqlResult<Option<T>> {
        match self.decide(ctx).await? {
            Access::Value => Ok(Some(value(&self.row))),
            Access::Mask(s, e) => match value(&self.row).masked(s, e) {
                Some(v) => Ok(Some(v)),
                None => Err(forbidden_field(
                    &format!("{}.{}", M::TYPE, ctx.field().name()),
                    "masked field cannot be shown",
                )),
            },
        }
    }

    /// Reads an optional scalar field through the policy (absent values stay `null`).
    pub async fn read_opt<T: Maskable>(
        &self,
        ctx: &Context<'_>,
        value: impl FnOnce(&M) -> Option<T>,
    ) -> GqlResult<Option<T>> {
        match self.decide(ctx).await? {
            Access::Value => Ok(value(&self.row)),
            Access::Mask(s, e) => match value(&self.row) {
                None => Ok(None),
                Some(v) => match v.masked(s, e) {
                    Some(v) => Ok(Some(v)),
                    None => Err(forbidden_field(
                        &format!("{}.{}", M::TYPE, ctx.field().name()),
                        "masked field cannot be shown",
                    )),
                },
            },
        }
    }

    /// Reads a field whose stored form is already the mask (identifiers): the value is the mask
    /// whether the policy allows or masks it; clear values only come from the audited reveal.
    pub async fn read_premasked<T>(
        &self,
        ctx: &Context<'_>,
        mask: impl FnOnce(&M) -> Option<T>,
    ) -> GqlResult<Option<T>> {
        self.decide(ctx).await?;
        Ok(mask(&self.row))
    }

    /// Checks a relation field (a nested list or object) before loading it. The organization
    /// and agency rules apply to each nested record when its own fields are read, so the list
    /// itself is decided as if on the caller's own row; scope, referral view and break-glass
    /// limits still apply here.
    pub async fn check(&self, ctx: &Context<'_>) -> GqlResult<()> {
        let rc = RequestCtx::of(ctx);
        let fid = field_id(rc, ctx, M::TYPE)?;
        let mut facts = self.facts(rc).await.map_err(ApiError::into_gql)?;
        facts.own_org = true;
        facts.same_agency = true;
        self.decide_at(ctx, rc, M::TYPE, fid, &facts).map(|_| ())
    }
}

/// The policy id of the current field of `ty`. Fail closed: a field without a policy entry is
/// never served.
fn field_id(rc: &RequestCtx, ctx: &Context<'_>, ty: &str) -> GqlResult<FieldId> {
    let field_name = ctx.field().name();
    rc.app.fields.get(ty, field_name).ok_or_else(|| {
        forbidden_field(
            &format!("{ty}.{field_name}"),
            "the field has no entry in the remit policy",
        )
    })
}
