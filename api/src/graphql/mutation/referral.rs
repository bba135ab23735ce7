//! Two-way referrals (双向转诊): create (draft or sent), and every transition of the referral
//! state machine, each by the side allowed to take it.

use async_graphql::{Context, InputObject, Object, ID};
use carehub_entity::enums::{
    OrganizationKind, ReferralDirection as EDir, ReferralStatus as EStatus, Urgency as EUrgency,
    VisitKind,
};
use carehub_entity::{lawful_basis, organization, referral, visit};
use carehub_policy::ClassSet;
use chrono::Duration;
use sea_orm::ActiveValue::{NotSet, Set};
use sea_orm::{ColumnTrait, Condition, EntityTrait, IntoActiveModel, QueryFilter};
use uuid::Uuid;

use super::opt_text;
use super::visit::node;
use crate::error::{ApiError, ApiResult, GqlResult, IntoGql};
use crate::graphql::enums::{ReferralDirection, ReferralStatus, Urgency};
use crate::graphql::query::parse_id;
use crate::graphql::types::records::Referral;
use crate::write::workflow::REFERRAL;
use crate::write::{provided, WriteCtx};

/// A referral to another organization.
#[derive(InputObject)]
pub struct CreateReferralInput {
    pub child_id: ID,
    pub to_organization_id: ID,
    pub direction: ReferralDirection,
    /// For a DOWN referral: the UP referral whose loop it closes.
    pub parent_referral_id: Option<ID>,
    pub reason: String,
    pub urgency: Urgency,
    /// Field groups the receiver may see while the referral is open (e.g. G-ID-min, G-RISK).
    pub authorized_view: Vec<String>,
    pub lawful_basis_id: Option<ID>,
    /// Send at once (SENT) instead of keeping a DRAFT.
    pub send: Option<bool>,
    /// With the consent-override permission: why the referral goes without a covering basis.
    pub consent_override_reason: Option<String>,
}

/// Groups that cross agencies only on a lawful basis.
const BASIS_GROUPS: &[&str] = &["G-SCR", "G-CLIN", "G-ABUSE"];

#[derive(Default)]
pub struct ReferralMutation;

/// The SLA deadline of a referral sent now.
pub fn sla(
    urgency: EUrgency,
    sent: chrono::DateTime<chrono::Utc>,
) -> chrono::DateTime<chrono::Utc> {
    sent + if urgency == EUrgency::Urgent {
        Duration::hours(24)
    } else {
        Duration::hours(72)
    }
}

/// Sending needs a lawful basis covering the view's basis-bound groups for the receiver's
/// agency, unless an allowed role overrides with a reason (Primero's rule).
async fn check_basis(
    w: &mut WriteCtx,
    r: &referral::Model,
    override_reason: Option<&str>,
) -> ApiResult<()> {
    let view: Vec<String> = crate::graphql::types::records::strings(&r.authorized_view);
    let needed: Vec<&str> = BASIS_GROUPS
        .iter()
        .copied()
        .filter(|g| view.iter().any(|v| v == g))
        .collect();
    if needed.is_empty() {
        return Ok(());
    }
    let to = organization::Entity::find_by_id(r.to_org_id)
        .one(&w.txn)
        .await?
        .ok_or_else(|| ApiError::bad_input("input.toOrganizationId", "no such organization"))?;
    let bases = lawful_basis::Entity::find()
        .filter(lawful_basis::Column::ChildId.eq(r.child_id))
        .filter(lawful_basis::Column::WithdrawnAt.is_null())
        .filter(lawful_basis::Column::ArchivedAt.is_null())
        .filter(lawful_basis::Column::ValidFrom.lte(w.at))
        .filter(
            Condition::any()
                .add(lawful_basis::Column::ValidTo.is_null())
                .add(lawful_basis::Column::ValidTo.gt(w.at)),
        )
        .all(&w.txn)
        .await?;
    let has = |v: &serde_json::Value, s: &str| {
        v.as_array()
            .is_some_and(|a| a.iter().any(|x| x.as_str() == Some(s)))
    };
    let missing: Vec<&str> = needed
        .iter()
        .copied()
        .filter(|g| {
            !bases.iter().any(|b| {
                has(&b.recipients, to.agency.as_str())
                    && has(&b.field_groups, g)
                    && has(&b.purposes, "REFERRAL")
            })
        })
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let may_override = w.rc.policy.role_info(w.rc.role).consent_override;
    match override_reason.map(str::trim).filter(|s| !s.is_empty()) {
        Some(reason) if may_override => {
            w.audit_write("Referral", r.id, Some(r.child_id), "CONSENT_OVERRIDE", missing.iter().map(|s| (*s).to_owned()).collect(), Some(reason.to_owned()));
            Ok(())
        }
        _ => Err(ApiError::ConsentRequired {
            reason: format!(
                "no valid lawful basis releases {} of this child to {} for REFERRAL; record one, narrow the authorized view, or (with the override permission) give consentOverrideReason",
                missing.join(", "),
                to.agency.as_str()
            ),
            field: Some("CreateReferralInput.authorizedView".into()),
        }),
    }
}

impl ReferralMutation {
    async fn send(w: &mut WriteCtx, old: &referral::Model, am: &mut referral::ActiveModel) {
        am.sent_at = Set(Some(w.at));
        am.sla_due_at = Set(Some(sla(old.urgency, w.at)));
    }
}

#[Object]
impl ReferralMutation {
    /// Creates a referral from your organization (DRAFT, or SENT with `send: true`).
    async fn create_referral(
        &self,
        ctx: &Context<'_>,
        input: CreateReferralInput,
    ) -> GqlResult<Option<Referral>> {
        let fields = provided(ctx, "input");
        let mut w = WriteCtx::begin(ctx).await.gql()?;
        let from = w.org().gql()?;
        w.authorize(
            "CreateReferralInput",
            &fields,
            &w.facts(Some(from), Some(w.rc.agency), ClassSet::EMPTY),
        )
        .gql()?;
        let child_id = parse_id("input.childId", &input.child_id).gql()?;
        let child = w.child(child_id).await.gql()?;
        let to_id = parse_id("input.toOrganizationId", &input.to_organization_id).gql()?;
        let to = organization::Entity::find_by_id(to_id)
            .one(&w.txn)
            .await
            .map_err(ApiError::from)
            .gql()?
            .ok_or_else(|| {
                ApiError::bad_input("input.toOrganizationId", "no such organization").into_gql()
            })?;
        let direction = EDir::from(input.direction);
        if direction == EDir::Up
            && !matches!(
                to.kind,
                OrganizationKind::PsychiatricHospital | OrganizationKind::GeneralHospital
            )
        {
            return Err(ApiError::bad_input(
                "input.toOrganizationId",
                format!(
                    "an UP referral goes to a hospital, not a {}",
                    to.kind.as_str()
                ),
            )
            .into_gql());
        }
        if to_id == from {
            return Err(ApiError::bad_input(
                "input.toOrganizationId",
                "must be another organization",
            )
            .into_gql());
        }
        let parent = match &input.parent_referral_id {
            Some(p) => {
                let pid = parse_id("input.parentReferralId", p).gql()?;
                let parent = referral::Entity::find_by_id(pid)
                    .one(&w.txn)
                    .await
                    .map_err(ApiError::from)
                    .gql()?;
                match parent {
                    Some(pr) if pr.child_id == child_id && pr.direction == EDir::Up => Some(pid),
                    _ => {
                        return Err(ApiError::bad_input(
                            "input.parentReferralId",
                            "must be an UP referral of the same child",
                        )
                        .into_gql())
                    }
                }
            }
            None if direction == EDir::Down => None,
            None => None,
        };
        let mut view = Vec::new();
        for g in &input.authorized_view {
            if w.rc.policy.group(g).is_none() {
                return Err(ApiError::bad_input(
                    "input.authorizedView",
                    format!("{g:?} is not a field group"),
                )
                .into_gql());
            }
            view.push(g.clone());
        }
        let reason = super::text("input.reason", &input.reason, 4000).gql()?;
        let send = input.send.unwrap_or(false);
        let am = referral::ActiveModel {
            id: NotSet,
            child_id: Set(child_id),
            from_org_id: Set(from),
            to_org_id: Set(to_id),
            direction: Set(direction),
            parent_referral_id: Set(parent),
            reason: Set(Some(reason)),
            urgency: Set(input.urgency.into()),
            authorized_view: Set(serde_json::json!(view)),
            lawful_basis_id: Set(input
                .lawful_basis_id
                .as_deref()
                .map(|s| parse_id("input.lawfulBasisId", s))
                .transpose()
                .gql()?),
            status: Set(if send { EStatus::Sent } else { EStatus::Draft }),
            sla_due_at: Set(send.then(|| sla(EUrgency::from(input.urgency), w.at))),
            escalated: Set(false),
            sent_at: Set(send.then_some(w.at)),
            responded_at: Set(None),
            closed_at: Set(None),
            outcome_note: Set(None),
            rejection_reason: Set(None),
            treatment_episode_id: Set(None),
            ..Default::default()
        };
        let row = w
            .insert::<referral::Entity, _>(am, Some(child.residence_region_code))
            .await
            .gql()?;
        if send {
            check_basis(&mut w, &row, input.consent_override_reason.as_deref())
                .await
                .gql()?;
        }
        w.transition(
            "Referral",
            row.id,
            Some(child_id),
            None,
            row.status.as_str(),
            None,
        )
        .gql()?;
        w.commit().await.gql()?;
        Ok(Some(Referral(node(row))))
    }

    /// Moves a referral to `status`. The sender sends, revokes and closes; the receiver
    /// receives, accepts, rejects (with a reason), serves, completes (with an outcome note) or
    /// records a failure.
    #[allow(clippy::too_many_arguments)]
    async fn transition_referral(
        &self,
        ctx: &Context<'_>,
        id: ID,
        expected_version: i32,
        status: ReferralStatus,
        note: Option<String>,
        consent_override_reason: Option<String>,
    ) -> GqlResult<Option<Referral>> {
        let mut w = WriteCtx::begin(ctx).await.gql()?;
        let id = parse_id("id", &id).gql()?;
        let old = w.record::<referral::Entity>(id).await.gql()?;
        let to = EStatus::from(status);
        REFERRAL.check(old.status, to).gql()?;
        let org: Option<Uuid> = w.rc.org;
        let sender_side = matches!(to, EStatus::Sent | EStatus::Revoked | EStatus::Closed);
        let side_org = if sender_side {
            old.from_org_id
        } else {
            old.to_org_id
        };
        if org != Some(side_org) {
            let side = if sender_side { "sending" } else { "receiving" };
            return Err(ApiError::forbidden(format!(
                "only the {side} organization may move a referral to {}",
                to.as_str()
            ))
            .into_gql());
        }
        w.authorize(
            "Mutation",
            &["transitionReferral".to_owned()],
            &w.facts(Some(side_org), Some(w.rc.agency), ClassSet::EMPTY),
        )
        .gql()?;
        let note = opt_text("note", note.as_deref(), 4000).gql()?;
        let mut am = old.clone().into_active_model();
        am.status = Set(to);
        match to {
            EStatus::Sent => Self::send(&mut w, &old, &mut am).await,
            EStatus::Accepted => am.responded_at = Set(Some(w.at)),
            EStatus::Rejected => {
                let reason = note.clone().ok_or_else(|| {
                    ApiError::bad_input("note", "a rejection needs a reason").into_gql()
                })?;
                am.rejection_reason = Set(Some(reason));
                am.responded_at = Set(Some(w.at));
            }
            EStatus::Completed => {
                let outcome = note.clone().ok_or_else(|| {
                    ApiError::bad_input(
                        "note",
                        "completing a referral needs the outcome note (回执)",
                    )
                    .into_gql()
                })?;
                if old.direction == EDir::Down {
                    let since = old.sent_at.unwrap_or(old.created_at);
                    let followed = visit::Entity::find()
                        .filter(visit::Column::ChildId.eq(old.child_id))
                        .filter(visit::Column::Kind.eq(VisitKind::PostDischargeFollowUp))
                        .filter(visit::Column::DoneAt.gte(since))
                        .filter(visit::Column::ArchivedAt.is_null())
                        .one(&w.txn)
                        .await
                        .map_err(ApiError::from)
                        .gql()?;
                    if followed.is_none() {
                        return Err(ApiError::bad_input("status", "a DOWN referral completes only when the first post-discharge follow-up visit is recorded").into_gql());
                    }
                }
                am.outcome_note = Set(Some(outcome));
            }
            EStatus::Closed => am.closed_at = Set(Some(w.at)),
            _ => {}
        }
        if matches!(
            to,
            EStatus::Received | EStatus::Accepted | EStatus::Rejected
        ) {
            am.escalated = Set(false);
        }
        let row = w
            .update::<referral::Entity, _>(&old, am, expected_version, None)
            .await
            .gql()?;
        if to == EStatus::Sent {
            check_basis(&mut w, &row, consent_override_reason.as_deref())
                .await
                .gql()?;
        }
        if matches!(
            to,
            EStatus::Accepted | EStatus::Rejected | EStatus::Received
        ) {
            w.clear_flag(
                row.child_id,
                carehub_entity::enums::FlagKind::ReferralSlaBreach,
                &row.id.to_string(),
                "answered",
            );
        }
        w.transition(
            "Referral",
            row.id,
            Some(row.child_id),
            Some(old.status.as_str()),
            to.as_str(),
            note,
        )
        .gql()?;
        w.commit().await.gql()?;
        Ok(Some(Referral(node(row))))
    }
}
