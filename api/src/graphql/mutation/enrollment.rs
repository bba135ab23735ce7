//! School enrollments (学籍): record one for a school year, update it, archive it.

use async_graphql::{Context, InputObject, Object, ID};
use carehub_entity::enums::{EnrollmentStatus as EStatus, OrganizationKind};
use carehub_entity::{enrollment, organization};
use carehub_policy::ClassSet;
use sea_orm::ActiveValue::{NotSet, Set};
use sea_orm::{ColumnTrait, EntityTrait, IntoActiveModel, QueryFilter};
use uuid::Uuid;

use super::guardian::live;
use super::screening::school_year_of;
use super::visit::node;
use super::{opt_text, text};
use crate::error::{ApiError, ApiResult, GqlResult, IntoGql};
use crate::graphql::enums::EnrollmentStatus;
use crate::graphql::query::parse_id;
use crate::graphql::types::records::Enrollment;
use crate::write::{provided, WriteCtx};

/// A child's enrollment at a school for one school year.
#[derive(InputObject)]
pub struct RecordEnrollmentInput {
    pub child_id: ID,
    /// An organization of kind SCHOOL.
    pub school_id: ID,
    /// School year by its first calendar year (2026 = 2026-09 … 2027-08).
    pub school_year: i32,
    /// Grade 1–12.
    pub grade: i32,
    pub class_name: Option<String>,
    /// The head teacher (token subject).
    pub head_teacher: Option<String>,
    /// Defaults to ENROLLED.
    pub status: Option<EnrollmentStatus>,
}

/// Changes to an enrollment (partial). A move to another school is a new enrollment (and this
/// one TRANSFERRED).
#[derive(InputObject)]
pub struct UpdateEnrollmentInput {
    pub grade: Option<i32>,
    pub class_name: Option<String>,
    pub head_teacher: Option<String>,
    pub status: Option<EnrollmentStatus>,
}

/// Loads an organization that must be a school; `field` names the input field in errors.
pub(super) async fn school(w: &WriteCtx, field: &str, id: &ID) -> ApiResult<organization::Model> {
    let id = parse_id(field, id)?;
    let org = organization::Entity::find_by_id(id)
        .filter(organization::Column::ArchivedAt.is_null())
        .one(&w.txn)
        .await?
        .ok_or_else(|| ApiError::bad_input(field, "no such organization"))?;
    if org.kind != OrganizationKind::School {
        return Err(ApiError::bad_input(
            field,
            format!("must be a SCHOOL, not a {}", org.kind.as_str()),
        ));
    }
    Ok(org)
}

fn grade(field: &str, g: i32) -> ApiResult<i32> {
    if !(1..=12).contains(&g) {
        return Err(ApiError::bad_input(field, "must be a grade from 1 to 12"));
    }
    Ok(g)
}

/// Statuses of an enrollment the child currently attends (or will attend again).
const CURRENT: [EStatus; 3] = [EStatus::Enrolled, EStatus::Suspended, EStatus::Returned];

/// A child has one current enrollment per school year.
async fn check_current(
    w: &WriteCtx,
    child_id: Uuid,
    year: i32,
    except: Option<Uuid>,
) -> ApiResult<()> {
    let mut q = enrollment::Entity::find()
        .filter(enrollment::Column::ChildId.eq(child_id))
        .filter(enrollment::Column::SchoolYear.eq(year))
        .filter(enrollment::Column::Status.is_in(CURRENT))
        .filter(enrollment::Column::ArchivedAt.is_null());
    if let Some(id) = except {
        q = q.filter(enrollment::Column::Id.ne(id));
    }
    if let Some(existing) = q.one(&w.txn).await? {
        return Err(ApiError::Conflict {
            message: format!(
                "the child already has a current ({}) enrollment for school year {year}; mark it TRANSFERRED, DROPPED_OUT or GRADUATED first",
                existing.status.as_str()
            ),
            details: serde_json::json!({ "existingId": existing.id.to_string() }),
        });
    }
    Ok(())
}

#[derive(Default)]
pub struct EnrollmentMutation;

#[Object]
impl EnrollmentMutation {
    /// Records a child's enrollment at a school for a school year.
    async fn record_enrollment(
        &self,
        ctx: &Context<'_>,
        input: RecordEnrollmentInput,
    ) -> GqlResult<Option<Enrollment>> {
        let fields = provided(ctx, "input");
        let mut w = WriteCtx::begin(ctx).await.gql()?;
        let child_id = parse_id("input.childId", &input.child_id).gql()?;
        let child = w.child(child_id).await.gql()?;
        let school = school(&w, "input.schoolId", &input.school_id).await.gql()?;
        w.authorize(
            "RecordEnrollmentInput",
            &fields,
            &w.facts(Some(school.id), Some(w.rc.agency), ClassSet::EMPTY),
        )
        .gql()?;
        let this_year = school_year_of(w.at);
        if !(2000..=this_year + 1).contains(&input.school_year) {
            return Err(ApiError::bad_input(
                "input.schoolYear",
                format!(
                    "must be a school year from 2000 to {} (its first calendar year)",
                    this_year + 1
                ),
            )
            .into_gql());
        }
        let grade = grade("input.grade", input.grade).gql()?;
        let status = input.status.map(EStatus::from).unwrap_or(EStatus::Enrolled);
        if CURRENT.contains(&status) {
            check_current(&w, child_id, input.school_year, None)
                .await
                .gql()?;
        }
        let am = enrollment::ActiveModel {
            id: NotSet,
            child_id: Set(child_id),
            school_id: Set(school.id),
            school_year: Set(input.school_year),
            grade: Set(grade),
            class_name: Set(opt_text("input.className", input.class_name.as_deref(), 50).gql()?),
            head_teacher: Set(
                opt_text("input.headTeacher", input.head_teacher.as_deref(), 100).gql()?,
            ),
            status: Set(status),
            ..Default::default()
        };
        let row = w
            .insert::<enrollment::Entity, _>(am, Some(child.residence_region_code))
            .await
            .gql()?;
        w.commit().await.gql()?;
        Ok(Some(Enrollment(node(row))))
    }

    /// Updates an enrollment (grade, class, head teacher, status). `expectedVersion` must be the
    /// version you read.
    async fn update_enrollment(
        &self,
        ctx: &Context<'_>,
        id: ID,
        expected_version: i32,
        input: UpdateEnrollmentInput,
    ) -> GqlResult<Option<Enrollment>> {
        let fields = provided(ctx, "input");
        let mut w = WriteCtx::begin(ctx).await.gql()?;
        let id = parse_id("id", &id).gql()?;
        let old = live::<enrollment::Entity>(&w, id).await.gql()?;
        w.authorize(
            "UpdateEnrollmentInput",
            &fields,
            &w.facts(Some(old.school_id), Some(old.owner_agency), ClassSet::EMPTY),
        )
        .gql()?;
        let mut am = old.clone().into_active_model();
        if let Some(g) = input.grade {
            am.grade = Set(grade("input.grade", g).gql()?);
        }
        if input.class_name.is_some() {
            am.class_name =
                Set(opt_text("input.className", input.class_name.as_deref(), 50).gql()?);
        }
        if input.head_teacher.is_some() {
            am.head_teacher =
                Set(opt_text("input.headTeacher", input.head_teacher.as_deref(), 100).gql()?);
        }
        if let Some(s) = input.status {
            let s = EStatus::from(s);
            if CURRENT.contains(&s) && !CURRENT.contains(&old.status) {
                check_current(&w, old.child_id, old.school_year, Some(old.id))
                    .await
                    .gql()?;
            }
            am.status = Set(s);
        }
        let child = w.child(old.child_id).await.gql()?;
        let row = w
            .update::<enrollment::Entity, _>(
                &old,
                am,
                expected_version,
                Some(child.residence_region_code),
            )
            .await
            .gql()?;
        w.commit().await.gql()?;
        Ok(Some(Enrollment(node(row))))
    }

    /// Archives an enrollment recorded in error (soft delete; the history keeps it).
    async fn archive_enrollment(
        &self,
        ctx: &Context<'_>,
        id: ID,
        expected_version: i32,
        reason: String,
    ) -> GqlResult<Option<Enrollment>> {
        let mut w = WriteCtx::begin(ctx).await.gql()?;
        let id = parse_id("id", &id).gql()?;
        let reason = text("reason", &reason, 1000).gql()?;
        let old = live::<enrollment::Entity>(&w, id).await.gql()?;
        w.authorize(
            "Mutation",
            &["archiveEnrollment".to_owned()],
            &w.facts(Some(old.school_id), Some(old.owner_agency), ClassSet::EMPTY),
        )
        .gql()?;
        let child = w.child(old.child_id).await.gql()?;
        let mut am = old.clone().into_active_model();
        am.archived_at = Set(Some(w.at));
        let row = w
            .update::<enrollment::Entity, _>(
                &old,
                am,
                expected_version,
                Some(child.residence_region_code),
            )
            .await
            .gql()?;
        w.audit_write(
            "Enrollment",
            row.id,
            Some(row.child_id),
            "ARCHIVE",
            vec!["archivedAt".into()],
            Some(reason),
        );
        w.commit().await.gql()?;
        Ok(Some(Enrollment(node(row))))
    }
}
