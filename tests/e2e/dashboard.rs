//! The `/dashboard` page: served from the binary with its vendored chart library and a CSP that
//! keeps every script on this origin; the demo-token endpoint mints working tokens in
//! development and does not exist in production. (The page itself is exercised in Chromium by
//! `tests/browser/run.sh`.)

use carehub_tests::*;
use serde_json::{json, Value};

/// Settings of a production server that can start in a test.
fn production_env() -> Vec<(&'static str, String)> {
    vec![
        ("CAREHUB_ENV", "production".into()),
        (
            "CAREHUB_JWT_SECRET",
            "a-production-secret-for-the-dashboard-tests".into(),
        ),
        ("CAREHUB_DATA_KEY", "11".repeat(32)),
        ("CAREHUB_INDEX_KEY", "22".repeat(32)),
        ("CAREHUB_AUTO_MIGRATE", "true".into()),
        ("CAREHUB_SHUTDOWN_DELAY_MS", "0".into()),
    ]
}

fn header(resp: &reqwest::Response, name: &str) -> String {
    resp.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_and_its_assets_are_served_from_the_binary() {
    let app = TestApp::spawn(Backend::Sqlite).await;

    let resp = app
        .client
        .get(format!("{}/dashboard", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert!(
        header(&resp, "content-type").starts_with("text/html"),
        "{:?}",
        resp.headers()
    );
    let csp = header(&resp, "content-security-policy");
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert!(csp.contains("script-src 'self'"), "{csp}");
    assert!(!csp.contains("unsafe-eval"), "{csp}");
    let html = resp.text().await.unwrap();
    assert!(html.contains("/dashboard/vendor/echarts.min.js"), "{html}");
    assert!(html.contains("/dashboard/app.js"), "{html}");
    // No CDN: every script and stylesheet comes from this server.
    for attr in ["src=\"http", "href=\"http", "src=\"//", "href=\"//"] {
        assert!(
            !html.contains(attr),
            "the page loads {attr}… from elsewhere"
        );
    }

    for (path, kind, marker) in [
        (
            "/dashboard/vendor/echarts.min.js",
            "text/javascript",
            "echarts",
        ),
        (
            "/dashboard/app.js",
            "text/javascript",
            "graphql-transport-ws",
        ),
        ("/dashboard/app.css", "text/css", ".kpi"),
    ] {
        let resp = app
            .client
            .get(format!("{}{path}", app.address))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 200, "{path}");
        assert!(
            header(&resp, "content-type").starts_with(kind),
            "{path}: {:?}",
            resp.headers()
        );
        let body = resp.text().await.unwrap();
        assert!(body.contains(marker), "{path} does not contain {marker:?}");
    }
    // The vendored library is the whole minified bundle, not a stub.
    let echarts = app
        .client
        .get(format!("{}/dashboard/vendor/echarts.min.js", app.address))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert!(echarts.len() > 500_000, "{} bytes", echarts.len());
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_picker_mints_working_tokens_in_development() {
    let app = TestApp::spawn(Backend::Sqlite).await;

    let roles: Value = app
        .client
        .get(format!("{}/dashboard/dev-roles", app.address))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let names: Vec<&str> = roles["roles"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["role"].as_str())
        .collect();
    assert!(names.contains(&"supervision.inspector"), "{roles}");
    assert!(names.contains(&"civil_affairs.case_officer"), "{roles}");

    let resp = app
        .client
        .post(format!("{}/dashboard/dev-token", app.address))
        .json(&json!({ "role": "supervision.inspector", "region": "4501" }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["agency"], "SUPERVISION", "{body}");
    let token = body["token"].as_str().unwrap();
    let me = app
        .gql(token, "{ me { role agency regionCode } }", json!({}))
        .await;
    assert_eq!(me["data"]["me"]["role"], "supervision.inspector", "{me}");
    assert_eq!(me["data"]["me"]["agency"], "SUPERVISION", "{me}");
    assert_eq!(me["data"]["me"]["regionCode"], "4501", "{me}");

    // Unknown roles and malformed regions are refused, not minted.
    for bad in [
        json!({ "role": "nobody.at_all", "region": "45" }),
        json!({ "role": "supervision.inspector", "region": "not-a-region" }),
        json!({ "role": "supervision.inspector" }),
    ] {
        let resp = app
            .client
            .post(format!("{}/dashboard/dev-token", app.address))
            .json(&bad)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 400, "{bad}");
        let body: Value = resp.json().await.unwrap();
        assert_eq!(error_codes(&body), vec!["BAD_USER_INPUT"], "{body}");
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn production_serves_the_page_but_mints_no_tokens() {
    let env = production_env();
    let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let app = TestApp::spawn_with(Backend::Sqlite, &pairs).await;

    let page = app
        .client
        .get(format!("{}/dashboard", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(
        page.status().as_u16(),
        200,
        "signing in with a pasted token still works"
    );

    let resp = app
        .client
        .post(format!("{}/dashboard/dev-token", app.address))
        .json(&json!({ "role": "civil_affairs.case_officer", "region": "45" }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 404);
    let body = resp.text().await.unwrap();
    assert!(!body.contains("eyJ"), "no token in {body}");

    let resp = app
        .client
        .get(format!("{}/dashboard/dev-roles", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 404);
    app.stop().await;
}
