//! Break-glass (DHIS2's pattern): a role allowed CRISIS opens emergency access to one child
//! outside its scope, with a reason, for a few hours; every read under it is flagged; the owning
//! organization is notified; a supervisor reviews every grant.

use async_graphql::{Context, Object, ID};
use carehub_entity::enums::{BreakGlassOutcome as EOutcome, Purpose};
use carehub_entity::{break_glass_grant, child};
use chrono::Duration;
use sea_orm::ActiveValue::Set;
use sea_orm::{ActiveModelTrait, EntityTrait, IntoActiveModel};

use super::text;
use crate::error::{ApiError, GqlResult, IntoGql};
use crate::graphql::enums::BreakGlassOutcome;
use crate::graphql::query::parse_id;
use crate::graphql::types::audit::BreakGlassGrant;
use crate::write::WriteCtx;

#[derive(Default)]
pub struct AccessMutation;

#[Object]
impl AccessMutation {
    /// Opens emergency access to one child for a stated emergency (send `X-Purpose: CRISIS`).
    /// Never opens abuse records; every read under it is flagged BREAK_GLASS in the audit.
    async fn request_emergency_access(
        &self,
        ctx: &Context<'_>,
        child_id: ID,
        reason: String,
    ) -> GqlResult<Option<BreakGlassGrant>> {
        let mut w = WriteCtx::begin(ctx).await.gql()?;
        let info = w.rc.policy.role_info(w.rc.role);
        if !info.break_glass {
            return Err(ApiError::forbidden(format!(
                "role {} may not open emergency access",
                w.rc.principal.role
            ))
            .into_gql());
        }
        if w.rc.principal.purpose.as_str() != Purpose::Crisis.as_str() {
            return Err(ApiError::forbidden(
                "emergency access needs the purpose of use CRISIS (X-Purpose: CRISIS)",
            )
            .into_gql());
        }
        let reason = text("reason", &reason, 2000).gql()?;
        if reason.chars().count() < 10 {
            return Err(ApiError::bad_input(
                "reason",
                "describe the emergency (at least 10 characters)",
            )
            .into_gql());
        }
        let child_id = parse_id("childId", &child_id).gql()?;
        let c = child::Entity::find_by_id(child_id)
            .one(&w.txn)
            .await
            .map_err(ApiError::from)
            .gql()?
            .ok_or_else(|| ApiError::NotFound(format!("no child {child_id}")).into_gql())?;
        let hours = w.rc.app.settings.break_glass_hours as i64;
        let am = break_glass_grant::ActiveModel {
            child_id: Set(c.id),
            sub: Set(w.rc.principal.sub.clone()),
            agency: Set(w.rc.agency.as_str().to_owned()),
            role: Set(w.rc.principal.role.clone()),
            org_id: Set(w.rc.org),
            reason: Set(reason.clone()),
            granted_at: Set(w.at),
            expires_at: Set(w.at + Duration::hours(hours)),
            review_outcome: Set(None),
            review_note: Set(None),
            reviewed_by: Set(None),
            reviewed_at: Set(None),
            ..Default::default()
        };
        // The change event notifies the owning organization's subscribers.
        let row = w
            .insert::<break_glass_grant::Entity, _>(am, Some(c.residence_region_code))
            .await
            .gql()?;
        w.audit_write(
            "Child",
            c.id,
            Some(c.id),
            "BREAK_GLASS",
            Vec::new(),
            Some(reason),
        );
        w.commit().await.gql()?;
        Ok(Some(BreakGlassGrant(row)))
    }

    /// A supervisor records the outcome of a break-glass grant's review.
    async fn review_emergency_access(
        &self,
        ctx: &Context<'_>,
        id: ID,
        outcome: BreakGlassOutcome,
        note: String,
    ) -> GqlResult<Option<BreakGlassGrant>> {
        let mut w = WriteCtx::begin(ctx).await.gql()?;
        let note = text("note", &note, 4000).gql()?;
        let id = parse_id("id", &id).gql()?;
        let g = break_glass_grant::Entity::find_by_id(id)
            .one(&w.txn)
            .await
            .map_err(ApiError::from)
            .gql()?
            .ok_or_else(|| ApiError::NotFound(format!("no grant {id}")).into_gql())?;
        let c = child::Entity::find_by_id(g.child_id)
            .one(&w.txn)
            .await
            .map_err(ApiError::from)
            .gql()?;
        let in_region = crate::domain::region::RegionPrefix::parse(&w.rc.principal.region)
            .map(|p| {
                c.as_ref()
                    .is_some_and(|c| p.contains(c.residence_region_code))
            })
            .unwrap_or(false);
        if !in_region {
            return Err(
                ApiError::NotFound(format!("no grant {id} in your jurisdiction")).into_gql(),
            );
        }
        if g.review_outcome.is_some() {
            return Err(ApiError::bad_input("id", "the grant was already reviewed").into_gql());
        }
        if g.sub == w.rc.principal.sub {
            return Err(
                ApiError::forbidden("nobody reviews their own emergency access").into_gql(),
            );
        }
        let mut am = g.clone().into_active_model();
        am.review_outcome = Set(Some(EOutcome::from(outcome)));
        am.review_note = Set(Some(note.clone()));
        am.reviewed_by = Set(Some(w.rc.principal.sub.clone()));
        am.reviewed_at = Set(Some(w.at));
        am.updated_at = Set(w.at);
        am.updated_by = Set(w.rc.principal.sub.clone());
        let row = am.update(&w.txn).await.map_err(ApiError::from).gql()?;
        w.audit_write(
            "BreakGlassGrant",
            row.id,
            Some(row.child_id),
            "REVIEW",
            vec!["reviewOutcome".into()],
            Some(note),
        );
        w.commit().await.gql()?;
        Ok(Some(BreakGlassGrant(row)))
    }
}
