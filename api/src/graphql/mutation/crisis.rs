//! Crisis events (危机干预): record the event and the response (first response, guardian informed,
//! safety measures, 110/120, urgent referral), update it until it is resolved. The child's
//! current risk level follows the latest event (never lowered from ORANGE/RED without the
//! care-plan approver's review).

use async_graphql::{Context, InputObject, Object, ID};
use carehub_entity::enums::{CrisisTrigger as ETrigger, RiskLevel as ERisk};
use carehub_entity::{crisis_event, referral};
use carehub_policy::ClassSet;
use chrono::{DateTime, Utc};
use sea_orm::ActiveValue::{NotSet, Set};
use sea_orm::{ColumnTrait, EntityTrait, IntoActiveModel, QueryFilter};
use uuid::Uuid;

use super::guardian::live;
use super::visit::node;
use super::{not_future, opt_text};
use crate::error::{ApiError, ApiResult, GqlResult, IntoGql};
use crate::graphql::enums::{CrisisTrigger, RiskLevel};
use crate::graphql::query::parse_id;
use crate::graphql::types::records::CrisisEvent;
use crate::write::derived::recompute_child;
use crate::write::{provided, WriteCtx};

/// A crisis and the response to it.
#[derive(InputObject)]
pub struct RecordCrisisEventInput {
    pub child_id: ID,
    pub trigger: CrisisTrigger,
    pub risk_level: RiskLevel,
    pub occurred_at: DateTime<Utc>,
    pub first_response_at: Option<DateTime<Utc>>,
    pub guardian_informed_at: Option<DateTime<Utc>>,
    pub safety_measures: Option<String>,
    /// Whether 110/120 were called.
    pub emergency_services_called: Option<bool>,
    /// The urgent referral made for this crisis (a referral of this child).
    pub urgent_referral_id: Option<ID>,
    pub notes: Option<String>,
}

/// Changes to a crisis event (partial), e.g. the first response or the resolution.
#[derive(InputObject)]
pub struct UpdateCrisisEventInput {
    pub risk_level: Option<RiskLevel>,
    pub first_response_at: Option<DateTime<Utc>>,
    pub guardian_informed_at: Option<DateTime<Utc>>,
    pub safety_measures: Option<String>,
    pub emergency_services_called: Option<bool>,
    pub urgent_referral_id: Option<ID>,
    pub notes: Option<String>,
    pub resolved_at: Option<DateTime<Utc>>,
}

/// A response time: not in the future and not before the crisis occurred.
fn after_occurrence(
    field: &str,
    t: DateTime<Utc>,
    occurred: DateTime<Utc>,
) -> ApiResult<DateTime<Utc>> {
    not_future(field, t)?;
    if t < occurred {
        return Err(ApiError::bad_input(field, "must not be before occurredAt"));
    }
    Ok(t)
}

async fn urgent_referral(w: &WriteCtx, child_id: Uuid, id: &str) -> ApiResult<Uuid> {
    let id = parse_id("input.urgentReferralId", id)?;
    let found = referral::Entity::find_by_id(id)
        .filter(referral::Column::ChildId.eq(child_id))
        .filter(referral::Column::ArchivedAt.is_null())
        .one(&w.txn)
        .await?;
    match found {
        Some(_) => Ok(id),
        None => Err(ApiError::bad_input(
            "input.urgentReferralId",
            "must be a referral of this child",
        )),
    }
}

#[derive(Default)]
pub struct CrisisMutation;

#[Object]
impl CrisisMutation {
    /// Records a crisis event of a child in your scope; the child's current risk level follows.
    async fn record_crisis_event(
        &self,
        ctx: &Context<'_>,
        input: RecordCrisisEventInput,
    ) -> GqlResult<Option<CrisisEvent>> {
        let fields = provided(ctx, "input");
        let mut w = WriteCtx::begin(ctx).await.gql()?;
        let child_id = parse_id("input.childId", &input.child_id).gql()?;
        let child = w.child(child_id).await.gql()?;
        let org = w.rc.org;
        w.authorize(
            "RecordCrisisEventInput",
            &fields,
            &w.facts(org, Some(w.rc.agency), ClassSet::EMPTY),
        )
        .gql()?;
        not_future("input.occurredAt", input.occurred_at).gql()?;
        let first = input
            .first_response_at
            .map(|t| after_occurrence("input.firstResponseAt", t, input.occurred_at))
            .transpose()
            .gql()?;
        let informed = input
            .guardian_informed_at
            .map(|t| after_occurrence("input.guardianInformedAt", t, input.occurred_at))
            .transpose()
            .gql()?;
        let urgent = match input.urgent_referral_id.as_deref() {
            Some(r) => Some(urgent_referral(&w, child_id, r).await.gql()?),
            None => None,
        };
        let am = crisis_event::ActiveModel {
            id: NotSet,
            child_id: Set(child_id),
            trigger: Set(ETrigger::from(input.trigger)),
            risk_level: Set(ERisk::from(input.risk_level)),
            occurred_at: Set(input.occurred_at),
            first_response_at: Set(first),
            resolved_at: Set(None),
            guardian_informed_at: Set(informed),
            safety_measures: Set(opt_text(
                "input.safetyMeasures",
                input.safety_measures.as_deref(),
                4000,
            )
            .gql()?),
            emergency_services_called: Set(input.emergency_services_called.unwrap_or(false)),
            urgent_referral_id: Set(urgent),
            notes: Set(opt_text("input.notes", input.notes.as_deref(), 10_000).gql()?),
            ..Default::default()
        };
        let row = w
            .insert::<crisis_event::Entity, _>(am, Some(child.residence_region_code))
            .await
            .gql()?;
        recompute_child(&mut w, child_id).await.gql()?;
        w.commit().await.gql()?;
        Ok(Some(CrisisEvent(node(row))))
    }

    /// Updates a crisis event (e.g. the first response, or `resolvedAt`). `expectedVersion` must
    /// be the version you read.
    async fn update_crisis_event(
        &self,
        ctx: &Context<'_>,
        id: ID,
        expected_version: i32,
        input: UpdateCrisisEventInput,
    ) -> GqlResult<Option<CrisisEvent>> {
        let fields = provided(ctx, "input");
        let mut w = WriteCtx::begin(ctx).await.gql()?;
        let id = parse_id("id", &id).gql()?;
        let old = live::<crisis_event::Entity>(&w, id).await.gql()?;
        w.authorize(
            "UpdateCrisisEventInput",
            &fields,
            &w.facts(old.owner_org_id, Some(old.owner_agency), ClassSet::EMPTY),
        )
        .gql()?;
        let mut am = old.clone().into_active_model();
        if let Some(r) = input.risk_level {
            am.risk_level = Set(r.into());
        }
        if let Some(t) = input.first_response_at {
            am.first_response_at = Set(Some(
                after_occurrence("input.firstResponseAt", t, old.occurred_at).gql()?,
            ));
        }
        if let Some(t) = input.guardian_informed_at {
            am.guardian_informed_at = Set(Some(
                after_occurrence("input.guardianInformedAt", t, old.occurred_at).gql()?,
            ));
        }
        if input.safety_measures.is_some() {
            am.safety_measures = Set(opt_text(
                "input.safetyMeasures",
                input.safety_measures.as_deref(),
                4000,
            )
            .gql()?);
        }
        if let Some(b) = input.emergency_services_called {
            am.emergency_services_called = Set(b);
        }
        if let Some(r) = input.urgent_referral_id.as_deref() {
            am.urgent_referral_id = Set(Some(urgent_referral(&w, old.child_id, r).await.gql()?));
        }
        if input.notes.is_some() {
            am.notes = Set(opt_text("input.notes", input.notes.as_deref(), 10_000).gql()?);
        }
        if let Some(t) = input.resolved_at {
            let t = after_occurrence("input.resolvedAt", t, old.occurred_at).gql()?;
            let first = input.first_response_at.or(old.first_response_at);
            match first {
                None => {
                    return Err(ApiError::bad_input(
                        "input.resolvedAt",
                        "a crisis is resolved after its first response: give firstResponseAt",
                    )
                    .into_gql())
                }
                Some(f) if t < f => {
                    return Err(ApiError::bad_input(
                        "input.resolvedAt",
                        "must not be before firstResponseAt",
                    )
                    .into_gql())
                }
                Some(_) => {}
            }
            am.resolved_at = Set(Some(t));
        }
        let child = w.child(old.child_id).await.gql()?;
        let row = w
            .update::<crisis_event::Entity, _>(
                &old,
                am,
                expected_version,
                Some(child.residence_region_code),
            )
            .await
            .gql()?;
        recompute_child(&mut w, row.child_id).await.gql()?;
        w.commit().await.gql()?;
        Ok(Some(CrisisEvent(node(row))))
    }
}
