//! A mental-health screening (心理健康测评) and the risk level it found.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[allow(unused_imports)]
use crate::enums::*;

/// A mental-health screening (心理健康测评) and the risk level it found.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "screenings")]
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
    pub school_year: i32,
    pub instrument: Instrument,
    pub administered_at: DateTimeUtc,
    pub organization_id: Option<Uuid>,
    #[sea_orm(column_type = "Double")]
    pub score: Option<f64>,
    pub item_answers: Option<Json>,
    #[sea_orm(column_type = "Text")]
    pub notes: Option<String>,
    pub risk_level: RiskLevel,
    #[sea_orm(column_type = "Text")]
    pub recommended_next_step: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
