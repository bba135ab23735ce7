//! Guard rails and hardening against the real server: every query limit just under and just
//! over, GraphQL-over-HTTP media types and status codes, security headers and CORS, production
//! behaviour (introspection, suggestions, opaque internal errors), the security battery, and a
//! schema-driven fuzz run.

use std::collections::BTreeMap;

use async_graphql::parser::types::{BaseType, Type, TypeKind, TypeSystemDefinition};
use carehub_api::auth::{mint_hs256, Claims};
use carehub_tests::*;
use serde_json::{json, Value};

const PROD_SECRET: &str = "a-production-secret-for-the-security-tests";

/// Settings of a production server that can start in a test.
fn production_env() -> Vec<(&'static str, String)> {
    vec![
        ("CAREHUB_ENV", "production".into()),
        ("CAREHUB_JWT_SECRET", PROD_SECRET.into()),
        ("CAREHUB_DATA_KEY", "11".repeat(32)),
        ("CAREHUB_INDEX_KEY", "22".repeat(32)),
        ("CAREHUB_AUTO_MIGRATE", "true".into()),
        ("CAREHUB_SHUTDOWN_DELAY_MS", "0".into()),
    ]
}

fn claims(app: &TestApp, role: &str, agency: &str) -> Claims {
    let now = chrono::Utc::now().timestamp();
    Claims {
        sub: "u1".into(),
        agency: agency.into(),
        role: role.into(),
        org: None,
        region: "450102".into(),
        iss: app.state.settings.jwt_issuer.clone(),
        aud: app.state.settings.jwt_audience.clone(),
        exp: now + 600,
        nbf: Some(now - 10),
        iat: Some(now),
        client_id: None,
        jti: None,
    }
}

fn officer(app: &TestApp) -> String {
    app.token(
        "CIVIL_AFFAIRS",
        "civil_affairs.case_officer",
        None,
        "450102",
        "u1",
    )
}

/// The error naming a limit, if the response has one: (limit, observed, max).
fn limit_of(body: &Value) -> Option<(String, u64, u64)> {
    body["errors"].as_array()?.iter().find_map(|e| {
        let x = &e["extensions"];
        Some((
            x["limit"].as_str()?.to_owned(),
            x["observed"].as_u64()?,
            x["max"].as_u64()?,
        ))
    })
}

async fn raw(
    app: &TestApp,
    body: String,
    headers: &[(&str, &str)],
    token: Option<&str>,
) -> (u16, reqwest::header::HeaderMap, Value) {
    let mut req = app
        .client
        .post(format!("{}/graphql", app.address))
        .body(body);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let resp = req.send().await.expect("request");
    let status = resp.status().as_u16();
    let h = resp.headers().clone();
    let text = resp.text().await.unwrap_or_default();
    (
        status,
        h,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

backend_test!(query_limits_just_under_and_just_over, |backend| {
    // Arrange: small limits, each probed at its edge.
    let app = TestApp::spawn_with(
        backend,
        &[
            ("CAREHUB_MAX_DEPTH", "4"),
            ("CAREHUB_MAX_COMPLEXITY", "60"),
            ("CAREHUB_MAX_ALIASES", "3"),
            ("CAREHUB_MAX_ROOT_FIELDS", "3"),
            ("CAREHUB_MAX_DIRECTIVES", "3"),
            ("CAREHUB_MAX_QUERY_BYTES", "300"),
            ("CAREHUB_MAX_VARIABLES_BYTES", "100"),
            ("CAREHUB_MAX_BATCH", "3"),
            ("CAREHUB_MAX_BODY_BYTES", "2000"),
        ],
    )
    .await;
    let t = officer(&app);
    let ok = |b: &Value| {
        assert!(
            limit_of(b).is_none() && b["errors"].is_null(),
            "expected success: {b}"
        )
    };
    let over = |b: &Value, limit: &str, observed: u64, max: u64| {
        assert_eq!(limit_of(b), Some((limit.to_owned(), observed, max)), "{b}");
        assert_eq!(error_codes(b), vec!["BAD_USER_INPUT"]);
        let msg = b["errors"][0]["message"].as_str().unwrap();
        assert!(
            msg.contains(&observed.to_string()) && msg.contains(&max.to_string()),
            "the message names both values: {msg}"
        );
        assert!(
            b.get("data").is_none(),
            "a refused request has no data: {b}"
        );
    };

    // Depth.
    ok(&app
        .gql(
            &t,
            "{ children(first: 1) { edges { node { id } } } }",
            json!({}),
        )
        .await);
    over(
        &app.gql(
            &t,
            "{ children(first: 1) { edges { node { guardians { name } } } } }",
            json!({}),
        )
        .await,
        "depth",
        5,
        4,
    );
    // Complexity, weighted by `first`: 1 + 19 * 3 = 58, 1 + 20 * 3 = 61.
    ok(&app
        .gql(
            &t,
            "{ children(first: 19) { edges { node { id } } } }",
            json!({}),
        )
        .await);
    over(
        &app.gql(
            &t,
            "query($n: Int) { children(first: $n) { edges { node { id } } } }",
            json!({"n": 20}),
        )
        .await,
        "complexity",
        61,
        60,
    );
    // Aliases.
    ok(&app
        .gql(&t, "{ me { a: sub b: role c: purpose } }", json!({}))
        .await);
    over(
        &app.gql(
            &t,
            "{ me { a: sub b: role c: purpose d: agency } }",
            json!({}),
        )
        .await,
        "aliases",
        4,
        3,
    );
    // Root fields.
    ok(&app
        .gql(&t, "{ me { sub } a: me { sub } __typename }", json!({}))
        .await);
    over(
        &app.gql(
            &t,
            "{ me { sub } a: me { sub } __typename b: __typename }",
            json!({}),
        )
        .await,
        "root_fields",
        4,
        3,
    );
    // Directives.
    ok(&app
        .gql(
            &t,
            "{ me { sub @include(if: true) role @include(if: true) purpose @skip(if: false) } }",
            json!({}),
        )
        .await);
    over(&app.gql(&t, "{ me { sub @include(if: true) role @include(if: true) purpose @skip(if: false) agency @skip(if: false) } }", json!({})).await, "directives", 4, 3);
    // Query text size.
    let base = "{ me { sub } }";
    let pad = |n: usize| format!("{base}{}", " ".repeat(n - base.len()));
    ok(&app.gql(&t, &pad(300), json!({})).await);
    over(
        &app.gql(&t, &pad(301), json!({})).await,
        "query_bytes",
        301,
        300,
    );
    // Variables size (as JSON): {"x":"…"} is 8 bytes plus the string.
    let q = "query($x: String) { children(first: 1, filter: { nameSearch: $x }) { totalCount } }";
    let b = app.gql(&t, q, json!({"x": "a".repeat(92)})).await;
    assert!(limit_of(&b).is_none(), "{b}");
    over(
        &app.gql(&t, q, json!({"x": "a".repeat(93)})).await,
        "variables_bytes",
        101,
        100,
    );
    // Batch size.
    let one = json!({ "query": "{ me { sub } }" });
    let (status, body) = app.post(json!([one, one, one]), Some(&t), &[]).await;
    assert_eq!(
        (status, body.as_array().map(Vec::len)),
        (200, Some(3)),
        "{body}"
    );
    let (status, body) = app.post(json!([one, one, one, one]), Some(&t), &[]).await;
    assert_eq!(
        (status, error_codes(&body)),
        (400, vec!["BAD_USER_INPUT".to_owned()])
    );
    assert!(body["errors"][0]["message"]
        .as_str()
        .unwrap()
        .contains("batch of 4 operations exceeds the limit of 3"));
    // Body size at the HTTP layer: 2000 bytes pass, 2001 get 413 (as a JSON error).
    let body_of = |n: usize| {
        let s = json!({ "query": "{ me { sub } }" }).to_string();
        format!("{s}{}", " ".repeat(n - s.len()))
    };
    let (status, _, b) = raw(
        &app,
        body_of(2000),
        &[("content-type", "application/json")],
        Some(&t),
    )
    .await;
    assert_eq!(status, 200, "{b}");
    let (status, _, b) = raw(
        &app,
        body_of(2001),
        &[("content-type", "application/json")],
        Some(&t),
    )
    .await;
    assert_eq!(status, 413, "{b}");
    assert_eq!(error_codes(&b), vec!["BAD_USER_INPUT"]);
    assert!(
        b["errors"][0]["message"].as_str().unwrap().contains("2001"),
        "{b}"
    );
});

backend_test!(graphql_over_http_media_types_and_status_codes, |backend| {
    let app = TestApp::spawn(backend).await;
    let t = officer(&app);
    let gr = [
        ("content-type", "application/json"),
        (
            "accept",
            "application/graphql-response+json, application/json;q=0.9",
        ),
    ];
    let js = [
        ("content-type", "application/json"),
        ("accept", "application/json"),
    ];
    let q = |s: &str| json!({ "query": s }).to_string();
    // A good request: 200 under either media type, with that media type.
    let (status, h, b) = raw(&app, q("{ me { sub } }"), &gr, Some(&t)).await;
    assert_eq!(status, 200, "{b}");
    assert!(h["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/graphql-response+json"));
    let (status, h, _) = raw(&app, q("{ me { sub } }"), &js, Some(&t)).await;
    assert_eq!(status, 200);
    assert!(h["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/json"));
    // Request errors (parse, validation): 400 without `data` under the GraphQL type, 200 under JSON.
    for bad in ["{ me { sub ", "{ me { nope } }"] {
        let (status, h, b) = raw(&app, q(bad), &gr, Some(&t)).await;
        assert_eq!(status, 400, "{bad}: {b}");
        assert!(h["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/graphql-response+json"));
        assert!(b.get("data").is_none(), "{b}");
        assert_eq!(error_codes(&b), vec!["BAD_USER_INPUT"]);
        let (status, _, b) = raw(&app, q(bad), &js, Some(&t)).await;
        assert_eq!(status, 200, "{bad}: {b}");
        assert_eq!(error_codes(&b), vec!["BAD_USER_INPUT"]);
    }
    // A field error is a partial success: 200 with data under both.
    let hc = app.token("HEALTH", "health.commission_officer", None, "450102", "hc");
    let (status, _, b) = raw(
        &app,
        q("{ me { sub } children(first: 1) { totalCount } }"),
        &gr,
        Some(&hc),
    )
    .await;
    assert_eq!(status, 200, "{b}");
    assert_eq!(b["data"]["me"]["sub"], "hc");
    assert_eq!(error_codes(&b), vec!["FORBIDDEN"]);
    // Not acceptable.
    let (status, _, _) = raw(
        &app,
        q("{ me { sub } }"),
        &[
            ("content-type", "application/json"),
            ("accept", "text/html"),
        ],
        Some(&t),
    )
    .await;
    assert_eq!(status, 406);
    // No Accept header: application/json.
    let (status, h, _) = raw(
        &app,
        q("{ me { sub } }"),
        &[("content-type", "application/json")],
        Some(&t),
    )
    .await;
    assert_eq!(status, 200);
    assert!(h["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/json"));
    // The request body may also be declared as the GraphQL response type (some clients do).
    let (status, _, _) = raw(
        &app,
        q("{ me { sub } }"),
        &[("content-type", "application/graphql-response+json")],
        Some(&t),
    )
    .await;
    assert_eq!(status, 200);
    // GET runs queries, never mutations (405 with Allow: POST).
    let resp = app
        .client
        .get(format!("{}/graphql", app.address))
        .query(&[("query", "{ me { sub } }")])
        .bearer_auth(&t)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let resp = app
        .client
        .get(format!("{}/graphql", app.address))
        .query(&[("query", "mutation { raiseFlagSweep { __typename } }")])
        .bearer_auth(&t)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 405);
    assert_eq!(resp.headers()["allow"], "POST");
    let b: Value = resp.json().await.unwrap();
    assert!(b["errors"][0]["message"].as_str().unwrap().contains("POST"));
});

backend_test!(security_headers_and_cors, |backend| {
    let app = TestApp::spawn_with(
        backend,
        &[(
            "CAREHUB_CORS_ORIGINS",
            "https://care.example.org, https://admin.example.org",
        )],
    )
    .await;
    let t = officer(&app);
    // Security headers on API responses and the health check.
    let (_, h, _) = raw(
        &app,
        json!({ "query": "{ me { sub } }" }).to_string(),
        &[("content-type", "application/json")],
        Some(&t),
    )
    .await;
    for (k, v) in [
        ("x-content-type-options", "nosniff"),
        ("x-frame-options", "DENY"),
        ("referrer-policy", "no-referrer"),
        (
            "content-security-policy",
            "default-src 'none'; frame-ancestors 'none'",
        ),
        ("cache-control", "no-store"),
    ] {
        assert_eq!(h.get(k).and_then(|v| v.to_str().ok()), Some(v), "{k}");
    }
    assert!(
        h.get("strict-transport-security").is_none(),
        "HSTS only in production"
    );
    let r = app
        .client
        .get(format!("{}/healthz", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["x-content-type-options"], "nosniff");
    // Preflight from an allowed origin.
    let pre = |origin: &'static str, method: &'static str| {
        app.client
            .request(reqwest::Method::OPTIONS, format!("{}/graphql", app.address))
            .header("origin", origin)
            .header("access-control-request-method", method)
            .header(
                "access-control-request-headers",
                "authorization, content-type",
            )
            .send()
    };
    let r = pre("https://care.example.org", "POST").await.unwrap();
    assert_eq!(r.status().as_u16(), 204);
    assert_eq!(
        r.headers()["access-control-allow-origin"],
        "https://care.example.org"
    );
    assert!(r.headers()["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .contains("authorization"));
    assert!(r.headers()["access-control-allow-methods"]
        .to_str()
        .unwrap()
        .contains("POST"));
    // Preflight from any other origin, or for another method: refused, no CORS headers.
    for (origin, method) in [
        ("https://evil.example.com", "POST"),
        ("https://care.example.org", "DELETE"),
    ] {
        let r = pre(origin, method).await.unwrap();
        assert_eq!(r.status().as_u16(), 403, "{origin} {method}");
        assert!(r.headers().get("access-control-allow-origin").is_none());
    }
    // Actual requests: allowed origins get the header (and the exposed rate-limit headers).
    let r = app
        .client
        .post(format!("{}/graphql", app.address))
        .header("origin", "https://admin.example.org")
        .bearer_auth(&t)
        .json(&json!({ "query": "{ me { sub } }" }))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.headers()["access-control-allow-origin"],
        "https://admin.example.org"
    );
    assert!(r.headers()["access-control-expose-headers"]
        .to_str()
        .unwrap()
        .contains("retry-after"));
    assert!(r.headers()["vary"].to_str().unwrap().contains("Origin"));
    let r = app
        .client
        .post(format!("{}/graphql", app.address))
        .header("origin", "https://evil.example.com")
        .bearer_auth(&t)
        .json(&json!({ "query": "{ me { sub } }" }))
        .send()
        .await
        .unwrap();
    assert!(r.headers().get("access-control-allow-origin").is_none());
    // CSRF: a cross-site form or text/plain POST (no preflight in browsers) is refused.
    for ct in [
        "application/x-www-form-urlencoded",
        "text/plain",
        "multipart/form-data; boundary=x",
    ] {
        let (status, _, b) = raw(
            &app,
            "query=%7B+me+%7B+sub+%7D+%7D".into(),
            &[("content-type", ct)],
            Some(&t),
        )
        .await;
        assert_eq!(status, 415, "{ct}: {b}");
        assert_eq!(error_codes(&b), vec!["BAD_USER_INPUT"]);
    }
    let (status, _, _) = raw(
        &app,
        json!({ "query": "{ me { sub } }" }).to_string(),
        &[],
        Some(&t),
    )
    .await;
    assert_eq!(status, 415, "a missing Content-Type is refused too");
});

backend_test!(production_hides_the_schema_and_internals, |backend| {
    // Arrange
    let env = production_env();
    let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let prod = TestApp::spawn_with(backend, &pairs).await;
    let dev = TestApp::spawn(backend).await;
    let pt = mint_hs256(
        &claims(&prod, "civil_affairs.case_officer", "CIVIL_AFFAIRS"),
        PROD_SECRET,
    )
    .unwrap();
    let dt = officer(&dev);

    // Introspection: off in production, on in development; __typename always works.
    let intro = "{ __schema { queryType { name } } }";
    let b = prod.gql(&pt, intro, json!({})).await;
    // async-graphql answers disabled introspection with null, not an error.
    assert!(
        b["data"].is_null() || b["data"]["__schema"].is_null(),
        "{b}"
    );
    let b = prod
        .gql(&pt, "{ __type(name: \"Child\") { name } }", json!({}))
        .await;
    assert!(b["data"].is_null() || b["data"]["__type"].is_null(), "{b}");
    assert_eq!(
        prod.gql(&pt, "{ __typename }", json!({})).await["data"]["__typename"],
        "Query"
    );
    assert_eq!(
        dev.gql(&dt, intro, json!({})).await["data"]["__schema"]["queryType"]["name"],
        "Query"
    );

    // Field suggestions: never in production.
    let b = prod.gql(&pt, "{ me { subb } }", json!({})).await;
    assert!(!b.to_string().contains("Did you mean"), "{b}");
    let b = dev.gql(&dt, "{ me { subb } }", json!({})).await;
    assert!(b.to_string().contains("Did you mean"), "{b}");

    // GraphiQL: not served.
    let r = prod
        .client
        .get(format!("{}/graphql", prod.address))
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_ne!(r.status().as_u16(), 200);
    assert!(!r.text().await.unwrap().contains("<html"));
    // HSTS in production.
    let r = prod
        .client
        .get(format!("{}/healthz", prod.address))
        .send()
        .await
        .unwrap();
    assert!(r.headers().contains_key("strict-transport-security"));
    // Partner roles must come through /oauth/token in production.
    let partner = mint_hs256(
        &claims(&prod, "partner.hotline_app", "PARTNER"),
        PROD_SECRET,
    )
    .unwrap();
    assert_eq!(
        prod.post(json!({ "query": "{ me { sub } }" }), Some(&partner), &[])
            .await
            .0,
        401
    );

    // Internal errors: opaque, with no SQL, table name or driver text.
    use sea_orm::ConnectionTrait;
    prod.conn()
        .execute_unprepared("ALTER TABLE children RENAME TO children_gone")
        .await
        .unwrap();
    let b = prod
        .gql(
            &pt,
            "{ children(first: 1) { totalCount edges { node { id } } } }",
            json!({}),
        )
        .await;
    // Only what the server says counts: the `path` echoes the client's own field name.
    let text = b["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| format!("{} {}", e["message"], e["extensions"]))
        .collect::<String>()
        .to_lowercase();
    assert!(!b["errors"].as_array().unwrap().is_empty(), "{b}");
    assert!(
        error_codes(&b)
            .iter()
            .all(|c| c == "INTERNAL" || c == "SERVICE_UNAVAILABLE"),
        "{b}"
    );
    for leak in [
        "select",
        "children",
        "sqlite",
        "postgres",
        "relation",
        "no such table",
        "error returned",
        ".rs",
    ] {
        assert!(!text.contains(leak), "leaked {leak:?}: {b}");
    }
});

backend_test!(security_battery, |backend| {
    let app = TestApp::spawn(backend).await;
    let t = officer(&app);
    let limit = |b: &Value| limit_of(b).map(|(l, _, _)| l);

    // Alias overloading: one expensive field asked for many times.
    let many: String = (0..200)
        .map(|i| format!("a{i}: children(first: 500) {{ totalCount }} "))
        .collect();
    let b = app.gql(&t, &format!("{{ {many} }}"), json!({})).await;
    assert!(
        matches!(
            limit(&b).as_deref(),
            Some("complexity" | "aliases" | "root_fields")
        ),
        "{b}"
    );
    let aliases: String = (0..31).map(|i| format!("a{i}: sub ")).collect();
    assert_eq!(
        limit(
            &app.gql(&t, &format!("{{ me {{ {aliases} }} }}"), json!({}))
                .await
        )
        .as_deref(),
        Some("aliases")
    );

    // Batch abuse.
    let batch: Vec<Value> = (0..100)
        .map(|_| json!({ "query": "{ me { sub } }" }))
        .collect();
    let (status, b) = app.post(Value::Array(batch), Some(&t), &[]).await;
    assert_eq!(status, 400, "{b}");
    assert!(b["errors"][0]["message"]
        .as_str()
        .unwrap()
        .contains("batch of 100"));

    // Deep nesting through fragments.
    let deep = "{ children(first: 1) { edges { node { ...A } } } }
        fragment A on Child { referrals { ...B } }
        fragment B on Referral { toOrganization { ...C } }
        fragment C on Organization { name id kind regionCode contactName contactPhone }
        ";
    let mut nested = String::from("{ children(first: 1) { edges { node { ");
    for _ in 0..12 {
        nested.push_str("referrals { child { ");
    }
    nested.push_str("id");
    nested.push_str(&" } }".repeat(12));
    nested.push_str(" } } } }");
    let b = app.gql(&t, &nested, json!({})).await;
    assert_eq!(limit(&b).as_deref(), Some("depth"), "{b}");
    assert!(app.gql(&t, deep, json!({})).await["errors"]
        .as_array()
        .is_none_or(|e| e.iter().all(|e| e["extensions"]["limit"].is_null())));
    // Circular fragments: refused by validation, quickly.
    let started = std::time::Instant::now();
    let b = app
        .gql(
            &t,
            "{ me { ...A } } fragment A on Viewer { sub ...B } fragment B on Viewer { role ...A }",
            json!({}),
        )
        .await;
    assert!(b["data"].is_null() && !error_codes(&b).is_empty(), "{b}");
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    // A fragment "bomb" (each fragment spreads the next twice): measured in linear time.
    let mut bomb = String::from("{ me { ...F0 } }\n");
    for i in 0..30 {
        bomb.push_str(&format!(
            "fragment F{i} on Viewer {{ ...F{} ...F{} }}\n",
            i + 1,
            i + 1
        ));
    }
    bomb.push_str("fragment F30 on Viewer { a: sub }\n");
    let started = std::time::Instant::now();
    let b = app.gql(&t, &bomb, json!({})).await;
    assert!(limit(&b).is_some(), "{b}");
    assert!(started.elapsed() < std::time::Duration::from_secs(5));

    // Directive overloading.
    let dirs = "@include(if: true) ".repeat(50);
    let b = app
        .gql(&t, &format!("{{ me {{ sub {dirs} }} }}"), json!({}))
        .await;
    assert_eq!(limit(&b).as_deref(), Some("directives"), "{b}");

    // GET mutation, wrong content type, oversized body.
    let r = app
        .client
        .get(format!("{}/graphql", app.address))
        .query(&[("query", "mutation { __typename }")])
        .bearer_auth(&t)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 405);
    let (status, _, _) = raw(
        &app,
        json!({ "query": "{ me { sub } }" }).to_string(),
        &[("content-type", "text/plain")],
        Some(&t),
    )
    .await;
    assert_eq!(status, 415);
    let huge =
        json!({ "query": format!("{{ me {{ sub }} }} #{}", "x".repeat(300_000)) }).to_string();
    let (status, _, b) = raw(
        &app,
        huge,
        &[("content-type", "application/json")],
        Some(&t),
    )
    .await;
    assert_eq!(status, 413, "{b}");

    // JWT: alg none, HS/RS confusion, expired, wrong audience.
    use base64::Engine;
    let b64 = |v: &Value| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).unwrap())
    };
    let secret = app.state.settings.jwt_secret.clone().unwrap();
    let c = claims(&app, "civil_affairs.case_officer", "CIVIL_AFFAIRS");
    let none = format!(
        "{}.{}.",
        b64(&json!({"alg": "none", "typ": "JWT"})),
        b64(&serde_json::to_value(&c).unwrap())
    );
    let good = mint_hs256(&c, &secret).unwrap();
    let parts: Vec<&str> = good.split('.').collect();
    let confused = format!(
        "{}.{}.{}",
        b64(&json!({"alg": "RS256", "typ": "JWT"})),
        parts[1],
        parts[2]
    );
    let mut expired = c.clone();
    expired.exp = chrono::Utc::now().timestamp() - 3600;
    let mut wrong_aud = c.clone();
    wrong_aud.aud = "another-api".into();
    for (what, token) in [
        ("alg none", none),
        ("HS/RS confusion", confused),
        ("expired", mint_hs256(&expired, &secret).unwrap()),
        ("wrong audience", mint_hs256(&wrong_aud, &secret).unwrap()),
    ] {
        let (status, b) = app
            .post(json!({ "query": "{ me { sub } }" }), Some(&token), &[])
            .await;
        assert_eq!(status, 401, "{what}: {b}");
        assert_eq!(error_codes(&b), vec!["UNAUTHENTICATED"], "{what}");
        assert!(b.get("data").is_none(), "{what}");
    }
});

// ------------------------------------------------------------------------------------------
// Schema-driven fuzzing.

/// xorshift64*: a deterministic generator (the seed is printed on failure).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

#[derive(Clone)]
struct FieldDef {
    name: String,
    args: Vec<(String, Type)>,
    ty: String,
}

struct Schema {
    objects: BTreeMap<String, Vec<FieldDef>>,
    inputs: BTreeMap<String, Vec<(String, Type)>>,
    enums: BTreeMap<String, Vec<String>>,
}

fn named(t: &Type) -> String {
    match &t.base {
        BaseType::Named(n) => n.to_string(),
        BaseType::List(inner) => named(inner),
    }
}

fn load_schema() -> Schema {
    let doc = async_graphql::parser::parse_schema(carehub_api::graphql::sdl()).expect("SDL parses");
    let mut s = Schema {
        objects: BTreeMap::new(),
        inputs: BTreeMap::new(),
        enums: BTreeMap::new(),
    };
    for d in doc.definitions {
        let TypeSystemDefinition::Type(t) = d else {
            continue;
        };
        let name = t.node.name.node.to_string();
        match &t.node.kind {
            TypeKind::Object(o) => {
                let fields = o
                    .fields
                    .iter()
                    .map(|f| FieldDef {
                        name: f.node.name.node.to_string(),
                        args: f
                            .node
                            .arguments
                            .iter()
                            .map(|a| (a.node.name.node.to_string(), a.node.ty.node.clone()))
                            .collect(),
                        ty: named(&f.node.ty.node),
                    })
                    .collect();
                s.objects.insert(name, fields);
            }
            TypeKind::InputObject(o) => {
                s.inputs.insert(
                    name,
                    o.fields
                        .iter()
                        .map(|f| (f.node.name.node.to_string(), f.node.ty.node.clone()))
                        .collect(),
                );
            }
            TypeKind::Enum(e) => {
                s.enums.insert(
                    name,
                    e.values
                        .iter()
                        .map(|v| v.node.value.node.to_string())
                        .collect(),
                );
            }
            _ => {}
        }
    }
    s
}

const STRINGS: &[&str] = &[
    "x",
    "",
    "450102",
    "4501",
    "45",
    "00000000-0000-0000-0000-000000000000",
    "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b",
    "2026-11-01",
    "2026-11-01T08:00:00Z",
    "not-a-date",
    "小华",
    "'; DROP TABLE children; --",
    "\\u0000",
    "💥",
    "450102200001011234",
    "AAAA",
    "a\\nb",
];
const INTS: &[&str] = &[
    "0",
    "1",
    "-1",
    "3",
    "20",
    "100",
    "500",
    "501",
    "2147483647",
    "-2147483648",
    "99999999999",
];

impl Schema {
    fn value(&self, rng: &mut Rng, ty: &Type, depth: usize) -> String {
        if (ty.nullable && rng.chance(10)) || depth > 3 {
            return "null".into();
        }
        if rng.chance(3) {
            // A value of the wrong kind.
            return rng
                .pick(&[
                    "\"oops\"",
                    "12",
                    "true",
                    "[1, 2]",
                    "{ a: 1 }",
                    "NOT_AN_ENUM",
                    "1.5",
                ])
                .to_string();
        }
        match &ty.base {
            BaseType::List(inner) => {
                let n = rng.below(4);
                let items: Vec<String> =
                    (0..n).map(|_| self.value(rng, inner, depth + 1)).collect();
                format!("[{}]", items.join(", "))
            }
            BaseType::Named(n) => match n.as_str() {
                "Int" => rng.pick(INTS).to_string(),
                "Float" => rng.pick(&["0.5", "-1.0", "1e308", "3"]).to_string(),
                "Boolean" => rng.pick(&["true", "false"]).to_string(),
                other => {
                    if let Some(values) = self.enums.get(other) {
                        rng.pick(values).clone()
                    } else if let Some(fields) = self.inputs.get(other) {
                        let mut parts = Vec::new();
                        for (name, fty) in fields {
                            if !fty.nullable || rng.chance(30) {
                                parts.push(format!("{name}: {}", self.value(rng, fty, depth + 1)));
                            }
                        }
                        format!("{{ {} }}", parts.join(", "))
                    } else {
                        serde_json::to_string(rng.pick(STRINGS)).unwrap_or_default()
                    }
                }
            },
        }
    }

    fn selection(&self, rng: &mut Rng, ty: &str, depth: usize) -> String {
        let Some(fields) = self.objects.get(ty) else {
            return "__typename".into();
        };
        let mut out = Vec::new();
        for i in 0..(1 + rng.below(4)) {
            if rng.chance(2) {
                out.push("doesNotExist".into());
                continue;
            }
            let f = rng.pick(fields).clone();
            let mut s = String::new();
            if rng.chance(10) {
                s.push_str(&format!("x{i}: "));
            }
            s.push_str(&f.name);
            let mut args = Vec::new();
            for (n, t) in &f.args {
                if !t.nullable || rng.chance(30) {
                    args.push(format!("{n}: {}", self.value(rng, t, 0)));
                }
            }
            if !args.is_empty() {
                s.push_str(&format!("({})", args.join(", ")));
            }
            if rng.chance(4) {
                s.push_str(rng.pick::<&str>(&[
                    " @include(if: true)",
                    " @skip(if: false)",
                    " @skip(if: true)",
                    " @deprecated",
                ]));
            }
            if self.objects.contains_key(&f.ty) {
                if depth < 4 && !rng.chance(3) {
                    s.push_str(&format!(" {{ {} }}", self.selection(rng, &f.ty, depth + 1)));
                }
            } else if rng.chance(2) {
                s.push_str(" { id }");
            }
            out.push(s);
        }
        if rng.chance(5) {
            out.push(format!("... on {ty} {{ __typename }}"));
        }
        out.join(" ")
    }

    fn request(&self, rng: &mut Rng) -> String {
        let mutation = rng.chance(15);
        let root = if mutation { "Mutation" } else { "Query" };
        let mut q = format!(
            "{}{{ {} }}",
            if mutation { "mutation " } else { "" },
            self.selection(rng, root, 0)
        );
        if rng.chance(5) {
            // Mangle the text: truncate, or splice in junk.
            let cut = rng.below(q.len());
            let at = (0..=cut)
                .rev()
                .find(|i| q.is_char_boundary(*i))
                .unwrap_or(0);
            if rng.chance(50) {
                q.truncate(at);
            } else {
                q.insert_str(
                    at,
                    rng.pick::<&str>(&["{", "}", "(", "$v", "...", "\"", "@", "#", "query"]),
                );
            }
        }
        q
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fuzz_schema_driven_requests_never_5xx() {
    use futures::StreamExt;
    // Arrange: a server with data, no rate limit; tokens for a spread of roles.
    let app = TestApp::spawn_with(Backend::Sqlite, &[("CAREHUB_RATE_LIMIT_PER_MINUTE", "0")]).await;
    let fx = fixtures::load(app.conn(), &app.state.vault).await.unwrap();
    let tokens = [
        officer(&app),
        app.token(
            "HEALTH",
            "health.clinician",
            Some(&fx.hospital.to_string()),
            "45",
            "dr-1",
        ),
        app.token(
            "EDUCATION",
            "education.head_teacher",
            Some(&fx.school_a.to_string()),
            "450102",
            "teacher-a1",
        ),
        app.token(
            "SUPERVISION",
            "supervision.auditor",
            None,
            "4501",
            "auditor-1",
        ),
        app.token(
            "PARTNER",
            "partner.hotline_app",
            Some(&fx.hotline.to_string()),
            "4501",
            "partner-1",
        ),
    ];
    let schema = load_schema();
    let seed = std::env::var("CAREHUB_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed_cafe_u64);
    let count: usize = std::env::var("CAREHUB_FUZZ_REQUESTS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2500);
    let mut rng = Rng(seed);
    let mut requests = Vec::with_capacity(count);
    for _ in 0..count {
        let token = rng.pick(&tokens).clone();
        let q = schema.request(&mut rng);
        let shape = rng.below(100);
        let body = match shape {
            0..=2 => json!([{ "query": q }, { "query": schema.request(&mut rng) }]).to_string(),
            3 => format!("{{\"query\": {}", serde_json::to_string(&q).unwrap_or_default()),
            4 => json!({ "query": q, "variables": [1, 2, 3] }).to_string(),
            5 => json!({ "query": q, "variables": { "v": rng.pick(STRINGS) }, "operationName": "Nope" }).to_string(),
            6 => json!({ "query": q, "extensions": { "persistedQuery": { "version": 1, "sha256Hash": "zz" } } }).to_string(),
            _ => json!({ "query": q }).to_string(),
        };
        requests.push((token, body, shape == 7));
    }
    let started = std::time::Instant::now();

    // Act: a few thousand requests, 8 at a time.
    let results: Vec<(u16, String, String)> = futures::stream::iter(requests)
        .map(|(token, body, via_get)| {
            let client = app.client.clone();
            let url = format!("{}/graphql", app.address);
            async move {
                let req = if via_get {
                    let q: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
                    client
                        .get(&url)
                        .query(&[("query", q["query"].as_str().unwrap_or(""))])
                } else {
                    client
                        .post(&url)
                        .header("content-type", "application/json")
                        .body(body.clone())
                };
                match req.bearer_auth(&token).send().await {
                    Ok(r) => {
                        let status = r.status().as_u16();
                        (
                            status,
                            body,
                            r.text()
                                .await
                                .unwrap_or_else(|e| format!("<body error {e}>")),
                        )
                    }
                    Err(e) => (0, body, format!("<transport error: {e}>")),
                }
            }
        })
        .buffer_unordered(8)
        .collect()
        .await;

    // Assert: no 5xx, no dropped connection (a panic), every error with a stable code.
    let mut failures = Vec::new();
    let mut statuses = BTreeMap::new();
    for (status, body, text) in &results {
        *statuses.entry(*status).or_insert(0) += 1;
        if *status == 0 || *status >= 500 {
            failures.push(format!("{status}: {body}\n  -> {text}"));
            continue;
        }
        let Ok(v) = serde_json::from_str::<Value>(text) else {
            failures.push(format!("{status}: non-JSON answer to {body}: {text}"));
            continue;
        };
        let errors: Vec<&Value> = match &v {
            Value::Array(items) => items
                .iter()
                .flat_map(|i| i["errors"].as_array().into_iter().flatten())
                .collect(),
            other => other["errors"].as_array().into_iter().flatten().collect(),
        };
        if let Some(e) = errors.iter().find(|e| !e["extensions"]["code"].is_string()) {
            failures.push(format!("{status}: error without a code {e} for {body}"));
        }
    }
    eprintln!(
        "fuzz: {} requests in {:.1} s, statuses {statuses:?} (seed {seed:#x})",
        results.len(),
        started.elapsed().as_secs_f64()
    );
    assert_eq!(results.len(), count);
    assert!(
        failures.is_empty(),
        "{} failures (seed {seed:#x}):\n{}",
        failures.len(),
        failures
            .iter()
            .take(10)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
    // The server is still healthy afterwards.
    let r = app
        .client
        .get(format!("{}/healthz", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
}
