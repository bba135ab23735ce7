//! An outbox row: one committed change, published after commit; `cursor` orders the feed.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[allow(unused_imports)]
use crate::enums::*;

/// An outbox row: one committed change, published after commit; `cursor` orders the feed.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "change_events")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub cursor: Option<i64>,
    pub entity: String,
    pub record_id: Uuid,
    pub child_id: Option<Uuid>,
    pub op: String,
    pub changed: Json,
    pub actor: String,
    pub actor_agency: String,
    pub actor_org: Option<String>,
    pub purpose: Option<String>,
    pub request_id: Option<String>,
    pub region_code: Option<i64>,
    pub at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
