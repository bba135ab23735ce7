//! The directory every role may read: regions and organizations.

use std::collections::HashMap;
use std::sync::Arc;

use carehub_entity::{organization, region};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};
use uuid::Uuid;

use crate::domain::region::RegionPrefix;
use crate::error::ApiError;

/// Regions whose parent is `parent` (or the provinces when `None`).
pub async fn regions<C: ConnectionTrait>(
    db: &C,
    parent: Option<i64>,
) -> Result<Vec<region::Model>, ApiError> {
    let q = region::Entity::find();
    let q = match parent {
        Some(p) => q.filter(region::Column::ParentCode.eq(p)),
        None => q.filter(region::Column::ParentCode.is_null()),
    };
    Ok(q.order_by_asc(region::Column::Code)
        .limit(2000)
        .all(db)
        .await?)
}

/// Organizations matching the filter, inside a region prefix.
pub async fn organizations<C: ConnectionTrait>(
    db: &C,
    kind: Option<carehub_entity::enums::OrganizationKind>,
    agency: Option<carehub_entity::enums::Agency>,
    region: Option<&RegionPrefix>,
    limit: u64,
) -> Result<Vec<organization::Model>, ApiError> {
    let mut c = Condition::all().add(organization::Column::ArchivedAt.is_null());
    if let Some(k) = kind {
        c = c.add(organization::Column::Kind.eq(k));
    }
    if let Some(a) = agency {
        c = c.add(organization::Column::Agency.eq(a));
    }
    if let Some(p) = region {
        let (lo, hi) = p.range();
        c = c
            .add(organization::Column::RegionCode.gte(lo))
            .add(organization::Column::RegionCode.lt(hi));
    }
    Ok(organization::Entity::find()
        .filter(c)
        .order_by_asc(organization::Column::Name)
        .limit(limit)
        .all(db)
        .await?)
}

/// Organizations by id, for nested `organization` fields of a batch of rows.
pub async fn organizations_by_id<C: ConnectionTrait>(
    db: &C,
    ids: Vec<Uuid>,
) -> Result<HashMap<Uuid, Arc<organization::Model>>, ApiError> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let mut ids = ids;
    ids.sort();
    ids.dedup();
    Ok(organization::Entity::find()
        .filter(organization::Column::Id.is_in(ids))
        .all(db)
        .await?
        .into_iter()
        .map(|o| (o.id, Arc::new(o)))
        .collect())
}
