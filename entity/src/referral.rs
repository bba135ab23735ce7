//! A referral between organizations (转介), up to treatment or down to the community.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[allow(unused_imports)]
use crate::enums::*;

/// A referral between organizations (转介), up to treatment or down to the community.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "referrals")]
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
    pub from_org_id: Uuid,
    pub to_org_id: Uuid,
    pub direction: ReferralDirection,
    pub parent_referral_id: Option<Uuid>,
    #[sea_orm(column_type = "Text")]
    pub reason: Option<String>,
    pub urgency: Urgency,
    pub authorized_view: Json,
    pub lawful_basis_id: Option<Uuid>,
    pub status: ReferralStatus,
    pub sla_due_at: Option<DateTimeUtc>,
    pub escalated: bool,
    pub sent_at: Option<DateTimeUtc>,
    pub responded_at: Option<DateTimeUtc>,
    pub closed_at: Option<DateTimeUtc>,
    #[sea_orm(column_type = "Text")]
    pub outcome_note: Option<String>,
    #[sea_orm(column_type = "Text")]
    pub rejection_reason: Option<String>,
    pub treatment_episode_id: Option<Uuid>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
