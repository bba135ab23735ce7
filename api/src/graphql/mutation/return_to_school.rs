//! Return to school (复学): PENDING_CLEARANCE → CLEARED (health's clearance) → PLANNING →
//! RETURNED (the school; the child's enrollment becomes RETURNED in the same transaction) →
//! MONITORING → CLOSED.

use async_graphql::{Context, InputObject, Object, ID};
use carehub_entity::enums::{Agency, EnrollmentStatus, ReturnStatus as EStatus};
use carehub_entity::{enrollment, return_to_school, treatment_episode};
use carehub_policy::ClassSet;
use chrono::NaiveDate;
use sea_orm::ActiveValue::{NotSet, Set};
use sea_orm::{ColumnTrait, EntityTrait, IntoActiveModel, QueryFilter, QueryOrder};
use uuid::Uuid;

use super::enrollment::school;
use super::guardian::live;
use super::visit::node;
use super::{opt_text, text};
use crate::error::{ApiError, ApiResult, GqlResult, IntoGql};
use crate::graphql::enums::ReturnStatus;
use crate::graphql::query::parse_id;
use crate::graphql::types::records::ReturnToSchool;
use crate::write::workflow::RETURN_TO_SCHOOL;
use crate::write::{provided, WriteCtx};

/// A child's return to school, e.g. after treatment.
#[derive(InputObject)]
pub struct StartReturnToSchoolInput {
    pub child_id: ID,
    /// The school the child returns to (an organization of kind SCHOOL).
    pub school_id: ID,
    /// The treatment episode the child returns from.
    pub treatment_episode_id: Option<ID>,
    /// Accommodations at school (reduced timetable, seat near the door, …).
    pub accommodations: Option<String>,
    /// The planned return date.
    pub return_date: Option<NaiveDate>,
}

/// The child's current (ENROLLED or SUSPENDED) enrollment at `school`, latest year first.
async fn current_enrollment(
    w: &WriteCtx,
    child_id: Uuid,
    school: Uuid,
) -> ApiResult<Option<enrollment::Model>> {
    Ok(enrollment::Entity::find()
        .filter(enrollment::Column::ChildId.eq(child_id))
        .filter(enrollment::Column::SchoolId.eq(school))
        .filter(
            enrollment::Column::Status
                .is_in([EnrollmentStatus::Enrolled, EnrollmentStatus::Suspended]),
        )
        .filter(enrollment::Column::ArchivedAt.is_null())
        .order_by_desc(enrollment::Column::SchoolYear)
        .one(&w.txn)
        .await?)
}

#[derive(Default)]
pub struct ReturnToSchoolMutation;

#[Object]
impl ReturnToSchoolMutation {
    /// Starts a child's return to school; it waits for health's clearance (PENDING_CLEARANCE).
    async fn start_return_to_school(
        &self,
        ctx: &Context<'_>,
        input: StartReturnToSchoolInput,
    ) -> GqlResult<Option<ReturnToSchool>> {
        let fields = provided(ctx, "input");
        let mut w = WriteCtx::begin(ctx).await.gql()?;
        let child_id = parse_id("input.childId", &input.child_id).gql()?;
        let child = w.child(child_id).await.gql()?;
        let school = school(&w, "input.schoolId", &input.school_id).await.gql()?;
        w.authorize(
            "StartReturnToSchoolInput",
            &fields,
            &w.facts(Some(school.id), Some(w.rc.agency), ClassSet::EMPTY),
        )
        .gql()?;
        let episode = match input.treatment_episode_id.as_deref() {
            Some(e) => {
                let id = parse_id("input.treatmentEpisodeId", e).gql()?;
                let found = treatment_episode::Entity::find_by_id(id)
                    .filter(treatment_episode::Column::ChildId.eq(child_id))
                    .filter(treatment_episode::Column::ArchivedAt.is_null())
                    .one(&w.txn)
                    .await
                    .map_err(ApiError::from)
                    .gql()?;
                if found.is_none() {
                    return Err(ApiError::bad_input(
                        "input.treatmentEpisodeId",
                        "must be a treatment episode of this child",
                    )
                    .into_gql());
                }
                Some(id)
            }
            None => None,
        };
        let open = return_to_school::Entity::find()
            .filter(return_to_school::Column::ChildId.eq(child_id))
            .filter(return_to_school::Column::Status.ne(EStatus::Closed))
            .filter(return_to_school::Column::ArchivedAt.is_null())
            .one(&w.txn)
            .await
            .map_err(ApiError::from)
            .gql()?;
        if let Some(o) = open {
            return Err(ApiError::Conflict {
                message: format!(
                    "the child already has a return to school in progress ({}); continue that one",
                    o.status.as_str()
                ),
                details: serde_json::json!({ "existingId": o.id.to_string() }),
            }
            .into_gql());
        }
        let enrollment = current_enrollment(&w, child_id, school.id).await.gql()?;
        let am = return_to_school::ActiveModel {
            id: NotSet,
            child_id: Set(child_id),
            school_id: Set(school.id),
            treatment_episode_id: Set(episode),
            clearance: Set(None),
            cleared_at: Set(None),
            cleared_by: Set(None),
            accommodations: Set(opt_text(
                "input.accommodations",
                input.accommodations.as_deref(),
                4000,
            )
            .gql()?),
            return_date: Set(input.return_date),
            status: Set(EStatus::PendingClearance),
            enrollment_id: Set(enrollment.map(|e| e.id)),
            ..Default::default()
        };
        let row = w
            .insert::<return_to_school::Entity, _>(am, Some(child.residence_region_code))
            .await
            .gql()?;
        w.transition(
            "ReturnToSchool",
            row.id,
            Some(child_id),
            None,
            EStatus::PendingClearance.as_str(),
            None,
        )
        .gql()?;
        w.commit().await.gql()?;
        Ok(Some(ReturnToSchool(node(row))))
    }

    /// Moves a return to school to `status`. CLEARED is health's clearance (give `clearance`);
    /// RETURNED (with `returnDate`, now or given before) sets the child's current enrollment at
    /// the school to RETURNED in the same transaction.
    #[allow(clippy::too_many_arguments)]
    async fn transition_return_to_school(
        &self,
        ctx: &Context<'_>,
        id: ID,
        expected_version: i32,
        status: ReturnStatus,
        note: Option<String>,
        #[graphql(desc = "Health's clearance, when moving to CLEARED")] clearance: Option<String>,
        #[graphql(desc = "The (planned) return date; required by RETURNED unless given before")]
        return_date: Option<NaiveDate>,
    ) -> GqlResult<Option<ReturnToSchool>> {
        let mut w = WriteCtx::begin(ctx).await.gql()?;
        let id = parse_id("id", &id).gql()?;
        let old = live::<return_to_school::Entity>(&w, id).await.gql()?;
        let facts = w.facts(Some(old.school_id), Some(old.owner_agency), ClassSet::EMPTY);
        w.authorize("Mutation", &["transitionReturnToSchool".to_owned()], &facts)
            .gql()?;
        let to = EStatus::from(status);
        RETURN_TO_SCHOOL.check(old.status, to).gql()?;
        let note = opt_text("note", note.as_deref(), 2000).gql()?;
        let mut am = old.clone().into_active_model();
        am.status = Set(to);
        if to == EStatus::Cleared {
            if w.rc.agency != Agency::Health {
                return Err(ApiError::forbidden(format!(
                    "a return to school is cleared by health, not {}",
                    w.rc.agency.as_str()
                ))
                .into_gql());
            }
            w.authorize("ReturnToSchool", &["clearance".to_owned()], &facts)
                .gql()?;
            let clearance = clearance
                .as_deref()
                .map(|c| text("clearance", c, 4000))
                .transpose()
                .gql()?;
            let clearance = clearance.ok_or_else(|| ApiError::bad_input("clearance", "clearing a return to school needs the clearance (what health advises the school)").into_gql())?;
            am.clearance = Set(Some(clearance));
            am.cleared_at = Set(Some(w.at));
            am.cleared_by = Set(Some(w.rc.principal.sub.clone()));
        } else {
            if clearance.is_some() {
                return Err(ApiError::bad_input(
                    "clearance",
                    "is given only when clearing (status CLEARED)",
                )
                .into_gql());
            }
            w.authorize("ReturnToSchool", &["status".to_owned()], &facts)
                .gql()?;
        }
        if let Some(d) = return_date {
            w.authorize("ReturnToSchool", &["returnDate".to_owned()], &facts)
                .gql()?;
            am.return_date = Set(Some(d));
        }
        let child = w.child(old.child_id).await.gql()?;
        let region = Some(child.residence_region_code);
        let mut returned_to = None;
        if to == EStatus::Returned {
            let date = return_date.or(old.return_date).ok_or_else(|| {
                ApiError::bad_input("returnDate", "a return is recorded with its date").into_gql()
            })?;
            if date > w.at.date_naive() {
                return Err(ApiError::bad_input(
                    "returnDate",
                    "must not be in the future: RETURNED records that the child is back at school",
                )
                .into_gql());
            }
            am.return_date = Set(Some(date));
            // The enrollment named at the start if still current, else the current one now.
            let named = match old.enrollment_id {
                Some(e) => enrollment::Entity::find_by_id(e)
                    .one(&w.txn)
                    .await
                    .map_err(ApiError::from)
                    .gql()?
                    .filter(|e| {
                        e.archived_at.is_none()
                            && e.school_id == old.school_id
                            && matches!(
                                e.status,
                                EnrollmentStatus::Enrolled | EnrollmentStatus::Suspended
                            )
                    }),
                None => None,
            };
            let enr = match named {
                Some(e) => e,
                None => current_enrollment(&w, old.child_id, old.school_id).await.gql()?.ok_or_else(|| {
                    ApiError::bad_input("status", "the child has no current (ENROLLED or SUSPENDED) enrollment at this school to mark RETURNED; record the enrollment first").into_gql()
                })?,
            };
            w.authorize(
                "Enrollment",
                &["status".to_owned()],
                &w.facts(Some(enr.school_id), Some(enr.owner_agency), ClassSet::EMPTY),
            )
            .gql()?;
            let mut eam = enr.clone().into_active_model();
            eam.status = Set(EnrollmentStatus::Returned);
            let updated = w
                .update::<enrollment::Entity, _>(&enr, eam, enr.version, region)
                .await
                .gql()?;
            am.enrollment_id = Set(Some(updated.id));
            returned_to = Some((enr.status, updated));
        }
        let row = w
            .update::<return_to_school::Entity, _>(&old, am, expected_version, region)
            .await
            .gql()?;
        w.transition(
            "ReturnToSchool",
            row.id,
            Some(row.child_id),
            Some(old.status.as_str()),
            to.as_str(),
            note,
        )
        .gql()?;
        if let Some((from, e)) = returned_to {
            let why = format!("return to school {} RETURNED", row.id);
            w.transition(
                "Enrollment",
                e.id,
                Some(e.child_id),
                Some(from.as_str()),
                EnrollmentStatus::Returned.as_str(),
                Some(why),
            )
            .gql()?;
        }
        w.commit().await.gql()?;
        Ok(Some(ReturnToSchool(node(row))))
    }
}
