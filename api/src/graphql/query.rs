//! The root `Query`: the caller, the directory, existence checks, and children in scope.

use std::sync::Arc;

use async_graphql::{Context, InputObject, Object, ID};
use carehub_entity::{child, organization};
use sea_orm::{ColumnTrait, Condition, EntityTrait, QueryFilter, QuerySelect};
use tokio::sync::OnceCell;
use uuid::Uuid;

use super::enums::{
    Agency, ChildStatus, DifficultyCategory, OrganizationKind, RiskLevel, SortDirection,
};
use super::types::child::Child;
use super::types::connection::{ChildConnection, Counter};
use super::types::directory::{dir_check, ChildExistence, Organization, Region, Viewer};
use crate::authz::access::ChildSet;
use crate::authz::guard::Siblings;
use crate::authz::{Node, RequestCtx};
use crate::domain::idnumber::IdNumber;
use crate::domain::region::RegionPrefix;
use crate::error::{ApiError, GqlResult, IntoGql};
use crate::service::children::{self as svc, Filter, Sort, SortKey};
use crate::service::directory;

/// Filters of `children`. Each is authorized like a read of the field it filters on.
#[derive(InputObject, Default)]
pub struct ChildFilter {
    /// Region code prefix of residence (`45`, `4501`, `450102`, … or a 12-digit code).
    pub region_code: Option<String>,
    /// Record status.
    pub status: Option<ChildStatus>,
    /// Has this (currently valid) difficulty category.
    pub difficulty_category: Option<DifficultyCategory>,
    /// Key case (重点个案).
    pub key_case: Option<bool>,
    /// Current risk level.
    pub current_risk_level: Option<RiskLevel>,
    /// Enrolled at this school now.
    pub school_id: Option<ID>,
    /// Part of the full name.
    pub name_search: Option<String>,
    /// In treatment now.
    pub in_treatment: Option<bool>,
}

/// Sort order of `children`: set exactly one key. Ordering is authorized like a read.
#[derive(InputObject, Default)]
pub struct ChildOrder {
    pub updated_at: Option<SortDirection>,
    pub display_name: Option<SortDirection>,
    pub birth_year_month: Option<SortDirection>,
    pub current_risk_level: Option<SortDirection>,
}

/// Filters of `organizations`.
#[derive(InputObject, Default)]
pub struct OrganizationFilter {
    pub kind: Option<OrganizationKind>,
    pub agency: Option<Agency>,
    /// Region code prefix.
    pub region_code: Option<String>,
}

/// Identify a child either by ID number, or by name + birth date + region.
#[derive(InputObject, Default)]
pub struct ChildExistsInput {
    pub id_number: Option<String>,
    pub name: Option<String>,
    pub birth_date: Option<chrono::NaiveDate>,
    /// Region code prefix of residence or household registration.
    pub region_code: Option<String>,
}

/// Parses a UUID argument or reports which argument is wrong.
pub fn parse_id(arg: &str, id: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(id.trim()).map_err(|_| ApiError::bad_input(arg, "must be a UUID"))
}

/// Parses a region code argument.
pub fn parse_region(arg: &str, code: &str) -> Result<RegionPrefix, ApiError> {
    RegionPrefix::parse(code).map_err(|e| ApiError::bad_input(arg, e.to_string()))
}

/// Validates a page size.
pub fn page_size(ctx: &Context<'_>, first: Option<i32>, default: u64) -> Result<u64, ApiError> {
    let max = RequestCtx::of(ctx).app.settings.max_page_size;
    match first {
        None => Ok(default.min(max)),
        Some(n) if n < 0 => Err(ApiError::bad_input("first", "must not be negative")),
        Some(n) if n as u64 > max => Err(ApiError::bad_input(
            "first",
            format!("must be at most {max}"),
        )),
        Some(n) => Ok(n as u64),
    }
}

impl ChildFilter {
    fn to_spec(&self) -> Result<Filter, ApiError> {
        Ok(Filter {
            region: self
                .region_code
                .as_deref()
                .map(|c| parse_region("filter.regionCode", c))
                .transpose()?,
            status: self.status.map(Into::into),
            difficulty: self.difficulty_category.map(Into::into),
            key_case: self.key_case,
            risk: self.current_risk_level.map(Into::into),
            school: self
                .school_id
                .as_deref()
                .map(|s| parse_id("filter.schoolId", s))
                .transpose()?,
            name_search: match self.name_search.as_deref().map(str::trim) {
                Some("") => {
                    return Err(ApiError::bad_input(
                        "filter.nameSearch",
                        "must not be empty",
                    ))
                }
                Some(s) if s.chars().count() > 50 => {
                    return Err(ApiError::bad_input(
                        "filter.nameSearch",
                        "must be at most 50 characters",
                    ))
                }
                other => other.map(str::to_owned),
            },
            in_treatment: self.in_treatment,
        })
    }
}

impl ChildOrder {
    fn to_sort(&self) -> Result<Sort, ApiError> {
        let keys = [
            (SortKey::UpdatedAt, self.updated_at),
            (SortKey::DisplayName, self.display_name),
            (SortKey::BirthYearMonth, self.birth_year_month),
            (SortKey::RiskLevel, self.current_risk_level),
        ];
        let set: Vec<_> = keys
            .iter()
            .filter_map(|(k, d)| d.map(|d| (*k, d)))
            .collect();
        match set.as_slice() {
            [] => Ok(Sort::recent()),
            [(key, dir)] => Ok(Sort {
                key: *key,
                descending: *dir == SortDirection::Desc,
            }),
            _ => Err(ApiError::bad_input("orderBy", "set exactly one sort key")),
        }
    }
}

/// Wraps loaded children into nodes sharing one sibling batch and one access batch.
pub fn child_nodes(rows: Vec<child::Model>) -> Vec<Child> {
    let rows: Vec<Arc<child::Model>> = rows.into_iter().map(Arc::new).collect();
    let kids = ChildSet::new(rows.iter().map(|r| r.id).collect());
    let sib = Siblings::new(rows.clone());
    rows.into_iter()
        .map(|r| Child(Node::new(r, sib.clone(), kids.clone())))
        .collect()
}

/// Filters of `auditLog`.
#[derive(InputObject, Default)]
pub struct AuditFilter {
    pub child_id: Option<ID>,
    /// Token subject.
    pub actor: Option<String>,
    pub agency: Option<Agency>,
    pub purpose: Option<super::enums::Purpose>,
    /// ALLOWED, MASKED, DENIED, CONSENT_REQUIRED, BREAK_GLASS.
    pub decision: Option<String>,
    /// READ, SEARCH, WRITE, REVEAL_ID, BREAK_GLASS, AUDIT_READ, …
    pub action: Option<String>,
    pub from: Option<chrono::DateTime<chrono::Utc>>,
    pub to: Option<chrono::DateTime<chrono::Utc>>,
}

/// Read operations: the core record queries and the monitoring indicators, merged.
#[derive(async_graphql::MergedObject, Default)]
pub struct Query(CoreQuery, super::types::indicators::IndicatorQuery);

/// Record, directory, history and audit queries.
#[derive(Default)]
pub struct CoreQuery;

/// Writes an audit entry for an action that is not a field read (e.g. reading the audit).
pub async fn audit_action(
    rc: &RequestCtx,
    action: &str,
    child: Option<Uuid>,
    reason: Option<String>,
) -> Result<(), ApiError> {
    if !rc.app.settings.audit_enabled {
        return Ok(());
    }
    let p = &rc.principal;
    let record = crate::audit::AuditRecord {
        at: chrono::Utc::now(),
        sub: p.sub.clone(),
        agency: p.agency.as_str().to_owned(),
        role: p.role.clone(),
        org: p.org.clone(),
        client_id: p.client_id.clone(),
        purpose: p.purpose.as_str().to_owned(),
        lawful_basis: None,
        action: action.to_owned(),
        operation: rc.operation_name(),
        entity: None,
        record_ids: child.map(|c| c.to_string()).into_iter().collect(),
        child_id: child,
        fields: Vec::new(),
        groups: vec!["G-AUDIT".to_owned()],
        decision: "ALLOWED".to_owned(),
        request_id: Some(rc.request_id.clone()),
        client_addr: rc.client_addr.clone(),
        policy_version: rc.policy.version().to_owned(),
        region_code: None,
        reason,
    };
    rc.app
        .audit
        .write(vec![record])
        .await
        .map_err(|e| ApiError::Unavailable(e.to_string()))
}

async fn access_of(
    rc: &RequestCtx,
    children: Vec<Uuid>,
) -> Result<std::collections::HashMap<Uuid, crate::authz::access::ChildAccess>, ApiError> {
    let set = ChildSet::new(children.clone());
    let mut map = std::collections::HashMap::new();
    for c in children {
        map.insert(c, set.access(rc, c).await?);
    }
    Ok(map)
}

#[Object]
impl CoreQuery {
    /// The caller, as the server understood the token and the `X-Purpose` header.
    async fn me(&self, ctx: &Context<'_>) -> GqlResult<Option<Viewer>> {
        dir_check(ctx, "Query")?;
        Ok(Some(Viewer))
    }

    /// Regions below `parentCode` (provinces when omitted).
    async fn regions(
        &self,
        ctx: &Context<'_>,
        parent_code: Option<String>,
    ) -> GqlResult<Option<Vec<Region>>> {
        dir_check(ctx, "Query")?;
        let parent = parent_code
            .as_deref()
            .map(|c| parse_region("parentCode", c).map(|p| p.code()))
            .transpose()
            .gql()?;
        let rows = directory::regions(super::types::read_db(ctx), parent)
            .await
            .gql()?;
        Ok(Some(rows.into_iter().map(Region).collect()))
    }

    /// Organizations (the directory is readable by every role).
    async fn organizations(
        &self,
        ctx: &Context<'_>,
        filter: Option<OrganizationFilter>,
        first: Option<i32>,
    ) -> GqlResult<Option<Vec<Organization>>> {
        dir_check(ctx, "Query")?;
        let f = filter.unwrap_or_default();
        let limit = page_size(ctx, first, 100).gql()?;
        let region = f
            .region_code
            .as_deref()
            .map(|c| parse_region("filter.regionCode", c))
            .transpose()
            .gql()?;
        let rows = directory::organizations(
            super::types::read_db(ctx),
            f.kind.map(Into::into),
            f.agency.map(Into::into),
            region.as_ref(),
            limit,
        )
        .await
        .gql()?;
        Ok(Some(Organization::many(rows)))
    }

    /// Whether a child is registered anywhere, and whom to contact — never the record. The only
    /// question a role may ask outside its scope; every call is audited.
    async fn child_exists(
        &self,
        ctx: &Context<'_>,
        input: ChildExistsInput,
    ) -> GqlResult<Option<ChildExistence>> {
        dir_check(ctx, "Query")?;
        let rc = RequestCtx::of(ctx);
        let db = &rc.app.db.read;
        let cond = if let Some(raw) = input.id_number.as_deref() {
            let id = IdNumber::parse(raw)
                .map_err(|e| ApiError::bad_input("input.idNumber", e.to_string()).into_gql())?;
            Condition::all()
                .add(child::Column::IdNumberBidx.eq(rc.app.vault.blind_index(id.as_str())))
        } else {
            match (&input.name, input.birth_date, &input.region_code) {
                (Some(name), Some(birth), Some(region)) if !name.trim().is_empty() => {
                    let p = parse_region("input.regionCode", region).gql()?;
                    let (lo, hi) = p.range();
                    Condition::all()
                        .add(child::Column::Name.eq(name.trim()))
                        .add(child::Column::BirthDate.eq(birth))
                        .add(
                            Condition::any()
                                .add(
                                    Condition::all()
                                        .add(child::Column::HouseholdRegionCode.gte(lo))
                                        .add(child::Column::HouseholdRegionCode.lt(hi)),
                                )
                                .add(
                                    Condition::all()
                                        .add(child::Column::ResidenceRegionCode.gte(lo))
                                        .add(child::Column::ResidenceRegionCode.lt(hi)),
                                ),
                        )
                }
                _ => {
                    return Err(ApiError::bad_input(
                        "input",
                        "give idNumber, or name together with birthDate and regionCode",
                    )
                    .into_gql());
                }
            }
        };
        let found = child::Entity::find()
            .filter(cond)
            .filter(child::Column::ArchivedAt.is_null())
            .one(db)
            .await
            .map_err(ApiError::from)
            .gql()?;
        let org = match found
            .as_ref()
            .and_then(|c| c.responsible_org_id.or(c.owner_org_id))
        {
            Some(org_id) => organization::Entity::find_by_id(org_id)
                .one(db)
                .await
                .map_err(ApiError::from)
                .gql()?
                .map(Arc::new),
            None => None,
        };
        rc.audit.search(
            "childExists",
            found.as_ref().map(|c| c.id).into_iter().collect(),
        );
        Ok(Some(ChildExistence {
            exists_: found.is_some(),
            org,
        }))
    }

    /// Every committed change of one record, oldest first. Values of fields outside your remit
    /// are withheld.
    async fn history(
        &self,
        ctx: &Context<'_>,
        entity: String,
        id: ID,
    ) -> GqlResult<Option<Vec<super::types::history::ChangeEvent>>> {
        use carehub_entity::change_event;
        use sea_orm::QueryOrder;
        dir_check(ctx, "Query")?;
        let rc = RequestCtx::of(ctx);
        let id = parse_id("id", &id).gql()?;
        let events = change_event::Entity::find()
            .filter(change_event::Column::Entity.eq(entity.as_str()))
            .filter(change_event::Column::RecordId.eq(id))
            .order_by_asc(change_event::Column::Id)
            .limit(1000)
            .all(&rc.app.db.read)
            .await
            .map_err(ApiError::from)
            .gql()?;
        let not_found = || ApiError::NotFound(format!("no {entity} {id} in your scope")).into_gql();
        let Some(child_id) = events.iter().find_map(|e| e.child_id) else {
            return Err(not_found());
        };
        let mut scope = rc.scope_or_forbidden().gql()?;
        if crate::authz::access::active_grants(rc)
            .await
            .gql()?
            .contains_key(&child_id)
        {
            scope = Condition::any()
                .add(scope)
                .add(child::Column::Id.eq(child_id));
        }
        if svc::by_id(&rc.app.db.read, scope, child_id)
            .await
            .gql()?
            .is_none()
        {
            return Err(not_found());
        }
        let access = access_of(rc, vec![child_id]).await.gql()?;
        rc.audit.search("history", vec![child_id]);
        Ok(Some(super::types::history::decide_events(
            rc, events, &access,
        )))
    }

    /// The durable change feed partner systems sync from: committed changes of records in your
    /// scope after `after`, in commit order. Resume with the last cursor you processed.
    async fn changes(
        &self,
        ctx: &Context<'_>,
        after: Option<String>,
        #[graphql(desc = "Record types to include (e.g. Referral, Visit); all when omitted")]
        entities: Option<Vec<String>>,
        first: Option<i32>,
    ) -> GqlResult<Option<Vec<super::types::history::ChangeEvent>>> {
        use carehub_entity::change_event;
        use sea_orm::sea_query::Query as SqlQuery;
        use sea_orm::QueryOrder;
        dir_check(ctx, "Query")?;
        let rc = RequestCtx::of(ctx);
        let scope = rc.scope_or_forbidden().gql()?;
        let after: i64 = match after.as_deref() {
            None => 0,
            Some(a) => a.trim().parse().map_err(|_| {
                ApiError::bad_input("after", "must be a cursor returned by changes").into_gql()
            })?,
        };
        let first = page_size(ctx, first, 100).gql()?;
        let in_scope = SqlQuery::select()
            .column(child::Column::Id)
            .from(child::Entity)
            .cond_where(scope)
            .to_owned();
        let mut q = change_event::Entity::find()
            .filter(change_event::Column::Cursor.gt(after))
            .filter(change_event::Column::ChildId.in_subquery(in_scope));
        if let Some(list) = &entities {
            q = q.filter(change_event::Column::Entity.is_in(list.iter().map(String::as_str)));
        }
        let events = q
            .order_by_asc(change_event::Column::Cursor)
            .limit(first)
            .all(&rc.app.db.read)
            .await
            .map_err(ApiError::from)
            .gql()?;
        let mut children: Vec<Uuid> = events.iter().filter_map(|e| e.child_id).collect();
        children.sort();
        children.dedup();
        let access = access_of(rc, children.clone()).await.gql()?;
        rc.audit.search("changes", children);
        Ok(Some(super::types::history::decide_events(
            rc, events, &access,
        )))
    }

    /// The audit log of your jurisdiction, newest first (auditors). Reading it is audited.
    async fn audit_log(
        &self,
        ctx: &Context<'_>,
        filter: Option<AuditFilter>,
        first: Option<i32>,
        after: Option<String>,
    ) -> GqlResult<Option<Vec<super::types::audit::AuditEntry>>> {
        use carehub_entity::audit_entry;
        use sea_orm::sea_query::Query as SqlQuery;
        use sea_orm::QueryOrder;
        dir_check(ctx, "Query")?;
        let rc = RequestCtx::of(ctx);
        let f = filter.unwrap_or_default();
        let first = page_size(ctx, first, 100).gql()?;
        let region = parse_region("token region", &rc.principal.region).gql()?;
        let in_region = SqlQuery::select()
            .column(child::Column::Id)
            .from(child::Entity)
            .cond_where(crate::authz::scope::region_condition(&region))
            .to_owned();
        let mut q = audit_entry::Entity::find().filter(
            Condition::any()
                .add(audit_entry::Column::ChildId.is_null())
                .add(audit_entry::Column::ChildId.in_subquery(in_region)),
        );
        if let Some(c) = &f.child_id {
            q = q.filter(audit_entry::Column::ChildId.eq(parse_id("filter.childId", c).gql()?));
        }
        if let Some(a) = &f.actor {
            q = q.filter(audit_entry::Column::Sub.eq(a.as_str()));
        }
        if let Some(a) = f.agency {
            q = q.filter(
                audit_entry::Column::Agency.eq(carehub_entity::enums::Agency::from(a).as_str()),
            );
        }
        if let Some(p) = f.purpose {
            q = q.filter(
                audit_entry::Column::Purpose.eq(carehub_entity::enums::Purpose::from(p).as_str()),
            );
        }
        if let Some(d) = &f.decision {
            q = q.filter(audit_entry::Column::Decision.eq(d.as_str()));
        }
        if let Some(a) = &f.action {
            q = q.filter(audit_entry::Column::Action.eq(a.as_str()));
        }
        if let Some(t) = f.from {
            q = q.filter(audit_entry::Column::At.gte(t));
        }
        if let Some(t) = f.to {
            q = q.filter(audit_entry::Column::At.lt(t));
        }
        if let Some(a) = after.as_deref() {
            let id: i64 = a.parse().map_err(|_| {
                ApiError::bad_input("after", "must be an audit entry id").into_gql()
            })?;
            q = q.filter(audit_entry::Column::Id.lt(id));
        }
        let rows = q
            .order_by_desc(audit_entry::Column::Id)
            .limit(first)
            .all(&rc.app.db.read)
            .await
            .map_err(ApiError::from)
            .gql()?;
        audit_action(
            rc,
            "AUDIT_READ",
            None,
            Some(format!("auditLog: {} entries", rows.len())),
        )
        .await
        .gql()?;
        Ok(Some(
            rows.into_iter()
                .map(super::types::audit::AuditEntry)
                .collect(),
        ))
    }

    /// Who accessed this child's data, grouped by agency and purpose — to answer a guardian's
    /// right-to-know request. Reading it is audited.
    async fn access_report(
        &self,
        ctx: &Context<'_>,
        child_id: ID,
    ) -> GqlResult<Option<Vec<super::types::audit::AccessSummary>>> {
        use carehub_entity::audit_entry;
        use std::collections::{BTreeMap, BTreeSet};
        dir_check(ctx, "Query")?;
        let rc = RequestCtx::of(ctx);
        let id = parse_id("childId", &child_id).gql()?;
        let scope = rc.scope_or_forbidden().gql()?;
        if svc::by_id(&rc.app.db.read, scope, id)
            .await
            .gql()?
            .is_none()
        {
            return Err(ApiError::NotFound(format!("no child {id} in your scope")).into_gql());
        }
        let rows = audit_entry::Entity::find()
            .filter(audit_entry::Column::ChildId.eq(id))
            .filter(audit_entry::Column::Action.is_in([
                "READ",
                "WRITE",
                "REVEAL_ID",
                "BREAK_GLASS",
            ]))
            .all(&rc.app.db.read)
            .await
            .map_err(ApiError::from)
            .gql()?;
        // (reads, last read, roles, field groups) per (agency, purpose).
        type Tally = (
            i64,
            chrono::DateTime<chrono::Utc>,
            BTreeSet<String>,
            BTreeSet<String>,
        );
        let mut groups: BTreeMap<(String, String), Tally> = BTreeMap::new();
        for r in rows {
            let e = groups
                .entry((r.agency.clone(), r.purpose.clone()))
                .or_insert((0, r.at, BTreeSet::new(), BTreeSet::new()));
            e.0 += 1;
            e.1 = e.1.max(r.at);
            e.2.insert(r.role.clone());
            for g in super::types::records::strings(&r.groups) {
                e.3.insert(g);
            }
        }
        audit_action(rc, "AUDIT_READ", Some(id), Some("accessReport".into()))
            .await
            .gql()?;
        Ok(Some(
            groups
                .into_iter()
                .map(|((agency, purpose), (n, last, roles, gs))| {
                    super::types::audit::AccessSummary {
                        agency,
                        purpose,
                        accesses: n,
                        last_at: last,
                        roles: roles.into_iter().collect(),
                        groups: gs.into_iter().collect(),
                    }
                })
                .collect(),
        ))
    }

    /// Break-glass grants awaiting (or with) a supervisor's review, in your jurisdiction.
    async fn emergency_access_reviews(
        &self,
        ctx: &Context<'_>,
        pending_only: Option<bool>,
    ) -> GqlResult<Option<Vec<super::types::audit::BreakGlassGrant>>> {
        use carehub_entity::break_glass_grant;
        use sea_orm::sea_query::Query as SqlQuery;
        use sea_orm::QueryOrder;
        dir_check(ctx, "Query")?;
        let rc = RequestCtx::of(ctx);
        let region = parse_region("token region", &rc.principal.region).gql()?;
        let in_region = SqlQuery::select()
            .column(child::Column::Id)
            .from(child::Entity)
            .cond_where(crate::authz::scope::region_condition(&region))
            .to_owned();
        let mut q = break_glass_grant::Entity::find()
            .filter(break_glass_grant::Column::ChildId.in_subquery(in_region));
        if pending_only.unwrap_or(true) {
            q = q.filter(break_glass_grant::Column::ReviewOutcome.is_null());
        }
        let rows = q
            .order_by_asc(break_glass_grant::Column::GrantedAt)
            .limit(500)
            .all(&rc.app.db.read)
            .await
            .map_err(ApiError::from)
            .gql()?;
        Ok(Some(
            rows.into_iter()
                .map(super::types::audit::BreakGlassGrant)
                .collect(),
        ))
    }

    /// One child by id. Outside your scope the answer is the same as for an absent id.
    async fn child(&self, ctx: &Context<'_>, id: ID) -> GqlResult<Option<Child>> {
        dir_check(ctx, "Query")?;
        let rc = RequestCtx::of(ctx);
        let id = parse_id("id", &id).gql()?;
        let mut scope = rc.scope_or_forbidden().gql()?;
        // A break-glass grant widens the scope to that one child.
        let grants = crate::authz::access::active_grants(rc).await.gql()?;
        if grants.contains_key(&id) {
            scope = Condition::any().add(scope).add(child::Column::Id.eq(id));
        }
        let row = svc::by_id(&rc.app.db.read, scope, id).await.gql()?;
        match row {
            Some(row) => Ok(child_nodes(vec![row]).pop()),
            None => Err(ApiError::NotFound(format!("no child {id} in your scope")).into_gql()),
        }
    }

    /// Children in your scope, as a Relay connection (newest update first by default).
    async fn children(
        &self,
        ctx: &Context<'_>,
        filter: Option<ChildFilter>,
        #[graphql(desc = "Page size (default 20, at most the configured maximum, 500)")]
        first: Option<i32>,
        #[graphql(desc = "Cursor of the last edge of the previous page")] after: Option<String>,
        order_by: Option<ChildOrder>,
    ) -> GqlResult<Option<ChildConnection>> {
        dir_check(ctx, "Query")?;
        let rc = RequestCtx::of(ctx);
        let spec = filter.unwrap_or_default().to_spec().gql()?;
        let scope = rc.scope_within(spec.region.as_ref()).gql()?;
        let first = page_size(ctx, first, 20).gql()?;
        let sort = order_by.unwrap_or_default().to_sort().gql()?;
        let (rows, more) = svc::page(
            &rc.app.db.read,
            scope.clone(),
            &spec,
            sort,
            first,
            after.as_deref(),
        )
        .await
        .gql()?;
        let cursors: Vec<String> = rows.iter().map(|r| svc::cursor_of(r, sort)).collect();
        rc.audit
            .search("children", rows.iter().map(|r| r.id).collect());
        Ok(Some(ChildConnection {
            nodes: child_nodes(rows),
            cursors,
            has_next: more,
            has_previous: after.is_some(),
            counter: Arc::new(Counter {
                scope,
                filter: spec,
                value: OnceCell::new(),
            }),
            sort,
        }))
    }
}
