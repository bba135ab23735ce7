//! Treatment episodes (health only, own facility) and discharge, which hands the child back to
//! the community with a DOWN referral (two-way referral).

use async_graphql::{Context, InputObject, Object, ID};
use carehub_entity::enums::{
    Agency, ReferralDirection, ReferralStatus, TreatmentSetting as ESetting, Urgency,
};
use carehub_entity::{organization, referral, treatment_episode};
use carehub_policy::ClassSet;
use chrono::{DateTime, Utc};
use sea_orm::ActiveValue::{NotSet, Set};
use sea_orm::{EntityTrait, IntoActiveModel};

use super::referral::sla;
use super::visit::node;
use super::{not_future, opt_text};
use crate::error::{ApiError, GqlResult, IntoGql};
use crate::graphql::enums::TreatmentSetting;
use crate::graphql::query::parse_id;
use crate::graphql::types::records::TreatmentEpisode;
use crate::write::derived::recompute_child;
use crate::write::{provided, WriteCtx};

/// An admission or outpatient episode at your facility.
#[derive(InputObject)]
pub struct RecordTreatmentEpisodeInput {
    pub child_id: ID,
    pub setting: TreatmentSetting,
    pub admitted_at: DateTime<Utc>,
    /// ICD-10 chapter F code, e.g. F32.1.
    pub diagnosis_code: Option<String>,
    pub severe_mental_disorder: Option<bool>,
    pub clinician: Option<String>,
    /// The UP referral that brought the child.
    pub referral_id: Option<ID>,
}

/// Discharge of an episode.
#[derive(InputObject)]
pub struct DischargeInput {
    pub discharged_at: DateTime<Utc>,
    pub discharge_summary: Option<String>,
    pub fit_to_return: Option<bool>,
    pub follow_up_advice: Option<String>,
    pub next_appointment: Option<DateTime<Utc>>,
    /// Refer the child down to this community health centre or school (two-way referral).
    pub down_referral_to: Option<ID>,
}

/// Validates an ICD-10 chapter F (mental and behavioural disorders) code.
pub fn check_icd10_f(code: &str) -> Result<String, ApiError> {
    let c = code.trim().to_ascii_uppercase();
    let ok = c.len() >= 3
        && c.starts_with('F')
        && c[1..3].chars().all(|d| d.is_ascii_digit())
        && (c.len() == 3
            || (c.as_bytes()[3] == b'.'
                && c.len() <= 6
                && c[4..].chars().all(|d| d.is_ascii_alphanumeric())));
    if ok {
        Ok(c)
    } else {
        Err(ApiError::bad_input(
            "input.diagnosisCode",
            "must be an ICD-10 chapter F code such as F32 or F32.1",
        ))
    }
}

#[derive(Default)]
pub struct TreatmentMutation;

#[Object]
impl TreatmentMutation {
    /// Records a treatment episode at your facility.
    async fn record_treatment_episode(
        &self,
        ctx: &Context<'_>,
        input: RecordTreatmentEpisodeInput,
    ) -> GqlResult<Option<TreatmentEpisode>> {
        let fields = provided(ctx, "input");
        let mut w = WriteCtx::begin(ctx).await.gql()?;
        let org = w.org().gql()?;
        w.authorize(
            "RecordTreatmentEpisodeInput",
            &fields,
            &w.facts(Some(org), Some(w.rc.agency), ClassSet::EMPTY),
        )
        .gql()?;
        let facility = organization::Entity::find_by_id(org)
            .one(&w.txn)
            .await
            .map_err(ApiError::from)
            .gql()?;
        if facility.map(|f| f.agency) != Some(Agency::Health) {
            return Err(ApiError::forbidden(
                "treatment episodes are recorded by a health facility (the token's org)",
            )
            .into_gql());
        }
        let child_id = parse_id("input.childId", &input.child_id).gql()?;
        w.child(child_id).await.gql()?;
        not_future("input.admittedAt", input.admitted_at).gql()?;
        let diagnosis = input
            .diagnosis_code
            .as_deref()
            .map(check_icd10_f)
            .transpose()
            .gql()?;
        let am = treatment_episode::ActiveModel {
            id: NotSet,
            child_id: Set(child_id),
            organization_id: Set(org),
            setting: Set(ESetting::from(input.setting)),
            admitted_at: Set(input.admitted_at),
            discharged_at: Set(None),
            diagnosis_code: Set(diagnosis),
            severe_mental_disorder: Set(input.severe_mental_disorder.unwrap_or(false)),
            discharge_summary: Set(None),
            clinician: Set(Some(
                input
                    .clinician
                    .unwrap_or_else(|| w.rc.principal.sub.clone()),
            )),
            fit_to_return: Set(None),
            follow_up_advice: Set(None),
            next_appointment: Set(None),
            referral_id: Set(input
                .referral_id
                .as_deref()
                .map(|s| parse_id("input.referralId", s))
                .transpose()
                .gql()?),
            ..Default::default()
        };
        let row = w
            .insert::<treatment_episode::Entity, _>(am, None)
            .await
            .gql()?;
        recompute_child(&mut w, child_id).await.gql()?;
        w.commit().await.gql()?;
        Ok(Some(TreatmentEpisode(node(row))))
    }

    /// Discharges an episode; with `downReferralTo`, sends the DOWN referral that closes the loop.
    async fn discharge_episode(
        &self,
        ctx: &Context<'_>,
        id: ID,
        expected_version: i32,
        input: DischargeInput,
    ) -> GqlResult<Option<TreatmentEpisode>> {
        let fields = provided(ctx, "input");
        let mut w = WriteCtx::begin(ctx).await.gql()?;
        let id = parse_id("id", &id).gql()?;
        let old = w.record::<treatment_episode::Entity>(id).await.gql()?;
        w.authorize(
            "DischargeInput",
            &fields,
            &w.facts(
                Some(old.organization_id),
                Some(old.owner_agency),
                ClassSet::EMPTY,
            ),
        )
        .gql()?;
        if old.discharged_at.is_some() {
            return Err(ApiError::bad_input("id", "the episode is already discharged").into_gql());
        }
        not_future("input.dischargedAt", input.discharged_at).gql()?;
        if input.discharged_at < old.admitted_at {
            return Err(
                ApiError::bad_input("input.dischargedAt", "must not be before admittedAt")
                    .into_gql(),
            );
        }
        let mut am = old.clone().into_active_model();
        am.discharged_at = Set(Some(input.discharged_at));
        am.discharge_summary = Set(opt_text(
            "input.dischargeSummary",
            input.discharge_summary.as_deref(),
            20_000,
        )
        .gql()?);
        am.fit_to_return = Set(input.fit_to_return);
        am.follow_up_advice = Set(opt_text(
            "input.followUpAdvice",
            input.follow_up_advice.as_deref(),
            4000,
        )
        .gql()?);
        am.next_appointment = Set(input.next_appointment);
        let row = w
            .update::<treatment_episode::Entity, _>(&old, am, expected_version, None)
            .await
            .gql()?;
        if let Some(target) = input.down_referral_to.as_deref() {
            let target = parse_id("input.downReferralTo", target).gql()?;
            let view = serde_json::json!(["G-ID-min", "G-GUARD", "G-RISK", "G-DISCH", "G-REF"]);
            let r = referral::ActiveModel {
                id: NotSet,
                child_id: Set(row.child_id),
                from_org_id: Set(row.organization_id),
                to_org_id: Set(target),
                direction: Set(ReferralDirection::Down),
                parent_referral_id: Set(row.referral_id),
                reason: Set(Some("出院下转：社区随访与复学支持".into())),
                urgency: Set(Urgency::Routine),
                authorized_view: Set(view),
                lawful_basis_id: Set(None),
                status: Set(ReferralStatus::Sent),
                sla_due_at: Set(Some(sla(Urgency::Routine, w.at))),
                escalated: Set(false),
                sent_at: Set(Some(w.at)),
                responded_at: Set(None),
                closed_at: Set(None),
                outcome_note: Set(None),
                rejection_reason: Set(None),
                treatment_episode_id: Set(Some(row.id)),
                ..Default::default()
            };
            let down = w.insert::<referral::Entity, _>(r, None).await.gql()?;
            w.transition(
                "Referral",
                down.id,
                Some(down.child_id),
                None,
                ReferralStatus::Sent.as_str(),
                Some("discharge".into()),
            )
            .gql()?;
        }
        recompute_child(&mut w, row.child_id).await.gql()?;
        w.commit().await.gql()?;
        Ok(Some(TreatmentEpisode(node(row))))
    }
}
