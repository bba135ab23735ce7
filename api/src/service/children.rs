//! Listing and counting children inside a row scope, with filters, a sort order and keyset
//! pagination (opaque cursors over the sort key and id, stable under concurrent inserts).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use carehub_entity::child;
use carehub_entity::enums::{ChildStatus, DifficultyCategory, EnrollmentStatus, RiskLevel};
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, Query};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, EntityTrait, Order, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect, Value,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::authz::scope::region_condition;
use crate::domain::region::RegionPrefix;
use crate::error::ApiError;

/// Filters of `children(filter:)`; every one was authorized as a read before it gets here.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub region: Option<RegionPrefix>,
    pub status: Option<ChildStatus>,
    pub difficulty: Option<DifficultyCategory>,
    pub key_case: Option<bool>,
    pub risk: Option<RiskLevel>,
    pub school: Option<Uuid>,
    pub name_search: Option<String>,
    pub in_treatment: Option<bool>,
}

/// The sort key of a listing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortKey {
    #[default]
    UpdatedAt,
    DisplayName,
    RiskLevel,
    BirthYearMonth,
}

/// Sort key and direction.
#[derive(Debug, Clone, Copy, Default)]
pub struct Sort {
    pub key: SortKey,
    pub descending: bool,
}

impl Sort {
    /// The default: most recently updated first.
    pub fn recent() -> Self {
        Self {
            key: SortKey::UpdatedAt,
            descending: true,
        }
    }
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(untagged)]
enum KeyValue {
    Time(DateTime<Utc>),
    Text(String),
    Int(i64),
}

#[derive(Debug, Serialize, Deserialize)]
struct CursorBody {
    /// Sort key tag, so a cursor from another order is refused, not misread.
    k: String,
    v: KeyValue,
    id: Uuid,
}

fn tag(key: SortKey, desc: bool) -> String {
    format!("{key:?}:{}", if desc { "d" } else { "a" })
}

/// Encodes the cursor of `row` under `sort`.
pub fn cursor_of(row: &child::Model, sort: Sort) -> String {
    let v = match sort.key {
        SortKey::UpdatedAt => KeyValue::Time(row.updated_at),
        SortKey::DisplayName => KeyValue::Text(row.display_name.clone()),
        SortKey::RiskLevel => KeyValue::Int(i64::from(row.risk_rank)),
        SortKey::BirthYearMonth => KeyValue::Text(row.birth_year_month.clone()),
    };
    let body = CursorBody {
        k: tag(sort.key, sort.descending),
        v,
        id: row.id,
    };
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(&body).unwrap_or_default())
}

fn decode_cursor(cursor: &str, sort: Sort) -> Result<CursorBody, ApiError> {
    let bad = || {
        ApiError::bad_input("after", "is not a cursor returned by this listing (cursors are opaque and tied to the sort order)")
    };
    let bytes = URL_SAFE_NO_PAD.decode(cursor.trim()).map_err(|_| bad())?;
    let body: CursorBody = serde_json::from_slice(&bytes).map_err(|_| bad())?;
    if body.k != tag(sort.key, sort.descending) {
        return Err(bad());
    }
    Ok(body)
}

fn sort_column(key: SortKey) -> child::Column {
    match key {
        SortKey::UpdatedAt => child::Column::UpdatedAt,
        SortKey::DisplayName => child::Column::DisplayName,
        SortKey::RiskLevel => child::Column::RiskRank,
        SortKey::BirthYearMonth => child::Column::BirthYearMonth,
    }
}

fn filter_condition(f: &Filter, today: chrono::NaiveDate) -> Condition {
    let mut c = Condition::all().add(child::Column::ArchivedAt.is_null());
    if let Some(p) = &f.region {
        c = c.add(region_condition(p));
    }
    if let Some(s) = f.status {
        c = c.add(child::Column::Status.eq(s));
    }
    if let Some(k) = f.key_case {
        c = c.add(child::Column::KeyCase.eq(k));
    }
    if let Some(r) = f.risk {
        c = c.add(child::Column::CurrentRiskLevel.eq(r));
    }
    if let Some(t) = f.in_treatment {
        c = c.add(child::Column::InTreatment.eq(t));
    }
    if let Some(d) = f.difficulty {
        let mut q = Query::select();
        q.expr(Expr::val(1))
            .from("child_difficulties")
            .and_where(Expr::col(("child_difficulties", "child_id")).equals(("children", "id")))
            .and_where(Expr::col(("child_difficulties", "category")).eq(d.as_str()))
            .and_where(Expr::col(("child_difficulties", "archived_at")).is_null())
            .and_where(
                Expr::col(("child_difficulties", "valid_to"))
                    .is_null()
                    .or(Expr::col(("child_difficulties", "valid_to")).gte(today)),
            );
        c = c.add(Expr::exists(q));
    }
    if let Some(school) = f.school {
        let mut q = Query::select();
        q.expr(Expr::val(1))
            .from("enrollments")
            .and_where(Expr::col(("enrollments", "child_id")).equals(("children", "id")))
            .and_where(Expr::col(("enrollments", "school_id")).eq(Value::from(school)))
            .and_where(Expr::col(("enrollments", "status")).eq(EnrollmentStatus::Enrolled.as_str()))
            .and_where(Expr::col(("enrollments", "archived_at")).is_null());
        c = c.add(Expr::exists(q));
    }
    if let Some(n) = &f.name_search {
        let escaped = n
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_");
        c = c.add(
            Expr::col(("children", "name"))
                .like(sea_orm::sea_query::LikeExpr::new(format!("%{escaped}%")).escape('\\')),
        );
    }
    c
}

/// One page of children in scope: `first + 1` rows are fetched to know if more follow.
pub async fn page<C: ConnectionTrait>(
    db: &C,
    scope: Condition,
    filter: &Filter,
    sort: Sort,
    first: u64,
    after: Option<&str>,
) -> Result<(Vec<child::Model>, bool), ApiError> {
    let col = sort_column(sort.key);
    let dir = if sort.descending {
        Order::Desc
    } else {
        Order::Asc
    };
    let mut q = child::Entity::find()
        .filter(scope)
        .filter(filter_condition(filter, Utc::now().date_naive()));
    if let Some(c) = after {
        let body = decode_cursor(c, sort)?;
        let v: Value = match body.v {
            KeyValue::Time(t) => t.into(),
            KeyValue::Text(s) => s.into(),
            KeyValue::Int(i) => i16::try_from(i).unwrap_or_default().into(),
        };
        let key = Expr::col(("children", col));
        let id = Expr::col(("children", child::Column::Id));
        let cond = if sort.descending {
            Condition::any()
                .add(key.clone().lt(v.clone()))
                .add(Condition::all().add(key.eq(v)).add(id.lt(body.id)))
        } else {
            Condition::any()
                .add(key.clone().gt(v.clone()))
                .add(Condition::all().add(key.eq(v)).add(id.gt(body.id)))
        };
        q = q.filter(cond);
    }
    let mut rows = q
        .order_by(col, dir.clone())
        .order_by(child::Column::Id, dir)
        .limit(first + 1)
        .all(db)
        .await?;
    let more = rows.len() as u64 > first;
    rows.truncate(first as usize);
    Ok((rows, more))
}

/// How many children in scope match the filter (the connection's `totalCount`).
pub async fn count<C: ConnectionTrait>(
    db: &C,
    scope: Condition,
    filter: &Filter,
) -> Result<u64, ApiError> {
    Ok(child::Entity::find()
        .filter(scope)
        .filter(filter_condition(filter, Utc::now().date_naive()))
        .count(db)
        .await?)
}

/// One child by id, if inside the scope (otherwise indistinguishable from absent).
pub async fn by_id<C: ConnectionTrait>(
    db: &C,
    scope: Condition,
    id: Uuid,
) -> Result<Option<child::Model>, ApiError> {
    Ok(child::Entity::find_by_id(id)
        .filter(scope)
        .filter(child::Column::ArchivedAt.is_null())
        .one(db)
        .await?)
}
