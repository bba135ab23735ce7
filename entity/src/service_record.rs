//! A service delivered (服务记录); anonymous hotline calls have no child.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[allow(unused_imports)]
use crate::enums::*;

/// A service delivered (服务记录); anonymous hotline calls have no child.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "service_records")]
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
    pub kind: ServiceKind,
    pub organization_id: Option<Uuid>,
    pub provider: String,
    pub occurred_at: DateTimeUtc,
    pub duration_minutes: Option<i32>,
    pub care_plan_id: Option<Uuid>,
    pub referral_id: Option<Uuid>,
    #[sea_orm(column_type = "Text")]
    pub summary: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
