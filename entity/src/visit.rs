//! A home visit, talk or follow-up, planned (due) or done.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[allow(unused_imports)]
use crate::enums::*;

/// A home visit, talk or follow-up, planned (due) or done.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "visits")]
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
    pub kind: VisitKind,
    pub due_date: Option<Date>,
    pub done_at: Option<DateTimeUtc>,
    pub visitor: Option<String>,
    pub organization_id: Option<Uuid>,
    pub stressors: Option<Json>,
    #[sea_orm(column_type = "Text")]
    pub observations: Option<String>,
    pub next_due: Option<Date>,
    pub referral_id: Option<Uuid>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
