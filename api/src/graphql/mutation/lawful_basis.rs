//! Lawful bases (告知同意 / 处理依据): record the consent or statutory duty under which a child's
//! field groups may cross to other agencies for stated purposes, and withdraw it. A withdrawal
//! takes effect on the next request (access facts are computed per request).

use async_graphql::{Context, InputObject, Object, ID};
use carehub_entity::enums::{Agency as EAgency, BasisKind as EBasis, Purpose as EPurpose};
use carehub_entity::lawful_basis;
use carehub_policy::ClassSet;
use chrono::{DateTime, Utc};
use sea_orm::ActiveValue::{NotSet, Set};
use sea_orm::IntoActiveModel;

use super::guardian::live;
use super::visit::node;
use super::{opt_text, text};
use crate::error::{ApiError, GqlResult, IntoGql};
use crate::graphql::enums::{Agency, BasisKind, Purpose};
use crate::graphql::query::parse_id;
use crate::graphql::types::records::LawfulBasis;
use crate::write::{provided, WriteCtx};

/// Age below which consent comes from a guardian, not the child (PIPL art. 31).
const CONSENT_AGE: u32 = 14;

/// A lawful basis for sharing a child's data.
#[derive(InputObject)]
pub struct RecordLawfulBasisInput {
    pub child_id: ID,
    /// Who granted it (a guardian; the child too if 14 or older). Required for consent.
    pub grantor: Option<String>,
    /// The grantor's relation to the child (e.g. MOTHER, GRANDPARENT, SELF).
    pub grantor_relation: Option<String>,
    pub basis: BasisKind,
    pub purposes: Vec<Purpose>,
    /// Agencies the basis releases the field groups to.
    pub recipients: Vec<Agency>,
    /// Field groups released (names from the remit policy, e.g. G-SCR).
    pub field_groups: Vec<String>,
    pub valid_from: DateTime<Utc>,
    pub valid_to: Option<DateTime<Utc>>,
    /// Reference of the signed document.
    pub document_ref: Option<String>,
    /// The statute, for a statutory duty.
    pub legal_reference: Option<String>,
}

fn is_consent(b: EBasis) -> bool {
    matches!(
        b,
        EBasis::Consent | EBasis::SeparateConsent | EBasis::WrittenConsent
    )
}

fn names<T: Copy + PartialEq>(items: &[T], as_str: fn(&T) -> &'static str) -> serde_json::Value {
    let mut out: Vec<&str> = Vec::new();
    for i in items {
        let s = as_str(i);
        if !out.contains(&s) {
            out.push(s);
        }
    }
    serde_json::json!(out)
}

#[derive(Default)]
pub struct LawfulBasisMutation;

#[Object]
impl LawfulBasisMutation {
    /// Records a lawful basis (consent, statutory duty or emergency) for a child in your scope.
    async fn record_lawful_basis(
        &self,
        ctx: &Context<'_>,
        input: RecordLawfulBasisInput,
    ) -> GqlResult<Option<LawfulBasis>> {
        let fields = provided(ctx, "input");
        let mut w = WriteCtx::begin(ctx).await.gql()?;
        let child_id = parse_id("input.childId", &input.child_id).gql()?;
        let child = w.child(child_id).await.gql()?;
        w.authorize(
            "RecordLawfulBasisInput",
            &fields,
            &w.facts(w.rc.org, Some(w.rc.agency), ClassSet::EMPTY),
        )
        .gql()?;
        let basis = EBasis::from(input.basis);
        let grantor = opt_text("input.grantor", input.grantor.as_deref(), 100).gql()?;
        let relation = opt_text(
            "input.grantorRelation",
            input.grantor_relation.as_deref(),
            50,
        )
        .gql()?
        .map(|r| r.to_uppercase());
        let legal_reference = opt_text(
            "input.legalReference",
            input.legal_reference.as_deref(),
            500,
        )
        .gql()?;
        let document_ref =
            opt_text("input.documentRef", input.document_ref.as_deref(), 200).gql()?;
        if basis == EBasis::StatutoryDuty && legal_reference.is_none() {
            return Err(ApiError::bad_input(
                "input.legalReference",
                "a statutory duty names its statute (e.g. 未成年人保护法 第…条)",
            )
            .into_gql());
        }
        if basis == EBasis::WrittenConsent && document_ref.is_none() {
            return Err(ApiError::bad_input(
                "input.documentRef",
                "a written consent names the signed document",
            )
            .into_gql());
        }
        if is_consent(basis) {
            if grantor.is_none() {
                return Err(ApiError::bad_input(
                    "input.grantor",
                    format!("{} needs the person who granted it", basis.as_str()),
                )
                .into_gql());
            }
            let age = w.at.date_naive().years_since(child.birth_date).unwrap_or(0);
            if age < CONSENT_AGE {
                match relation.as_deref() {
                    None => {
                        return Err(ApiError::bad_input("input.grantorRelation", format!("the child is under {CONSENT_AGE}: consent comes from a guardian; give the guardian's relation")).into_gql());
                    }
                    Some("SELF") => {
                        return Err(ApiError::bad_input("input.grantorRelation", format!("the child is under {CONSENT_AGE}: consent comes from a guardian, not the child (PIPL art. 31)")).into_gql());
                    }
                    Some(_) => {}
                }
            }
        }
        if let Some(to) = input.valid_to {
            if to <= input.valid_from {
                return Err(
                    ApiError::bad_input("input.validTo", "must be after validFrom").into_gql(),
                );
            }
        } else if basis == EBasis::Emergency {
            return Err(ApiError::bad_input(
                "input.validTo",
                "an emergency basis is time-limited: give validTo",
            )
            .into_gql());
        }
        if input.purposes.is_empty() {
            return Err(
                ApiError::bad_input("input.purposes", "must name at least one purpose").into_gql(),
            );
        }
        if input.recipients.is_empty() {
            return Err(ApiError::bad_input(
                "input.recipients",
                "must name at least one recipient agency",
            )
            .into_gql());
        }
        if input.field_groups.is_empty() {
            return Err(ApiError::bad_input(
                "input.fieldGroups",
                "must name at least one field group",
            )
            .into_gql());
        }
        let mut groups: Vec<String> = Vec::new();
        for (i, g) in input.field_groups.iter().enumerate() {
            let g = g.trim();
            if w.rc.policy.group(g).is_none() {
                return Err(ApiError::bad_input(
                    format!("input.fieldGroups[{i}]"),
                    format!("{g:?} is not a field group of the remit policy"),
                )
                .into_gql());
            }
            if !groups.iter().any(|x| x == g) {
                groups.push(g.to_owned());
            }
        }
        let purposes: Vec<EPurpose> = input.purposes.iter().map(|p| EPurpose::from(*p)).collect();
        let recipients: Vec<EAgency> = input.recipients.iter().map(|a| EAgency::from(*a)).collect();
        let am = lawful_basis::ActiveModel {
            id: NotSet,
            child_id: Set(child_id),
            // A statutory duty or emergency is invoked by the recording agency.
            grantor: Set(grantor.unwrap_or_else(|| w.rc.agency.as_str().to_owned())),
            grantor_relation: Set(relation),
            basis: Set(basis),
            purposes: Set(names(&purposes, EPurpose::as_str)),
            recipients: Set(names(&recipients, EAgency::as_str)),
            field_groups: Set(serde_json::json!(groups)),
            valid_from: Set(input.valid_from),
            valid_to: Set(input.valid_to),
            withdrawn_at: Set(None),
            document_ref: Set(document_ref),
            legal_reference: Set(legal_reference),
            ..Default::default()
        };
        let row = w
            .insert::<lawful_basis::Entity, _>(am, Some(child.residence_region_code))
            .await
            .gql()?;
        w.commit().await.gql()?;
        Ok(Some(LawfulBasis(node(row))))
    }

    /// Withdraws a lawful basis; from the next request on it releases nothing.
    async fn withdraw_lawful_basis(
        &self,
        ctx: &Context<'_>,
        id: ID,
        expected_version: i32,
        reason: String,
    ) -> GqlResult<Option<LawfulBasis>> {
        let mut w = WriteCtx::begin(ctx).await.gql()?;
        let id = parse_id("id", &id).gql()?;
        let reason = text("reason", &reason, 1000).gql()?;
        let old = live::<lawful_basis::Entity>(&w, id).await.gql()?;
        w.authorize(
            "Mutation",
            &["withdrawLawfulBasis".to_owned()],
            &w.facts(old.owner_org_id, Some(old.owner_agency), ClassSet::EMPTY),
        )
        .gql()?;
        if let Some(at) = old.withdrawn_at {
            return Err(ApiError::bad_input(
                "id",
                format!(
                    "the lawful basis was already withdrawn at {}",
                    at.to_rfc3339()
                ),
            )
            .into_gql());
        }
        let child = w.child(old.child_id).await.gql()?;
        let mut am = old.clone().into_active_model();
        am.withdrawn_at = Set(Some(w.at));
        let row = w
            .update::<lawful_basis::Entity, _>(
                &old,
                am,
                expected_version,
                Some(child.residence_region_code),
            )
            .await
            .gql()?;
        w.audit_write(
            "LawfulBasis",
            row.id,
            Some(row.child_id),
            "WITHDRAW",
            vec!["withdrawnAt".into()],
            Some(reason),
        );
        w.commit().await.gql()?;
        Ok(Some(LawfulBasis(node(row))))
    }
}
