//! `carehub clients add|list|disable` and `carehub operations add`: the administrator's side
//! of partner integration. They talk to the configured database (and Redis, for revocation).

use std::process::ExitCode;

use anyhow::Context as _;
use clap::Subcommand;

use super::{clients, safelist, RedisHandle};
use crate::config::Settings;

/// `carehub clients …`.
#[derive(Subcommand)]
pub enum ClientsAction {
    /// Create a client and print its id and secret (shown once; stored as an argon2 hash).
    Add {
        /// A name people recognise, e.g. "Nanning No.1 Hospital HIS".
        #[arg(long)]
        name: String,
        /// A partner role of the policy: partner.hotline_app, partner.hospital_system, partner.school_system.
        #[arg(long)]
        role: String,
        /// The client's organization id (UUID).
        #[arg(long)]
        org: Option<uuid::Uuid>,
        /// Region code prefix the client serves, e.g. 4501.
        #[arg(long)]
        region: String,
        /// Safelist mode: log, enforce (default) or ids-only.
        #[arg(long, default_value = "enforce")]
        safelist_mode: String,
    },
    /// List clients.
    List,
    /// Disable a client: its tokens stop working at once.
    Disable { client_id: String },
}

/// `carehub operations …`.
#[derive(Subcommand)]
pub enum OperationsAction {
    /// Put a GraphQL document on a client's safelist; prints its SHA-256 id.
    Add {
        #[arg(long)]
        client: String,
        /// The .graphql file (its exact text is hashed; clients send that text or the id).
        file: std::path::PathBuf,
    },
}

/// Runs a `clients` command.
pub async fn clients(action: ClientsAction, settings: &Settings) -> anyhow::Result<ExitCode> {
    let db = crate::db::connect_url(&settings.database_url, settings).await?;
    match action {
        ClientsAction::Add {
            name,
            role,
            org,
            region,
            safelist_mode,
        } => {
            let policy = crate::startup::load_policy(settings)?;
            let mode = clients::parse_mode(&safelist_mode)?;
            let c = clients::add(
                &db,
                &policy,
                clients::ClientSpec {
                    name,
                    role,
                    org,
                    region,
                    mode,
                },
            )
            .await?;
            println!("client_id:     {}\nclient_secret: {}\n(the secret is shown only now; exchange both at POST /oauth/token)", c.client_id, c.client_secret);
        }
        ClientsAction::List => {
            println!(
                "{:<40} {:<24} {:<24} {:<8} {:<9} {:<10} name",
                "client_id", "role", "org", "region", "safelist", "status"
            );
            for c in clients::list(&db).await? {
                let status = if c.disabled_at.is_some() {
                    "disabled"
                } else {
                    "active"
                };
                let org = c
                    .org_id
                    .map(|o| o.to_string())
                    .unwrap_or_else(|| "-".into());
                println!(
                    "{:<40} {:<24} {:<24} {:<8} {:<9} {:<10} {}",
                    c.client_id,
                    c.role,
                    org,
                    c.region,
                    c.safelist_mode.as_str(),
                    status,
                    c.name
                );
            }
        }
        ClientsAction::Disable { client_id } => {
            let redis = RedisHandle::new(settings);
            let shared = clients::disable(&db, &redis, &client_id).await?;
            if shared || !redis.configured() {
                println!("disabled {client_id}; its tokens are refused from the next request on");
            } else {
                println!("disabled {client_id} in the database; Redis did not answer, so replicas see it from their next read of the client (at most seconds)");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Runs an `operations` command.
pub async fn operations(action: OperationsAction, settings: &Settings) -> anyhow::Result<ExitCode> {
    let db = crate::db::connect_url(&settings.database_url, settings).await?;
    match action {
        OperationsAction::Add { client, file } => {
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("reading {}", file.display()))?;
            let (sha, names) = safelist::add_operation(&db, &client, &text).await?;
            println!(
                "{sha}  {}",
                if names.is_empty() {
                    "(anonymous)".to_owned()
                } else {
                    names.join(", ")
                }
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
