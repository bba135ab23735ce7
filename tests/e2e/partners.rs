//! Partner integration: the client-credentials token endpoint, revocation of disabled clients,
//! the operation safelist in each mode, and rate limits (in memory, in Redis across two
//! servers, and the fallback when Redis is down).

use std::time::Duration;

use carehub_api::partners::{clients, safelist, RedisHandle};
use carehub_entity::enums::SafelistMode;
use carehub_tests::*;
use serde_json::{json, Value};

const ME: &str = "query Me { me { sub role } }";

/// Settings that put a server on the test Redis under a fresh key prefix; `None` (and a note)
/// when no Redis is configured, a failure when CI requires the services.
pub fn redis_env() -> Option<Vec<(String, String)>> {
    match redis_url() {
        Some(url) => Some(vec![
            ("REDIS_URL".into(), url),
            (
                "CAREHUB_REDIS_PREFIX".into(),
                format!("test:{}:", uuid::Uuid::new_v4().simple()),
            ),
        ]),
        None => {
            assert!(
                !services_required(),
                "CAREHUB_REQUIRE_SERVICES=1 but CAREHUB_TEST_REDIS_URL is not set"
            );
            eprintln!("skipped: CAREHUB_TEST_REDIS_URL is not set");
            None
        }
    }
}

fn pairs(v: &[(String, String)]) -> Vec<(&str, &str)> {
    v.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
}

/// Creates an API client and returns (client_id, secret).
pub async fn new_client(app: &TestApp, role: &str, mode: SafelistMode) -> (String, String) {
    let spec = clients::ClientSpec {
        name: format!("test {role}"),
        role: role.into(),
        org: Some(uuid::Uuid::now_v7()),
        region: "4501".into(),
        mode,
    };
    let c = clients::add(app.conn(), &app.state.policy, spec)
        .await
        .expect("client added");
    (c.client_id, c.client_secret)
}

/// POSTs a form to `/oauth/token` at `base`.
async fn token_request(
    app: &TestApp,
    form: &[(&str, &str)],
    basic: Option<(&str, &str)>,
) -> (u16, Value, reqwest::header::HeaderMap) {
    let body: Vec<String> = form
        .iter()
        .map(|(k, v)| format!("{k}={}", urlencode(v)))
        .collect();
    let mut req = app
        .client
        .post(format!("{}/oauth/token", app.address))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body.join("&"));
    if let Some((id, secret)) = basic {
        req = req.basic_auth(id, Some(secret));
    }
    let resp = req.send().await.expect("token request");
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    (status, resp.json().await.unwrap_or(Value::Null), headers)
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A token for a client (panics unless the endpoint grants one).
pub async fn client_token(app: &TestApp, id: &str, secret: &str) -> String {
    let (status, body, _) = token_request(
        app,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", id),
            ("client_secret", secret),
        ],
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    body["access_token"]
        .as_str()
        .expect("access_token")
        .to_owned()
}

/// A second server on the same database (another replica), with extra settings.
async fn replica(app: &TestApp, extra: &[(&str, &str)]) -> (String, actix_web::dev::ServerHandle) {
    let built = carehub_api::startup::Application::build(test_settings(&app.db.url, extra))
        .await
        .expect("replica builds");
    let port = built.port();
    let (server, _state) = built.into_parts();
    let handle = server.handle();
    tokio::spawn(server);
    (format!("http://127.0.0.1:{port}"), handle)
}

async fn post_to(
    client: &reqwest::Client,
    base: &str,
    body: &Value,
    token: &str,
) -> (u16, Value, reqwest::header::HeaderMap) {
    let resp = client
        .post(format!("{base}/graphql"))
        .bearer_auth(token)
        .json(body)
        .send()
        .await
        .expect("request");
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    (status, resp.json().await.unwrap_or(Value::Null), headers)
}

fn apq(hash: &str) -> Value {
    json!({ "persistedQuery": { "version": 1, "sha256Hash": hash } })
}

backend_test!(token_endpoint_grants_and_refuses, |backend| {
    // Arrange
    let app = TestApp::spawn(backend).await;
    let (id, secret) = new_client(&app, "partner.hospital_system", SafelistMode::Enforce).await;
    safelist::add_operation(app.conn(), &id, ME).await.unwrap();

    // Act / Assert: form-body credentials.
    let (status, body, headers) = token_request(
        &app,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", &id),
            ("client_secret", &secret),
        ],
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 900);
    assert_eq!(body["scope"], "partner.hospital_system");
    assert_eq!(headers["cache-control"], "no-store");
    let token = body["access_token"].as_str().unwrap();
    let claims = app
        .state
        .auth
        .verify(token)
        .expect("the issued token verifies");
    assert_eq!(claims.client_id.as_deref(), Some(id.as_str()));
    assert_eq!(claims.sub, id);
    assert_eq!(claims.agency, "PARTNER");
    assert!(claims.exp - chrono::Utc::now().timestamp() <= 900);
    let resp = app.gql(token, ME, json!({})).await;
    assert_eq!(
        resp["data"]["me"]["role"], "partner.hospital_system",
        "{resp}"
    );

    // HTTP Basic credentials, with the optional scope.
    let (status, body, _) = token_request(
        &app,
        &[
            ("grant_type", "client_credentials"),
            ("scope", "partner.hospital_system"),
        ],
        Some((&id, &secret)),
    )
    .await;
    assert_eq!(status, 200, "{body}");

    // Every failure, with RFC 6749 §5.2 error codes.
    // (form fields, basic credentials, status, OAuth error code)
    type Case<'a> = (
        Vec<(&'a str, &'a str)>,
        Option<(&'a str, &'a str)>,
        u16,
        &'a str,
    );
    let cases: Vec<Case> = vec![
        (
            vec![
                ("grant_type", "client_credentials"),
                ("client_id", "chc_nobody"),
                ("client_secret", &secret),
            ],
            None,
            401,
            "invalid_client",
        ),
        (
            vec![
                ("grant_type", "client_credentials"),
                ("client_id", &id),
                ("client_secret", "wrong"),
            ],
            None,
            401,
            "invalid_client",
        ),
        (
            vec![("grant_type", "client_credentials")],
            Some((&id, "wrong")),
            401,
            "invalid_client",
        ),
        (
            vec![
                ("grant_type", "password"),
                ("client_id", &id),
                ("client_secret", &secret),
            ],
            None,
            400,
            "unsupported_grant_type",
        ),
        (
            vec![("client_id", &id), ("client_secret", &secret)],
            None,
            400,
            "invalid_request",
        ),
        (
            vec![("grant_type", "client_credentials"), ("client_id", &id)],
            None,
            400,
            "invalid_request",
        ),
        (
            vec![
                ("grant_type", "client_credentials"),
                ("client_secret", &secret),
            ],
            None,
            400,
            "invalid_request",
        ),
        (
            vec![
                ("grant_type", "client_credentials"),
                ("client_id", &id),
                ("client_secret", &secret),
            ],
            Some((&id, &secret)),
            400,
            "invalid_request",
        ),
        (
            vec![
                ("grant_type", "client_credentials"),
                ("client_id", &id),
                ("client_secret", &secret),
                ("scope", "health.clinician"),
            ],
            None,
            400,
            "invalid_scope",
        ),
    ];
    for (form, basic, want_status, want_error) in cases {
        let (status, body, headers) = token_request(&app, &form, basic).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (want_status, Some(want_error)),
            "{form:?}: {body}"
        );
        assert!(body["error_description"]
            .as_str()
            .is_some_and(|d| !d.is_empty()));
        assert!(body.get("access_token").is_none());
        if status == 401 {
            assert!(headers.contains_key("www-authenticate"));
        }
    }
    // A JSON body is not a token request.
    let resp = app
        .client
        .post(format!("{}/oauth/token", app.address))
        .json(
            &json!({"grant_type": "client_credentials", "client_id": id, "client_secret": secret}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 400);

    // Disabled: the right secret no longer gets a token.
    clients::disable(app.conn(), &RedisHandle::new(&app.state.settings), &id)
        .await
        .unwrap();
    let (status, body, _) = token_request(
        &app,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", &id),
            ("client_secret", &secret),
        ],
        None,
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client")),
        "{body}"
    );
    assert!(body["error_description"]
        .as_str()
        .unwrap()
        .contains("disabled"));

    // Logins are audited, granted and refused.
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    let logins = carehub_entity::audit_entry::Entity::find()
        .filter(carehub_entity::audit_entry::Column::Action.eq("LOGIN"))
        .all(app.conn())
        .await
        .unwrap();
    assert!(
        logins
            .iter()
            .any(|l| l.decision == "ALLOWED" && l.client_id.as_deref() == Some(id.as_str())),
        "{logins:?}"
    );
    assert!(logins.iter().any(|l| l.decision == "DENIED"));
});

backend_test!(disabled_client_tokens_stop_at_once, |backend| {
    // Arrange: a client with a valid token, in use.
    let app = TestApp::spawn(backend).await;
    let (id, secret) = new_client(&app, "partner.school_system", SafelistMode::Log).await;
    let token = client_token(&app, &id, &secret).await;
    assert_eq!(
        app.gql(&token, ME, json!({})).await["data"]["me"]["sub"],
        id.as_str()
    );
    let (other, other_secret) = new_client(&app, "partner.school_system", SafelistMode::Log).await;
    let other_token = client_token(&app, &other, &other_secret).await;

    // Act: disable it (the CLI's code path), without restarting anything.
    clients::disable(app.conn(), &RedisHandle::new(&app.state.settings), &id)
        .await
        .unwrap();

    // Assert: the very next request is refused; other clients are untouched.
    let (status, body) = app.post(json!({ "query": ME }), Some(&token), &[]).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(error_codes(&body), vec!["UNAUTHENTICATED"]);
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("revoked"),
        "{body}"
    );
    assert_eq!(
        app.gql(&other_token, ME, json!({})).await["data"]["me"]["sub"],
        other.as_str()
    );
    // A token naming a client that does not exist is refused too.
    let mut c = app.state.auth.verify(&other_token).unwrap();
    c.client_id = Some("chc_forged".into());
    let forged =
        carehub_api::auth::mint_hs256(&c, app.state.settings.jwt_secret.as_deref().unwrap())
            .unwrap();
    assert_eq!(
        app.post(json!({ "query": ME }), Some(&forged), &[]).await.0,
        401
    );
});

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revocation_is_shared_through_redis() {
    let Some(env) = redis_env() else { return };
    // Arrange: two replicas on one database and one Redis.
    let app = TestApp::spawn_with(Backend::Sqlite, &pairs(&env)).await;
    let (b, handle) = replica(&app, &pairs(&env)).await;
    let (id, secret) = new_client(&app, "partner.hotline_app", SafelistMode::Log).await;
    let token = client_token(&app, &id, &secret).await;
    for base in [&app.address, &b] {
        assert_eq!(
            post_to(&app.client, base, &json!({ "query": ME }), &token)
                .await
                .0,
            200
        );
    }
    // Act: revoke through Redis only (the database row is untouched), as another replica would.
    assert!(
        carehub_api::partners::revocation::publish(&RedisHandle::new(&app.state.settings), &id)
            .await
    );
    // Assert: both replicas refuse it on the next request.
    for base in [&app.address, &b] {
        let (status, body, _) = post_to(&app.client, base, &json!({ "query": ME }), &token).await;
        assert_eq!(status, 401, "{base}: {body}");
    }
    handle.stop(true).await;
}

backend_test!(safelist_modes, |backend| {
    // Arrange: one client per mode, each with the ME operation registered.
    let app = TestApp::spawn(backend).await;
    let mut tokens = std::collections::HashMap::new();
    for mode in [
        SafelistMode::Log,
        SafelistMode::Enforce,
        SafelistMode::IdsOnly,
    ] {
        let (id, secret) = new_client(&app, "partner.hotline_app", mode).await;
        let (sha, names) = safelist::add_operation(app.conn(), &id, ME).await.unwrap();
        assert_eq!(names, vec!["Me"]);
        assert_eq!(sha, safelist::sha256_hex(ME));
        // Registering twice is harmless.
        safelist::add_operation(app.conn(), &id, ME).await.unwrap();
        tokens.insert(mode.as_str(), client_token(&app, &id, &secret).await);
    }
    let sha = safelist::sha256_hex(ME);
    let unknown = "query Other { me { sub } }";
    let data_ok = |b: &Value| b["data"]["me"]["role"] == "partner.hotline_app";

    // ENFORCE: registered text and registered ids run; anything else is refused.
    let t = &tokens["ENFORCE"];
    assert!(data_ok(
        &app.post(json!({ "query": ME }), Some(t), &[]).await.1
    ));
    assert!(data_ok(
        &app.post(json!({ "extensions": apq(&sha) }), Some(t), &[])
            .await
            .1
    ));
    assert!(data_ok(
        &app.post(
            json!({ "query": ME, "extensions": apq(&sha) }),
            Some(t),
            &[]
        )
        .await
        .1
    ));
    let (status, body) = app.post(json!({ "query": unknown }), Some(t), &[]).await;
    assert_eq!(
        (status, error_codes(&body)),
        (200, vec!["FORBIDDEN".to_owned()]),
        "{body}"
    );
    assert!(body["errors"][0]["message"]
        .as_str()
        .unwrap()
        .contains("not on the safelist"));
    // APQ: an unknown id answers PERSISTED_QUERY_NOT_FOUND (the client then sends the text).
    let other_sha = safelist::sha256_hex(unknown);
    let (_, body) = app
        .post(json!({ "extensions": apq(&other_sha) }), Some(t), &[])
        .await;
    assert_eq!(
        error_codes(&body),
        vec!["PERSISTED_QUERY_NOT_FOUND"],
        "{body}"
    );
    assert_eq!(body["errors"][0]["message"], "PersistedQueryNotFound");
    let (_, body) = app
        .post(
            json!({ "query": unknown, "extensions": apq(&other_sha) }),
            Some(t),
            &[],
        )
        .await;
    assert_eq!(error_codes(&body), vec!["FORBIDDEN"], "{body}");
    // A hash that is not the text's is refused.
    let (_, body) = app
        .post(
            json!({ "query": unknown, "extensions": apq(&sha) }),
            Some(t),
            &[],
        )
        .await;
    assert_eq!(error_codes(&body), vec!["BAD_USER_INPUT"], "{body}");
    // Under the GraphQL response media type, a request error is a 4xx.
    let (status, body) = app
        .post(
            json!({ "extensions": apq(&other_sha) }),
            Some(t),
            &[("accept", "application/graphql-response+json")],
        )
        .await;
    assert_eq!(
        (status, error_codes(&body)),
        (400, vec!["PERSISTED_QUERY_NOT_FOUND".to_owned()])
    );
    // Batches are checked element by element.
    let (_, body) = app
        .post(json!([{ "query": ME }, { "query": unknown }]), Some(t), &[])
        .await;
    assert_eq!(error_codes(&body), vec!["FORBIDDEN"], "{body}");
    // APQ over GET.
    let ext = serde_json::to_string(&apq(&sha)).unwrap();
    let resp = app
        .client
        .get(format!("{}/graphql", app.address))
        .query(&[("extensions", ext.as_str())])
        .bearer_auth(t)
        .send()
        .await
        .unwrap();
    let body: Value = resp.json().await.unwrap();
    assert!(data_ok(&body), "{body}");

    // LOG: unknown operations run (and are logged).
    let t = &tokens["LOG"];
    let (_, body) = app.post(json!({ "query": unknown }), Some(t), &[]).await;
    assert!(
        body["errors"].is_null() && body["data"]["me"]["sub"].is_string(),
        "{body}"
    );
    assert_eq!(
        error_codes(
            &app.post(json!({ "extensions": apq(&other_sha) }), Some(t), &[])
                .await
                .1
        ),
        vec!["PERSISTED_QUERY_NOT_FOUND"]
    );

    // IDS_ONLY: no query text at all, even registered text; ids run.
    let t = &tokens["IDS_ONLY"];
    let (_, body) = app.post(json!({ "query": ME }), Some(t), &[]).await;
    assert_eq!(error_codes(&body), vec!["FORBIDDEN"], "{body}");
    assert!(body["errors"][0]["message"]
        .as_str()
        .unwrap()
        .contains("only persisted operation ids"));
    assert!(data_ok(
        &app.post(json!({ "extensions": apq(&sha) }), Some(t), &[])
            .await
            .1
    ));

    // Another client's registration does not count.
    let (id, secret) = new_client(&app, "partner.hotline_app", SafelistMode::Enforce).await;
    let t = client_token(&app, &id, &secret).await;
    assert_eq!(
        error_codes(
            &app.post(json!({ "extensions": apq(&sha) }), Some(&t), &[])
                .await
                .1
        ),
        vec!["PERSISTED_QUERY_NOT_FOUND"]
    );
});

/// Fires `n` requests at once (spread over `bases`) and counts (ok, rate limited).
async fn burst(
    client: &reqwest::Client,
    bases: &[String],
    token: &str,
    n: usize,
) -> (usize, usize, Vec<reqwest::header::HeaderMap>) {
    let futs = (0..n).map(|i| {
        let base = bases[i % bases.len()].clone();
        async move { post_to(client, &base, &json!({ "query": "{ me { sub } }" }), token).await }
    });
    let results = futures::future::join_all(futs).await;
    let mut ok = 0;
    let mut limited = Vec::new();
    for (status, body, headers) in results {
        match status {
            200 => ok += 1,
            429 => {
                assert_eq!(error_codes(&body), vec!["RATE_LIMITED"], "{body}");
                limited.push(headers);
            }
            other => panic!("unexpected status {other}: {body}"),
        }
    }
    (ok, limited.len(), limited)
}

backend_test!(rate_limit_in_memory_is_exact_under_concurrency, |backend| {
    // Arrange: a bucket of 10 that refills one token a minute.
    let app = TestApp::spawn_with(
        backend,
        &[
            ("CAREHUB_RATE_LIMIT_PER_MINUTE", "1"),
            ("CAREHUB_RATE_LIMIT_BURST", "10"),
            ("CAREHUB_RATE_LIMIT_ROLES", "partner.*=1/3"),
        ],
    )
    .await;
    let t = app.token(
        "CIVIL_AFFAIRS",
        "civil_affairs.case_officer",
        None,
        "450102",
        "u1",
    );

    // Act: 25 requests at once.
    let (ok, limited, refused) =
        burst(&app.client, std::slice::from_ref(&app.address), &t, 25).await;

    // Assert: exactly the burst passes; refusals say when to retry.
    assert_eq!((ok, limited), (10, 15));
    for h in &refused {
        assert!(h["retry-after"].to_str().unwrap().parse::<u64>().unwrap() >= 1);
        assert_eq!(h["ratelimit-limit"], "10");
        assert_eq!(h["ratelimit-remaining"], "0");
        assert!(h.contains_key("ratelimit-reset") && h.contains_key("ratelimit-policy"));
    }
    let (status, body) = app
        .post(json!({ "query": "{ me { sub } }" }), Some(&t), &[])
        .await;
    assert_eq!(status, 429);
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("retry after"),
        "{body}"
    );
    // Buckets are per user: another user is unaffected, and sees its remaining allowance.
    let t2 = app.token(
        "CIVIL_AFFAIRS",
        "civil_affairs.case_officer",
        None,
        "450102",
        "u2",
    );
    let resp = app
        .client
        .post(format!("{}/graphql", app.address))
        .bearer_auth(&t2)
        .json(&json!({ "query": "{ me { sub } }" }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(resp.headers()["ratelimit-remaining"], "9");
    // Per client, with the partner role's own limit (3).
    let (id, secret) = new_client(&app, "partner.hotline_app", SafelistMode::Log).await;
    let ct = client_token(&app, &id, &secret).await;
    let (ok, limited, _) = burst(&app.client, std::slice::from_ref(&app.address), &ct, 5).await;
    assert_eq!((ok, limited), (3, 2));
});

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limit_in_redis_is_exact_across_two_servers() {
    let Some(mut env) = redis_env() else { return };
    // Arrange: two replicas sharing one database and one Redis; a bucket of 12.
    env.push(("CAREHUB_RATE_LIMIT_PER_MINUTE".into(), "1".into()));
    env.push(("CAREHUB_RATE_LIMIT_BURST".into(), "12".into()));
    let backend = if pg_url().is_some() {
        Backend::Postgres
    } else {
        Backend::Sqlite
    };
    let app = TestApp::spawn_with(backend, &pairs(&env)).await;
    let (b, handle) = replica(&app, &pairs(&env)).await;
    let t = app.token(
        "CIVIL_AFFAIRS",
        "civil_affairs.case_officer",
        None,
        "450102",
        "shared-user",
    );

    // Act: 40 requests at once, alternating between the replicas.
    let (ok, limited, refused) =
        burst(&app.client, &[app.address.clone(), b.clone()], &t, 40).await;

    // Assert: the 13th request in the window is refused, wherever it lands.
    assert_eq!((ok, limited), (12, 28));
    assert!(refused
        .iter()
        .all(|h| h.contains_key("retry-after") && h["ratelimit-limit"] == "12"));
    handle.stop(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limit_falls_back_to_memory_when_redis_is_down() {
    // Arrange: a Redis URL nobody answers on.
    let app = TestApp::spawn_with(
        Backend::Sqlite,
        &[
            ("REDIS_URL", "redis://127.0.0.1:1"),
            ("CAREHUB_RATE_LIMIT_PER_MINUTE", "1"),
            ("CAREHUB_RATE_LIMIT_BURST", "5"),
        ],
    )
    .await;
    let t = app.token(
        "CIVIL_AFFAIRS",
        "civil_affairs.case_officer",
        None,
        "450102",
        "u1",
    );
    // Act
    let started = std::time::Instant::now();
    let (ok, limited, _) = burst(&app.client, std::slice::from_ref(&app.address), &t, 8).await;
    // Assert: requests are served (not refused for Redis's sake) and still limited, per replica.
    assert_eq!((ok, limited), (5, 3));
    assert!(started.elapsed() < Duration::from_secs(20));
}
