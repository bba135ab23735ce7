//! The write path every mutation takes: one transaction that authorizes each input field
//! against the target row, applies the change with an optimistic-concurrency check, records
//! the workflow transition, the change event (outbox) and the audit entry, and commits all of
//! it together — or nothing.

pub mod derived;
pub mod flags;
pub mod workflow;

use std::collections::BTreeMap;
use std::sync::Arc;

use async_graphql::Context;
use carehub_entity::enums::{Agency, FlagKind};
use carehub_entity::{change_event, child, workflow_transition};
use carehub_policy::{ClassSet, GroupSet, RowFacts, WriteDecision};
use chrono::{DateTime, SubsecRound, Utc};
use sea_orm::sea_query::{InsertStatement, UpdateStatement};
use sea_orm::ActiveValue::{NotSet, Set};
use sea_orm::{
    ActiveModelBehavior, ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseBackend,
    DatabaseTransaction, EntityTrait, IntoActiveModel, PrimaryKeyTrait, QueryFilter, QueryTrait,
    Statement,
};
use serde::Serialize;
use serde_json::{json, Value as Json};
use uuid::Uuid;

use crate::audit::AuditRecord;
use crate::authz::{Record, RequestCtx};
use crate::error::{ApiError, ApiResult};

/// Columns never copied into change events (ciphertext and blind indexes).
const SECRET_COLUMNS: &[&str] = &["id_number_enc", "id_number_bidx"];

/// Now, at the precision both backends store.
pub fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

/// The names of the fields set (non-null) in the mutation argument `arg`.
pub fn provided(ctx: &Context<'_>, arg: &str) -> Vec<String> {
    let Ok(args) = ctx.field().arguments() else {
        return Vec::new();
    };
    args.into_iter()
        .find(|(n, _)| n.as_str() == arg)
        .and_then(|(_, v)| match v {
            async_graphql::Value::Object(o) => Some(
                o.into_iter()
                    .filter(|(_, v)| !matches!(v, async_graphql::Value::Null))
                    .map(|(k, _)| k.to_string())
                    .collect(),
            ),
            _ => None,
        })
        .unwrap_or_default()
}

/// One mutation's transaction and what it will record at commit.
pub struct WriteCtx {
    pub rc: Arc<RequestCtx>,
    pub txn: DatabaseTransaction,
    pub at: DateTime<Utc>,
    events: Vec<change_event::ActiveModel>,
    audit: Vec<AuditRecord>,
    /// Writes whose results the mutation does not read back (flag clears, transitions),
    /// sent with the outbox and audit rows at commit.
    deferred: Vec<Deferred>,
    /// Residence region of the children this write loaded: a change event carries its
    /// child's region, so the event router need not look it up again after commit.
    regions: std::sync::Mutex<Vec<(Uuid, i64)>>,
}

/// A statement held until commit.
enum Deferred {
    Insert(InsertStatement),
    Update(UpdateStatement),
}

impl WriteCtx {
    /// Opens the transaction of a mutation.
    pub async fn begin(ctx: &Context<'_>) -> ApiResult<Self> {
        let rc = RequestCtx::of(ctx).clone();
        let txn = crate::db::begin_write(&rc.app.db.write).await?;
        Ok(Self {
            rc,
            txn,
            at: now(),
            events: Vec::new(),
            audit: Vec::new(),
            deferred: Vec::new(),
            regions: std::sync::Mutex::new(Vec::new()),
        })
    }

    /// The principal's organization, required for writes that belong to an organization.
    pub fn org(&self) -> ApiResult<Uuid> {
        self.rc.org.ok_or_else(|| {
            ApiError::forbidden("this write needs an organization in the token (org claim)")
        })
    }

    /// Loads a child for a write. Outside the writer's scope it does not exist.
    pub async fn child(&self, id: Uuid) -> ApiResult<child::Model> {
        let scope = self.rc.scope_or_forbidden()?;
        let child = child::Entity::find_by_id(id)
            .filter(scope)
            .filter(child::Column::ArchivedAt.is_null())
            .one(&self.txn)
            .await?
            .ok_or_else(|| ApiError::NotFound(format!("no child {id} in your scope")))?;
        if let Ok(mut known) = self.regions.lock() {
            known.push((child.id, child.residence_region_code));
        }
        Ok(child)
    }

    /// The residence region of `child` if this write loaded it.
    fn known_region(&self, child: Option<Uuid>) -> Option<i64> {
        let child = child?;
        let known = self.regions.lock().ok()?;
        known.iter().find(|(id, _)| *id == child).map(|(_, r)| *r)
    }

    /// Loads a child-owned record for a write: it must exist, not be archived, and its child
    /// must be in scope.
    pub async fn record<E>(&self, id: Uuid) -> ApiResult<E::Model>
    where
        E: EntityTrait,
        E::Model: Record,
        <E::PrimaryKey as PrimaryKeyTrait>::ValueType: From<Uuid>,
    {
        let row = E::find_by_id(id).one(&self.txn).await?.ok_or_else(|| {
            ApiError::NotFound(format!(
                "no {} {id} in your scope",
                <E::Model as Record>::TYPE
            ))
        })?;
        if let Some(child_id) = row.child_id() {
            self.child(child_id).await.map_err(|_| {
                ApiError::NotFound(format!(
                    "no {} {id} in your scope",
                    <E::Model as Record>::TYPE
                ))
            })?;
        }
        Ok(row)
    }

    /// Facts of a row being written: its organization and owning agency.
    pub fn facts(&self, org: Option<Uuid>, owner: Option<Agency>, classes: ClassSet) -> RowFacts {
        RowFacts {
            own_org: matches!((org, self.rc.org), (Some(a), Some(b)) if a == b),
            same_agency: owner.map(|a| a == self.rc.agency).unwrap_or(true),
            classes,
            view: None,
            lawful: GroupSet::EMPTY,
            break_glass: false,
            purpose: self.rc.principal.purpose,
        }
    }

    /// Every field of `input_type` the request sets must be writable on this row; the first
    /// that is not refuses the whole mutation.
    pub fn authorize(
        &self,
        input_type: &str,
        fields: &[String],
        facts: &RowFacts,
    ) -> ApiResult<()> {
        let policy = &self.rc.policy;
        for f in fields {
            let Some(fid) = self.rc.app.fields.get(input_type, f) else {
                return Err(ApiError::Forbidden {
                    reason: "the field has no entry in the remit policy".into(),
                    field: Some(format!("{input_type}.{f}")),
                });
            };
            if let WriteDecision::Deny(reason) = policy.decide_write(self.rc.role, fid, facts) {
                return Err(ApiError::Forbidden {
                    reason: format!(
                        "role {} may not write this field here: {reason}",
                        self.rc.principal.role
                    ),
                    field: Some(format!("{input_type}.{f}")),
                });
            }
        }
        Ok(())
    }

    fn record_change<M: Record + Serialize>(
        &mut self,
        op: &str,
        old: Option<&M>,
        new: &M,
        region: Option<i64>,
    ) -> Vec<String> {
        let old_v = old.map(|o| serde_json::to_value(o).unwrap_or(Json::Null));
        let new_v = serde_json::to_value(new).unwrap_or(Json::Null);
        let mut changed = BTreeMap::new();
        if let Json::Object(n) = &new_v {
            for (k, v) in n {
                if SECRET_COLUMNS.contains(&k.as_str())
                    || matches!(
                        k.as_str(),
                        "version" | "updated_at" | "updated_by" | "created_at" | "created_by"
                    )
                {
                    continue;
                }
                let before = old_v
                    .as_ref()
                    .and_then(|o| o.get(k))
                    .cloned()
                    .unwrap_or(Json::Null);
                if old.is_none() || before != *v {
                    changed.insert(k.clone(), json!([before, v]));
                }
            }
        }
        let fields: Vec<String> = changed.keys().cloned().collect();
        let version = new_v.get("version").cloned().unwrap_or(Json::Null);
        self.events.push(change_event::ActiveModel {
            id: NotSet,
            cursor: Set(None),
            entity: Set(M::TYPE.to_owned()),
            record_id: Set(new.id()),
            child_id: Set(new.child_id()),
            op: Set(op.to_owned()),
            changed: Set(json!({ "version": version, "fields": changed })),
            actor: Set(self.rc.principal.sub.clone()),
            actor_agency: Set(self.rc.agency.as_str().to_owned()),
            actor_org: Set(self.rc.principal.org.clone()),
            purpose: Set(Some(self.rc.principal.purpose.as_str().to_owned())),
            request_id: Set(Some(self.rc.request_id.clone())),
            region_code: Set(region.or_else(|| self.known_region(new.child_id()))),
            at: Set(self.at),
        });
        self.audit_write(M::TYPE, new.id(), new.child_id(), op, fields.clone(), None);
        fields
    }

    /// Adds a WRITE (or other action) audit entry committed with the transaction.
    pub fn audit_write(
        &mut self,
        entity: &str,
        record: Uuid,
        child: Option<Uuid>,
        op: &str,
        fields: Vec<String>,
        reason: Option<String>,
    ) {
        let p = &self.rc.principal;
        self.audit.push(AuditRecord {
            at: self.at,
            sub: p.sub.clone(),
            agency: p.agency.as_str().to_owned(),
            role: p.role.clone(),
            org: p.org.clone(),
            client_id: p.client_id.clone(),
            purpose: p.purpose.as_str().to_owned(),
            lawful_basis: None,
            action: if op == "REVEAL_ID" || op == "BREAK_GLASS" {
                op.to_owned()
            } else {
                "WRITE".to_owned()
            },
            operation: self.rc.operation_name().or_else(|| Some(op.to_owned())),
            entity: Some(entity.to_owned()),
            record_ids: vec![record.to_string()],
            child_id: child,
            fields,
            groups: Vec::new(),
            decision: crate::audit::Decision::Allowed.as_str().to_owned(),
            request_id: Some(self.rc.request_id.clone()),
            client_addr: self.rc.client_addr.clone(),
            policy_version: self.rc.policy.version().to_owned(),
            region_code: None,
            reason,
        });
    }

    /// Inserts a new record (bookkeeping columns are filled here) and records the change.
    pub async fn insert<E, A>(&mut self, mut am: A, region: Option<i64>) -> ApiResult<E::Model>
    where
        E: EntityTrait,
        A: ActiveModelTrait<Entity = E> + ActiveModelBehavior + Send,
        E::Model: IntoActiveModel<A> + Record + Serialize,
    {
        fill_meta(&mut am, &self.rc, self.at, true);
        let model = am.insert(&self.txn).await?;
        self.record_change("CREATE", None, &model, region);
        Ok(model)
    }

    /// Updates a record if its version is still `expected`; otherwise `CONFLICT` naming the
    /// current version and the fields changed since.
    pub async fn update<E, A>(
        &mut self,
        old: &E::Model,
        mut am: A,
        expected: i32,
        region: Option<i64>,
    ) -> ApiResult<E::Model>
    where
        E: EntityTrait,
        A: ActiveModelTrait<Entity = E> + ActiveModelBehavior + Send,
        E::Model: IntoActiveModel<A> + Record + Serialize + Clone,
    {
        let current = serde_json::to_value(old)
            .ok()
            .and_then(|v| v.get("version").and_then(Json::as_i64))
            .unwrap_or(0) as i32;
        if current != expected {
            return Err(self.conflict::<E::Model>(old.id(), current, expected).await);
        }
        fill_meta(&mut am, &self.rc, self.at, false);
        set_col(&mut am, "version", sea_orm::Value::Int(Some(expected + 1)));
        let id_col = column::<E>("id");
        let version_col = column::<E>("version");
        let (Some(id_col), Some(version_col)) = (id_col, version_col) else {
            return Err(ApiError::Internal(anyhow::anyhow!(
                "{} lacks id/version columns",
                <E::Model as Record>::TYPE
            )));
        };
        let rows = E::update_many()
            .set(am)
            .filter(id_col.eq(old.id()))
            .filter(version_col.eq(expected))
            .exec_with_returning(&self.txn)
            .await?;
        let Some(new) = rows.into_iter().next() else {
            let now_version = current_version::<E>(&self.txn, old.id())
                .await
                .unwrap_or(current);
            return Err(self
                .conflict::<E::Model>(old.id(), now_version, expected)
                .await);
        };
        self.record_change("UPDATE", Some(old), &new, region);
        Ok(new)
    }

    async fn conflict<M: Record>(&self, id: Uuid, current: i32, expected: i32) -> ApiError {
        // The fields changed after the version the caller based its edit on.
        let events = change_event::Entity::find()
            .filter(change_event::Column::Entity.eq(M::TYPE))
            .filter(change_event::Column::RecordId.eq(id))
            .all(&self.rc.app.db.write)
            .await
            .unwrap_or_default();
        let mut fields: Vec<String> = events
            .iter()
            .filter(|e| {
                e.changed
                    .get("version")
                    .and_then(Json::as_i64)
                    .is_some_and(|v| v > i64::from(expected))
            })
            .flat_map(|e| {
                e.changed
                    .get("fields")
                    .and_then(Json::as_object)
                    .map(|o| o.keys().cloned().collect::<Vec<_>>())
                    .unwrap_or_default()
            })
            .collect();
        fields.sort();
        fields.dedup();
        ApiError::Conflict {
            message: format!("{} {id} was changed by someone else: you sent expectedVersion {expected}, the current version is {current}; reload and reapply your edit", M::TYPE),
            details: json!({ "currentVersion": current, "expectedVersion": expected, "changedFields": fields }),
        }
    }

    /// Records a workflow transition (who, when, why), written at commit.
    pub fn transition(
        &mut self,
        entity: &str,
        record: Uuid,
        child: Option<Uuid>,
        from: Option<&str>,
        to: &str,
        note: Option<String>,
    ) -> ApiResult<()> {
        let row = workflow_transition::ActiveModel {
            id: Set(Uuid::now_v7()),
            entity: Set(entity.to_owned()),
            record_id: Set(record),
            child_id: Set(child),
            from_status: Set(from.map(str::to_owned)),
            to_status: Set(to.to_owned()),
            at: Set(self.at),
            actor: Set(self.rc.principal.sub.clone()),
            actor_org: Set(self.rc.principal.org.clone()),
            note: Set(note),
        };
        self.deferred.push(Deferred::Insert(
            workflow_transition::Entity::insert(row).into_query(),
        ));
        Ok(())
    }

    /// Resolves the open flag of (child, kind, subject), if any, at commit.
    pub fn clear_flag(&mut self, child: Uuid, kind: FlagKind, subject: &str, resolution: &str) {
        self.deferred.push(Deferred::Update(
            flags::clear_query(child, kind, subject, resolution, self.at).into_query(),
        ));
    }

    /// Writes the deferred statements, the outbox rows and the audit entries and commits
    /// everything at once. On PostgreSQL they travel as one statement (data-modifying CTEs):
    /// a mutation's round trips are what its throughput is made of.
    pub async fn commit(mut self) -> ApiResult<()> {
        let mut tail = std::mem::take(&mut self.deferred);
        let events = std::mem::take(&mut self.events);
        if !events.is_empty() {
            tail.push(Deferred::Insert(
                change_event::Entity::insert_many(events).into_query(),
            ));
        }
        let records = std::mem::take(&mut self.audit);
        let lane = self.rc.app.audit.lane().await;
        let (rows, head) = lane.extend(&records);
        if !rows.is_empty() {
            tail.push(Deferred::Insert(
                carehub_entity::audit_entry::Entity::insert_many(rows).into_query(),
            ));
        }
        let backend = self.txn.get_database_backend();
        if backend == DatabaseBackend::Postgres && tail.len() > 1 {
            self.txn.execute_raw(chained(&tail)).await?;
        } else {
            for d in &tail {
                let stmt = match d {
                    Deferred::Insert(q) => backend.build(q),
                    Deferred::Update(q) => backend.build(q),
                };
                self.txn.execute_raw(stmt).await?;
            }
        }
        self.txn.commit().await?;
        lane.advance(head);
        self.rc.app.events.notify_committed();
        Ok(())
    }
}

/// `WITH w0 AS (s0), w1 AS (s1), … sN`: PostgreSQL runs every part, once, in one statement.
/// The parts touch different rows (they never read what another writes), so sharing one
/// snapshot changes nothing.
fn chained(parts: &[Deferred]) -> Statement {
    use sea_orm::sea_query::{PostgresQueryBuilder, SqlWriterValues};
    use std::fmt::Write;
    fn put(d: &Deferred, w: &mut SqlWriterValues) {
        match d {
            Deferred::Insert(q) => q.build_collect_into(PostgresQueryBuilder, w),
            Deferred::Update(q) => q.build_collect_into(PostgresQueryBuilder, w),
        }
    }
    let mut w = SqlWriterValues::new("$", true);
    let (ctes, main) = parts.split_at(parts.len().saturating_sub(1));
    for (i, d) in ctes.iter().enumerate() {
        let _ = write!(w, "{}w{i} AS (", if i == 0 { "WITH " } else { ", " });
        put(d, &mut w);
        let _ = w.write_str(") ");
    }
    for d in main {
        put(d, &mut w);
    }
    let (sql, values) = w.into_parts();
    Statement::from_sql_and_values(DatabaseBackend::Postgres, sql, values)
}

fn column<E: EntityTrait>(name: &str) -> Option<E::Column> {
    use sea_orm::Iterable;
    E::Column::iter().find(|c| sea_orm::IdenStatic::as_str(c) == name)
}

fn set_col<A: ActiveModelTrait>(am: &mut A, name: &str, v: sea_orm::Value) {
    if let Some(c) = column::<A::Entity>(name) {
        am.set(c, v);
    }
}

async fn current_version<E: EntityTrait>(txn: &DatabaseTransaction, id: Uuid) -> Option<i32>
where
    E::Model: Serialize,
{
    let id_col = column::<E>("id")?;
    let row = E::find().filter(id_col.eq(id)).one(txn).await.ok()??;
    serde_json::to_value(&row)
        .ok()?
        .get("version")?
        .as_i64()
        .map(|v| v as i32)
}

/// Fills id, created/updated by/at, version and owner columns of a new or updated row.
fn fill_meta<A: ActiveModelTrait>(am: &mut A, rc: &RequestCtx, at: DateTime<Utc>, create: bool) {
    let sub = sea_orm::Value::String(Some(rc.principal.sub.clone()));
    let time = sea_orm::Value::ChronoDateTimeUtc(Some(at));
    if create {
        if let Some(c) = column::<A::Entity>("id") {
            if am.get(c).into_value().is_none() || matches!(am.get(c), sea_orm::ActiveValue::NotSet)
            {
                am.set(c, sea_orm::Value::Uuid(Some(Uuid::now_v7())));
            }
        }
        set_col(am, "created_at", time.clone());
        set_col(am, "created_by", sub.clone());
        set_col(am, "version", sea_orm::Value::Int(Some(1)));
        set_col(
            am,
            "owner_agency",
            sea_orm::Value::String(Some(rc.agency.as_str().to_owned())),
        );
        set_col(am, "owner_org_id", sea_orm::Value::Uuid(rc.org));
    }
    set_col(am, "updated_at", time);
    set_col(am, "updated_by", sub);
}
