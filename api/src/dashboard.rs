//! The monitoring dashboard at `/dashboard`: a static page embedded in the binary (HTML, JS, CSS
//! and a vendored Apache ECharts) that talks to `/graphql` and `/graphql/ws`, plus a
//! development-only endpoint that mints demo-role tokens for it.

use std::sync::Arc;
use std::time::Duration;

use actix_web::{web, HttpResponse};
use serde::Deserialize;

use crate::config::Mode;
use crate::error::Code;
use crate::state::AppState;

const INDEX_HTML: &str = include_str!("../assets/dashboard/index.html");
const APP_JS: &str = include_str!("../assets/dashboard/app.js");
const APP_CSS: &str = include_str!("../assets/dashboard/app.css");
const ECHARTS_JS: &[u8] = include_bytes!("../assets/dashboard/vendor/echarts.min.js");

/// Everything the page loads comes from this server; ECharts writes inline `style` attributes
/// into its tooltips, hence `'unsafe-inline'` for styles only (never for scripts).
const PAGE_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
    img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; \
    frame-ancestors 'none'";

/// How long a demo token lives.
const DEV_TOKEN_TTL: Duration = Duration::from_secs(8 * 3600);

/// Mounts `/dashboard` and its assets (called where the other routes are registered).
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/dashboard", web::get().to(index))
        .route("/dashboard/", web::get().to(index))
        .route("/dashboard/app.js", web::get().to(app_js))
        .route("/dashboard/app.css", web::get().to(app_css))
        .route(
            "/dashboard/vendor/echarts.min.js",
            web::get().to(echarts_js),
        )
        .route("/dashboard/dev-roles", web::get().to(dev_roles))
        .route("/dashboard/dev-token", web::post().to(dev_token));
}

async fn index() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header(("content-security-policy", PAGE_CSP))
        .insert_header(("cache-control", "no-cache"))
        .body(INDEX_HTML)
}

async fn app_js() -> HttpResponse {
    asset(
        "text/javascript; charset=utf-8",
        APP_JS.as_bytes(),
        "no-cache",
    )
}

async fn app_css() -> HttpResponse {
    asset("text/css; charset=utf-8", APP_CSS.as_bytes(), "no-cache")
}

async fn echarts_js() -> HttpResponse {
    // The vendored library changes only with the binary.
    asset(
        "text/javascript; charset=utf-8",
        ECHARTS_JS,
        "public, max-age=86400",
    )
}

fn asset(content_type: &str, body: &'static [u8], cache: &str) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(content_type)
        .insert_header(("cache-control", cache.to_owned()))
        .body(body)
}

fn not_found() -> HttpResponse {
    HttpResponse::NotFound()
        .content_type("text/plain; charset=utf-8")
        .body("not found")
}

/// A 400 in the API's one error shape (code, message, request id).
fn bad_request(rid: &str, message: &str) -> HttpResponse {
    crate::http::error_response(Code::BadUserInput, message, rid)
}

/// `GET /dashboard/dev-roles`: the policy's roles for the demo picker (development only).
async fn dev_roles(app: web::Data<Arc<AppState>>) -> HttpResponse {
    if app.settings.mode == Mode::Production {
        return not_found();
    }
    let roles: Vec<_> = app
        .policy
        .roles()
        .map(|r| {
            let info = app.policy.role_info(r);
            serde_json::json!({
                "role": info.name,
                "agency": info.agency.as_str(),
                "title": info.title,
                "titleZh": info.title_zh,
            })
        })
        .collect();
    HttpResponse::Ok().json(serde_json::json!({ "roles": roles }))
}

#[derive(Deserialize)]
struct DevTokenRequest {
    role: String,
    region: String,
    org: Option<String>,
}

/// `POST /dashboard/dev-token` `{role, region[, org]}` → `{token, …}`: a demo token signed with
/// the development secret. Absent (404) in production, where tokens come from the identity
/// provider.
async fn dev_token(
    http: actix_web::HttpRequest,
    app: web::Data<Arc<AppState>>,
    body: web::Bytes,
) -> HttpResponse {
    if app.settings.mode == Mode::Production {
        return not_found();
    }
    let rid = crate::http::request_id(http.headers());
    let req: DevTokenRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => {
            return bad_request(
                &rid,
                &format!("body: expected {{\"role\", \"region\"}}: {e}"),
            )
        }
    };
    let Some(role) = app.policy.role(&req.role) else {
        return bad_request(
            &rid,
            &format!("role {:?} is not in the remit policy", req.role),
        );
    };
    if crate::domain::region::RegionPrefix::parse(&req.region).is_err() {
        return bad_request(
            &rid,
            &format!("region {:?} is not a region code prefix", req.region),
        );
    }
    let agency = app.policy.role_info(role).agency.as_str();
    match crate::cli::mint_dev_token(
        &app.settings,
        agency,
        &req.role,
        req.org.as_deref(),
        &req.region,
        Some(&format!("demo-{}", req.role)),
        DEV_TOKEN_TTL,
    ) {
        Ok(token) => HttpResponse::Ok().json(serde_json::json!({
            "token": token,
            "role": req.role,
            "agency": agency,
            "region": req.region,
            "expiresIn": DEV_TOKEN_TTL.as_secs(),
        })),
        Err(e) => bad_request(&rid, &e.to_string()),
    }
}
