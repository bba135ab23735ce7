//! Building and running the server: load and check the policy against the schema (fail
//! closed), connect, migrate, seed an empty embedded database, start the audit writer, bind.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_web::{App, HttpServer, web};
use anyhow::Context as _;
use carehub_migration::{Migrator, MigratorTrait};
use carehub_policy::Policy;

use crate::auth::Authenticator;
use crate::authz::FieldIndex;
use crate::config::{Mode, Settings};
use crate::crypto::Vault;
use crate::graphql::{AppSchema, build_schema, schema_fields};
use crate::state::AppState;

/// Loads the configured policy (or the embedded default).
pub fn load_policy(settings: &Settings) -> anyhow::Result<Policy> {
    let policy = match &settings.policy_file {
        Some(path) => Policy::load(std::path::Path::new(path)).map_err(|e| anyhow::anyhow!("{e}"))?,
        None => Policy::default_policy(),
    };
    if settings.policy_allow_all {
        tracing::warn!("CAREHUB_POLICY_MODE=allow-all: every role reads and writes everything (benchmark mode)");
        return Ok(Policy::allow_all(&policy));
    }
    Ok(policy)
}

/// Refuses a policy that leaves a schema field uncovered or names a field that does not exist.
pub fn check_policy(policy: &Policy) -> anyhow::Result<()> {
    policy.check_schema(&schema_fields()).map_err(|problems| {
        anyhow::anyhow!("the remit policy does not match the schema ({} problems):\n  {}", problems.len(), problems.join("\n  "))
    })
}

/// Reads the JWKS document configured (file or URL), if any.
async fn load_jwks(settings: &Settings) -> anyhow::Result<Option<String>> {
    if let Some(path) = &settings.jwt_jwks_file {
        return Ok(Some(std::fs::read_to_string(path).with_context(|| format!("reading JWKS file {path}"))?));
    }
    if let Some(url) = &settings.jwt_jwks_url {
        let body = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()?
            .get(url)
            .send()
            .await
            .with_context(|| format!("fetching JWKS from {url}"))?
            .error_for_status()?
            .text()
            .await?;
        return Ok(Some(body));
    }
    Ok(None)
}

/// Builds the shared state: policy, database (migrated), keys, audit writer.
pub async fn build_state(settings: Settings) -> anyhow::Result<Arc<AppState>> {
    let policy = load_policy(&settings)?;
    check_policy(&policy)?;
    let db = crate::db::connect(&settings).await.with_context(|| "connecting to the database")?;
    if settings.auto_migrate {
        Migrator::up(&db.write, None).await.context("applying migrations")?;
    } else {
        let pending = Migrator::get_pending_migrations(&db.write).await.context("reading migration status")?;
        if !pending.is_empty() {
            anyhow::bail!("{} migrations are pending; run `carehub migrate up` first", pending.len());
        }
    }
    let jwks = load_jwks(&settings).await?;
    let auth = Authenticator::new(&settings, jwks.as_deref())?;
    let vault = Vault::from_settings(&settings)?;
    let instance_id = settings.instance_id.clone().unwrap_or_else(|| {
        let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "carehub".into());
        format!("{host}-{}", &uuid::Uuid::now_v7().simple().to_string()[20..])
    });
    let audit = crate::audit::AuditWriter::start(
        db.write.clone(),
        &instance_id,
        Duration::from_millis(settings.audit_flush_ms),
        settings.audit_batch,
        settings.db_pool_max.max(2) as usize,
    );
    let fields = FieldIndex::new(&policy);
    let events = crate::events::EventBus::start(db.write.clone());
    Ok(Arc::new(AppState { settings, db, policy: Arc::new(policy), fields, auth, vault, instance_id, audit, events }))
}

/// A built server, bound to its port.
pub struct Application {
    port: u16,
    server: actix_web::dev::Server,
    pub state: Arc<AppState>,
}

impl Application {
    /// Builds the state and binds `settings.bind` (port 0 picks a free port).
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let state = build_state(settings).await?;
        if state.settings.is_sqlite() && state.settings.seed_children > 0 && state.settings.mode == Mode::Development {
            crate::seed::seed_if_empty(&state).await?;
        }
        if state.settings.sweep_interval_secs > 0 {
            crate::sweep::spawn_periodic(state.db.write.clone(), Duration::from_secs(state.settings.sweep_interval_secs));
        }
        Self::serve(state)
    }

    /// Binds and starts serving an already built state.
    pub fn serve(state: Arc<AppState>) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(&state.settings.bind).with_context(|| format!("binding {}", state.settings.bind))?;
        let port = listener.local_addr()?.port();
        let schema = build_schema(state.clone());
        let server = run(listener, state.clone(), schema)?;
        Ok(Self { port, server, state })
    }

    /// The port bound.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Serves until a shutdown signal (SIGTERM/SIGINT) or the server stops.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
    }

    /// Splits into the server future and its handle (tests stop servers through the handle).
    pub fn into_parts(self) -> (actix_web::dev::Server, Arc<AppState>) {
        (self.server, self.state)
    }
}

fn run(listener: TcpListener, state: Arc<AppState>, schema: AppSchema) -> anyhow::Result<actix_web::dev::Server> {
    let body_limit = state.settings.max_body_bytes;
    let data = web::Data::new(state);
    let schema = web::Data::new(schema);
    let server = HttpServer::new(move || {
        App::new()
            .wrap(tracing_actix_web::TracingLogger::default())
            .app_data(data.clone())
            .app_data(schema.clone())
            .app_data(web::PayloadConfig::new(body_limit))
            .route("/graphql", web::post().to(crate::http::graphql_post))
            .route("/graphql", web::get().to(crate::http::graphql_get))
            .route("/healthz", web::get().to(crate::http::healthz))
            .route("/readyz", web::get().to(crate::http::readyz))
    })
    .shutdown_timeout(20)
    .listen(listener)?
    .run();
    Ok(server)
}
