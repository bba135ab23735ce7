//! Relay connections for `children`: edges with opaque cursors, `pageInfo`, and a `totalCount`
//! that is counted (within the scope and filter) only when asked for.

use std::sync::Arc;

use async_graphql::{Context, Object};
use tokio::sync::OnceCell;

use super::child::Child;
use crate::error::{GqlResult, IntoGql};
use crate::graphql::types::directory::dir_check;
use crate::service::children::{self as svc, Filter, Sort};

/// Deferred `totalCount`: the count query runs only if the field is selected.
pub struct Counter {
    pub scope: sea_orm::Condition,
    pub filter: Filter,
    pub value: OnceCell<u64>,
}

/// A page of children.
pub struct ChildConnection {
    pub nodes: Vec<Child>,
    pub cursors: Vec<String>,
    pub has_next: bool,
    pub has_previous: bool,
    pub counter: Arc<Counter>,
    pub sort: Sort,
}

/// An edge: a child and its cursor.
pub struct ChildEdge {
    node: Child,
    cursor: String,
}

#[Object]
impl ChildConnection {
    /// Edges of this page.
    async fn edges(&self, ctx: &Context<'_>) -> GqlResult<Option<Vec<ChildEdge>>> {
        dir_check(ctx, "ChildConnection")?;
        Ok(Some(
            self.nodes
                .iter()
                .zip(&self.cursors)
                .map(|(n, c)| ChildEdge {
                    node: Child(n.0.clone()),
                    cursor: c.clone(),
                })
                .collect(),
        ))
    }
    /// The children of this page, without cursors.
    async fn nodes(&self, ctx: &Context<'_>) -> GqlResult<Option<Vec<Child>>> {
        dir_check(ctx, "ChildConnection")?;
        Ok(Some(
            self.nodes.iter().map(|n| Child(n.0.clone())).collect(),
        ))
    }
    /// Paging state.
    async fn page_info(&self, ctx: &Context<'_>) -> GqlResult<Option<PageInfo>> {
        dir_check(ctx, "ChildConnection")?;
        Ok(Some(PageInfo {
            has_next: self.has_next,
            has_previous: self.has_previous,
            start: self.cursors.first().cloned(),
            end: self.cursors.last().cloned(),
        }))
    }
    /// How many children in your scope match the filter (all pages).
    async fn total_count(&self, ctx: &Context<'_>) -> GqlResult<Option<i64>> {
        dir_check(ctx, "ChildConnection")?;
        let c = &self.counter;
        let db = super::read_db(ctx);
        let n = c
            .value
            .get_or_try_init(|| svc::count(db, c.scope.clone(), &c.filter))
            .await
            .gql()?;
        Ok(Some(*n as i64))
    }
}

#[Object]
impl ChildEdge {
    /// Opaque cursor of this child; pass it as `after` to continue.
    async fn cursor(&self, ctx: &Context<'_>) -> GqlResult<Option<String>> {
        dir_check(ctx, "ChildEdge")?;
        Ok(Some(self.cursor.clone()))
    }
    /// The child.
    async fn node(&self, ctx: &Context<'_>) -> GqlResult<Option<Child>> {
        dir_check(ctx, "ChildEdge")?;
        Ok(Some(Child(self.node.0.clone())))
    }
}

/// Relay page information.
pub struct PageInfo {
    has_next: bool,
    has_previous: bool,
    start: Option<String>,
    end: Option<String>,
}

#[Object]
impl PageInfo {
    /// Whether more children follow.
    async fn has_next_page(&self, ctx: &Context<'_>) -> GqlResult<Option<bool>> {
        dir_check(ctx, "PageInfo")?;
        Ok(Some(self.has_next))
    }
    /// Whether this page started after a cursor.
    async fn has_previous_page(&self, ctx: &Context<'_>) -> GqlResult<Option<bool>> {
        dir_check(ctx, "PageInfo")?;
        Ok(Some(self.has_previous))
    }
    /// Cursor of the first edge.
    async fn start_cursor(&self, ctx: &Context<'_>) -> GqlResult<Option<String>> {
        dir_check(ctx, "PageInfo")?;
        Ok(self.start.clone())
    }
    /// Cursor of the last edge.
    async fn end_cursor(&self, ctx: &Context<'_>) -> GqlResult<Option<String>> {
        dir_check(ctx, "PageInfo")?;
        Ok(self.end.clone())
    }
}

impl ChildConnection {
    /// The sort this page was listed in.
    pub fn sort(&self) -> Sort {
        self.sort
    }
}
