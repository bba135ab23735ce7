//! A guardian or actual caregiver of a child.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[allow(unused_imports)]
use crate::enums::*;

/// A guardian or actual caregiver of a child.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "guardians")]
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
    pub name: String,
    pub relation: GuardianRelation,
    pub is_legal_guardian: bool,
    pub is_actual_caregiver: bool,
    pub phone: Option<String>,
    pub id_number_enc: Option<String>,
    pub id_number_bidx: Option<String>,
    pub id_number_mask: Option<String>,
    pub guardianship_status: GuardianshipStatus,
    #[sea_orm(column_type = "Text")]
    pub situation: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
