//! Service records (服务记录): counselling, emotional support, hotline calls (anonymous ones
//! without a child), family-education guidance, aid and activities. Providers write their own
//! entries only.

use async_graphql::{Context, InputObject, Object, ID};
use carehub_entity::enums::{OrganizationKind, ServiceKind as EKind};
use carehub_entity::{care_plan, organization, referral, service_record};
use carehub_policy::ClassSet;
use chrono::{DateTime, Utc};
use sea_orm::ActiveValue::{NotSet, Set};
use sea_orm::{ColumnTrait, EntityTrait, IntoActiveModel, QueryFilter};
use uuid::Uuid;

use super::visit::node;
use super::{not_future, opt_text, text};
use crate::error::{ApiError, ApiResult, GqlResult, IntoGql};
use crate::graphql::enums::ServiceKind;
use crate::graphql::query::parse_id;
use crate::graphql::types::records::ServiceRecord;
use crate::write::{provided, WriteCtx};

/// A service delivered by the caller.
#[derive(InputObject)]
pub struct RecordServiceInput {
    /// The child served; omitted only for an anonymous hotline call.
    pub child_id: Option<ID>,
    pub kind: ServiceKind,
    pub occurred_at: DateTime<Utc>,
    pub duration_minutes: Option<i32>,
    /// The care plan (of this child) the service implements.
    pub care_plan_id: Option<ID>,
    /// The referral (of this child) the service serves.
    pub referral_id: Option<ID>,
    pub summary: Option<String>,
}

/// Changes to your own service record (partial).
#[derive(InputObject)]
pub struct UpdateServiceRecordInput {
    pub kind: Option<ServiceKind>,
    pub occurred_at: Option<DateTime<Utc>>,
    pub duration_minutes: Option<i32>,
    pub care_plan_id: Option<ID>,
    pub referral_id: Option<ID>,
    pub summary: Option<String>,
}

fn duration(field: &str, m: i32) -> ApiResult<i32> {
    if !(1..=1440).contains(&m) {
        return Err(ApiError::bad_input(field, "must be from 1 to 1440 minutes"));
    }
    Ok(m)
}

/// A care plan or referral link must belong to the served child.
async fn link(
    w: &WriteCtx,
    child: Option<Uuid>,
    field: &str,
    id: &str,
    plan: bool,
) -> ApiResult<Uuid> {
    let id = parse_id(field, id)?;
    let Some(child) = child else {
        return Err(ApiError::bad_input(
            field,
            "an anonymous call has no care plan or referral: give childId",
        ));
    };
    let found = if plan {
        care_plan::Entity::find_by_id(id)
            .filter(care_plan::Column::ChildId.eq(child))
            .filter(care_plan::Column::ArchivedAt.is_null())
            .one(&w.txn)
            .await?
            .is_some()
    } else {
        referral::Entity::find_by_id(id)
            .filter(referral::Column::ChildId.eq(child))
            .filter(referral::Column::ArchivedAt.is_null())
            .one(&w.txn)
            .await?
            .is_some()
    };
    if !found {
        return Err(ApiError::bad_input(
            field,
            format!(
                "must be a {} of this child",
                if plan { "care plan" } else { "referral" }
            ),
        ));
    }
    Ok(id)
}

/// Loads a service record for a change by its provider: absent, archived, or (for an
/// anonymous call) someone else's → NOT_FOUND; another provider's entry → FORBIDDEN.
async fn own_entry(w: &WriteCtx, id: Uuid) -> ApiResult<service_record::Model> {
    let not_found = || ApiError::NotFound(format!("no ServiceRecord {id} in your scope"));
    let row = w.record::<service_record::Entity>(id).await?;
    let mine = row.provider == w.rc.principal.sub;
    if row.archived_at.is_some() || (row.child_id.is_none() && !mine) {
        return Err(not_found());
    }
    if !mine {
        return Err(ApiError::forbidden(format!(
            "providers change their own entries only; this entry is {}'s",
            row.provider
        )));
    }
    Ok(row)
}

#[derive(Default)]
pub struct ServiceRecordMutation;

#[Object]
impl ServiceRecordMutation {
    /// Records a service you delivered, for your organization.
    async fn record_service(
        &self,
        ctx: &Context<'_>,
        input: RecordServiceInput,
    ) -> GqlResult<Option<ServiceRecord>> {
        let fields = provided(ctx, "input");
        let mut w = WriteCtx::begin(ctx).await.gql()?;
        let org = w.org().gql()?;
        w.authorize(
            "RecordServiceInput",
            &fields,
            &w.facts(Some(org), Some(w.rc.agency), ClassSet::EMPTY),
        )
        .gql()?;
        let kind = EKind::from(input.kind);
        let child = match input.child_id.as_deref() {
            Some(c) => {
                let id = parse_id("input.childId", c).gql()?;
                Some(w.child(id).await.gql()?)
            }
            None => {
                let hotline = kind == EKind::Hotline12355
                    || organization::Entity::find_by_id(org)
                        .one(&w.txn)
                        .await
                        .map_err(ApiError::from)
                        .gql()?
                        .is_some_and(|o| o.kind == OrganizationKind::Hotline12355);
                if !hotline {
                    return Err(ApiError::bad_input(
                        "input.childId",
                        "is required except for an anonymous 12355 hotline call",
                    )
                    .into_gql());
                }
                None
            }
        };
        let child_id = child.as_ref().map(|c| c.id);
        not_future("input.occurredAt", input.occurred_at).gql()?;
        let plan = match input.care_plan_id.as_deref() {
            Some(p) => Some(
                link(&w, child_id, "input.carePlanId", p, true)
                    .await
                    .gql()?,
            ),
            None => None,
        };
        let referral = match input.referral_id.as_deref() {
            Some(r) => Some(
                link(&w, child_id, "input.referralId", r, false)
                    .await
                    .gql()?,
            ),
            None => None,
        };
        let am = service_record::ActiveModel {
            id: NotSet,
            child_id: Set(child_id),
            kind: Set(kind),
            organization_id: Set(Some(org)),
            provider: Set(w.rc.principal.sub.clone()),
            occurred_at: Set(input.occurred_at),
            duration_minutes: Set(input
                .duration_minutes
                .map(|m| duration("input.durationMinutes", m))
                .transpose()
                .gql()?),
            care_plan_id: Set(plan),
            referral_id: Set(referral),
            summary: Set(opt_text("input.summary", input.summary.as_deref(), 10_000).gql()?),
            ..Default::default()
        };
        let region = child.as_ref().map(|c| c.residence_region_code);
        let row = w
            .insert::<service_record::Entity, _>(am, region)
            .await
            .gql()?;
        w.commit().await.gql()?;
        Ok(Some(ServiceRecord(node(row))))
    }

    /// Updates one of your own service records. `expectedVersion` must be the version you read.
    async fn update_service_record(
        &self,
        ctx: &Context<'_>,
        id: ID,
        expected_version: i32,
        input: UpdateServiceRecordInput,
    ) -> GqlResult<Option<ServiceRecord>> {
        let fields = provided(ctx, "input");
        let mut w = WriteCtx::begin(ctx).await.gql()?;
        let id = parse_id("id", &id).gql()?;
        let old = own_entry(&w, id).await.gql()?;
        w.authorize(
            "UpdateServiceRecordInput",
            &fields,
            &w.facts(
                old.organization_id.or(old.owner_org_id),
                Some(old.owner_agency),
                ClassSet::EMPTY,
            ),
        )
        .gql()?;
        let mut am = old.clone().into_active_model();
        if let Some(k) = input.kind {
            am.kind = Set(k.into());
        }
        if let Some(t) = input.occurred_at {
            not_future("input.occurredAt", t).gql()?;
            am.occurred_at = Set(t);
        }
        if let Some(m) = input.duration_minutes {
            am.duration_minutes = Set(Some(duration("input.durationMinutes", m).gql()?));
        }
        if let Some(p) = input.care_plan_id.as_deref() {
            am.care_plan_id = Set(Some(
                link(&w, old.child_id, "input.carePlanId", p, true)
                    .await
                    .gql()?,
            ));
        }
        if let Some(r) = input.referral_id.as_deref() {
            am.referral_id = Set(Some(
                link(&w, old.child_id, "input.referralId", r, false)
                    .await
                    .gql()?,
            ));
        }
        if input.summary.is_some() {
            am.summary = Set(opt_text("input.summary", input.summary.as_deref(), 10_000).gql()?);
        }
        let region = match old.child_id {
            Some(c) => Some(w.child(c).await.gql()?.residence_region_code),
            None => None,
        };
        let row = w
            .update::<service_record::Entity, _>(&old, am, expected_version, region)
            .await
            .gql()?;
        w.commit().await.gql()?;
        Ok(Some(ServiceRecord(node(row))))
    }

    /// Archives one of your own service records recorded in error (soft delete; the history
    /// keeps it).
    async fn archive_service_record(
        &self,
        ctx: &Context<'_>,
        id: ID,
        expected_version: i32,
        reason: String,
    ) -> GqlResult<Option<ServiceRecord>> {
        let mut w = WriteCtx::begin(ctx).await.gql()?;
        let id = parse_id("id", &id).gql()?;
        let reason = text("reason", &reason, 1000).gql()?;
        let old = own_entry(&w, id).await.gql()?;
        w.authorize(
            "Mutation",
            &["archiveServiceRecord".to_owned()],
            &w.facts(
                old.organization_id.or(old.owner_org_id),
                Some(old.owner_agency),
                ClassSet::EMPTY,
            ),
        )
        .gql()?;
        let region = match old.child_id {
            Some(c) => Some(w.child(c).await.gql()?.residence_region_code),
            None => None,
        };
        let mut am = old.clone().into_active_model();
        am.archived_at = Set(Some(w.at));
        let row = w
            .update::<service_record::Entity, _>(&old, am, expected_version, region)
            .await
            .gql()?;
        w.audit_write(
            "ServiceRecord",
            row.id,
            row.child_id,
            "ARCHIVE",
            vec!["archivedAt".into()],
            Some(reason),
        );
        w.commit().await.gql()?;
        Ok(Some(ServiceRecord(node(row))))
    }
}
