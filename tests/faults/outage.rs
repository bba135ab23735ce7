//! Dependency outages. A private PostgreSQL cluster is crashed (`pg_ctl stop -m immediate`)
//! under a write load and started again: requests fail fast with `SERVICE_UNAVAILABLE` and a
//! message saying so, `/readyz` turns 503, the same carehub process recovers on its own, and no
//! acknowledged write is lost. A private Redis is killed and restarted: queries and mutations
//! carry on, rate limiting falls back to in-process buckets, and carehub reconnects.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use carehub_entity as ent;
use sea_orm::{ConnectionTrait, Database, EntityTrait};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::support::*;

const RECORD_VISIT: &str =
    "mutation($i: RecordVisitInput!) { recordVisit(input: $i) { id version } }";
const CHILDREN: &str =
    "{ children(first: 5) { totalCount edges { node { id name currentRiskLevel } } } }";

async fn readyz(c: &reqwest::Client, base: &str) -> (u16, Value) {
    match c.get(format!("{base}/readyz")).send().await {
        Ok(r) => {
            let s = r.status().as_u16();
            (s, r.json().await.unwrap_or(Value::Null))
        }
        Err(e) => (0, Value::String(e.to_string())),
    }
}

/// Polls `/readyz` until its status is `want`; returns how long it took.
async fn wait_readyz(c: &reqwest::Client, base: &str, want: u16, limit: Duration) -> Duration {
    let started = Instant::now();
    loop {
        let (s, body) = readyz(c, base).await;
        if s == want {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < limit,
            "/readyz still {s} {body} after {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

#[derive(Default)]
struct Tally {
    acked: Vec<Uuid>,
    /// (phase, outcome) → count
    outcomes: BTreeMap<(String, String), u64>,
    /// Slowest answered failure while the database was down.
    slowest_failure: Duration,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_outage_fails_fast_and_recovers_without_restart() {
    let Some(pg) = PrivatePg::init() else {
        assert!(
            !carehub_tests::services_required(),
            "PostgreSQL 15 binaries are required"
        );
        return;
    };
    let admin = Database::connect(pg.url("postgres"))
        .await
        .expect("private pg");
    admin
        .execute_unprepared("CREATE DATABASE carehub_outage")
        .await
        .expect("create database");
    admin.close().await.ok();
    let url = pg.url("carehub_outage");
    let fx = load_fixtures(&url).await;
    let teacher = token(
        &url,
        "EDUCATION",
        "education.head_teacher",
        Some(&fx.school_a.to_string()),
        "450102",
        "teacher-a1",
    );
    let officer = token(
        &url,
        "CIVIL_AFFAIRS",
        "civil_affairs.case_officer",
        None,
        "450102",
        "officer-1",
    );
    let port = free_port();
    let acquire_ms = 1000u64;
    let env = server_env(
        &url,
        port,
        &[
            ("CAREHUB_DB_ACQUIRE_TIMEOUT_MS", "1000"),
            ("CAREHUB_DB_STATEMENT_TIMEOUT_MS", "5000"),
        ],
    );
    let logdir = tempfile::tempdir().expect("log dir");
    let server = Server::start(&env, &logdir.path().join("carehub.log")).await;
    let base = server.base();
    let c = client(Duration::from_secs(30));

    let phase = Arc::new(Mutex::new("before".to_owned()));
    let tally = Arc::new(Mutex::new(Tally::default()));
    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..3)
        .map(|w| {
            let (base, teacher, phase, tally, stop) =
                (base.clone(), teacher.clone(), phase.clone(), tally.clone(), stop.clone());
            let child = fx.c1.to_string();
            tokio::spawn(async move {
                let c = client(Duration::from_secs(30));
                let mut n = 0;
                while !stop.load(Ordering::Relaxed) {
                    n += 1;
                    let t = Instant::now();
                    let o = gql(&c, &base, &teacher, RECORD_VISIT, json!({"i": {"childId": child, "kind": "TALK", "doneAt": "2026-10-20T09:00:00Z", "observations": format!("outage writer {w} #{n}")}})).await;
                    let took = t.elapsed();
                    let p = phase.lock().expect("phase").clone();
                    {
                    let mut tl = tally.lock().expect("tally");
                    let key = if let Some(v) = acked(&o, "recordVisit") {
                        tl.acked.push(v["id"].as_str().and_then(|s| s.parse().ok()).expect("id"));
                        "ok".to_owned()
                    } else {
                        if p == "down" {
                            tl.slowest_failure = tl.slowest_failure.max(took);
                        }
                        match &o {
                            Outcome::Answered(s, _) => format!("{s} {:?}", codes(&o)),
                            Outcome::NoAnswer(e) => format!("no answer: {e}"),
                        }
                    };
                    *tl.outcomes.entry((p, key)).or_default() += 1;
                    }
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            })
        })
        .collect();

    // Load runs against a healthy database first.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(readyz(&c, &base).await.0, 200);

    // The database crashes.
    *phase.lock().expect("phase") = "stopping".into();
    pg.stop("immediate");
    let t_unready = wait_readyz(&c, &base, 503, Duration::from_secs(15)).await;
    *phase.lock().expect("phase") = "down".into();
    let (_, ready_body) = readyz(&c, &base).await;
    assert_eq!(ready_body["database"], "unreachable", "{ready_body}");
    // A query and a mutation now: answered, quickly, with SERVICE_UNAVAILABLE and a message.
    for (tok, q, vars) in [
        (&officer, CHILDREN, Value::Null),
        (
            &teacher,
            RECORD_VISIT,
            json!({"i": {"childId": fx.c1.to_string(), "kind": "TALK", "doneAt": "2026-10-20T09:00:00Z"}}),
        ),
    ] {
        let t = Instant::now();
        let o = gql(&c, &base, tok, q, vars).await;
        let took = t.elapsed();
        let Outcome::Answered(_, body) = &o else {
            panic!("no answer while the database is down: {o:?}")
        };
        assert_eq!(codes(&o), vec!["SERVICE_UNAVAILABLE"], "{body}");
        let msg = body["errors"][0]["message"].as_str().unwrap_or_default();
        assert!(msg.contains("database is unavailable"), "{msg}");
        // Bounded: the acquire timeout plus the connect attempt, with slack for a loaded CI box.
        assert!(
            took < Duration::from_millis(acquire_ms) + Duration::from_secs(10),
            "took {took:?} to refuse"
        );
        eprintln!("db down: {q:.30}… refused in {took:?}: {msg}");
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;

    // The database returns: the same process recovers, no restart.
    *phase.lock().expect("phase") = "restarting".into();
    let t0 = Instant::now();
    pg.start();
    let pg_up = t0.elapsed();
    let t_ready = wait_readyz(&c, &base, 200, Duration::from_secs(30)).await;
    *phase.lock().expect("phase") = "after".into();
    let t1 = Instant::now();
    let first_write = loop {
        let o = gql(&c, &base, &teacher, RECORD_VISIT, json!({"i": {"childId": fx.c1.to_string(), "kind": "TALK", "doneAt": "2026-10-20T09:00:00Z", "observations": "after recovery"}})).await;
        if let Some(v) = acked(&o, "recordVisit") {
            tally
                .lock()
                .expect("tally")
                .acked
                .push(v["id"].as_str().and_then(|s| s.parse().ok()).expect("id"));
            break t1.elapsed();
        }
        assert!(
            t1.elapsed() < Duration::from_secs(30),
            "no successful write after recovery: {o:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    tokio::time::sleep(Duration::from_millis(1000)).await;
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        w.await.expect("writer");
    }
    drop(server);

    let tl = std::mem::take(&mut *tally.lock().expect("tally"));
    eprintln!("outcomes by phase: {:#?}", tl.outcomes);
    eprintln!(
        "postgres outage: /readyz 503 within {t_unready:?} of the crash; slowest refusal while down {:?}; pg_ctl start took {pg_up:?}; /readyz 200 {t_ready:?} after that; first write {first_write:?} after ready; {} acknowledged writes",
        tl.slowest_failure,
        tl.acked.len()
    );
    // While the database was down every answer was SERVICE_UNAVAILABLE (no INTERNAL, no hang).
    for ((p, k), n) in &tl.outcomes {
        if p == "down" {
            assert!(
                k == "200 [\"SERVICE_UNAVAILABLE\"]" || k == "503 [\"SERVICE_UNAVAILABLE\"]",
                "while down: {n} × {k}"
            );
        }
        assert!(
            !k.contains("INTERNAL") && !k.starts_with("no answer"),
            "{p}: {n} × {k}"
        );
    }
    assert!(
        tl.outcomes.keys().any(|(p, k)| p == "after" && k == "ok"),
        "writers resumed"
    );
    // No acknowledged write lost (PostgreSQL crash recovery plus carehub's commit-then-ack).
    let conn = Database::connect(&url).await.expect("connect");
    let stored: std::collections::HashSet<Uuid> = ent::visit::Entity::find()
        .all(&conn)
        .await
        .expect("visits")
        .into_iter()
        .map(|v| v.id)
        .collect();
    for id in &tl.acked {
        assert!(
            stored.contains(id),
            "acknowledged visit {id} lost in the outage"
        );
    }
    conn.close().await.ok();
    let (ok, out) = audit_verify(&url);
    assert!(ok, "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_outage_keeps_serving_and_reconnects() {
    let Some(mut redis) = PrivateRedis::start() else {
        assert!(
            !carehub_tests::services_required(),
            "redis-server is required"
        );
        return;
    };
    let (db, fx) = prepared_db(carehub_tests::Backend::Sqlite).await;
    let teacher = token(
        &db.url,
        "EDUCATION",
        "education.head_teacher",
        Some(&fx.school_a.to_string()),
        "450102",
        "teacher-a1",
    );
    let port = free_port();
    let redis_url = redis.url();
    // Everyone unlimited except case officers: 6 a minute, burst 5 (to observe the fallback).
    let env = server_env(
        &db.url,
        port,
        &[
            ("REDIS_URL", redis_url.as_str()),
            ("CAREHUB_REDIS_PREFIX", "carehub-faults:"),
            ("CAREHUB_RATE_LIMIT_ROLES", "civil_affairs.case_officer=6/5"),
        ],
    );
    let logdir = tempfile::tempdir().expect("log dir");
    let server = Server::start(&env, &logdir.path().join("carehub.log")).await;
    let base = server.base();
    let c = client(Duration::from_secs(30));
    let wait_redis = |want: &'static str| {
        let (c, base) = (c.clone(), base.clone());
        async move {
            let started = Instant::now();
            loop {
                let (_, b) = readyz(&c, &base).await;
                if b["redis"] == want {
                    return started.elapsed();
                }
                assert!(
                    started.elapsed() < Duration::from_secs(30),
                    "redis never {want}: {b}"
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    };
    wait_redis("ok").await;
    // A fresh officer's burst is 5: the 6th quick request is refused (with Redis, shared bucket).
    let burst = |sub: &'static str| {
        let (c, base, url) = (c.clone(), base.clone(), db.url.clone());
        async move {
            let t = token(
                &url,
                "CIVIL_AFFAIRS",
                "civil_affairs.case_officer",
                None,
                "450102",
                sub,
            );
            let mut refused = 0;
            for _ in 0..8 {
                let o = gql(&c, &base, &t, CHILDREN, Value::Null).await;
                match &o {
                    Outcome::Answered(429, _) => refused += 1,
                    o if codes(o).is_empty() => {}
                    o => panic!("unexpected {o:?}"),
                }
            }
            refused
        }
    };
    assert!(burst("officer-before").await >= 1, "limits hold with Redis");
    let write = |note: &'static str| {
        let (c, base, teacher, child) =
            (c.clone(), base.clone(), teacher.clone(), fx.c1.to_string());
        async move {
            let o = gql(&c, &base, &teacher, RECORD_VISIT, json!({"i": {"childId": child, "kind": "TALK", "doneAt": "2026-10-20T09:00:00Z", "observations": note}})).await;
            assert!(acked(&o, "recordVisit").is_some(), "{note}: {o:?}");
        }
    };
    write("before the redis outage").await;

    // Redis dies: /readyz stays 200 but says degraded; reads and writes go on; the rate limit
    // falls back to this process's buckets (documented rule), so it still holds per replica.
    redis.kill();
    let t_degraded = wait_redis("degraded").await;
    assert_eq!(
        readyz(&c, &base).await.0,
        200,
        "a Redis outage does not make carehub unready"
    );
    let t = Instant::now();
    for i in 0..20 {
        write(if i % 2 == 0 {
            "during the redis outage"
        } else {
            "during the redis outage (2)"
        })
        .await;
    }
    let twenty_writes = t.elapsed();
    assert!(
        burst("officer-during").await >= 1,
        "in-process fallback limits hold during the outage"
    );

    // Redis returns: carehub reconnects by itself.
    redis.restart();
    let t_ok = wait_redis("ok").await;
    write("after the redis outage").await;
    assert!(burst("officer-after").await >= 1);
    eprintln!(
        "redis outage: degraded seen after {t_degraded:?}; 20 writes during the outage in {twenty_writes:?}; reconnected {t_ok:?} after restart"
    );
}
