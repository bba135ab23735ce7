//! A concern or mandatory report (发现报告 / 强制报告).

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[allow(unused_imports)]
use crate::enums::*;

/// A concern or mandatory report (发现报告 / 强制报告).
#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "reports")]
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
    pub child_id: Option<Uuid>,
    pub region_code: Option<i64>,
    pub reporter: Option<String>,
    pub reporter_org_id: Option<Uuid>,
    pub anonymous_caller: bool,
    pub category: ReportCategory,
    pub occurred_at: Option<DateTimeUtc>,
    pub discovered_at: DateTimeUtc,
    pub reported_at: DateTimeUtc,
    pub reported_to: Option<Json>,
    pub police_ref: Option<String>,
    pub urgency: Urgency,
    pub due_by: DateTimeUtc,
    pub status: ReportStatus,
    #[sea_orm(column_type = "Text")]
    pub description: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
