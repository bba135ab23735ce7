//! API clients of partner systems and the OAuth 2.0 client-credentials grant (RFC 6749 §4.4):
//! `POST /oauth/token` exchanges a client id and secret (form body or HTTP Basic, §2.3.1) for
//! a short-lived JWT carrying the client's role, organization, region and `client_id`.
//! Secrets are stored as argon2id hashes; each login, granted or refused, is audited.

use std::sync::Arc;

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use anyhow::Context as _;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use carehub_entity::api_client;
use carehub_entity::enums::SafelistMode;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rand::RngCore;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, IntoActiveModel, QueryFilter,
    QueryOrder, Set,
};

use super::Partners;
use crate::audit::{AuditRecord, Decision};
use crate::auth::Claims;
use crate::config::Settings;
use crate::state::AppState;

/// A new client's credentials, shown once.
#[derive(Debug, Clone)]
pub struct NewClient {
    pub client_id: String,
    pub client_secret: String,
}

/// What `clients add` needs.
#[derive(Debug, Clone)]
pub struct ClientSpec {
    pub name: String,
    pub role: String,
    pub org: Option<uuid::Uuid>,
    pub region: String,
    pub mode: SafelistMode,
}

fn random_token(bytes: usize) -> String {
    let mut b = vec![0u8; bytes];
    rand::rngs::OsRng.fill_bytes(&mut b);
    URL_SAFE_NO_PAD.encode(b)
}

/// An argon2id hash (PHC string) of a secret.
pub fn hash_secret(secret: &str) -> anyhow::Result<String> {
    let mut salt = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut salt);
    let salt = SaltString::encode_b64(&salt).map_err(|e| anyhow::anyhow!("salt: {e}"))?;
    Ok(Argon2::default()
        .hash_password(secret.as_bytes(), &salt)
        .map_err(|e| anyhow::anyhow!("hashing: {e}"))?
        .to_string())
}

fn verify_secret(secret: &str, phc: &str) -> bool {
    PasswordHash::new(phc).is_ok_and(|h| {
        Argon2::default()
            .verify_password(secret.as_bytes(), &h)
            .is_ok()
    })
}

/// Parses `log`, `enforce`, `ids-only` (any case, `_` or `-`).
pub fn parse_mode(s: &str) -> anyhow::Result<SafelistMode> {
    match s.trim().to_ascii_uppercase().replace('-', "_").as_str() {
        "LOG" => Ok(SafelistMode::Log),
        "ENFORCE" => Ok(SafelistMode::Enforce),
        "IDS_ONLY" => Ok(SafelistMode::IdsOnly),
        other => anyhow::bail!("safelist mode {other:?} is not one of log, enforce, ids-only"),
    }
}

/// Creates a client; the role must be a PARTNER role of the policy.
pub async fn add(
    db: &DatabaseConnection,
    policy: &carehub_policy::Policy,
    spec: ClientSpec,
) -> anyhow::Result<NewClient> {
    let role = policy
        .role(&spec.role)
        .with_context(|| format!("role {:?} is not in the remit policy", spec.role))?;
    if policy.role_info(role).agency.as_str() != "PARTNER" {
        anyhow::bail!("role {} is not a partner role (partner.*)", spec.role);
    }
    crate::domain::region::RegionPrefix::parse(&spec.region)
        .map_err(|_| anyhow::anyhow!("region {:?} is not a region code prefix", spec.region))?;
    let client_id = format!("chc_{}", uuid::Uuid::new_v4().simple());
    let client_secret = random_token(32);
    api_client::ActiveModel {
        id: Set(uuid::Uuid::now_v7()),
        client_id: Set(client_id.clone()),
        name: Set(spec.name),
        role: Set(spec.role),
        org_id: Set(spec.org),
        region: Set(spec.region),
        secret_hash: Set(hash_secret(&client_secret)?),
        safelist_mode: Set(spec.mode),
        created_at: Set(chrono::Utc::now()),
        disabled_at: Set(None),
    }
    .insert(db)
    .await
    .context("storing the API client")?;
    Ok(NewClient {
        client_id,
        client_secret,
    })
}

/// Every client, oldest first.
pub async fn list(db: &DatabaseConnection) -> anyhow::Result<Vec<api_client::Model>> {
    Ok(api_client::Entity::find()
        .order_by_asc(api_client::Column::CreatedAt)
        .all(db)
        .await?)
}

/// Disables a client: no new tokens, and its existing tokens are refused from the next request
/// on (published to the shared revocation list when Redis is configured). Returns whether the
/// revocation reached Redis.
pub async fn disable(
    db: &DatabaseConnection,
    redis: &super::RedisHandle,
    client_id: &str,
) -> anyhow::Result<bool> {
    let row = api_client::Entity::find()
        .filter(api_client::Column::ClientId.eq(client_id))
        .one(db)
        .await?
        .with_context(|| format!("no API client {client_id:?}"))?;
    if row.disabled_at.is_none() {
        let mut am = row.into_active_model();
        am.disabled_at = Set(Some(chrono::Utc::now()));
        am.update(db).await?;
    }
    Ok(super::revocation::publish(redis, client_id).await)
}

/// Signs partner tokens: the configured PEM key (RS256/ES256, whose public half is in the
/// JWKS) or else the HS256 secret.
fn sign(settings: &Settings, claims: &Claims) -> Result<String, &'static str> {
    if let Some(path) = &settings.token_signing_key_file {
        let pem = std::fs::read(path).map_err(|_| "the token signing key file cannot be read")?;
        let (alg, key) = if let Ok(k) = EncodingKey::from_rsa_pem(&pem) {
            (Algorithm::RS256, k)
        } else {
            (
                Algorithm::ES256,
                EncodingKey::from_ec_pem(&pem)
                    .map_err(|_| "the token signing key is neither RSA nor EC PEM")?,
            )
        };
        let mut h = Header::new(alg);
        h.kid = settings.token_signing_kid.clone();
        return jsonwebtoken::encode(&h, claims, &key).map_err(|_| "signing failed");
    }
    let secret = settings
        .jwt_secret
        .as_deref()
        .ok_or("no token signing key is configured")?;
    crate::auth::mint_hs256(claims, secret).map_err(|_| "signing failed")
}

fn oauth_error(
    status: actix_web::http::StatusCode,
    error: &str,
    description: &str,
) -> HttpResponse {
    let mut b = HttpResponse::build(status);
    b.insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::PRAGMA, "no-cache"));
    if status == actix_web::http::StatusCode::UNAUTHORIZED {
        b.insert_header((header::WWW_AUTHENTICATE, "Basic realm=\"carehub\""));
    }
    b.json(serde_json::json!({ "error": error, "error_description": description }))
}

fn bad_request(error: &str, description: &str) -> HttpResponse {
    oauth_error(actix_web::http::StatusCode::BAD_REQUEST, error, description)
}

fn invalid_client(description: &str) -> HttpResponse {
    oauth_error(
        actix_web::http::StatusCode::UNAUTHORIZED,
        "invalid_client",
        description,
    )
}

/// Credentials from `Authorization: Basic` (both parts form-urlencoded, RFC 6749 §2.3.1).
fn basic_credentials(req: &HttpRequest) -> Option<Result<(String, String), ()>> {
    let h = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, rest) = h.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = STANDARD
        .decode(rest.trim())
        .ok()
        .and_then(|b| String::from_utf8(b).ok());
    let Some((id, secret)) = decoded.as_deref().and_then(|d| d.split_once(':')) else {
        return Some(Err(()));
    };
    let unescape = |s: &str| {
        web::Query::<std::collections::HashMap<String, String>>::from_query(&format!("v={s}"))
            .ok()
            .and_then(|q| q.get("v").cloned())
    };
    match (unescape(id), unescape(secret)) {
        (Some(i), Some(s)) => Some(Ok((i, s))),
        _ => Some(Err(())),
    }
}

/// A PHC hash to verify against when the client is unknown, so that unknown ids and wrong
/// secrets take the same time.
fn dummy_hash() -> &'static str {
    static H: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    H.get_or_init(|| hash_secret("carehub-no-such-client").unwrap_or_default())
}

/// `POST /oauth/token`: the client-credentials grant.
pub async fn token_endpoint(
    req: HttpRequest,
    body: web::Bytes,
    app: web::Data<Arc<AppState>>,
    partners: web::Data<Partners>,
) -> HttpResponse {
    let ct = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .eq_ignore_ascii_case("application/x-www-form-urlencoded")
    {
        return bad_request(
            "invalid_request",
            "send the token request as application/x-www-form-urlencoded (RFC 6749 §4.4.2)",
        );
    }
    let Ok(text) = std::str::from_utf8(&body) else {
        return bad_request("invalid_request", "the body is not UTF-8");
    };
    let Ok(form) = web::Query::<std::collections::HashMap<String, String>>::from_query(text) else {
        return bad_request("invalid_request", "the body is not a form");
    };
    match form.get("grant_type").map(String::as_str) {
        None | Some("") => {
            return bad_request(
                "invalid_request",
                "grant_type is required (client_credentials)",
            )
        }
        Some("client_credentials") => {}
        Some(_) => {
            return bad_request(
                "unsupported_grant_type",
                "only the client_credentials grant is supported",
            )
        }
    }
    let from_body = (
        form.get("client_id").filter(|s| !s.is_empty()),
        form.get("client_secret").filter(|s| !s.is_empty()),
    );
    let (client_id, secret) = match (basic_credentials(&req), from_body) {
        (Some(_), (Some(_), _) | (_, Some(_))) => {
            return bad_request("invalid_request", "send the client credentials either in the Authorization header or in the body, not both");
        }
        (Some(Ok(c)), _) => c,
        (Some(Err(())), _) => return invalid_client("malformed HTTP Basic credentials"),
        (None, (Some(id), Some(s))) => (id.clone(), s.clone()),
        (None, _) => {
            return bad_request(
                "invalid_request",
                "client_id and client_secret are required (form body or HTTP Basic)",
            )
        }
    };
    let rid = crate::http::request_id(req.headers());
    // Guessing secrets is throttled per client id like any other request.
    let outcome = partners
        .limiter
        .take("partner.*", &format!("oauth:{client_id}"), 1)
        .await;
    if !outcome.allowed {
        return super::ratelimit::refused(&outcome, &rid);
    }
    let row = match api_client::Entity::find()
        .filter(api_client::Column::ClientId.eq(client_id.as_str()))
        .one(&app.db.write)
        .await
    {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(error = %e, "token endpoint: cannot read API clients");
            return oauth_error(
                actix_web::http::StatusCode::SERVICE_UNAVAILABLE,
                "temporarily_unavailable",
                "the database is unavailable; retry shortly",
            );
        }
    };
    let hash = row
        .as_ref()
        .map(|r| r.secret_hash.clone())
        .unwrap_or_else(|| dummy_hash().to_owned());
    let secret_ok = tokio::task::spawn_blocking(move || verify_secret(&secret, &hash))
        .await
        .unwrap_or(false);
    let Some(client) = row.filter(|_| secret_ok) else {
        return invalid_client(
            "client authentication failed (unknown client_id or wrong client_secret)",
        );
    };
    let addr = req
        .connection_info()
        .realip_remote_addr()
        .map(str::to_owned);
    if client.disabled_at.is_some() {
        audit_login(
            &app,
            &client,
            Decision::Denied,
            &rid,
            addr,
            Some("client is disabled"),
        )
        .await;
        return invalid_client("this API client is disabled");
    }
    if let Some(scope) = form.get("scope").filter(|s| !s.trim().is_empty()) {
        if scope.trim() != client.role {
            return bad_request(
                "invalid_scope",
                &format!("this client may only request scope {}", client.role),
            );
        }
    }
    let s = &app.settings;
    let now = chrono::Utc::now().timestamp();
    let ttl = s.token_ttl.as_secs() as i64;
    let claims = Claims {
        sub: client.client_id.clone(),
        agency: "PARTNER".into(),
        role: client.role.clone(),
        org: client.org_id.map(|o| o.to_string()),
        region: client.region.clone(),
        iss: s.jwt_issuer.clone(),
        aud: s.jwt_audience.clone(),
        exp: now + ttl,
        nbf: Some(now - 5),
        iat: Some(now),
        client_id: Some(client.client_id.clone()),
        jti: Some(uuid::Uuid::new_v4().to_string()),
    };
    let token = match sign(s, &claims) {
        Ok(t) => t,
        Err(why) => {
            tracing::error!(reason = why, "cannot issue partner tokens");
            return oauth_error(
                actix_web::http::StatusCode::SERVICE_UNAVAILABLE,
                "temporarily_unavailable",
                "token issuing is not configured on this server",
            );
        }
    };
    // Logins of partner clients are accounted for like reads (DESIGN.md §6): no audit, no token.
    if !audit_login(&app, &client, Decision::Allowed, &rid, addr, None).await {
        return oauth_error(
            actix_web::http::StatusCode::SERVICE_UNAVAILABLE,
            "temporarily_unavailable",
            "the audit store is unavailable; retry shortly",
        );
    }
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::PRAGMA, "no-cache"))
        .json(serde_json::json!({ "access_token": token, "token_type": "Bearer", "expires_in": ttl, "scope": client.role }))
}

async fn audit_login(
    app: &AppState,
    client: &api_client::Model,
    decision: Decision,
    rid: &str,
    addr: Option<String>,
    reason: Option<&str>,
) -> bool {
    if !app.settings.audit_enabled {
        return true;
    }
    let record = AuditRecord {
        at: chrono::Utc::now(),
        sub: client.client_id.clone(),
        agency: "PARTNER".into(),
        role: client.role.clone(),
        org: client.org_id.map(|o| o.to_string()),
        client_id: Some(client.client_id.clone()),
        purpose: "PARTNER_SYNC".into(),
        lawful_basis: None,
        action: "LOGIN".into(),
        operation: Some("oauth/token".into()),
        entity: Some("ApiClient".into()),
        record_ids: vec![client.id.to_string()],
        child_id: None,
        fields: Vec::new(),
        groups: Vec::new(),
        decision: decision.as_str().to_owned(),
        request_id: Some(rid.to_owned()),
        client_addr: addr,
        policy_version: app.policy.version().to_owned(),
        region_code: None,
        reason: reason.map(str::to_owned),
    };
    match app.audit.write(vec![record]).await {
        Ok(()) => true,
        Err(e) => {
            tracing::warn!(error = %e, "could not audit a partner login");
            false
        }
    }
}
