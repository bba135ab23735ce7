//! Concern and mandatory reports (发现报告 / 强制报告): any care role may report, including a
//! 12355 counsellor for an anonymous caller; harm reports go to the police at once.

use async_graphql::{Context, InputObject, Object, ID};
use carehub_entity::enums::BasisKind;
use carehub_entity::enums::{
    ReportCategory as ECategory, ReportStatus as EStatus, ReportedTo as ETo, Urgency as EUrgency,
};
use carehub_entity::{child, lawful_basis, report};
use carehub_policy::ClassSet;
use chrono::{DateTime, Duration, Utc};
use sea_orm::ActiveValue::{NotSet, Set};
use sea_orm::{EntityTrait, IntoActiveModel};

use super::visit::node;
use super::{not_future, opt_text};
use crate::error::{ApiError, GqlResult, IntoGql};
use crate::graphql::enums::{ReportCategory, ReportStatus, ReportedTo};
use crate::graphql::query::{parse_id, parse_region};
use crate::graphql::types::records::Report;
use crate::write::workflow::REPORT;
use crate::write::{provided, WriteCtx};

/// A report of abnormal psychology, behaviour, or harm.
#[derive(InputObject)]
pub struct CreateReportInput {
    /// The child, if identified (any registered child may be reported: the duty to report
    /// does not stop at one's scope).
    pub child_id: Option<ID>,
    /// Where it happened (region code), required when the child is not identified.
    pub region_code: Option<String>,
    pub category: ReportCategory,
    pub occurred_at: Option<DateTime<Utc>>,
    pub discovered_at: DateTime<Utc>,
    pub reported_to: Vec<ReportedTo>,
    pub police_ref: Option<String>,
    pub description: Option<String>,
    /// The report comes from an anonymous 12355 caller.
    pub anonymous_caller: Option<bool>,
}

/// Deadline of a report: 24 h for harm and self-harm risk, 72 h otherwise.
pub fn due_by(category: ECategory, reported_at: DateTime<Utc>) -> (EUrgency, DateTime<Utc>) {
    if category.is_harm() || category == ECategory::SelfHarmRisk {
        (EUrgency::Urgent, reported_at + Duration::hours(24))
    } else {
        (EUrgency::Routine, reported_at + Duration::hours(72))
    }
}

#[derive(Default)]
pub struct ReportMutation;

#[Object]
impl ReportMutation {
    /// Files a concern or mandatory report.
    async fn create_report(
        &self,
        ctx: &Context<'_>,
        input: CreateReportInput,
    ) -> GqlResult<Option<Report>> {
        let fields = provided(ctx, "input");
        let mut w = WriteCtx::begin(ctx).await.gql()?;
        let category = ECategory::from(input.category);
        let classes = if category.is_harm() {
            ClassSet::HARM
        } else {
            ClassSet::EMPTY
        };
        let org = w.rc.org;
        w.authorize(
            "CreateReportInput",
            &fields,
            &w.facts(org, Some(w.rc.agency), classes),
        )
        .gql()?;
        let child = match &input.child_id {
            Some(id) => {
                let id = parse_id("input.childId", id).gql()?;
                Some(
                    child::Entity::find_by_id(id)
                        .one(&w.txn)
                        .await
                        .map_err(ApiError::from)
                        .gql()?
                        .ok_or_else(|| ApiError::NotFound(format!("no child {id}")).into_gql())?,
                )
            }
            None => None,
        };
        let region = match (&input.region_code, &child) {
            (Some(r), _) => Some(parse_region("input.regionCode", r).gql()?.code()),
            (None, Some(c)) => Some(c.residence_region_code),
            (None, None) => {
                return Err(ApiError::bad_input(
                    "input.regionCode",
                    "is required when the child is not identified",
                )
                .into_gql())
            }
        };
        not_future("input.discoveredAt", input.discovered_at).gql()?;
        if let Some(o) = input.occurred_at {
            not_future("input.occurredAt", o).gql()?;
            if o > input.discovered_at {
                return Err(ApiError::bad_input(
                    "input.occurredAt",
                    "must not be after discoveredAt",
                )
                .into_gql());
            }
        }
        let to: Vec<ETo> = input.reported_to.iter().map(|t| ETo::from(*t)).collect();
        if to.is_empty() {
            return Err(ApiError::bad_input(
                "input.reportedTo",
                "must name at least one recipient (POLICE, CIVIL_AFFAIRS, EDUCATION)",
            )
            .into_gql());
        }
        if category.is_harm() && !to.contains(&ETo::Police) {
            return Err(ApiError::bad_input("input.reportedTo", "harm is reported to the police at once: include POLICE (Minors Protection Law art. 11)").into_gql());
        }
        let reported_at = w.at;
        let (urgency, due) = due_by(category, reported_at);
        let anonymous = input.anonymous_caller.unwrap_or(false);
        let am = report::ActiveModel {
            id: NotSet,
            child_id: Set(child.as_ref().map(|c| c.id)),
            region_code: Set(region),
            reporter: Set(Some(w.rc.principal.sub.clone())),
            reporter_org_id: Set(org),
            anonymous_caller: Set(anonymous),
            category: Set(category),
            occurred_at: Set(input.occurred_at),
            discovered_at: Set(input.discovered_at),
            reported_at: Set(reported_at),
            reported_to: Set(Some(serde_json::json!(to
                .iter()
                .map(|t| t.as_str())
                .collect::<Vec<_>>()))),
            police_ref: Set(opt_text("input.policeRef", input.police_ref.as_deref(), 100).gql()?),
            urgency: Set(urgency),
            due_by: Set(due),
            status: Set(EStatus::Reported),
            description: Set(
                opt_text("input.description", input.description.as_deref(), 10_000).gql()?,
            ),
            ..Default::default()
        };
        let row = w.insert::<report::Entity, _>(am, region).await.gql()?;
        if let (true, Some(child_id)) = (category.is_harm(), row.child_id) {
            // Mandatory reporting is itself the lawful basis (PIPL art. 13(3)): the agencies the
            // law names receive the abuse detail for care and crisis work.
            let mut recipients: Vec<&str> = vec!["CIVIL_AFFAIRS", "WOMENS_FEDERATION"];
            if to.contains(&ETo::Education) {
                recipients.push("EDUCATION");
            }
            let basis = lawful_basis::ActiveModel {
                child_id: Set(child_id),
                grantor: Set("statutory duty (mandatory report)".into()),
                grantor_relation: Set(None),
                basis: Set(BasisKind::StatutoryDuty),
                purposes: Set(serde_json::json!(["CARE", "CRISIS", "REFERRAL"])),
                recipients: Set(serde_json::json!(recipients)),
                field_groups: Set(serde_json::json!(["G-ABUSE"])),
                valid_from: Set(w.at),
                valid_to: Set(None),
                withdrawn_at: Set(None),
                document_ref: Set(Some(format!("report:{}", row.id))),
                legal_reference: Set(Some(
                    "未成年人保护法 第十一条；个人信息保护法 第十三条第一款第三项".into(),
                )),
                ..Default::default()
            };
            w.insert::<lawful_basis::Entity, _>(basis, region)
                .await
                .gql()?;
        }
        w.transition(
            "Report",
            row.id,
            row.child_id,
            None,
            EStatus::Reported.as_str(),
            None,
        )
        .gql()?;
        w.commit().await.gql()?;
        Ok(Some(Report(node(row))))
    }

    /// Moves a report along REPORTED → ACKNOWLEDGED → HANDLING → CLOSED.
    async fn advance_report(
        &self,
        ctx: &Context<'_>,
        id: ID,
        expected_version: i32,
        status: ReportStatus,
        note: Option<String>,
    ) -> GqlResult<Option<Report>> {
        let mut w = WriteCtx::begin(ctx).await.gql()?;
        let id = parse_id("id", &id).gql()?;
        let old = w.record::<report::Entity>(id).await.gql()?;
        if old.child_id.is_none() {
            // An unidentified child's report is scoped by where it happened.
            let mine = crate::domain::region::RegionPrefix::parse(&w.rc.principal.region)
                .map(|p| old.region_code.is_some_and(|c| p.contains(c)))
                .unwrap_or(false);
            if !mine {
                return Err(ApiError::NotFound(format!("no Report {id} in your scope")).into_gql());
            }
        }
        let classes = if old.category.is_harm() {
            ClassSet::HARM
        } else {
            ClassSet::EMPTY
        };
        w.authorize(
            "Mutation",
            &["advanceReport".to_owned()],
            &w.facts(None, Some(old.owner_agency), classes),
        )
        .gql()?;
        let to = EStatus::from(status);
        REPORT.check(old.status, to).gql()?;
        let note = opt_text("note", note.as_deref(), 2000).gql()?;
        let mut am = old.clone().into_active_model();
        am.status = Set(to);
        let row = w
            .update::<report::Entity, _>(&old, am, expected_version, old.region_code)
            .await
            .gql()?;
        w.transition(
            "Report",
            row.id,
            row.child_id,
            Some(old.status.as_str()),
            to.as_str(),
            note,
        )
        .gql()?;
        w.commit().await.gql()?;
        Ok(Some(Report(node(row))))
    }
}
