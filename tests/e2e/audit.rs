//! Accountability: sensitive reads are committed to the audit before the response, the hash chain
//! names the first altered/removed/reordered entry, a failing audit store withholds sensitive
//! fields (and only those), break-glass is scoped, flagged and reviewed, the audit itself is
//! queryable by the right roles only, and ID numbers are never stored in clear (key rotation).

use carehub_entity as ent;
use carehub_tests::fixtures::Fixture;
use carehub_tests::*;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseBackend, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, Statement,
};
use serde_json::{json, Value};

async fn setup(backend: Backend) -> (TestApp, Fixture) {
    let app = TestApp::spawn(backend).await;
    let fx = fixtures::load(app.conn(), &app.state.vault).await.unwrap();
    (app, fx)
}

fn officer(app: &TestApp, fx: &Fixture) -> String {
    app.token(
        "CIVIL_AFFAIRS",
        "civil_affairs.case_officer",
        Some(&fx.civil_office.to_string()),
        "450102",
        "officer-1",
    )
}

fn clinician(app: &TestApp, fx: &Fixture) -> String {
    app.token(
        "HEALTH",
        "health.clinician",
        Some(&fx.hospital.to_string()),
        "45",
        "dr-1",
    )
}

fn teacher(app: &TestApp, fx: &Fixture) -> String {
    app.token(
        "EDUCATION",
        "education.head_teacher",
        Some(&fx.school_a.to_string()),
        "450102",
        "teacher-a1",
    )
}

fn supervision(app: &TestApp, role: &str, sub: &str) -> String {
    app.token("SUPERVISION", role, None, "4501", sub)
}

async fn entries(app: &TestApp) -> Vec<ent::audit_entry::Model> {
    ent::audit_entry::Entity::find()
        .order_by_asc(ent::audit_entry::Column::Id)
        .all(app.conn())
        .await
        .unwrap()
}

async fn gql_with(app: &TestApp, token: &str, purpose: &str, q: &str, vars: Value) -> Value {
    app.post(
        json!({"query": q, "variables": vars}),
        Some(token),
        &[("X-Purpose", purpose)],
    )
    .await
    .1
}

const CHILD_SENSITIVE: &str =
    "query($id: ID!) { child(id: $id) { id gender name idNumber guardians { name phone } } }";

backend_test!(
    sensitive_reads_are_committed_before_the_response,
    |backend| {
        // Arrange
        let (app, fx) = setup(backend).await;
        let t = officer(&app, &fx);
        let before = entries(&app).await.len();

        // Act: a read of identifying fields.
        let body = app
            .gql(&t, CHILD_SENSITIVE, json!({"id": fx.c1.to_string()}))
            .await;

        // Assert: the entry is in the table the moment the response has arrived (no waiting).
        assert!(body["errors"].is_null(), "{body}");
        assert!(body["data"]["child"]["name"].is_string(), "{body}");
        let after = entries(&app).await;
        let reads: Vec<_> = after[before..]
            .iter()
            .filter(|e| e.action == "READ" && e.child_id == Some(fx.c1))
            .collect();
        assert!(!reads.is_empty(), "no READ entry for c1: {after:?}");
        let e = reads[0];
        assert_eq!(e.sub, "officer-1");
        assert_eq!(e.agency, "CIVIL_AFFAIRS");
        assert_eq!(e.role, "civil_affairs.case_officer");
        assert_eq!(e.purpose, "CARE");
        assert!(e.request_id.is_some(), "{e:?}");
        assert!(!e.policy_version.is_empty());
        let fields: Vec<String> = reads
            .iter()
            .flat_map(|e| {
                serde_json::from_value::<Vec<String>>(e.fields.clone()).unwrap_or_default()
            })
            .collect();
        assert!(
            fields.iter().any(|f| f.contains("name")),
            "fields read are listed: {fields:?}"
        );
        // One entry per (request, entity, record), not one per field.
        let mut keys: Vec<_> = after[before..]
            .iter()
            .filter(|e| e.action == "READ")
            .map(|e| {
                (
                    e.request_id.clone(),
                    e.entity.clone(),
                    e.record_ids.to_string(),
                )
            })
            .collect();
        let n = keys.len();
        keys.sort();
        keys.dedup();
        assert_eq!(keys.len(), n, "one entry per request, entity and record");

        // A read of directory data only leaves no entry.
        let before = entries(&app).await.len();
        let body = app
            .gql(
                &t,
                "{ me { sub role } regions(parentCode: \"4501\") { code name } }",
                json!({}),
            )
            .await;
        assert!(body["errors"].is_null(), "{body}");
        assert_eq!(
            entries(&app).await.len(),
            before,
            "non-sensitive read audited"
        );
    }
);

/// Runs `carehub_api::audit::verify` and returns the broken links' (seq, problem).
async fn verify(app: &TestApp) -> Vec<(String, i64, i64, String)> {
    let r = carehub_api::audit::verify::verify(app.conn())
        .await
        .unwrap();
    r.broken
        .into_iter()
        .map(|b| (b.writer, b.seq, b.id, b.problem))
        .collect()
}

async fn exec(app: &TestApp, sql: &str) {
    app.conn()
        .execute_raw(Statement::from_string(
            app.conn().get_database_backend(),
            sql,
        ))
        .await
        .unwrap();
}

/// A fresh server with a chain of at least six entries of one writer (reads are spread
/// over the server's read-audit writers, each its own chain: the longest is taken).
async fn chain(backend: Backend) -> (TestApp, Vec<ent::audit_entry::Model>) {
    let (app, fx) = setup(backend).await;
    let t = officer(&app, &fx);
    for c in [fx.c1, fx.c2, fx.c4].repeat(4) {
        let b = app
            .gql(&t, CHILD_SENSITIVE, json!({"id": c.to_string()}))
            .await;
        assert!(b["errors"].is_null(), "{b}");
    }
    let all = entries(&app).await;
    let mut by_writer: std::collections::BTreeMap<String, Vec<ent::audit_entry::Model>> =
        Default::default();
    for e in all {
        by_writer.entry(e.writer.clone()).or_default().push(e);
    }
    let mine = by_writer
        .into_values()
        .max_by_key(|chain| chain.len())
        .unwrap_or_default();
    assert!(mine.len() >= 6, "{mine:?}");
    assert!(verify(&app).await.is_empty(), "an untouched chain verifies");
    (app, mine)
}

backend_test!(
    verify_names_altered_removed_and_reordered_entries,
    |backend| {
        // Altered: one field of one entry.
        let (app, mine) = chain(backend).await;
        let target = &mine[2];
        exec(
            &app,
            &format!(
                "UPDATE audit_entries SET purpose = 'STATISTICS' WHERE id = {}",
                target.id
            ),
        )
        .await;
        let broken = verify(&app).await;
        assert_eq!(broken.len(), 1, "{broken:?}");
        assert_eq!(
            (broken[0].1, broken[0].2),
            (target.seq, target.id),
            "{broken:?}"
        );

        // Removed: one entry in the middle.
        let (app, mine) = chain(backend).await;
        let gone = &mine[3];
        exec(
            &app,
            &format!("DELETE FROM audit_entries WHERE id = {}", gone.id),
        )
        .await;
        let broken = verify(&app).await;
        assert_eq!(broken.len(), 1, "{broken:?}");
        assert_eq!(
            broken[0].1, mine[4].seq,
            "the entry after the gap is named: {broken:?}"
        );

        // Reordered: two entries swap places (their contents exchanged under the same ids/seqs).
        let (app, mine) = chain(backend).await;
        let (a, b) = (&mine[1], &mine[2]);
        for sql in [
            format!("UPDATE audit_entries SET seq = -1 WHERE id = {}", a.id),
            format!(
                "UPDATE audit_entries SET seq = {} WHERE id = {}",
                a.seq, b.id
            ),
            format!(
                "UPDATE audit_entries SET seq = {} WHERE id = {}",
                b.seq, a.id
            ),
        ] {
            exec(&app, &sql).await;
        }
        let broken = verify(&app).await;
        assert_eq!(broken.len(), 1, "{broken:?}");
        assert!(
            broken[0].1 == a.seq || broken[0].1 == b.seq,
            "the first swapped link is named: {broken:?}"
        );
    }
);

backend_test!(
    audit_store_failure_withholds_sensitive_fields_only,
    |backend| {
        // Arrange: make every insert into the audit table fail, as a full disk or a revoked grant would.
        let (app, fx) = setup(backend).await;
        let t = officer(&app, &fx);
        match app.conn().get_database_backend() {
            DatabaseBackend::Postgres => {
                exec(
                    &app,
                    "CREATE FUNCTION refuse_audit() RETURNS trigger AS $$ BEGIN \
                 RAISE EXCEPTION 'audit store unavailable'; END $$ LANGUAGE plpgsql",
                )
                .await;
                exec(
                    &app,
                    "CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_entries \
                 FOR EACH ROW EXECUTE FUNCTION refuse_audit()",
                )
                .await;
            }
            _ => {
                exec(
                    &app,
                    "CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_entries \
                 BEGIN SELECT RAISE(ABORT, 'audit store unavailable'); END",
                )
                .await;
            }
        }

        // Act
        let (status, body) = app
            .post(
                json!({"query": CHILD_SENSITIVE, "variables": {"id": fx.c1.to_string()}}),
                Some(&t),
                &[],
            )
            .await;

        // Assert: no 500; the identifier and gender flow, the name and guardians are withheld.
        assert!(status < 500, "{status} {body}");
        let child = &body["data"]["child"];
        assert_eq!(child["id"], fx.c1.to_string(), "{body}");
        assert!(
            child["gender"].is_string(),
            "non-sensitive data still flows: {body}"
        );
        assert!(child["name"].is_null(), "{body}");
        assert!(child["idNumber"].is_null(), "{body}");
        let codes = error_codes(&body);
        assert!(!codes.is_empty(), "{body}");
        assert!(codes.iter().all(|c| c == "AUDIT_UNAVAILABLE"), "{body}");
        assert_eq!(
            ent::audit_entry::Entity::find()
                .count(app.conn())
                .await
                .unwrap(),
            0,
            "nothing half-written"
        );
    }
);

const GRANT: &str = "mutation($c: ID!, $r: String!) { requestEmergencyAccess(childId: $c, reason: $r) { id childId expiresAt sub } }";
const REVIEW: &str = "mutation($id: ID!, $o: BreakGlassOutcome!, $n: String!) { reviewEmergencyAccess(id: $id, outcome: $o, note: $n) { id reviewOutcome reviewedBy } }";
const CHILD_REPORTS: &str =
    "query($id: ID!) { child(id: $id) { id name currentRiskLevel reports { id category } } }";

backend_test!(break_glass_grant_use_limits_expiry_and_review, |backend| {
    let (app, fx) = setup(backend).await;
    let dr = clinician(&app, &fx);
    let reason = "child in acute crisis at the emergency department";

    // Outside its scope, the clinician does not see c2 (no referral, no episode).
    let b = gql_with(
        &app,
        &dr,
        "CRISIS",
        CHILD_REPORTS,
        json!({"id": fx.c2.to_string()}),
    )
    .await;
    assert!(b["data"]["child"].is_null(), "{b}");

    // Refusals: wrong purpose, role without break-glass, reason too short.
    let b = gql_with(
        &app,
        &dr,
        "TREATMENT",
        GRANT,
        json!({"c": fx.c2.to_string(), "r": reason}),
    )
    .await;
    assert_eq!(error_codes(&b), vec!["FORBIDDEN"], "{b}");
    let t = teacher(&app, &fx);
    let b = gql_with(
        &app,
        &t,
        "CRISIS",
        GRANT,
        json!({"c": fx.c2.to_string(), "r": reason}),
    )
    .await;
    assert_eq!(error_codes(&b), vec!["FORBIDDEN"], "{b}");
    let b = gql_with(
        &app,
        &dr,
        "CRISIS",
        GRANT,
        json!({"c": fx.c2.to_string(), "r": "help"}),
    )
    .await;
    assert_eq!(error_codes(&b), vec!["BAD_USER_INPUT"], "{b}");

    // Grant, then use: the child is readable, every read flagged BREAK_GLASS.
    let b = gql_with(
        &app,
        &dr,
        "CRISIS",
        GRANT,
        json!({"c": fx.c2.to_string(), "r": reason}),
    )
    .await;
    assert!(b["errors"].is_null(), "{b}");
    let grant_id = b["data"]["requestEmergencyAccess"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let before = entries(&app).await.len();
    let b = gql_with(
        &app,
        &dr,
        "CRISIS",
        CHILD_REPORTS,
        json!({"id": fx.c2.to_string()}),
    )
    .await;
    assert_eq!(b["data"]["child"]["id"], fx.c2.to_string(), "{b}");
    assert!(b["data"]["child"]["name"].is_string(), "{b}");
    let used: Vec<_> = entries(&app).await[before..]
        .iter()
        .filter(|e| e.child_id == Some(fx.c2) && e.action == "READ")
        .cloned()
        .collect();
    assert!(!used.is_empty());
    assert!(used.iter().all(|e| e.decision == "BREAK_GLASS"), "{used:?}");

    // Never the abuse narrative (G-ABUSE), even under break-glass: c4 has an ABUSE report,
    // whose existence and category are G-PLAN but whose description is G-ABUSE on HARM rows.
    let b = gql_with(
        &app,
        &dr,
        "CRISIS",
        GRANT,
        json!({"c": fx.c4.to_string(), "r": reason}),
    )
    .await;
    assert!(b["errors"].is_null(), "{b}");
    let q = "query($id: ID!) { child(id: $id) { id name reports { id category description } } }";
    let b = gql_with(&app, &dr, "CRISIS", q, json!({"id": fx.c4.to_string()})).await;
    assert!(b["data"]["child"]["name"].is_string(), "{b}");
    let reports = b["data"]["child"]["reports"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let abuse: Vec<_> = reports
        .iter()
        .filter(|r| r["category"] == "ABUSE")
        .collect();
    assert!(!abuse.is_empty(), "{b}");
    assert!(
        abuse.iter().all(|r| r["description"].is_null()),
        "an abuse narrative leaked under break-glass: {b}"
    );
    assert!(
        b["errors"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["extensions"]["field"] == "Report.description"),
        "{b}"
    );

    // Review: listed for the inspector, reviewed once, never by the grantee.
    let inspector = supervision(&app, "supervision.inspector", "inspector-1");
    let b = app
        .gql(
            &inspector,
            "{ emergencyAccessReviews(pendingOnly: true) { id sub reason } }",
            json!({}),
        )
        .await;
    let pending: Vec<&str> = b["data"]["emergencyAccessReviews"]
        .as_array()
        .unwrap_or_else(|| panic!("{b}"))
        .iter()
        .filter_map(|g| g["id"].as_str())
        .collect();
    assert!(pending.contains(&grant_id.as_str()), "{b}");
    let b = app
        .gql(&inspector, REVIEW, json!({"id": grant_id, "o": "JUSTIFIED", "n": "crisis confirmed by the duty psychiatrist"}))
        .await;
    assert_eq!(
        b["data"]["reviewEmergencyAccess"]["reviewOutcome"], "JUSTIFIED",
        "{b}"
    );
    let b = app
        .gql(
            &inspector,
            REVIEW,
            json!({"id": grant_id, "o": "NOT_JUSTIFIED", "n": "again"}),
        )
        .await;
    assert_eq!(
        error_codes(&b),
        vec!["BAD_USER_INPUT"],
        "reviewed twice: {b}"
    );

    // Expiry: once the grant has lapsed, the child is out of reach again.
    // (through the entity: ids are blobs on SQLite, text on PostgreSQL)
    ent::break_glass_grant::Entity::update_many()
        .col_expr(
            ent::break_glass_grant::Column::ExpiresAt,
            sea_orm::sea_query::Expr::value(chrono::Utc::now() - chrono::Duration::minutes(1)),
        )
        .filter(ent::break_glass_grant::Column::ChildId.eq(fx.c2))
        .exec(app.conn())
        .await
        .unwrap();
    let b = gql_with(
        &app,
        &dr,
        "CRISIS",
        CHILD_REPORTS,
        json!({"id": fx.c2.to_string()}),
    )
    .await;
    assert!(
        b["data"]["child"].is_null(),
        "expired grant still opens the child: {b}"
    );
});

backend_test!(
    access_report_and_audit_log_for_their_roles_only,
    |backend| {
        let (app, fx) = setup(backend).await;
        // Reads by two agencies with different purposes.
        let t = teacher(&app, &fx);
        let b = app
            .gql(
                &t,
                "query($id: ID!) { child(id: $id) { id guardians { name phone } } }",
                json!({"id": fx.c1.to_string()}),
            )
            .await;
        assert!(b["errors"].is_null(), "{b}");
        let dr = clinician(&app, &fx);
        let b = gql_with(
            &app,
            &dr,
            "TREATMENT",
            CHILD_SENSITIVE,
            json!({"id": fx.c1.to_string()}),
        )
        .await;
        assert!(b["data"]["child"]["id"].is_string(), "{b}");

        // The case officer answers a guardian's right-to-know request.
        let o = officer(&app, &fx);
        let q = "query($c: ID!) { accessReport(childId: $c) { agency purpose accesses roles fieldGroups lastAt } }";
        let b = app.gql(&o, q, json!({"c": fx.c1.to_string()})).await;
        let rows = b["data"]["accessReport"]
            .as_array()
            .unwrap_or_else(|| panic!("{b}"));
        let find = |agency: &str, purpose: &str| {
            rows.iter()
                .find(|r| r["agency"] == agency && r["purpose"] == purpose)
                .cloned()
        };
        let edu = find("EDUCATION", "CARE").unwrap_or_else(|| panic!("{b}"));
        assert!(edu["accesses"].as_i64().unwrap() >= 1);
        assert!(
            edu["roles"].to_string().contains("education.head_teacher"),
            "{b}"
        );
        assert!(find("HEALTH", "TREATMENT").is_some(), "{b}");

        // Others may not ask.
        let b = app.gql(&t, q, json!({"c": fx.c1.to_string()})).await;
        assert_eq!(error_codes(&b), vec!["FORBIDDEN"], "{b}");

        // The auditor filters the log by child and agency.
        let auditor = supervision(&app, "supervision.auditor", "auditor-1");
        let q = "query($f: AuditFilter) { auditLog(filter: $f, first: 50) { sub agency childId action decision hash seq } }";
        let b = app
            .gql(
                &auditor,
                q,
                json!({"f": {"childId": fx.c1.to_string(), "agency": "HEALTH"}}),
            )
            .await;
        let log = b["data"]["auditLog"]
            .as_array()
            .unwrap_or_else(|| panic!("{b}"));
        assert!(!log.is_empty(), "{b}");
        assert!(
            log.iter()
                .all(|e| e["agency"] == "HEALTH" && e["childId"] == fx.c1.to_string()),
            "{b}"
        );
        assert!(log.iter().any(|e| e["sub"] == "dr-1"), "{b}");
        for token in [&o, &t, &dr] {
            let b = app.gql(token, q, json!({"f": null})).await;
            assert_eq!(error_codes(&b), vec!["FORBIDDEN"], "{b}");
        }
    }
);

fn looks_like_id_number(s: &str) -> bool {
    let b = s.as_bytes();
    b.windows(18).any(|w| {
        w[..17].iter().all(u8::is_ascii_digit) && (w[17].is_ascii_digit() || w[17] == b'X')
    })
}

async fn id_columns(app: &TestApp) -> Vec<String> {
    let db = app.conn();
    let mut out = Vec::new();
    for table in ["children", "guardians"] {
        let rows = db
            .query_all_raw(Statement::from_string(
                db.get_database_backend(),
                format!("SELECT id_number_enc, id_number_bidx, id_number_mask FROM {table}"),
            ))
            .await
            .unwrap();
        for r in rows {
            for col in ["id_number_enc", "id_number_bidx", "id_number_mask"] {
                if let Ok(Some(v)) = r.try_get::<Option<String>>("", col) {
                    out.push(v);
                }
            }
        }
    }
    out
}

backend_test!(
    identifiers_are_encrypted_at_rest_and_keys_rotate,
    |backend| {
        let (app, fx) = setup(backend).await;
        // Register one more child through the API, so the write path is covered too.
        let o = officer(&app, &fx);
        let b = app
            .gql(
                &o,
                "query($id: ID!) { child(id: $id) { idNumber } }",
                json!({"id": fx.c1.to_string()}),
            )
            .await;
        let masked = b["data"]["child"]["idNumber"]
            .as_str()
            .unwrap_or_else(|| panic!("{b}"))
            .to_owned();
        assert!(
            masked.contains('*'),
            "the case officer sees a masked number: {b}"
        );

        // No stored value looks like an ID number; every value names the key it was sealed with.
        let stored = id_columns(&app).await;
        assert!(!stored.is_empty());
        assert!(
            stored.iter().all(|v| !looks_like_id_number(v)),
            "a clear ID number in the database: {stored:?}"
        );
        let encs = |app: &TestApp| {
            let db = app.conn().clone();
            async move {
                let mut v: Vec<String> = ent::child::Entity::find()
                    .all(&db)
                    .await
                    .unwrap()
                    .into_iter()
                    .filter_map(|c| c.id_number_enc)
                    .collect();
                v.extend(
                    ent::guardian::Entity::find()
                        .all(&db)
                        .await
                        .unwrap()
                        .into_iter()
                        .filter_map(|g| g.id_number_enc),
                );
                v
            }
        };
        let before = encs(&app).await;
        assert!(before.iter().all(|v| v.starts_with("k1:")), "{before:?}");
        let clear_before: Vec<String> = before
            .iter()
            .map(|v| app.state.vault.decrypt(v).unwrap())
            .collect();

        // Rotate to k2 (k1 kept as a retired key while the rotation runs).
        let old = carehub_api::config::dev_defaults::DATA_KEY;
        let new_key = "5a".repeat(32);
        let settings = test_settings(
            &app.db.url,
            &[
                ("CAREHUB_DATA_KEY", &new_key),
                ("CAREHUB_DATA_KEY_ID", "k2"),
                ("CAREHUB_OLD_DATA_KEYS", &format!("k1:{old}")),
            ],
        );
        let vault = carehub_api::crypto::Vault::from_settings(&settings).unwrap();
        let report = carehub_api::crypto::rotate(app.conn(), &vault)
            .await
            .unwrap();
        assert_eq!(
            (report.children + report.guardians) as usize,
            before.len(),
            "{report:?}"
        );
        let after = encs(&app).await;
        assert!(after.iter().all(|v| v.starts_with("k2:")), "{after:?}");
        let clear_after: Vec<String> = after.iter().map(|v| vault.decrypt(v).unwrap()).collect();
        let (mut a, mut b) = (clear_before, clear_after);
        a.sort();
        b.sort();
        assert_eq!(a, b, "every value still decrypts to the same number");
        // A second run has nothing left to do.
        let again = carehub_api::crypto::rotate(app.conn(), &vault)
            .await
            .unwrap();
        assert_eq!((again.children, again.guardians), (0, 0));
    }
);
