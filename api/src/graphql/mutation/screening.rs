//! Screenings and the approver's risk review.

use async_graphql::{Context, InputObject, Json, Object, ID};
use carehub_entity::enums::{
    CarePlanStatus, FlagKind, Instrument as EInstrument, RiskLevel as ERisk,
};
use carehub_entity::{care_plan, screening};
use carehub_policy::ClassSet;
use chrono::{DateTime, Datelike, Utc};
use sea_orm::ActiveValue::{NotSet, Set};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

use super::visit::node;
use super::{not_future, opt_text};
use crate::error::{ApiError, GqlResult, IntoGql};
use crate::graphql::enums::{Instrument, RiskLevel};
use crate::graphql::query::parse_id;
use crate::graphql::types::child::Child;
use crate::graphql::types::records::Screening;
use crate::write::derived::{rank, recompute_child, RISK_REVIEW};
use crate::write::{provided, WriteCtx};

/// A screening result.
#[derive(InputObject)]
pub struct RecordScreeningInput {
    pub child_id: ID,
    /// School year by its first calendar year (2026 = 2026-09 … 2027-08).
    pub school_year: i32,
    pub instrument: Instrument,
    pub administered_at: DateTime<Utc>,
    pub score: Option<f64>,
    pub item_answers: Option<Json<serde_json::Value>>,
    pub notes: Option<String>,
    pub risk_level: RiskLevel,
    pub recommended_next_step: Option<String>,
}

/// The valid score range of an instrument.
pub fn score_range(i: EInstrument) -> (f64, f64) {
    match i {
        EInstrument::Mht => (0.0, 100.0),
        EInstrument::Scl90 => (90.0, 450.0),
        EInstrument::Sdq => (0.0, 40.0),
        EInstrument::Phq9 => (0.0, 27.0),
        EInstrument::Gad7 => (0.0, 21.0),
        EInstrument::Other => (0.0, 10_000.0),
    }
}

/// The school year a date falls in (September starts a year).
pub fn school_year_of(t: DateTime<Utc>) -> i32 {
    if t.month() >= 9 {
        t.year()
    } else {
        t.year() - 1
    }
}

#[derive(Default)]
pub struct ScreeningMutation;

#[Object]
impl ScreeningMutation {
    /// Records a screening (心理健康测评); the child's current risk level follows it, except that
    /// ORANGE/RED is only lowered after the care-plan approver's review (`reviewRiskLevel`).
    async fn record_screening(
        &self,
        ctx: &Context<'_>,
        input: RecordScreeningInput,
    ) -> GqlResult<Option<Screening>> {
        let fields = provided(ctx, "input");
        let mut w = WriteCtx::begin(ctx).await.gql()?;
        let child_id = parse_id("input.childId", &input.child_id).gql()?;
        let child = w.child(child_id).await.gql()?;
        let org = w.rc.org;
        w.authorize(
            "RecordScreeningInput",
            &fields,
            &w.facts(org, Some(w.rc.agency), ClassSet::EMPTY),
        )
        .gql()?;
        not_future("input.administeredAt", input.administered_at).gql()?;
        let instrument = EInstrument::from(input.instrument);
        if let Some(score) = input.score {
            let (lo, hi) = score_range(instrument);
            if !(lo..=hi).contains(&score) || score.is_nan() {
                return Err(ApiError::bad_input(
                    "input.score",
                    format!("must be within {lo}–{hi} for {}", instrument.as_str()),
                )
                .into_gql());
            }
        }
        let year = school_year_of(input.administered_at);
        if input.school_year != year && input.school_year != year - 1 {
            return Err(ApiError::bad_input(
                "input.schoolYear",
                format!("must be the school year of administeredAt ({year})"),
            )
            .into_gql());
        }
        let am = screening::ActiveModel {
            id: NotSet,
            child_id: Set(child_id),
            school_year: Set(input.school_year),
            instrument: Set(instrument),
            administered_at: Set(input.administered_at),
            organization_id: Set(org),
            score: Set(input.score),
            item_answers: Set(input.item_answers.map(|j| j.0)),
            notes: Set(opt_text("input.notes", input.notes.as_deref(), 10_000).gql()?),
            risk_level: Set(input.risk_level.into()),
            recommended_next_step: Set(opt_text(
                "input.recommendedNextStep",
                input.recommended_next_step.as_deref(),
                2000,
            )
            .gql()?),
            ..Default::default()
        };
        let row = w
            .insert::<screening::Entity, _>(am, Some(child.residence_region_code))
            .await
            .gql()?;
        recompute_child(&mut w, child_id).await.gql()?;
        w.clear_flag(
            child_id,
            FlagKind::MissingScreening,
            &row.school_year.to_string(),
            "screened",
        );
        w.commit().await.gql()?;
        Ok(Some(Screening(node(row))))
    }

    /// The care-plan approver's review of a child's risk level; the only way to lower ORANGE or
    /// RED (recorded with who, when and why).
    async fn review_risk_level(
        &self,
        ctx: &Context<'_>,
        child_id: ID,
        risk_level: RiskLevel,
        note: String,
    ) -> GqlResult<Option<Child>> {
        let mut w = WriteCtx::begin(ctx).await.gql()?;
        let child_id = parse_id("childId", &child_id).gql()?;
        let note = super::text("note", &note, 2000).gql()?;
        let child = w.child(child_id).await.gql()?;
        let approver = care_plan::Entity::find()
            .filter(care_plan::Column::ChildId.eq(child_id))
            .filter(
                care_plan::Column::Status
                    .is_in([CarePlanStatus::Active, CarePlanStatus::ReviewDue]),
            )
            .filter(care_plan::Column::ArchivedAt.is_null())
            .all(&w.txn)
            .await
            .map_err(ApiError::from)
            .gql()?
            .into_iter()
            .filter_map(|p| p.approver)
            .any(|a| a == w.rc.principal.sub);
        if !approver {
            return Err(ApiError::forbidden(
                "only the approver of the child's active care plan may review its risk level",
            )
            .into_gql());
        }
        let level = ERisk::from(risk_level);
        let from = child.current_risk_level.map(|l| l.as_str());
        w.transition(
            RISK_REVIEW,
            child_id,
            Some(child_id),
            from,
            level.as_str(),
            Some(note.clone()),
        )
        .gql()?;
        w.audit_write(
            "Child",
            child_id,
            Some(child_id),
            "REVIEW_RISK",
            vec!["currentRiskLevel".into()],
            Some(note),
        );
        let updated = recompute_child(&mut w, child_id).await.gql()?;
        let _ = rank(updated.current_risk_level);
        w.commit().await.gql()?;
        Ok(Some(Child(node(updated))))
    }
}
