//! Derived fields of the child kept right inside every write's transaction: the current risk
//! level (latest screening or crisis event, never lowered from ORANGE/RED without the care-plan
//! approver's review), whether the child is in treatment, and whether the last discharge found
//! the child fit to return to school; and the child's current difficulty period.

use carehub_entity::enums::RiskLevel;
use carehub_entity::{child, crisis_event, screening, treatment_episode, workflow_transition};
use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::ActiveValue::Set;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseBackend, EntityTrait, IntoActiveModel, QueryFilter,
    QueryOrder, Statement,
};
use uuid::Uuid;

use super::WriteCtx;
use crate::error::ApiResult;

/// Severity rank stored in `children.risk_rank` (0 = never assessed).
pub fn rank(level: Option<RiskLevel>) -> i16 {
    match level {
        None => 0,
        Some(RiskLevel::Green) => 1,
        Some(RiskLevel::Yellow) => 2,
        Some(RiskLevel::Orange) => 3,
        Some(RiskLevel::Red) => 4,
    }
}

/// Entity name of approver risk reviews in `workflow_transitions`.
pub const RISK_REVIEW: &str = "ChildRisk";

/// Recomputes the derived fields of `child_id` and stores them if they changed.
pub async fn recompute_child(w: &mut WriteCtx, child_id: Uuid) -> ApiResult<child::Model> {
    let txn = &w.txn;
    let current = child::Entity::find_by_id(child_id)
        .one(txn)
        .await?
        .ok_or_else(|| crate::error::ApiError::NotFound(format!("no child {child_id}")))?;
    let latest_screening = screening::Entity::find()
        .filter(screening::Column::ChildId.eq(child_id))
        .filter(screening::Column::ArchivedAt.is_null())
        .order_by_desc(screening::Column::AdministeredAt)
        .one(txn)
        .await?
        .map(|s| (s.administered_at, s.risk_level));
    let latest_crisis = crisis_event::Entity::find()
        .filter(crisis_event::Column::ChildId.eq(child_id))
        .filter(crisis_event::Column::ArchivedAt.is_null())
        .order_by_desc(crisis_event::Column::OccurredAt)
        .one(txn)
        .await?
        .map(|c| (c.occurred_at, c.risk_level));
    let latest_review = workflow_transition::Entity::find()
        .filter(workflow_transition::Column::Entity.eq(RISK_REVIEW))
        .filter(workflow_transition::Column::RecordId.eq(child_id))
        .order_by_desc(workflow_transition::Column::At)
        .one(txn)
        .await?;
    let mut candidates: Vec<(DateTime<Utc>, RiskLevel)> =
        latest_screening.into_iter().chain(latest_crisis).collect();
    if let Some(r) = &latest_review {
        if let Some(level) = RiskLevel::parse(&r.to_status) {
            candidates.push((r.at, level));
        }
    }
    candidates.sort_by_key(|(t, _)| *t);
    let mut next = candidates.last().copied();
    // Lowering ORANGE/RED needs the approver's review recorded after the lowering result.
    if let (Some((at, level)), Some(cur)) = (next, current.current_risk_level) {
        let lowering =
            rank(Some(level)) < rank(Some(cur)) && rank(Some(cur)) >= rank(Some(RiskLevel::Orange));
        let reviewed = latest_review.as_ref().is_some_and(|r| r.at >= at);
        if lowering && !reviewed {
            next = Some((current.risk_updated_at.unwrap_or(at), cur));
        }
    }
    let open_episode = treatment_episode::Entity::find()
        .filter(treatment_episode::Column::ChildId.eq(child_id))
        .filter(treatment_episode::Column::ArchivedAt.is_null())
        .filter(treatment_episode::Column::DischargedAt.is_null())
        .one(txn)
        .await?
        .is_some();
    let last_discharge = treatment_episode::Entity::find()
        .filter(treatment_episode::Column::ChildId.eq(child_id))
        .filter(treatment_episode::Column::ArchivedAt.is_null())
        .filter(treatment_episode::Column::DischargedAt.is_not_null())
        .order_by_desc(treatment_episode::Column::DischargedAt)
        .one(txn)
        .await?;
    let level = next.map(|(_, l)| l);
    let fit = last_discharge.and_then(|e| e.fit_to_return);
    if current.current_risk_level == level
        && current.in_treatment == open_episode
        && current.fit_to_return == fit
    {
        return Ok(current);
    }
    let mut am = current.clone().into_active_model();
    am.current_risk_level = Set(level);
    am.risk_rank = Set(rank(level));
    am.risk_updated_at = Set(next.map(|(t, _)| t));
    am.in_treatment = Set(open_episode);
    am.fit_to_return = Set(fit);
    // Derived fields do not bump the version: they are not anyone's edit.
    Ok(am.update(txn).await?)
}

/// Refreshes `children.difficulty_from/_to` — the difficulty period (the union of overlapping
/// categories) containing `day`, or else the next one to begin — of one child, of every child
/// (`Which::All`, after a bulk load), or of those whose stored period ended before `day`
/// (`Which::Expired`, the sweep: a later period may have begun). The indicators count the
/// population from these columns for the current day; a count is exact as long as no child's
/// stored period ended since the last sweep (the sweep runs every few minutes).
pub fn refresh_period(backend: DatabaseBackend, day: NaiveDate, which: Which) -> Statement {
    let live = |a: &str| {
        format!(
            "{a}.child_id = children.id AND {a}.archived_at IS NULL \
             AND ({a}.valid_to IS NULL OR {a}.valid_to >= '{day}')"
        )
    };
    let mut sql = format!(
        "UPDATE children SET \
         difficulty_from = (SELECT COALESCE(MIN(CASE WHEN d.valid_from <= '{day}' THEN d.valid_from END), MIN(d.valid_from)) \
           FROM child_difficulties d WHERE {d}), \
         difficulty_to = (SELECT CASE WHEN MAX(CASE WHEN d.valid_from <= '{day}' THEN 1 ELSE 0 END) = 1 THEN \
           (CASE WHEN MAX(CASE WHEN d.valid_from <= '{day}' AND d.valid_to IS NULL THEN 1 ELSE 0 END) = 1 THEN NULL \
            ELSE MAX(CASE WHEN d.valid_from <= '{day}' THEN d.valid_to END) END) \
           ELSE (SELECT d2.valid_to FROM child_difficulties d2 WHERE {d2} AND d2.valid_from > '{day}' \
             ORDER BY d2.valid_from ASC, CASE WHEN d2.valid_to IS NULL THEN 0 ELSE 1 END ASC, d2.valid_to DESC LIMIT 1) END \
           FROM child_difficulties d WHERE {d})",
        d = live("d"),
        d2 = live("d2"),
    );
    let mut values = Vec::new();
    match which {
        Which::All => {}
        Which::Expired => sql.push_str(&format!(" WHERE difficulty_to < '{day}'")),
        Which::Child(id) => {
            sql.push_str(match backend {
                DatabaseBackend::Postgres => " WHERE id = $1",
                _ => " WHERE id = ?",
            });
            values.push(sea_orm::Value::from(id));
        }
    }
    Statement::from_sql_and_values(backend, sql, values)
}

/// Which children [`refresh_period`] refreshes.
#[derive(Debug, Clone, Copy)]
pub enum Which {
    All,
    Expired,
    Child(Uuid),
}
