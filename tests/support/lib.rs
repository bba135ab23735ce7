//! Black-box test harness: a fresh database per test (a temporary SQLite file, or a new
//! PostgreSQL database cloned from a migrated template), the real server on a random port,
//! tokens for any role, and a GraphQL client.

pub mod fixtures;

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use carehub_api::config::Settings;
use carehub_api::state::AppState;
use sea_orm::{ConnectionTrait, Database};
use serde_json::{json, Value};

/// Which database a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The PostgreSQL URL of the test server, if configured.
pub fn pg_url() -> Option<String> {
    std::env::var("CAREHUB_TEST_DATABASE_URL")
        .ok()
        .filter(|s| !s.is_empty())
}

/// The Redis URL of the test server, if configured.
pub fn redis_url() -> Option<String> {
    std::env::var("CAREHUB_TEST_REDIS_URL")
        .ok()
        .filter(|s| !s.is_empty())
}

/// Whether CI demands the real services (then a missing URL fails instead of skipping).
pub fn services_required() -> bool {
    std::env::var("CAREHUB_REQUIRE_SERVICES")
        .map(|v| v == "1")
        .unwrap_or(false)
}

/// Returns false (and says why) when a PostgreSQL test cannot run here; panics in CI.
pub fn postgres_available() -> bool {
    if pg_url().is_some() {
        return true;
    }
    assert!(
        !services_required(),
        "CAREHUB_REQUIRE_SERVICES=1 but CAREHUB_TEST_DATABASE_URL is not set"
    );
    eprintln!("skipped: CAREHUB_TEST_DATABASE_URL is not set");
    false
}

fn replace_db(url: &str, name: &str) -> String {
    match url.rfind('/') {
        Some(i) if url[..i].contains("://") && url[i + 1..].chars().all(|c| c != '@') => {
            let (base, rest) = url.split_at(i);
            let query = rest.find('?').map(|q| &rest[q..]).unwrap_or("");
            format!("{base}/{name}{query}")
        }
        _ => format!("{url}/{name}"),
    }
}

static TEMPLATE: tokio::sync::OnceCell<String> = tokio::sync::OnceCell::const_new();

/// A migrated template database, created once per test process (and reused across processes
/// while the migrations are unchanged).
async fn pg_template(admin: &str) -> anyhow::Result<String> {
    TEMPLATE
        .get_or_try_init(|| async {
            use carehub_migration::MigratorTrait;
            let names: Vec<String> = carehub_migration::Migrator::migrations()
                .iter()
                .map(|m| m.name().to_owned())
                .collect();
            let digest = {
                use std::hash::{Hash, Hasher};
                let mut h = std::collections::hash_map::DefaultHasher::new();
                names.hash(&mut h);
                format!("{:x}", h.finish())
            };
            let name = format!("carehub_tpl_{}", &digest[..12.min(digest.len())]);
            let conn = Database::connect(admin).await?;
            // Serialize template creation across concurrently starting test binaries.
            conn.execute_unprepared("SELECT pg_advisory_lock(424242)")
                .await?;
            let exists = conn
                .query_one_raw(sea_orm::Statement::from_string(
                    sea_orm::DatabaseBackend::Postgres,
                    format!("SELECT 1 FROM pg_database WHERE datname = '{name}'"),
                ))
                .await?
                .is_some();
            if !exists {
                let tmp = format!("{name}_build");
                conn.execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{tmp}\""))
                    .await?;
                conn.execute_unprepared(&format!("CREATE DATABASE \"{tmp}\""))
                    .await?;
                let t = Database::connect(replace_db(admin, &tmp)).await?;
                carehub_migration::Migrator::up(&t, None).await?;
                t.close().await?;
                conn.execute_unprepared(&format!("ALTER DATABASE \"{tmp}\" RENAME TO \"{name}\""))
                    .await?;
            }
            conn.execute_unprepared("SELECT pg_advisory_unlock(424242)")
                .await?;
            conn.close().await?;
            Ok(name)
        })
        .await
        .cloned()
}

/// A fresh database for one test; PostgreSQL databases are dropped when the test ends.
pub struct TestDb {
    pub url: String,
    pub backend: Backend,
    _dir: Option<tempfile::TempDir>,
    pg_name: Option<(String, String)>,
}

impl TestDb {
    pub async fn new(backend: Backend) -> anyhow::Result<Self> {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir()?;
                let url = format!(
                    "sqlite://{}?mode=rwc",
                    dir.path().join("carehub.db").display()
                );
                Ok(Self {
                    url,
                    backend,
                    _dir: Some(dir),
                    pg_name: None,
                })
            }
            Backend::Postgres => {
                let admin = pg_url()
                    .ok_or_else(|| anyhow::anyhow!("CAREHUB_TEST_DATABASE_URL is not set"))?;
                let template = pg_template(&admin).await?;
                let name = format!("carehub_t_{}", uuid::Uuid::new_v4().simple());
                let conn = Database::connect(&admin).await?;
                let mut tries = 0;
                loop {
                    match conn
                        .execute_unprepared(&format!(
                            "CREATE DATABASE \"{name}\" TEMPLATE \"{template}\""
                        ))
                        .await
                    {
                        Ok(_) => break,
                        // The template is briefly "in use" while another test copies it.
                        Err(_) if tries < 50 => {
                            tries += 1;
                            tokio::time::sleep(Duration::from_millis(100)).await;
                        }
                        Err(e) => return Err(e.into()),
                    }
                }
                conn.close().await?;
                Ok(Self {
                    url: replace_db(&admin, &name),
                    backend,
                    _dir: None,
                    pg_name: Some((admin, name)),
                })
            }
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some((admin, name)) = self.pg_name.take() {
            if std::thread::panicking() {
                eprintln!("keeping database {name} of a failed test");
                return;
            }
            // Drop from a separate thread: Drop cannot await.
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
}

/// Settings for a test server on `db`, with extra environment overrides.
pub fn test_settings(db_url: &str, extra: &[(&str, &str)]) -> Settings {
    let mut env: BTreeMap<String, String> = BTreeMap::new();
    env.insert("DATABASE_URL".into(), db_url.into());
    env.insert("CAREHUB_BIND".into(), "127.0.0.1:0".into());
    env.insert("CAREHUB_SEED_CHILDREN".into(), "0".into());
    env.insert("CAREHUB_DB_POOL_MAX".into(), "5".into());
    env.insert("CAREHUB_SWEEP_INTERVAL_SECS".into(), "0".into());
    // Rate limits are off unless a test turns them on: the authorization matrix fires thousands
    // of requests per role, and the rate-limit tests set their own buckets.
    env.insert("CAREHUB_RATE_LIMIT_PER_MINUTE".into(), "0".into());
    env.insert("CAREHUB_RATE_LIMIT_ROLES".into(), "partner.*=0/0".into());
    for (k, v) in extra {
        env.insert((*k).into(), (*v).into());
    }
    Settings::from_sources(&env).expect("test settings")
}

/// A running server and a client for it.
pub struct TestApp {
    pub address: String,
    pub state: Arc<AppState>,
    pub client: reqwest::Client,
    pub db: TestDb,
    handle: actix_web::dev::ServerHandle,
}

static TRACING: OnceLock<()> = OnceLock::new();

impl TestApp {
    /// Starts a server on a fresh database of `backend`.
    pub async fn spawn(backend: Backend) -> Self {
        Self::spawn_with(backend, &[]).await
    }

    /// Starts a server with extra settings.
    pub async fn spawn_with(backend: Backend, extra: &[(&str, &str)]) -> Self {
        TRACING.get_or_init(|| {
            if std::env::var("TEST_LOG").is_ok() {
                carehub_api::telemetry::init("pretty", "info");
            }
        });
        let db = TestDb::new(backend).await.expect("test database");
        let settings = test_settings(&db.url, extra);
        let app = carehub_api::startup::Application::build(settings)
            .await
            .expect("server builds");
        let port = app.port();
        let (server, state) = app.into_parts();
        let handle = server.handle();
        tokio::spawn(server);
        Self {
            address: format!("http://127.0.0.1:{port}"),
            state,
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(60))
                .build()
                .expect("client"),
            db,
            handle,
        }
    }

    /// The database connection of the server (for arranging and asserting).
    pub fn conn(&self) -> &sea_orm::DatabaseConnection {
        &self.state.db.write
    }

    /// Mints a token for a role.
    pub fn token(
        &self,
        agency: &str,
        role: &str,
        org: Option<&str>,
        region: &str,
        sub: &str,
    ) -> String {
        carehub_api::cli::mint_dev_token(
            &self.state.settings,
            agency,
            role,
            org,
            region,
            Some(sub),
            Duration::from_secs(3600),
        )
        .expect("token")
    }

    /// POSTs a GraphQL request and returns (HTTP status, JSON body).
    pub async fn post(
        &self,
        body: Value,
        token: Option<&str>,
        headers: &[(&str, &str)],
    ) -> (u16, Value) {
        let mut req = self
            .client
            .post(format!("{}/graphql", self.address))
            .json(&body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let resp = req.send().await.expect("request");
        let status = resp.status().as_u16();
        let text = resp.text().await.expect("body");
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    /// Runs a query with variables as `token`; returns the JSON body.
    pub async fn gql(&self, token: &str, query: &str, variables: Value) -> Value {
        self.post(
            json!({ "query": query, "variables": variables }),
            Some(token),
            &[],
        )
        .await
        .1
    }

    /// Stops the server.
    pub async fn stop(&self) {
        self.handle.stop(true).await;
    }

    /// Starts another server on this app's database — a second replica — with extra settings.
    pub async fn spawn_replica(&self, extra: &[(&str, &str)]) -> Replica {
        let settings = test_settings(&self.db.url, extra);
        let app = carehub_api::startup::Application::build(settings)
            .await
            .expect("replica builds");
        let port = app.port();
        let (server, state) = app.into_parts();
        let handle = server.handle();
        tokio::spawn(server);
        Replica {
            address: format!("http://127.0.0.1:{port}"),
            state,
            handle,
        }
    }
}

/// Another server on a [`TestApp`]'s database (it does not own the database).
pub struct Replica {
    pub address: String,
    pub state: Arc<AppState>,
    handle: actix_web::dev::ServerHandle,
}

impl Replica {
    /// Stops the server.
    pub async fn stop(&self) {
        self.handle.stop(true).await;
    }
}

/// Codes of the errors of a response.
pub fn error_codes(body: &Value) -> Vec<String> {
    body["errors"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e["extensions"]["code"].as_str().map(str::to_owned))
        .collect()
}

/// Defines a test that runs on SQLite, and one that runs on PostgreSQL when configured.
#[macro_export]
macro_rules! backend_test {
    ($name:ident, |$backend:ident| $body:block) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let $backend = $crate::Backend::Sqlite;
                $body
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                if !$crate::postgres_available() {
                    return;
                }
                let $backend = $crate::Backend::Postgres;
                $body
            }
        }
    };
}
