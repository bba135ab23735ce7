//! Helpers of the fault suite: the real `carehub` binary as a child process that can be
//! `kill -9`ed and restarted on the same database, a migrated database with the test fixtures,
//! a small GraphQL client, RSS sampling, and private PostgreSQL/Redis servers that a test may
//! stop and start (the shared ones on 5432/6379 are never touched).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use carehub_tests::{fixtures, test_settings, Backend, TestDb};
use sea_orm::Database;
use serde_json::{json, Value};

/// The built `carehub` binary next to the test executable (target/<profile>/carehub).
pub fn carehub_bin() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let bin = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>/deps/<test>")
        .join("carehub");
    assert!(
        bin.exists(),
        "{} is missing: run `cargo build -p carehub-api` before the fault suite",
        bin.display()
    );
    bin
}

/// A free TCP port on loopback (bound and released; the server binds it next).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// The environment of a test server on `db_url` listening on `port`, as `test_settings` does
/// for in-process servers (no demo seed, no sweep, no rate limits), plus `extra`.
pub fn server_env(db_url: &str, port: u16, extra: &[(&str, &str)]) -> BTreeMap<String, String> {
    let mut env = BTreeMap::new();
    for (k, v) in [
        ("DATABASE_URL", db_url.to_owned()),
        ("CAREHUB_BIND", format!("127.0.0.1:{port}")),
        ("CAREHUB_SEED_CHILDREN", "0".into()),
        ("CAREHUB_DB_POOL_MAX", "5".into()),
        ("CAREHUB_SWEEP_INTERVAL_SECS", "0".into()),
        ("CAREHUB_RATE_LIMIT_PER_MINUTE", "0".into()),
        ("CAREHUB_RATE_LIMIT_ROLES", "partner.*=0/0".into()),
        ("CAREHUB_LOG_FORMAT", "json".into()),
        ("RUST_LOG", "warn".into()),
    ] {
        env.insert(k.to_owned(), v);
    }
    for (k, v) in extra {
        env.insert((*k).to_owned(), (*v).to_owned());
    }
    env
}

/// A command on the binary with exactly `env` (nothing inherited but PATH).
pub fn carehub(args: &[&str], env: &BTreeMap<String, String>) -> Command {
    let mut cmd = Command::new(carehub_bin());
    cmd.args(args).env_clear();
    if let Ok(path) = std::env::var("PATH") {
        cmd.env("PATH", path);
    }
    cmd.envs(env);
    cmd
}

/// `carehub audit verify` on `db_url`: (passed, output).
pub fn audit_verify(db_url: &str) -> (bool, String) {
    let env = server_env(db_url, 0, &[]);
    let out = carehub(&["audit", "verify"], &env)
        .output()
        .expect("carehub audit verify runs");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// A `carehub serve` process. Its output goes to a log file (a pipe nobody drains could block
/// it); dropping the guard kills it.
/// Ends the whole fault run with a failure if it takes longer than `FAULTS_WATCHDOG_SECS`
/// (default 20 min): a hung test must fail CI with a message, not hold it until its time limit.
fn watchdog() {
    static STARTED: std::sync::OnceLock<()> = std::sync::OnceLock::new();
    STARTED.get_or_init(|| {
        let secs = std::env::var("FAULTS_WATCHDOG_SECS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(1200u64);
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_secs(secs));
            eprintln!("faults: watchdog: the fault suite ran over {secs} s (a test hung); failing");
            std::process::exit(101);
        });
    });
}

pub struct Server {
    child: Child,
    pub port: u16,
    log: PathBuf,
}

impl Server {
    /// Starts the server and waits (up to 60 s) until `/readyz` answers 200.
    pub async fn start(env: &BTreeMap<String, String>, log: &Path) -> Self {
        watchdog();
        let port: u16 = env["CAREHUB_BIND"]
            .rsplit_once(':')
            .and_then(|(_, p)| p.parse().ok())
            .expect("CAREHUB_BIND with a port");
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .expect("log file");
        let child = carehub(&["serve"], env)
            .stdout(file.try_clone().expect("log file"))
            .stderr(file)
            .stdin(Stdio::null())
            .spawn()
            .expect("carehub serve starts");
        let mut s = Self {
            child,
            port,
            log: log.to_owned(),
        };
        s.wait_ready(Duration::from_secs(60)).await;
        s
    }

    pub fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    async fn wait_ready(&mut self, limit: Duration) {
        let c = client(Duration::from_secs(2));
        let started = Instant::now();
        loop {
            if let Ok(r) = c.get(format!("{}/readyz", self.base())).send().await {
                if r.status().as_u16() == 200 {
                    return;
                }
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "carehub exited ({status}) before ready:\n{}",
                    self.log_tail()
                );
            }
            assert!(
                started.elapsed() < limit,
                "carehub not ready within {limit:?}:\n{}",
                self.log_tail()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// `kill -9`: no shutdown hook, no flush, no drain.
    pub fn kill9(&mut self) {
        let _ = self.child.kill(); // SIGKILL on Unix
        let _ = self.child.wait();
    }

    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }

    /// Resident set size of the process in KiB, from /proc/PID/status.
    pub fn rss_kib(&self) -> Option<u64> {
        rss_kib(self.pid())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            self.kill9();
        }
    }
}

/// VmRSS of a process in KiB.
pub fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

pub fn client(timeout: Duration) -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(timeout)
        .build()
        .expect("client")
}

/// The outcome of one GraphQL request against a server that may be dead.
#[derive(Debug)]
pub enum Outcome {
    /// HTTP answered; (status, body).
    Answered(u16, Value),
    /// No answer (connection refused or reset, timeout): the write may or may not be committed.
    NoAnswer(String),
}

/// POSTs a GraphQL request.
pub async fn gql(
    c: &reqwest::Client,
    base: &str,
    token: &str,
    query: &str,
    variables: Value,
) -> Outcome {
    let resp = c
        .post(format!("{base}/graphql"))
        .bearer_auth(token)
        .json(&json!({ "query": query, "variables": variables }))
        .send()
        .await;
    match resp {
        Err(e) => Outcome::NoAnswer(e.to_string()),
        Ok(r) => {
            let status = r.status().as_u16();
            match r.text().await {
                Ok(t) => {
                    Outcome::Answered(status, serde_json::from_str(&t).unwrap_or(Value::String(t)))
                }
                Err(e) => Outcome::NoAnswer(e.to_string()),
            }
        }
    }
}

/// The data of a successful mutation `field` (HTTP 200, no errors, data present): the server
/// acknowledged it.
pub fn acked<'a>(o: &'a Outcome, field: &str) -> Option<&'a Value> {
    match o {
        Outcome::Answered(200, b) if b["errors"].is_null() && b["data"][field].is_object() => {
            Some(&b["data"][field])
        }
        _ => None,
    }
}

/// Error codes of an answered request.
pub fn codes(o: &Outcome) -> Vec<String> {
    match o {
        Outcome::Answered(_, b) => carehub_tests::error_codes(b),
        Outcome::NoAnswer(_) => Vec::new(),
    }
}

/// Mints a development token (the binary runs with the same development secret).
pub fn token(
    db_url: &str,
    agency: &str,
    role: &str,
    org: Option<&str>,
    region: &str,
    sub: &str,
) -> String {
    let settings = test_settings(db_url, &[]);
    carehub_api::cli::mint_dev_token(
        &settings,
        agency,
        role,
        org,
        region,
        Some(sub),
        Duration::from_secs(4 * 3600),
    )
    .expect("token")
}

/// A fresh database of `backend`, migrated, with the fixture set loaded.
pub async fn prepared_db(backend: Backend) -> (TestDb, fixtures::Fixture) {
    let db = TestDb::new(backend).await.expect("test database");
    let fx = load_fixtures(&db.url).await;
    (db, fx)
}

/// Migrates `url` (a no-op on the migrated PostgreSQL template) and loads the fixtures.
pub async fn load_fixtures(url: &str) -> fixtures::Fixture {
    use carehub_migration::MigratorTrait;
    let conn = Database::connect(url).await.expect("connect");
    carehub_migration::Migrator::up(&conn, None)
        .await
        .expect("migrate");
    let vault = carehub_api::crypto::Vault::from_settings(&test_settings(url, &[])).expect("vault");
    let fx = fixtures::load(&conn, &vault).await.expect("fixtures");
    conn.close().await.ok();
    fx
}

/// A seedable xorshift generator (the seed is printed so a failing run can be replayed with
/// `FAULTS_SEED`).
pub struct Rng(u64);

impl Rng {
    pub fn from_env() -> Self {
        let seed = std::env::var("FAULTS_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_nanos() as u64)
                    .unwrap_or(42)
            });
        eprintln!("FAULTS_SEED={seed}");
        Self(seed | 1)
    }

    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// Uniform in `lo..hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo).max(1)
    }
}

/// A private PostgreSQL 15 cluster in a temporary directory on a free port, owned by the
/// `postgres` user when the tests run as root (initdb refuses root). Stopped and removed on drop.
pub struct PrivatePg {
    pub port: u16,
    dir: PathBuf,
    bin: PathBuf,
}

impl PrivatePg {
    const BIN: &'static str = "/usr/lib/postgresql/15/bin";

    /// None (with a reason on stderr) when PostgreSQL 15's binaries are not installed.
    pub fn init() -> Option<Self> {
        let bin = PathBuf::from(Self::BIN);
        if !bin.join("initdb").exists() {
            eprintln!("skipped: {}/initdb is not installed", Self::BIN);
            return None;
        }
        let port = free_port();
        let dir = std::env::temp_dir().join(format!(
            "carehub-faults-pg-{}",
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::create_dir_all(&dir).expect("pg dir");
        let pg = Self { port, dir, bin };
        pg.chown();
        let data = pg.dir.join("data");
        let ok = pg
            .cmd("initdb")
            .args([
                "-D",
                &data.display().to_string(),
                "-U",
                "postgres",
                "-A",
                "trust",
                "--no-sync",
            ])
            .stdout(Stdio::null())
            .status()
            .expect("initdb runs")
            .success();
        assert!(ok, "initdb failed");
        pg.start();
        Some(pg)
    }

    fn is_root() -> bool {
        std::env::var("USER").map(|u| u == "root").unwrap_or(false)
            || std::fs::metadata("/proc/self")
                .map(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0)
                .unwrap_or(false)
    }

    fn chown(&self) {
        if Self::is_root() {
            let _ = Command::new("chown")
                .args(["-R", "postgres:postgres", &self.dir.display().to_string()])
                .status();
        }
    }

    fn cmd(&self, tool: &str) -> Command {
        let path = self.bin.join(tool);
        if Self::is_root() {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(path);
            c
        } else {
            Command::new(path)
        }
    }

    /// The admin URL of database `db`.
    pub fn url(&self, db: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{db}", self.port)
    }

    pub fn start(&self) {
        let data = self.dir.join("data").display().to_string();
        let opts = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=on",
            self.port,
            self.dir.display()
        );
        let ok = self
            .cmd("pg_ctl")
            .args([
                "-D",
                &data,
                "-o",
                &opts,
                "-l",
                &self.dir.join("log").display().to_string(),
                "-w",
                "start",
            ])
            .stdout(Stdio::null())
            .status()
            .expect("pg_ctl runs")
            .success();
        assert!(
            ok,
            "pg_ctl start failed: {}",
            std::fs::read_to_string(self.dir.join("log")).unwrap_or_default()
        );
    }

    /// Stops the cluster: `immediate` is a crash of the database server (no checkpoint).
    pub fn stop(&self, mode: &str) {
        let data = self.dir.join("data").display().to_string();
        let _ = self
            .cmd("pg_ctl")
            .args(["-D", &data, "-m", mode, "-w", "stop"])
            .stdout(Stdio::null())
            .status();
    }
}

impl Drop for PrivatePg {
    fn drop(&mut self) {
        self.stop("immediate");
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A private redis-server on a free port (no persistence), killed on drop.
pub struct PrivateRedis {
    pub port: u16,
    child: Option<Child>,
}

impl PrivateRedis {
    /// None when redis-server is not installed.
    pub fn start() -> Option<Self> {
        if Command::new("redis-server")
            .arg("--version")
            .output()
            .is_err()
        {
            eprintln!("skipped: redis-server is not installed");
            return None;
        }
        let mut r = Self {
            port: free_port(),
            child: None,
        };
        r.restart();
        Some(r)
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    pub fn restart(&mut self) {
        let child = Command::new("redis-server")
            .args([
                "--port",
                &self.port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server starts");
        self.child = Some(child);
        for _ in 0..250 {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("redis-server did not start on port {}", self.port);
    }

    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        self.kill();
    }
}
