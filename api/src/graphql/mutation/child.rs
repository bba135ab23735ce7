//! Registering and updating children (civil affairs), with dated difficulty categories,
//! duplicate detection, and the audited ID-number reveal.

use async_graphql::{Context, InputObject, Object, ID};
use carehub_entity::enums::{ChildStatus as EStatus, DifficultyCategory as ECat};
use carehub_entity::{child, child_difficulty, region};
use carehub_policy::ClassSet;
use chrono::NaiveDate;
use sea_orm::ActiveValue::{NotSet, Set};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, QueryFilter};

use super::visit::node;
use super::{opt_text, text};
use crate::domain::idnumber::IdNumber;
use crate::domain::region::{truncate, RegionPrefix};
use crate::error::{ApiError, ApiResult, GqlResult, IntoGql};
use crate::graphql::enums::{ChildStatus, DifficultyCategory, Gender, LivingArrangement};
use crate::graphql::query::parse_id;
use crate::graphql::types::child::Child;
use crate::write::{provided, WriteCtx};

/// A dated difficulty category.
#[derive(InputObject)]
pub struct DifficultyInput {
    pub category: DifficultyCategory,
    pub valid_from: NaiveDate,
    pub valid_to: Option<NaiveDate>,
}

/// A new child.
#[derive(InputObject)]
pub struct RegisterChildInput {
    pub name: String,
    /// 18-character resident ID number (GB 11643); must agree with `birthDate`.
    pub id_number: Option<String>,
    pub gender: Gender,
    pub birth_date: NaiveDate,
    /// 12-digit village code of residence.
    pub residence_region_code: String,
    /// 12-digit code of household registration (户籍); defaults to residence.
    pub household_region_code: Option<String>,
    pub ethnicity: Option<String>,
    pub address: Option<String>,
    pub phone: Option<String>,
    pub living_arrangement: Option<LivingArrangement>,
    pub key_case: Option<bool>,
    pub responsible_organization_id: Option<ID>,
    pub difficulty_categories: Vec<DifficultyInput>,
}

/// Changes to a child (partial).
#[derive(InputObject)]
pub struct UpdateChildInput {
    pub name: Option<String>,
    pub status: Option<ChildStatus>,
    pub residence_region_code: Option<String>,
    pub ethnicity: Option<String>,
    pub address: Option<String>,
    pub phone: Option<String>,
    pub living_arrangement: Option<LivingArrangement>,
    pub key_case: Option<bool>,
    pub responsible_organization_id: Option<ID>,
    /// Adds dated difficulty categories.
    pub add_difficulty_categories: Option<Vec<DifficultyInput>>,
}

/// The masked display name: surname, `*`, last character (李*明).
pub fn display_name(name: &str) -> String {
    let chars: Vec<char> = name.chars().collect();
    match chars.len() {
        0 => String::new(),
        1 => "*".into(),
        2 => format!("{}*", chars[0]),
        n => format!("{}{}{}", chars[0], "*".repeat(n - 2), chars[n - 1]),
    }
}

async fn village(w: &WriteCtx, field: &str, code: &str) -> ApiResult<i64> {
    let p = RegionPrefix::parse(code).map_err(|e| ApiError::bad_input(field, e.to_string()))?;
    if p.as_str().len() != 12 {
        return Err(ApiError::bad_input(
            field,
            "must be a 12-digit village (residence) code",
        ));
    }
    let exists = region::Entity::find_by_id(p.code())
        .one(&w.txn)
        .await?
        .is_some();
    if !exists {
        return Err(ApiError::bad_input(
            field,
            format!("region {code} does not exist"),
        ));
    }
    Ok(p.code())
}

#[derive(Default)]
pub struct ChildMutation;

#[Object]
impl ChildMutation {
    /// Registers a child. A child with the same ID number, or the same name, birth date and
    /// household region, is refused with `CONFLICT` (and its id when it is in your scope).
    async fn register_child(
        &self,
        ctx: &Context<'_>,
        input: RegisterChildInput,
    ) -> GqlResult<Option<Child>> {
        let fields = provided(ctx, "input");
        let mut w = WriteCtx::begin(ctx).await.gql()?;
        w.authorize(
            "RegisterChildInput",
            &fields,
            &w.facts(w.rc.org, Some(w.rc.agency), ClassSet::EMPTY),
        )
        .gql()?;
        let name = text("input.name", &input.name, 50).gql()?;
        let today = w.at.date_naive();
        if input.birth_date > today {
            return Err(
                ApiError::bad_input("input.birthDate", "must not be in the future").into_gql(),
            );
        }
        if today.years_since(input.birth_date).unwrap_or(0) >= 18 {
            return Err(
                ApiError::bad_input("input.birthDate", "the child must be under 18").into_gql(),
            );
        }
        let residence = village(
            &w,
            "input.residenceRegionCode",
            &input.residence_region_code,
        )
        .await
        .gql()?;
        let scope_prefix = RegionPrefix::parse(&w.rc.principal.region)
            .map_err(|_| ApiError::forbidden("token region is invalid"))
            .gql()?;
        if !scope_prefix.contains(residence) {
            return Err(ApiError::forbidden(format!(
                "residence {} lies outside your region {}",
                input.residence_region_code, scope_prefix
            ))
            .into_gql());
        }
        let household = match &input.household_region_code {
            Some(c) => village(&w, "input.householdRegionCode", c).await.gql()?,
            None => residence,
        };
        let id = match &input.id_number {
            Some(raw) => {
                let id = IdNumber::parse(raw)
                    .map_err(|e| ApiError::bad_input("input.idNumber", e.to_string()).into_gql())?;
                if id.birth_date() != input.birth_date {
                    return Err(ApiError::bad_input(
                        "input.idNumber",
                        format!(
                            "encodes birth date {}, not birthDate {}",
                            id.birth_date(),
                            input.birth_date
                        ),
                    )
                    .into_gql());
                }
                Some(id)
            }
            None => None,
        };
        if input.difficulty_categories.is_empty() {
            return Err(ApiError::bad_input(
                "input.difficultyCategories",
                "a child in difficulty has at least one dated category",
            )
            .into_gql());
        }
        // Duplicate detection: exact ID number (blind index), or name + birth date + household.
        let vault = &w.rc.app.vault;
        let bidx = id.as_ref().map(|i| vault.blind_index(i.as_str()));
        let mut dup = sea_orm::Condition::any().add(
            sea_orm::Condition::all()
                .add(child::Column::Name.eq(name.as_str()))
                .add(child::Column::BirthDate.eq(input.birth_date))
                .add(child::Column::HouseholdRegionCode.eq(household)),
        );
        if let Some(b) = &bidx {
            dup = dup.add(child::Column::IdNumberBidx.eq(b.as_str()));
        }
        if let Some(existing) = child::Entity::find()
            .filter(dup)
            .filter(child::Column::ArchivedAt.is_null())
            .one(&w.txn)
            .await
            .map_err(ApiError::from)
            .gql()?
        {
            let visible = w.child(existing.id).await.is_ok();
            return Err(ApiError::Conflict {
                message: "this child is already registered; ask childExists for the responsible organization".into(),
                details: serde_json::json!({ "existingId": visible.then(|| existing.id.to_string()) }),
            }
            .into_gql());
        }
        let am = child::ActiveModel {
            id: NotSet,
            display_name: Set(display_name(&name)),
            gender: Set(input.gender.into()),
            birth_year_month: Set(input.birth_date.format("%Y-%m").to_string()),
            residence_region_code: Set(residence),
            city_code: Set(truncate(residence, 4)),
            county_code: Set(truncate(residence, 6)),
            household_region_code: Set(household),
            status: Set(EStatus::Active),
            responsible_org_id: Set(input
                .responsible_organization_id
                .as_deref()
                .map(|s| parse_id("input.responsibleOrganizationId", s))
                .transpose()
                .gql()?
                .or(w.rc.org)),
            name: Set(name),
            id_number_enc: Set(id.as_ref().map(|i| vault.encrypt(i.as_str()))),
            id_number_bidx: Set(bidx),
            id_number_mask: Set(id.as_ref().map(IdNumber::mask)),
            birth_date: Set(input.birth_date),
            ethnicity: Set(opt_text("input.ethnicity", input.ethnicity.as_deref(), 20).gql()?),
            address: Set(opt_text("input.address", input.address.as_deref(), 200).gql()?),
            phone: Set(opt_text("input.phone", input.phone.as_deref(), 30).gql()?),
            living_arrangement: Set(input.living_arrangement.map(Into::into)),
            key_case: Set(input.key_case.unwrap_or(false)),
            current_risk_level: Set(None),
            risk_rank: Set(0),
            risk_updated_at: Set(None),
            in_treatment: Set(false),
            fit_to_return: Set(None),
            ..Default::default()
        };
        let row = w
            .insert::<child::Entity, _>(am, Some(residence))
            .await
            .gql()?;
        add_difficulties(&mut w, row.id, &input.difficulty_categories)
            .await
            .gql()?;
        w.commit().await.gql()?;
        Ok(Some(Child(node(row))))
    }

    /// Updates a child's record. `expectedVersion` must be the version you read.
    async fn update_child(
        &self,
        ctx: &Context<'_>,
        id: ID,
        expected_version: i32,
        input: UpdateChildInput,
    ) -> GqlResult<Option<Child>> {
        let fields = provided(ctx, "input");
        let mut w = WriteCtx::begin(ctx).await.gql()?;
        let id = parse_id("id", &id).gql()?;
        let old = w.child(id).await.gql()?;
        w.authorize(
            "UpdateChildInput",
            &fields,
            &w.facts(
                old.responsible_org_id.or(old.owner_org_id),
                Some(old.owner_agency),
                ClassSet::EMPTY,
            ),
        )
        .gql()?;
        let mut am = old.clone().into_active_model();
        if let Some(n) = &input.name {
            let n = text("input.name", n, 50).gql()?;
            am.display_name = Set(display_name(&n));
            am.name = Set(n);
        }
        if let Some(s) = input.status {
            am.status = Set(s.into());
        }
        if let Some(c) = &input.residence_region_code {
            let r = village(&w, "input.residenceRegionCode", c).await.gql()?;
            am.residence_region_code = Set(r);
            am.city_code = Set(truncate(r, 4));
            am.county_code = Set(truncate(r, 6));
        }
        if input.ethnicity.is_some() {
            am.ethnicity = Set(opt_text("input.ethnicity", input.ethnicity.as_deref(), 20).gql()?);
        }
        if input.address.is_some() {
            am.address = Set(opt_text("input.address", input.address.as_deref(), 200).gql()?);
        }
        if input.phone.is_some() {
            am.phone = Set(opt_text("input.phone", input.phone.as_deref(), 30).gql()?);
        }
        if let Some(l) = input.living_arrangement {
            am.living_arrangement = Set(Some(l.into()));
        }
        if let Some(k) = input.key_case {
            am.key_case = Set(k);
        }
        if let Some(o) = input.responsible_organization_id.as_deref() {
            am.responsible_org_id =
                Set(Some(parse_id("input.responsibleOrganizationId", o).gql()?));
        }
        let row = w
            .update::<child::Entity, _>(&old, am, expected_version, Some(old.residence_region_code))
            .await
            .gql()?;
        if let Some(cats) = &input.add_difficulty_categories {
            add_difficulties(&mut w, row.id, cats).await.gql()?;
        }
        w.commit().await.gql()?;
        Ok(Some(Child(node(row))))
    }

    /// Returns a child's ID number in clear, once, for a stated reason. Only roles the policy
    /// allows to reveal may ask; every reveal is audited.
    async fn reveal_id_number(
        &self,
        ctx: &Context<'_>,
        child_id: ID,
        reason: String,
    ) -> GqlResult<Option<String>> {
        let mut w = WriteCtx::begin(ctx).await.gql()?;
        let child_id = parse_id("childId", &child_id).gql()?;
        let reason = text("reason", &reason, 1000).gql()?;
        let Some(fid) = w.rc.app.fields.get("Child", "idNumber") else {
            return Err(ApiError::forbidden("Child.idNumber has no policy entry").into_gql());
        };
        if !w.rc.policy.may_reveal(w.rc.role, fid) {
            return Err(ApiError::Forbidden {
                reason: format!("role {} may not reveal ID numbers", w.rc.principal.role),
                field: Some("Child.idNumber".into()),
            }
            .into_gql());
        }
        let c = w.child(child_id).await.gql()?;
        let clear = match &c.id_number_enc {
            Some(enc) => Some(
                w.rc.app
                    .vault
                    .decrypt(enc)
                    .map_err(|e| {
                        ApiError::Internal(anyhow::anyhow!("id number of {child_id}: {e}"))
                    })
                    .gql()?,
            ),
            None => None,
        };
        w.audit_write(
            "Child",
            child_id,
            Some(child_id),
            "REVEAL_ID",
            vec!["idNumber".into()],
            Some(reason),
        );
        w.commit().await.gql()?;
        Ok(clear)
    }
}

async fn add_difficulties(
    w: &mut WriteCtx,
    child_id: uuid::Uuid,
    cats: &[DifficultyInput],
) -> ApiResult<()> {
    for (i, d) in cats.iter().enumerate() {
        if let Some(to) = d.valid_to {
            if to < d.valid_from {
                return Err(ApiError::bad_input(
                    format!("input.difficultyCategories[{i}].validTo"),
                    "must not be before validFrom",
                ));
            }
        }
        let am = child_difficulty::ActiveModel {
            id: NotSet,
            child_id: Set(child_id),
            category: Set(ECat::from(d.category)),
            valid_from: Set(d.valid_from),
            valid_to: Set(d.valid_to),
            verified_by: Set(Some(w.rc.principal.sub.clone())),
            verified_at: Set(Some(w.at)),
            ..Default::default()
        };
        w.insert::<child_difficulty::Entity, _>(am, None).await?;
    }
    if !cats.is_empty() {
        use crate::write::derived::{refresh_period, Which};
        let stmt = refresh_period(
            w.txn.get_database_backend(),
            w.at.date_naive(),
            Which::Child(child_id),
        );
        w.txn.execute_raw(stmt).await?;
    }
    Ok(())
}
