//! The periodic flag sweep (`carehub sweep`, and in-process every `CAREHUB_SWEEP_INTERVAL_SECS`):
//! raises each warning flag whose cause exists and clears each whose cause is gone. Idempotent:
//! a flag is keyed by (child, kind, subject), so repeated sweeps change nothing.

use std::collections::{HashMap, HashSet};

use carehub_entity::enums::{
    CarePlanStatus, EnrollmentStatus, FlagKind, ReferralStatus, ReportStatus, RiskLevel, VisitKind,
};
use carehub_entity::{care_plan, child, enrollment, flag, referral, report, screening, visit};
use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect, TransactionSession,
    TransactionTrait,
};
use uuid::Uuid;

use crate::error::ApiResult;
use crate::write::flags::{clear, raise};

/// What one sweep did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SweepReport {
    pub raised: u64,
    pub cleared: u64,
    pub escalated_referrals: u64,
    pub plans_review_due: u64,
}

impl std::fmt::Display for SweepReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "flags raised {}, cleared {}; referrals escalated {}; plans due for review {}",
            self.raised, self.cleared, self.escalated_referrals, self.plans_review_due
        )
    }
}

/// Start of the school year containing `d` (September 1).
fn school_year_start(d: NaiveDate) -> i32 {
    if d.month() >= 9 {
        d.year()
    } else {
        d.year() - 1
    }
}

/// Runs every rule as of `now`.
pub async fn sweep<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    now: DateTime<Utc>,
) -> ApiResult<SweepReport> {
    let mut r = SweepReport::default();
    let today = now.date_naive();
    let txn = crate::db::begin_write(db).await?;
    if txn.get_database_backend() == sea_orm::DatabaseBackend::Postgres {
        // One sweep at a time across replicas; the others skip this round.
        let got = txn
            .query_one_raw(sea_orm::Statement::from_string(
                sea_orm::DatabaseBackend::Postgres,
                "SELECT pg_try_advisory_xact_lock(4207002) AS ok",
            ))
            .await?
            .and_then(|row| row.try_get::<bool>("", "ok").ok())
            .unwrap_or(false);
        if !got {
            return Ok(r);
        }
    }

    // Open flags, to clear those whose cause is gone.
    let open: Vec<flag::Model> = flag::Entity::find()
        .filter(flag::Column::ResolvedAt.is_null())
        .filter(flag::Column::RaisedBy.eq(crate::write::flags::SYSTEM))
        .all(&txn)
        .await?;
    let mut still: HashSet<(Uuid, FlagKind, String)> = HashSet::new();

    // Overdue visits and follow-ups.
    let overdue = visit::Entity::find()
        .filter(visit::Column::DoneAt.is_null())
        .filter(visit::Column::ArchivedAt.is_null())
        .filter(visit::Column::DueDate.lt(today))
        .all(&txn)
        .await?;
    for v in overdue {
        let kind = if v.kind == VisitKind::PostDischargeFollowUp {
            FlagKind::OverdueFollowUp
        } else {
            FlagKind::OverdueVisit
        };
        let key = v.id.to_string();
        if raise(
            &txn,
            v.child_id,
            kind,
            &key,
            format!(
                "{} due {} not done",
                v.kind.as_str(),
                v.due_date.map(|d| d.to_string()).unwrap_or_default()
            ),
            now,
        )
        .await?
        {
            r.raised += 1;
        }
        still.insert((v.child_id, kind, key));
    }

    // High risk without an active plan seven days after the result.
    let high = child::Entity::find()
        .filter(child::Column::CurrentRiskLevel.is_in([RiskLevel::Orange, RiskLevel::Red]))
        .filter(child::Column::RiskUpdatedAt.lt(now - Duration::days(7)))
        .filter(child::Column::ArchivedAt.is_null())
        .all(&txn)
        .await?;
    if !high.is_empty() {
        let with_plan: HashSet<Uuid> = care_plan::Entity::find()
            .select_only()
            .column(care_plan::Column::ChildId)
            .filter(care_plan::Column::ChildId.is_in(high.iter().map(|c| c.id).collect::<Vec<_>>()))
            .filter(
                care_plan::Column::Status
                    .is_in([CarePlanStatus::Active, CarePlanStatus::ReviewDue]),
            )
            .filter(care_plan::Column::ArchivedAt.is_null())
            .into_tuple::<Uuid>()
            .all(&txn)
            .await?
            .into_iter()
            .collect();
        for c in high.iter().filter(|c| !with_plan.contains(&c.id)) {
            let level = c.current_risk_level.map(|l| l.as_str()).unwrap_or_default();
            if raise(
                &txn,
                c.id,
                FlagKind::RedWithoutPlan,
                "risk",
                format!("{level} for more than 7 days without an active care plan"),
                now,
            )
            .await?
            {
                r.raised += 1;
            }
            still.insert((c.id, FlagKind::RedWithoutPlan, "risk".into()));
        }
    }

    // Missing screening: enrolled in grades 4–12 this school year, not screened, once the first
    // term is under way (from December 1).
    let year = school_year_start(today);
    if today >= NaiveDate::from_ymd_opt(year, 12, 1).unwrap_or(today) {
        let enrolled: Vec<(Uuid, i32)> = enrollment::Entity::find()
            .select_only()
            .column(enrollment::Column::ChildId)
            .column(enrollment::Column::Grade)
            .filter(enrollment::Column::SchoolYear.eq(year))
            .filter(enrollment::Column::Status.eq(EnrollmentStatus::Enrolled))
            .filter(enrollment::Column::Grade.between(4, 12))
            .filter(enrollment::Column::ArchivedAt.is_null())
            .into_tuple()
            .all(&txn)
            .await?;
        let screened: HashSet<Uuid> = screening::Entity::find()
            .select_only()
            .column(screening::Column::ChildId)
            .filter(screening::Column::SchoolYear.eq(year))
            .filter(screening::Column::ArchivedAt.is_null())
            .into_tuple::<Uuid>()
            .all(&txn)
            .await?
            .into_iter()
            .collect();
        for (c, _) in enrolled.into_iter().filter(|(c, _)| !screened.contains(c)) {
            let key = year.to_string();
            if raise(
                &txn,
                c,
                FlagKind::MissingScreening,
                &key,
                format!("not screened in school year {year}"),
                now,
            )
            .await?
            {
                r.raised += 1;
            }
            still.insert((c, FlagKind::MissingScreening, key));
        }
    } else {
        // Before December the previous year's flags still stand.
        for f in open.iter().filter(|f| f.kind == FlagKind::MissingScreening) {
            still.insert((
                f.child_id,
                f.kind,
                f.subject_key.clone().unwrap_or_default(),
            ));
        }
    }

    // Referrals past their SLA without an answer: escalate and flag.
    let breached = referral::Entity::find()
        .filter(referral::Column::Status.is_in([ReferralStatus::Sent, ReferralStatus::Received]))
        .filter(referral::Column::SlaDueAt.lt(now))
        .filter(referral::Column::ArchivedAt.is_null())
        .all(&txn)
        .await?;
    for b in &breached {
        let key = b.id.to_string();
        if raise(
            &txn,
            b.child_id,
            FlagKind::ReferralSlaBreach,
            &key,
            format!(
                "{} referral unanswered past {}",
                b.urgency.as_str(),
                b.sla_due_at.map(|t| t.to_rfc3339()).unwrap_or_default()
            ),
            now,
        )
        .await?
        {
            r.raised += 1;
        }
        still.insert((b.child_id, FlagKind::ReferralSlaBreach, key));
    }
    let to_escalate: Vec<Uuid> = breached
        .iter()
        .filter(|b| !b.escalated)
        .map(|b| b.id)
        .collect();
    if !to_escalate.is_empty() {
        r.escalated_referrals = referral::Entity::update_many()
            .col_expr(
                referral::Column::Escalated,
                sea_orm::sea_query::Expr::value(true),
            )
            .filter(referral::Column::Id.is_in(to_escalate))
            .exec(&txn)
            .await?
            .rows_affected;
    }

    // Reports past their deadline and not closed.
    let late = report::Entity::find()
        .filter(report::Column::Status.ne(ReportStatus::Closed))
        .filter(report::Column::DueBy.lt(now))
        .filter(report::Column::ChildId.is_not_null())
        .filter(report::Column::ArchivedAt.is_null())
        .all(&txn)
        .await?;
    for p in late {
        if let Some(c) = p.child_id {
            let key = p.id.to_string();
            if raise(
                &txn,
                c,
                FlagKind::ReportOverdue,
                &key,
                format!(
                    "{} report not closed by {}",
                    p.category.as_str(),
                    p.due_by.to_rfc3339()
                ),
                now,
            )
            .await?
            {
                r.raised += 1;
            }
            still.insert((c, FlagKind::ReportOverdue, key));
        }
    }

    // Suspected duplicates: same name and birth date.
    let rows: Vec<(Uuid, String, NaiveDate)> = child::Entity::find()
        .select_only()
        .column(child::Column::Id)
        .column(child::Column::Name)
        .column(child::Column::BirthDate)
        .filter(child::Column::ArchivedAt.is_null())
        .into_tuple()
        .all(&txn)
        .await?;
    let mut by_key: HashMap<(String, NaiveDate), Vec<Uuid>> = HashMap::new();
    for (id, name, birth) in rows {
        by_key.entry((name, birth)).or_default().push(id);
    }
    for ids in by_key.values().filter(|v| v.len() > 1) {
        for id in ids {
            let others: Vec<String> = ids
                .iter()
                .filter(|o| *o != id)
                .map(|o| o.to_string())
                .collect();
            let key = format!("dup:{}", others.join(","));
            if raise(
                &txn,
                *id,
                FlagKind::SuspectedDuplicate,
                &key,
                format!("same name and birth date as {}", others.join(", ")),
                now,
            )
            .await?
            {
                r.raised += 1;
            }
            still.insert((*id, FlagKind::SuspectedDuplicate, key));
        }
    }

    // Clear every system flag whose cause is gone.
    for f in open {
        let key = f.subject_key.clone().unwrap_or_default();
        if !still.contains(&(f.child_id, f.kind, key.clone())) {
            r.cleared += clear(
                &txn,
                f.child_id,
                f.kind,
                &key,
                "cause resolved (sweep)",
                now,
            )
            .await?;
        }
    }

    // Active plans past their review date become REVIEW_DUE.
    let due: Vec<care_plan::Model> = care_plan::Entity::find()
        .filter(care_plan::Column::Status.eq(CarePlanStatus::Active))
        .filter(care_plan::Column::ReviewDue.lt(today))
        .filter(care_plan::Column::ArchivedAt.is_null())
        .all(&txn)
        .await?;
    for p in due {
        care_plan::Entity::update_many()
            .col_expr(
                care_plan::Column::Status,
                sea_orm::sea_query::Expr::value(CarePlanStatus::ReviewDue.as_str()),
            )
            .filter(care_plan::Column::Id.eq(p.id))
            .exec(&txn)
            .await?;
        carehub_entity::workflow_transition::Entity::insert(
            carehub_entity::workflow_transition::ActiveModel {
                id: sea_orm::Set(Uuid::now_v7()),
                entity: sea_orm::Set("CarePlan".into()),
                record_id: sea_orm::Set(p.id),
                child_id: sea_orm::Set(Some(p.child_id)),
                from_status: sea_orm::Set(Some(CarePlanStatus::Active.as_str().into())),
                to_status: sea_orm::Set(CarePlanStatus::ReviewDue.as_str().into()),
                at: sea_orm::Set(now),
                actor: sea_orm::Set(crate::write::flags::SYSTEM.into()),
                actor_org: sea_orm::Set(None),
                note: sea_orm::Set(Some("review date passed".into())),
            },
        )
        .exec(&txn)
        .await?;
        // Outbox row, so `carePlanDue` subscribers and the change feed see the change.
        let status = serde_json::json!({ "status": [CarePlanStatus::Active.as_str(), CarePlanStatus::ReviewDue.as_str()] });
        crate::events::outbox::record_system_change(
            &txn,
            "CarePlan",
            p.id,
            Some(p.child_id),
            p.version,
            status,
            now,
        )
        .await?;
        r.plans_review_due += 1;
    }
    // Difficulty periods that ended before today: a later one may have begun.
    let backend = txn.get_database_backend();
    txn.execute_raw(crate::write::derived::refresh_period(
        backend,
        today,
        crate::write::derived::Which::Expired,
    ))
    .await?;
    txn.commit().await?;
    Ok(r)
}

/// Runs the sweep every `interval` in the background.
pub fn spawn_periodic(db: sea_orm::DatabaseConnection, interval: std::time::Duration) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(interval);
        tick.tick().await;
        loop {
            tick.tick().await;
            match sweep(&db, Utc::now()).await {
                Ok(r) => tracing::info!(
                    sweep.raised = r.raised,
                    sweep.cleared = r.cleared,
                    "flag sweep"
                ),
                Err(e) => tracing::warn!(error = %e, "flag sweep failed"),
            }
        }
    });
}
