//! An organization (school, hospital, institution, office) of one agency.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[allow(unused_imports)]
use crate::enums::*;

/// An organization (school, hospital, institution, office) of one agency.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "organizations")]
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
    pub name: String,
    pub kind: OrganizationKind,
    pub agency: Agency,
    pub region_code: i64,
    pub contact_name: Option<String>,
    pub contact_phone: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
