//! Visits: plan a visit task, record a visit done, update one, archive one.

use async_graphql::{Context, InputObject, Object, ID};
use carehub_entity::enums::{Stressor as EStressor, VisitKind as EVisitKind};
use carehub_entity::visit;
use carehub_policy::ClassSet;
use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::ActiveValue::{NotSet, Set};
use sea_orm::IntoActiveModel;

use super::{not_future, opt_text};
use crate::authz::{access::ChildSet, guard::Siblings, Node};
use crate::error::{ApiError, GqlResult, IntoGql};
use crate::graphql::enums::{Stressor, VisitKind};
use crate::graphql::query::parse_id;
use crate::graphql::types::records::Visit;
use crate::write::{provided, WriteCtx};

/// A visit planned (`dueDate`) or done (`doneAt`).
#[derive(InputObject)]
pub struct RecordVisitInput {
    pub child_id: ID,
    pub kind: VisitKind,
    pub due_date: Option<NaiveDate>,
    pub done_at: Option<DateTime<Utc>>,
    /// Defaults to the caller.
    pub visitor: Option<String>,
    pub stressors: Option<Vec<Stressor>>,
    pub observations: Option<String>,
    pub next_due: Option<NaiveDate>,
}

/// Changes to a visit (partial).
#[derive(InputObject)]
pub struct UpdateVisitInput {
    pub due_date: Option<NaiveDate>,
    pub done_at: Option<DateTime<Utc>>,
    pub stressors: Option<Vec<Stressor>>,
    pub observations: Option<String>,
    pub next_due: Option<NaiveDate>,
}

fn stressors_json(s: &[Stressor]) -> serde_json::Value {
    serde_json::json!(s
        .iter()
        .map(|x| EStressor::from(*x).as_str())
        .collect::<Vec<_>>())
}

/// Wraps a written row for the response (decided like any read).
pub fn node<M: crate::authz::Record>(m: M) -> Node<M> {
    let row = std::sync::Arc::new(m);
    let kids = ChildSet::new(row.child_id().into_iter().collect());
    Node::new(row.clone(), Siblings::new(vec![row]), kids)
}

#[derive(Default)]
pub struct VisitMutation;

#[Object]
impl VisitMutation {
    /// Plans or records a visit (家访 / 走访 / 随访) of a child in your scope.
    async fn record_visit(
        &self,
        ctx: &Context<'_>,
        input: RecordVisitInput,
    ) -> GqlResult<Option<Visit>> {
        let fields = provided(ctx, "input");
        let mut w = WriteCtx::begin(ctx).await.gql()?;
        let child_id = parse_id("input.childId", &input.child_id).gql()?;
        let child = w.child(child_id).await.gql()?;
        let org = w.rc.org;
        w.authorize(
            "RecordVisitInput",
            &fields,
            &w.facts(org, Some(w.rc.agency), ClassSet::EMPTY),
        )
        .gql()?;
        if input.due_date.is_none() && input.done_at.is_none() {
            return Err(ApiError::bad_input(
                "input.dueDate",
                "give dueDate (a planned visit) or doneAt (a visit done)",
            )
            .into_gql());
        }
        if let Some(t) = input.done_at {
            not_future("input.doneAt", t).gql()?;
        }
        let observations =
            opt_text("input.observations", input.observations.as_deref(), 10_000).gql()?;
        let am = visit::ActiveModel {
            id: NotSet,
            child_id: Set(child_id),
            kind: Set(EVisitKind::from(input.kind)),
            due_date: Set(input.due_date),
            done_at: Set(input.done_at),
            visitor: Set(Some(
                input.visitor.unwrap_or_else(|| w.rc.principal.sub.clone()),
            )),
            organization_id: Set(org),
            stressors: Set(input.stressors.as_deref().map(stressors_json)),
            observations: Set(observations),
            next_due: Set(input.next_due),
            referral_id: Set(None),
            ..Default::default()
        };
        let row = w
            .insert::<visit::Entity, _>(am, Some(child.residence_region_code))
            .await
            .gql()?;
        crate::write::flags::after_visit(&mut w, &row, true)
            .await
            .gql()?;
        w.commit().await.gql()?;
        Ok(Some(Visit(node(row))))
    }

    /// Updates a visit (e.g. records it done). `expectedVersion` must be the version you read.
    async fn update_visit(
        &self,
        ctx: &Context<'_>,
        id: ID,
        expected_version: i32,
        input: UpdateVisitInput,
    ) -> GqlResult<Option<Visit>> {
        let fields = provided(ctx, "input");
        let mut w = WriteCtx::begin(ctx).await.gql()?;
        let id = parse_id("id", &id).gql()?;
        let old = w.record::<visit::Entity>(id).await.gql()?;
        w.authorize(
            "UpdateVisitInput",
            &fields,
            &w.facts(old.organization_id, Some(old.owner_agency), ClassSet::EMPTY),
        )
        .gql()?;
        if let Some(t) = input.done_at {
            not_future("input.doneAt", t).gql()?;
        }
        let mut am = old.clone().into_active_model();
        if input.due_date.is_some() {
            am.due_date = Set(input.due_date);
        }
        if input.done_at.is_some() {
            am.done_at = Set(input.done_at);
        }
        if let Some(s) = &input.stressors {
            am.stressors = Set(Some(stressors_json(s)));
        }
        if input.observations.is_some() {
            am.observations =
                Set(opt_text("input.observations", input.observations.as_deref(), 10_000).gql()?);
        }
        if input.next_due.is_some() {
            am.next_due = Set(input.next_due);
        }
        let child = w.child(old.child_id).await.gql()?;
        let row = w
            .update::<visit::Entity, _>(
                &old,
                am,
                expected_version,
                Some(child.residence_region_code),
            )
            .await
            .gql()?;
        crate::write::flags::after_visit(&mut w, &row, false)
            .await
            .gql()?;
        w.commit().await.gql()?;
        Ok(Some(Visit(node(row))))
    }

    /// Archives a visit recorded in error (soft delete; the history keeps it).
    async fn archive_visit(
        &self,
        ctx: &Context<'_>,
        id: ID,
        expected_version: i32,
        reason: String,
    ) -> GqlResult<Option<Visit>> {
        let mut w = WriteCtx::begin(ctx).await.gql()?;
        let id = parse_id("id", &id).gql()?;
        let reason = super::text("reason", &reason, 1000).gql()?;
        let old = w.record::<visit::Entity>(id).await.gql()?;
        w.authorize(
            "Mutation",
            &["archiveVisit".to_owned()],
            &w.facts(old.organization_id, Some(old.owner_agency), ClassSet::EMPTY),
        )
        .gql()?;
        let mut am = old.clone().into_active_model();
        am.archived_at = Set(Some(w.at));
        let row = w
            .update::<visit::Entity, _>(&old, am, expected_version, None)
            .await
            .gql()?;
        w.audit_write(
            "Visit",
            row.id,
            Some(row.child_id),
            "ARCHIVE",
            vec!["archivedAt".into()],
            Some(reason),
        );
        w.commit().await.gql()?;
        Ok(Some(Visit(node(row))))
    }
}
