//! GraphQL types of the child-owned records (DESIGN.md §2). Field groups come from the policy;
//! the comments name the group each field is in by default.

use async_graphql::{Context, Json, Object};
use carehub_entity as ent;
use uuid::Uuid;

use super::directory::Organization;
use super::{org_of, read_db, record_object};
use crate::authz::Node;
use crate::domain::region::format_code;
use crate::error::{GqlResult, IntoGql};
use crate::graphql::enums::*;
use crate::service::relations as rel;

/// Strings of a JSON array column.
pub fn strings(v: &serde_json::Value) -> Vec<String> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(|x| x.as_str().map(str::to_owned))
        .collect()
}

fn enum_list<D: Copy, G: From<D>>(
    v: Option<&serde_json::Value>,
    parse: fn(&str) -> Option<D>,
) -> Vec<G> {
    v.and_then(|v| v.as_array())
        .into_iter()
        .flatten()
        .filter_map(|x| x.as_str().and_then(parse))
        .map(G::from)
        .collect()
}

record_object!(
    /// A dated difficulty category, verified by a civil-affairs officer (G-WEL).
    ChildDifficulty(ent::child_difficulty::Model) {
        /// The category.
        async fn category(&self, ctx: &Context<'_>) -> GqlResult<Option<DifficultyCategory>> { self.0.read(ctx, |m| m.category.into()).await }
        /// From when it applies.
        async fn valid_from(&self, ctx: &Context<'_>) -> GqlResult<Option<chrono::NaiveDate>> { self.0.read(ctx, |m| m.valid_from).await }
        /// Until when it applies (open if null).
        async fn valid_to(&self, ctx: &Context<'_>) -> GqlResult<Option<chrono::NaiveDate>> { self.0.read_opt(ctx, |m| m.valid_to).await }
        /// Who verified it.
        async fn verified_by(&self, ctx: &Context<'_>) -> GqlResult<Option<String>> { self.0.read_opt(ctx, |m| m.verified_by.clone()).await }
        /// When it was verified.
        async fn verified_at(&self, ctx: &Context<'_>) -> GqlResult<Option<chrono::DateTime<chrono::Utc>>> { self.0.read_opt(ctx, |m| m.verified_at).await }
    }
);

record_object!(
    /// A guardian or actual caregiver (监护人) (G-GUARD).
    Guardian(ent::guardian::Model) {
        /// Name.
        async fn name(&self, ctx: &Context<'_>) -> GqlResult<Option<String>> { self.0.read(ctx, |m| m.name.clone()).await }
        /// Relation to the child.
        async fn relation(&self, ctx: &Context<'_>) -> GqlResult<Option<GuardianRelation>> { self.0.read(ctx, |m| m.relation.into()).await }
        /// Whether this is the legal guardian.
        async fn is_legal_guardian(&self, ctx: &Context<'_>) -> GqlResult<Option<bool>> { self.0.read(ctx, |m| m.is_legal_guardian).await }
        /// Whether this person actually cares for the child.
        async fn is_actual_caregiver(&self, ctx: &Context<'_>) -> GqlResult<Option<bool>> { self.0.read(ctx, |m| m.is_actual_caregiver).await }
        /// Phone (contact).
        async fn phone(&self, ctx: &Context<'_>) -> GqlResult<Option<String>> { self.0.read_opt(ctx, |m| m.phone.clone()).await }
        /// Resident ID number, always masked (G-ID-full).
        async fn id_number(&self, ctx: &Context<'_>) -> GqlResult<Option<String>> { self.0.read_premasked(ctx, |m| m.id_number_mask.clone()).await }
        /// Whether guardianship is exercised.
        async fn guardianship_status(&self, ctx: &Context<'_>) -> GqlResult<Option<GuardianshipStatus>> { self.0.read(ctx, |m| m.guardianship_status.into()).await }
        /// The guardian's situation (working away, incarcerated, ill, …).
        async fn situation(&self, ctx: &Context<'_>) -> GqlResult<Option<String>> { self.0.read_opt(ctx, |m| m.situation.clone()).await }
    }
);

record_object!(
    /// A school enrollment (学籍) for one school year (G-SCH).
    Enrollment(ent::enrollment::Model) {
        /// The school.
        async fn school(&self, ctx: &Context<'_>) -> GqlResult<Option<Organization>> {
            self.0.check(ctx).await?;
            org_of(ctx, &self.0, "enrollment.school", |m| Some(m.school_id)).await
        }
        /// The school's id.
        async fn school_id(&self, ctx: &Context<'_>) -> GqlResult<Option<Uuid>> { self.0.read(ctx, |m| m.school_id).await }
        /// School year by its first calendar year (2026 = 2026-09 … 2027-08).
        async fn school_year(&self, ctx: &Context<'_>) -> GqlResult<Option<i32>> { self.0.read(ctx, |m| m.school_year).await }
        /// Grade 1–12.
        async fn grade(&self, ctx: &Context<'_>) -> GqlResult<Option<i32>> { self.0.read(ctx, |m| m.grade).await }
        /// Class.
        async fn class_name(&self, ctx: &Context<'_>) -> GqlResult<Option<String>> { self.0.read_opt(ctx, |m| m.class_name.clone()).await }
        /// The head teacher (token subject).
        async fn head_teacher(&self, ctx: &Context<'_>) -> GqlResult<Option<String>> { self.0.read_opt(ctx, |m| m.head_teacher.clone()).await }
        /// Enrollment status.
        async fn status(&self, ctx: &Context<'_>) -> GqlResult<Option<EnrollmentStatus>> { self.0.read(ctx, |m| m.status.into()).await }
    }
);

record_object!(
    /// A mental-health screening (心理健康测评); scores are G-SCR, the risk level G-RISK.
    Screening(ent::screening::Model) {
        /// School year.
        async fn school_year(&self, ctx: &Context<'_>) -> GqlResult<Option<i32>> { self.0.read(ctx, |m| m.school_year).await }
        /// Instrument used.
        async fn instrument(&self, ctx: &Context<'_>) -> GqlResult<Option<Instrument>> { self.0.read(ctx, |m| m.instrument.into()).await }
        /// When it was administered.
        async fn administered_at(&self, ctx: &Context<'_>) -> GqlResult<Option<chrono::DateTime<chrono::Utc>>> { self.0.read(ctx, |m| m.administered_at).await }
        /// Who administered it.
        async fn organization(&self, ctx: &Context<'_>) -> GqlResult<Option<Organization>> {
            self.0.check(ctx).await?;
            org_of(ctx, &self.0, "screening.organization", |m| m.organization_id).await
        }
        /// Id of the organization that administered it.
        async fn organization_id(&self, ctx: &Context<'_>) -> GqlResult<Option<Uuid>> { self.0.read_opt(ctx, |m| m.organization_id).await }
        /// Total score (G-SCR).
        async fn score(&self, ctx: &Context<'_>) -> GqlResult<Option<f64>> { self.0.read_opt(ctx, |m| m.score).await }
        /// Item answers (G-SCR).
        async fn item_answers(&self, ctx: &Context<'_>) -> GqlResult<Option<Json<serde_json::Value>>> { self.0.read_opt(ctx, |m| m.item_answers.clone().map(Json)).await }
        /// Notes (G-SCR).
        async fn notes(&self, ctx: &Context<'_>) -> GqlResult<Option<String>> { self.0.read_opt(ctx, |m| m.notes.clone()).await }
        /// Risk level found (G-RISK).
        async fn risk_level(&self, ctx: &Context<'_>) -> GqlResult<Option<RiskLevel>> { self.0.read(ctx, |m| m.risk_level.into()).await }
        /// Recommended next step.
        async fn recommended_next_step(&self, ctx: &Context<'_>) -> GqlResult<Option<String>> { self.0.read_opt(ctx, |m| m.recommended_next_step.clone()).await }
    }
);

record_object!(
    /// A care plan (一生一策 / 分类关爱方案) (G-PLAN). Approved versions are immutable.
    CarePlan(ent::care_plan::Model) {
        /// School plan or community plan.
        async fn kind(&self, ctx: &Context<'_>) -> GqlResult<Option<CarePlanKind>> { self.0.read(ctx, |m| m.kind.into()).await }
        /// The screening that triggered the plan.
        async fn trigger_screening_id(&self, ctx: &Context<'_>) -> GqlResult<Option<Uuid>> { self.0.read_opt(ctx, |m| m.trigger_screening_id).await }
        /// The report that triggered the plan.
        async fn trigger_report_id(&self, ctx: &Context<'_>) -> GqlResult<Option<Uuid>> { self.0.read_opt(ctx, |m| m.trigger_report_id).await }
        /// Risk level when the plan started.
        async fn risk_level_at_start(&self, ctx: &Context<'_>) -> GqlResult<Option<RiskLevel>> { self.0.read_opt(ctx, |m| m.risk_level_at_start.map(Into::into)).await }
        /// Goals.
        async fn goals(&self, ctx: &Context<'_>) -> GqlResult<Option<String>> { self.0.read_opt(ctx, |m| m.goals.clone()).await }
        /// Interventions, in plan order.
        async fn interventions(&self, ctx: &Context<'_>) -> GqlResult<Option<Vec<CarePlanIntervention>>> {
            self.0.check(ctx).await?;
            let db = read_db(ctx).clone();
            let loaded = self
                .0
                .siblings
                .load("carePlan.interventions", 0, |rows| async move {
                    let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
                    rel::load_by_key::<ent::care_plan_intervention::Entity, _>(&db, &rel::INTERVENTIONS, &ids, 200, |m| Some(m.care_plan_id)).await
                })
                .await
                .gql()?;
            Ok(Some(
                loaded
                    .get(&self.0.row.id)
                    .map(|v| v.iter().map(|r| CarePlanIntervention { plan: self.0.clone(), row: r.clone() }).collect())
                    .unwrap_or_default(),
            ))
        }
        /// When the plan is due for review.
        async fn review_due(&self, ctx: &Context<'_>) -> GqlResult<Option<chrono::NaiveDate>> { self.0.read_opt(ctx, |m| m.review_due).await }
        /// Who approved it.
        async fn approver(&self, ctx: &Context<'_>) -> GqlResult<Option<String>> { self.0.read_opt(ctx, |m| m.approver.clone()).await }
        /// When it was approved.
        async fn approved_at(&self, ctx: &Context<'_>) -> GqlResult<Option<chrono::DateTime<chrono::Utc>>> { self.0.read_opt(ctx, |m| m.approved_at).await }
        /// Workflow status.
        async fn status(&self, ctx: &Context<'_>) -> GqlResult<Option<CarePlanStatus>> { self.0.read(ctx, |m| m.status.into()).await }
        /// Plan version n (a revision of an approved plan is n+1).
        async fn plan_version(&self, ctx: &Context<'_>) -> GqlResult<Option<i32>> { self.0.read(ctx, |m| m.plan_version).await }
        /// The version this one revises.
        async fn previous_version_id(&self, ctx: &Context<'_>) -> GqlResult<Option<Uuid>> { self.0.read_opt(ctx, |m| m.previous_version_id).await }
        /// The worker leading the plan.
        async fn lead_worker(&self, ctx: &Context<'_>) -> GqlResult<Option<String>> { self.0.read_opt(ctx, |m| m.lead_worker.clone()).await }
        /// The organization that owns the plan.
        async fn organization_id(&self, ctx: &Context<'_>) -> GqlResult<Option<Uuid>> { self.0.read_opt(ctx, |m| m.organization_id).await }
    }
);

/// One intervention of a care plan, decided with its plan's facts.
pub struct CarePlanIntervention {
    plan: Node<ent::care_plan::Model>,
    row: std::sync::Arc<ent::care_plan_intervention::Model>,
}

impl CarePlanIntervention {
    async fn get<T>(
        &self,
        ctx: &Context<'_>,
        f: impl FnOnce(&ent::care_plan_intervention::Model) -> Option<T>,
    ) -> GqlResult<Option<T>> {
        self.plan.decide_for(ctx, "CarePlanIntervention").await?;
        Ok(f(&self.row))
    }
}

#[Object]
impl CarePlanIntervention {
    /// What is to be done.
    async fn action(&self, ctx: &Context<'_>) -> GqlResult<Option<String>> {
        self.get(ctx, |m| Some(m.action.clone())).await
    }
    /// The responsible agency.
    async fn responsible_agency(&self, ctx: &Context<'_>) -> GqlResult<Option<Agency>> {
        self.get(ctx, |m| m.responsible_agency.map(Into::into))
            .await
    }
    /// The responsible worker.
    async fn responsible_worker(&self, ctx: &Context<'_>) -> GqlResult<Option<String>> {
        self.get(ctx, |m| m.responsible_worker.clone()).await
    }
    /// How often.
    async fn frequency(&self, ctx: &Context<'_>) -> GqlResult<Option<String>> {
        self.get(ctx, |m| m.frequency.clone()).await
    }
    /// Due date.
    async fn due(&self, ctx: &Context<'_>) -> GqlResult<Option<chrono::NaiveDate>> {
        self.get(ctx, |m| m.due).await
    }
    /// When it was done.
    async fn done_at(&self, ctx: &Context<'_>) -> GqlResult<Option<chrono::DateTime<chrono::Utc>>> {
        self.get(ctx, |m| m.done_at).await
    }
}

record_object!(
    /// A home visit, talk or follow-up (家访 / 走访 / 随访) (G-PLAN; observations G-VISIT-NOTES).
    Visit(ent::visit::Model) {
        /// Kind of visit.
        async fn kind(&self, ctx: &Context<'_>) -> GqlResult<Option<VisitKind>> { self.0.read(ctx, |m| m.kind.into()).await }
        /// When it is due.
        async fn due_date(&self, ctx: &Context<'_>) -> GqlResult<Option<chrono::NaiveDate>> { self.0.read_opt(ctx, |m| m.due_date).await }
        /// When it was done (null while planned).
        async fn done_at(&self, ctx: &Context<'_>) -> GqlResult<Option<chrono::DateTime<chrono::Utc>>> { self.0.read_opt(ctx, |m| m.done_at).await }
        /// The visitor (token subject).
        async fn visitor(&self, ctx: &Context<'_>) -> GqlResult<Option<String>> { self.0.read_opt(ctx, |m| m.visitor.clone()).await }
        /// The visitor's organization.
        async fn organization_id(&self, ctx: &Context<'_>) -> GqlResult<Option<Uuid>> { self.0.read_opt(ctx, |m| m.organization_id).await }
        /// Stressors observed.
        async fn stressors(&self, ctx: &Context<'_>) -> GqlResult<Option<Vec<Stressor>>> {
            self.0.read(ctx, |m| enum_list(m.stressors.as_ref(), carehub_entity::enums::Stressor::parse)).await
        }
        /// Observations (G-VISIT-NOTES).
        async fn observations(&self, ctx: &Context<'_>) -> GqlResult<Option<String>> { self.0.read_opt(ctx, |m| m.observations.clone()).await }
        /// When the next visit is due.
        async fn next_due(&self, ctx: &Context<'_>) -> GqlResult<Option<chrono::NaiveDate>> { self.0.read_opt(ctx, |m| m.next_due).await }
    }
);

record_object!(
    /// A pairing with a mentor, peer or volunteer (结对关爱) (G-PLAN).
    Pairing(ent::pairing::Model) {
        /// Kind of pairing.
        async fn kind(&self, ctx: &Context<'_>) -> GqlResult<Option<PairingKind>> { self.0.read(ctx, |m| m.kind.into()).await }
        /// The supporter.
        async fn supporter(&self, ctx: &Context<'_>) -> GqlResult<Option<String>> { self.0.read(ctx, |m| m.supporter.clone()).await }
        /// The supporter's organization.
        async fn organization_id(&self, ctx: &Context<'_>) -> GqlResult<Option<Uuid>> { self.0.read_opt(ctx, |m| m.organization_id).await }
        /// Start.
        async fn start_date(&self, ctx: &Context<'_>) -> GqlResult<Option<chrono::NaiveDate>> { self.0.read(ctx, |m| m.start_date).await }
        /// End.
        async fn end_date(&self, ctx: &Context<'_>) -> GqlResult<Option<chrono::NaiveDate>> { self.0.read_opt(ctx, |m| m.end_date).await }
        /// How often they meet.
        async fn contact_frequency(&self, ctx: &Context<'_>) -> GqlResult<Option<String>> { self.0.read_opt(ctx, |m| m.contact_frequency.clone()).await }
    }
);

record_object!(
    /// A concern or mandatory report (发现报告 / 强制报告). Its narrative is G-ABUSE for harm
    /// categories and G-PLAN otherwise.
    Report(ent::report::Model) {
        /// Who reported (token subject; null for an anonymous caller).
        async fn reporter(&self, ctx: &Context<'_>) -> GqlResult<Option<String>> { self.0.read_opt(ctx, |m| m.reporter.clone()).await }
        /// The reporter's organization.
        async fn reporter_organization_id(&self, ctx: &Context<'_>) -> GqlResult<Option<Uuid>> { self.0.read_opt(ctx, |m| m.reporter_org_id).await }
        /// Whether the report came from an anonymous caller.
        async fn anonymous_caller(&self, ctx: &Context<'_>) -> GqlResult<Option<bool>> { self.0.read(ctx, |m| m.anonymous_caller).await }
        /// Category.
        async fn category(&self, ctx: &Context<'_>) -> GqlResult<Option<ReportCategory>> { self.0.read(ctx, |m| m.category.into()).await }
        /// When it happened.
        async fn occurred_at(&self, ctx: &Context<'_>) -> GqlResult<Option<chrono::DateTime<chrono::Utc>>> { self.0.read_opt(ctx, |m| m.occurred_at).await }
        /// When it was discovered.
        async fn discovered_at(&self, ctx: &Context<'_>) -> GqlResult<Option<chrono::DateTime<chrono::Utc>>> { self.0.read(ctx, |m| m.discovered_at).await }
        /// When it was reported.
        async fn reported_at(&self, ctx: &Context<'_>) -> GqlResult<Option<chrono::DateTime<chrono::Utc>>> { self.0.read(ctx, |m| m.reported_at).await }
        /// Whom it was reported to.
        async fn reported_to(&self, ctx: &Context<'_>) -> GqlResult<Option<Vec<ReportedTo>>> {
            self.0.read(ctx, |m| enum_list(m.reported_to.as_ref(), carehub_entity::enums::ReportedTo::parse)).await
        }
        /// Urgency.
        async fn urgency(&self, ctx: &Context<'_>) -> GqlResult<Option<Urgency>> { self.0.read(ctx, |m| m.urgency.into()).await }
        /// Deadline for handling (24 h for harm and self-harm risk, 72 h otherwise).
        async fn due_by(&self, ctx: &Context<'_>) -> GqlResult<Option<chrono::DateTime<chrono::Utc>>> { self.0.read(ctx, |m| m.due_by).await }
        /// Workflow status.
        async fn status(&self, ctx: &Context<'_>) -> GqlResult<Option<ReportStatus>> { self.0.read(ctx, |m| m.status.into()).await }
        /// Narrative.
        async fn description(&self, ctx: &Context<'_>) -> GqlResult<Option<String>> { self.0.read_opt(ctx, |m| m.description.clone()).await }
        /// Police case reference.
        async fn police_ref(&self, ctx: &Context<'_>) -> GqlResult<Option<String>> { self.0.read_opt(ctx, |m| m.police_ref.clone()).await }
    }
);

record_object!(
    /// A crisis intervention (危机干预) (G-RISK; response details G-PLAN).
    CrisisEvent(ent::crisis_event::Model) {
        /// What triggered it.
        async fn trigger(&self, ctx: &Context<'_>) -> GqlResult<Option<CrisisTrigger>> { self.0.read(ctx, |m| m.trigger.into()).await }
        /// Risk level of the event.
        async fn risk_level(&self, ctx: &Context<'_>) -> GqlResult<Option<RiskLevel>> { self.0.read(ctx, |m| m.risk_level.into()).await }
        /// When it occurred.
        async fn occurred_at(&self, ctx: &Context<'_>) -> GqlResult<Option<chrono::DateTime<chrono::Utc>>> { self.0.read(ctx, |m| m.occurred_at).await }
        /// First response.
        async fn first_response_at(&self, ctx: &Context<'_>) -> GqlResult<Option<chrono::DateTime<chrono::Utc>>> { self.0.read_opt(ctx, |m| m.first_response_at).await }
        /// Resolution.
        async fn resolved_at(&self, ctx: &Context<'_>) -> GqlResult<Option<chrono::DateTime<chrono::Utc>>> { self.0.read_opt(ctx, |m| m.resolved_at).await }
        /// When the guardian was informed.
        async fn guardian_informed_at(&self, ctx: &Context<'_>) -> GqlResult<Option<chrono::DateTime<chrono::Utc>>> { self.0.read_opt(ctx, |m| m.guardian_informed_at).await }
        /// Safety measures taken.
        async fn safety_measures(&self, ctx: &Context<'_>) -> GqlResult<Option<String>> { self.0.read_opt(ctx, |m| m.safety_measures.clone()).await }
        /// Whether 110/120 were called.
        async fn emergency_services_called(&self, ctx: &Context<'_>) -> GqlResult<Option<bool>> { self.0.read(ctx, |m| m.emergency_services_called).await }
        /// The urgent referral made.
        async fn urgent_referral_id(&self, ctx: &Context<'_>) -> GqlResult<Option<Uuid>> { self.0.read_opt(ctx, |m| m.urgent_referral_id).await }
        /// Notes.
        async fn notes(&self, ctx: &Context<'_>) -> GqlResult<Option<String>> { self.0.read_opt(ctx, |m| m.notes.clone()).await }
    }
);

record_object!(
    /// A referral (转介) between organizations (G-REF).
    Referral(ent::referral::Model) {
        /// The sending organization.
        async fn from_organization(&self, ctx: &Context<'_>) -> GqlResult<Option<Organization>> {
            self.0.check(ctx).await?;
            org_of(ctx, &self.0, "referral.from", |m| Some(m.from_org_id)).await
        }
        /// Id of the sending organization.
        async fn from_organization_id(&self, ctx: &Context<'_>) -> GqlResult<Option<Uuid>> { self.0.read(ctx, |m| m.from_org_id).await }
        /// The receiving organization.
        async fn to_organization(&self, ctx: &Context<'_>) -> GqlResult<Option<Organization>> {
            self.0.check(ctx).await?;
            org_of(ctx, &self.0, "referral.to", |m| Some(m.to_org_id)).await
        }
        /// Id of the receiving organization.
        async fn to_organization_id(&self, ctx: &Context<'_>) -> GqlResult<Option<Uuid>> { self.0.read(ctx, |m| m.to_org_id).await }
        /// UP to treatment, DOWN to community/school, or LATERAL.
        async fn direction(&self, ctx: &Context<'_>) -> GqlResult<Option<ReferralDirection>> { self.0.read(ctx, |m| m.direction.into()).await }
        /// The UP referral whose loop this DOWN referral closes.
        async fn parent_referral_id(&self, ctx: &Context<'_>) -> GqlResult<Option<Uuid>> { self.0.read_opt(ctx, |m| m.parent_referral_id).await }
        /// Reason.
        async fn reason(&self, ctx: &Context<'_>) -> GqlResult<Option<String>> { self.0.read_opt(ctx, |m| m.reason.clone()).await }
        /// URGENT (24 h) or ROUTINE (72 h).
        async fn urgency(&self, ctx: &Context<'_>) -> GqlResult<Option<Urgency>> { self.0.read(ctx, |m| m.urgency.into()).await }
        /// Field groups the receiver may see while the referral is open.
        async fn authorized_view(&self, ctx: &Context<'_>) -> GqlResult<Option<Vec<String>>> { self.0.read(ctx, |m| strings(&m.authorized_view)).await }
        /// The lawful basis the referral shares under.
        async fn lawful_basis_id(&self, ctx: &Context<'_>) -> GqlResult<Option<Uuid>> { self.0.read_opt(ctx, |m| m.lawful_basis_id).await }
        /// Workflow status.
        async fn status(&self, ctx: &Context<'_>) -> GqlResult<Option<ReferralStatus>> { self.0.read(ctx, |m| m.status.into()).await }
        /// Response deadline.
        async fn sla_due_at(&self, ctx: &Context<'_>) -> GqlResult<Option<chrono::DateTime<chrono::Utc>>> { self.0.read_opt(ctx, |m| m.sla_due_at).await }
        /// Whether it passed its deadline without a response.
        async fn escalated(&self, ctx: &Context<'_>) -> GqlResult<Option<bool>> { self.0.read(ctx, |m| m.escalated).await }
        /// When it was sent.
        async fn sent_at(&self, ctx: &Context<'_>) -> GqlResult<Option<chrono::DateTime<chrono::Utc>>> { self.0.read_opt(ctx, |m| m.sent_at).await }
        /// When the receiver accepted or rejected it.
        async fn responded_at(&self, ctx: &Context<'_>) -> GqlResult<Option<chrono::DateTime<chrono::Utc>>> { self.0.read_opt(ctx, |m| m.responded_at).await }
        /// Outcome note (回执).
        async fn outcome_note(&self, ctx: &Context<'_>) -> GqlResult<Option<String>> { self.0.read_opt(ctx, |m| m.outcome_note.clone()).await }
        /// Why it was rejected.
        async fn rejection_reason(&self, ctx: &Context<'_>) -> GqlResult<Option<String>> { self.0.read_opt(ctx, |m| m.rejection_reason.clone()).await }
        /// Every transition: who, when, why.
        async fn transitions(&self, ctx: &Context<'_>) -> GqlResult<Option<Vec<ReferralTransition>>> {
            self.0.check(ctx).await?;
            let db = read_db(ctx).clone();
            let loaded = self
                .0
                .siblings
                .load("referral.transitions", 0, |rows| async move {
                    let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
                    rel::load_by_key::<ent::workflow_transition::Entity, _>(&db, &rel::TRANSITIONS, &ids, 100, |m| Some(m.record_id)).await
                })
                .await
                .gql()?;
            Ok(Some(
                loaded
                    .get(&self.0.row.id)
                    .map(|v| v.iter().map(|r| ReferralTransition { referral: self.0.clone(), row: r.clone() }).collect())
                    .unwrap_or_default(),
            ))
        }
    }
);

/// One transition of a referral, decided with its referral's facts.
pub struct ReferralTransition {
    referral: Node<ent::referral::Model>,
    row: std::sync::Arc<ent::workflow_transition::Model>,
}

impl ReferralTransition {
    async fn get<T>(
        &self,
        ctx: &Context<'_>,
        f: impl FnOnce(&ent::workflow_transition::Model) -> Option<T>,
    ) -> GqlResult<Option<T>> {
        self.referral.decide_for(ctx, "ReferralTransition").await?;
        Ok(f(&self.row))
    }
}

#[Object]
impl ReferralTransition {
    /// Status before.
    async fn from_status(&self, ctx: &Context<'_>) -> GqlResult<Option<ReferralStatus>> {
        self.get(ctx, |m| {
            m.from_status
                .as_deref()
                .and_then(carehub_entity::enums::ReferralStatus::parse)
                .map(Into::into)
        })
        .await
    }
    /// Status after.
    async fn to_status(&self, ctx: &Context<'_>) -> GqlResult<Option<ReferralStatus>> {
        self.get(ctx, |m| {
            carehub_entity::enums::ReferralStatus::parse(&m.to_status).map(Into::into)
        })
        .await
    }
    /// When.
    async fn at(&self, ctx: &Context<'_>) -> GqlResult<Option<chrono::DateTime<chrono::Utc>>> {
        self.get(ctx, |m| Some(m.at)).await
    }
    /// Who (token subject).
    async fn actor(&self, ctx: &Context<'_>) -> GqlResult<Option<String>> {
        self.get(ctx, |m| Some(m.actor.clone())).await
    }
    /// Why.
    async fn note(&self, ctx: &Context<'_>) -> GqlResult<Option<String>> {
        self.get(ctx, |m| m.note.clone()).await
    }
}

record_object!(
    /// A treatment episode (诊疗 / 住院): clinical fields G-CLIN (own facility), the discharge
    /// share G-DISCH (what school and community may see, without diagnosis).
    TreatmentEpisode(ent::treatment_episode::Model) {
        /// The treating facility.
        async fn organization(&self, ctx: &Context<'_>) -> GqlResult<Option<Organization>> {
            self.0.check(ctx).await?;
            org_of(ctx, &self.0, "episode.organization", |m| Some(m.organization_id)).await
        }
        /// Id of the treating facility.
        async fn organization_id(&self, ctx: &Context<'_>) -> GqlResult<Option<Uuid>> { self.0.read(ctx, |m| m.organization_id).await }
        /// Outpatient, inpatient or community rehabilitation.
        async fn setting(&self, ctx: &Context<'_>) -> GqlResult<Option<TreatmentSetting>> { self.0.read(ctx, |m| m.setting.into()).await }
        /// Admission.
        async fn admitted_at(&self, ctx: &Context<'_>) -> GqlResult<Option<chrono::DateTime<chrono::Utc>>> { self.0.read(ctx, |m| m.admitted_at).await }
        /// Discharge.
        async fn discharged_at(&self, ctx: &Context<'_>) -> GqlResult<Option<chrono::DateTime<chrono::Utc>>> { self.0.read_opt(ctx, |m| m.discharged_at).await }
        /// ICD-10 F diagnosis code (G-CLIN).
        async fn diagnosis_code(&self, ctx: &Context<'_>) -> GqlResult<Option<String>> { self.0.read_opt(ctx, |m| m.diagnosis_code.clone()).await }
        /// Severe mental disorder (严重精神障碍) (G-CLIN).
        async fn severe_mental_disorder(&self, ctx: &Context<'_>) -> GqlResult<Option<bool>> { self.0.read(ctx, |m| m.severe_mental_disorder).await }
        /// Discharge summary (G-CLIN).
        async fn discharge_summary(&self, ctx: &Context<'_>) -> GqlResult<Option<String>> { self.0.read_opt(ctx, |m| m.discharge_summary.clone()).await }
        /// Treating clinician (G-CLIN).
        async fn clinician(&self, ctx: &Context<'_>) -> GqlResult<Option<String>> { self.0.read_opt(ctx, |m| m.clinician.clone()).await }
        /// Fit to return to school (G-DISCH).
        async fn fit_to_return(&self, ctx: &Context<'_>) -> GqlResult<Option<bool>> { self.0.read_opt(ctx, |m| m.fit_to_return).await }
        /// Follow-up advice for school and community (G-DISCH).
        async fn follow_up_advice(&self, ctx: &Context<'_>) -> GqlResult<Option<String>> { self.0.read_opt(ctx, |m| m.follow_up_advice.clone()).await }
        /// Next appointment (G-DISCH).
        async fn next_appointment(&self, ctx: &Context<'_>) -> GqlResult<Option<chrono::DateTime<chrono::Utc>>> { self.0.read_opt(ctx, |m| m.next_appointment).await }
    }
);

record_object!(
    /// A return to school (复学) (G-SCH; clearance G-DISCH).
    ReturnToSchool(ent::return_to_school::Model) {
        /// The school.
        async fn school(&self, ctx: &Context<'_>) -> GqlResult<Option<Organization>> {
            self.0.check(ctx).await?;
            org_of(ctx, &self.0, "return.school", |m| Some(m.school_id)).await
        }
        /// The school's id.
        async fn school_id(&self, ctx: &Context<'_>) -> GqlResult<Option<Uuid>> { self.0.read(ctx, |m| m.school_id).await }
        /// The episode the child returns from.
        async fn treatment_episode_id(&self, ctx: &Context<'_>) -> GqlResult<Option<Uuid>> { self.0.read_opt(ctx, |m| m.treatment_episode_id).await }
        /// Health clearance (G-DISCH).
        async fn clearance(&self, ctx: &Context<'_>) -> GqlResult<Option<String>> { self.0.read_opt(ctx, |m| m.clearance.clone()).await }
        /// When cleared.
        async fn cleared_at(&self, ctx: &Context<'_>) -> GqlResult<Option<chrono::DateTime<chrono::Utc>>> { self.0.read_opt(ctx, |m| m.cleared_at).await }
        /// Who cleared.
        async fn cleared_by(&self, ctx: &Context<'_>) -> GqlResult<Option<String>> { self.0.read_opt(ctx, |m| m.cleared_by.clone()).await }
        /// Accommodations at school.
        async fn accommodations(&self, ctx: &Context<'_>) -> GqlResult<Option<String>> { self.0.read_opt(ctx, |m| m.accommodations.clone()).await }
        /// Return date.
        async fn return_date(&self, ctx: &Context<'_>) -> GqlResult<Option<chrono::NaiveDate>> { self.0.read_opt(ctx, |m| m.return_date).await }
        /// Workflow status.
        async fn status(&self, ctx: &Context<'_>) -> GqlResult<Option<ReturnStatus>> { self.0.read(ctx, |m| m.status.into()).await }
    }
);

record_object!(
    /// Psychological aid for a minor victim (未成年被害人心理救助) (G-ABUSE).
    VictimAid(ent::victim_aid::Model) {
        /// The report it follows.
        async fn report_id(&self, ctx: &Context<'_>) -> GqlResult<Option<Uuid>> { self.0.read_opt(ctx, |m| m.report_id).await }
        /// Procuratorate case reference (minimal).
        async fn case_ref(&self, ctx: &Context<'_>) -> GqlResult<Option<String>> { self.0.read_opt(ctx, |m| m.case_ref.clone()).await }
        /// Services provided.
        async fn services(&self, ctx: &Context<'_>) -> GqlResult<Option<Vec<String>>> { self.0.read(ctx, |m| m.services.as_ref().map(strings).unwrap_or_default()).await }
        /// Status.
        async fn status(&self, ctx: &Context<'_>) -> GqlResult<Option<VictimAidStatus>> { self.0.read(ctx, |m| m.status.into()).await }
        /// The victim-aid worker on the case.
        async fn worker(&self, ctx: &Context<'_>) -> GqlResult<Option<String>> { self.0.read_opt(ctx, |m| m.worker.clone()).await }
        /// The worker's organization.
        async fn organization_id(&self, ctx: &Context<'_>) -> GqlResult<Option<Uuid>> { self.0.read_opt(ctx, |m| m.organization_id).await }
    }
);

record_object!(
    /// A service delivered (服务记录) (G-PLAN; summary G-SERVICE-NOTES).
    ServiceRecord(ent::service_record::Model) {
        /// Kind of service.
        async fn kind(&self, ctx: &Context<'_>) -> GqlResult<Option<ServiceKind>> { self.0.read(ctx, |m| m.kind.into()).await }
        /// The providing organization.
        async fn organization_id(&self, ctx: &Context<'_>) -> GqlResult<Option<Uuid>> { self.0.read_opt(ctx, |m| m.organization_id).await }
        /// The provider (token subject).
        async fn provider(&self, ctx: &Context<'_>) -> GqlResult<Option<String>> { self.0.read(ctx, |m| m.provider.clone()).await }
        /// When.
        async fn occurred_at(&self, ctx: &Context<'_>) -> GqlResult<Option<chrono::DateTime<chrono::Utc>>> { self.0.read(ctx, |m| m.occurred_at).await }
        /// Minutes.
        async fn duration_minutes(&self, ctx: &Context<'_>) -> GqlResult<Option<i32>> { self.0.read_opt(ctx, |m| m.duration_minutes).await }
        /// The care plan it implements.
        async fn care_plan_id(&self, ctx: &Context<'_>) -> GqlResult<Option<Uuid>> { self.0.read_opt(ctx, |m| m.care_plan_id).await }
        /// The referral it serves.
        async fn referral_id(&self, ctx: &Context<'_>) -> GqlResult<Option<Uuid>> { self.0.read_opt(ctx, |m| m.referral_id).await }
        /// Summary (G-SERVICE-NOTES).
        async fn summary(&self, ctx: &Context<'_>) -> GqlResult<Option<String>> { self.0.read_opt(ctx, |m| m.summary.clone()).await }
    }
);

record_object!(
    /// A warning flag (预警标记) (G-RISK).
    Flag(ent::flag::Model) {
        /// Kind.
        async fn kind(&self, ctx: &Context<'_>) -> GqlResult<Option<FlagKind>> { self.0.read(ctx, |m| m.kind.into()).await }
        /// `system` or the worker who raised it.
        async fn raised_by(&self, ctx: &Context<'_>) -> GqlResult<Option<String>> { self.0.read(ctx, |m| m.raised_by.clone()).await }
        /// What it is about.
        async fn message(&self, ctx: &Context<'_>) -> GqlResult<Option<String>> { self.0.read(ctx, |m| m.message.clone()).await }
        /// When raised.
        async fn raised_at(&self, ctx: &Context<'_>) -> GqlResult<Option<chrono::DateTime<chrono::Utc>>> { self.0.read(ctx, |m| m.raised_at).await }
        /// When resolved.
        async fn resolved_at(&self, ctx: &Context<'_>) -> GqlResult<Option<chrono::DateTime<chrono::Utc>>> { self.0.read_opt(ctx, |m| m.resolved_at).await }
        /// How it was resolved.
        async fn resolution(&self, ctx: &Context<'_>) -> GqlResult<Option<String>> { self.0.read_opt(ctx, |m| m.resolution.clone()).await }
        /// Who resolved it.
        async fn resolved_by(&self, ctx: &Context<'_>) -> GqlResult<Option<String>> { self.0.read_opt(ctx, |m| m.resolved_by.clone()).await }
    }
);

record_object!(
    /// A lawful basis or consent (告知同意 / 处理依据) for sharing this child's data (G-CONSENT).
    LawfulBasis(ent::lawful_basis::Model) {
        /// Who granted it (guardian; the child too if 14 or older).
        async fn grantor(&self, ctx: &Context<'_>) -> GqlResult<Option<String>> { self.0.read(ctx, |m| m.grantor.clone()).await }
        /// The grantor's relation to the child.
        async fn grantor_relation(&self, ctx: &Context<'_>) -> GqlResult<Option<String>> { self.0.read_opt(ctx, |m| m.grantor_relation.clone()).await }
        /// Basis (PIPL art. 13).
        async fn basis(&self, ctx: &Context<'_>) -> GqlResult<Option<BasisKind>> { self.0.read(ctx, |m| m.basis.into()).await }
        /// Purposes covered.
        async fn purposes(&self, ctx: &Context<'_>) -> GqlResult<Option<Vec<String>>> { self.0.read(ctx, |m| strings(&m.purposes)).await }
        /// Recipient agencies.
        async fn recipients(&self, ctx: &Context<'_>) -> GqlResult<Option<Vec<String>>> { self.0.read(ctx, |m| strings(&m.recipients)).await }
        /// Field groups released.
        async fn field_groups(&self, ctx: &Context<'_>) -> GqlResult<Option<Vec<String>>> { self.0.read(ctx, |m| strings(&m.field_groups)).await }
        /// Valid from.
        async fn valid_from(&self, ctx: &Context<'_>) -> GqlResult<Option<chrono::DateTime<chrono::Utc>>> { self.0.read(ctx, |m| m.valid_from).await }
        /// Valid until.
        async fn valid_to(&self, ctx: &Context<'_>) -> GqlResult<Option<chrono::DateTime<chrono::Utc>>> { self.0.read_opt(ctx, |m| m.valid_to).await }
        /// When withdrawn.
        async fn withdrawn_at(&self, ctx: &Context<'_>) -> GqlResult<Option<chrono::DateTime<chrono::Utc>>> { self.0.read_opt(ctx, |m| m.withdrawn_at).await }
        /// Reference of the signed document.
        async fn document_ref(&self, ctx: &Context<'_>) -> GqlResult<Option<String>> { self.0.read_opt(ctx, |m| m.document_ref.clone()).await }
        /// Statute for a statutory-duty basis.
        async fn legal_reference(&self, ctx: &Context<'_>) -> GqlResult<Option<String>> { self.0.read_opt(ctx, |m| m.legal_reference.clone()).await }
    }
);

record_object!(@nochild
    /// A supervision finding (督导意见) with its rectification deadline (G-AGG).
    SupervisionFinding(ent::supervision_finding::Model) {
        /// Region concerned (12 digits).
        async fn region_code(&self, ctx: &Context<'_>) -> GqlResult<Option<String>> { self.0.read(ctx, |m| format_code(m.region_code)).await }
        /// Organization concerned.
        async fn organization_id(&self, ctx: &Context<'_>) -> GqlResult<Option<Uuid>> { self.0.read_opt(ctx, |m| m.organization_id).await }
        /// Period reviewed (e.g. `2026-Q3`).
        async fn period(&self, ctx: &Context<'_>) -> GqlResult<Option<String>> { self.0.read(ctx, |m| m.period.clone()).await }
        /// Indicator values the finding rests on.
        async fn indicators(&self, ctx: &Context<'_>) -> GqlResult<Option<Json<serde_json::Value>>> { self.0.read_opt(ctx, |m| m.indicators.clone().map(Json)).await }
        /// The finding.
        async fn finding(&self, ctx: &Context<'_>) -> GqlResult<Option<String>> { self.0.read(ctx, |m| m.finding.clone()).await }
        /// Rectification deadline (整改期限).
        async fn rectification_due(&self, ctx: &Context<'_>) -> GqlResult<Option<chrono::NaiveDate>> { self.0.read_opt(ctx, |m| m.rectification_due).await }
        /// Status.
        async fn status(&self, ctx: &Context<'_>) -> GqlResult<Option<FindingStatus>> { self.0.read(ctx, |m| m.status.into()).await }
    }
);
