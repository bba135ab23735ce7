//! The command line: `carehub [serve]`, `migrate`, `seed`, `token`, `policy`, `schema`,
//! `audit`, `config-docs`. Every command reads the same configuration as the server.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use carehub_migration::{Migrator, MigratorTrait};
use clap::{Parser, Subcommand};

use crate::auth::{mint_hs256, Claims};
use crate::config::{Mode, Settings};

#[derive(Parser)]
#[command(
    name = "carehub",
    version,
    about = "carehub: the shared record of children in difficulty, one GraphQL API for five agencies"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (the default).
    Serve,
    /// Apply or inspect migrations.
    Migrate {
        #[command(subcommand)]
        action: Option<MigrateAction>,
    },
    /// Load deterministic synthetic demo data (Guangxi).
    Seed {
        /// Number of children.
        #[arg(long, default_value_t = 2000)]
        children: u32,
        /// Random seed: the same seed gives the same data.
        #[arg(long, default_value_t = 42)]
        seed: u64,
    },
    /// Mint a development token (HS256 with the configured secret; refused in production).
    Token(TokenArgs),
    /// Check, explain or print the remit policy.
    Policy {
        #[command(subcommand)]
        action: PolicyAction,
    },
    /// Print the GraphQL schema (SDL).
    Schema,
    /// Audit log tools.
    Audit {
        #[command(subcommand)]
        action: AuditAction,
    },
    /// Encryption keys of identifiers at rest.
    Keys {
        #[command(subcommand)]
        action: KeysAction,
    },
    /// Print the configuration reference (docs/configuration.md).
    ConfigDocs,
    /// Raise and clear warning flags now (the server also does this periodically).
    Sweep,
    /// Partner API clients (client-credentials): add, list, disable.
    Clients {
        #[command(subcommand)]
        action: crate::partners::cli::ClientsAction,
    },
    /// Persisted operations on a partner client's safelist.
    Operations {
        #[command(subcommand)]
        action: crate::partners::cli::OperationsAction,
    },
}

#[derive(Subcommand)]
enum MigrateAction {
    /// Apply pending migrations (default).
    Up,
    /// Roll back the last N migrations.
    Down {
        #[arg(short = 'n', long, default_value_t = 1)]
        steps: u32,
    },
    /// Show applied and pending migrations.
    Status,
}

#[derive(Subcommand)]
enum PolicyAction {
    /// Validate a policy file (default: the configured one) against the rules and the schema.
    Check { file: Option<String> },
    /// Explain the decision for a role and field, and the rule that made it.
    Explain {
        #[arg(long)]
        role: String,
        #[arg(long)]
        field: String,
        #[arg(long)]
        purpose: Option<String>,
    },
    /// Print the role × field-group matrix as Markdown (policy/REMITS.md).
    Matrix,
}

#[derive(Subcommand)]
enum AuditAction {
    /// Verify every hash chain; names the first broken link and exits non-zero.
    Verify,
    /// Delete entries older than DATE (never younger than CAREHUB_AUDIT_RETENTION_DAYS),
    /// checkpointing each chain's last pruned link so `audit verify` still passes.
    Prune {
        /// First day kept (YYYY-MM-DD, UTC): entries before it are deleted.
        #[arg(long)]
        before: chrono::NaiveDate,
        /// Report what would be deleted without deleting.
        #[arg(long)]
        dry_run: bool,
    },
}

#[derive(Subcommand)]
enum KeysAction {
    /// Re-encrypt every ID number under the current CAREHUB_DATA_KEY (keep the previous key in
    /// CAREHUB_OLD_DATA_KEYS until this has finished).
    Rotate,
}

#[derive(clap::Args)]
struct TokenArgs {
    #[arg(long)]
    agency: String,
    #[arg(long)]
    role: String,
    #[arg(long)]
    org: Option<String>,
    #[arg(long)]
    region: String,
    #[arg(long)]
    sub: Option<String>,
    /// Lifetime, e.g. 30m, 8h, 2d.
    #[arg(long, default_value = "8h")]
    ttl: String,
}

/// Parses `30s`, `15m`, `8h`, `2d`.
pub fn parse_ttl(s: &str) -> anyhow::Result<Duration> {
    let s = s.trim();
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = num
        .parse()
        .with_context(|| format!("ttl {s:?}: expected a number and a unit (s, m, h, d)"))?;
    let secs = match unit {
        "" | "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        "d" => n * 86_400,
        other => anyhow::bail!("ttl unit {other:?} is not one of s, m, h, d"),
    };
    Ok(Duration::from_secs(secs))
}

/// Mints a development token for the given claims.
pub fn mint_dev_token(
    settings: &Settings,
    agency: &str,
    role: &str,
    org: Option<&str>,
    region: &str,
    sub: Option<&str>,
    ttl: Duration,
) -> anyhow::Result<String> {
    if settings.mode == Mode::Production {
        anyhow::bail!("development tokens are refused in production; use your identity provider");
    }
    let secret = settings
        .jwt_secret
        .as_deref()
        .context("no CAREHUB_JWT_SECRET configured")?;
    let now = chrono::Utc::now().timestamp();
    let claims = Claims {
        sub: sub
            .map(str::to_owned)
            .unwrap_or_else(|| format!("dev-{role}")),
        agency: agency.to_owned(),
        role: role.to_owned(),
        org: org.map(str::to_owned),
        region: region.to_owned(),
        iss: settings.jwt_issuer.clone(),
        aud: settings.jwt_audience.clone(),
        exp: now + ttl.as_secs() as i64,
        nbf: Some(now - 5),
        iat: Some(now),
        client_id: None,
        jti: Some(uuid::Uuid::new_v4().to_string()),
    };
    mint_hs256(&claims, secret)
}

/// Entry point of the binary.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let settings = match Settings::from_env() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("carehub: {e}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("carehub: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(dispatch(cli.command.unwrap_or(Command::Serve), settings)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("carehub: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn dispatch(command: Command, settings: Settings) -> anyhow::Result<ExitCode> {
    match command {
        Command::Serve => serve(settings).await,
        Command::Migrate { action } => {
            let db = crate::db::connect_url(&settings.database_url, &settings).await?;
            match action.unwrap_or(MigrateAction::Up) {
                MigrateAction::Up => {
                    Migrator::up(&db, None).await?;
                    println!("migrations applied");
                }
                MigrateAction::Down { steps } => {
                    Migrator::down(&db, Some(steps)).await?;
                    println!("rolled back {steps} migration(s)");
                }
                MigrateAction::Status => {
                    for m in Migrator::get_applied_migrations(&db).await? {
                        println!("applied  {}", m.name());
                    }
                    for m in Migrator::get_pending_migrations(&db).await? {
                        println!("pending  {}", m.name());
                    }
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Seed { children, seed } => {
            crate::telemetry::init(&settings.log_format, "warn");
            let state = crate::startup::build_state(settings).await?;
            let started = std::time::Instant::now();
            let report = crate::seed::seed(&state, children, seed).await?;
            println!("{report} in {:.1} s", started.elapsed().as_secs_f64());
            Ok(ExitCode::SUCCESS)
        }
        Command::Token(a) => {
            let token = mint_dev_token(
                &settings,
                &a.agency,
                &a.role,
                a.org.as_deref(),
                &a.region,
                a.sub.as_deref(),
                parse_ttl(&a.ttl)?,
            )?;
            println!("{token}");
            Ok(ExitCode::SUCCESS)
        }
        Command::Policy { action } => policy(action, &settings),
        Command::Schema => {
            print!("{}", crate::graphql::sdl());
            Ok(ExitCode::SUCCESS)
        }
        Command::Audit {
            action: AuditAction::Verify,
        } => {
            let db = crate::db::connect_url(&settings.database_url, &settings).await?;
            let report = crate::audit::verify::verify(&db).await?;
            println!("{report}");
            Ok(if report.ok() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Command::Audit {
            action: AuditAction::Prune { before, dry_run },
        } => {
            let db = crate::db::connect_url(&settings.database_url, &settings).await?;
            let report = crate::audit::prune::prune(
                &db,
                before,
                settings.audit_retention_days,
                chrono::Utc::now(),
                dry_run,
            )
            .await?;
            println!("{report}");
            Ok(ExitCode::SUCCESS)
        }
        Command::Sweep => {
            let db = crate::db::connect_url(&settings.database_url, &settings).await?;
            let report = crate::sweep::sweep(&db, chrono::Utc::now()).await?;
            println!("{report}");
            Ok(ExitCode::SUCCESS)
        }
        Command::Keys {
            action: KeysAction::Rotate,
        } => {
            let db = crate::db::connect_url(&settings.database_url, &settings).await?;
            let vault = crate::crypto::Vault::from_settings(&settings)?;
            let report = crate::crypto::rotate(&db, &vault).await?;
            println!("{report}");
            Ok(ExitCode::SUCCESS)
        }
        Command::ConfigDocs => {
            print!("{}", Settings::reference_markdown());
            Ok(ExitCode::SUCCESS)
        }
        Command::Clients { action } => crate::partners::cli::clients(action, &settings).await,
        Command::Operations { action } => crate::partners::cli::operations(action, &settings).await,
    }
}

fn policy(action: PolicyAction, settings: &Settings) -> anyhow::Result<ExitCode> {
    match action {
        PolicyAction::Check { file } => {
            let loaded = match file.or_else(|| settings.policy_file.clone()) {
                Some(f) => carehub_policy::Policy::load(std::path::Path::new(&f))
                    .map_err(|e| anyhow::anyhow!("{e}")),
                None => Ok(carehub_policy::Policy::default_policy()),
            };
            match loaded.and_then(|p| crate::startup::check_policy(&p).map(|_| p)) {
                Ok(p) => {
                    println!("policy OK (version {})", p.version());
                    Ok(ExitCode::SUCCESS)
                }
                Err(e) => {
                    eprintln!("{e:#}");
                    Ok(ExitCode::FAILURE)
                }
            }
        }
        PolicyAction::Explain {
            role,
            field,
            purpose,
        } => {
            let p = crate::startup::load_policy(settings)?;
            let purpose = purpose
                .map(|s| {
                    s.parse::<carehub_policy::Purpose>()
                        .map_err(|_| anyhow::anyhow!("unknown purpose {s:?}"))
                })
                .transpose()?;
            match p.explain(&role, &field, purpose) {
                Ok(text) => {
                    println!("{text}");
                    Ok(ExitCode::SUCCESS)
                }
                Err(e) => {
                    eprintln!("{e}");
                    Ok(ExitCode::FAILURE)
                }
            }
        }
        PolicyAction::Matrix => {
            let p = crate::startup::load_policy(settings)?;
            print!("{}", p.matrix_markdown());
            Ok(ExitCode::SUCCESS)
        }
    }
}

async fn serve(settings: Settings) -> anyhow::Result<ExitCode> {
    let started = std::time::Instant::now();
    let _telemetry = crate::telemetry::init_server(&settings, "info,sqlx=warn,sea_orm=warn");
    let app = crate::startup::Application::build(settings).await?;
    let port = app.port();
    tracing::info!(
        port,
        metrics_port = app.metrics_port(),
        startup_ms = started.elapsed().as_millis() as u64,
        "carehub is ready"
    );
    print_banner(&app, port).await;
    app.run_until_stopped().await?;
    Ok(ExitCode::SUCCESS)
}

async fn print_banner(app: &crate::startup::Application, port: u16) {
    let s = &app.state.settings;
    let host = s
        .bind
        .rsplit_once(':')
        .map(|(h, _)| h)
        .unwrap_or("127.0.0.1");
    println!(
        "\ncarehub is listening on http://{host}:{port}  (database: {}, mode: {:?})",
        redact(&s.database_url),
        s.mode
    );
    if s.mode == Mode::Production {
        return;
    }
    let region = crate::seed::busiest_county(&app.state)
        .await
        .unwrap_or_else(|| "450102".into());
    let token = mint_dev_token(
        s,
        "CIVIL_AFFAIRS",
        "civil_affairs.case_officer",
        None,
        &region,
        Some("demo-case-officer"),
        Duration::from_secs(8 * 3600),
    )
    .unwrap_or_default();
    println!(
        r#"
GraphiQL:   http://{host}:{port}/graphql
Get a token (a county civil-affairs case officer for county {region}, valid 8 h):
  cargo run -- token --agency CIVIL_AFFAIRS --role civil_affairs.case_officer --region {region}
Here is one already minted:
  {token}
Try it:
  curl -s http://{host}:{port}/graphql -H 'Content-Type: application/json' \
    -H "Authorization: Bearer {token}" \
    -d '{{"query":"{{ children(first: 10) {{ totalCount edges {{ node {{ name currentRiskLevel screenings(first: 3) {{ riskLevel }} }} }} }} }}"}}'
Other roles: see `cargo run -- policy matrix` (e.g. --role education.head_teacher --org <school id>).
"#
    );
}

fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => format!("{}://***@{}", &url[..s], &url[at + 1..]),
        _ => url.to_owned(),
    }
}
