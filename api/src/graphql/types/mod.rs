//! GraphQL output types. Each wraps a stored row in a `Node` and resolves every field through
//! the guard, so no field can be served without a policy decision.

pub mod audit;
pub mod child;
pub mod connection;
pub mod directory;
pub mod history;
pub mod indicators;
pub mod records;

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::Context;
use sea_orm::{EntityTrait, FromQueryResult};
use uuid::Uuid;

use crate::authz::guard::Siblings;
use crate::authz::{Node, Record};
use crate::error::{GqlResult, IntoGql};
use crate::service::relations::{load_by_key, ListSpec};

/// A nested list loaded for a whole batch of parents.
pub struct Loaded<M> {
    pub by_key: HashMap<Uuid, Vec<Arc<M>>>,
    pub siblings: Arc<Siblings<M>>,
}

/// Loads `relation` of `parent` (and, in the same statement, of all its siblings) and returns
/// the parent's rows as nodes that share their own sibling batch.
pub async fn list_nodes<P, E>(
    ctx: &Context<'_>,
    parent: &Node<P>,
    relation: &'static str,
    spec: &'static ListSpec,
    limit: u64,
    parent_key: fn(&P) -> Uuid,
    key_of: fn(&E::Model) -> Option<Uuid>,
) -> GqlResult<Vec<Node<E::Model>>>
where
    P: Record,
    E: EntityTrait,
    E::Model: FromQueryResult + Record,
{
    let db = read_db(ctx).clone();
    let loaded = parent
        .siblings
        .load(relation, limit, |rows| async move {
            let keys: Vec<Uuid> = rows.iter().map(|r| parent_key(r)).collect();
            let by_key = load_by_key::<E, _>(&db, spec, &keys, limit, key_of).await?;
            let all: Vec<Arc<E::Model>> = by_key.values().flatten().cloned().collect();
            Ok(Loaded {
                by_key,
                siblings: Siblings::new(all),
            })
        })
        .await
        .gql()?;
    let key = parent_key(&parent.row);
    Ok(loaded
        .by_key
        .get(&key)
        .map(|rows| {
            rows.iter()
                .map(|r| Node::new(r.clone(), loaded.siblings.clone(), parent.children.clone()))
                .collect()
        })
        .unwrap_or_default())
}

/// Default and maximum length of nested lists.
pub const NESTED_DEFAULT: u64 = 20;
pub const NESTED_MAX: u64 = 100;

/// Validates a nested list's `first` argument.
pub fn nested_limit(first: Option<i32>) -> GqlResult<u64> {
    match first {
        None => Ok(NESTED_DEFAULT),
        Some(n) if n < 0 => {
            Err(crate::error::ApiError::bad_input("first", "must not be negative").into_gql())
        }
        Some(n) if n as u64 > NESTED_MAX => Err(crate::error::ApiError::bad_input(
            "first",
            format!("must be at most {NESTED_MAX} for nested lists"),
        )
        .into_gql()),
        Some(n) => Ok(n as u64),
    }
}

/// The request's database connection for reads.
pub fn read_db<'a>(ctx: &'a Context<'_>) -> &'a sea_orm::DatabaseConnection {
    &crate::authz::RequestCtx::of(ctx).app.db.read
}

/// Generates a GraphQL object over a `Node<Model>` with the bookkeeping fields every record
/// has (`id`, `createdAt`, …, and `childId` for child-owned records), plus the given fields.
macro_rules! record_object {
    ($(#[$m:meta])* $name:ident($model:path) { $($body:tt)* }) => {
        record_object!(@emit $(#[$m])* $name($model) {
            /// The record's child.
            async fn child_id(&self, ctx: &async_graphql::Context<'_>) -> $crate::error::GqlResult<Option<uuid::Uuid>> {
                self.0.read_opt(ctx, |m| $crate::authz::Record::child_id(m)).await
            }
            $($body)*
        });
    };
    (@nochild $(#[$m:meta])* $name:ident($model:path) { $($body:tt)* }) => {
        record_object!(@emit $(#[$m])* $name($model) { $($body)* });
    };
    (@emit $(#[$m:meta])* $name:ident($model:path) { $($body:tt)* }) => {
        $(#[$m])*
        pub struct $name(pub $crate::authz::Node<$model>);

        $(#[$m])*
        #[async_graphql::Object]
        impl $name {
            /// Record id (UUID).
            async fn id(&self, ctx: &async_graphql::Context<'_>) -> $crate::error::GqlResult<async_graphql::ID> {
                self.0.decide(ctx).await?;
                Ok(async_graphql::ID(self.0.row.id.to_string()))
            }
            /// When the record was created.
            async fn created_at(&self, ctx: &async_graphql::Context<'_>) -> $crate::error::GqlResult<Option<chrono::DateTime<chrono::Utc>>> {
                self.0.read(ctx, |m| m.created_at).await
            }
            /// Who created the record (token subject).
            async fn created_by(&self, ctx: &async_graphql::Context<'_>) -> $crate::error::GqlResult<Option<String>> {
                self.0.read(ctx, |m| m.created_by.clone()).await
            }
            /// When the record was last changed.
            async fn updated_at(&self, ctx: &async_graphql::Context<'_>) -> $crate::error::GqlResult<Option<chrono::DateTime<chrono::Utc>>> {
                self.0.read(ctx, |m| m.updated_at).await
            }
            /// Who changed the record last.
            async fn updated_by(&self, ctx: &async_graphql::Context<'_>) -> $crate::error::GqlResult<Option<String>> {
                self.0.read(ctx, |m| m.updated_by.clone()).await
            }
            /// Optimistic-concurrency version; send it back as `expectedVersion` when updating.
            async fn version(&self, ctx: &async_graphql::Context<'_>) -> $crate::error::GqlResult<Option<i32>> {
                self.0.read(ctx, |m| m.version).await
            }
            /// When the record was archived (soft delete), if it was.
            async fn archived_at(&self, ctx: &async_graphql::Context<'_>) -> $crate::error::GqlResult<Option<chrono::DateTime<chrono::Utc>>> {
                self.0.read_opt(ctx, |m| m.archived_at).await
            }
            $($body)*
        }
    };
}
pub(crate) use record_object;

/// Resolves a nested organization of a row; all siblings' organizations load in one statement.
pub async fn org_of<M: Record>(
    ctx: &Context<'_>,
    node: &Node<M>,
    relation: &'static str,
    id_of: fn(&M) -> Option<Uuid>,
) -> GqlResult<Option<directory::Organization>> {
    let Some(id) = id_of(&node.row) else {
        return Ok(None);
    };
    let db = read_db(ctx).clone();
    let map = node
        .siblings
        .load(relation, 0, |rows| async move {
            let ids: Vec<Uuid> = rows.iter().filter_map(|r| id_of(r)).collect();
            crate::service::directory::organizations_by_id(&db, ids).await
        })
        .await
        .gql()?;
    Ok(map
        .get(&id)
        .map(|o| directory::Organization::single(o.clone())))
}
