//! Authentication: every JWT failure mode gets 401 with a message naming the check.

use carehub_api::auth::{mint_hs256, Claims};
use carehub_tests::*;
use serde_json::json;

const Q: &str = "{ me { sub role } }";

fn claims(app: &TestApp) -> Claims {
    let now = chrono::Utc::now().timestamp();
    Claims {
        sub: "u1".into(),
        agency: "CIVIL_AFFAIRS".into(),
        role: "civil_affairs.case_officer".into(),
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

fn secret(app: &TestApp) -> String {
    app.state.settings.jwt_secret.clone().expect("dev secret")
}

async fn expect_401(app: &TestApp, token: Option<&str>, header: Option<&str>, needle: &str) {
    let mut req = app
        .client
        .post(format!("{}/graphql", app.address))
        .json(&json!({ "query": Q }));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(h) = header {
        req = req.header("Authorization", h);
    }
    let resp = req.send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 401, "{needle}");
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(error_codes(&body), vec!["UNAUTHENTICATED"], "{body}");
    let msg = body["errors"][0]["message"].as_str().unwrap();
    assert!(msg.contains(needle), "expected {needle:?} in {msg:?}");
    assert!(
        body.get("data").is_none() || body["data"].is_null(),
        "no data without a valid token: {body}"
    );
}

fn b64(v: &serde_json::Value) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).unwrap())
}

backend_test!(jwt_failure_modes, |backend| {
    let app = TestApp::spawn(backend).await;
    let s = secret(&app);
    expect_401(&app, None, None, "missing bearer token").await;
    expect_401(
        &app,
        None,
        Some("Basic abc"),
        "malformed Authorization header",
    )
    .await;
    expect_401(&app, Some("not-a-jwt"), None, "malformed token").await;

    let mut c = claims(&app);
    c.exp = chrono::Utc::now().timestamp() - 3600;
    expect_401(&app, Some(&mint_hs256(&c, &s).unwrap()), None, "expired").await;

    let mut c = claims(&app);
    c.nbf = Some(chrono::Utc::now().timestamp() + 3600);
    expect_401(
        &app,
        Some(&mint_hs256(&c, &s).unwrap()),
        None,
        "not valid yet",
    )
    .await;

    expect_401(
        &app,
        Some(&mint_hs256(&claims(&app), "some-other-secret").unwrap()),
        None,
        "signature",
    )
    .await;

    let mut c = claims(&app);
    c.iss = "someone-else".into();
    expect_401(&app, Some(&mint_hs256(&c, &s).unwrap()), None, "issuer").await;

    let mut c = claims(&app);
    c.aud = "another-api".into();
    expect_401(&app, Some(&mint_hs256(&c, &s).unwrap()), None, "audience").await;

    // alg: none — an unsigned token with valid claims.
    let none = format!(
        "{}.{}.",
        b64(&json!({"alg": "none", "typ": "JWT"})),
        b64(&serde_json::to_value(claims(&app)).unwrap())
    );
    expect_401(&app, Some(&none), None, "algorithm none is not accepted").await;

    // HS/RS confusion: an RS256 header on a token "signed" with the HS secret.
    let good = mint_hs256(&claims(&app), &s).unwrap();
    let parts: Vec<&str> = good.split('.').collect();
    let confused = format!(
        "{}.{}.{}",
        b64(&json!({"alg": "RS256", "typ": "JWT"})),
        parts[1],
        parts[2]
    );
    expect_401(
        &app,
        Some(&confused),
        None,
        "algorithm RS256 is not accepted",
    )
    .await;

    let mut c = claims(&app);
    c.role = "education.principal_of_the_universe".into();
    expect_401(
        &app,
        Some(&mint_hs256(&c, &s).unwrap()),
        None,
        "not in the remit policy",
    )
    .await;

    let mut c = claims(&app);
    c.agency = "HEALTH".into();
    expect_401(
        &app,
        Some(&mint_hs256(&c, &s).unwrap()),
        None,
        "does not match role",
    )
    .await;

    // And the happy path.
    let body = app
        .gql(&mint_hs256(&claims(&app), &s).unwrap(), Q, json!({}))
        .await;
    assert_eq!(body["data"]["me"]["sub"], "u1", "{body}");
    assert_eq!(body["data"]["me"]["role"], "civil_affairs.case_officer");
});

backend_test!(purpose_header, |backend| {
    let app = TestApp::spawn(backend).await;
    let t = app.token(
        "CIVIL_AFFAIRS",
        "civil_affairs.case_officer",
        None,
        "450102",
        "u1",
    );
    // Missing: the role's default purpose applies.
    let (status, body) = app
        .post(json!({"query": "{ me { purpose } }"}), Some(&t), &[])
        .await;
    assert_eq!(status, 200);
    assert!(body["data"]["me"]["purpose"].is_string(), "{body}");
    // Unknown purpose: bad input naming the header.
    let (status, body) = app
        .post(
            json!({"query": "{ me { purpose } }"}),
            Some(&t),
            &[("X-Purpose", "GOSSIP")],
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(error_codes(&body), vec!["BAD_USER_INPUT"]);
    assert!(body["errors"][0]["message"]
        .as_str()
        .unwrap()
        .contains("X-Purpose"));
    // A purpose the role may not state.
    let (status, body) = app
        .post(
            json!({"query": "{ me { purpose } }"}),
            Some(&t),
            &[("X-Purpose", "PARTNER_SYNC")],
        )
        .await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(error_codes(&body), vec!["FORBIDDEN"]);
    assert!(body["errors"][0]["message"]
        .as_str()
        .unwrap()
        .contains("PARTNER_SYNC"));
});

#[tokio::test]
async fn jwks_rs256_only_refuses_hs256() {
    // A production-like server that trusts only an RS256 JWKS refuses HS256 tokens, even ones
    // signed with material an attacker could know.
    let jwks = r#"{"keys":[{"kty":"RSA","kid":"k1","alg":"RS256","use":"sig","n":"u1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gunVTLw7onLRnrq0_IzW7yWR7QkrmBL7jTKEn5u-qKhbwKfBstIs-bMY2Zkp18gnTxKLxoS2tFczGkPLPgizskuemMghRniWaoLcyehkd3qqGElvW_VDL5AaWTg0nLVkjRo9z-40RQzuVaE8AkAFmxZzow3x-VJYKdjykkJ0iT9wCS0DRTXu269V264Vf_3jvredZiKRkgwlL9xNAwxXFg0x_XFw005UWVRIkdgcKWTjpBP2dPwVZ4WWC-9aGVd-Gyn1o0CLelf4rEjGoXbAAEgAqeGUxrcIlbjXfbcmw","e":"AQAB"}]}"#;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("jwks.json");
    std::fs::write(&path, jwks).unwrap();
    let mut env = std::collections::BTreeMap::new();
    env.insert(
        "CAREHUB_JWT_JWKS_FILE".to_string(),
        path.display().to_string(),
    );
    env.insert("CAREHUB_JWT_SECRET".to_string(), String::new());
    let settings = carehub_api::config::Settings::from_sources(&env).unwrap();
    let auth = carehub_api::auth::Authenticator::new(
        &carehub_api::config::Settings {
            jwt_secret: None,
            ..settings.clone()
        },
        Some(jwks),
    )
    .unwrap();
    let now = chrono::Utc::now().timestamp();
    let c = Claims {
        sub: "x".into(),
        agency: "CIVIL_AFFAIRS".into(),
        role: "civil_affairs.case_officer".into(),
        org: None,
        region: "45".into(),
        iss: settings.jwt_issuer.clone(),
        aud: settings.jwt_audience.clone(),
        exp: now + 60,
        nbf: None,
        iat: None,
        client_id: None,
        jti: None,
    };
    let hs = mint_hs256(&c, "anything").unwrap();
    let err = auth.verify(&hs).unwrap_err();
    assert!(err.to_string().contains("HS256 is not accepted"), "{err}");
}
