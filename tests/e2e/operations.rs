//! Operations: `/metrics`, request-id propagation, the compose footprint (migrate + two
//! production replicas started exactly as docker/compose.yaml declares them), graceful shutdown,
//! start-up time, backup → restore → `audit verify`, and `audit prune` → `audit verify`.
//! The process tests run the built `carehub` binary (`cargo build -p carehub-api` first).

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use carehub_api::audit::AuditRecord;
use carehub_tests::*;
use sea_orm::{ConnectionTrait, Database, EntityTrait, PaginatorTrait};
use serde_json::{json, Value};

const CHILDREN_QUERY: &str =
    "query OpsProbe { children(first: 5) { totalCount edges { node { id name } } } }";

// ------------------------------------------------------------------------------------------
// helpers: the binary, spawned servers, databases
// ------------------------------------------------------------------------------------------

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// The built `carehub` binary next to the test executable (target/<profile>/carehub).
fn carehub_bin() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>/deps/<test>");
    let bin = profile_dir.join(if cfg!(windows) {
        "carehub.exe"
    } else {
        "carehub"
    });
    assert!(
        bin.exists(),
        "{} is missing: run `cargo build -p carehub-api` before the e2e tests",
        bin.display()
    );
    bin
}

/// A command on the binary with exactly `env` (nothing inherited but PATH).
fn carehub(args: &[&str], env: &BTreeMap<String, String>) -> Command {
    let mut cmd = Command::new(carehub_bin());
    cmd.args(args).env_clear();
    if let Ok(path) = std::env::var("PATH") {
        cmd.env("PATH", path);
    }
    cmd.envs(env);
    cmd
}

fn env_of(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// Runs a CLI command to completion (killed after a minute); returns (success, stdout + stderr).
fn run_cli(args: &[&str], env: &BTreeMap<String, String>) -> (bool, String) {
    let dir = tempfile::tempdir().expect("temp dir");
    let (out_path, err_path) = (dir.path().join("out"), dir.path().join("err"));
    let mut child = carehub(args, env)
        .stdout(std::fs::File::create(&out_path).expect("stdout file"))
        .stderr(std::fs::File::create(&err_path).expect("stderr file"))
        .spawn()
        .expect("carehub runs");
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Ok(Some(status)) = child.try_wait() {
            break Some(status);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let text = format!(
        "{}{}",
        std::fs::read_to_string(&out_path).unwrap_or_default(),
        std::fs::read_to_string(&err_path).unwrap_or_default()
    );
    match status {
        Some(s) => (s.success(), text),
        None => (
            false,
            format!("carehub {args:?} did not finish within a minute (killed):\n{text}"),
        ),
    }
}

/// A `carehub serve` process; killed when dropped if still running.
struct Server {
    child: Child,
    port: u16,
    output: Arc<Mutex<Vec<String>>>,
}

impl Server {
    /// Starts `carehub <args>` and waits until it prints the port it listens on.
    fn start(args: &[&str], env: &BTreeMap<String, String>) -> Self {
        let mut child = carehub(args, env)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("carehub serve starts");
        let output = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = std::sync::mpsc::channel::<u16>();
        let stdout = child.stdout.take().expect("stdout piped");
        let stderr = child.stderr.take().expect("stderr piped");
        for (stream, tx) in [
            (Box::new(stdout) as Box<dyn std::io::Read + Send>, Some(tx)),
            (Box::new(stderr), None),
        ] {
            let output = output.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    if let (Some(tx), Some(port)) = (&tx, listening_port(&line)) {
                        let _ = tx.send(port);
                    }
                    if let Ok(mut o) = output.lock() {
                        o.push(line);
                    }
                }
            });
        }
        let port = match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(p) => p,
            Err(_) => {
                let _ = child.kill();
                panic!(
                    "carehub did not start:\n{}",
                    output.lock().map(|o| o.join("\n")).unwrap_or_default()
                );
            }
        };
        Self {
            child,
            port,
            output,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// The separate metrics port, from the JSON "carehub is ready" log line.
    fn metrics_port(&self) -> Option<u16> {
        let lines = self.output.lock().ok()?.clone();
        lines
            .iter()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .find_map(|v| v["fields"]["metrics_port"].as_u64())
            .map(|p| p as u16)
    }

    fn log(&self) -> String {
        self.output.lock().map(|o| o.join("\n")).unwrap_or_default()
    }

    fn sigterm(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill -TERM failed");
    }

    /// Waits for the process to exit; returns whether it exited successfully.
    fn wait_exit(&mut self, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.success();
            }
            assert!(
                Instant::now() < deadline,
                "carehub did not exit within {limit:?}:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn listening_port(line: &str) -> Option<u16> {
    let rest = &line[line.find("is listening on http://")? + "is listening on http://".len()..];
    let hostport = rest.split_whitespace().next()?;
    hostport.rsplit_once(':')?.1.parse().ok()
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .expect("client")
}

async fn wait_ready(url: &str, limit: Duration) -> Duration {
    let started = Instant::now();
    let c = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()
        .expect("client");
    loop {
        if let Ok(r) = c.get(url).send().await {
            if r.status().as_u16() == 200 {
                return started.elapsed();
            }
        }
        assert!(
            started.elapsed() < limit,
            "{url} not ready within {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// `url` with its database name replaced.
fn with_db(url: &str, name: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map(|(b, q)| (b, format!("?{q}")))
        .unwrap_or((url, String::new()));
    let base = base.rsplit_once('/').map(|(b, _)| b).unwrap_or(base);
    format!("{base}/{name}{query}")
}

/// An empty PostgreSQL database, dropped with the guard.
struct PgDb {
    admin: String,
    name: String,
    url: String,
}

impl PgDb {
    async fn create(prefix: &str) -> Self {
        let admin = pg_url().expect("CAREHUB_TEST_DATABASE_URL");
        let name = format!("{prefix}_{}", uuid::Uuid::new_v4().simple());
        let conn = Database::connect(&admin).await.expect("admin connection");
        conn.execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
            .await
            .expect("create database");
        conn.close().await.ok();
        let url = with_db(&admin, &name);
        Self { admin, name, url }
    }
}

impl Drop for PgDb {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("keeping database {} of a failed test", self.name);
            return;
        }
        let (admin, name) = (self.admin.clone(), self.name.clone());
        let _ = std::thread::spawn(move || {
            if let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                rt.block_on(async {
                    if let Ok(c) = Database::connect(&admin).await {
                        let _ = c
                            .execute_unprepared(&format!(
                                "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
                            ))
                            .await;
                    }
                });
            }
        })
        .join();
    }
}

fn dev_token(db_url: &str) -> String {
    let settings = test_settings(db_url, &[]);
    carehub_api::cli::mint_dev_token(
        &settings,
        "CIVIL_AFFAIRS",
        "civil_affairs.case_officer",
        None,
        "45",
        Some("ops-officer"),
        Duration::from_secs(3600),
    )
    .expect("token")
}

async fn gql_at(
    url: &str,
    token: &str,
    query: &str,
    headers: &[(&str, &str)],
) -> (u16, reqwest::header::HeaderMap, Value) {
    let mut req = client()
        .post(url)
        .bearer_auth(token)
        .json(&json!({ "query": query }));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = req.send().await.expect("request");
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    (status, headers, resp.json().await.unwrap_or(Value::Null))
}

// ------------------------------------------------------------------------------------------
// /metrics and X-Request-Id
// ------------------------------------------------------------------------------------------

backend_test!(
    metrics_exposes_requests_operations_authz_audit_and_pool,
    |backend| {
        let app = TestApp::spawn(backend).await;
        carehub_api::seed::seed(&app.state, 20, 3).await.unwrap();
        let t = app.token(
            "CIVIL_AFFAIRS",
            "civil_affairs.case_officer",
            None,
            "45",
            "ops-metrics",
        );
        let body = app.gql(&t, CHILDREN_QUERY, json!({})).await;
        assert!(body["errors"].is_null(), "{body}");
        // An operation that fails validation counts as an error.
        let body = app
            .gql(&t, "query OpsBroken { noSuchField }", json!({}))
            .await;
        assert!(!body["errors"].is_null(), "{body}");
        let resp = app
            .client
            .get(format!("{}/metrics", app.address))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 200);
        assert!(
            resp.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/plain"),
            "{:?}",
            resp.headers()
        );
        let text = resp.text().await.unwrap();
        for needle in [
        "carehub_http_requests_total{method=\"POST\",route=\"/graphql\",status=\"200\"}",
        "carehub_http_request_duration_seconds_bucket{method=\"POST\",route=\"/graphql\",le=\"0.1\"}",
        "carehub_graphql_operations_total{operation=\"OpsProbe\",outcome=\"ok\",type=\"query\"}",
        "carehub_graphql_operations_total{operation=\"OpsBroken\",outcome=\"error\",type=\"query\"}",
        "carehub_graphql_operation_duration_seconds_count{type=\"query\"}",
        "carehub_authz_decisions_total{outcome=\"allow\"}",
        "carehub_audit_queue_depth ",
        "carehub_audit_batch_size_count ",
        "carehub_audit_batch_size_max ",
        "carehub_db_pool_connections{pool=\"write\",state=\"in_use\"}",
        "carehub_db_pool_max_connections{pool=\"write\"} 5",
        "carehub_db_statements_total ",
        "carehub_ws_subscribers ",
        "carehub_event_bus_lag_seconds_count ",
        "carehub_rate_limited_total",
        "carehub_ready 1",
    ] {
        assert!(text.contains(needle), "/metrics lacks {needle:?}:\n{text}");
    }
        let value = |prefix: &str| -> f64 {
            text.lines()
                .find(|l| l.starts_with(prefix))
                .and_then(|l| l.rsplit(' ').next())
                .and_then(|v| v.parse().ok())
                .unwrap_or(-1.0)
        };
        assert!(
            value("carehub_authz_decisions_total{outcome=\"allow\"}") > 0.0,
            "{text}"
        );
        assert!(
            value("carehub_audit_batch_size_count") >= 1.0,
            "the read was audited:\n{text}"
        );
        // Every line is either a comment or `name{labels} value` (the exposition format).
        for line in text
            .lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
        {
            let v = line.rsplit(' ').next().unwrap();
            assert!(
                v.parse::<f64>().is_ok() || v == "+Inf" || v == "NaN",
                "bad sample line {line:?}"
            );
        }
    }
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_on_a_separate_port_only() {
    let db = TestDb::new(Backend::Sqlite).await.unwrap();
    let settings = test_settings(&db.url, &[("CAREHUB_METRICS_BIND", "127.0.0.1:0")]);
    let app = carehub_api::startup::Application::build(settings)
        .await
        .unwrap();
    let (port, metrics_port) = (app.port(), app.metrics_port().expect("metrics listener"));
    let (server, _state) = app.into_parts();
    let handle = server.handle();
    tokio::spawn(server);
    let c = client();
    let main = c
        .get(format!("http://127.0.0.1:{port}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        main.status().as_u16(),
        404,
        "/metrics must not be on the public listener when CAREHUB_METRICS_BIND is set"
    );
    let sep = c
        .get(format!("http://127.0.0.1:{metrics_port}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(sep.status().as_u16(), 200);
    assert!(sep.text().await.unwrap().contains("carehub_info{instance="));
    handle.stop(true).await;
}

backend_test!(request_id_is_propagated, |backend| {
    let app = TestApp::spawn(backend).await;
    carehub_api::seed::seed(&app.state, 10, 5).await.unwrap();
    let t = app.token(
        "CIVIL_AFFAIRS",
        "civil_affairs.case_officer",
        None,
        "45",
        "ops-rid",
    );
    let url = format!("{}/graphql", app.address);
    // The caller's id comes back in the header, in the response extensions and in the audit.
    let (status, headers, body) = gql_at(
        &url,
        &t,
        CHILDREN_QUERY,
        &[("X-Request-Id", "ops-req-0001")],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(headers["x-request-id"], "ops-req-0001");
    assert_eq!(body["extensions"]["requestId"], "ops-req-0001", "{body}");
    let audited = audit_of("ops-req-0001").count(app.conn()).await.unwrap();
    assert!(audited > 0, "the audit entries carry the request id");
    // Without one (or with an unusable one) the server mints one, the same in header and body.
    let too_long = "x".repeat(200);
    for bad in [
        None,
        Some("has spaces and ünïcode"),
        Some(too_long.as_str()),
    ] {
        let hdrs: Vec<(&str, &str)> = bad.map(|b| vec![("X-Request-Id", b)]).unwrap_or_default();
        let (_, headers, body) = gql_at(&url, &t, CHILDREN_QUERY, &hdrs).await;
        let rid = headers["x-request-id"].to_str().unwrap().to_owned();
        assert!(uuid::Uuid::parse_str(&rid).is_ok(), "minted id {rid:?}");
        assert_eq!(body["extensions"]["requestId"], rid.as_str(), "{body}");
    }
    // Routes outside GraphQL echo it too.
    let r = app
        .client
        .get(format!("{}/healthz", app.address))
        .header("X-Request-Id", "ops-health-1")
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["x-request-id"], "ops-health-1");
    let r = app
        .client
        .get(format!("{}/readyz", app.address))
        .send()
        .await
        .unwrap();
    assert!(uuid::Uuid::parse_str(r.headers()["x-request-id"].to_str().unwrap()).is_ok());
});

/// Audit entries of one request.
fn audit_of(rid: &str) -> sea_orm::Select<carehub_entity::audit_entry::Entity> {
    use sea_orm::{ColumnTrait, QueryFilter};
    carehub_entity::audit_entry::Entity::find()
        .filter(carehub_entity::audit_entry::Column::RequestId.eq(rid))
}

// ------------------------------------------------------------------------------------------
// the compose footprint
// ------------------------------------------------------------------------------------------

struct Compose {
    doc: serde_norway::Value,
}

impl Compose {
    fn load() -> Self {
        let text = std::fs::read_to_string(repo_root().join("docker/compose.yaml"))
            .expect("docker/compose.yaml");
        let mut doc: serde_norway::Value =
            serde_norway::from_str(&text).expect("compose.yaml is YAML");
        doc.apply_merge().expect("merge keys resolve");
        Self { doc }
    }

    fn service(&self, name: &str) -> &serde_norway::Value {
        let s = &self.doc["services"][name];
        assert!(!s.is_null(), "compose.yaml has no service {name}");
        s
    }

    /// The service's `command` (the image's CMD, `serve`, when absent).
    fn command(&self, name: &str) -> Vec<String> {
        match self.service(name)["command"].as_sequence() {
            Some(seq) => seq
                .iter()
                .map(|v| v.as_str().expect("command items are strings").to_owned())
                .collect(),
            None => vec!["serve".to_owned()],
        }
    }

    fn environment(&self, name: &str) -> BTreeMap<String, String> {
        let env = self.service(name)["environment"]
            .as_mapping()
            .unwrap_or_else(|| panic!("{name}: environment is a mapping"));
        env.iter()
            .map(|(k, v)| {
                let v = match v {
                    serde_norway::Value::String(s) => s.clone(),
                    other => serde_norway::to_string(other)
                        .unwrap_or_default()
                        .trim()
                        .to_owned(),
                };
                (k.as_str().expect("env names are strings").to_owned(), v)
            })
            .collect()
    }
}

fn known_env_names() -> std::collections::BTreeSet<&'static str> {
    carehub_api::config::SETTINGS
        .iter()
        .map(|s| s.env)
        .chain(["RUST_LOG", "CAREHUB_CONFIG"])
        .collect()
}

/// Keys of .env.example, active or commented out (`# KEY=value`).
fn env_example_keys() -> Vec<String> {
    let text = std::fs::read_to_string(repo_root().join("docker/.env.example"))
        .expect("docker/.env.example");
    text.lines()
        .map(|l| l.trim_start_matches('#').trim())
        .filter_map(|l| l.split_once('='))
        .map(|(k, _)| k.trim())
        .filter(|k| {
            !k.is_empty()
                && k.chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
        })
        .map(str::to_owned)
        .collect()
}

/// Everything the compose file, the image and nginx rely on exists in the binary.
#[test]
fn compose_image_and_nginx_agree_with_the_binary() {
    let compose = Compose::load();
    let known = known_env_names();
    for svc in ["migrate", "carehub-1", "carehub-2"] {
        for key in compose.environment(svc).keys() {
            assert!(
                known.contains(key.as_str()),
                "compose service {svc} sets {key}, which is no carehub setting"
            );
        }
        assert_eq!(
            compose.service(svc)["env_file"].as_str(),
            Some(".env"),
            "{svc} reads .env"
        );
    }
    assert_eq!(compose.command("migrate"), ["migrate", "up"]);
    let env1 = compose.environment("carehub-1");
    assert_eq!(env1["CAREHUB_ENV"], "production");
    assert_eq!(env1["CAREHUB_AUTO_MIGRATE"], "false");
    assert_ne!(
        env1["CAREHUB_INSTANCE_ID"],
        compose.environment("carehub-2")["CAREHUB_INSTANCE_ID"]
    );
    for key in env_example_keys() {
        assert!(
            key == "POSTGRES_PASSWORD" || known.contains(key.as_str()),
            ".env.example names {key}, which is no carehub setting"
        );
    }
    // Docker's SIGKILL must come after readiness delay + drain.
    let grace = compose.service("carehub-1")["stop_grace_period"]
        .as_str()
        .unwrap_or("10s");
    let grace_secs: u64 = grace.trim_end_matches('s').parse().unwrap();
    let s = test_settings(
        "sqlite::memory:",
        &[
            ("CAREHUB_ENV", "production"),
            ("CAREHUB_JWT_SECRET", "x-real-secret"),
            ("CAREHUB_DATA_KEY", &"11".repeat(32)),
            ("CAREHUB_INDEX_KEY", &"22".repeat(32)),
        ],
    );
    assert!(
        grace_secs > s.shutdown_delay.as_secs() + s.shutdown_timeout_secs,
        "stop_grace_period {grace} is shorter than the shutdown"
    );

    let dockerfile = std::fs::read_to_string(repo_root().join("docker/Dockerfile")).unwrap();
    let bind_port = env1["CAREHUB_BIND"].rsplit(':').next().unwrap().to_owned();
    let metrics_port = env1["CAREHUB_METRICS_BIND"]
        .rsplit(':')
        .next()
        .unwrap()
        .to_owned();
    assert!(
        dockerfile.contains(&format!("http://127.0.0.1:{bind_port}/readyz")),
        "the HEALTHCHECK probes /readyz on CAREHUB_BIND's port"
    );
    assert!(dockerfile.contains(&format!("EXPOSE {bind_port} {metrics_port}")));
    assert!(
        dockerfile.contains("ENTRYPOINT [\"carehub\"]") && dockerfile.contains("CMD [\"serve\"]")
    );
    assert!(
        dockerfile.contains("USER 10001"),
        "the image runs as a non-root user"
    );
    for line in dockerfile.lines().filter(|l| l.starts_with("ENV ")) {
        for pair in line[4..].split_whitespace() {
            let key = pair.split('=').next().unwrap();
            assert!(
                known.contains(key),
                "Dockerfile sets {key}, which is no carehub setting"
            );
        }
    }
    let nginx = std::fs::read_to_string(repo_root().join("docker/nginx.conf")).unwrap();
    for svc in ["carehub-1", "carehub-2"] {
        assert!(
            nginx.contains(&format!("server {svc}:{bind_port}")),
            "nginx balances {svc}:{bind_port}"
        );
    }
    assert!(
        nginx.contains("proxy_set_header Upgrade $http_upgrade"),
        "nginx passes WebSocket upgrades"
    );
    assert!(
        nginx.contains("X-Request-Id"),
        "nginx forwards a request id"
    );
}

/// An RSA key, its JWKS, and RS256 tokens as an identity provider would issue them.
struct Idp {
    key: jsonwebtoken::EncodingKey,
    jwks: String,
}

impl Idp {
    fn new() -> Self {
        use base64::Engine;
        use rsa::pkcs1::EncodeRsaPrivateKey;
        use rsa::traits::PublicKeyParts;
        let private = rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048).expect("RSA key");
        let pem = private
            .to_pkcs1_pem(rsa::pkcs1::LineEnding::LF)
            .expect("PEM");
        let b64 = |b: Vec<u8>| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
        let jwks = json!({ "keys": [{ "kty": "RSA", "kid": "ops-k1", "alg": "RS256", "use": "sig", "n": b64(private.n().to_bytes_be()), "e": b64(private.e().to_bytes_be()) }] }).to_string();
        Self {
            key: jsonwebtoken::EncodingKey::from_rsa_pem(pem.as_bytes()).expect("encoding key"),
            jwks,
        }
    }

    fn token(&self, issuer: &str, role: &str, agency: &str, region: &str) -> String {
        let now = chrono::Utc::now().timestamp();
        let claims = carehub_api::auth::Claims {
            sub: format!("idp-{role}"),
            agency: agency.into(),
            role: role.into(),
            org: None,
            region: region.into(),
            iss: issuer.into(),
            aud: "carehub".into(),
            exp: now + 600,
            nbf: Some(now - 5),
            iat: Some(now),
            client_id: None,
            jti: Some(uuid::Uuid::new_v4().to_string()),
        };
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
        header.kid = Some("ops-k1".into());
        jsonwebtoken::encode(&header, &claims, &self.key).expect("RS256 token")
    }
}

fn random_hex32() -> String {
    use rsa::rand_core::RngCore;
    let mut b = [0u8; 32];
    rsa::rand_core::OsRng.fill_bytes(&mut b);
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// The compose footprint on loopback: `carehub migrate up`, then `carehub serve` twice, with
/// the compose file's own commands and variables; loopback addresses, this machine's PostgreSQL
/// and Redis, and test-made production secrets (a JWKS file, fresh keys) stand in for .env.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compose_footprint_two_replicas_on_postgres_and_redis() {
    if !postgres_available() {
        return;
    }
    let Some(redis) = redis_url() else {
        assert!(
            !services_required(),
            "CAREHUB_REQUIRE_SERVICES=1 but CAREHUB_TEST_REDIS_URL is not set"
        );
        eprintln!("skipped: CAREHUB_TEST_REDIS_URL is not set");
        return;
    };
    let compose = Compose::load();
    let pg = PgDb::create("carehub_ops_compose").await;
    let idp = Idp::new();
    let dir = tempfile::tempdir().unwrap();
    let jwks_path = dir.path().join("jwks.json");
    std::fs::write(&jwks_path, &idp.jwks).unwrap();
    let issuer = "https://idp.ops.test";
    // What an operator puts in docker/.env (each key is checked against .env.example).
    let dotenv = env_of(&[
        ("CAREHUB_JWT_JWKS_FILE", jwks_path.to_str().unwrap()),
        ("CAREHUB_JWT_ISSUER", issuer),
        ("CAREHUB_JWT_AUDIENCE", "carehub"),
        ("CAREHUB_DATA_KEY", &random_hex32()),
        ("CAREHUB_DATA_KEY_ID", "k1"),
        ("CAREHUB_INDEX_KEY", &random_hex32()),
    ]);
    let example = env_example_keys();
    for k in dotenv.keys() {
        assert!(example.contains(k), ".env.example does not document {k}");
    }
    // The compose environment with only the host-specific values swapped for loopback ones.
    let service_env = |svc: &str| -> BTreeMap<String, String> {
        let mut env = dotenv.clone();
        for (k, v) in compose.environment(svc) {
            let v = match k.as_str() {
                "DATABASE_URL" => {
                    assert!(v.starts_with("postgres://"), "{svc}: DATABASE_URL {v}");
                    pg.url.clone()
                }
                "REDIS_URL" => {
                    assert!(v.starts_with("redis://"), "{svc}: REDIS_URL {v}");
                    redis.clone()
                }
                _ if v.starts_with("0.0.0.0:") => "127.0.0.1:0".to_owned(),
                _ => v,
            };
            env.insert(k, v);
        }
        env
    };

    // A replica refuses to start while migrations are pending (CAREHUB_AUTO_MIGRATE=false).
    let (ok, out) = run_cli(&["serve"], &service_env("carehub-1"));
    assert!(!ok && out.contains("migrations are pending"), "{out}");

    let migrate_args = compose.command("migrate");
    let args: Vec<&str> = migrate_args.iter().map(String::as_str).collect();
    let (ok, out) = run_cli(&args, &service_env("migrate"));
    assert!(ok, "carehub {args:?} failed: {out}");

    let mut replicas = Vec::new();
    for svc in ["carehub-1", "carehub-2"] {
        let cmd = compose.command(svc);
        let args: Vec<&str> = cmd.iter().map(String::as_str).collect();
        replicas.push((svc, Server::start(&args, &service_env(svc))));
    }
    let token = idp.token(issuer, "civil_affairs.case_officer", "CIVIL_AFFAIRS", "45");
    let c = client();
    for (svc, r) in &replicas {
        wait_ready(&r.url("/readyz"), Duration::from_secs(30)).await;
        let h = c.get(r.url("/healthz")).send().await.unwrap();
        assert_eq!(h.status().as_u16(), 200, "{svc} /healthz");
        let ready: Value = c
            .get(r.url("/readyz"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(ready["database"], "ok", "{svc}: {ready}");
        assert_eq!(ready["instance"], *svc, "{svc}: {ready}");
        // Production: no GraphiQL, no development tokens.
        let g = c
            .get(r.url("/graphql"))
            .header("accept", "text/html")
            .send()
            .await
            .unwrap();
        assert_ne!(
            g.status().as_u16(),
            200,
            "{svc} serves no GraphiQL in production"
        );
        let (status, _, body) = gql_at(&r.url("/graphql"), &token, CHILDREN_QUERY, &[]).await;
        assert_eq!(status, 200, "{svc}: {body}");
        assert!(body["errors"].is_null(), "{svc}: {body}");
        assert_eq!(
            body["data"]["children"]["totalCount"], 0,
            "{svc}: production never seeds demo data"
        );
        assert!(
            body["extensions"].get("sqlStatements").is_none(),
            "{svc}: no development extensions"
        );
        let hs = dev_token(&pg.url);
        let (status, _, _) = gql_at(&r.url("/graphql"), &hs, CHILDREN_QUERY, &[]).await;
        assert_eq!(status, 401, "{svc} refuses development (HS256) tokens");
        // Metrics only on CAREHUB_METRICS_BIND.
        let mport = r
            .metrics_port()
            .unwrap_or_else(|| panic!("{svc} logged no metrics port:\n{}", r.log()));
        let text = c
            .get(format!("http://127.0.0.1:{mport}/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            text.contains(&format!("carehub_info{{instance=\"{svc}\"")),
            "{text}"
        );
        assert_eq!(
            c.get(r.url("/metrics"))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16(),
            404
        );
    }
    // Both replicas' audit chains verify together (each writes its own chains).
    let (ok, out) = run_cli(&["audit", "verify"], &service_env("migrate"));
    assert!(ok && out.contains("audit OK"), "{out}");

    // docker stop: readiness goes false first while requests are still served, then exit 0.
    for (svc, r) in replicas.iter_mut() {
        r.sigterm();
        let deadline = Instant::now() + Duration::from_millis(1500);
        let mut saw_unready = false;
        while Instant::now() < deadline {
            if let Ok(resp) = c.get(r.url("/readyz")).send().await {
                if resp.status().as_u16() == 503 {
                    saw_unready = true;
                    let h = c.get(r.url("/healthz")).send().await.unwrap();
                    assert_eq!(h.status().as_u16(), 200, "{svc} still serves while unready");
                    break;
                }
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(saw_unready, "{svc}: /readyz did not turn 503 after SIGTERM");
        assert!(
            r.wait_exit(Duration::from_secs(30)),
            "{svc} exited with an error:\n{}",
            r.log()
        );
    }
}

// ------------------------------------------------------------------------------------------
// graceful shutdown and start-up time
// ------------------------------------------------------------------------------------------

/// Holds the database's write path so a request that writes its audit blocks mid-flight.
enum WriteLock {
    Sqlite(sea_orm::sqlx::SqliteConnection),
    Postgres(sea_orm::sqlx::PgConnection),
}

impl WriteLock {
    async fn take(backend: Backend, url: &str) -> Self {
        use sea_orm::sqlx::Connection;
        match backend {
            Backend::Sqlite => {
                let mut c = sea_orm::sqlx::SqliteConnection::connect(url).await.unwrap();
                sea_orm::sqlx::query("BEGIN IMMEDIATE")
                    .execute(&mut c)
                    .await
                    .unwrap();
                Self::Sqlite(c)
            }
            Backend::Postgres => {
                let mut c = sea_orm::sqlx::PgConnection::connect(url).await.unwrap();
                sea_orm::sqlx::query("BEGIN").execute(&mut c).await.unwrap();
                sea_orm::sqlx::query("LOCK TABLE audit_entries IN EXCLUSIVE MODE")
                    .execute(&mut c)
                    .await
                    .unwrap();
                Self::Postgres(c)
            }
        }
    }

    async fn release(self) {
        match self {
            Self::Sqlite(mut c) => {
                sea_orm::sqlx::query("ROLLBACK")
                    .execute(&mut c)
                    .await
                    .unwrap();
            }
            Self::Postgres(mut c) => {
                sea_orm::sqlx::query("ROLLBACK")
                    .execute(&mut c)
                    .await
                    .unwrap();
            }
        }
    }
}

backend_test!(sigterm_drains_in_flight_requests, |backend| {
    let db = TestDb::new(backend).await.unwrap();
    let base = env_of(&[
        ("DATABASE_URL", &db.url),
        ("CAREHUB_SWEEP_INTERVAL_SECS", "0"),
        ("CAREHUB_SEED_CHILDREN", "0"),
    ]);
    let (ok, out) = run_cli(&["seed", "--children", "20", "--seed", "11"], &base);
    assert!(ok, "{out}");
    let mut env = base.clone();
    env.insert("CAREHUB_BIND".into(), "127.0.0.1:0".into());
    env.insert("CAREHUB_SHUTDOWN_DELAY_MS".into(), "700".into());
    let mut server = Server::start(&["serve"], &env);
    wait_ready(&server.url("/readyz"), Duration::from_secs(30)).await;
    let token = dev_token(&db.url);

    // The request reads sensitive fields, so it answers only after its audit entries commit;
    // the lock keeps that commit waiting: the request is in flight.
    let lock = WriteLock::take(backend, &db.url).await;
    let url = server.url("/graphql");
    let in_flight = tokio::spawn(async move {
        gql_at(
            &url,
            &token,
            CHILDREN_QUERY,
            &[("X-Request-Id", "ops-in-flight")],
        )
        .await
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        !in_flight.is_finished(),
        "the request should be waiting for the audit commit"
    );

    server.sigterm();
    // Readiness goes false first while the listener still answers.
    let c = client();
    let deadline = Instant::now() + Duration::from_millis(600);
    loop {
        let r = c.get(server.url("/readyz")).send().await.unwrap();
        if r.status().as_u16() == 503 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "readiness did not turn false after SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tokio::time::sleep(Duration::from_millis(1200)).await;
    // Past the delay the server drains: no new requests are served, but it has not exited.
    let fresh = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()
        .unwrap();
    assert!(
        fresh.get(server.url("/healthz")).send().await.is_err(),
        "new requests are not served while draining"
    );
    assert!(
        matches!(server.child.try_wait(), Ok(None)),
        "the process waits for the in-flight request"
    );
    assert!(!in_flight.is_finished());

    lock.release().await;
    let (status, headers, body) = in_flight.await.unwrap();
    assert_eq!(status, 200, "{body}");
    assert!(
        body["errors"].is_null(),
        "the in-flight request completed normally: {body}"
    );
    assert_eq!(headers["x-request-id"], "ops-in-flight");
    assert!(
        body["data"]["children"]["edges"][0]["node"]["name"].is_string(),
        "{body}"
    );
    assert!(
        server.wait_exit(Duration::from_secs(30)),
        "clean exit after the drain:\n{}",
        server.log()
    );
    let log = server.log();
    assert!(log.contains("shutdown complete"), "{log}");
    // The audit of the drained request was flushed before exit.
    let conn = Database::connect(&db.url).await.unwrap();
    let n = audit_of("ops-in-flight").count(&conn).await.unwrap();
    assert!(n > 0, "the drained request's audit entries are committed");
});

/// Start-up on SQLite: from exec to the first 200 of /readyz, on a new file (migrations run)
/// and on an existing one (a restart). Printed for the operations report.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn startup_time_with_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("carehub.db").display()
    );
    let env = env_of(&[
        ("DATABASE_URL", &url),
        ("CAREHUB_BIND", "127.0.0.1:0"),
        ("CAREHUB_SEED_CHILDREN", "0"),
        ("CAREHUB_SWEEP_INTERVAL_SECS", "0"),
    ]);
    let mut times = Vec::new();
    for label in [
        "new database (migrations applied)",
        "restart (migrated database)",
    ] {
        let started = Instant::now();
        let mut server = Server::start(&["serve"], &env);
        wait_ready(&server.url("/readyz"), Duration::from_secs(30)).await;
        let elapsed = started.elapsed();
        eprintln!(
            "start-up with SQLite, {label}: {} ms (exec to first /readyz 200)",
            elapsed.as_millis()
        );
        times.push(elapsed);
        server.sigterm();
        assert!(server.wait_exit(Duration::from_secs(10)));
    }
    // The budget is 1 s for a release build; a debug build on a busy CI machine gets slack.
    let budget = if cfg!(debug_assertions) {
        Duration::from_secs(5)
    } else {
        Duration::from_secs(1)
    };
    assert!(
        times[1] < budget,
        "restart took {:?} (budget {budget:?})",
        times[1]
    );
}

// ------------------------------------------------------------------------------------------
// backups and audit pruning
// ------------------------------------------------------------------------------------------

async fn audited_reads(app: &TestApp, n: usize) {
    let t = app.token(
        "CIVIL_AFFAIRS",
        "civil_affairs.case_officer",
        None,
        "45",
        "ops-backup",
    );
    for _ in 0..n {
        let body = app.gql(&t, CHILDREN_QUERY, json!({})).await;
        assert!(body["errors"].is_null(), "{body}");
    }
}

fn has_tool(name: &str) -> bool {
    Command::new(name)
        .arg("--version")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

backend_test!(backup_restore_then_audit_verifies, |backend| {
    let app = TestApp::spawn(backend).await;
    carehub_api::seed::seed(&app.state, 20, 9).await.unwrap();
    audited_reads(&app, 5).await;
    let live_entries = carehub_entity::audit_entry::Entity::find()
        .count(app.conn())
        .await
        .unwrap();
    assert!(live_entries > 0);
    let dir = tempfile::tempdir().unwrap();
    let _restored_pg;
    let restored_url = match backend {
        Backend::Sqlite => {
            // Online backup while the server runs: VACUUM INTO writes a consistent copy.
            let path = dir.path().join("backup.db");
            app.conn()
                .execute_unprepared(&format!("VACUUM INTO '{}'", path.display()))
                .await
                .unwrap();
            // Restore = copy the file into place (here: next to it) while the server is stopped.
            let restored = dir.path().join("restored.db");
            std::fs::copy(&path, &restored).unwrap();
            format!("sqlite://{}?mode=rw", restored.display())
        }
        Backend::Postgres => {
            if !has_tool("pg_dump") || !has_tool("pg_restore") {
                assert!(!services_required(), "pg_dump/pg_restore are not on PATH");
                eprintln!("skipped: pg_dump/pg_restore are not on PATH");
                return;
            }
            let dump = dir.path().join("carehub.dump");
            let out = Command::new("pg_dump")
                .args(["--format=custom", "--no-owner", "--file"])
                .arg(&dump)
                .arg(format!("--dbname={}", app.db.url))
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "pg_dump: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            let target = PgDb::create("carehub_ops_restore").await;
            let out = Command::new("pg_restore")
                .args(["--no-owner", "--exit-on-error", "--single-transaction"])
                .arg(format!("--dbname={}", target.url))
                .arg(&dump)
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "pg_restore: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            let url = target.url.clone();
            _restored_pg = target;
            url
        }
    };
    let env = env_of(&[("DATABASE_URL", &restored_url)]);
    let (ok, out) = run_cli(&["audit", "verify"], &env);
    assert!(ok, "{out}");
    assert!(out.contains("audit OK"), "{out}");
    let restored = Database::connect(&restored_url).await.unwrap();
    let restored_entries = carehub_entity::audit_entry::Entity::find()
        .count(&restored)
        .await
        .unwrap();
    assert_eq!(
        restored_entries, live_entries,
        "every audit entry is in the backup"
    );
    assert_eq!(
        carehub_entity::child::Entity::find()
            .count(&restored)
            .await
            .unwrap(),
        carehub_entity::child::Entity::find()
            .count(app.conn())
            .await
            .unwrap()
    );
    let (ok, _) = run_cli(&["migrate", "status"], &env);
    assert!(ok);
    // Verification really walks the restored chains: tampering with one entry is named.
    restored.execute_unprepared("UPDATE audit_entries SET sub = 'someone-else' WHERE id = (SELECT MAX(id) FROM audit_entries)").await.unwrap();
    restored.close().await.ok();
    let (ok, out) = run_cli(&["audit", "verify"], &env);
    assert!(!ok && out.contains("BROKEN"), "{out}");
});

fn old_record(at: chrono::DateTime<chrono::Utc>, i: usize) -> AuditRecord {
    AuditRecord {
        at,
        sub: format!("ops-prune-{i}"),
        agency: "CIVIL_AFFAIRS".into(),
        role: "civil_affairs.case_officer".into(),
        org: None,
        client_id: None,
        purpose: "CARE".into(),
        lawful_basis: None,
        action: "READ".into(),
        operation: Some("OpsPrune".into()),
        entity: Some("Child".into()),
        record_ids: vec![uuid::Uuid::now_v7().to_string()],
        child_id: None,
        fields: vec!["name".into()],
        groups: vec!["G-ID-full".into()],
        decision: "ALLOWED".into(),
        request_id: Some(format!("ops-prune-{i}")),
        client_addr: None,
        policy_version: "test".into(),
        region_code: None,
        reason: None,
    }
}

backend_test!(prune_keeps_retention_and_verify_passes, |backend| {
    // One read-audit writer: the entries below form one chain, whose checkpoints are followed.
    let app = TestApp::spawn_with(backend, &[("CAREHUB_AUDIT_WRITERS", "1")]).await;
    let now = chrono::Utc::now();
    let days = |d: i64| now - chrono::Duration::days(d);
    // One chain, oldest first: 6 entries 400 days old, 4 entries 250 days old, 3 recent.
    for (age, n) in [(400, 6), (250, 4), (1, 3)] {
        for i in 0..n {
            app.state
                .audit
                .write(vec![old_record(days(age), i)])
                .await
                .unwrap();
        }
    }
    let count = || async {
        carehub_entity::audit_entry::Entity::find()
            .count(app.conn())
            .await
            .unwrap()
    };
    assert_eq!(count().await, 13);
    let env = env_of(&[("DATABASE_URL", &app.db.url)]);
    let date = |d: i64| days(d).format("%Y-%m-%d").to_string();

    // Inside the retention (183 days by default): refused, nothing deleted.
    let (ok, out) = run_cli(&["audit", "prune", "--before", &date(100)], &env);
    assert!(!ok && out.contains("inside the retention"), "{out}");
    assert_eq!(count().await, 13);
    // A dry run deletes nothing.
    let (ok, out) = run_cli(
        &["audit", "prune", "--before", &date(300), "--dry-run"],
        &env,
    );
    assert!(ok && out.contains("would prune 6 entries"), "{out}");
    assert_eq!(count().await, 13);

    let (ok, out) = run_cli(&["audit", "prune", "--before", &date(300)], &env);
    assert!(ok && out.contains("pruned 6 entries"), "{out}");
    assert_eq!(count().await, 7);
    let checkpoints = carehub_entity::audit_checkpoint::Entity::find()
        .all(app.conn())
        .await
        .unwrap();
    assert_eq!(checkpoints.len(), 1, "{checkpoints:?}");
    assert_eq!(checkpoints[0].seq, 6);
    let (ok, out) = run_cli(&["audit", "verify"], &env);
    assert!(ok && out.contains("audit OK"), "{out}");

    // The server keeps writing the same chain after the prune; a second prune moves the checkpoint.
    app.state
        .audit
        .write(vec![old_record(now, 99)])
        .await
        .unwrap();
    let (ok, out) = run_cli(&["audit", "prune", "--before", &date(200)], &env);
    assert!(ok && out.contains("pruned 4 entries"), "{out}");
    let checkpoints = carehub_entity::audit_checkpoint::Entity::find()
        .all(app.conn())
        .await
        .unwrap();
    assert_eq!(checkpoints[0].seq, 10);
    assert_eq!(count().await, 4);
    let (ok, out) = run_cli(&["audit", "verify"], &env);
    assert!(ok && out.contains("audit OK"), "{out}");
    // Nothing left to prune: a no-op.
    let (ok, out) = run_cli(&["audit", "prune", "--before", &date(200)], &env);
    assert!(ok && out.contains("pruned 0 entries"), "{out}");
});
