//! Configuration: one table of settings, each with its environment variable, default and
//! meaning. Values come from the optional TOML file named by `CAREHUB_CONFIG`, then from the
//! environment. `docs/configuration.md` is generated from the same table, so it cannot drift.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;

/// Development defaults that the server refuses to use when `CAREHUB_ENV=production`.
pub mod dev_defaults {
    /// DEVELOPMENT ONLY: HS256 secret for locally minted tokens.
    pub const JWT_SECRET: &str = "carehub-development-jwt-secret-not-for-production";
    /// DEVELOPMENT ONLY: AES-256 data key (hex) for identifiers at rest.
    pub const DATA_KEY: &str = "6361726568756220646576656c6f706d656e74206b6579206e6f742070726f64";
    /// DEVELOPMENT ONLY: HMAC key (hex) of the identifier blind index.
    pub const INDEX_KEY: &str = "6361726568756220646576656c6f706d656e7420696e646578206b6579210a0a";
}

/// Deployment mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Development,
    Production,
}

/// Every setting of the server.
#[derive(Debug, Clone)]
pub struct Settings {
    pub mode: Mode,
    pub bind: String,
    pub metrics_bind: Option<String>,
    pub database_url: String,
    pub database_read_url: Option<String>,
    pub db_pool_max: u32,
    pub db_acquire_timeout: Duration,
    pub db_statement_timeout: Duration,
    pub redis_url: Option<String>,
    pub jwt_secret: Option<String>,
    pub jwt_jwks_file: Option<String>,
    pub jwt_jwks_url: Option<String>,
    pub jwt_issuer: String,
    pub jwt_audience: String,
    pub jwt_leeway_secs: u64,
    pub token_ttl: Duration,
    pub data_key: String,
    pub data_key_id: String,
    pub old_data_keys: Option<String>,
    pub index_key: String,
    pub policy_file: Option<String>,
    pub policy_allow_all: bool,
    pub audit_enabled: bool,
    pub graphiql: bool,
    pub introspection: bool,
    pub seed_children: u32,
    pub auto_migrate: bool,
    pub seed: u64,
    pub log_format: String,
    pub instance_id: Option<String>,
    pub max_depth: usize,
    pub max_complexity: usize,
    pub max_aliases: usize,
    pub max_root_fields: usize,
    pub max_batch: usize,
    pub max_directives: usize,
    pub max_query_bytes: usize,
    pub max_variables_bytes: usize,
    pub max_body_bytes: usize,
    pub max_page_size: u64,
    pub break_glass_hours: u64,
    pub audit_retention_days: u64,
    pub audit_flush_ms: u64,
    pub audit_batch: usize,
    pub audit_writers: usize,
    pub sweep_interval_secs: u64,
    pub cors_origins: Vec<String>,
    pub rate_limit_per_minute: u32,
    pub rate_limit_burst: u32,
    pub rate_limit_roles: Vec<crate::partners::ratelimit::RoleLimit>,
    pub redis_prefix: String,
    pub token_signing_key_file: Option<String>,
    pub token_signing_kid: Option<String>,
    pub otlp_endpoint: Option<String>,
    pub shutdown_delay: Duration,
    pub shutdown_timeout_secs: u64,
}

/// One documented setting: name, environment variable, default as text, and meaning.
pub struct SettingDoc {
    pub key: &'static str,
    pub env: &'static str,
    pub default: &'static str,
    pub meaning: &'static str,
}

/// The table of settings. `apply` below reads exactly these keys.
pub const SETTINGS: &[SettingDoc] = &[
    SettingDoc { key: "env", env: "CAREHUB_ENV", default: "development", meaning: "`development` or `production`. Production refuses development secrets, GraphiQL and auto-seeding" },
    SettingDoc { key: "bind", env: "CAREHUB_BIND", default: "127.0.0.1:8080", meaning: "Address of the HTTP/WebSocket listener" },
    SettingDoc { key: "metrics_bind", env: "CAREHUB_METRICS_BIND", default: "", meaning: "Optional separate address for `/metrics`; empty serves it on the main listener" },
    SettingDoc { key: "database_url", env: "DATABASE_URL", default: "sqlite://carehub.db?mode=rwc", meaning: "`sqlite://…` (embedded default) or `postgres://…`" },
    SettingDoc { key: "database_read_url", env: "DATABASE_READ_URL", default: "", meaning: "Optional PostgreSQL read replica for queries and dashboards" },
    SettingDoc { key: "db_pool_max", env: "CAREHUB_DB_POOL_MAX", default: "10", meaning: "Maximum database connections per pool" },
    SettingDoc { key: "db_acquire_timeout_ms", env: "CAREHUB_DB_ACQUIRE_TIMEOUT_MS", default: "3000", meaning: "How long a request waits for a free connection before `SERVICE_UNAVAILABLE`" },
    SettingDoc { key: "db_statement_timeout_ms", env: "CAREHUB_DB_STATEMENT_TIMEOUT_MS", default: "10000", meaning: "PostgreSQL statement timeout" },
    SettingDoc { key: "redis_url", env: "REDIS_URL", default: "", meaning: "Optional Redis: event fan-out across replicas, shared rate limits, token revocation" },
    SettingDoc { key: "jwt_secret", env: "CAREHUB_JWT_SECRET", default: "(development default)", meaning: "HS256 secret for development tokens; refused in production unless set explicitly" },
    SettingDoc { key: "jwt_jwks_file", env: "CAREHUB_JWT_JWKS_FILE", default: "", meaning: "JWKS file with RS256/ES256 public keys (production)" },
    SettingDoc { key: "jwt_jwks_url", env: "CAREHUB_JWT_JWKS_URL", default: "", meaning: "JWKS URL with RS256/ES256 public keys, fetched at start" },
    SettingDoc { key: "jwt_issuer", env: "CAREHUB_JWT_ISSUER", default: "carehub-dev", meaning: "Required `iss` claim" },
    SettingDoc { key: "jwt_audience", env: "CAREHUB_JWT_AUDIENCE", default: "carehub", meaning: "Required `aud` claim" },
    SettingDoc { key: "jwt_leeway_secs", env: "CAREHUB_JWT_LEEWAY_SECS", default: "30", meaning: "Clock skew tolerated on `exp`/`nbf`" },
    SettingDoc { key: "token_ttl_secs", env: "CAREHUB_TOKEN_TTL_SECS", default: "900", meaning: "Lifetime of tokens issued to partner clients by `/oauth/token`" },
    SettingDoc { key: "data_key", env: "CAREHUB_DATA_KEY", default: "(development default)", meaning: "64 hex chars: AES-256-GCM key for ID numbers at rest" },
    SettingDoc { key: "data_key_id", env: "CAREHUB_DATA_KEY_ID", default: "k1", meaning: "Identifier stored with each ciphertext, for rotation" },
    SettingDoc { key: "old_data_keys", env: "CAREHUB_OLD_DATA_KEYS", default: "", meaning: "Retired keys still readable during rotation: `id:hex,id:hex`" },
    SettingDoc { key: "index_key", env: "CAREHUB_INDEX_KEY", default: "(development default)", meaning: "64 hex chars: HMAC-SHA-256 key of the ID-number blind index" },
    SettingDoc { key: "policy_file", env: "CAREHUB_POLICY", default: "(embedded policy/remits.toml)", meaning: "Remit policy file to load instead of the embedded default" },
    SettingDoc { key: "policy_mode", env: "CAREHUB_POLICY_MODE", default: "enforce", meaning: "`enforce`, or `allow-all` (every role reads and writes everything: benchmarks only; refused in production)" },
    SettingDoc { key: "audit", env: "CAREHUB_AUDIT", default: "on", meaning: "`on`, or `off` (no read audit: benchmarks only; refused in production)" },
    SettingDoc { key: "graphiql", env: "CAREHUB_GRAPHIQL", default: "true in development", meaning: "Serve GraphiQL on GET /graphql" },
    SettingDoc { key: "introspection", env: "CAREHUB_INTROSPECTION", default: "true in development", meaning: "Allow schema introspection" },
    SettingDoc { key: "seed_children", env: "CAREHUB_SEED_CHILDREN", default: "2000", meaning: "Children of demo data seeded on the first start of an empty embedded database (0: none; never in production)" },
    SettingDoc { key: "auto_migrate", env: "CAREHUB_AUTO_MIGRATE", default: "true in development", meaning: "Apply pending migrations at start; in production run `carehub migrate up` instead (the server refuses to start with pending migrations)" },
    SettingDoc { key: "seed", env: "CAREHUB_SEED", default: "42", meaning: "Random seed of the demo data" },
    SettingDoc { key: "log_format", env: "CAREHUB_LOG_FORMAT", default: "pretty", meaning: "`pretty` or `json`; filter with `RUST_LOG`" },
    SettingDoc { key: "instance_id", env: "CAREHUB_INSTANCE_ID", default: "(random per process)", meaning: "Name of this replica in audit chains and logs" },
    SettingDoc { key: "max_depth", env: "CAREHUB_MAX_DEPTH", default: "12", meaning: "Maximum query depth" },
    SettingDoc { key: "max_complexity", env: "CAREHUB_MAX_COMPLEXITY", default: "20000", meaning: "Maximum query complexity (list fields weighted by `first`)" },
    SettingDoc { key: "max_aliases", env: "CAREHUB_MAX_ALIASES", default: "30", meaning: "Maximum aliases in one operation" },
    SettingDoc { key: "max_root_fields", env: "CAREHUB_MAX_ROOT_FIELDS", default: "20", meaning: "Maximum root fields in one operation" },
    SettingDoc { key: "max_batch", env: "CAREHUB_MAX_BATCH", default: "10", meaning: "Maximum operations in one batched (array) request" },
    SettingDoc { key: "max_directives", env: "CAREHUB_MAX_DIRECTIVES", default: "20", meaning: "Maximum directives in one operation" },
    SettingDoc { key: "max_query_bytes", env: "CAREHUB_MAX_QUERY_BYTES", default: "32768", meaning: "Maximum query text size" },
    SettingDoc { key: "max_variables_bytes", env: "CAREHUB_MAX_VARIABLES_BYTES", default: "65536", meaning: "Maximum variables size" },
    SettingDoc { key: "max_body_bytes", env: "CAREHUB_MAX_BODY_BYTES", default: "262144", meaning: "Maximum HTTP request body (413 beyond)" },
    SettingDoc { key: "max_page_size", env: "CAREHUB_MAX_PAGE_SIZE", default: "500", meaning: "Largest `first` accepted by any list" },
    SettingDoc { key: "break_glass_hours", env: "CAREHUB_BREAK_GLASS_HOURS", default: "3", meaning: "Lifetime of an emergency-access grant" },
    SettingDoc { key: "audit_retention_days", env: "CAREHUB_AUDIT_RETENTION_DAYS", default: "183", meaning: "Audit entries younger than this are never pruned (at least 6 months)" },
    SettingDoc { key: "audit_flush_ms", env: "CAREHUB_AUDIT_FLUSH_MS", default: "0", meaning: "Extra wait of a read-audit writer for more entries before it commits (0: commit what is queued at once; batches still grow while the other writers commit)" },
    SettingDoc { key: "audit_writers", env: "CAREHUB_AUDIT_WRITERS", default: "2", meaning: "Read-audit writer tasks (each its own hash chain): a request waits for a free one, not behind a commit already under way" },
    SettingDoc { key: "audit_batch", env: "CAREHUB_AUDIT_BATCH", default: "256", meaning: "Maximum audit entries per group commit" },
    SettingDoc { key: "sweep_interval_secs", env: "CAREHUB_SWEEP_INTERVAL_SECS", default: "300", meaning: "Interval of the in-process flag sweep (0: off)" },
    SettingDoc { key: "cors_origins", env: "CAREHUB_CORS_ORIGINS", default: "", meaning: "Comma-separated origins allowed by CORS" },
    SettingDoc { key: "rate_limit_per_minute", env: "CAREHUB_RATE_LIMIT_PER_MINUTE", default: "600", meaning: "Sustained requests per minute per user or client" },
    SettingDoc { key: "rate_limit_burst", env: "CAREHUB_RATE_LIMIT_BURST", default: "600", meaning: "Token-bucket burst per user or client (a front end opening a dashboard fires dozens of requests at once)" },
    SettingDoc { key: "rate_limit_roles", env: "CAREHUB_RATE_LIMIT_ROLES", default: "partner.*=600/120", meaning: "Per-role limits `role=per_minute/burst`, comma-separated; a pattern ending in `*` matches a prefix; `per_minute` 0 means unlimited" },
    SettingDoc { key: "redis_prefix", env: "CAREHUB_REDIS_PREFIX", default: "carehub:", meaning: "Prefix of every Redis key and channel (rate-limit buckets, revocation list, `{prefix}events` fan-out)" },
    SettingDoc { key: "token_signing_key_file", env: "CAREHUB_TOKEN_SIGNING_KEY_FILE", default: "", meaning: "PEM private key (RSA or EC P-256) signing partner tokens from `/oauth/token`; its public key must be in the JWKS. Empty: HS256 with `jwt_secret`" },
    SettingDoc { key: "token_signing_kid", env: "CAREHUB_TOKEN_SIGNING_KID", default: "", meaning: "`kid` header of partner tokens signed with `token_signing_key_file`" },
    SettingDoc { key: "otlp_endpoint", env: "CAREHUB_OTLP_ENDPOINT", default: "", meaning: "OTLP/HTTP collector endpoint for traces (e.g. `http://otel-collector:4318/v1/traces`); needs a binary built with `--features otel`; empty disables export" },
    SettingDoc { key: "shutdown_delay_ms", env: "CAREHUB_SHUTDOWN_DELAY_MS", default: "2000 in production, 0 in development", meaning: "On SIGTERM, how long `/readyz` answers 503 while requests are still served, so load balancers stop routing here before the listener closes" },
    SettingDoc { key: "shutdown_timeout_secs", env: "CAREHUB_SHUTDOWN_TIMEOUT_SECS", default: "20", meaning: "On SIGTERM, how long in-flight requests may take to finish before connections are closed" },
];

/// A configuration problem, reported at startup.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read configuration file {path}: {source}")]
    File {
        path: String,
        source: std::io::Error,
    },
    #[error("configuration file {path} is not valid TOML: {message}")]
    Toml { path: String, message: String },
    #[error("setting {key} ({env}) = {value:?} is invalid: {rule}")]
    Invalid {
        key: &'static str,
        env: &'static str,
        value: String,
        rule: String,
    },
    #[error("unknown setting {0:?} in the configuration file")]
    Unknown(String),
    #[error("refusing to start in production: {0}")]
    Production(String),
}

#[derive(Deserialize)]
struct FileValues(BTreeMap<String, toml::Value>);

impl Settings {
    /// Loads from `CAREHUB_CONFIG` (if set) and the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        let env: BTreeMap<String, String> = std::env::vars().collect();
        Self::from_sources(&env)
    }

    /// Loads from an explicit environment map (tests use this to stay hermetic).
    pub fn from_sources(env: &BTreeMap<String, String>) -> Result<Self, ConfigError> {
        let mut values: BTreeMap<&'static str, String> = BTreeMap::new();
        if let Some(path) = env.get("CAREHUB_CONFIG").filter(|p| !p.is_empty()) {
            let text = std::fs::read_to_string(path).map_err(|source| ConfigError::File {
                path: path.clone(),
                source,
            })?;
            let file: FileValues = toml::from_str(&text).map_err(|e| ConfigError::Toml {
                path: path.clone(),
                message: e.to_string(),
            })?;
            for (k, v) in file.0 {
                let doc = SETTINGS
                    .iter()
                    .find(|d| d.key == k)
                    .ok_or_else(|| ConfigError::Unknown(k.clone()))?;
                let text = match v {
                    toml::Value::String(s) => s,
                    other => other.to_string(),
                };
                values.insert(doc.key, text);
            }
        }
        for doc in SETTINGS {
            if let Some(v) = env.get(doc.env) {
                values.insert(doc.key, v.clone());
            }
        }
        Self::build(&values)
    }

    fn build(v: &BTreeMap<&'static str, String>) -> Result<Self, ConfigError> {
        let get = |k: &str| {
            v.get(k)
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty())
        };
        let mode = match get("env").as_deref() {
            None | Some("development") | Some("dev") => Mode::Development,
            Some("production") | Some("prod") => Mode::Production,
            Some(other) => {
                return Err(invalid(
                    "env",
                    other,
                    "must be `development` or `production`",
                ))
            }
        };
        let dev = mode == Mode::Development;
        let s = Settings {
            mode,
            bind: get("bind").unwrap_or_else(|| "127.0.0.1:8080".into()),
            metrics_bind: get("metrics_bind"),
            database_url: get("database_url")
                .unwrap_or_else(|| "sqlite://carehub.db?mode=rwc".into()),
            database_read_url: get("database_read_url"),
            db_pool_max: num(v, "db_pool_max", 10)?,
            db_acquire_timeout: Duration::from_millis(num(v, "db_acquire_timeout_ms", 3000)?),
            db_statement_timeout: Duration::from_millis(num(v, "db_statement_timeout_ms", 10_000)?),
            redis_url: get("redis_url"),
            jwt_secret: get("jwt_secret")
                .or_else(|| dev.then(|| dev_defaults::JWT_SECRET.to_owned())),
            jwt_jwks_file: get("jwt_jwks_file"),
            jwt_jwks_url: get("jwt_jwks_url"),
            jwt_issuer: get("jwt_issuer").unwrap_or_else(|| "carehub-dev".into()),
            jwt_audience: get("jwt_audience").unwrap_or_else(|| "carehub".into()),
            jwt_leeway_secs: num(v, "jwt_leeway_secs", 30)?,
            token_ttl: Duration::from_secs(num(v, "token_ttl_secs", 900)?),
            data_key: get("data_key").unwrap_or_else(|| dev_defaults::DATA_KEY.into()),
            data_key_id: get("data_key_id").unwrap_or_else(|| "k1".into()),
            old_data_keys: get("old_data_keys"),
            index_key: get("index_key").unwrap_or_else(|| dev_defaults::INDEX_KEY.into()),
            policy_file: get("policy_file"),
            policy_allow_all: match get("policy_mode").as_deref() {
                None | Some("enforce") => false,
                Some("allow-all") => true,
                Some(other) => {
                    return Err(invalid(
                        "policy_mode",
                        other,
                        "must be `enforce` or `allow-all`",
                    ))
                }
            },
            audit_enabled: match get("audit").as_deref() {
                None | Some("on") => true,
                Some("off") => false,
                Some(other) => return Err(invalid("audit", other, "must be `on` or `off`")),
            },
            graphiql: boolean(v, "graphiql", dev)?,
            introspection: boolean(v, "introspection", dev)?,
            seed_children: num(v, "seed_children", 2000)?,
            auto_migrate: boolean(v, "auto_migrate", dev)?,
            seed: num(v, "seed", 42)?,
            log_format: get("log_format").unwrap_or_else(|| "pretty".into()),
            instance_id: get("instance_id"),
            max_depth: num(v, "max_depth", 12)?,
            max_complexity: num(v, "max_complexity", 20_000)?,
            max_aliases: num(v, "max_aliases", 30)?,
            max_root_fields: num(v, "max_root_fields", 20)?,
            max_batch: num(v, "max_batch", 10)?,
            max_directives: num(v, "max_directives", 20)?,
            max_query_bytes: num(v, "max_query_bytes", 32_768)?,
            max_variables_bytes: num(v, "max_variables_bytes", 65_536)?,
            max_body_bytes: num(v, "max_body_bytes", 262_144)?,
            max_page_size: num(v, "max_page_size", 500)?,
            break_glass_hours: num(v, "break_glass_hours", 3)?,
            audit_retention_days: num(v, "audit_retention_days", 183)?,
            audit_flush_ms: num(v, "audit_flush_ms", 0)?,
            audit_batch: num(v, "audit_batch", 256)?,
            audit_writers: num(v, "audit_writers", 2)?,
            sweep_interval_secs: num(v, "sweep_interval_secs", 300)?,
            cors_origins: get("cors_origins")
                .map(|s| {
                    s.split(',')
                        .map(|o| o.trim().to_owned())
                        .filter(|o| !o.is_empty())
                        .collect()
                })
                .unwrap_or_default(),
            rate_limit_per_minute: num(v, "rate_limit_per_minute", 600)?,
            rate_limit_burst: num(v, "rate_limit_burst", 600)?,
            rate_limit_roles: {
                let raw = v
                    .get("rate_limit_roles")
                    .cloned()
                    .unwrap_or_else(|| "partner.*=600/120".into());
                crate::partners::ratelimit::parse_role_limits(&raw)
                    .map_err(|rule| invalid("rate_limit_roles", &raw, &rule))?
            },
            redis_prefix: v
                .get("redis_prefix")
                .cloned()
                .unwrap_or_else(|| "carehub:".into()),
            token_signing_key_file: get("token_signing_key_file"),
            token_signing_kid: get("token_signing_kid"),
            otlp_endpoint: get("otlp_endpoint"),
            shutdown_delay: Duration::from_millis(num(
                v,
                "shutdown_delay_ms",
                if dev { 0 } else { 2000 },
            )?),
            shutdown_timeout_secs: num(v, "shutdown_timeout_secs", 20)?,
        };
        if !matches!(s.log_format.as_str(), "pretty" | "json") {
            return Err(invalid(
                "log_format",
                &s.log_format,
                "must be `pretty` or `json`",
            ));
        }
        if s.audit_retention_days < 183 {
            return Err(invalid(
                "audit_retention_days",
                &s.audit_retention_days.to_string(),
                "must be at least 183 (6 months, Cybersecurity Law art. 21)",
            ));
        }
        for (key, val) in [("data_key", &s.data_key), ("index_key", &s.index_key)] {
            if hex::decode(val).map(|b| b.len() != 32).unwrap_or(true) {
                return Err(invalid(
                    key,
                    "(redacted)",
                    "must be 64 hexadecimal characters (32 bytes)",
                ));
            }
        }
        s.check_production()?;
        Ok(s)
    }

    /// Production refuses the development defaults and developer conveniences.
    fn check_production(&self) -> Result<(), ConfigError> {
        if self.mode != Mode::Production {
            return Ok(());
        }
        let mut problems = Vec::new();
        if self.jwt_secret.as_deref() == Some(dev_defaults::JWT_SECRET) {
            problems.push("CAREHUB_JWT_SECRET is the development default");
        }
        if self.jwt_secret.is_none() && self.jwt_jwks_file.is_none() && self.jwt_jwks_url.is_none()
        {
            problems.push("no token verification key: set CAREHUB_JWT_JWKS_FILE, CAREHUB_JWT_JWKS_URL or CAREHUB_JWT_SECRET");
        }
        if self.data_key == dev_defaults::DATA_KEY {
            problems.push("CAREHUB_DATA_KEY is the development default");
        }
        if self.index_key == dev_defaults::INDEX_KEY {
            problems.push("CAREHUB_INDEX_KEY is the development default");
        }
        if self.graphiql {
            problems.push("GraphiQL is enabled (CAREHUB_GRAPHIQL)");
        }
        if self.policy_allow_all {
            problems.push("CAREHUB_POLICY_MODE=allow-all disables the remit policy");
        }
        if !self.audit_enabled {
            problems.push("CAREHUB_AUDIT=off disables the read audit");
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(ConfigError::Production(problems.join("; ")))
        }
    }

    /// Whether the database is the embedded SQLite file.
    pub fn is_sqlite(&self) -> bool {
        self.database_url.starts_with("sqlite:")
    }

    /// Markdown reference of every setting (`docs/configuration.md`).
    pub fn reference_markdown() -> String {
        let mut out = String::from(
            "# Configuration reference\n\nGenerated by `carehub config-docs` from `api/src/config.rs`; CI checks it is current.\n\
             Settings come from the TOML file named by `CAREHUB_CONFIG` (keys as in the first column), then\n\
             from environment variables, which win.\n\n| key | environment variable | default | meaning |\n| --- | --- | --- | --- |\n",
        );
        for d in SETTINGS {
            out.push_str(&format!(
                "| `{}` | `{}` | {} | {} |\n",
                d.key,
                d.env,
                if d.default.is_empty() {
                    "(unset)".into()
                } else {
                    format!("`{}`", d.default)
                },
                d.meaning
            ));
        }
        out
    }
}

fn invalid(key: &'static str, value: &str, rule: &str) -> ConfigError {
    let env = SETTINGS
        .iter()
        .find(|d| d.key == key)
        .map(|d| d.env)
        .unwrap_or("");
    ConfigError::Invalid {
        key,
        env,
        value: value.to_owned(),
        rule: rule.to_owned(),
    }
}

fn num<T: std::str::FromStr>(
    v: &BTreeMap<&'static str, String>,
    key: &'static str,
    default: T,
) -> Result<T, ConfigError> {
    match v.get(key).map(|s| s.trim()).filter(|s| !s.is_empty()) {
        None => Ok(default),
        Some(s) => s
            .parse()
            .map_err(|_| invalid(key, s, "must be a non-negative whole number")),
    }
}

fn boolean(
    v: &BTreeMap<&'static str, String>,
    key: &'static str,
    default: bool,
) -> Result<bool, ConfigError> {
    match v
        .get(key)
        .map(|s| s.trim().to_ascii_lowercase())
        .filter(|s| !s.is_empty())
        .as_deref()
    {
        None => Ok(default),
        Some("true" | "1" | "yes" | "on") => Ok(true),
        Some("false" | "0" | "no" | "off") => Ok(false),
        Some(other) => Err(invalid(key, other, "must be true or false")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn development_defaults_load() {
        let s = Settings::from_sources(&env(&[])).unwrap();
        assert_eq!(s.mode, Mode::Development);
        assert!(s.is_sqlite());
        assert!(s.graphiql);
    }

    #[test]
    fn production_refuses_development_secrets_and_graphiql() {
        let err = Settings::from_sources(&env(&[
            ("CAREHUB_ENV", "production"),
            ("CAREHUB_GRAPHIQL", "true"),
        ]))
        .unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("no token verification key"), "{msg}");
        assert!(
            msg.contains("CAREHUB_DATA_KEY is the development default"),
            "{msg}"
        );
        assert!(msg.contains("GraphiQL"), "{msg}");
    }

    #[test]
    fn production_with_real_keys_starts() {
        let k = "11".repeat(32);
        let s = Settings::from_sources(&env(&[
            ("CAREHUB_ENV", "production"),
            ("CAREHUB_JWT_SECRET", "a-real-secret-from-the-vault"),
            ("CAREHUB_DATA_KEY", &k),
            ("CAREHUB_INDEX_KEY", &"22".repeat(32)),
        ]))
        .unwrap();
        assert!(!s.graphiql && !s.introspection);
    }

    #[test]
    fn invalid_values_name_the_setting() {
        let err = Settings::from_sources(&env(&[("CAREHUB_DB_POOL_MAX", "lots")])).unwrap_err();
        assert!(err.to_string().contains("CAREHUB_DB_POOL_MAX"), "{err}");
        let err =
            Settings::from_sources(&env(&[("CAREHUB_AUDIT_RETENTION_DAYS", "30")])).unwrap_err();
        assert!(err.to_string().contains("at least 183"), "{err}");
    }
}
