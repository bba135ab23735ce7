//! A treatment episode (诊疗 / 住院) at a health facility.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[allow(unused_imports)]
use crate::enums::*;

/// A treatment episode (诊疗 / 住院) at a health facility.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "treatment_episodes")]
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
    pub child_id: Uuid,
    pub organization_id: Uuid,
    pub setting: TreatmentSetting,
    pub admitted_at: DateTimeUtc,
    pub discharged_at: Option<DateTimeUtc>,
    pub diagnosis_code: Option<String>,
    pub severe_mental_disorder: bool,
    #[sea_orm(column_type = "Text")]
    pub discharge_summary: Option<String>,
    pub clinician: Option<String>,
    pub fit_to_return: Option<bool>,
    #[sea_orm(column_type = "Text")]
    pub follow_up_advice: Option<String>,
    pub next_appointment: Option<DateTimeUtc>,
    pub referral_id: Option<Uuid>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
