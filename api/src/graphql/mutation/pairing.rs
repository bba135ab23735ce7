//! Pairings (结对关爱): pair a child with a mentor, peer, caring parent, volunteer or social
//! worker, and end the pairing.

use async_graphql::{Context, InputObject, Object, ID};
use carehub_entity::enums::PairingKind as EKind;
use carehub_entity::{organization, pairing};
use carehub_policy::ClassSet;
use chrono::NaiveDate;
use sea_orm::ActiveValue::{NotSet, Set};
use sea_orm::{EntityTrait, IntoActiveModel};

use super::guardian::live;
use super::visit::node;
use super::{opt_text, text};
use crate::error::{ApiError, GqlResult, IntoGql};
use crate::graphql::enums::PairingKind;
use crate::graphql::query::parse_id;
use crate::graphql::types::records::Pairing;
use crate::write::{provided, WriteCtx};

/// A new pairing.
#[derive(InputObject)]
pub struct CreatePairingInput {
    pub child_id: ID,
    pub kind: PairingKind,
    /// The supporter (token subject, or the name of a volunteer without an account).
    pub supporter: String,
    /// The supporter's organization; defaults to yours.
    pub organization_id: Option<ID>,
    pub start_date: NaiveDate,
    pub end_date: Option<NaiveDate>,
    /// How often they meet, e.g. "every two weeks".
    pub contact_frequency: Option<String>,
}

#[derive(Default)]
pub struct PairingMutation;

#[Object]
impl PairingMutation {
    /// Pairs a child in your scope with a supporter.
    async fn create_pairing(
        &self,
        ctx: &Context<'_>,
        input: CreatePairingInput,
    ) -> GqlResult<Option<Pairing>> {
        let fields = provided(ctx, "input");
        let mut w = WriteCtx::begin(ctx).await.gql()?;
        let child_id = parse_id("input.childId", &input.child_id).gql()?;
        let child = w.child(child_id).await.gql()?;
        let org = match input.organization_id.as_deref() {
            Some(o) => {
                let id = parse_id("input.organizationId", o).gql()?;
                organization::Entity::find_by_id(id)
                    .one(&w.txn)
                    .await
                    .map_err(ApiError::from)
                    .gql()?
                    .ok_or_else(|| {
                        ApiError::bad_input("input.organizationId", "no such organization")
                            .into_gql()
                    })?;
                Some(id)
            }
            None => w.rc.org,
        };
        w.authorize(
            "CreatePairingInput",
            &fields,
            &w.facts(org, Some(w.rc.agency), ClassSet::EMPTY),
        )
        .gql()?;
        let supporter = text("input.supporter", &input.supporter, 100).gql()?;
        if let Some(end) = input.end_date {
            if end < input.start_date {
                return Err(
                    ApiError::bad_input("input.endDate", "must not be before startDate").into_gql(),
                );
            }
        }
        let am = pairing::ActiveModel {
            id: NotSet,
            child_id: Set(child_id),
            kind: Set(EKind::from(input.kind)),
            supporter: Set(supporter),
            organization_id: Set(org),
            start_date: Set(input.start_date),
            end_date: Set(input.end_date),
            contact_frequency: Set(opt_text(
                "input.contactFrequency",
                input.contact_frequency.as_deref(),
                100,
            )
            .gql()?),
            ..Default::default()
        };
        let row = w
            .insert::<pairing::Entity, _>(am, Some(child.residence_region_code))
            .await
            .gql()?;
        w.commit().await.gql()?;
        Ok(Some(Pairing(node(row))))
    }

    /// Ends a pairing on `endDate` (not in the future, not before it started).
    async fn end_pairing(
        &self,
        ctx: &Context<'_>,
        id: ID,
        expected_version: i32,
        end_date: NaiveDate,
    ) -> GqlResult<Option<Pairing>> {
        let mut w = WriteCtx::begin(ctx).await.gql()?;
        let id = parse_id("id", &id).gql()?;
        let old = live::<pairing::Entity>(&w, id).await.gql()?;
        w.authorize(
            "Mutation",
            &["endPairing".to_owned()],
            &w.facts(
                old.organization_id.or(old.owner_org_id),
                Some(old.owner_agency),
                ClassSet::EMPTY,
            ),
        )
        .gql()?;
        let today = w.at.date_naive();
        if let Some(end) = old.end_date.filter(|e| *e <= today) {
            return Err(
                ApiError::bad_input("id", format!("the pairing already ended on {end}")).into_gql(),
            );
        }
        if end_date > today {
            return Err(ApiError::bad_input(
                "endDate",
                "must not be in the future: record the end when it happens",
            )
            .into_gql());
        }
        if end_date < old.start_date {
            return Err(ApiError::bad_input(
                "endDate",
                format!("must not be before the start date {}", old.start_date),
            )
            .into_gql());
        }
        let child = w.child(old.child_id).await.gql()?;
        let mut am = old.clone().into_active_model();
        am.end_date = Set(Some(end_date));
        let row = w
            .update::<pairing::Entity, _>(
                &old,
                am,
                expected_version,
                Some(child.residence_region_code),
            )
            .await
            .gql()?;
        w.commit().await.gql()?;
        Ok(Some(Pairing(node(row))))
    }
}
