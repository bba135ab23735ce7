//! A GraphQL document on a partner client's safelist, by SHA-256.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[allow(unused_imports)]
use crate::enums::*;

/// A GraphQL document on a partner client's safelist, by SHA-256.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "persisted_operations")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i32,
    pub client_id: String,
    pub sha256: String,
    pub operation_name: Option<String>,
    #[sea_orm(column_type = "Text")]
    pub document: String,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
