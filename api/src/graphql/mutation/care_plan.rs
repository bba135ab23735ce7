//! Care plans (一生一策 / 分类关爱方案): create a draft with its interventions, edit it while it is a
//! draft, move it through DRAFT → SUBMITTED → ACTIVE ⇄ REVIEW_DUE → COMPLETED | CLOSED (only the
//! approver activates or returns it), revise an approved plan as version n+1 (version n is
//! kept), and record interventions done.

use async_graphql::{Context, InputObject, Object, ID};
use carehub_entity::enums::{
    Agency as EAgency, CarePlanKind as EKind, CarePlanStatus as EStatus, FlagKind,
    RiskLevel as ERisk,
};
use carehub_entity::{care_plan, care_plan_intervention, report, screening};
use carehub_policy::ClassSet;
use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::ActiveValue::{NotSet, Set};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, IntoActiveModel, QueryFilter, QueryOrder,
};
use uuid::Uuid;

use super::guardian::live;
use super::visit::node;
use super::{not_future, opt_text};
use crate::error::{ApiError, ApiResult, GqlResult, IntoGql};
use crate::graphql::enums::{Agency, CarePlanKind, CarePlanStatus, RiskLevel};
use crate::graphql::query::parse_id;
use crate::graphql::types::records::CarePlan;
use crate::write::workflow::CARE_PLAN;
use crate::write::{provided, WriteCtx};

/// One intervention of a plan: what, by whom, how often, by when.
#[derive(InputObject)]
pub struct InterventionInput {
    pub action: String,
    pub responsible_agency: Option<Agency>,
    /// The responsible worker (token subject).
    pub responsible_worker: Option<String>,
    /// How often, e.g. "weekly".
    pub frequency: Option<String>,
    pub due: Option<NaiveDate>,
}

/// A new care plan; it starts as a DRAFT, version 1.
#[derive(InputObject)]
pub struct CreateCarePlanInput {
    pub child_id: ID,
    pub kind: CarePlanKind,
    /// The screening of this child that triggered the plan.
    pub trigger_screening_id: Option<ID>,
    /// The report about this child that triggered the plan.
    pub trigger_report_id: Option<ID>,
    /// Defaults to the trigger screening's level, else the child's current level.
    pub risk_level_at_start: Option<RiskLevel>,
    pub goals: Option<String>,
    pub interventions: Option<Vec<InterventionInput>>,
    pub review_due: Option<NaiveDate>,
    /// The worker leading the plan (token subject); defaults to the caller.
    pub lead_worker: Option<String>,
    /// Who approves the plan (token subject); only they activate or return it.
    pub approver: Option<String>,
}

/// Changes to a plan's content (partial): edits a DRAFT or RETURNED plan, or, for
/// `reviseCarePlan`, the changes version n+1 makes to version n. `interventions` replaces the
/// whole list.
#[derive(InputObject, Default)]
pub struct UpdateCarePlanInput {
    pub kind: Option<CarePlanKind>,
    pub trigger_screening_id: Option<ID>,
    pub trigger_report_id: Option<ID>,
    pub risk_level_at_start: Option<RiskLevel>,
    pub goals: Option<String>,
    pub interventions: Option<Vec<InterventionInput>>,
    pub review_due: Option<NaiveDate>,
    pub lead_worker: Option<String>,
    pub approver: Option<String>,
}

/// Statuses in which a plan's content may still be edited.
const EDITABLE: [EStatus; 2] = [EStatus::Draft, EStatus::Returned];
/// Statuses of an approved plan in force.
const IN_FORCE: [EStatus; 2] = [EStatus::Active, EStatus::ReviewDue];
/// At most this many interventions per plan.
const MAX_INTERVENTIONS: usize = 50;

/// A plan's content (everything but workflow and bookkeeping), validated.
struct Content {
    kind: EKind,
    trigger_screening_id: Option<Uuid>,
    trigger_report_id: Option<Uuid>,
    risk_level_at_start: Option<ERisk>,
    goals: Option<String>,
    review_due: Option<NaiveDate>,
    lead_worker: Option<String>,
    approver: Option<String>,
}

/// A validated intervention.
struct Intervention {
    action: String,
    responsible_agency: Option<EAgency>,
    responsible_worker: Option<String>,
    frequency: Option<String>,
    due: Option<NaiveDate>,
    done_at: Option<DateTime<Utc>>,
}

impl Content {
    fn of(m: &care_plan::Model) -> Self {
        Self {
            kind: m.kind,
            trigger_screening_id: m.trigger_screening_id,
            trigger_report_id: m.trigger_report_id,
            risk_level_at_start: m.risk_level_at_start,
            goals: m.goals.clone(),
            review_due: m.review_due,
            lead_worker: m.lead_worker.clone(),
            approver: m.approver.clone(),
        }
    }

    /// Applies and validates the set fields of `input` (a plan of `child_id`).
    async fn apply(
        &mut self,
        w: &WriteCtx,
        child_id: Uuid,
        input: &UpdateCarePlanInput,
    ) -> ApiResult<()> {
        if let Some(k) = input.kind {
            self.kind = k.into();
        }
        if let Some(id) = &input.trigger_screening_id {
            let s = trigger_screening(w, child_id, id).await?;
            self.trigger_screening_id = Some(s.id);
        }
        if let Some(id) = &input.trigger_report_id {
            let id = parse_id("input.triggerReportId", id)?;
            let found = report::Entity::find_by_id(id)
                .filter(report::Column::ChildId.eq(child_id))
                .filter(report::Column::ArchivedAt.is_null())
                .one(&w.txn)
                .await?;
            if found.is_none() {
                return Err(ApiError::bad_input(
                    "input.triggerReportId",
                    "must be a report about this child",
                ));
            }
            self.trigger_report_id = Some(id);
        }
        if let Some(r) = input.risk_level_at_start {
            self.risk_level_at_start = Some(r.into());
        }
        if input.goals.is_some() {
            self.goals = opt_text("input.goals", input.goals.as_deref(), 10_000)?;
        }
        if let Some(d) = input.review_due {
            if d < w.at.date_naive() {
                return Err(ApiError::bad_input(
                    "input.reviewDue",
                    "must not be in the past",
                ));
            }
            self.review_due = Some(d);
        }
        if input.lead_worker.is_some() {
            self.lead_worker = opt_text("input.leadWorker", input.lead_worker.as_deref(), 100)?;
        }
        if input.approver.is_some() {
            self.approver = opt_text("input.approver", input.approver.as_deref(), 100)?;
        }
        let staffed = input.approver.is_some() || input.lead_worker.is_some();
        if staffed && self.approver.is_some() && self.approver == self.lead_worker {
            return Err(ApiError::bad_input(
                "input.approver",
                "must be someone other than the lead worker (four-eyes approval)",
            ));
        }
        Ok(())
    }

    fn set(self, am: &mut care_plan::ActiveModel) {
        am.kind = Set(self.kind);
        am.trigger_screening_id = Set(self.trigger_screening_id);
        am.trigger_report_id = Set(self.trigger_report_id);
        am.risk_level_at_start = Set(self.risk_level_at_start);
        am.goals = Set(self.goals);
        am.review_due = Set(self.review_due);
        am.lead_worker = Set(self.lead_worker);
        am.approver = Set(self.approver);
    }
}

async fn trigger_screening(w: &WriteCtx, child_id: Uuid, id: &ID) -> ApiResult<screening::Model> {
    let id = parse_id("input.triggerScreeningId", id)?;
    screening::Entity::find_by_id(id)
        .filter(screening::Column::ChildId.eq(child_id))
        .filter(screening::Column::ArchivedAt.is_null())
        .one(&w.txn)
        .await?
        .ok_or_else(|| {
            ApiError::bad_input(
                "input.triggerScreeningId",
                "must be a screening of this child",
            )
        })
}

/// Validates an intervention list.
fn interventions(list: &[InterventionInput]) -> ApiResult<Vec<Intervention>> {
    if list.len() > MAX_INTERVENTIONS {
        return Err(ApiError::bad_input(
            "input.interventions",
            format!("must have at most {MAX_INTERVENTIONS} interventions"),
        ));
    }
    list.iter()
        .enumerate()
        .map(|(i, iv)| {
            let f = |name: &str| format!("input.interventions[{i}].{name}");
            Ok(Intervention {
                action: super::text(&f("action"), &iv.action, 1000)?,
                responsible_agency: iv.responsible_agency.map(Into::into),
                responsible_worker: opt_text(
                    &f("responsibleWorker"),
                    iv.responsible_worker.as_deref(),
                    100,
                )?,
                frequency: opt_text(&f("frequency"), iv.frequency.as_deref(), 100)?,
                due: iv.due,
                done_at: None,
            })
        })
        .collect()
}

async fn load_interventions(
    w: &WriteCtx,
    plan: Uuid,
) -> ApiResult<Vec<care_plan_intervention::Model>> {
    Ok(care_plan_intervention::Entity::find()
        .filter(care_plan_intervention::Column::CarePlanId.eq(plan))
        .order_by_asc(care_plan_intervention::Column::Position)
        .all(&w.txn)
        .await?)
}

/// Writes a plan's interventions, in order. They are part of the plan's content and are
/// recorded in its audit entry (`interventions`).
async fn insert_interventions(w: &WriteCtx, plan: Uuid, list: Vec<Intervention>) -> ApiResult<()> {
    for (i, iv) in list.into_iter().enumerate() {
        care_plan_intervention::ActiveModel {
            id: Set(Uuid::now_v7()),
            care_plan_id: Set(plan),
            position: Set(i as i32 + 1),
            action: Set(iv.action),
            responsible_agency: Set(iv.responsible_agency),
            responsible_worker: Set(iv.responsible_worker),
            frequency: Set(iv.frequency),
            due: Set(iv.due),
            done_at: Set(iv.done_at),
        }
        .insert(&w.txn)
        .await?;
    }
    Ok(())
}

fn plan_facts(w: &WriteCtx, p: &care_plan::Model) -> carehub_policy::RowFacts {
    w.facts(
        p.organization_id.or(p.owner_org_id),
        Some(p.owner_agency),
        ClassSet::EMPTY,
    )
}

#[derive(Default)]
pub struct CarePlanMutation;

#[Object]
impl CarePlanMutation {
    /// Creates a care plan for a child in your scope: a DRAFT, version 1.
    async fn create_care_plan(
        &self,
        ctx: &Context<'_>,
        input: CreateCarePlanInput,
    ) -> GqlResult<Option<CarePlan>> {
        let fields = provided(ctx, "input");
        let mut w = WriteCtx::begin(ctx).await.gql()?;
        let child_id = parse_id("input.childId", &input.child_id).gql()?;
        let child = w.child(child_id).await.gql()?;
        let org = w.rc.org;
        w.authorize(
            "CreateCarePlanInput",
            &fields,
            &w.facts(org, Some(w.rc.agency), ClassSet::EMPTY),
        )
        .gql()?;
        let list = interventions(input.interventions.as_deref().unwrap_or_default()).gql()?;
        let mut content = Content {
            kind: input.kind.into(),
            trigger_screening_id: None,
            trigger_report_id: None,
            risk_level_at_start: None,
            goals: None,
            review_due: None,
            lead_worker: Some(w.rc.principal.sub.clone()),
            approver: None,
        };
        let changes = UpdateCarePlanInput {
            trigger_screening_id: input.trigger_screening_id,
            trigger_report_id: input.trigger_report_id,
            risk_level_at_start: input.risk_level_at_start,
            goals: input.goals,
            review_due: input.review_due,
            lead_worker: input.lead_worker,
            approver: input.approver,
            ..Default::default()
        };
        content.apply(&w, child_id, &changes).await.gql()?;
        if content.risk_level_at_start.is_none() {
            let from_trigger = match &changes.trigger_screening_id {
                Some(id) => Some(trigger_screening(&w, child_id, id).await.gql()?.risk_level),
                None => None,
            };
            content.risk_level_at_start = from_trigger.or(child.current_risk_level);
        }
        let mut am = care_plan::ActiveModel {
            id: NotSet,
            child_id: Set(child_id),
            approved_at: Set(None),
            status: Set(EStatus::Draft),
            plan_version: Set(1),
            previous_version_id: Set(None),
            organization_id: Set(org),
            ..Default::default()
        };
        content.set(&mut am);
        let row = w
            .insert::<care_plan::Entity, _>(am, Some(child.residence_region_code))
            .await
            .gql()?;
        if !list.is_empty() {
            insert_interventions(&w, row.id, list).await.gql()?;
        }
        w.transition(
            "CarePlan",
            row.id,
            Some(child_id),
            None,
            EStatus::Draft.as_str(),
            None,
        )
        .gql()?;
        w.commit().await.gql()?;
        Ok(Some(CarePlan(node(row))))
    }

    /// Edits a DRAFT or RETURNED plan. An approved plan's content is immutable: revise it with
    /// `reviseCarePlan`. `expectedVersion` must be the version you read.
    async fn update_care_plan(
        &self,
        ctx: &Context<'_>,
        id: ID,
        expected_version: i32,
        input: UpdateCarePlanInput,
    ) -> GqlResult<Option<CarePlan>> {
        let fields = provided(ctx, "input");
        let mut w = WriteCtx::begin(ctx).await.gql()?;
        let id = parse_id("id", &id).gql()?;
        let old = live::<care_plan::Entity>(&w, id).await.gql()?;
        w.authorize("UpdateCarePlanInput", &fields, &plan_facts(&w, &old))
            .gql()?;
        if !EDITABLE.contains(&old.status) {
            let hint = match old.status {
                EStatus::Active | EStatus::ReviewDue => "an approved plan's content is immutable; use reviseCarePlan to create the next version",
                EStatus::Submitted => "it awaits its approver; it can be edited once it is RETURNED",
                _ => "it is finished; create a new plan instead",
            };
            return Err(ApiError::bad_input(
                "id",
                format!(
                    "the care plan is {} and cannot be edited: {hint}",
                    old.status.as_str()
                ),
            )
            .into_gql());
        }
        let list = input
            .interventions
            .as_deref()
            .map(interventions)
            .transpose()
            .gql()?;
        let mut content = Content::of(&old);
        content.apply(&w, old.child_id, &input).await.gql()?;
        let mut am = old.clone().into_active_model();
        content.set(&mut am);
        let child = w.child(old.child_id).await.gql()?;
        let row = w
            .update::<care_plan::Entity, _>(
                &old,
                am,
                expected_version,
                Some(child.residence_region_code),
            )
            .await
            .gql()?;
        if let Some(list) = list {
            // A draft's interventions were never approved: the new list replaces them.
            care_plan_intervention::Entity::delete_many()
                .filter(care_plan_intervention::Column::CarePlanId.eq(row.id))
                .exec(&w.txn)
                .await
                .map_err(ApiError::from)
                .gql()?;
            insert_interventions(&w, row.id, list).await.gql()?;
            w.audit_write(
                "CarePlan",
                row.id,
                Some(row.child_id),
                "UPDATE",
                vec!["interventions".into()],
                None,
            );
        }
        w.commit().await.gql()?;
        Ok(Some(CarePlan(node(row))))
    }

    /// Moves a plan along DRAFT → SUBMITTED → ACTIVE ⇄ REVIEW_DUE → COMPLETED | CLOSED, or
    /// SUBMITTED → RETURNED → DRAFT. Only the plan's approver activates or returns it; returning
    /// and closing need a note; a REVIEW_DUE plan returns to ACTIVE with its next `reviewDue`.
    async fn transition_care_plan(
        &self,
        ctx: &Context<'_>,
        id: ID,
        expected_version: i32,
        status: CarePlanStatus,
        note: Option<String>,
        #[graphql(desc = "The next review date, when a REVIEW_DUE plan returns to ACTIVE")]
        review_due: Option<NaiveDate>,
    ) -> GqlResult<Option<CarePlan>> {
        let mut w = WriteCtx::begin(ctx).await.gql()?;
        let id = parse_id("id", &id).gql()?;
        let old = live::<care_plan::Entity>(&w, id).await.gql()?;
        w.authorize(
            "Mutation",
            &["transitionCarePlan".to_owned()],
            &plan_facts(&w, &old),
        )
        .gql()?;
        let to = EStatus::from(status);
        CARE_PLAN.check(old.status, to).gql()?;
        let note = opt_text("note", note.as_deref(), 2000).gql()?;
        let approver_only = matches!(to, EStatus::Active | EStatus::Returned);
        if approver_only && old.approver.as_deref() != Some(w.rc.principal.sub.as_str()) {
            let who = old.approver.as_deref().unwrap_or("(none named)");
            return Err(ApiError::forbidden(format!(
                "only the plan's approver ({who}) may move it to {}",
                to.as_str()
            ))
            .into_gql());
        }
        if review_due.is_some() && !(old.status == EStatus::ReviewDue && to == EStatus::Active) {
            return Err(ApiError::bad_input(
                "reviewDue",
                "is given only when a REVIEW_DUE plan returns to ACTIVE",
            )
            .into_gql());
        }
        let mut am = old.clone().into_active_model();
        am.status = Set(to);
        match (old.status, to) {
            (_, EStatus::Submitted) => {
                let count = load_interventions(&w, old.id).await.gql()?.len();
                let mut missing = Vec::new();
                if old.goals.is_none() {
                    missing.push("goals");
                }
                if count == 0 {
                    missing.push("at least one intervention");
                }
                if old.approver.is_none() {
                    missing.push("an approver");
                }
                if old.review_due.is_none() {
                    missing.push("a reviewDue date");
                }
                if !missing.is_empty() {
                    return Err(ApiError::bad_input(
                        "status",
                        format!(
                            "a plan is submitted complete: it lacks {}",
                            missing.join(", ")
                        ),
                    )
                    .into_gql());
                }
            }
            (EStatus::Submitted, EStatus::Active) => am.approved_at = Set(Some(w.at)),
            (EStatus::ReviewDue, EStatus::Active) => match review_due {
                Some(d) if d > w.at.date_naive() => am.review_due = Set(Some(d)),
                Some(_) => {
                    return Err(ApiError::bad_input("reviewDue", "must be after today").into_gql())
                }
                None => {
                    return Err(ApiError::bad_input(
                        "reviewDue",
                        "a reviewed plan returns to ACTIVE with its next review date",
                    )
                    .into_gql())
                }
            },
            (_, EStatus::Returned) if note.is_none() => {
                return Err(ApiError::bad_input(
                    "note",
                    "returning a plan needs a note saying what to change",
                )
                .into_gql());
            }
            (_, EStatus::Closed) if note.is_none() => {
                return Err(ApiError::bad_input(
                    "note",
                    "closing a plan needs a note giving the reason",
                )
                .into_gql());
            }
            _ => {}
        }
        let child = w.child(old.child_id).await.gql()?;
        let region = Some(child.residence_region_code);
        let row = w
            .update::<care_plan::Entity, _>(&old, am, expected_version, region)
            .await
            .gql()?;
        w.transition(
            "CarePlan",
            row.id,
            Some(row.child_id),
            Some(old.status.as_str()),
            to.as_str(),
            note,
        )
        .gql()?;
        if to == EStatus::Active {
            // The approved revision supersedes the version it revises.
            if let Some(prev_id) = row
                .previous_version_id
                .filter(|_| old.status == EStatus::Submitted)
            {
                let prev = care_plan::Entity::find_by_id(prev_id)
                    .one(&w.txn)
                    .await
                    .map_err(ApiError::from)
                    .gql()?;
                if let Some(prev) =
                    prev.filter(|p| IN_FORCE.contains(&p.status) && p.archived_at.is_none())
                {
                    let mut pam = prev.clone().into_active_model();
                    pam.status = Set(EStatus::Closed);
                    w.update::<care_plan::Entity, _>(&prev, pam, prev.version, region)
                        .await
                        .gql()?;
                    let why = format!("superseded by version {} ({})", row.plan_version, row.id);
                    w.transition(
                        "CarePlan",
                        prev.id,
                        Some(prev.child_id),
                        Some(prev.status.as_str()),
                        EStatus::Closed.as_str(),
                        Some(why),
                    )
                    .gql()?;
                }
            }
            w.clear_flag(
                row.child_id,
                FlagKind::RedWithoutPlan,
                "risk",
                "care plan activated",
            );
        }
        w.commit().await.gql()?;
        Ok(Some(CarePlan(node(row))))
    }

    /// Revises an approved (ACTIVE or REVIEW_DUE) plan: creates version n+1 as a DRAFT with
    /// version n's content and interventions, then applies `input`. Version n stays as it is
    /// until the revision is approved, which closes it.
    async fn revise_care_plan(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: UpdateCarePlanInput,
        reason: Option<String>,
    ) -> GqlResult<Option<CarePlan>> {
        let fields = provided(ctx, "input");
        let mut w = WriteCtx::begin(ctx).await.gql()?;
        let id = parse_id("id", &id).gql()?;
        let old = live::<care_plan::Entity>(&w, id).await.gql()?;
        let facts = plan_facts(&w, &old);
        w.authorize("Mutation", &["reviseCarePlan".to_owned()], &facts)
            .gql()?;
        w.authorize("UpdateCarePlanInput", &fields, &facts).gql()?;
        let reason = opt_text("reason", reason.as_deref(), 2000).gql()?;
        if !IN_FORCE.contains(&old.status) {
            let hint = if EDITABLE.contains(&old.status) {
                "edit it with updateCarePlan"
            } else {
                "only an approved plan in force (ACTIVE or REVIEW_DUE) is revised"
            };
            return Err(ApiError::bad_input(
                "id",
                format!("the care plan is {}: {hint}", old.status.as_str()),
            )
            .into_gql());
        }
        let newer = care_plan::Entity::find()
            .filter(care_plan::Column::PreviousVersionId.eq(old.id))
            .filter(care_plan::Column::ArchivedAt.is_null())
            .one(&w.txn)
            .await
            .map_err(ApiError::from)
            .gql()?;
        if let Some(n) = newer {
            return Err(ApiError::Conflict {
                message: format!(
                    "version {} of this plan already exists ({}); work on that revision",
                    n.plan_version,
                    n.status.as_str()
                ),
                details: serde_json::json!({ "existingId": n.id.to_string() }),
            }
            .into_gql());
        }
        let list = match input.interventions.as_deref() {
            Some(l) => interventions(l).gql()?,
            None => load_interventions(&w, old.id)
                .await
                .gql()?
                .into_iter()
                .map(|m| Intervention {
                    action: m.action,
                    responsible_agency: m.responsible_agency,
                    responsible_worker: m.responsible_worker,
                    frequency: m.frequency,
                    due: m.due,
                    done_at: m.done_at,
                })
                .collect(),
        };
        let mut content = Content::of(&old);
        content.apply(&w, old.child_id, &input).await.gql()?;
        let mut am = care_plan::ActiveModel {
            id: NotSet,
            child_id: Set(old.child_id),
            approved_at: Set(None),
            status: Set(EStatus::Draft),
            plan_version: Set(old.plan_version + 1),
            previous_version_id: Set(Some(old.id)),
            organization_id: Set(old.organization_id),
            ..Default::default()
        };
        content.set(&mut am);
        let child = w.child(old.child_id).await.gql()?;
        let row = w
            .insert::<care_plan::Entity, _>(am, Some(child.residence_region_code))
            .await
            .gql()?;
        insert_interventions(&w, row.id, list).await.gql()?;
        let why = match reason {
            Some(r) => format!("revision of version {} ({}): {r}", old.plan_version, old.id),
            None => format!("revision of version {} ({})", old.plan_version, old.id),
        };
        w.transition(
            "CarePlan",
            row.id,
            Some(row.child_id),
            None,
            EStatus::Draft.as_str(),
            Some(why),
        )
        .gql()?;
        w.commit().await.gql()?;
        Ok(Some(CarePlan(node(row))))
    }

    /// Records an intervention of an ACTIVE (or REVIEW_DUE) plan as done; returns the plan.
    async fn record_intervention_done(
        &self,
        ctx: &Context<'_>,
        intervention_id: ID,
        done_at: DateTime<Utc>,
    ) -> GqlResult<Option<CarePlan>> {
        let mut w = WriteCtx::begin(ctx).await.gql()?;
        let iid = parse_id("interventionId", &intervention_id).gql()?;
        let not_found =
            || ApiError::NotFound(format!("no CarePlanIntervention {iid} in your scope"));
        let iv = care_plan_intervention::Entity::find_by_id(iid)
            .one(&w.txn)
            .await
            .map_err(ApiError::from)
            .gql()?
            .ok_or_else(|| not_found().into_gql())?;
        let plan = live::<care_plan::Entity>(&w, iv.care_plan_id)
            .await
            .map_err(|_| not_found().into_gql())?;
        w.authorize(
            "Mutation",
            &["recordInterventionDone".to_owned()],
            &plan_facts(&w, &plan),
        )
        .gql()?;
        if !IN_FORCE.contains(&plan.status) {
            return Err(ApiError::bad_input("interventionId", format!("interventions are done while their plan is ACTIVE or REVIEW_DUE; this plan is {}", plan.status.as_str())).into_gql());
        }
        not_future("doneAt", done_at).gql()?;
        if let Some(at) = iv.done_at {
            return Err(ApiError::bad_input(
                "interventionId",
                format!(
                    "the intervention was already recorded done at {}",
                    at.to_rfc3339()
                ),
            )
            .into_gql());
        }
        let res = care_plan_intervention::Entity::update_many()
            .col_expr(
                care_plan_intervention::Column::DoneAt,
                sea_orm::sea_query::Expr::value(done_at),
            )
            .filter(care_plan_intervention::Column::Id.eq(iid))
            .filter(care_plan_intervention::Column::DoneAt.is_null())
            .exec(&w.txn)
            .await
            .map_err(ApiError::from)
            .gql()?;
        if res.rows_affected == 0 {
            return Err(ApiError::Conflict {
                message: "the intervention was recorded done by someone else meanwhile; reload"
                    .into(),
                details: serde_json::Value::Null,
            }
            .into_gql());
        }
        w.audit_write(
            "CarePlanIntervention",
            iid,
            Some(plan.child_id),
            "UPDATE",
            vec!["doneAt".into()],
            None,
        );
        w.commit().await.gql()?;
        Ok(Some(CarePlan(node(plan))))
    }
}
