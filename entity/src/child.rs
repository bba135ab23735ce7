//! A child in difficulty: the row-scope anchor of the whole record.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[allow(unused_imports)]
use crate::enums::*;

/// A child in difficulty: the row-scope anchor of the whole record.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "children")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub created_at: DateTimeUtc,
    pub created_by: String,
    pub updated_at: DateTimeUtc,
    pub updated_by: String,
    pub version: i32,
    pub archived_at: Option<DateTimeUtc>,
    pub owner_agency: Agency,
    pub owner_org_id: Option<Uuid>,
    pub display_name: String,
    pub gender: Gender,
    pub birth_year_month: String,
    pub residence_region_code: i64,
    pub city_code: i64,
    pub county_code: i64,
    pub household_region_code: i64,
    pub status: ChildStatus,
    pub responsible_org_id: Option<Uuid>,
    pub name: String,
    pub id_number_enc: Option<String>,
    pub id_number_bidx: Option<String>,
    pub id_number_mask: Option<String>,
    pub birth_date: Date,
    pub ethnicity: Option<String>,
    #[sea_orm(column_type = "Text")]
    pub address: Option<String>,
    pub phone: Option<String>,
    pub living_arrangement: Option<LivingArrangement>,
    pub key_case: bool,
    pub current_risk_level: Option<RiskLevel>,
    pub risk_rank: i16,
    pub risk_updated_at: Option<DateTimeUtc>,
    pub in_treatment: bool,
    pub fit_to_return: Option<bool>,
    /// First day of the child's difficulty period (the union of overlapping categories) that
    /// contains the day it was last refreshed, or else of the next one; `None`: no current or
    /// future category. Derived: refreshed by every difficulty write and, as days pass, by the
    /// sweep; lets the indicators count the population from an index alone.
    pub difficulty_from: Option<Date>,
    /// Last day of that period (`None` with a `difficulty_from`: open-ended).
    pub difficulty_to: Option<Date>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
