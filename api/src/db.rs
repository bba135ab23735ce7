//! Database connections: the embedded SQLite file (WAL, foreign keys, busy timeout) or
//! PostgreSQL with an optional read replica. Selecting one is configuration only.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseBackend, DatabaseConnection, DbErr,
};

use crate::config::Settings;

/// The connections a server uses: `write` for mutations and audit, `read` for queries and
/// dashboards (the same pool unless a replica is configured).
#[derive(Clone, Debug)]
pub struct Db {
    pub write: DatabaseConnection,
    pub read: DatabaseConnection,
}

impl Db {
    /// The backend of the primary database.
    pub fn backend(&self) -> DatabaseBackend {
        self.write.get_database_backend()
    }
}

tokio::task_local! {
    /// Statements executed by the current request (set around each GraphQL execution).
    pub static REQUEST_STATEMENTS: Arc<AtomicU64>;
}

/// Statements executed by this process (for metrics).
pub static TOTAL_STATEMENTS: AtomicU64 = AtomicU64::new(0);

fn count_statement(_: &sea_orm::metric::Info<'_>) {
    TOTAL_STATEMENTS.fetch_add(1, Ordering::Relaxed);
    let _ = REQUEST_STATEMENTS.try_with(|c| c.fetch_add(1, Ordering::Relaxed));
}

/// Opens a pool for `url` with the settings' limits.
pub async fn connect_url(url: &str, settings: &Settings) -> Result<DatabaseConnection, DbErr> {
    let mut opts = ConnectOptions::new(url.to_owned());
    opts.max_connections(settings.db_pool_max.max(1))
        .min_connections(1)
        .acquire_timeout(settings.db_acquire_timeout)
        .connect_timeout(Duration::from_secs(5))
        .sqlx_logging(false);
    if url.starts_with("sqlite:") {
        opts.map_sqlx_sqlite_opts(|o| {
            use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
            o.journal_mode(SqliteJournalMode::Wal)
                // FULL: an acknowledged write survives power loss, not only a process crash.
                .synchronous(SqliteSynchronous::Full)
                .foreign_keys(true)
                .busy_timeout(Duration::from_secs(10))
                .create_if_missing(true)
        });
    } else {
        opts.statement_timeout(settings.db_statement_timeout)
            .set_application_name("carehub");
    }
    let mut conn = Database::connect(opts).await?;
    conn.set_metric_callback(count_statement);
    Ok(conn)
}

/// Opens the primary and (optional) read pools.
pub async fn connect(settings: &Settings) -> Result<Db, DbErr> {
    let write = connect_url(&settings.database_url, settings).await?;
    let read = match &settings.database_read_url {
        Some(url) => connect_url(url, settings).await?,
        None => write.clone(),
    };
    Ok(Db { write, read })
}

/// Whether the database answers a trivial query.
pub async fn ping(conn: &DatabaseConnection) -> bool {
    conn.execute_unprepared("SELECT 1").await.is_ok()
}

/// Starts a transaction that will write. On SQLite it is `BEGIN IMMEDIATE`: a deferred
/// transaction that reads first and writes later cannot wait for the lock (SQLite answers
/// `database is locked` at once instead of honouring the busy timeout), whereas an immediate
/// one queues behind the current writer. PostgreSQL ignores the mode.
pub async fn begin_write<C: sea_orm::TransactionTrait>(conn: &C) -> Result<C::Transaction, DbErr> {
    conn.begin_with_options(sea_orm::TransactionOptions {
        sqlite_transaction_mode: Some(sea_orm::SqliteTransactionMode::Immediate),
        ..Default::default()
    })
    .await
}
