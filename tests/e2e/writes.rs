//! Writes: mutations are single transactions with history, outbox and audit; stale versions
//! conflict; workflows refuse illegal transitions; validation names the field and the rule.

use carehub_entity as ent;
use carehub_tests::*;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::{json, Value};

async fn count<E>(app: &TestApp) -> u64
where
    E: EntityTrait,
    E::Model: Sync,
{
    E::find().count(app.conn()).await.unwrap()
}

const RECORD_VISIT: &str = "mutation($i: RecordVisitInput!) { recordVisit(input: $i) { id version kind doneAt observations } }";

backend_test!(record_visit_writes_history_outbox_and_audit, |backend| {
    let app = TestApp::spawn(backend).await;
    let fx = fixtures::load(app.conn(), &app.state.vault).await.unwrap();
    let t = app.token(
        "EDUCATION",
        "education.head_teacher",
        Some(&fx.school_a.to_string()),
        "450102",
        "teacher-a1",
    );
    let before = (
        count::<ent::change_event::Entity>(&app).await,
        count::<ent::audit_entry::Entity>(&app).await,
    );
    let body = app
        .gql(&t, RECORD_VISIT, json!({"i": {"childId": fx.c1.to_string(), "kind": "HEAD_TEACHER_HOME_VISIT", "doneAt": "2026-10-20T09:00:00Z", "stressors": ["ACADEMIC_PRESSURE"], "observations": "家中整洁"}}))
        .await;
    assert!(body["errors"].is_null(), "{body}");
    let v = &body["data"]["recordVisit"];
    assert_eq!(v["version"], 1);
    let id: uuid::Uuid = v["id"].as_str().unwrap().parse().unwrap();
    let stored = ent::visit::Entity::find_by_id(id)
        .one(app.conn())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.visitor.as_deref(), Some("teacher-a1"));
    assert_eq!(stored.organization_id, Some(fx.school_a));
    let events = ent::change_event::Entity::find()
        .filter(ent::change_event::Column::RecordId.eq(id))
        .all(app.conn())
        .await
        .unwrap();
    assert_eq!(events.len(), 1, "one outbox row");
    assert_eq!(events[0].op, "CREATE");
    assert!(events[0].changed["fields"]["observations"].is_array());
    let after = (
        count::<ent::change_event::Entity>(&app).await,
        count::<ent::audit_entry::Entity>(&app).await,
    );
    assert_eq!(after.0, before.0 + 1);
    assert!(after.1 > before.1, "a WRITE audit entry");
    let writes = ent::audit_entry::Entity::find()
        .filter(ent::audit_entry::Column::Action.eq("WRITE"))
        .all(app.conn())
        .await
        .unwrap();
    assert!(writes
        .iter()
        .any(|a| a.record_ids[0] == id.to_string() && a.sub == "teacher-a1"));
});

backend_test!(visit_validation_names_field_and_rule, |backend| {
    let app = TestApp::spawn(backend).await;
    let fx = fixtures::load(app.conn(), &app.state.vault).await.unwrap();
    let t = app.token(
        "EDUCATION",
        "education.head_teacher",
        Some(&fx.school_a.to_string()),
        "450102",
        "teacher-a1",
    );
    let body = app
        .gql(
            &t,
            RECORD_VISIT,
            json!({"i": {"childId": fx.c1.to_string(), "kind": "TALK"}}),
        )
        .await;
    assert_eq!(error_codes(&body), vec!["BAD_USER_INPUT"], "{body}");
    assert_eq!(body["errors"][0]["extensions"]["field"], "input.dueDate");
    let body = app.gql(&t, RECORD_VISIT, json!({"i": {"childId": fx.c1.to_string(), "kind": "TALK", "doneAt": "2099-01-01T00:00:00Z"}})).await;
    assert_eq!(
        body["errors"][0]["extensions"]["field"], "input.doneAt",
        "{body}"
    );
    assert!(body["errors"][0]["message"]
        .as_str()
        .unwrap()
        .contains("future"));
    // A child outside the teacher's class does not exist for them.
    let body = app.gql(&t, RECORD_VISIT, json!({"i": {"childId": fx.c3.to_string(), "kind": "TALK", "doneAt": "2026-10-01T00:00:00Z"}})).await;
    assert_eq!(error_codes(&body), vec!["NOT_FOUND"], "{body}");
});

const UPDATE_VISIT: &str = "mutation($id: ID!, $v: Int!, $i: UpdateVisitInput!) { updateVisit(id: $id, expectedVersion: $v, input: $i) { id version } }";

backend_test!(concurrent_updates_exactly_one_wins, |backend| {
    let app = TestApp::spawn(backend).await;
    let fx = fixtures::load(app.conn(), &app.state.vault).await.unwrap();
    let t = app.token(
        "EDUCATION",
        "education.head_teacher",
        Some(&fx.school_a.to_string()),
        "450102",
        "teacher-a1",
    );
    let races = if backend == Backend::Sqlite { 30 } else { 100 };
    for round in 0..races {
        let body = app.gql(&t, RECORD_VISIT, json!({"i": {"childId": fx.c1.to_string(), "kind": "TALK", "dueDate": "2026-12-01"}})).await;
        let id = body["data"]["recordVisit"]["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let a = app.gql(
            &t,
            UPDATE_VISIT,
            json!({"id": id, "v": 1, "i": {"observations": format!("a{round}")}}),
        );
        let b = app.gql(
            &t,
            UPDATE_VISIT,
            json!({"id": id, "v": 1, "i": {"observations": format!("b{round}")}}),
        );
        let (ra, rb) = tokio::join!(a, b);
        let ok = [&ra, &rb].iter().filter(|r| r["errors"].is_null()).count();
        let conflicts: Vec<&Value> = [&ra, &rb]
            .into_iter()
            .filter(|r| error_codes(r) == vec!["CONFLICT"])
            .collect();
        assert_eq!(ok, 1, "exactly one wins: {ra} {rb}");
        assert_eq!(conflicts.len(), 1, "the other conflicts: {ra} {rb}");
        let details = &conflicts[0]["errors"][0]["extensions"]["details"];
        assert_eq!(details["currentVersion"], 2, "{details}");
        assert!(
            details["changedFields"]
                .as_array()
                .unwrap()
                .iter()
                .any(|f| f == "observations"),
            "{details}"
        );
    }
});

backend_test!(failed_mutation_leaves_no_trace, |backend| {
    let app = TestApp::spawn(backend).await;
    fixtures::load(app.conn(), &app.state.vault).await.unwrap();
    let t = app.token(
        "CIVIL_AFFAIRS",
        "civil_affairs.case_officer",
        None,
        "450102",
        "officer-1",
    );
    let before = (
        count::<ent::child::Entity>(&app).await,
        count::<ent::change_event::Entity>(&app).await,
        count::<ent::audit_entry::Entity>(&app).await,
    );
    // The child is inserted first; its second category then fails validation: all rolls back.
    let body = app
        .gql(
            &t,
            "mutation($i: RegisterChildInput!) { registerChild(input: $i) { id } }",
            json!({"i": {"name": "黄小强", "gender": "MALE", "birthDate": "2015-05-05", "residenceRegionCode": "450102001001",
                "difficultyCategories": [{"category": "LEFT_BEHIND", "validFrom": "2025-01-01"}, {"category": "MIGRANT", "validFrom": "2025-01-01", "validTo": "2024-01-01"}]}}),
        )
        .await;
    assert_eq!(error_codes(&body), vec!["BAD_USER_INPUT"], "{body}");
    assert_eq!(
        body["errors"][0]["extensions"]["field"],
        "input.difficultyCategories[1].validTo"
    );
    let after = (
        count::<ent::child::Entity>(&app).await,
        count::<ent::change_event::Entity>(&app).await,
        count::<ent::audit_entry::Entity>(&app).await,
    );
    assert_eq!(
        before, after,
        "no child, no history, no audit from a failed mutation"
    );
});

backend_test!(register_child_validates_and_detects_duplicates, |backend| {
    let app = TestApp::spawn(backend).await;
    fixtures::load(app.conn(), &app.state.vault).await.unwrap();
    let t = app.token(
        "CIVIL_AFFAIRS",
        "civil_affairs.case_officer",
        None,
        "450102",
        "officer-1",
    );
    let q = "mutation($i: RegisterChildInput!) { registerChild(input: $i) { id displayName idNumber } }";
    let id = carehub_api::domain::idnumber::synthesize(
        "450102",
        chrono::NaiveDate::from_ymd_opt(2016, 2, 29).unwrap(),
        101,
    );
    let base = json!({"name": "周小燕", "idNumber": id, "gender": "FEMALE", "birthDate": "2016-02-29", "residenceRegionCode": "450102001002",
        "difficultyCategories": [{"category": "LEFT_BEHIND", "validFrom": "2025-01-01"}]});
    let ok = app.gql(&t, q, json!({"i": base})).await;
    assert!(ok["errors"].is_null(), "{ok}");
    assert_eq!(ok["data"]["registerChild"]["displayName"], "周*燕");
    assert_eq!(
        ok["data"]["registerChild"]["idNumber"],
        carehub_api::domain::idnumber::mask(&id, 4, 4)
    );
    // The same ID number again: conflict with the existing id (it is in scope).
    let dup = app.gql(&t, q, json!({"i": base})).await;
    assert_eq!(error_codes(&dup), vec!["CONFLICT"], "{dup}");
    assert_eq!(
        dup["errors"][0]["extensions"]["details"]["existingId"],
        ok["data"]["registerChild"]["id"]
    );
    // A wrong check digit, a disagreeing birth date, an unknown region.
    let mut bad = base.clone();
    let mut wrong = id.clone();
    wrong.pop();
    wrong.push(if id.ends_with('0') { '1' } else { '0' });
    bad["idNumber"] = json!(wrong);
    let body = app.gql(&t, q, json!({"i": bad})).await;
    assert_eq!(
        body["errors"][0]["extensions"]["field"], "input.idNumber",
        "{body}"
    );
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("check digit"),
        "{body}"
    );
    let mut bad = base.clone();
    bad["birthDate"] = json!("2016-03-01");
    let body = app.gql(&t, q, json!({"i": bad})).await;
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("birth date"),
        "{body}"
    );
    let mut bad = base.clone();
    bad["idNumber"] = Value::Null;
    bad["name"] = json!("另一个");
    bad["residenceRegionCode"] = json!("450102001999");
    let body = app.gql(&t, q, json!({"i": bad})).await;
    assert_eq!(
        body["errors"][0]["extensions"]["field"], "input.residenceRegionCode",
        "{body}"
    );
});

backend_test!(referral_workflow_sides_and_states, |backend| {
    let app = TestApp::spawn(backend).await;
    let fx = fixtures::load(app.conn(), &app.state.vault).await.unwrap();
    let psych = app.token(
        "EDUCATION",
        "education.psych_teacher",
        Some(&fx.school_a.to_string()),
        "450102",
        "psych-a",
    );
    let clinician = app.token(
        "HEALTH",
        "health.clinician",
        Some(&fx.hospital.to_string()),
        "45",
        "dr-1",
    );
    let create = "mutation($i: CreateReferralInput!) { createReferral(input: $i) { id status version slaDueAt } }";
    let body = app
        .gql(&psych, create, json!({"i": {"childId": fx.c2.to_string(), "toOrganizationId": fx.hospital.to_string(), "direction": "UP", "reason": "持续低落", "urgency": "ROUTINE", "authorizedView": ["G-ID-min", "G-RISK"], "send": true}}))
        .await;
    assert!(body["errors"].is_null(), "{body}");
    let r = &body["data"]["createReferral"];
    assert_eq!(r["status"], "SENT");
    let id = r["id"].as_str().unwrap().to_owned();
    let tr = "mutation($id: ID!, $v: Int!, $s: ReferralStatus!, $n: String) { transitionReferral(id: $id, expectedVersion: $v, status: $s, note: $n) { status version } }";
    // The sender may not accept its own referral.
    let body = app
        .gql(&psych, tr, json!({"id": id, "v": 1, "s": "RECEIVED"}))
        .await;
    assert_eq!(error_codes(&body), vec!["FORBIDDEN"], "{body}");
    // Illegal jump: names the current state and the allowed next ones.
    let body = app
        .gql(
            &clinician,
            tr,
            json!({"id": id, "v": 1, "s": "COMPLETED", "n": "done"}),
        )
        .await;
    assert_eq!(error_codes(&body), vec!["BAD_USER_INPUT"], "{body}");
    let msg = body["errors"][0]["message"].as_str().unwrap();
    assert!(
        msg.contains("SENT") && msg.contains("RECEIVED") && msg.contains("REVOKED"),
        "{msg}"
    );
    // The receiver moves it along; a rejection needs a reason.
    let body = app
        .gql(&clinician, tr, json!({"id": id, "v": 1, "s": "RECEIVED"}))
        .await;
    assert_eq!(
        body["data"]["transitionReferral"]["status"], "RECEIVED",
        "{body}"
    );
    let body = app
        .gql(&clinician, tr, json!({"id": id, "v": 2, "s": "REJECTED"}))
        .await;
    assert_eq!(body["errors"][0]["extensions"]["field"], "note", "{body}");
    let body = app
        .gql(&clinician, tr, json!({"id": id, "v": 2, "s": "ACCEPTED"}))
        .await;
    assert_eq!(
        body["data"]["transitionReferral"]["status"], "ACCEPTED",
        "{body}"
    );
    let transitions = ent::workflow_transition::Entity::find()
        .filter(ent::workflow_transition::Column::RecordId.eq(id.parse::<uuid::Uuid>().unwrap()))
        .all(app.conn())
        .await
        .unwrap();
    let path: Vec<String> = transitions.iter().map(|t| t.to_status.clone()).collect();
    assert_eq!(path, vec!["SENT", "RECEIVED", "ACCEPTED"]);
    assert!(transitions.iter().all(|t| !t.actor.is_empty()));
    // Every change event of the referral carries its child's region (subscriptions route by
    // it), including the updates, whose write loaded the child only to check the scope.
    let child = ent::child::Entity::find_by_id(fx.c2)
        .one(app.conn())
        .await
        .unwrap()
        .unwrap();
    let events = ent::change_event::Entity::find()
        .filter(ent::change_event::Column::RecordId.eq(id.parse::<uuid::Uuid>().unwrap()))
        .all(app.conn())
        .await
        .unwrap();
    let ops: Vec<(&str, Option<i64>)> = events
        .iter()
        .map(|e| (e.op.as_str(), e.region_code))
        .collect();
    let region = Some(child.residence_region_code);
    assert_eq!(
        ops,
        vec![("CREATE", region), ("UPDATE", region), ("UPDATE", region)],
        "{events:?}"
    );
});

backend_test!(harm_reports_go_to_the_police, |backend| {
    let app = TestApp::spawn(backend).await;
    let fx = fixtures::load(app.conn(), &app.state.vault).await.unwrap();
    let t = app.token(
        "EDUCATION",
        "education.head_teacher",
        Some(&fx.school_a.to_string()),
        "450102",
        "teacher-a1",
    );
    let q = "mutation($i: CreateReportInput!) { createReport(input: $i) { id status urgency dueBy reportedAt } }";
    let body = app.gql(&t, q, json!({"i": {"childId": fx.c1.to_string(), "category": "ABUSE", "discoveredAt": "2026-10-30T08:00:00Z", "reportedTo": ["EDUCATION"], "description": "身上有伤"}})).await;
    assert_eq!(
        body["errors"][0]["extensions"]["field"], "input.reportedTo",
        "{body}"
    );
    let body = app.gql(&t, q, json!({"i": {"childId": fx.c1.to_string(), "category": "ABUSE", "discoveredAt": "2026-10-30T08:00:00Z", "reportedTo": ["POLICE", "EDUCATION"], "description": "身上有伤"}})).await;
    assert!(body["errors"].is_null(), "{body}");
    let r = &body["data"]["createReport"];
    assert_eq!(r["urgency"], "URGENT");
    let reported = chrono::DateTime::parse_from_rfc3339(r["reportedAt"].as_str().unwrap()).unwrap();
    let due = chrono::DateTime::parse_from_rfc3339(r["dueBy"].as_str().unwrap()).unwrap();
    assert_eq!((due - reported).num_hours(), 24);
});

backend_test!(reveal_id_number_is_restricted_and_audited, |backend| {
    let app = TestApp::spawn(backend).await;
    let fx = fixtures::load(app.conn(), &app.state.vault).await.unwrap();
    let q = "mutation($c: ID!) { revealIdNumber(childId: $c, reason: \"eligibility check\") }";
    let officer = app.token(
        "CIVIL_AFFAIRS",
        "civil_affairs.case_officer",
        None,
        "450102",
        "officer-1",
    );
    let body = app.gql(&officer, q, json!({"c": fx.c1.to_string()})).await;
    let clear = body["data"]["revealIdNumber"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert_eq!(clear.len(), 18, "{body}");
    assert!(carehub_api::domain::idnumber::IdNumber::parse(&clear).is_ok());
    let reveals = ent::audit_entry::Entity::find()
        .filter(ent::audit_entry::Column::Action.eq("REVEAL_ID"))
        .all(app.conn())
        .await
        .unwrap();
    assert_eq!(reveals.len(), 1);
    assert_eq!(reveals[0].reason.as_deref(), Some("eligibility check"));
    let teacher = app.token(
        "EDUCATION",
        "education.head_teacher",
        Some(&fx.school_a.to_string()),
        "450102",
        "teacher-a1",
    );
    let body = app.gql(&teacher, q, json!({"c": fx.c1.to_string()})).await;
    assert_eq!(error_codes(&body), vec!["FORBIDDEN"], "{body}");
    assert!(body["data"]["revealIdNumber"].is_null());
});

backend_test!(idempotent_retry_returns_the_first_answer_once, |backend| {
    let app = TestApp::spawn(backend).await;
    let fx = fixtures::load(app.conn(), &app.state.vault).await.unwrap();
    let t = app.token(
        "EDUCATION",
        "education.head_teacher",
        Some(&fx.school_a.to_string()),
        "450102",
        "teacher-a1",
    );
    let req = json!({"query": RECORD_VISIT, "variables": {"i": {"childId": fx.c1.to_string(), "kind": "HEAD_TEACHER_HOME_VISIT", "doneAt": "2026-10-21T09:00:00Z", "observations": "retried"}}});
    let before = count::<ent::visit::Entity>(&app).await;

    // The same request three times under one key (a client retrying after a lost answer).
    let key = [("Idempotency-Key", "visit-2026-10-21-c1")];
    let (s1, first) = app.post(req.clone(), Some(&t), &key).await;
    let (s2, second) = app.post(req.clone(), Some(&t), &key).await;
    let (s3, third) = app.post(req.clone(), Some(&t), &key).await;
    assert_eq!((s1, s2, s3), (200, 200, 200), "{first} {second} {third}");
    assert!(first["errors"].is_null(), "{first}");
    assert_eq!(
        first["data"], second["data"],
        "the stored first answer is replayed"
    );
    assert_eq!(first["data"], third["data"]);
    assert_eq!(
        count::<ent::visit::Entity>(&app).await,
        before + 1,
        "written once"
    );

    // The key with a different request is refused; a new key writes again.
    let mut other = req.clone();
    other["variables"]["i"]["observations"] = json!("a different visit");
    let (_, body) = app.post(other.clone(), Some(&t), &key).await;
    assert!(!error_codes(&body).is_empty(), "{body}");
    assert_eq!(count::<ent::visit::Entity>(&app).await, before + 1);
    let (_, body) = app
        .post(
            other,
            Some(&t),
            &[("Idempotency-Key", "visit-2026-10-21-c1-b")],
        )
        .await;
    assert!(body["errors"].is_null(), "{body}");
    assert_eq!(count::<ent::visit::Entity>(&app).await, before + 2);
});

backend_test!(
    change_feed_resumes_after_its_cursor_without_gaps,
    |backend| {
        let app = TestApp::spawn(backend).await;
        let fx = fixtures::load(app.conn(), &app.state.vault).await.unwrap();
        let teacher = crate::remits::role_token(&app, &fx, "education.head_teacher");
        let officer = crate::remits::role_token(&app, &fx, "civil_affairs.case_officer");
        const FEED: &str = "query($a: String, $n: Int) { changes(after: $a, first: $n, entities: [\"Visit\"]) { cursor recordId op } }";

        // Four concurrent writers record visits while a reader pages through the feed.
        let writers = (0..4).map(|w| {
        let (app, t, child) = (&app, teacher.clone(), fx.c1.to_string());
        async move {
            let mut ids = Vec::new();
            for n in 0..10 {
                let b = app
                    .gql(&t, RECORD_VISIT, json!({"i": {"childId": child, "kind": "TALK", "doneAt": "2026-10-22T09:00:00Z", "observations": format!("writer {w} visit {n}")}}))
                    .await;
                assert!(b["errors"].is_null(), "{b}");
                ids.push(b["data"]["recordVisit"]["id"].as_str().unwrap().to_owned());
            }
            ids
        }
    });
        let reader = async {
            let mut seen: Vec<String> = Vec::new();
            let mut cursor: Option<String> = None;
            for _ in 0..40 {
                let b = app.gql(&officer, FEED, json!({"a": cursor, "n": 7})).await;
                assert!(b["errors"].is_null(), "{b}");
                for e in b["data"]["changes"].as_array().unwrap() {
                    seen.push(e["recordId"].as_str().unwrap().to_owned());
                    cursor = e["cursor"].as_str().map(str::to_owned);
                }
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
            (seen, cursor)
        };
        let (written, (mut seen, mut cursor)) =
            tokio::join!(futures::future::join_all(writers), reader);

        // Drain what is left after the writers finished.
        loop {
            let b = app.gql(&officer, FEED, json!({"a": cursor, "n": 50})).await;
            let page = b["data"]["changes"].as_array().unwrap().clone();
            if page.is_empty() {
                break;
            }
            for e in page {
                seen.push(e["recordId"].as_str().unwrap().to_owned());
                cursor = e["cursor"].as_str().map(str::to_owned);
            }
        }
        let written: std::collections::BTreeSet<String> = written.into_iter().flatten().collect();
        let seen_set: std::collections::BTreeSet<String> = seen.iter().cloned().collect();
        assert_eq!(seen.len(), seen_set.len(), "no event twice: {seen:?}");
        assert!(
        written.is_subset(&seen_set),
        "every committed visit appears exactly once after its predecessor's cursor; missing {:?}",
        written.difference(&seen_set).collect::<Vec<_>>()
    );
    }
);

backend_test!(outbox_relay_heals_a_position_behind_the_feed, |backend| {
    // The relay numbers new change events after the position it keeps in outbox_position.
    // A position behind the feed (a restored backup, a hand-edited row) would hand out a
    // cursor that exists already: the relay must put its position back on the feed's end
    // and go on, losing and duplicating nothing.
    use sea_orm::ConnectionTrait;
    let app = TestApp::spawn(backend).await;
    let fx = fixtures::load(app.conn(), &app.state.vault).await.unwrap();
    let teacher = crate::remits::role_token(&app, &fx, "education.head_teacher");
    let officer = crate::remits::role_token(&app, &fx, "civil_affairs.case_officer");
    const FEED: &str = "query($a: String) { changes(after: $a, first: 100, entities: [\"Visit\"]) { cursor recordId } }";
    let visit = |n: u32| {
        let (app, t, child) = (&app, teacher.clone(), fx.c1.to_string());
        async move {
            let b = app
                    .gql(&t, RECORD_VISIT, json!({"i": {"childId": child, "kind": "TALK", "doneAt": "2026-10-22T09:00:00Z", "observations": format!("relay {n}")}}))
                    .await;
            assert!(b["errors"].is_null(), "{b}");
            b["data"]["recordVisit"]["id"].as_str().unwrap().to_owned()
        }
    };
    // Waits until `id` is in the feed after `after`; returns the feed's entries.
    let feed_with = |id: String, after: Option<String>| {
        let (app, officer) = (&app, officer.clone());
        async move {
            for _ in 0..100 {
                let b = app.gql(&officer, FEED, json!({"a": after})).await;
                assert!(b["errors"].is_null(), "{b}");
                let page = b["data"]["changes"].as_array().unwrap().clone();
                if page.iter().any(|e| e["recordId"] == json!(id)) {
                    return page;
                }
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
            panic!("visit {id} never reached the change feed");
        }
    };

    let first = visit(1).await;
    let page = feed_with(first.clone(), None).await;
    let first_cursor = page
        .iter()
        .find(|e| e["recordId"] == json!(first))
        .and_then(|e| e["cursor"].as_str())
        .unwrap()
        .to_owned();

    app.conn()
        .execute_unprepared("UPDATE outbox_position SET last_cursor = 0")
        .await
        .unwrap();
    let second = visit(2).await;
    let after = feed_with(second.clone(), Some(first_cursor.clone())).await;
    let ids: Vec<&str> = after
        .iter()
        .map(|e| e["recordId"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        vec![second.as_str()],
        "the second visit follows the first, once"
    );
    let all = feed_with(second.clone(), None).await;
    let mut cursors: Vec<&str> = all.iter().map(|e| e["cursor"].as_str().unwrap()).collect();
    let n = cursors.len();
    cursors.dedup();
    assert_eq!(cursors.len(), n, "no cursor handed out twice: {all:?}");
});
