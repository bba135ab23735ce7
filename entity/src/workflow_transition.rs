//! One status transition of a workflow (who, when, why).

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[allow(unused_imports)]
use crate::enums::*;

/// One status transition of a workflow (who, when, why).
#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "workflow_transitions")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub entity: String,
    pub record_id: Uuid,
    pub child_id: Option<Uuid>,
    pub from_status: Option<String>,
    pub to_status: String,
    pub at: DateTimeUtc,
    pub actor: String,
    pub actor_org: Option<String>,
    pub note: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
