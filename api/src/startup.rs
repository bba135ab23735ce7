//! Building and running the server: load and check the policy against the schema (fail
//! closed), connect, migrate, seed an empty embedded database, start the audit writer, bind.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use std::rc::Rc;

use actix_codec::Framed;
use actix_http::body::MessageBody;
use actix_http::{h1, HttpService, KeepAlive, Request};
use actix_service::{boxed, map_config, IntoServiceFactory, ServiceFactoryExt};
use actix_web::dev::{
    fn_factory, fn_service, AppConfig, ServiceFactory, ServiceRequest, ServiceResponse,
};
use actix_web::{web, App, HttpServer};
use anyhow::Context as _;
use carehub_migration::{Migrator, MigratorTrait};
use carehub_policy::Policy;
use tokio::net::TcpStream;

use crate::auth::Authenticator;
use crate::authz::FieldIndex;
use crate::config::{Mode, Settings};
use crate::crypto::Vault;
use crate::graphql::{build_schema, schema_fields, AppSchema};
use crate::state::AppState;

/// Loads the configured policy (or the embedded default).
pub fn load_policy(settings: &Settings) -> anyhow::Result<Policy> {
    let policy = match &settings.policy_file {
        Some(path) => {
            Policy::load(std::path::Path::new(path)).map_err(|e| anyhow::anyhow!("{e}"))?
        }
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
        anyhow::anyhow!(
            "the remit policy does not match the schema ({} problems):\n  {}",
            problems.len(),
            problems.join("\n  ")
        )
    })
}

/// Reads the JWKS document configured (file or URL), if any.
async fn load_jwks(settings: &Settings) -> anyhow::Result<Option<String>> {
    if let Some(path) = &settings.jwt_jwks_file {
        return Ok(Some(
            std::fs::read_to_string(path).with_context(|| format!("reading JWKS file {path}"))?,
        ));
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
    let db = crate::db::connect(&settings)
        .await
        .with_context(|| "connecting to the database")?;
    if settings.auto_migrate {
        Migrator::up(&db.write, None)
            .await
            .context("applying migrations")?;
    } else {
        let pending = Migrator::get_pending_migrations(&db.write)
            .await
            .context("reading migration status")?;
        if !pending.is_empty() {
            anyhow::bail!(
                "{} migrations are pending; run `carehub migrate up` first",
                pending.len()
            );
        }
    }
    let jwks = load_jwks(&settings).await?;
    let auth = Authenticator::new(&settings, jwks.as_deref())?;
    let vault = Vault::from_settings(&settings)?;
    let instance_id = settings.instance_id.clone().unwrap_or_else(|| {
        let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "carehub".into());
        format!(
            "{host}-{}",
            &uuid::Uuid::now_v7().simple().to_string()[20..]
        )
    });
    // A configured instance id survives restarts, but a chain restarts at seq 1 with each
    // process: a per-process suffix keeps every chain new (and `audit verify` passing).
    let chain_prefix = match &settings.instance_id {
        Some(id) => format!("{id}.{}", &uuid::Uuid::now_v7().simple().to_string()[20..]),
        None => instance_id.clone(),
    };
    let audit = crate::audit::AuditWriter::start(
        db.write.clone(),
        &chain_prefix,
        Duration::from_millis(settings.audit_flush_ms),
        settings.audit_batch,
        settings.audit_writers,
        settings.db_pool_max.max(2) as usize,
    );
    let fields = FieldIndex::new(&policy);
    let events = crate::events::EventBus::start_with(
        db.write.clone(),
        crate::events::EventBusOptions {
            redis_url: settings.redis_url.clone(),
            redis_prefix: settings.redis_prefix.clone(),
            instance_id: instance_id.clone(),
        },
    )?;
    let lifecycle = crate::lifecycle::Lifecycle::new();
    Ok(Arc::new(AppState {
        settings,
        db,
        policy: Arc::new(policy),
        fields,
        auth,
        vault,
        instance_id,
        audit,
        events,
        lifecycle,
    }))
}

/// A built server, bound to its port.
pub struct Application {
    port: u16,
    server: actix_web::dev::Server,
    /// The separate `/metrics` listener (`CAREHUB_METRICS_BIND`) and its port.
    metrics: Option<(actix_web::dev::Server, u16)>,
    pub state: Arc<AppState>,
}

impl Application {
    /// Builds the state and binds `settings.bind` (port 0 picks a free port).
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let state = build_state(settings).await?;
        if state.settings.is_sqlite()
            && state.settings.seed_children > 0
            && state.settings.mode == Mode::Development
        {
            crate::seed::seed_if_empty(&state).await?;
        }
        if state.settings.sweep_interval_secs > 0 {
            crate::sweep::spawn_periodic(
                state.db.write.clone(),
                Duration::from_secs(state.settings.sweep_interval_secs),
            );
        }
        Self::serve(state)
    }

    /// Binds and starts serving an already built state.
    pub fn serve(state: Arc<AppState>) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(&state.settings.bind)
            .with_context(|| format!("binding {}", state.settings.bind))?;
        let port = listener.local_addr()?.port();
        let schema = build_schema(state.clone());
        let server = run(listener, state.clone(), schema)?;
        let metrics = metrics_server(&state)?;
        Ok(Self {
            port,
            server,
            metrics,
            state,
        })
    }

    /// The port bound.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The port of the separate `/metrics` listener, when configured.
    pub fn metrics_port(&self) -> Option<u16> {
        self.metrics.as_ref().map(|(_, p)| *p)
    }

    /// Serves until a shutdown signal (SIGTERM/SIGINT), then shuts down gracefully.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        crate::lifecycle::serve_until_signal(self.server, self.metrics.map(|(s, _)| s), self.state)
            .await
    }

    /// Splits into the server future and its handle (tests stop servers through the handle).
    pub fn into_parts(self) -> (actix_web::dev::Server, Arc<AppState>) {
        if let Some((m, _)) = self.metrics {
            tokio::spawn(m);
        }
        (self.server, self.state)
    }
}

fn run(
    listener: TcpListener,
    state: Arc<AppState>,
    schema: AppSchema,
) -> anyhow::Result<actix_web::dev::Server> {
    let body_limit = state.settings.max_body_bytes;
    let shutdown_timeout = state.settings.shutdown_timeout_secs;
    let metrics_here = state.settings.metrics_bind.is_none();
    crate::metrics::init();
    let partners = web::Data::new(crate::partners::Partners::new(&state.settings));
    let data = web::Data::new(state);
    let schema = web::Data::new(schema);
    let app = move || {
        App::new()
            .wrap(actix_web::middleware::from_fn(crate::guard::http::harden))
            .wrap(crate::telemetry::tracing_logger())
            .wrap(actix_web::middleware::from_fn(crate::telemetry::request_id))
            .app_data(data.clone())
            .app_data(schema.clone())
            .app_data(partners.clone())
            .app_data(web::PayloadConfig::new(body_limit))
            .route("/graphql", web::post().to(crate::http::graphql_post))
            .route("/graphql/ws", web::get().to(crate::ws::graphql_ws))
            .route(
                "/graphql",
                web::get()
                    .guard(actix_web::guard::fn_guard(crate::ws::is_upgrade))
                    .to(crate::ws::graphql_ws),
            )
            .route("/graphql", web::get().to(crate::http::graphql_get))
            .route("/healthz", web::get().to(crate::http::healthz))
            .route("/readyz", web::get().to(crate::http::readyz))
            .configure(crate::dashboard::configure)
            .route(
                "/oauth/token",
                web::post().to(crate::partners::clients::token_endpoint),
            )
            .configure(|c| {
                if metrics_here {
                    c.route("/metrics", web::get().to(crate::metrics::metrics_handler));
                }
            })
    };
    Ok(http_server(listener, app, shutdown_timeout)?)
}

/// What `HttpServer::new(app).shutdown_timeout(..).disable_signals().listen(listener)?.run()`
/// builds — the same actix-server, the same HTTP service with HttpServer's defaults (keep-alive
/// 5 s, request head within 5 s, disconnect 1 s, graceful-shutdown signal), the same
/// application config — plus an upgrade service: WebSocket upgrades are still answered by the
/// application, but an accepted one leaves actix-http's per-connection buffers behind
/// ([`crate::ws::upgrade`]). HttpServer has no hook for that.
fn http_server<F, T, B>(
    listener: TcpListener,
    app: F,
    shutdown_timeout: u64,
) -> std::io::Result<actix_web::dev::Server>
where
    F: Fn() -> App<T> + Send + Clone + 'static,
    T: ServiceFactory<
            ServiceRequest,
            Config = (),
            Response = ServiceResponse<B>,
            Error = actix_web::Error,
            InitError = (),
        > + 'static,
    B: MessageBody + 'static,
{
    let addr = listener.local_addr()?;
    let builder = actix_server::Server::build();
    let shutdown = builder.graceful_shutdown_signal();
    Ok(builder
        .shutdown_timeout(shutdown_timeout)
        // SIGTERM/SIGINT are handled by `lifecycle` (readiness first, then the drain).
        .disable_signals()
        .listen(format!("actix-web-service-{addr}"), listener, move || {
            let host = addr.to_string();
            // HttpServer's own AppConfig (not secure, the bound address as host name).
            let config = move || AppConfig::__priv_test_new(false, host.clone(), addr);
            let upgrade = {
                let app = app.clone();
                let config = config.clone();
                fn_factory(move || {
                    let init = boxed::factory(app().into_factory()).new_service(config());
                    async move {
                        let app = Rc::new(init.await?);
                        Ok::<_, ()>(fn_service(
                            move |(req, framed): (Request, Framed<TcpStream, h1::Codec>)| {
                                crate::ws::upgrade::serve(app.clone(), req, framed)
                            },
                        ))
                    }
                })
            };
            let shutdown = shutdown.clone();
            HttpService::build()
                .graceful_shutdown_signal(move || {
                    let signal = shutdown.clone();
                    async move { signal.notified().await }
                })
                .keep_alive(KeepAlive::default())
                .client_request_timeout(Duration::from_secs(5))
                .client_disconnect_timeout(Duration::from_secs(1))
                .h1_allow_half_closed(true)
                .local_addr(addr)
                .upgrade(upgrade)
                .finish(map_config(
                    // Boxed: the application's future would otherwise sit inline in every
                    // connection's dispatcher, idle keep-alive and WebSocket ones too.
                    boxed::factory(
                        app()
                            .into_factory()
                            .map_err(|err: actix_web::Error| err.error_response()),
                    ),
                    move |_| config(),
                ))
                .tcp()
        })?
        .run())
}

/// The separate `/metrics` listener, when `CAREHUB_METRICS_BIND` is set.
fn metrics_server(state: &Arc<AppState>) -> anyhow::Result<Option<(actix_web::dev::Server, u16)>> {
    let Some(bind) = &state.settings.metrics_bind else {
        return Ok(None);
    };
    crate::metrics::init();
    let listener =
        TcpListener::bind(bind).with_context(|| format!("binding the metrics listener {bind}"))?;
    let port = listener.local_addr()?.port();
    let data = web::Data::new(state.clone());
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .route("/metrics", web::get().to(crate::metrics::metrics_handler))
    })
    .workers(1)
    .shutdown_timeout(5)
    .disable_signals()
    .listen(listener)?
    .run();
    Ok(Some((server, port)))
}
