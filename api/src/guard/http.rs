//! HTTP hardening and GraphQL-over-HTTP: security headers, the CORS allow-list, request media
//! types (POST must be JSON: a browser cannot send that cross-site without a preflight, which
//! is the CSRF defence), `Accept` negotiation between `application/graphql-response+json` and
//! `application/json` with the spec's status codes, a JSON 413 for oversized bodies, the
//! `RateLimit-*` headers, and — in production — errors scrubbed of anything internal.

use std::sync::Arc;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderMap, HeaderName, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::{web, HttpMessage, HttpRequest, HttpResponse};
use async_graphql::{BatchResponse, Response};

use crate::config::{Mode, Settings};
use crate::error::Code;
use crate::partners::ratelimit::Outcome;
use crate::state::AppState;

/// The GraphQL-over-HTTP response media type.
pub const GRAPHQL_RESPONSE: &str = "application/graphql-response+json";

/// The response media type a request negotiated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Media {
    /// `application/json`: every well-formed request gets 200 (legacy clients rely on it).
    Json,
    /// `application/graphql-response+json`: request errors get 4xx.
    GraphqlResponse,
}

impl Media {
    fn content_type(self) -> &'static str {
        match self {
            Media::Json => "application/json",
            Media::GraphqlResponse => "application/graphql-response+json; charset=utf-8",
        }
    }
}

/// Picks the media type from `Accept`; `None` when the client accepts neither JSON type.
/// No `Accept` (or `*/*`) means `application/json`, as the spec asks of servers for
/// compatibility; on equal preference the GraphQL response type wins.
pub fn negotiate(headers: &HeaderMap) -> Option<Media> {
    let Some(accept) = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .filter(|a| !a.trim().is_empty())
    else {
        return Some(Media::Json);
    };
    let (mut gr, mut json) = (-1.0f32, -1.0f32);
    for item in accept.split(',') {
        let mut parts = item.split(';');
        let range = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        let q = parts
            .filter_map(|p| {
                p.trim()
                    .strip_prefix("q=")
                    .and_then(|v| v.trim().parse::<f32>().ok())
            })
            .next()
            .unwrap_or(1.0);
        match range.as_str() {
            GRAPHQL_RESPONSE => gr = gr.max(q),
            "application/json" | "application/*" | "*/*" => json = json.max(q),
            _ => {}
        }
    }
    if gr > 0.0 && gr >= json {
        Some(Media::GraphqlResponse)
    } else if json > 0.0 {
        Some(Media::Json)
    } else {
        None
    }
}

fn json_error(status: StatusCode, code: Code, message: &str, rid: &str) -> HttpResponse {
    let mut r = crate::http::error_response(code, message, rid);
    *r.status_mut() = status;
    r
}

/// A GraphQL request error (the request was well-formed but is refused before execution):
/// 200 under `application/json`, the code's 4xx under `application/graphql-response+json`.
pub fn request_error(req: &HttpRequest, code: Code, message: &str, rid: &str) -> HttpResponse {
    let media = negotiate(req.headers()).unwrap_or(Media::Json);
    let status = match media {
        Media::Json => StatusCode::OK,
        Media::GraphqlResponse => code.http_status(),
    };
    json_error(status, code, message, rid)
}

/// The 405 of a mutation sent with GET (GraphQL over HTTP: GET is for queries only).
pub fn mutation_over_get(rid: &str) -> HttpResponse {
    let mut r = json_error(
        StatusCode::METHOD_NOT_ALLOWED,
        Code::BadUserInput,
        "method: mutations must be sent with POST",
        rid,
    );
    r.headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static("POST"));
    r
}

fn code_of(e: &async_graphql::ServerError) -> Option<String> {
    match e.extensions.as_ref().and_then(|x| x.get("code")) {
        Some(async_graphql::Value::String(s)) => Some(s.clone()),
        _ => None,
    }
}

/// Production: errors never carry SQL, driver messages, panics or source locations. A
/// resolver error that did not come from `ApiError` (no `rule`/`reason`, a path) and that is not
/// an argument coercion error is replaced by the opaque internal message; its text is logged.
fn scrub(resp: &mut Response, rid: &str) {
    for e in resp.errors.iter_mut() {
        let lower = e.message.to_ascii_lowercase();
        let code = code_of(e);
        // `ApiError`s carry curated messages (and `field`/`rule`/`reason`); the route gives
        // every code-less error BAD_USER_INPUT, so "untyped" is BAD_USER_INPUT without them.
        let curated = e.extensions.as_ref().is_some_and(|x| {
            x.get("rule").is_some() || x.get("field").is_some() || x.get("reason").is_some()
        });
        let untyped = code
            .as_deref()
            .is_none_or(|c| c == Code::BadUserInput.as_str())
            && !curated;
        let coercion =
            lower.starts_with("failed to parse") || lower.starts_with("invalid value for argument");
        let internal = code.as_deref() == Some(Code::Internal.as_str());
        if code.as_deref() == Some(Code::ServiceUnavailable.as_str())
            && lower.starts_with("audit store unavailable:")
        {
            // The cause after the colon is a driver message.
            tracing::error!(request.id = rid, error.message = %e.message, "audit failure hidden from the client");
            e.message = "the audit store is unavailable; retry shortly".into();
            continue;
        }
        if internal || (untyped && !e.path.is_empty() && !coercion) {
            if !internal {
                tracing::error!(request.id = rid, error.message = %e.message, "internal error hidden from the client");
            }
            e.message = "internal error; it was logged with the request id".into();
            let mut ext = async_graphql::ErrorExtensionValues::default();
            ext.set("code", Code::Internal.as_str());
            e.extensions = Some(ext);
        }
    }
}

fn is_request_error(r: &Response) -> bool {
    matches!(r.data, async_graphql::Value::Null)
        && !r.errors.is_empty()
        && r.errors.iter().all(|e| e.path.is_empty())
}

fn render(r: &Response, request_error: bool) -> serde_json::Value {
    let mut v = serde_json::to_value(r)
        .unwrap_or_else(|_| serde_json::json!({ "errors": [{ "message": "internal error" }] }));
    if request_error {
        // A request error happens before execution: no `data` entry at all (GraphQL spec §7.1.2).
        if let Some(o) = v.as_object_mut() {
            o.remove("data");
        }
    }
    v
}

/// The final response of `/graphql`: scrubbed in production, with the negotiated media type and
/// the GraphQL-over-HTTP status (request errors: 4xx under the GraphQL response type; 200
/// under `application/json`).
pub fn finish(
    req: &HttpRequest,
    settings: &Settings,
    rid: &str,
    mut body: BatchResponse,
) -> HttpResponse {
    let media = negotiate(req.headers()).unwrap_or(Media::Json);
    if settings.mode == Mode::Production {
        match &mut body {
            BatchResponse::Single(r) => scrub(r, rid),
            BatchResponse::Batch(v) => v.iter_mut().for_each(|r| scrub(r, rid)),
        }
    }
    let (status, json) = match &body {
        BatchResponse::Single(r) => {
            let req_err = is_request_error(r);
            let status = if req_err && media == Media::GraphqlResponse {
                let codes: Vec<String> = r.errors.iter().filter_map(code_of).collect();
                let same = codes.len() == r.errors.len() && codes.windows(2).all(|w| w[0] == w[1]);
                Code::ALL
                    .iter()
                    .find(|c| same && codes.first().is_some_and(|f| f == c.as_str()))
                    .map(|c| c.http_status())
                    .filter(StatusCode::is_client_error)
                    .unwrap_or(StatusCode::BAD_REQUEST)
            } else {
                StatusCode::OK
            };
            (status, render(r, req_err))
        }
        BatchResponse::Batch(v) => (
            StatusCode::OK,
            serde_json::Value::Array(v.iter().map(|r| render(r, is_request_error(r))).collect()),
        ),
    };
    HttpResponse::build(status)
        .insert_header(("x-request-id", rid.to_owned()))
        .insert_header((header::CONTENT_TYPE, media.content_type()))
        .body(json.to_string())
}

fn allowed_origin(settings: &Settings, origin: &str) -> Option<String> {
    if settings.cors_origins.iter().any(|o| o == "*") {
        return Some("*".into());
    }
    settings
        .cors_origins
        .iter()
        .find(|o| o.trim_end_matches('/').eq_ignore_ascii_case(origin))
        .map(|_| origin.to_owned())
}

const EXPOSE: &str = "x-request-id, retry-after, ratelimit-limit, ratelimit-remaining, ratelimit-reset, ratelimit-policy, idempotent-replayed";
const ALLOW_HEADERS: &str =
    "authorization, content-type, accept, x-purpose, x-request-id, idempotency-key";

fn set(h: &mut HeaderMap, k: &'static str, v: &str) {
    if let Ok(v) = HeaderValue::from_str(v) {
        h.insert(HeaderName::from_static(k), v);
    }
}

fn set_default(h: &mut HeaderMap, k: &'static str, v: &'static str) {
    let name = HeaderName::from_static(k);
    if !h.contains_key(&name) {
        h.insert(name, HeaderValue::from_static(v));
    }
}

/// The hardening middleware (wrapped around every route).
pub async fn harden(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let Some(app) = req.app_data::<web::Data<Arc<AppState>>>().cloned() else {
        return Ok(next.call(req).await?.map_into_boxed_body());
    };
    let settings = &app.settings;
    let rid = crate::http::request_id(req.headers());
    let origin = req
        .headers()
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let mut cors = origin.as_deref().and_then(|o| allowed_origin(settings, o));
    let is_graphql = req.path() == "/graphql";
    let early = if req.method() == Method::OPTIONS
        && req
            .headers()
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD)
    {
        let method_ok = req
            .headers()
            .get(header::ACCESS_CONTROL_REQUEST_METHOD)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|m| matches!(m, "GET" | "POST"));
        if !method_ok {
            // A refused preflight carries no CORS headers at all, so the browser blocks it.
            cors = None;
        }
        Some(if cors.is_some() {
            let mut r = HttpResponse::NoContent().finish();
            let h = r.headers_mut();
            set(h, "access-control-allow-methods", "GET, POST, OPTIONS");
            set(h, "access-control-allow-headers", ALLOW_HEADERS);
            set(h, "access-control-max-age", "600");
            r
        } else {
            json_error(
                StatusCode::FORBIDDEN,
                Code::Forbidden,
                "CORS: this origin or method is not allowed (CAREHUB_CORS_ORIGINS)",
                &rid,
            )
        })
    } else if is_graphql && req.method() == Method::POST {
        let length = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        let ct = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        if let Some(n) = length.filter(|n| *n > settings.max_body_bytes as u64) {
            Some(json_error(
                StatusCode::PAYLOAD_TOO_LARGE,
                Code::BadUserInput,
                &format!(
                    "body: {n} bytes exceeds the limit of {} (CAREHUB_MAX_BODY_BYTES)",
                    settings.max_body_bytes
                ),
                &rid,
            ))
        } else if ct != "application/json" && ct != GRAPHQL_RESPONSE {
            let shown = if ct.is_empty() {
                "missing".to_owned()
            } else {
                format!("{ct:?}")
            };
            let mut r = json_error(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                Code::BadUserInput,
                &format!("Content-Type: {shown} is not accepted; send application/json"),
                &rid,
            );
            set(r.headers_mut(), "accept-post", "application/json");
            Some(r)
        } else if negotiate(req.headers()).is_none() {
            Some(json_error(
                StatusCode::NOT_ACCEPTABLE,
                Code::BadUserInput,
                "Accept: this server answers application/graphql-response+json or application/json",
                &rid,
            ))
        } else {
            None
        }
    } else {
        None
    };
    let mut res = match early {
        Some(r) => req.into_response(r),
        None => next.call(req).await?.map_into_boxed_body(),
    };
    if res.status() == StatusCode::PAYLOAD_TOO_LARGE && !is_json(res.headers()) {
        // actix's own overflow answer (chunked bodies) is plain text: make it a GraphQL error.
        let (http_req, _) = res.into_parts();
        let body = json_error(
            StatusCode::PAYLOAD_TOO_LARGE,
            Code::BadUserInput,
            &format!(
                "body: exceeds the limit of {} bytes (CAREHUB_MAX_BODY_BYTES)",
                settings.max_body_bytes
            ),
            &rid,
        );
        res = ServiceResponse::new(http_req, body);
    }
    let outcome = res.request().extensions().get::<Outcome>().cloned();
    let media = if is_graphql {
        negotiate(res.request().headers())
    } else {
        None
    };
    let h = res.headers_mut();
    if media == Some(Media::GraphqlResponse)
        && h.get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|c| c.starts_with("application/json"))
    {
        set(h, "content-type", Media::GraphqlResponse.content_type());
    }
    if let Some(o) = outcome {
        for (k, v) in o.headers() {
            set(h, k, &v);
        }
    }
    set_default(h, "x-content-type-options", "nosniff");
    set_default(h, "x-frame-options", "DENY");
    set_default(h, "referrer-policy", "no-referrer");
    set_default(h, "cross-origin-opener-policy", "same-origin");
    let html = h
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|c| c.starts_with("text/html"));
    // GraphiQL (development only) loads its scripts from a CDN; everything else is data.
    set_default(
        h,
        "content-security-policy",
        if html {
            "frame-ancestors 'none'"
        } else {
            "default-src 'none'; frame-ancestors 'none'"
        },
    );
    set_default(h, "cache-control", "no-store");
    if settings.mode == Mode::Production {
        set_default(
            h,
            "strict-transport-security",
            "max-age=31536000; includeSubDomains",
        );
    }
    if let Some(o) = cors {
        set(h, "access-control-allow-origin", &o);
        set(h, "access-control-expose-headers", EXPOSE);
        h.append(header::VARY, HeaderValue::from_static("Origin"));
    }
    Ok(res)
}

fn is_json(h: &HeaderMap) -> bool {
    h.get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|c| c.contains("json"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::header::HeaderValue;

    fn accept(v: &str) -> Option<Media> {
        let mut h = HeaderMap::new();
        h.insert(header::ACCEPT, HeaderValue::from_str(v).unwrap());
        negotiate(&h)
    }

    #[test]
    fn accept_negotiation_follows_graphql_over_http() {
        assert_eq!(negotiate(&HeaderMap::new()), Some(Media::Json));
        assert_eq!(
            accept("application/graphql-response+json, application/json;q=0.9"),
            Some(Media::GraphqlResponse)
        );
        assert_eq!(accept("application/json"), Some(Media::Json));
        assert_eq!(accept("*/*"), Some(Media::Json));
        assert_eq!(
            accept("application/json, application/graphql-response+json;q=0.5"),
            Some(Media::Json)
        );
        assert_eq!(accept("text/html"), None);
        assert_eq!(accept("application/graphql-response+json;q=0"), None);
    }
}
