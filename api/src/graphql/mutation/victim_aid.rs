//! Psychological aid for minor victims (未成年被害人心理救助): open a case (women's federation with
//! the procuratorate) and update its services and status. The most restricted record in the
//! hub: every field is G-ABUSE.

use async_graphql::{Context, InputObject, Object, ID};
use carehub_entity::enums::VictimAidStatus as EStatus;
use carehub_entity::{report, victim_aid};
use carehub_policy::ClassSet;
use sea_orm::ActiveValue::{NotSet, Set};
use sea_orm::{ColumnTrait, EntityTrait, IntoActiveModel, QueryFilter};
use uuid::Uuid;

use super::guardian::live;
use super::opt_text;
use super::visit::node;
use crate::error::{ApiError, ApiResult, GqlResult, IntoGql};
use crate::graphql::enums::VictimAidStatus;
use crate::graphql::query::parse_id;
use crate::graphql::types::records::VictimAid;
use crate::write::workflow::{Machine, State};
use crate::write::{provided, WriteCtx};

impl State for EStatus {
    fn name(&self) -> &'static str {
        self.as_str()
    }
}

/// Victim aid: OPEN → IN_SERVICE → CLOSED (a case may also close before services start).
pub const VICTIM_AID: Machine<EStatus> = Machine {
    name: "victim-aid case",
    transitions: &[
        (EStatus::Open, EStatus::InService),
        (EStatus::InService, EStatus::Closed),
        (EStatus::Open, EStatus::Closed),
    ],
};

/// A new victim-aid case.
#[derive(InputObject)]
pub struct OpenVictimAidInput {
    pub child_id: ID,
    /// The harm report about this child the case follows.
    pub report_id: Option<ID>,
    /// Procuratorate case reference (minimal).
    pub case_ref: Option<String>,
    /// Services planned or provided (e.g. COUNSELING, ACCOMPANIMENT).
    pub services: Option<Vec<String>>,
    /// The victim-aid worker on the case (token subject); defaults to the caller.
    pub worker: Option<String>,
}

/// Changes to a victim-aid case (partial). `services` replaces the list.
#[derive(InputObject)]
pub struct UpdateVictimAidInput {
    pub case_ref: Option<String>,
    pub services: Option<Vec<String>>,
    pub status: Option<VictimAidStatus>,
    pub worker: Option<String>,
}

fn services(list: &[String]) -> ApiResult<serde_json::Value> {
    if list.len() > 20 {
        return Err(ApiError::bad_input(
            "input.services",
            "must list at most 20 services",
        ));
    }
    let mut out: Vec<String> = Vec::new();
    for (i, s) in list.iter().enumerate() {
        let s = super::text(&format!("input.services[{i}]"), s, 100)?;
        if !out.contains(&s) {
            out.push(s);
        }
    }
    Ok(serde_json::json!(out))
}

async fn harm_report(w: &WriteCtx, child_id: Uuid, id: &str) -> ApiResult<Uuid> {
    let id = parse_id("input.reportId", id)?;
    let r = report::Entity::find_by_id(id)
        .filter(report::Column::ChildId.eq(child_id))
        .filter(report::Column::ArchivedAt.is_null())
        .one(&w.txn)
        .await?
        .ok_or_else(|| {
            ApiError::bad_input("input.reportId", "must be a report about this child")
        })?;
    if !r.category.is_harm() {
        return Err(ApiError::bad_input("input.reportId", format!("must be a harm report (abuse, sexual abuse, neglect, bullying, domestic violence), not {}", r.category.as_str())));
    }
    Ok(id)
}

#[derive(Default)]
pub struct VictimAidMutation;

#[Object]
impl VictimAidMutation {
    /// Opens a victim-aid case for a child in your scope (OPEN).
    async fn open_victim_aid(
        &self,
        ctx: &Context<'_>,
        input: OpenVictimAidInput,
    ) -> GqlResult<Option<VictimAid>> {
        let fields = provided(ctx, "input");
        let mut w = WriteCtx::begin(ctx).await.gql()?;
        let child_id = parse_id("input.childId", &input.child_id).gql()?;
        let child = w.child(child_id).await.gql()?;
        let org = w.rc.org;
        w.authorize(
            "OpenVictimAidInput",
            &fields,
            &w.facts(org, Some(w.rc.agency), ClassSet::EMPTY),
        )
        .gql()?;
        let report_id = match input.report_id.as_deref() {
            Some(r) => Some(harm_report(&w, child_id, r).await.gql()?),
            None => None,
        };
        if let Some(r) = report_id {
            let open = victim_aid::Entity::find()
                .filter(victim_aid::Column::ReportId.eq(r))
                .filter(victim_aid::Column::Status.ne(EStatus::Closed))
                .filter(victim_aid::Column::ArchivedAt.is_null())
                .one(&w.txn)
                .await
                .map_err(ApiError::from)
                .gql()?;
            if let Some(o) = open {
                return Err(ApiError::Conflict {
                    message: "a victim-aid case for this report is already open; update that case"
                        .into(),
                    details: serde_json::json!({ "existingId": o.id.to_string() }),
                }
                .into_gql());
            }
        }
        let am = victim_aid::ActiveModel {
            id: NotSet,
            child_id: Set(child_id),
            report_id: Set(report_id),
            case_ref: Set(opt_text("input.caseRef", input.case_ref.as_deref(), 100).gql()?),
            services: Set(Some(
                services(input.services.as_deref().unwrap_or_default()).gql()?,
            )),
            status: Set(EStatus::Open),
            worker: Set(Some(
                opt_text("input.worker", input.worker.as_deref(), 100)
                    .gql()?
                    .unwrap_or_else(|| w.rc.principal.sub.clone()),
            )),
            organization_id: Set(org),
            ..Default::default()
        };
        let row = w
            .insert::<victim_aid::Entity, _>(am, Some(child.residence_region_code))
            .await
            .gql()?;
        w.transition(
            "VictimAid",
            row.id,
            Some(child_id),
            None,
            EStatus::Open.as_str(),
            None,
        )
        .gql()?;
        w.commit().await.gql()?;
        Ok(Some(VictimAid(node(row))))
    }

    /// Updates a victim-aid case: services, worker, case reference, status (OPEN → IN_SERVICE →
    /// CLOSED). `expectedVersion` must be the version you read.
    async fn update_victim_aid(
        &self,
        ctx: &Context<'_>,
        id: ID,
        expected_version: i32,
        input: UpdateVictimAidInput,
    ) -> GqlResult<Option<VictimAid>> {
        let fields = provided(ctx, "input");
        let mut w = WriteCtx::begin(ctx).await.gql()?;
        let id = parse_id("id", &id).gql()?;
        let old = live::<victim_aid::Entity>(&w, id).await.gql()?;
        w.authorize(
            "UpdateVictimAidInput",
            &fields,
            &w.facts(
                old.organization_id.or(old.owner_org_id),
                Some(old.owner_agency),
                ClassSet::EMPTY,
            ),
        )
        .gql()?;
        let mut am = old.clone().into_active_model();
        if input.case_ref.is_some() {
            am.case_ref = Set(opt_text("input.caseRef", input.case_ref.as_deref(), 100).gql()?);
        }
        if let Some(s) = &input.services {
            am.services = Set(Some(services(s).gql()?));
        }
        if let Some(wk) = input.worker.as_deref() {
            am.worker = Set(Some(super::text("input.worker", wk, 100).gql()?));
        }
        let to = input.status.map(EStatus::from).filter(|s| *s != old.status);
        if let Some(to) = to {
            VICTIM_AID.check(old.status, to).map_err(|_| {
                let next: Vec<&str> = VICTIM_AID
                    .next(old.status)
                    .iter()
                    .map(|s| s.as_str())
                    .collect();
                let next = if next.is_empty() {
                    "none (final state)".to_owned()
                } else {
                    next.join(", ")
                };
                ApiError::bad_input(
                    "input.status",
                    format!(
                        "a victim-aid case cannot go from {} to {}; allowed next: {next}",
                        old.status.as_str(),
                        to.as_str()
                    ),
                )
                .into_gql()
            })?;
            am.status = Set(to);
        }
        let child = w.child(old.child_id).await.gql()?;
        let row = w
            .update::<victim_aid::Entity, _>(
                &old,
                am,
                expected_version,
                Some(child.residence_region_code),
            )
            .await
            .gql()?;
        if let Some(to) = to {
            w.transition(
                "VictimAid",
                row.id,
                Some(row.child_id),
                Some(old.status.as_str()),
                to.as_str(),
                None,
            )
            .gql()?;
        }
        w.commit().await.gql()?;
        Ok(Some(VictimAid(node(row))))
    }
}
