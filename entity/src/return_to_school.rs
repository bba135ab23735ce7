//! A return to school after treatment or leave (复学).

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[allow(unused_imports)]
use crate::enums::*;

/// A return to school after treatment or leave (复学).
#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "returns_to_school")]
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
    pub school_id: Uuid,
    pub treatment_episode_id: Option<Uuid>,
    #[sea_orm(column_type = "Text")]
    pub clearance: Option<String>,
    pub cleared_at: Option<DateTimeUtc>,
    pub cleared_by: Option<String>,
    #[sea_orm(column_type = "Text")]
    pub accommodations: Option<String>,
    pub return_date: Option<Date>,
    pub status: ReturnStatus,
    pub enrollment_id: Option<Uuid>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
