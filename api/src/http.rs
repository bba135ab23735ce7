//! HTTP routes: `POST/GET /graphql` (authentication, purpose of use, execution, audit flush),
//! GraphiQL in development, `/healthz` and `/readyz`.

use std::sync::Arc;

use actix_web::http::header::{self, HeaderMap};
use actix_web::{web, HttpRequest, HttpResponse};
use async_graphql::http::GraphiQLSource;
use async_graphql::{BatchRequest, BatchResponse, Response, ServerError, Value};
use carehub_policy::{Principal, Purpose};

use crate::audit::{AuditRecord, Decision};
use crate::auth::{AuthError, Authenticator};
use crate::authz::RequestCtx;
use crate::error::{ApiError, Code};
use crate::graphql::AppSchema;
use crate::state::AppState;

/// The request id: the caller's `X-Request-Id` if sane, otherwise a new one.
pub fn request_id(headers: &HeaderMap) -> String {
    headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            !v.is_empty()
                && v.len() <= 128
                && v.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.:".contains(c))
        })
        .map(str::to_owned)
        .unwrap_or_else(|| uuid::Uuid::now_v7().to_string())
}

/// A GraphQL-shaped error response with the code's HTTP status.
pub fn error_response(code: Code, message: &str, request_id: &str) -> HttpResponse {
    HttpResponse::build(code.http_status())
        .insert_header(("x-request-id", request_id.to_owned()))
        .json(serde_json::json!({ "errors": [{ "message": message, "extensions": { "code": code.as_str() } }] }))
}

/// Verifies the bearer token and builds the principal, stating the purpose of use.
pub fn authenticate(app: &AppState, headers: &HeaderMap) -> Result<Principal, ApiError> {
    let auth_header = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let token =
        Authenticator::bearer(auth_header).map_err(|e| ApiError::Unauthenticated(e.to_string()))?;
    let claims = app
        .auth
        .verify(token)
        .map_err(|e: AuthError| ApiError::Unauthenticated(e.to_string()))?;
    let role = app.policy.role(&claims.role).ok_or_else(|| {
        ApiError::Unauthenticated(format!(
            "token role {:?} is not in the remit policy",
            claims.role
        ))
    })?;
    let info = app.policy.role_info(role);
    if info.agency.as_str() != claims.agency {
        return Err(ApiError::Unauthenticated(format!(
            "token agency {:?} does not match role {} (agency {})",
            claims.agency,
            claims.role,
            info.agency.as_str()
        )));
    }
    if crate::domain::region::RegionPrefix::parse(&claims.region).is_err() {
        return Err(ApiError::Unauthenticated(format!(
            "token region {:?} is not a region code prefix",
            claims.region
        )));
    }
    let purpose = match headers.get("x-purpose").and_then(|v| v.to_str().ok()).map(str::trim).filter(|s| !s.is_empty()) {
        None => info.default_purpose,
        Some(p) => p
            .parse::<Purpose>()
            .map_err(|_| ApiError::bad_input("X-Purpose", format!("{p:?} is not a purpose of use (CARE, SCREENING, REFERRAL, TREATMENT, CRISIS, SUPERVISION, STATISTICS, PARTNER_SYNC)")))?,
    };
    if !app.policy.purpose_allowed(role, purpose) {
        return Err(ApiError::forbidden(format!(
            "purpose {} is not allowed for role {}",
            purpose.as_str(),
            claims.role
        )));
    }
    Ok(Principal {
        sub: claims.sub,
        agency: info.agency,
        role: claims.role,
        org: claims.org,
        region: claims.region,
        purpose,
        client_id: claims.client_id,
    })
}

fn parse_body(body: &[u8]) -> Result<BatchRequest, ApiError> {
    serde_json::from_slice::<BatchRequest>(body)
        .map_err(|e| ApiError::bad_input("body", format!("is not a GraphQL request in JSON: {e}")))
}

/// `POST /graphql`.
pub async fn graphql_post(
    req: HttpRequest,
    body: web::Bytes,
    app: web::Data<Arc<AppState>>,
    schema: web::Data<AppSchema>,
) -> HttpResponse {
    let rid = request_id(req.headers());
    let batch = match parse_body(&body) {
        Ok(b) => b,
        Err(e) => return error_response(e.code(), &e.to_string(), &rid),
    };
    let key = req
        .headers()
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .map(str::to_owned);
    match key {
        None => {
            execute(
                &req,
                app.get_ref().clone(),
                schema.get_ref(),
                batch,
                rid,
                false,
            )
            .await
        }
        Some(key) => {
            idempotent(
                &req,
                app.get_ref().clone(),
                schema.get_ref(),
                batch,
                rid,
                &key,
                &body,
            )
            .await
        }
    }
}

/// Runs a request under an `Idempotency-Key`: the first successful response is stored and a
/// retry with the same key (same caller, same body) gets it back without writing anything.
async fn idempotent(
    req: &HttpRequest,
    app: Arc<AppState>,
    schema: &AppSchema,
    batch: BatchRequest,
    rid: String,
    key: &str,
    body: &[u8],
) -> HttpResponse {
    use carehub_entity::idempotency_key;
    use sea_orm::{ActiveModelTrait, EntityTrait, Set};
    use sha2::{Digest, Sha256};
    if key.len() > 200 {
        return error_response(
            Code::BadUserInput,
            "Idempotency-Key: must be at most 200 characters",
            &rid,
        );
    }
    // The caller must be authenticated before anything is stored under its name.
    let principal = match authenticate(&app, req.headers()) {
        Ok(p) => p,
        Err(e) => return error_response(e.code(), &e.to_string(), &rid),
    };
    let id = hex::encode(Sha256::digest(format!("{}\n{key}", principal.sub)));
    let hash = hex::encode(Sha256::digest(body));
    let db = &app.db.write;
    let claim = idempotency_key::ActiveModel {
        key: Set(id.clone()),
        sub: Set(principal.sub.clone()),
        request_hash: Set(hash.clone()),
        response: Set(String::new()),
        created_at: Set(chrono::Utc::now()),
    };
    if claim.insert(db).await.is_err() {
        return match idempotency_key::Entity::find_by_id(id.clone())
            .one(db)
            .await
        {
            Ok(Some(row)) if row.request_hash != hash => error_response(
                Code::BadUserInput,
                "Idempotency-Key: already used with a different request",
                &rid,
            ),
            Ok(Some(row)) if row.response.is_empty() => error_response(
                Code::Conflict,
                "a request with this Idempotency-Key is still in progress; retry shortly",
                &rid,
            ),
            Ok(Some(row)) => HttpResponse::Ok()
                .insert_header(("x-request-id", rid))
                .insert_header(("idempotent-replayed", "true"))
                .content_type("application/json")
                .body(row.response),
            _ => error_response(
                Code::ServiceUnavailable,
                "the database is unavailable; retry shortly",
                &rid,
            ),
        };
    }
    let resp = execute(req, app.clone(), schema, batch, rid.clone(), false).await;
    let status = resp.status();
    let (head, body) = resp.into_parts();
    let bytes = actix_web::body::to_bytes(body).await.unwrap_or_default();
    let ok = status.is_success()
        && serde_json::from_slice::<serde_json::Value>(&bytes)
            .map(|v| v.get("errors").is_none())
            .unwrap_or(false);
    if ok {
        let row = idempotency_key::ActiveModel {
            key: Set(id),
            response: Set(String::from_utf8_lossy(&bytes).into_owned()),
            ..Default::default()
        };
        if let Err(e) = idempotency_key::Entity::update(row).exec(db).await {
            tracing::warn!(error = %e, "could not store the idempotent response");
        }
    } else {
        // A failed request wrote nothing; free the key so the client can retry.
        let _ = idempotency_key::Entity::delete_by_id(id).exec(db).await;
    }
    head.set_body(actix_web::body::BoxBody::new(bytes))
}

/// `GET /graphql`: GraphiQL for a browser in development, otherwise a query (never a mutation).
pub async fn graphql_get(
    req: HttpRequest,
    app: web::Data<Arc<AppState>>,
    schema: web::Data<AppSchema>,
) -> HttpResponse {
    let rid = request_id(req.headers());
    let wants_html = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("text/html"));
    if req.query_string().is_empty() || (wants_html && !req.query_string().contains("query=")) {
        if app.settings.graphiql {
            return HttpResponse::Ok()
                .content_type("text/html; charset=utf-8")
                .body(
                    GraphiQLSource::build()
                        .endpoint("/graphql")
                        .title("carehub GraphiQL")
                        .finish(),
                );
        }
        return error_response(
            Code::NotFound,
            "GraphiQL is disabled; POST GraphQL requests to /graphql",
            &rid,
        );
    }
    let request = match async_graphql::http::parse_query_string(req.query_string()) {
        Ok(r) => r,
        Err(e) => return error_response(Code::BadUserInput, &format!("query string: {e}"), &rid),
    };
    execute(
        &req,
        app.get_ref().clone(),
        schema.get_ref(),
        BatchRequest::Single(request),
        rid,
        true,
    )
    .await
}

async fn execute(
    req: &HttpRequest,
    app: Arc<AppState>,
    schema: &AppSchema,
    batch: BatchRequest,
    rid: String,
    via_get: bool,
) -> HttpResponse {
    let principal = match authenticate(&app, req.headers()) {
        Ok(p) => p,
        Err(e) => return error_response(e.code(), &e.to_string(), &rid),
    };
    // Revocation, rate limit and (partner clients) the operation safelist.
    let batch = match crate::partners::admit(req, &app, &principal, batch, &rid).await {
        Ok(b) => b,
        Err(resp) => return resp,
    };
    let client_addr = req
        .connection_info()
        .realip_remote_addr()
        .map(str::to_owned);
    let rc = match RequestCtx::new(app.clone(), principal, rid.clone(), client_addr) {
        Ok(rc) => Arc::new(rc),
        Err(e) => return error_response(e.code(), &e.to_string(), &rid),
    };
    let requests = match batch {
        BatchRequest::Single(r) => vec![r],
        BatchRequest::Batch(v) => {
            if v.len() > app.settings.max_batch {
                return error_response(
                    Code::BadUserInput,
                    &format!(
                        "batch of {} operations exceeds the limit of {}",
                        v.len(),
                        app.settings.max_batch
                    ),
                    &rid,
                );
            }
            v
        }
    };
    let single = requests.len() == 1;
    let mut responses = Vec::with_capacity(requests.len());
    for r in requests {
        if via_get && is_mutation(&r.query) {
            return crate::guard::http::mutation_over_get(&rid);
        }
        if let Some(name) = &r.operation_name {
            if let Ok(mut op) = rc.operation.lock() {
                *op = Some(name.clone());
            }
        }
        let counter = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let mut resp = crate::db::REQUEST_STATEMENTS
            .scope(counter.clone(), schema.execute(r.data(rc.clone())))
            .await;
        if app.settings.mode == crate::config::Mode::Development {
            // Lets tests and developers see the statement count of a request (constant in page size).
            let n = counter.load(std::sync::atomic::Ordering::Relaxed);
            resp.extensions
                .insert("sqlStatements".to_owned(), Value::Number(n.into()));
        }
        responses.push(resp);
    }
    // Fail closed: sensitive values leave only once their audit entries are committed.
    let audit_failed = flush_audit(&rc).await.is_err();
    for resp in responses.iter_mut() {
        // Parse, validation and coercion errors come without a code: they are the client's.
        for e in resp.errors.iter_mut() {
            let has_code = e
                .extensions
                .as_ref()
                .is_some_and(|x| x.get("code").is_some());
            if !has_code {
                e.extensions
                    .get_or_insert_with(Default::default)
                    .set("code", Code::BadUserInput.as_str());
            }
        }
        if audit_failed {
            withhold(resp, &rc);
        }
        resp.extensions.insert(
            "policyVersion".to_owned(),
            Value::String(app.policy.version().to_owned()),
        );
        resp.extensions
            .insert("requestId".to_owned(), Value::String(rid.clone()));
    }
    let body = if single {
        BatchResponse::Single(
            responses
                .pop()
                .unwrap_or_else(|| Response::new(Value::Null)),
        )
    } else {
        BatchResponse::Batch(responses)
    };
    crate::guard::http::finish(req, &app.settings, &rid, body)
}

fn is_mutation(query: &str) -> bool {
    match async_graphql::parser::parse_query(query) {
        Ok(doc) => doc
            .operations
            .iter()
            .any(|(_, op)| op.node.ty == async_graphql::parser::types::OperationType::Mutation),
        Err(_) => false,
    }
}

/// Writes the request's audit entries (reads and searches) and waits for the commit.
pub async fn flush_audit(rc: &RequestCtx) -> Result<(), crate::audit::AuditError> {
    if !rc.app.settings.audit_enabled {
        return Ok(());
    }
    let reads = rc.audit.drain();
    let searches = rc.audit.drain_searches();
    if reads.is_empty() && searches.is_empty() {
        return Ok(());
    }
    rc.app.audit.write(audit_records(rc, reads, searches)).await
}

/// The audit records of `reads` and `searches` made in `rc` (as its principal, request and
/// operation).
pub fn audit_records(
    rc: &RequestCtx,
    reads: Vec<crate::audit::ReadEntry>,
    searches: Vec<crate::audit::SearchEntry>,
) -> Vec<AuditRecord> {
    let p = &rc.principal;
    let base = |action: &str| AuditRecord {
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
        record_ids: Vec::new(),
        child_id: None,
        fields: Vec::new(),
        groups: Vec::new(),
        decision: Decision::Allowed.as_str().to_owned(),
        request_id: Some(rc.request_id.clone()),
        client_addr: rc.client_addr.clone(),
        policy_version: rc.policy.version().to_owned(),
        region_code: None,
        reason: None,
    };
    let mut records = Vec::with_capacity(reads.len() + searches.len());
    for s in searches {
        let mut r = base("SEARCH");
        r.operation = Some(
            rc.operation_name()
                .unwrap_or_else(|| s.operation.to_owned()),
        );
        r.entity = Some("Child".to_owned());
        r.record_ids = s.ids.iter().map(|i| i.to_string()).collect();
        records.push(r);
    }
    for e in reads {
        let mut r = base("READ");
        r.entity = Some(e.entity.to_owned());
        r.record_ids = vec![e.record_id.to_string()];
        r.child_id = e.child_id;
        r.fields = e.fields.into_iter().collect();
        r.groups = e.groups.into_iter().collect();
        r.decision = e.decision.as_str().to_owned();
        records.push(r);
    }
    records
}

/// Nulls every sensitive value of a response whose audit could not be written.
fn withhold(resp: &mut Response, rc: &RequestCtx) {
    let paths = rc.audit.drain_paths();
    let mut data = std::mem::replace(&mut resp.data, Value::Null);
    let mut errors = Vec::new();
    for path in &paths {
        if null_at(&mut data, path) {
            let mut err = ServerError::new(
                "sensitive field withheld: the audit store is unavailable, retry shortly",
                None,
            );
            err.path = path
                .iter()
                .map(|s| match s.parse::<usize>() {
                    Ok(i) => async_graphql::PathSegment::Index(i),
                    Err(_) => async_graphql::PathSegment::Field(s.clone()),
                })
                .collect();
            let mut ext = async_graphql::ErrorExtensionValues::default();
            ext.set("code", Code::AuditUnavailable.as_str());
            err.extensions = Some(ext);
            errors.push(err);
        }
    }
    resp.data = data;
    resp.errors.extend(errors);
}

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

/// `GET /healthz`: the process is up.
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({ "status": "ok" }))
}

/// `GET /readyz`: the database answers (and, later, Redis state is reported).
pub async fn readyz(app: web::Data<Arc<AppState>>) -> HttpResponse {
    // Not ready once shutdown began, so load balancers drain this instance first.
    if app.lifecycle.is_shutting_down() {
        return HttpResponse::ServiceUnavailable()
            .json(serde_json::json!({ "status": "shutting_down", "instance": app.instance_id }));
    }
    let db_ok = crate::db::ping(&app.db.write).await;
    let body = serde_json::json!({
        "status": if db_ok { "ready" } else { "unavailable" },
        "database": if db_ok { "ok" } else { "unreachable" },
        // Degraded Redis does not make the instance unready: local events still flow.
        "redis": app.events.redis_health().as_str(),
        "instance": app.instance_id,
    });
    if db_ok {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}
