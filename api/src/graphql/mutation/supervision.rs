//! Supervision findings (督导意见): record a finding on a region (and optionally one organization)
//! for a period, with its rectification deadline, and move it OPEN → RECTIFYING → RECTIFIED →
//! CLOSED. These rows have no child: they are scoped by region — a finding outside the
//! principal's region does not exist for it.

use async_graphql::{Context, InputObject, Json, Object, ID};
use carehub_entity::enums::FindingStatus as EStatus;
use carehub_entity::{organization, region, supervision_finding};
use carehub_policy::ClassSet;
use chrono::NaiveDate;
use sea_orm::ActiveValue::{NotSet, Set};
use sea_orm::{EntityTrait, IntoActiveModel};
use uuid::Uuid;

use super::visit::node;
use super::{opt_text, text};
use crate::domain::region::{format_code, RegionPrefix};
use crate::error::{ApiError, ApiResult, GqlResult, IntoGql};
use crate::graphql::enums::FindingStatus;
use crate::graphql::query::{parse_id, parse_region};
use crate::graphql::types::records::SupervisionFinding;
use crate::write::workflow::{Machine, State};
use crate::write::{provided, WriteCtx};

impl State for EStatus {
    fn name(&self) -> &'static str {
        self.as_str()
    }
}

/// Finding: OPEN → RECTIFYING → RECTIFIED → CLOSED; a rectification found wanting goes back to
/// RECTIFYING; a finding may be closed without rectification (with a note).
pub const FINDING: Machine<EStatus> = Machine {
    name: "supervision finding",
    transitions: &[
        (EStatus::Open, EStatus::Rectifying),
        (EStatus::Rectifying, EStatus::Rectified),
        (EStatus::Rectified, EStatus::Rectifying),
        (EStatus::Rectified, EStatus::Closed),
        (EStatus::Open, EStatus::Closed),
    ],
};

/// A finding of a supervision visit or indicator review.
#[derive(InputObject)]
pub struct RecordSupervisionFindingInput {
    /// The region concerned (inside your region).
    pub region_code: String,
    /// The organization concerned (in that region), if the finding is about one.
    pub organization_id: Option<ID>,
    /// The period reviewed: `2026`, `2026-Q3` or `2026-09`.
    pub period: String,
    /// Indicator values the finding rests on (a JSON object).
    pub indicators: Option<Json<serde_json::Value>>,
    pub finding: String,
    /// Rectification deadline (整改期限).
    pub rectification_due: Option<NaiveDate>,
}

/// Checks a period: a year, a quarter (`2026-Q3`) or a month (`2026-09`).
fn period(field: &str, p: &str) -> ApiResult<String> {
    let p = p.trim();
    let year_ok = |y: &str| {
        y.len() == 4 && y.bytes().all(|b| b.is_ascii_digit()) && ("2000"..="2100").contains(&y)
    };
    let ok = match p.split_once('-') {
        None => year_ok(p),
        Some((y, rest)) => {
            year_ok(y)
                && (matches!(rest, "Q1" | "Q2" | "Q3" | "Q4")
                    || (rest.len() == 2
                        && rest.parse::<u32>().is_ok_and(|m| (1..=12).contains(&m))))
        }
    };
    if !ok {
        return Err(ApiError::bad_input(
            field,
            "must be a year (2026), a quarter (2026-Q3) or a month (2026-09)",
        ));
    }
    Ok(p.to_owned())
}

/// The principal's region prefix.
fn my_region(w: &WriteCtx) -> ApiResult<RegionPrefix> {
    RegionPrefix::parse(&w.rc.principal.region)
        .map_err(|_| ApiError::forbidden("token region is invalid"))
}

#[derive(Default)]
pub struct SupervisionMutation;

#[Object]
impl SupervisionMutation {
    /// Records a supervision finding on a region inside yours (status OPEN).
    async fn record_supervision_finding(
        &self,
        ctx: &Context<'_>,
        input: RecordSupervisionFindingInput,
    ) -> GqlResult<Option<SupervisionFinding>> {
        let fields = provided(ctx, "input");
        let mut w = WriteCtx::begin(ctx).await.gql()?;
        w.authorize(
            "RecordSupervisionFindingInput",
            &fields,
            &w.facts(w.rc.org, Some(w.rc.agency), ClassSet::EMPTY),
        )
        .gql()?;
        let target = parse_region("input.regionCode", &input.region_code).gql()?;
        if region::Entity::find_by_id(target.code())
            .one(&w.txn)
            .await
            .map_err(ApiError::from)
            .gql()?
            .is_none()
        {
            return Err(ApiError::bad_input(
                "input.regionCode",
                format!("region {} does not exist", input.region_code.trim()),
            )
            .into_gql());
        }
        let mine = my_region(&w).gql()?;
        if !mine.covers(&target) {
            return Err(ApiError::forbidden(format!(
                "region {target} lies outside your region {mine}"
            ))
            .into_gql());
        }
        let org: Option<Uuid> = match input.organization_id.as_deref() {
            Some(o) => {
                let id = parse_id("input.organizationId", o).gql()?;
                let org = organization::Entity::find_by_id(id)
                    .one(&w.txn)
                    .await
                    .map_err(ApiError::from)
                    .gql()?
                    .ok_or_else(|| {
                        ApiError::bad_input("input.organizationId", "no such organization")
                            .into_gql()
                    })?;
                if !target.contains(org.region_code) {
                    return Err(ApiError::bad_input(
                        "input.organizationId",
                        format!(
                            "must be an organization in region {target}; {} is in {}",
                            org.name,
                            format_code(org.region_code)
                        ),
                    )
                    .into_gql());
                }
                Some(id)
            }
            None => None,
        };
        let period = period("input.period", &input.period).gql()?;
        let indicators = match input.indicators {
            Some(Json(v)) if v.is_object() => Some(v),
            Some(_) => {
                return Err(ApiError::bad_input(
                    "input.indicators",
                    "must be a JSON object of indicator values",
                )
                .into_gql())
            }
            None => None,
        };
        if let Some(d) = input.rectification_due {
            if d < w.at.date_naive() {
                return Err(ApiError::bad_input(
                    "input.rectificationDue",
                    "must not be in the past",
                )
                .into_gql());
            }
        }
        let am = supervision_finding::ActiveModel {
            id: NotSet,
            region_code: Set(target.code()),
            organization_id: Set(org),
            period: Set(period),
            indicators: Set(indicators),
            finding: Set(text("input.finding", &input.finding, 10_000).gql()?),
            rectification_due: Set(input.rectification_due),
            status: Set(EStatus::Open),
            ..Default::default()
        };
        let row = w
            .insert::<supervision_finding::Entity, _>(am, Some(target.code()))
            .await
            .gql()?;
        w.transition(
            "SupervisionFinding",
            row.id,
            None,
            None,
            EStatus::Open.as_str(),
            None,
        )
        .gql()?;
        w.commit().await.gql()?;
        Ok(Some(SupervisionFinding(node(row))))
    }

    /// Moves a finding along OPEN → RECTIFYING → RECTIFIED → CLOSED (closing an OPEN finding
    /// without rectification needs a note). `expectedVersion` must be the version you read.
    async fn update_supervision_finding(
        &self,
        ctx: &Context<'_>,
        id: ID,
        expected_version: i32,
        status: FindingStatus,
        note: Option<String>,
    ) -> GqlResult<Option<SupervisionFinding>> {
        let mut w = WriteCtx::begin(ctx).await.gql()?;
        let id = parse_id("id", &id).gql()?;
        let not_found = || ApiError::NotFound(format!("no SupervisionFinding {id} in your scope"));
        let old = supervision_finding::Entity::find_by_id(id)
            .one(&w.txn)
            .await
            .map_err(ApiError::from)
            .gql()?
            .ok_or_else(|| not_found().into_gql())?;
        let mine = my_region(&w).gql()?;
        if !mine.contains(old.region_code) || old.archived_at.is_some() {
            return Err(not_found().into_gql());
        }
        w.authorize(
            "Mutation",
            &["updateSupervisionFinding".to_owned()],
            &w.facts(old.owner_org_id, Some(old.owner_agency), ClassSet::EMPTY),
        )
        .gql()?;
        let to = EStatus::from(status);
        FINDING.check(old.status, to).gql()?;
        let note = opt_text("note", note.as_deref(), 2000).gql()?;
        if old.status == EStatus::Open && to == EStatus::Closed && note.is_none() {
            return Err(ApiError::bad_input(
                "note",
                "closing a finding that was never rectified needs a note giving the reason",
            )
            .into_gql());
        }
        let mut am = old.clone().into_active_model();
        am.status = Set(to);
        let row = w
            .update::<supervision_finding::Entity, _>(
                &old,
                am,
                expected_version,
                Some(old.region_code),
            )
            .await
            .gql()?;
        w.transition(
            "SupervisionFinding",
            row.id,
            None,
            Some(old.status.as_str()),
            to.as_str(),
            note,
        )
        .gql()?;
        w.commit().await.gql()?;
        Ok(Some(SupervisionFinding(node(row))))
    }
}
