//! Crash consistency: concurrent writers (home visits, screenings, referrals moving through
//! SENT → RECEIVED → ACCEPTED) against the real binary, which is `kill -9`ed at random moments
//! and restarted on the same database. Every mutation that returned success must then be
//! present with its history (workflow transitions), outbox (change events) and audit entries;
//! no record may exist without them; and `carehub audit verify` must pass.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use carehub_entity as ent;
use carehub_tests::{fixtures::Fixture, Backend};
use sea_orm::{Database, DatabaseConnection, EntityTrait, QueryOrder};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::support::*;

const RECORD_VISIT: &str =
    "mutation($i: RecordVisitInput!) { recordVisit(input: $i) { id version } }";
const RECORD_SCREENING: &str =
    "mutation($i: RecordScreeningInput!) { recordScreening(input: $i) { id version } }";
const CREATE_REFERRAL: &str =
    "mutation($i: CreateReferralInput!) { createReferral(input: $i) { id status version } }";
const TRANSITION_REFERRAL: &str = "mutation($id: ID!, $v: Int!, $s: ReferralStatus!) { transitionReferral(id: $id, expectedVersion: $v, status: $s) { id status version } }";

/// Subjects of the writers: only their records are checked for completeness.
const SUBJECTS: &[&str] = &["teacher-a1", "psych-a", "dr-1"];

/// What the server acknowledged.
#[derive(Default)]
struct Ledger {
    visits: Vec<Uuid>,
    screenings: Vec<Uuid>,
    /// referral → (highest acknowledged version, its status)
    referrals: HashMap<Uuid, (i64, String)>,
    no_answer: u64,
    refused: BTreeMap<String, u64>,
}

struct Tokens {
    teacher: String,
    psych: String,
    clinician: String,
}

fn id_of(v: &Value) -> Uuid {
    v["id"].as_str().and_then(|s| s.parse().ok()).expect("id")
}

/// Notes an unacknowledged outcome (dead server, or an error answer) in the ledger.
fn note_failure(ledger: &Mutex<Ledger>, o: &Outcome) {
    let mut l = ledger.lock().expect("ledger");
    match o {
        Outcome::NoAnswer(_) => l.no_answer += 1,
        Outcome::Answered(status, _) => {
            let key = format!("{status} {:?}", codes(o));
            *l.refused.entry(key).or_default() += 1;
        }
    }
}

async fn writer(
    kind: usize,
    base: String,
    tokens: Arc<Tokens>,
    fx: Fixture,
    ledger: Arc<Mutex<Ledger>>,
    stop: Arc<AtomicBool>,
    attempts: Arc<AtomicU64>,
) {
    let c = client(Duration::from_secs(15));
    let mut n = 0u64;
    // The referral this writer is moving along: (id, version, status).
    let mut open: Option<(Uuid, i64, &str)> = None;
    while !stop.load(Ordering::Relaxed) {
        n += 1;
        attempts.fetch_add(1, Ordering::Relaxed);
        let o = match kind {
            0 => {
                let o = gql(&c, &base, &tokens.teacher, RECORD_VISIT, json!({"i": {"childId": fx.c1.to_string(), "kind": "HEAD_TEACHER_HOME_VISIT", "doneAt": "2026-10-20T09:00:00Z", "observations": format!("crash-run visit {n}")}})).await;
                if let Some(v) = acked(&o, "recordVisit") {
                    ledger.lock().expect("ledger").visits.push(id_of(v));
                    continue;
                }
                o
            }
            1 => {
                let o = gql(&c, &base, &tokens.psych, RECORD_SCREENING, json!({"i": {"childId": fx.c2.to_string(), "schoolYear": 2026, "instrument": "PHQ_9", "administeredAt": "2026-10-15T09:00:00Z", "score": (n % 27) as f64, "riskLevel": "GREEN", "notes": format!("crash-run screening {n}")}})).await;
                if let Some(v) = acked(&o, "recordScreening") {
                    ledger.lock().expect("ledger").screenings.push(id_of(v));
                    continue;
                }
                o
            }
            _ => {
                let o = match open {
                    None => gql(&c, &base, &tokens.psych, CREATE_REFERRAL, json!({"i": {"childId": fx.c2.to_string(), "toOrganizationId": fx.hospital.to_string(), "direction": "UP", "reason": format!("crash-run referral {n}"), "urgency": "ROUTINE", "authorizedView": ["G-ID-min", "G-RISK"], "send": true}})).await,
                    Some((id, v, status)) => {
                        let next = if status == "SENT" { "RECEIVED" } else { "ACCEPTED" };
                        gql(&c, &base, &tokens.clinician, TRANSITION_REFERRAL, json!({"id": id.to_string(), "v": v, "s": next})).await
                    }
                };
                let field = if open.is_none() {
                    "createReferral"
                } else {
                    "transitionReferral"
                };
                if let Some(r) = acked(&o, field) {
                    let id = id_of(r);
                    let version = r["version"].as_i64().expect("version");
                    let status = r["status"].as_str().unwrap_or_default().to_owned();
                    open = match status.as_str() {
                        "SENT" => Some((id, version, "SENT")),
                        "RECEIVED" => Some((id, version, "RECEIVED")),
                        _ => None,
                    };
                    ledger
                        .lock()
                        .expect("ledger")
                        .referrals
                        .insert(id, (version, status));
                    continue;
                }
                // Unknown outcome of a transition: start over with a new referral (the old one
                // is still checked for completeness whatever its state).
                open = None;
                o
            }
        };
        note_failure(&ledger, &o);
        if matches!(o, Outcome::NoAnswer(_)) {
            // The server is down or restarting.
            tokio::time::sleep(Duration::from_millis(15)).await;
        }
    }
}

/// Rows of `E` created by the writers, as JSON.
async fn rows<E>(conn: &DatabaseConnection) -> Vec<Value>
where
    E: EntityTrait,
    E::Model: serde::Serialize,
{
    E::find()
        .all(conn)
        .await
        .expect("rows")
        .into_iter()
        .filter_map(|m| serde_json::to_value(m).ok())
        .filter(|v| SUBJECTS.contains(&v["created_by"].as_str().unwrap_or_default()))
        .collect()
}

fn uuid_of(v: &Value) -> Uuid {
    v["id"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .expect("row id")
}

/// Figures of one run.
pub struct CrashFigures {
    pub crashes: usize,
    pub acked: usize,
    pub rows_checked: usize,
    pub attempts: u64,
    pub no_answer: u64,
    pub elapsed: Duration,
}

/// The crash loop on `backend`: `crashes` kills, then the checks.
pub async fn run(backend: Backend, crashes: usize) -> CrashFigures {
    let started = Instant::now();
    let (db, fx) = prepared_db(backend).await;
    let mut rng = Rng::from_env();
    let tokens = Arc::new(Tokens {
        teacher: token(
            &db.url,
            "EDUCATION",
            "education.head_teacher",
            Some(&fx.school_a.to_string()),
            "450102",
            "teacher-a1",
        ),
        psych: token(
            &db.url,
            "EDUCATION",
            "education.psych_teacher",
            Some(&fx.school_a.to_string()),
            "450102",
            "psych-a",
        ),
        clinician: token(
            &db.url,
            "HEALTH",
            "health.clinician",
            Some(&fx.hospital.to_string()),
            "45",
            "dr-1",
        ),
    });
    let port = free_port();
    let env = server_env(&db.url, port, &[]);
    let logdir = tempfile::tempdir().expect("log dir");
    let log = logdir.path().join("carehub.log");
    let base = format!("http://127.0.0.1:{port}");
    let ledger = Arc::new(Mutex::new(Ledger::default()));
    let stop = Arc::new(AtomicBool::new(false));
    let attempts = Arc::new(AtomicU64::new(0));

    let mut server = Server::start(&env, &log).await;
    // Four writers: two visit writers, a screening writer, a referral writer.
    let writers: Vec<_> = [0usize, 0, 1, 2]
        .into_iter()
        .map(|k| {
            tokio::spawn(writer(
                k,
                base.clone(),
                tokens.clone(),
                fx.clone(),
                ledger.clone(),
                stop.clone(),
                attempts.clone(),
            ))
        })
        .collect();
    for crash in 0..crashes {
        // A random moment under load: 150 ms – 1.2 s after the server became ready.
        tokio::time::sleep(Duration::from_millis(rng.range(150, 1200))).await;
        server.kill9();
        let acked_so_far = {
            let l = ledger.lock().expect("ledger");
            l.visits.len() + l.screenings.len() + l.referrals.len()
        };
        eprintln!(
            "{backend:?}: crash {} of {crashes} ({acked_so_far} records acknowledged so far)",
            crash + 1
        );
        server = Server::start(&env, &log).await;
    }
    // After the last restart the writers make progress again, then the final crash.
    let before = attempts.load(Ordering::Relaxed);
    let after_restart = {
        let l = ledger.lock().expect("ledger");
        l.visits.len() + l.screenings.len()
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let l = ledger.lock().expect("ledger");
        if l.visits.len() + l.screenings.len() > after_restart + 10 || Instant::now() > deadline {
            break;
        }
    }
    assert!(
        attempts.load(Ordering::Relaxed) > before,
        "writers resumed after the last restart"
    );
    server.kill9();
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        w.await.expect("writer");
    }

    // ---- checks, on the database directly ----
    let l = std::mem::take(&mut *ledger.lock().expect("ledger"));
    let conn = Database::connect(&db.url).await.expect("connect");
    let visits = rows::<ent::visit::Entity>(&conn).await;
    let screenings = rows::<ent::screening::Entity>(&conn).await;
    let referrals = rows::<ent::referral::Entity>(&conn).await;
    let events = ent::change_event::Entity::find()
        .all(&conn)
        .await
        .expect("events");
    let audits = ent::audit_entry::Entity::find()
        .all(&conn)
        .await
        .expect("audit");
    // In the order they happened (the database returns rows in no particular order).
    let transitions = ent::workflow_transition::Entity::find()
        .order_by_asc(ent::workflow_transition::Column::At)
        .order_by_asc(ent::workflow_transition::Column::Id)
        .all(&conn)
        .await
        .expect("transitions");
    // record → versions of its change events
    let mut versions: HashMap<Uuid, Vec<i64>> = HashMap::new();
    for e in &events {
        versions
            .entry(e.record_id)
            .or_default()
            .push(e.changed["version"].as_i64().unwrap_or(-1));
    }
    // record → number of WRITE audit entries naming it
    let mut audited: HashMap<String, usize> = HashMap::new();
    for a in audits.iter().filter(|a| a.action == "WRITE") {
        for r in a.record_ids.as_array().into_iter().flatten() {
            if let Some(s) = r.as_str() {
                *audited.entry(s.to_owned()).or_default() += 1;
            }
        }
    }
    let mut path: HashMap<Uuid, Vec<String>> = HashMap::new();
    for t in &transitions {
        path.entry(t.record_id)
            .or_default()
            .push(t.to_status.clone());
    }

    // 1. Every acknowledged write is there.
    let ids = |rows: &[Value]| rows.iter().map(uuid_of).collect::<BTreeSet<_>>();
    let (visit_ids, screening_ids) = (ids(&visits), ids(&screenings));
    for v in &l.visits {
        assert!(visit_ids.contains(v), "acknowledged visit {v} lost");
    }
    for s in &l.screenings {
        assert!(screening_ids.contains(s), "acknowledged screening {s} lost");
    }
    let by_id: HashMap<Uuid, &Value> = referrals.iter().map(|r| (uuid_of(r), r)).collect();
    for (id, (version, status)) in &l.referrals {
        let row = by_id
            .get(id)
            .unwrap_or_else(|| panic!("acknowledged referral {id} lost"));
        assert!(
            row["version"].as_i64().unwrap_or(0) >= *version,
            "referral {id}: acknowledged version {version}, stored {row}"
        );
        assert!(
            path.get(id).is_some_and(|p| p.contains(status)),
            "referral {id}: acknowledged transition to {status} has no history row: {:?}",
            path.get(id)
        );
    }
    // 2. No partial writes: every record of the writers has exactly one change event per
    // version (1..=version) and as many WRITE audit entries; referrals have a history ending
    // in their current status.
    let mut checked = 0;
    for row in visits.iter().chain(&screenings).chain(&referrals) {
        let id = uuid_of(row);
        let version = row["version"].as_i64().unwrap_or(0);
        let mut got = versions.get(&id).cloned().unwrap_or_default();
        got.sort_unstable();
        let want: Vec<i64> = (1..=version).collect();
        assert_eq!(got, want, "record {id}: change events vs version {version}");
        assert_eq!(
            audited.get(&id.to_string()).copied().unwrap_or(0),
            want.len(),
            "record {id}: WRITE audit entries vs change events"
        );
        checked += 1;
    }
    for r in &referrals {
        let id = uuid_of(r);
        let p = path
            .get(&id)
            .unwrap_or_else(|| panic!("referral {id} without history"));
        assert_eq!(
            p.last().map(String::as_str),
            r["status"].as_str(),
            "referral {id}: history {p:?} vs status"
        );
    }
    conn.close().await.ok();
    // 3. The audit chains verify.
    let (ok, out) = audit_verify(&db.url);
    assert!(
        ok,
        "carehub audit verify failed after {crashes} crashes:\n{out}"
    );

    let acked = l.visits.len() + l.screenings.len() + l.referrals.len();
    let figures = CrashFigures {
        crashes,
        acked,
        rows_checked: checked,
        attempts: attempts.load(Ordering::Relaxed),
        no_answer: l.no_answer,
        elapsed: started.elapsed(),
    };
    eprintln!(
        "crash consistency {backend:?}: {} kill -9 survived; {} acknowledged records ({} visits, {} screenings, {} referrals) all present; {} records checked complete (outbox, audit, history); {} requests, {} unanswered, refusals {:?}; {:.1} s; audit verify: {}",
        figures.crashes,
        figures.acked,
        l.visits.len(),
        l.screenings.len(),
        l.referrals.len(),
        figures.rows_checked,
        figures.attempts,
        figures.no_answer,
        l.refused,
        figures.elapsed.as_secs_f64(),
        out.trim()
    );
    assert!(
        acked > crashes,
        "too few acknowledged writes ({acked}) to mean anything"
    );
    figures
}

fn crashes() -> usize {
    std::env::var("FAULTS_CRASHES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_consistency_sqlite_wal() {
    run(Backend::Sqlite, crashes()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_consistency_postgres() {
    if !carehub_tests::postgres_available() {
        return;
    }
    run(Backend::Postgres, crashes()).await;
}
