//! Soak: a bounded mixed load (visits, screenings, audited reads of sensitive fields, list
//! queries) against the real binary for `FAULTS_SOAK_SECS` seconds (default 20; the issue's
//! 10-minute soak is `FAULTS_SOAK_SECS=600`). It samples the server's resident memory from
//! /proc/PID/status once a second and asserts: no request failed, the RSS after warm-up grows
//! by less than `RSS_GROWTH_BOUND_KIB` (fixed, so a leak proportional to requests fails a long
//! soak), and the audit chain verifies at the end.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use carehub_tests::Backend;
use serde_json::{json, Value};

use crate::support::*;

/// Allowed RSS growth from the end of warm-up (the first quarter of the run, at least 5 s) to
/// the peak afterwards.
const RSS_GROWTH_BOUND_KIB: u64 = 64 * 1024;

const RECORD_VISIT: &str =
    "mutation($i: RecordVisitInput!) { recordVisit(input: $i) { id version } }";
const RECORD_SCREENING: &str =
    "mutation($i: RecordScreeningInput!) { recordScreening(input: $i) { id version } }";
const CHILD: &str = "query($id: ID!) { child(id: $id) { id name gender currentRiskLevel screenings(first: 5) { riskLevel administeredAt } } }";
const CHILDREN: &str =
    "{ children(first: 20) { totalCount edges { node { id name currentRiskLevel } } } }";

fn soak_secs() -> u64 {
    std::env::var("FAULTS_SOAK_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20)
}

async fn run(backend: Backend) {
    let secs = soak_secs();
    let (db, fx) = prepared_db(backend).await;
    let teacher = token(
        &db.url,
        "EDUCATION",
        "education.head_teacher",
        Some(&fx.school_a.to_string()),
        "450102",
        "teacher-a1",
    );
    let psych = token(
        &db.url,
        "EDUCATION",
        "education.psych_teacher",
        Some(&fx.school_a.to_string()),
        "450102",
        "psych-a",
    );
    let officer = token(
        &db.url,
        "CIVIL_AFFAIRS",
        "civil_affairs.case_officer",
        None,
        "450102",
        "officer-1",
    );
    let env = server_env(&db.url, free_port(), &[]);
    let logdir = tempfile::tempdir().expect("log dir");
    let server = Server::start(&env, &logdir.path().join("carehub.log")).await;
    let base = server.base();
    let stop = Arc::new(AtomicBool::new(false));
    let requests = Arc::new(AtomicU64::new(0));
    let failures = Arc::new(Mutex::new(Vec::<String>::new()));

    // Four clients, each a loop over its mix; loopback only, bounded by time.
    let clients: Vec<_> = (0..4)
        .map(|k| {
            let (base, stop, requests, failures) = (base.clone(), stop.clone(), requests.clone(), failures.clone());
            let (teacher, psych, officer) = (teacher.clone(), psych.clone(), officer.clone());
            let (c1, c2) = (fx.c1.to_string(), fx.c2.to_string());
            tokio::spawn(async move {
                let c = client(Duration::from_secs(30));
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    n += 1;
                    let (tok, q, vars, field) = match (k + n as usize) % 4 {
                        0 => (&teacher, RECORD_VISIT, json!({"i": {"childId": c1, "kind": "TALK", "doneAt": "2026-10-20T09:00:00Z", "observations": format!("soak {k}/{n}")}}), Some("recordVisit")),
                        1 => (&psych, RECORD_SCREENING, json!({"i": {"childId": c2, "schoolYear": 2026, "instrument": "GAD_7", "administeredAt": "2026-10-15T09:00:00Z", "score": (n % 21) as f64, "riskLevel": "GREEN"}}), Some("recordScreening")),
                        2 => (&officer, CHILD, json!({"id": c1}), None),
                        _ => (&officer, CHILDREN, Value::Null, None),
                    };
                    let o = gql(&c, &base, tok, q, vars).await;
                    requests.fetch_add(1, Ordering::Relaxed);
                    let good = match field {
                        Some(f) => acked(&o, f).is_some(),
                        None => matches!(&o, Outcome::Answered(200, b) if b["errors"].is_null()),
                    };
                    if !good {
                        failures.lock().expect("failures").push(format!("{o:?}"));
                    }
                }
            })
        })
        .collect();

    let started = Instant::now();
    let mut curve: Vec<(u64, u64, u64)> = Vec::new(); // (second, requests so far, RSS KiB)
    while started.elapsed() < Duration::from_secs(secs) {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let rss = server.rss_kib().expect("server RSS");
        curve.push((
            started.elapsed().as_secs(),
            requests.load(Ordering::Relaxed),
            rss,
        ));
    }
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        c.await.expect("client");
    }
    let total = requests.load(Ordering::Relaxed);
    drop(server);

    let warm_at = (secs / 4).max(5) as usize;
    let warm = curve
        .iter()
        .find(|(s, _, _)| *s as usize >= warm_at)
        .or(curve.last())
        .map(|(_, _, r)| *r)
        .unwrap_or(0);
    let peak = curve.iter().map(|(_, _, r)| *r).max().unwrap_or(0);
    let step = (curve.len() / 10).max(1);
    let shown: Vec<String> = curve
        .iter()
        .enumerate()
        .filter(|(i, _)| i % step == 0 || *i == curve.len() - 1)
        .map(|(_, (s, n, r))| format!("{s}s:{n}req:{}MiB", r / 1024))
        .collect();
    let (ok, out) = audit_verify(&db.url);
    let failures = failures.lock().expect("failures");
    eprintln!(
        "soak {backend:?} {secs}s: {total} requests ({:.0}/s), {} failed; RSS warm {} KiB, peak {} KiB, growth {} KiB (bound {} KiB); curve {}; audit verify: {}",
        total as f64 / secs as f64,
        failures.len(),
        warm,
        peak,
        peak.saturating_sub(warm),
        RSS_GROWTH_BOUND_KIB,
        shown.join(" "),
        out.trim()
    );
    assert!(
        failures.is_empty(),
        "{} failed requests, first: {}",
        failures.len(),
        failures[0]
    );
    assert!(
        peak.saturating_sub(warm) < RSS_GROWTH_BOUND_KIB,
        "RSS grew {} KiB after warm-up (bound {RSS_GROWTH_BOUND_KIB} KiB)",
        peak.saturating_sub(warm)
    );
    assert!(ok, "audit verify after the soak:\n{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn soak_mixed_load_sqlite() {
    run(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn soak_mixed_load_postgres() {
    if !carehub_tests::postgres_available() {
        return;
    }
    run(Backend::Postgres).await;
}
