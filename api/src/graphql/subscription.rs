//! The root `Subscription`: live events over WebSocket (graphql-transport-ws and graphql-ws).
//!
//! Every event is authorized at delivery, not at subscribe time: the connection's token is
//! verified again, a fresh request context is built from it, the record is checked against the
//! subscriber's current row scope with the same SQL condition a query uses, and the selection
//! set is resolved through the normal object types inside that context — so field masks,
//! lawful bases and the read audit apply exactly as for a query. Sensitive values leave only
//! after their audit entries are committed; if that fails they are withheld.
//!
//! Subscribers whose answers cannot differ — the same selection set and variables, the same
//! access facts ([`access_key`]) and the same row scope — share one resolution per event: the
//! first of them resolves it, the others receive a copy. Each user still gets their own READ
//! audit entry (one per user and event, however many connections they have open), and every
//! subscriber is still checked against its own session, scope and subscription right first.

use std::borrow::Cow;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use async_graphql::parser::types::Field;
use async_graphql::registry::Registry;
use async_graphql::{
    Context, ContextSelectionSet, Data, Object, OutputType, PathSegment, Positioned, ServerError,
    ServerResult, Subscription, Value, ID,
};
use carehub_entity::enums::CarePlanStatus;
use carehub_entity::{care_plan, referral, report};
use carehub_policy::{Pred, RowScope};
use chrono::{DateTime, Utc};
use futures::Stream;
use sea_orm::{EntityTrait, PrimaryKeyTrait};
use tokio::sync::broadcast::{self, error::RecvError};
use tokio::sync::OnceCell;
use uuid::Uuid;

use super::query::{parse_id, parse_region};
use super::types::directory::dir_check;
use super::types::records::{CarePlan, Referral, Report};
use crate::audit::{ReadEntry, SearchEntry};
use crate::authz::access::ChildSet;
use crate::authz::guard::Siblings;
use crate::authz::{Node, Record, RequestCtx};
use crate::domain::region::RegionPrefix;
use crate::error::{ApiError, Code, GqlResult, IntoGql};
use crate::events::hub::{ANY_ENTITY, ANY_REGION};
use crate::events::Delivery;
use crate::state::AppState;
use crate::ws::WsSession;

/// `indicatorsChanged` fires at most once per this interval per subscription.
pub const INDICATORS_DEBOUNCE: Duration = Duration::from_secs(1);

/// Live operations.
#[derive(Default)]
pub struct SubscriptionRoot;

#[Subscription(name = "Subscription")]
impl SubscriptionRoot {
    /// New concern and mandatory reports (发现报告 / 强制报告) in a region (code prefix), as you
    /// may read them now: reports of children outside your current scope never arrive, and
    /// fields outside your remit are null with a FORBIDDEN error, as in a query.
    async fn report_raised(
        &self,
        ctx: &Context<'_>,
        region_code: String,
    ) -> async_graphql::Result<impl Stream<Item = GqlResult<Delivered<Report>>>> {
        let w = Watcher::open(ctx, "reportRaised", true).gql()?;
        let prefix = parse_region("regionCode", &region_code).gql()?;
        let rx = w.app.events.watch("Report", prefix.as_str());
        Ok(records::<report::Entity, _>(
            w,
            rx,
            |d| d.event.model.op == "CREATE",
            |_| true,
            Report,
        ))
    }

    /// Referrals (转介) from or to an organization: created, accepted, rejected, closed, … Each
    /// change arrives with the referral as it is now, decided against your current scope.
    async fn referral_updated(
        &self,
        ctx: &Context<'_>,
        organization_id: ID,
    ) -> async_graphql::Result<impl Stream<Item = GqlResult<Delivered<Referral>>>> {
        let w = Watcher::open(ctx, "referralUpdated", true).gql()?;
        let org = parse_id("organizationId", &organization_id).gql()?;
        let rx = w.app.events.watch("Referral", ANY_REGION);
        Ok(records::<referral::Entity, _>(
            w,
            rx,
            |_| true,
            move |r: &referral::Model| r.from_org_id == org || r.to_org_id == org,
            Referral,
        ))
    }

    /// Care plans in a region that became due for review (status REVIEW_DUE), as you may read
    /// them now.
    async fn care_plan_due(
        &self,
        ctx: &Context<'_>,
        region_code: String,
    ) -> async_graphql::Result<impl Stream<Item = GqlResult<Delivered<CarePlan>>>> {
        let w = Watcher::open(ctx, "carePlanDue", true).gql()?;
        let prefix = parse_region("regionCode", &region_code).gql()?;
        let rx = w.app.events.watch("CarePlan", prefix.as_str());
        Ok(records::<care_plan::Entity, _>(
            w,
            rx,
            status_changed,
            |p: &care_plan::Model| p.status == CarePlanStatus::ReviewDue,
            CarePlan,
        ))
    }

    /// Something that feeds the monitoring indicators changed in a region of your jurisdiction:
    /// refetch `indicators`. At most one notice per second; carries no record data.
    async fn indicators_changed(
        &self,
        ctx: &Context<'_>,
        region_code: String,
    ) -> async_graphql::Result<impl Stream<Item = GqlResult<Delivered<IndicatorsChange>>>> {
        let w = Watcher::open(ctx, "indicatorsChanged", false).gql()?;
        let prefix = parse_region("regionCode", &region_code).gql()?;
        let own = parse_region("token region", &w.session.principal.region).gql()?;
        if !own.covers(&prefix) {
            return Err(ApiError::Forbidden {
                reason: format!("region {prefix} is outside your jurisdiction ({own})"),
                field: Some("Subscription.indicatorsChanged".into()),
            }
            .into_gql());
        }
        let rx = w.app.events.watch(ANY_ENTITY, prefix.as_str());
        Ok(indicator_notices(w, rx, prefix.as_str().to_owned()))
    }
}

/// The change event touched the record's status.
fn status_changed(d: &Delivery) -> bool {
    d.event
        .model
        .changed
        .get("fields")
        .and_then(|f| f.get("status"))
        .is_some()
}

/// The notice `indicatorsChanged` sends.
pub struct IndicatorsChange {
    region_code: String,
    at: DateTime<Utc>,
}

/// Indicators of a region changed; refetch them.
#[Object]
impl IndicatorsChange {
    /// The region subscribed to (code prefix).
    async fn region_code(&self, ctx: &Context<'_>) -> GqlResult<Option<String>> {
        dir_check(ctx, "IndicatorsChange")?;
        Ok(Some(self.region_code.clone()))
    }
    /// When the latest change was committed.
    async fn at(&self, ctx: &Context<'_>) -> GqlResult<Option<DateTime<Utc>>> {
        dir_check(ctx, "IndicatorsChange")?;
        Ok(Some(self.at))
    }
}

/// One subscription of one connection.
struct Watcher {
    app: Arc<AppState>,
    session: Arc<WsSession>,
    field: &'static str,
    operation: String,
    /// The row scope predicate, as the key of the per-event scope check.
    scope_key: Arc<str>,
    /// Per-event cache keys of the child's access facts ([`access_key`]), of the group's shared
    /// answer (subscribers with the same [`Watcher::group`] share one resolution) and of this
    /// user's audit entry, made once here rather than for every event: the principal of every
    /// delivery is the session's.
    access_key: String,
    answer_key: String,
    audit_key: String,
}

/// Keeps the active-subscriptions gauge while a stream lives.
struct Active(Arc<crate::events::EventStats>);

impl Drop for Active {
    fn drop(&mut self) {
        self.0.subscriptions.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Watcher {
    /// Checks, at subscribe time, that the connection is authenticated and the role may
    /// subscribe to `field` (and, for record subscriptions, sees records at all).
    fn open(ctx: &Context<'_>, field: &'static str, records: bool) -> Result<Self, ApiError> {
        let session = ctx.data_opt::<Arc<WsSession>>().cloned().ok_or_else(|| {
            ApiError::Unauthenticated(
                "subscriptions run over WebSocket (/graphql/ws) after connection_init with a token"
                    .into(),
            )
        })?;
        let rc = RequestCtx::of(ctx);
        may_subscribe(rc, field)?;
        if records {
            rc.scope_or_forbidden()?;
        }
        let operation = ctx
            .query_env
            .operation_name
            .clone()
            .unwrap_or_else(|| field.to_owned());
        let scope_key: Arc<str> = format!("{:?}", rc.policy.row_scope(&rc.principal)).into();
        let access_key = access_key(rc);
        let group = Self::group(&access_key, ctx, &scope_key, &operation);
        let answer_key = format!("answer|{group}");
        let audit_key = format!("audit|{group}|{}", rc.principal.sub);
        Ok(Self {
            app: rc.app.clone(),
            session,
            field,
            operation,
            scope_key,
            access_key,
            answer_key,
            audit_key,
        })
    }

    /// What a delivery's answer depends on besides the event: the subscription field as written
    /// (arguments, alias, selection set, directives), the variables and fragments it may use,
    /// the operation name (audited), the subscriber's access facts and row scope. Two
    /// subscriptions with the same group get the same data and errors for the same event.
    /// Kept as the SHA-256 of that description (a few kilobytes of text per subscription
    /// otherwise; a collision is out of reach).
    fn group(access_key: &str, ctx: &Context<'_>, scope_key: &str, operation: &str) -> Arc<str> {
        use sha2::{Digest, Sha256};
        let mut fragments: Vec<_> = ctx.query_env.fragments.iter().collect();
        fragments.sort_by(|a, b| a.0.cmp(b.0));
        let described = format!(
            "{access_key}|{scope_key}|{operation}|{:?}|{:?}|{:?}",
            ctx.item, ctx.query_env.variables, fragments
        );
        hex::encode(Sha256::digest(described.as_bytes())).into()
    }

    /// A fresh context for one delivery, from the token verified again; an error ends the
    /// subscription (expired token, a disabled API client, a role the policy no longer grants
    /// this subscription).
    async fn context(&self, cursor: i64) -> Result<Arc<RequestCtx>, ApiError> {
        let principal = self.session.reauthenticate(&self.app)?;
        self.session.admitted(&self.app).await?;
        let rc = RequestCtx::new(
            self.app.clone(),
            principal,
            format!("{}.{cursor}", self.session.id),
            self.session.client_addr.clone(),
        )?;
        if let Ok(mut op) = rc.operation.lock() {
            *op = Some(self.operation.clone());
        }
        may_subscribe(&rc, self.field)?;
        Ok(Arc::new(rc))
    }

    fn active(&self) -> Active {
        let stats = self.app.events.stats().clone();
        stats.subscriptions.fetch_add(1, Ordering::Relaxed);
        Active(stats)
    }
}

fn may_subscribe(rc: &RequestCtx, field: &str) -> Result<(), ApiError> {
    match rc.app.fields.get("Subscription", field) {
        Some(f) if rc.policy.static_read(rc.role, f) => Ok(()),
        _ => Err(ApiError::Forbidden {
            reason: format!("role {} may not subscribe to {field}", rc.principal.role),
            field: Some(format!("Subscription.{field}")),
        }),
    }
}

fn lagged(w: &Watcher, n: u64) -> async_graphql::Error {
    w.app.events.stats().lagged.fetch_add(n, Ordering::Relaxed);
    ApiError::Unavailable(format!(
        "{n} events were skipped because this subscription fell behind; refetch to catch up"
    ))
    .into_gql()
}

/// A stream of records of `E` changed by the events on `rx` that pass `accept` (on the event)
/// and `keep` (on the record), each decided for the subscriber as it is at delivery.
fn records<E, T>(
    w: Watcher,
    mut rx: broadcast::Receiver<Arc<Delivery>>,
    accept: fn(&Delivery) -> bool,
    keep: impl Fn(&E::Model) -> bool + Send + 'static,
    wrap: fn(Node<E::Model>) -> T,
) -> impl Stream<Item = GqlResult<Delivered<T>>>
where
    E: EntityTrait,
    E::Model: Record + Send + Sync + 'static,
    <E::PrimaryKey as PrimaryKeyTrait>::ValueType: From<Uuid>,
    T: Send + Sync + 'static,
{
    async_stream::stream! {
        let _active = w.active();
        loop {
            let d = match rx.recv().await {
                Ok(d) => d,
                Err(RecvError::Lagged(n)) => {
                    yield Err(lagged(&w, n));
                    continue;
                }
                Err(RecvError::Closed) => break,
            };
            if !accept(&d) {
                continue;
            }
            let rc = match w.context(d.event.cursor).await {
                Ok(rc) => rc,
                Err(e) => {
                    w.app.events.stats().ended_unauthorized.fetch_add(1, Ordering::Relaxed);
                    yield Err(e.into_gql());
                    break;
                }
            };
            // The database futures are boxed: inline, the largest of them would sit in every
            // idle subscription's state (kilobytes times ten thousand subscribers).
            let row = match Box::pin(d.row::<E>(&w.app.db.write)).await {
                Ok(Some(row)) => row,
                Ok(None) => continue,
                Err(e) => {
                    tracing::warn!(error = %e, cursor = d.event.cursor, "subscription: cannot load the changed record");
                    continue;
                }
            };
            if !keep(&row) {
                continue;
            }
            match Box::pin(visible(&rc, &d, &w.scope_key, row.child_id())).await {
                Ok(true) => {}
                Ok(false) => {
                    w.app.events.stats().withheld_out_of_scope.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
                Err(e) => {
                    tracing::warn!(error = %e, cursor = d.event.cursor, "subscription: scope check failed; event withheld");
                    continue;
                }
            }
            // The child's access facts are computed once per event for subscribers whose facts
            // cannot differ, not once per subscriber (ten thousand subscribers, one query).
            let kids = d.shared(&w.access_key, || ChildSet::new(row.child_id().into_iter().collect()));
            let node = Node::new(row.clone(), Siblings::new(vec![row]), kids);
            let share = Share {
                answer: d.shared(&w.answer_key, Default::default),
                audit: d.shared(&w.audit_key, Default::default),
            };
            yield Ok(Delivered::new(rc, wrap(node), d.event.model.at).sharing(share));
        }
    }
}

/// What a child's access facts ([`ChildSet`]) depend on for this subscriber: the whole principal
/// for roles with break-glass or referral-limited views (grants and referrals are per user and
/// organization), else only the role, agency and purpose (lawful bases are per agency and purpose).
fn access_key(rc: &RequestCtx) -> String {
    let p = &rc.principal;
    if rc.policy.role_info(rc.role).break_glass || rc.policy.view_limited(rc.role) {
        format!(
            "user:{}:{}:{:?}:{}:{}",
            p.sub,
            p.role,
            p.org,
            p.region,
            p.purpose.as_str()
        )
    } else {
        format!(
            "role:{}:{}:{}",
            p.role,
            rc.agency.as_str(),
            p.purpose.as_str()
        )
    }
}

/// Whether the subscriber's current scope reaches the record's child — the same condition a
/// query applies, widened by an active break-glass grant as `child(id)` is. A record without
/// an identified child (an anonymous report) goes to region-wide roles of its region.
async fn visible(
    rc: &RequestCtx,
    d: &Delivery,
    scope_key: &str,
    child: Option<Uuid>,
) -> Result<bool, ApiError> {
    let pred = rc.policy.row_scope(&rc.principal);
    let Some(child_id) = child else {
        return Ok(match pred {
            RowScope::All => true,
            RowScope::Filter(Pred::RegionPrefix(p)) => d.region.is_some_and(|code| {
                RegionPrefix::parse(&p)
                    .map(|p| p.contains(code))
                    .unwrap_or(false)
            }),
            _ => false,
        });
    };
    let Some(scope) = rc.scope.clone() else {
        return Ok(false);
    };
    // Subscribers with the same scope predicate share one check per event.
    let db = rc.app.db.write.clone();
    let in_scope = d
        .scope_check(scope_key.to_owned(), || async move {
            Ok(crate::service::children::by_id(&db, scope, child_id)
                .await?
                .is_some())
        })
        .await?;
    if in_scope {
        return Ok(true);
    }
    Ok(crate::authz::access::active_grants(rc)
        .await?
        .contains_key(&child_id))
}

/// `indicatorsChanged`: a notice on the first change, then at most one per
/// [`INDICATORS_DEBOUNCE`] while changes keep coming.
fn indicator_notices(
    w: Watcher,
    mut rx: broadcast::Receiver<Arc<Delivery>>,
    region_code: String,
) -> impl Stream<Item = GqlResult<Delivered<IndicatorsChange>>> {
    async_stream::stream! {
        let _active = w.active();
        let mut pending: Option<Arc<Delivery>> = None;
        loop {
            let d = match pending.take() {
                Some(d) => d,
                None => match rx.recv().await {
                    Ok(d) => d,
                    // Missed events still mean "something changed".
                    Err(RecvError::Lagged(_)) => match rx.recv().await {
                        Ok(d) => d,
                        Err(_) => break,
                    },
                    Err(RecvError::Closed) => break,
                },
            };
            let rc = match w.context(d.event.cursor).await {
                Ok(rc) => rc,
                Err(e) => {
                    w.app.events.stats().ended_unauthorized.fetch_add(1, Ordering::Relaxed);
                    yield Err(e.into_gql());
                    break;
                }
            };
            let at = d.event.model.at;
            yield Ok(Delivered::new(rc, IndicatorsChange { region_code: region_code.clone(), at }, at));
            tokio::time::sleep(INDICATORS_DEBOUNCE).await;
            // Coalesce what came during the quiet second into one more notice.
            loop {
                match rx.try_recv() {
                    Ok(d) => pending = Some(d),
                    Err(broadcast::error::TryRecvError::Lagged(_)) => {}
                    Err(_) => break,
                }
            }
        }
    }
}

/// The caches one group of subscribers shares for one event ([`Watcher::group`]).
struct Share {
    answer: Arc<OnceCell<Arc<Answer>>>,
    /// Whether this user's READ entries for the event are committed (`false`: withhold).
    audit: Arc<OnceCell<bool>>,
}

/// One resolution of an event's selection set, with what it left behind for the response and
/// the audit.
struct Answer {
    value: ServerResult<Value>,
    /// Errors the resolution added (e.g. FORBIDDEN on a masked field), for every response.
    errors: Vec<ServerError>,
    reads: Vec<ReadEntry>,
    searches: Vec<SearchEntry>,
    /// Response paths of the sensitive values in `value`.
    paths: Vec<Vec<String>>,
}

/// A value delivered to one subscriber, resolved inside that delivery's own request context
/// (so every field decision and audit entry is the subscriber's, as of now) — or copied from the
/// resolution of a subscriber whose answer cannot differ.
pub struct Delivered<T> {
    rc: Arc<RequestCtx>,
    value: T,
    committed_at: DateTime<Utc>,
    share: Option<Share>,
}

impl<T> Delivered<T> {
    fn new(rc: Arc<RequestCtx>, value: T, committed_at: DateTime<Utc>) -> Self {
        Self {
            rc,
            value,
            committed_at,
            share: None,
        }
    }

    fn sharing(mut self, share: Share) -> Self {
        self.share = Some(share);
        self
    }
}

impl<T: OutputType> Delivered<T> {
    /// Resolves the selection set in this delivery's context and takes what it collected.
    async fn answer(&self, ctx: &ContextSelectionSet<'_>, field: &Positioned<Field>) -> Answer {
        let mut data = Data::default();
        data.insert(self.rc.clone());
        // Data of the execution wins over the connection's: `RequestCtx::of` now sees this
        // delivery's context in every nested resolver.
        let mut scoped: ContextSelectionSet<'_> = ctx.clone();
        scoped.execute_data = Some(&data);
        self.rc
            .app
            .events
            .stats()
            .resolutions
            .fetch_add(1, Ordering::Relaxed);
        let before = ctx.query_env.errors.lock().map(|e| e.len()).unwrap_or(0);
        let value = self.value.resolve(&scoped, field).await;
        let errors = match ctx.query_env.errors.lock() {
            Ok(mut e) if e.len() > before => e.split_off(before),
            _ => Vec::new(),
        };
        Answer {
            value,
            errors,
            reads: self.rc.audit.drain(),
            searches: self.rc.audit.drain_searches(),
            paths: self.rc.audit.drain_paths(),
        }
    }

    /// Commits this subscriber's READ entries for `answer`; `false` if the audit store failed.
    async fn audit(&self, answer: &Answer) -> bool {
        if !self.rc.app.settings.audit_enabled
            || (answer.reads.is_empty() && answer.searches.is_empty())
        {
            return true;
        }
        let records =
            crate::http::audit_records(&self.rc, answer.reads.clone(), answer.searches.clone());
        self.rc.app.audit.write(records).await.is_ok()
    }
}

impl<T: OutputType> OutputType for Delivered<T> {
    fn type_name() -> Cow<'static, str> {
        T::type_name()
    }

    fn qualified_type_name() -> String {
        T::qualified_type_name()
    }

    fn create_type_info(registry: &mut Registry) -> String {
        T::create_type_info(registry)
    }

    async fn resolve(
        &self,
        ctx: &ContextSelectionSet<'_>,
        field: &Positioned<Field>,
    ) -> ServerResult<Value> {
        let stats = self.rc.app.events.stats();
        let (answer, audited) = match &self.share {
            Some(share) => {
                let answer = share
                    .answer
                    .get_or_init(|| async { Arc::new(self.answer(ctx, field).await) })
                    .await
                    .clone();
                // Fail closed: sensitive values leave only once their audit entries are committed.
                let audited = *share.audit.get_or_init(|| self.audit(&answer)).await;
                (answer, audited)
            }
            None => {
                let answer = self.answer(ctx, field).await;
                let audited = self.audit(&answer).await;
                (Arc::new(answer), audited)
            }
        };
        for e in &answer.errors {
            ctx.add_error(e.clone());
        }
        let mut value = answer.value.clone()?;
        if !audited {
            stats.audit_withheld.fetch_add(1, Ordering::Relaxed);
            let key = field.node.response_key().node.as_str();
            for path in &answer.paths {
                let rest = match path.split_first() {
                    Some((first, rest)) if first == key => rest,
                    _ => continue,
                };
                if null_at(&mut value, rest) {
                    let mut err = ServerError::new(
                        "sensitive field withheld: the audit store is unavailable, retry shortly",
                        Some(field.pos),
                    );
                    err.path = path
                        .iter()
                        .map(|s| match s.parse::<usize>() {
                            Ok(i) => PathSegment::Index(i),
                            Err(_) => PathSegment::Field(s.clone()),
                        })
                        .collect();
                    let mut ext = async_graphql::ErrorExtensionValues::default();
                    ext.set("code", Code::AuditUnavailable.as_str());
                    err.extensions = Some(ext);
                    ctx.add_error(err);
                }
            }
        }
        stats.delivered(
            (Utc::now() - self.committed_at)
                .to_std()
                .unwrap_or_default(),
        );
        Ok(value)
    }
}

/// Nulls the value at `path`; `true` if there was a non-null value.
fn null_at(v: &mut Value, path: &[String]) -> bool {
    let Some((first, rest)) = path.split_first() else {
        if matches!(v, Value::Null) {
            return false;
        }
        *v = Value::Null;
        return true;
    };
    match v {
        Value::Object(map) => map
            .get_mut(first.as_str())
            .is_some_and(|inner| null_at(inner, rest)),
        Value::List(items) => first
            .parse::<usize>()
            .ok()
            .and_then(|i| items.get_mut(i))
            .is_some_and(|inner| null_at(inner, rest)),
        _ => false,
    }
}
