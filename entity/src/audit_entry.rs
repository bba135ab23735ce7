//! One hash-chained audit entry: who read or wrote what, why, and the decision.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[allow(unused_imports)]
use crate::enums::*;

/// One hash-chained audit entry: who read or wrote what, why, and the decision.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "audit_entries")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub writer: String,
    pub seq: i64,
    pub prev_hash: String,
    pub hash: String,
    pub at: DateTimeUtc,
    pub sub: String,
    pub agency: String,
    pub role: String,
    pub org: Option<String>,
    pub client_id: Option<String>,
    pub purpose: String,
    pub lawful_basis: Option<String>,
    pub action: String,
    pub operation: Option<String>,
    pub entity: Option<String>,
    pub record_ids: Json,
    pub child_id: Option<Uuid>,
    pub fields: Json,
    pub groups: Json,
    pub decision: String,
    pub request_id: Option<String>,
    pub client_addr: Option<String>,
    pub policy_version: String,
    pub region_code: Option<i64>,
    #[sea_orm(column_type = "Text")]
    pub reason: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
