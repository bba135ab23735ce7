//! Warning flags the system raises and clears. Each flag is keyed by (child, kind, subject) so
//! raising is idempotent and clearing finds exactly the flag whose cause is gone. Rules run on
//! every relevant write (here) and in the periodic sweep (`crate::sweep`).

use carehub_entity::enums::{Agency, FlagKind};
use carehub_entity::{flag, visit};
use sea_orm::ActiveValue::Set;
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};
use uuid::Uuid;

use super::WriteCtx;
use crate::error::ApiResult;

/// Subject of the system in `raisedBy`/`resolvedBy`.
pub const SYSTEM: &str = "system";

/// Raises a flag unless the same one is open.
pub async fn raise<C: ConnectionTrait>(
    db: &C,
    child: Uuid,
    kind: FlagKind,
    subject: &str,
    message: String,
    at: chrono::DateTime<chrono::Utc>,
) -> ApiResult<bool> {
    let open = flag::Entity::find()
        .filter(flag::Column::ChildId.eq(child))
        .filter(flag::Column::Kind.eq(kind))
        .filter(flag::Column::SubjectKey.eq(subject))
        .filter(flag::Column::ResolvedAt.is_null())
        .one(db)
        .await?;
    if open.is_some() {
        return Ok(false);
    }
    flag::ActiveModel {
        id: Set(Uuid::now_v7()),
        created_at: Set(at),
        created_by: Set(SYSTEM.into()),
        updated_at: Set(at),
        updated_by: Set(SYSTEM.into()),
        version: Set(1),
        archived_at: Set(None),
        owner_agency: Set(Agency::Supervision),
        owner_org_id: Set(None),
        child_id: Set(child),
        kind: Set(kind),
        raised_by: Set(SYSTEM.into()),
        message: Set(message),
        raised_at: Set(at),
        resolved_at: Set(None),
        resolution: Set(None),
        resolved_by: Set(None),
        subject_key: Set(Some(subject.to_owned())),
    }
    .insert(db)
    .await?;
    Ok(true)
}

/// Resolves the open flag of (child, kind, subject), if any.
pub async fn clear<C: ConnectionTrait>(
    db: &C,
    child: Uuid,
    kind: FlagKind,
    subject: &str,
    resolution: &str,
    at: chrono::DateTime<chrono::Utc>,
) -> ApiResult<u64> {
    let res = clear_query(child, kind, subject, resolution, at)
        .exec(db)
        .await?;
    Ok(res.rows_affected)
}

/// The update that resolves the open flag of (child, kind, subject). Mutations defer it to
/// their commit (`WriteCtx::clear_flag`); the sweep runs it at once (`clear`).
pub fn clear_query(
    child: Uuid,
    kind: FlagKind,
    subject: &str,
    resolution: &str,
    at: chrono::DateTime<chrono::Utc>,
) -> sea_orm::UpdateMany<flag::Entity> {
    use sea_orm::sea_query::Expr;
    flag::Entity::update_many()
        .col_expr(flag::Column::ResolvedAt, Expr::value(at))
        .col_expr(flag::Column::ResolvedBy, Expr::value(SYSTEM))
        .col_expr(flag::Column::Resolution, Expr::value(resolution))
        .col_expr(flag::Column::UpdatedAt, Expr::value(at))
        .filter(flag::Column::ChildId.eq(child))
        .filter(flag::Column::Kind.eq(kind))
        .filter(flag::Column::SubjectKey.eq(subject))
        .filter(flag::Column::ResolvedAt.is_null())
}

/// A visit done clears its overdue flags; a planned visit already past due raises one.
/// `created`: the visit was inserted by this write, so no flag can name it yet.
pub async fn after_visit(w: &mut WriteCtx, v: &visit::Model, created: bool) -> ApiResult<()> {
    let key = v.id.to_string();
    let kind = if v.kind == carehub_entity::enums::VisitKind::PostDischargeFollowUp {
        FlagKind::OverdueFollowUp
    } else {
        FlagKind::OverdueVisit
    };
    if v.done_at.is_some() || v.archived_at.is_some() {
        if !created {
            w.clear_flag(v.child_id, kind, &key, "visit recorded");
        }
    } else if let Some(due) = v.due_date {
        if due < w.at.date_naive() {
            raise(
                &w.txn,
                v.child_id,
                kind,
                &key,
                format!("{} due {due} not done", v.kind.as_str()),
                w.at,
            )
            .await?;
        }
    }
    Ok(())
}
