//! Guardians and actual caregivers (监护人): add one to a child, update one, archive one. ID
//! numbers are validated (GB 11643), stored encrypted with a blind index, and shown masked.

use async_graphql::{Context, InputObject, Object, ID};
use carehub_entity::enums::{GuardianRelation as ERelation, GuardianshipStatus as EStatus};
use carehub_entity::guardian;
use carehub_policy::ClassSet;
use sea_orm::ActiveValue::{NotSet, Set};
use sea_orm::{ColumnTrait, EntityTrait, IntoActiveModel, PrimaryKeyTrait, QueryFilter};
use uuid::Uuid;

use super::visit::node;
use super::{opt_text, text};
use crate::authz::Record;
use crate::domain::idnumber::IdNumber;
use crate::error::{ApiError, ApiResult, GqlResult, IntoGql};
use crate::graphql::enums::{GuardianRelation, GuardianshipStatus};
use crate::graphql::query::parse_id;
use crate::graphql::types::records::Guardian;
use crate::write::{provided, WriteCtx};

/// A guardian or actual caregiver of a child.
#[derive(InputObject)]
pub struct AddGuardianInput {
    pub child_id: ID,
    pub name: String,
    pub relation: GuardianRelation,
    pub is_legal_guardian: bool,
    pub is_actual_caregiver: bool,
    pub phone: Option<String>,
    /// 18-character resident ID number (GB 11643); stored encrypted, shown masked.
    pub id_number: Option<String>,
    /// Defaults to NORMAL.
    pub guardianship_status: Option<GuardianshipStatus>,
    /// Working away, incarcerated, ill, …
    pub situation: Option<String>,
}

/// Changes to a guardian (partial).
#[derive(InputObject)]
pub struct UpdateGuardianInput {
    pub name: Option<String>,
    pub relation: Option<GuardianRelation>,
    pub is_legal_guardian: Option<bool>,
    pub is_actual_caregiver: Option<bool>,
    pub phone: Option<String>,
    pub id_number: Option<String>,
    pub guardianship_status: Option<GuardianshipStatus>,
    pub situation: Option<String>,
}

/// Checks a phone number: digits with optional `+`, spaces and dashes, 5–30 characters.
pub fn phone(field: &str, v: Option<&str>) -> ApiResult<Option<String>> {
    let Some(p) = opt_text(field, v, 30)? else {
        return Ok(None);
    };
    let digits = p.chars().filter(char::is_ascii_digit).count();
    if !p
        .chars()
        .all(|c| c.is_ascii_digit() || matches!(c, '+' | '-' | ' '))
        || digits < 5
    {
        return Err(ApiError::bad_input(
            field,
            "must be a phone number: digits, with optional '+', spaces and '-'",
        ));
    }
    Ok(Some(p))
}

/// The encrypted form, blind index and mask of a guardian's ID number.
struct SealedId {
    enc: String,
    bidx: String,
    mask: String,
}

fn seal(w: &WriteCtx, raw: &str) -> ApiResult<SealedId> {
    let id =
        IdNumber::parse(raw).map_err(|e| ApiError::bad_input("input.idNumber", e.to_string()))?;
    let vault = &w.rc.app.vault;
    Ok(SealedId {
        enc: vault.encrypt(id.as_str()),
        bidx: vault.blind_index(id.as_str()),
        mask: id.mask(),
    })
}

/// Loads a record for a write through `WriteCtx::record` (child in scope) and refuses an
/// archived one: archived records are not edited. Shared by the mutations of this area.
pub(super) async fn live<E>(w: &WriteCtx, id: Uuid) -> ApiResult<E::Model>
where
    E: EntityTrait,
    E::Model: Record + serde::Serialize,
    <E::PrimaryKey as PrimaryKeyTrait>::ValueType: From<Uuid>,
{
    let row = w.record::<E>(id).await?;
    let archived = serde_json::to_value(&row)
        .ok()
        .and_then(|v| v.get("archived_at").cloned())
        .is_some_and(|v| !v.is_null());
    if archived {
        return Err(ApiError::NotFound(format!(
            "no {} {id} in your scope: it is archived",
            <E::Model as Record>::TYPE
        )));
    }
    Ok(row)
}

/// The same person (same ID number) is not recorded twice as a guardian of one child.
async fn check_duplicate(
    w: &WriteCtx,
    child_id: Uuid,
    bidx: &str,
    except: Option<Uuid>,
) -> ApiResult<()> {
    let mut q = guardian::Entity::find()
        .filter(guardian::Column::ChildId.eq(child_id))
        .filter(guardian::Column::IdNumberBidx.eq(bidx))
        .filter(guardian::Column::ArchivedAt.is_null());
    if let Some(id) = except {
        q = q.filter(guardian::Column::Id.ne(id));
    }
    if let Some(existing) = q.one(&w.txn).await? {
        return Err(ApiError::Conflict {
            message: "a guardian with this ID number is already recorded for this child; update that guardian instead".into(),
            details: serde_json::json!({ "existingId": existing.id.to_string() }),
        });
    }
    Ok(())
}

#[derive(Default)]
pub struct GuardianMutation;

#[Object]
impl GuardianMutation {
    /// Adds a guardian or actual caregiver to a child in your scope.
    async fn add_guardian(
        &self,
        ctx: &Context<'_>,
        input: AddGuardianInput,
    ) -> GqlResult<Option<Guardian>> {
        let fields = provided(ctx, "input");
        let mut w = WriteCtx::begin(ctx).await.gql()?;
        let child_id = parse_id("input.childId", &input.child_id).gql()?;
        let child = w.child(child_id).await.gql()?;
        w.authorize(
            "AddGuardianInput",
            &fields,
            &w.facts(w.rc.org, Some(w.rc.agency), ClassSet::EMPTY),
        )
        .gql()?;
        let name = text("input.name", &input.name, 50).gql()?;
        let phone = phone("input.phone", input.phone.as_deref()).gql()?;
        let situation = opt_text("input.situation", input.situation.as_deref(), 2000).gql()?;
        let sealed = input
            .id_number
            .as_deref()
            .map(|raw| seal(&w, raw))
            .transpose()
            .gql()?;
        if let Some(s) = &sealed {
            check_duplicate(&w, child_id, &s.bidx, None).await.gql()?;
        }
        let status = input
            .guardianship_status
            .map(EStatus::from)
            .unwrap_or(EStatus::Normal);
        if status == EStatus::Normal && !input.is_legal_guardian && !input.is_actual_caregiver {
            return Err(ApiError::bad_input("input.guardianshipStatus", "a person who is neither legal guardian nor actual caregiver exercises no guardianship: record ABSENT or INADEQUATE, or set isLegalGuardian/isActualCaregiver").into_gql());
        }
        let am = guardian::ActiveModel {
            id: NotSet,
            child_id: Set(child_id),
            name: Set(name),
            relation: Set(ERelation::from(input.relation)),
            is_legal_guardian: Set(input.is_legal_guardian),
            is_actual_caregiver: Set(input.is_actual_caregiver),
            phone: Set(phone),
            id_number_enc: Set(sealed.as_ref().map(|s| s.enc.clone())),
            id_number_bidx: Set(sealed.as_ref().map(|s| s.bidx.clone())),
            id_number_mask: Set(sealed.as_ref().map(|s| s.mask.clone())),
            guardianship_status: Set(status),
            situation: Set(situation),
            ..Default::default()
        };
        let row = w
            .insert::<guardian::Entity, _>(am, Some(child.residence_region_code))
            .await
            .gql()?;
        w.commit().await.gql()?;
        Ok(Some(Guardian(node(row))))
    }

    /// Updates a guardian. `expectedVersion` must be the version you read.
    async fn update_guardian(
        &self,
        ctx: &Context<'_>,
        id: ID,
        expected_version: i32,
        input: UpdateGuardianInput,
    ) -> GqlResult<Option<Guardian>> {
        let fields = provided(ctx, "input");
        let mut w = WriteCtx::begin(ctx).await.gql()?;
        let id = parse_id("id", &id).gql()?;
        let old = live::<guardian::Entity>(&w, id).await.gql()?;
        w.authorize(
            "UpdateGuardianInput",
            &fields,
            &w.facts(old.owner_org_id, Some(old.owner_agency), ClassSet::EMPTY),
        )
        .gql()?;
        let mut am = old.clone().into_active_model();
        if let Some(n) = &input.name {
            am.name = Set(text("input.name", n, 50).gql()?);
        }
        if let Some(r) = input.relation {
            am.relation = Set(r.into());
        }
        if let Some(b) = input.is_legal_guardian {
            am.is_legal_guardian = Set(b);
        }
        if let Some(b) = input.is_actual_caregiver {
            am.is_actual_caregiver = Set(b);
        }
        if input.phone.is_some() {
            am.phone = Set(phone("input.phone", input.phone.as_deref()).gql()?);
        }
        if let Some(raw) = input.id_number.as_deref() {
            let s = seal(&w, raw).gql()?;
            check_duplicate(&w, old.child_id, &s.bidx, Some(old.id))
                .await
                .gql()?;
            am.id_number_enc = Set(Some(s.enc));
            am.id_number_bidx = Set(Some(s.bidx));
            am.id_number_mask = Set(Some(s.mask));
        }
        if let Some(s) = input.guardianship_status {
            am.guardianship_status = Set(s.into());
        }
        if input.situation.is_some() {
            am.situation =
                Set(opt_text("input.situation", input.situation.as_deref(), 2000).gql()?);
        }
        let child = w.child(old.child_id).await.gql()?;
        let row = w
            .update::<guardian::Entity, _>(
                &old,
                am,
                expected_version,
                Some(child.residence_region_code),
            )
            .await
            .gql()?;
        w.commit().await.gql()?;
        Ok(Some(Guardian(node(row))))
    }

    /// Archives a guardian recorded in error or no longer relevant (soft delete; the history
    /// keeps it).
    async fn archive_guardian(
        &self,
        ctx: &Context<'_>,
        id: ID,
        expected_version: i32,
        reason: String,
    ) -> GqlResult<Option<Guardian>> {
        let mut w = WriteCtx::begin(ctx).await.gql()?;
        let id = parse_id("id", &id).gql()?;
        let reason = text("reason", &reason, 1000).gql()?;
        let old = live::<guardian::Entity>(&w, id).await.gql()?;
        w.authorize(
            "Mutation",
            &["archiveGuardian".to_owned()],
            &w.facts(old.owner_org_id, Some(old.owner_agency), ClassSet::EMPTY),
        )
        .gql()?;
        let child = w.child(old.child_id).await.gql()?;
        let mut am = old.clone().into_active_model();
        am.archived_at = Set(Some(w.at));
        let row = w
            .update::<guardian::Entity, _>(
                &old,
                am,
                expected_version,
                Some(child.residence_region_code),
            )
            .await
            .gql()?;
        w.audit_write(
            "Guardian",
            row.id,
            Some(row.child_id),
            "ARCHIVE",
            vec!["archivedAt".into()],
            Some(reason),
        );
        w.commit().await.gql()?;
        Ok(Some(Guardian(node(row))))
    }
}
