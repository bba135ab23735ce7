//! Child-owned lists loaded for many children in one statement: a window function keeps the
//! newest `limit` rows per child, so the statement count is constant in the page size.

use std::collections::HashMap;
use std::sync::Arc;

use sea_orm::{ConnectionTrait, DatabaseBackend, EntityTrait, FromQueryResult, Statement, Value};
use uuid::Uuid;

use crate::error::ApiError;

/// How a child-owned table is listed: its table, the column holding the child id, and the
/// order (newest first) of the list.
pub struct ListSpec {
    pub table: &'static str,
    pub child_column: &'static str,
    pub order: &'static str,
    /// Whether the table has `archived_at` (archived rows are never listed).
    pub archivable: bool,
}

macro_rules! spec {
    ($name:ident, $table:literal, $order:literal) => {
        pub const $name: ListSpec = ListSpec {
            table: $table,
            child_column: "child_id",
            order: $order,
            archivable: true,
        };
    };
}

spec!(DIFFICULTIES, "child_difficulties", "valid_from DESC");
spec!(GUARDIANS, "guardians", "created_at ASC");
spec!(ENROLLMENTS, "enrollments", "school_year DESC");
spec!(SCREENINGS, "screenings", "administered_at DESC");
spec!(CARE_PLANS, "care_plans", "created_at DESC");
spec!(VISITS, "visits", "created_at DESC");
spec!(PAIRINGS, "pairings", "start_date DESC");
spec!(REPORTS, "reports", "reported_at DESC");
spec!(CRISIS_EVENTS, "crisis_events", "occurred_at DESC");
spec!(REFERRALS, "referrals", "created_at DESC");
spec!(TREATMENT_EPISODES, "treatment_episodes", "admitted_at DESC");
spec!(RETURNS_TO_SCHOOL, "returns_to_school", "created_at DESC");
spec!(VICTIM_AID, "victim_aid", "created_at DESC");
spec!(SERVICE_RECORDS, "service_records", "occurred_at DESC");
spec!(FLAGS, "flags", "raised_at DESC");
spec!(LAWFUL_BASES, "lawful_bases", "valid_from DESC");
/// Interventions of care plans, in plan order.
pub const INTERVENTIONS: ListSpec = ListSpec {
    table: "care_plan_interventions",
    child_column: "care_plan_id",
    order: "position ASC",
    archivable: false,
};
/// Transitions of workflow records, keyed by record id, oldest first.
pub const TRANSITIONS: ListSpec = ListSpec {
    table: "workflow_transitions",
    child_column: "record_id",
    order: "at ASC",
    archivable: false,
};

/// Placeholders `$1…` (PostgreSQL) or `?` (SQLite) for `n` values starting at `start`.
pub fn placeholders(backend: DatabaseBackend, start: usize, n: usize) -> String {
    (0..n)
        .map(|i| match backend {
            DatabaseBackend::Postgres => format!("${}", start + i),
            _ => "?".to_owned(),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Loads up to `limit` newest rows per key of `spec` for `keys`, grouped by key, each group
/// newest first (or in `spec.order`).
pub async fn load_by_key<E, C>(
    db: &C,
    spec: &ListSpec,
    keys: &[Uuid],
    limit: u64,
    key_of: impl Fn(&E::Model) -> Option<Uuid>,
) -> Result<HashMap<Uuid, Vec<Arc<E::Model>>>, ApiError>
where
    E: EntityTrait,
    E::Model: FromQueryResult + Send + Sync,
    C: ConnectionTrait,
{
    let mut out: HashMap<Uuid, Vec<Arc<E::Model>>> = HashMap::new();
    if keys.is_empty() || limit == 0 {
        return Ok(out);
    }
    let backend = db.get_database_backend();
    let mut keys = keys.to_vec();
    keys.sort();
    keys.dedup();
    let archived = if spec.archivable {
        " AND archived_at IS NULL"
    } else {
        ""
    };
    let sql = format!(
        "SELECT * FROM (SELECT t.*, ROW_NUMBER() OVER (PARTITION BY {key} ORDER BY {order}, id DESC) AS rn__ \
         FROM {table} t WHERE {key} IN ({ph}){archived}) w WHERE rn__ <= {limit} ORDER BY {key}, rn__",
        key = spec.child_column,
        order = spec.order,
        table = spec.table,
        ph = placeholders(backend, 1, keys.len()),
    );
    let values: Vec<Value> = keys.iter().map(|k| Value::from(*k)).collect();
    let rows = E::find()
        .from_raw_sql(Statement::from_sql_and_values(backend, sql, values))
        .all(db)
        .await?;
    for row in rows {
        if let Some(k) = key_of(&row) {
            out.entry(k).or_default().push(Arc::new(row));
        }
    }
    Ok(out)
}
