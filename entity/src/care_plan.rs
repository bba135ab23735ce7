//! A care plan (一生一策 / 分类关爱方案); approved versions are immutable.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[allow(unused_imports)]
use crate::enums::*;

/// A care plan (一生一策 / 分类关爱方案); approved versions are immutable.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "care_plans")]
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
    pub kind: CarePlanKind,
    pub trigger_screening_id: Option<Uuid>,
    pub trigger_report_id: Option<Uuid>,
    pub risk_level_at_start: Option<RiskLevel>,
    #[sea_orm(column_type = "Text")]
    pub goals: Option<String>,
    pub review_due: Option<Date>,
    pub approver: Option<String>,
    pub approved_at: Option<DateTimeUtc>,
    pub status: CarePlanStatus,
    pub plan_version: i32,
    pub previous_version_id: Option<Uuid>,
    pub lead_worker: Option<String>,
    pub organization_id: Option<Uuid>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
