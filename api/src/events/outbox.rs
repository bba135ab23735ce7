//! Change events written by background jobs rather than mutations (the sweep moving a care plan
//! to REVIEW_DUE), so subscriptions and the change feed see those changes too. They go into the
//! outbox inside the job's transaction, like a mutation's; the relay numbers them after commit.

use carehub_entity::change_event;
use chrono::{DateTime, Utc};
use sea_orm::ActiveValue::{NotSet, Set};
use sea_orm::{ConnectionTrait, DbErr, EntityTrait};
use uuid::Uuid;

/// Subject recorded as the actor of system changes.
pub const SYSTEM_ACTOR: &str = "system";

/// Writes one outbox row for a change the system made: `fields` maps each changed column to
/// `[old, new]`, as mutations record them.
pub async fn record_system_change<C: ConnectionTrait>(
    db: &C,
    entity: &str,
    record_id: Uuid,
    child_id: Option<Uuid>,
    version: i32,
    fields: serde_json::Value,
    at: DateTime<Utc>,
) -> Result<(), DbErr> {
    change_event::Entity::insert(change_event::ActiveModel {
        id: NotSet,
        cursor: Set(None),
        entity: Set(entity.to_owned()),
        record_id: Set(record_id),
        child_id: Set(child_id),
        op: Set("UPDATE".to_owned()),
        changed: Set(serde_json::json!({ "version": version, "fields": fields })),
        actor: Set(SYSTEM_ACTOR.to_owned()),
        actor_agency: Set("SUPERVISION".to_owned()),
        actor_org: Set(None),
        purpose: Set(None),
        request_id: Set(None),
        // The router finds the child's region.
        region_code: Set(None),
        at: Set(at),
    })
    .exec(db)
    .await?;
    Ok(())
}
