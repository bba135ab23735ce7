//! Warning flags (预警标记) raised and resolved by workers: a MANUAL flag on a child in scope, and
//! the resolution of any flag (a system flag whose cause persists is raised again by the sweep).

use async_graphql::{Context, Object, ID};
use carehub_entity::enums::FlagKind;
use carehub_entity::flag;
use carehub_policy::ClassSet;
use sea_orm::ActiveValue::{NotSet, Set};
use sea_orm::IntoActiveModel;

use super::guardian::live;
use super::text;
use super::visit::node;
use crate::error::{ApiError, GqlResult, IntoGql};
use crate::graphql::query::parse_id;
use crate::graphql::types::records::Flag;
use crate::write::WriteCtx;

#[derive(Default)]
pub struct FlagMutation;

#[Object]
impl FlagMutation {
    /// Raises a MANUAL warning flag on a child in your scope.
    async fn raise_flag(
        &self,
        ctx: &Context<'_>,
        child_id: ID,
        message: String,
    ) -> GqlResult<Option<Flag>> {
        let mut w = WriteCtx::begin(ctx).await.gql()?;
        let child_id = parse_id("childId", &child_id).gql()?;
        let child = w.child(child_id).await.gql()?;
        w.authorize(
            "Mutation",
            &["raiseFlag".to_owned()],
            &w.facts(w.rc.org, Some(w.rc.agency), ClassSet::EMPTY),
        )
        .gql()?;
        let message = text("message", &message, 2000).gql()?;
        let am = flag::ActiveModel {
            id: NotSet,
            child_id: Set(child_id),
            kind: Set(FlagKind::Manual),
            raised_by: Set(w.rc.principal.sub.clone()),
            message: Set(message),
            raised_at: Set(w.at),
            resolved_at: Set(None),
            resolution: Set(None),
            resolved_by: Set(None),
            subject_key: Set(None),
            ..Default::default()
        };
        let row = w
            .insert::<flag::Entity, _>(am, Some(child.residence_region_code))
            .await
            .gql()?;
        w.commit().await.gql()?;
        Ok(Some(Flag(node(row))))
    }

    /// Resolves a flag of any kind, saying how. `expectedVersion` must be the version you read.
    async fn resolve_flag(
        &self,
        ctx: &Context<'_>,
        id: ID,
        expected_version: i32,
        resolution: String,
    ) -> GqlResult<Option<Flag>> {
        let mut w = WriteCtx::begin(ctx).await.gql()?;
        let id = parse_id("id", &id).gql()?;
        let old = live::<flag::Entity>(&w, id).await.gql()?;
        w.authorize(
            "Mutation",
            &["resolveFlag".to_owned()],
            &w.facts(old.owner_org_id, Some(old.owner_agency), ClassSet::EMPTY),
        )
        .gql()?;
        let resolution = text("resolution", &resolution, 2000).gql()?;
        if let Some(at) = old.resolved_at {
            let by = old.resolved_by.as_deref().unwrap_or("unknown");
            return Err(ApiError::bad_input(
                "id",
                format!(
                    "the flag was already resolved at {} by {by}",
                    at.to_rfc3339()
                ),
            )
            .into_gql());
        }
        let child = w.child(old.child_id).await.gql()?;
        let mut am = old.clone().into_active_model();
        am.resolved_at = Set(Some(w.at));
        am.resolution = Set(Some(resolution));
        am.resolved_by = Set(Some(w.rc.principal.sub.clone()));
        let row = w
            .update::<flag::Entity, _>(
                &old,
                am,
                expected_version,
                Some(child.residence_region_code),
            )
            .await
            .gql()?;
        w.commit().await.gql()?;
        Ok(Some(Flag(node(row))))
    }
}
