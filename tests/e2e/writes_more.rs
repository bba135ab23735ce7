//! Writes, second half: guardians, enrollments, care plans (approval, immutability, revision),
//! pairings, crisis events, return to school (enrollment updated in the same transaction),
//! victim aid, service records (own entries only), lawful bases (withdrawal), supervision
//! findings and flags — each mutation's happy path and its main validation failures.

use carehub_entity as ent;
use carehub_tests::fixtures::Fixture;
use carehub_tests::*;
use chrono::NaiveDate;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, IntoActiveModel, PaginatorTrait, QueryFilter,
};
use serde_json::{json, Value};
use uuid::Uuid;

/// Asserts a response has no errors and returns `data.<field>`.
fn data<'a>(body: &'a Value, field: &str) -> &'a Value {
    assert!(body["errors"].is_null(), "unexpected errors: {body}");
    &body["data"][field]
}

/// Asserts a single error with `code` (and, for BAD_USER_INPUT, the named input field).
fn refused(body: &Value, code: &str, field: Option<&str>) {
    assert_eq!(error_codes(body), vec![code], "{body}");
    if let Some(f) = field {
        assert_eq!(body["errors"][0]["extensions"]["field"], f, "{body}");
    }
}

fn message(body: &Value) -> String {
    body["errors"][0]["message"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

fn id_of(v: &Value) -> Uuid {
    v["id"].as_str().expect("id").parse().expect("uuid")
}

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

fn psych(app: &TestApp, fx: &Fixture, sub: &str) -> String {
    app.token(
        "EDUCATION",
        "education.psych_teacher",
        Some(&fx.school_a.to_string()),
        "450102",
        sub,
    )
}

fn head_teacher(app: &TestApp, fx: &Fixture, sub: &str) -> String {
    app.token(
        "EDUCATION",
        "education.head_teacher",
        Some(&fx.school_a.to_string()),
        "450102",
        sub,
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

async fn events_of(app: &TestApp, id: Uuid) -> Vec<ent::change_event::Model> {
    ent::change_event::Entity::find()
        .filter(ent::change_event::Column::RecordId.eq(id))
        .all(app.conn())
        .await
        .unwrap()
}

async fn transitions_of(app: &TestApp, id: Uuid) -> Vec<String> {
    let mut rows = ent::workflow_transition::Entity::find()
        .filter(ent::workflow_transition::Column::RecordId.eq(id))
        .all(app.conn())
        .await
        .unwrap();
    rows.sort_by_key(|t| (t.at, t.id));
    rows.into_iter().map(|t| t.to_status).collect()
}

// ---- Guardians ---------------------------------------------------------------------------

const ADD_GUARDIAN: &str = "mutation($i: AddGuardianInput!) { addGuardian(input: $i) { id version name relation phone idNumber guardianshipStatus } }";
const UPDATE_GUARDIAN: &str = "mutation($id: ID!, $v: Int!, $i: UpdateGuardianInput!) { updateGuardian(id: $id, expectedVersion: $v, input: $i) { id version phone situation } }";
const ARCHIVE_GUARDIAN: &str = "mutation($id: ID!, $v: Int!) { archiveGuardian(id: $id, expectedVersion: $v, reason: \"recorded twice\") { id archivedAt } }";

backend_test!(guardian_add_update_archive, |backend| {
    let (app, fx) = setup(backend).await;
    let t = officer(&app, &fx);
    let idn = carehub_api::domain::idnumber::synthesize(
        "450102",
        NaiveDate::from_ymd_opt(1985, 4, 2).unwrap(),
        12,
    );
    let base = json!({"childId": fx.c1.to_string(), "name": "李父", "relation": "FATHER", "isLegalGuardian": true, "isActualCaregiver": false,
        "phone": "139-0000-1111", "idNumber": idn, "guardianshipStatus": "ABSENT", "situation": "外出务工"});
    let body = app.gql(&t, ADD_GUARDIAN, json!({"i": base})).await;
    let g = data(&body, "addGuardian");
    assert_eq!(g["version"], 1);
    assert_eq!(g["relation"], "FATHER");
    // The ID number is shown masked; stored encrypted with a blind index, never in clear.
    assert_eq!(
        g["idNumber"],
        carehub_api::domain::idnumber::mask(&idn, 4, 4)
    );
    let id = id_of(g);
    let stored = ent::guardian::Entity::find_by_id(id)
        .one(app.conn())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        stored.id_number_bidx.as_deref(),
        Some(app.state.vault.blind_index(&idn).as_str())
    );
    assert!(stored
        .id_number_enc
        .as_deref()
        .is_some_and(|e| !e.contains(&idn)));
    assert_eq!(
        app.state
            .vault
            .decrypt(stored.id_number_enc.as_deref().unwrap())
            .unwrap(),
        idn
    );
    let events = events_of(&app, id).await;
    assert_eq!(events.len(), 1);
    assert!(
        events[0].changed["fields"].get("id_number_enc").is_none(),
        "no ciphertext in history"
    );

    // The same ID number again for the same child: conflict naming the existing guardian.
    let body = app.gql(&t, ADD_GUARDIAN, json!({"i": base})).await;
    refused(&body, "CONFLICT", None);
    assert_eq!(
        body["errors"][0]["extensions"]["details"]["existingId"],
        id.to_string()
    );
    // A wrong check digit; a phone that is not one; an empty name.
    let mut bad = base.clone();
    let mut wrong = idn.clone();
    wrong.pop();
    wrong.push(if idn.ends_with('0') { '1' } else { '0' });
    bad["idNumber"] = json!(wrong);
    let body = app.gql(&t, ADD_GUARDIAN, json!({"i": bad})).await;
    refused(&body, "BAD_USER_INPUT", Some("input.idNumber"));
    assert!(message(&body).contains("check digit"), "{body}");
    let mut bad = base.clone();
    bad["idNumber"] = Value::Null;
    bad["phone"] = json!("call me");
    let body = app.gql(&t, ADD_GUARDIAN, json!({"i": bad})).await;
    refused(&body, "BAD_USER_INPUT", Some("input.phone"));
    let mut bad = base.clone();
    bad["idNumber"] = Value::Null;
    bad["name"] = json!("  ");
    let body = app.gql(&t, ADD_GUARDIAN, json!({"i": bad})).await;
    refused(&body, "BAD_USER_INPUT", Some("input.name"));
    // A head teacher does not register guardians.
    let body = app.gql(&head_teacher(&app, &fx, "teacher-a1"), ADD_GUARDIAN, json!({"i": {"childId": fx.c1.to_string(), "name": "某人", "relation": "OTHER", "isLegalGuardian": false, "isActualCaregiver": true}})).await;
    refused(&body, "FORBIDDEN", None);

    // Update with the version read; a stale version conflicts and writes nothing.
    let body = app.gql(&t, UPDATE_GUARDIAN, json!({"id": id.to_string(), "v": 1, "i": {"phone": "13911112222", "situation": "已返乡"}})).await;
    let u = data(&body, "updateGuardian");
    assert_eq!(
        (u["version"].as_i64(), u["phone"].as_str()),
        (Some(2), Some("13911112222"))
    );
    let body = app
        .gql(
            &t,
            UPDATE_GUARDIAN,
            json!({"id": id.to_string(), "v": 1, "i": {"situation": "again"}}),
        )
        .await;
    refused(&body, "CONFLICT", None);
    assert_eq!(
        body["errors"][0]["extensions"]["details"]["currentVersion"],
        2
    );

    // Archive: soft delete, audited with the reason; an archived guardian is not edited.
    let body = app
        .gql(&t, ARCHIVE_GUARDIAN, json!({"id": id.to_string(), "v": 2}))
        .await;
    assert!(data(&body, "archiveGuardian")["archivedAt"].is_string());
    assert!(
        ent::guardian::Entity::find_by_id(id)
            .one(app.conn())
            .await
            .unwrap()
            .is_some(),
        "never hard-deleted"
    );
    let audits = ent::audit_entry::Entity::find()
        .filter(ent::audit_entry::Column::Reason.eq("recorded twice"))
        .all(app.conn())
        .await
        .unwrap();
    assert_eq!(audits.len(), 1);
    let body = app
        .gql(
            &t,
            UPDATE_GUARDIAN,
            json!({"id": id.to_string(), "v": 3, "i": {"situation": "x"}}),
        )
        .await;
    refused(&body, "NOT_FOUND", None);
});

// ---- Enrollments -------------------------------------------------------------------------

const RECORD_ENROLLMENT: &str = "mutation($i: RecordEnrollmentInput!) { recordEnrollment(input: $i) { id version schoolId schoolYear grade className status } }";

backend_test!(enrollment_record_update_archive, |backend| {
    let (app, fx) = setup(backend).await;
    let t = psych(&app, &fx, "psych-a");
    let next = json!({"childId": fx.c1.to_string(), "schoolId": fx.school_a.to_string(), "schoolYear": 2027, "grade": 6, "className": "六年级1班", "headTeacher": "teacher-a1"});
    // c1 is ENROLLED for 2026 already: a second current enrollment that year conflicts.
    let mut same_year = next.clone();
    same_year["schoolYear"] = json!(2026);
    let body = app
        .gql(&t, RECORD_ENROLLMENT, json!({"i": same_year}))
        .await;
    refused(&body, "CONFLICT", None);
    // The school must be a school; grades run 1–12; the school year is not far in the future.
    let mut bad = next.clone();
    bad["schoolId"] = json!(fx.hospital.to_string());
    let body = app.gql(&t, RECORD_ENROLLMENT, json!({"i": bad})).await;
    refused(&body, "BAD_USER_INPUT", Some("input.schoolId"));
    assert!(message(&body).contains("SCHOOL"), "{body}");
    let mut bad = next.clone();
    bad["grade"] = json!(13);
    refused(
        &app.gql(&t, RECORD_ENROLLMENT, json!({"i": bad})).await,
        "BAD_USER_INPUT",
        Some("input.grade"),
    );
    let mut bad = next.clone();
    bad["schoolYear"] = json!(2031);
    refused(
        &app.gql(&t, RECORD_ENROLLMENT, json!({"i": bad})).await,
        "BAD_USER_INPUT",
        Some("input.schoolYear"),
    );

    let body = app.gql(&t, RECORD_ENROLLMENT, json!({"i": next})).await;
    let e = data(&body, "recordEnrollment");
    assert_eq!(
        (
            e["status"].as_str(),
            e["grade"].as_i64(),
            e["schoolYear"].as_i64()
        ),
        (Some("ENROLLED"), Some(6), Some(2027))
    );
    let id = id_of(e);
    let q = "mutation($id: ID!, $v: Int!, $i: UpdateEnrollmentInput!) { updateEnrollment(id: $id, expectedVersion: $v, input: $i) { version grade status } }";
    let body = app
        .gql(
            &t,
            q,
            json!({"id": id.to_string(), "v": 1, "i": {"grade": 0}}),
        )
        .await;
    refused(&body, "BAD_USER_INPUT", Some("input.grade"));
    let body = app
        .gql(
            &t,
            q,
            json!({"id": id.to_string(), "v": 1, "i": {"grade": 7, "status": "SUSPENDED"}}),
        )
        .await;
    let u = data(&body, "updateEnrollment");
    assert_eq!(
        (
            u["version"].as_i64(),
            u["grade"].as_i64(),
            u["status"].as_str()
        ),
        (Some(2), Some(7), Some("SUSPENDED"))
    );
    let a = "mutation($id: ID!, $v: Int!) { archiveEnrollment(id: $id, expectedVersion: $v, reason: \"entered twice\") { version archivedAt } }";
    let body = app.gql(&t, a, json!({"id": id.to_string(), "v": 2})).await;
    assert!(data(&body, "archiveEnrollment")["archivedAt"].is_string());
    let ops: Vec<String> = events_of(&app, id)
        .await
        .into_iter()
        .map(|e| e.op)
        .collect();
    assert_eq!(ops, vec!["CREATE", "UPDATE", "UPDATE"]);
});

// ---- Care plans --------------------------------------------------------------------------

const CREATE_PLAN: &str = "mutation($i: CreateCarePlanInput!) { createCarePlan(input: $i) { id version status planVersion leadWorker approver riskLevelAtStart goals interventions { action responsibleAgency doneAt } } }";
const UPDATE_PLAN: &str = "mutation($id: ID!, $v: Int!, $i: UpdateCarePlanInput!) { updateCarePlan(id: $id, expectedVersion: $v, input: $i) { id version status goals interventions { action } } }";
const TRANSITION_PLAN: &str = "mutation($id: ID!, $v: Int!, $s: CarePlanStatus!, $n: String) { transitionCarePlan(id: $id, expectedVersion: $v, status: $s, note: $n) { id version status approvedAt } }";
const REVISE_PLAN: &str = "mutation($id: ID!, $i: UpdateCarePlanInput!) { reviseCarePlan(id: $id, input: $i, reason: \"new stressor\") { id version status planVersion previousVersionId goals approver interventions { action } } }";
const INTERVENTION_DONE: &str = "mutation($id: ID!, $at: DateTime!) { recordInterventionDone(interventionId: $id, doneAt: $at) { id interventions { action doneAt } } }";

backend_test!(
    care_plan_lifecycle_approval_immutability_revision,
    |backend| {
        let (app, fx) = setup(backend).await;
        // The psychology teacher leads; the head teacher of c2's class approves.
        let lead = psych(&app, &fx, "psych-a");
        let approver = head_teacher(&app, &fx, "teacher-a2");
        let input = json!({"childId": fx.c2.to_string(), "kind": "SCHOOL_ONE_STUDENT_ONE_PLAN", "triggerScreeningId": fx.c2_screening.to_string(),
        "goals": "情绪稳定，按时到校", "reviewDue": "2027-06-30", "approver": "teacher-a2",
        "interventions": [{"action": "每周谈心", "responsibleAgency": "EDUCATION", "responsibleWorker": "psych-a", "frequency": "weekly"},
                          {"action": "家访", "responsibleAgency": "CIVIL_AFFAIRS", "due": "2026-12-15"}]});

        // Validation: the trigger must be this child's, review dates not past, four eyes, actions named.
        let mut bad = input.clone();
        bad["triggerScreeningId"] = json!(fx.c1_screening.to_string());
        refused(
            &app.gql(&lead, CREATE_PLAN, json!({"i": bad})).await,
            "BAD_USER_INPUT",
            Some("input.triggerScreeningId"),
        );
        let mut bad = input.clone();
        bad["reviewDue"] = json!("2020-01-01");
        refused(
            &app.gql(&lead, CREATE_PLAN, json!({"i": bad})).await,
            "BAD_USER_INPUT",
            Some("input.reviewDue"),
        );
        let mut bad = input.clone();
        bad["approver"] = json!("psych-a");
        refused(
            &app.gql(&lead, CREATE_PLAN, json!({"i": bad})).await,
            "BAD_USER_INPUT",
            Some("input.approver"),
        );
        let mut bad = input.clone();
        bad["interventions"][1]["action"] = json!("");
        refused(
            &app.gql(&lead, CREATE_PLAN, json!({"i": bad})).await,
            "BAD_USER_INPUT",
            Some("input.interventions[1].action"),
        );

        let body = app.gql(&lead, CREATE_PLAN, json!({"i": input})).await;
        let p = data(&body, "createCarePlan");
        assert_eq!(
            (
                p["status"].as_str(),
                p["planVersion"].as_i64(),
                p["version"].as_i64()
            ),
            (Some("DRAFT"), Some(1), Some(1))
        );
        assert_eq!(p["leadWorker"], "psych-a");
        assert_eq!(p["riskLevelAtStart"], "GREEN", "from the trigger screening");
        assert_eq!(p["interventions"].as_array().unwrap().len(), 2);
        let v1 = id_of(p);
        let id = v1.to_string();

        // A draft is edited; its interventions list is replaced.
        let body = app.gql(&lead, UPDATE_PLAN, json!({"id": id, "v": 1, "i": {"goals": "情绪稳定", "interventions": [{"action": "每周谈心"}, {"action": "家访"}, {"action": "同伴结对"}]}})).await;
        let u = data(&body, "updateCarePlan");
        assert_eq!(
            (
                u["version"].as_i64(),
                u["interventions"].as_array().unwrap().len()
            ),
            (Some(2), 3)
        );

        // Submit; only the approver activates or returns, and returning needs a note.
        let body = app
            .gql(
                &lead,
                TRANSITION_PLAN,
                json!({"id": id, "v": 2, "s": "SUBMITTED"}),
            )
            .await;
        assert_eq!(data(&body, "transitionCarePlan")["status"], "SUBMITTED");
        let body = app
            .gql(
                &lead,
                TRANSITION_PLAN,
                json!({"id": id, "v": 3, "s": "ACTIVE"}),
            )
            .await;
        refused(&body, "FORBIDDEN", None);
        assert!(message(&body).contains("approver"), "{body}");
        let body = app
            .gql(
                &approver,
                TRANSITION_PLAN,
                json!({"id": id, "v": 3, "s": "RETURNED"}),
            )
            .await;
        refused(&body, "BAD_USER_INPUT", Some("note"));
        let body = app
            .gql(
                &approver,
                TRANSITION_PLAN,
                json!({"id": id, "v": 3, "s": "RETURNED", "n": "请补充家长沟通"}),
            )
            .await;
        assert_eq!(data(&body, "transitionCarePlan")["status"], "RETURNED");
        let body = app
            .gql(
                &lead,
                UPDATE_PLAN,
                json!({"id": id, "v": 4, "i": {"goals": "情绪稳定；每月与家长沟通"}}),
            )
            .await;
        assert_eq!(data(&body, "updateCarePlan")["version"], 5);
        let body = app
            .gql(
                &lead,
                TRANSITION_PLAN,
                json!({"id": id, "v": 5, "s": "DRAFT"}),
            )
            .await;
        assert_eq!(data(&body, "transitionCarePlan")["status"], "DRAFT");
        let body = app
            .gql(
                &lead,
                TRANSITION_PLAN,
                json!({"id": id, "v": 6, "s": "SUBMITTED"}),
            )
            .await;
        assert_eq!(data(&body, "transitionCarePlan")["status"], "SUBMITTED");
        let body = app
            .gql(
                &approver,
                TRANSITION_PLAN,
                json!({"id": id, "v": 7, "s": "ACTIVE"}),
            )
            .await;
        let a = data(&body, "transitionCarePlan");
        assert_eq!(a["status"], "ACTIVE");
        assert!(a["approvedAt"].is_string());
        assert_eq!(
            transitions_of(&app, v1).await,
            vec![
                "DRAFT",
                "SUBMITTED",
                "RETURNED",
                "DRAFT",
                "SUBMITTED",
                "ACTIVE"
            ]
        );

        // An illegal transition names the current state and the allowed next ones.
        let body = app
            .gql(
                &lead,
                TRANSITION_PLAN,
                json!({"id": id, "v": 8, "s": "DRAFT"}),
            )
            .await;
        refused(&body, "BAD_USER_INPUT", Some("status"));
        let msg = message(&body);
        assert!(
            msg.contains("ACTIVE")
                && msg.contains("REVIEW_DUE")
                && msg.contains("COMPLETED")
                && msg.contains("CLOSED"),
            "{msg}"
        );
        // Closing needs a note.
        refused(
            &app.gql(
                &lead,
                TRANSITION_PLAN,
                json!({"id": id, "v": 8, "s": "CLOSED"}),
            )
            .await,
            "BAD_USER_INPUT",
            Some("note"),
        );

        // An ACTIVE plan's content is immutable.
        let body = app
            .gql(
                &lead,
                UPDATE_PLAN,
                json!({"id": id, "v": 8, "i": {"goals": "改写"}}),
            )
            .await;
        refused(&body, "BAD_USER_INPUT", Some("id"));
        let msg = message(&body);
        assert!(
            msg.contains("ACTIVE") && msg.contains("reviseCarePlan"),
            "{msg}"
        );

        // Interventions of an active plan are recorded done (not in the future, not twice).
        let ivs = ent::care_plan_intervention::Entity::find()
            .filter(ent::care_plan_intervention::Column::CarePlanId.eq(v1))
            .all(app.conn())
            .await
            .unwrap();
        let first = ivs.iter().find(|i| i.position == 1).unwrap().id.to_string();
        refused(
            &app.gql(
                &lead,
                INTERVENTION_DONE,
                json!({"id": first, "at": "2099-01-01T00:00:00Z"}),
            )
            .await,
            "BAD_USER_INPUT",
            Some("doneAt"),
        );
        let body = app
            .gql(
                &lead,
                INTERVENTION_DONE,
                json!({"id": first, "at": "2026-11-20T10:00:00Z"}),
            )
            .await;
        let done = data(&body, "recordInterventionDone");
        assert!(done["interventions"][0]["doneAt"].is_string(), "{done}");
        refused(
            &app.gql(
                &lead,
                INTERVENTION_DONE,
                json!({"id": first, "at": "2026-11-21T10:00:00Z"}),
            )
            .await,
            "BAD_USER_INPUT",
            Some("interventionId"),
        );

        // Revising creates version 2 (a DRAFT with the content copied and the input applied) and
        // keeps version 1 exactly as it was.
        let before = ent::care_plan::Entity::find_by_id(v1)
            .one(app.conn())
            .await
            .unwrap()
            .unwrap();
        let body = app
            .gql(
                &lead,
                REVISE_PLAN,
                json!({"id": id, "i": {"goals": "情绪稳定；增加学业支持"}}),
            )
            .await;
        let r = data(&body, "reviseCarePlan");
        assert_eq!(
            (
                r["status"].as_str(),
                r["planVersion"].as_i64(),
                r["version"].as_i64()
            ),
            (Some("DRAFT"), Some(2), Some(1))
        );
        assert_eq!(r["previousVersionId"], id);
        assert_eq!(r["approver"], "teacher-a2", "copied");
        assert_eq!(r["goals"], "情绪稳定；增加学业支持");
        assert_eq!(r["interventions"].as_array().unwrap().len(), 3, "copied");
        let v2 = id_of(r);
        let after = ent::care_plan::Entity::find_by_id(v1)
            .one(app.conn())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(before, after, "version 1 unchanged");
        // One revision at a time.
        refused(
            &app.gql(&lead, REVISE_PLAN, json!({"id": id, "i": {}}))
                .await,
            "CONFLICT",
            None,
        );
        // A draft is not revised but edited.
        refused(
            &app.gql(&lead, REVISE_PLAN, json!({"id": v2.to_string(), "i": {}}))
                .await,
            "BAD_USER_INPUT",
            Some("id"),
        );

        // Approving version 2 supersedes version 1.
        let v2s = v2.to_string();
        assert_eq!(
            data(
                &app.gql(
                    &lead,
                    TRANSITION_PLAN,
                    json!({"id": v2s, "v": 1, "s": "SUBMITTED"})
                )
                .await,
                "transitionCarePlan"
            )["status"],
            "SUBMITTED"
        );
        assert_eq!(
            data(
                &app.gql(
                    &approver,
                    TRANSITION_PLAN,
                    json!({"id": v2s, "v": 2, "s": "ACTIVE"})
                )
                .await,
                "transitionCarePlan"
            )["status"],
            "ACTIVE"
        );
        let old = ent::care_plan::Entity::find_by_id(v1)
            .one(app.conn())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(old.status, ent::enums::CarePlanStatus::Closed);
        assert_eq!(
            old.goals.as_deref(),
            Some("情绪稳定；每月与家长沟通"),
            "content of version 1 kept"
        );
    }
);

backend_test!(care_plan_submission_needs_complete_content, |backend| {
    let (app, fx) = setup(backend).await;
    let lead = psych(&app, &fx, "psych-a");
    let body = app
        .gql(
            &lead,
            CREATE_PLAN,
            json!({"i": {"childId": fx.c2.to_string(), "kind": "SCHOOL_ONE_STUDENT_ONE_PLAN"}}),
        )
        .await;
    let p = data(&body, "createCarePlan");
    let body = app
        .gql(
            &lead,
            TRANSITION_PLAN,
            json!({"id": p["id"], "v": 1, "s": "SUBMITTED"}),
        )
        .await;
    refused(&body, "BAD_USER_INPUT", Some("status"));
    let msg = message(&body);
    assert!(
        msg.contains("goals")
            && msg.contains("intervention")
            && msg.contains("approver")
            && msg.contains("reviewDue"),
        "{msg}"
    );
    // A child outside the caller's scope does not exist for it.
    let body = app
        .gql(
            &lead,
            CREATE_PLAN,
            json!({"i": {"childId": fx.c3.to_string(), "kind": "COMMUNITY"}}),
        )
        .await;
    refused(&body, "NOT_FOUND", None);
});

// ---- Pairings and crisis events ----------------------------------------------------------

backend_test!(pairing_create_and_end, |backend| {
    let (app, fx) = setup(backend).await;
    let t = psych(&app, &fx, "psych-a");
    let q = "mutation($i: CreatePairingInput!) { createPairing(input: $i) { id version kind supporter organizationId startDate endDate } }";
    let input = json!({"childId": fx.c2.to_string(), "kind": "GROWTH_MENTOR", "supporter": "mentor-7", "startDate": "2026-11-01", "contactFrequency": "每两周"});
    let mut bad = input.clone();
    bad["endDate"] = json!("2026-10-01");
    refused(
        &app.gql(&t, q, json!({"i": bad})).await,
        "BAD_USER_INPUT",
        Some("input.endDate"),
    );
    let body = app.gql(&t, q, json!({"i": input})).await;
    let p = data(&body, "createPairing");
    assert_eq!(
        p["organizationId"],
        fx.school_a.to_string(),
        "defaults to the caller's organization"
    );
    let end = "mutation($id: ID!, $v: Int!, $d: NaiveDate!) { endPairing(id: $id, expectedVersion: $v, endDate: $d) { version endDate } }";
    refused(
        &app.gql(&t, end, json!({"id": p["id"], "v": 1, "d": "2099-01-01"}))
            .await,
        "BAD_USER_INPUT",
        Some("endDate"),
    );
    refused(
        &app.gql(&t, end, json!({"id": p["id"], "v": 1, "d": "2026-10-31"}))
            .await,
        "BAD_USER_INPUT",
        Some("endDate"),
    );
    let body = app
        .gql(&t, end, json!({"id": p["id"], "v": 1, "d": "2026-11-20"}))
        .await;
    let e = data(&body, "endPairing");
    assert_eq!(
        (e["version"].as_i64(), e["endDate"].as_str()),
        (Some(2), Some("2026-11-20"))
    );
    refused(
        &app.gql(&t, end, json!({"id": p["id"], "v": 2, "d": "2026-11-21"}))
            .await,
        "BAD_USER_INPUT",
        Some("id"),
    );
});

backend_test!(crisis_event_record_update_and_risk, |backend| {
    let (app, fx) = setup(backend).await;
    let t = psych(&app, &fx, "psych-a");
    let q = "mutation($i: RecordCrisisEventInput!) { recordCrisisEvent(input: $i) { id version riskLevel firstResponseAt emergencyServicesCalled } }";
    let input = json!({"childId": fx.c2.to_string(), "trigger": "OBSERVATION", "riskLevel": "RED", "occurredAt": "2026-11-28T10:00:00Z",
        "firstResponseAt": "2026-11-28T10:20:00Z", "guardianInformedAt": "2026-11-28T11:00:00Z", "safetyMeasures": "专人陪护", "emergencyServicesCalled": true});
    let mut bad = input.clone();
    bad["occurredAt"] = json!("2099-01-01T00:00:00Z");
    refused(
        &app.gql(&t, q, json!({"i": bad})).await,
        "BAD_USER_INPUT",
        Some("input.occurredAt"),
    );
    let mut bad = input.clone();
    bad["firstResponseAt"] = json!("2026-11-28T09:00:00Z");
    refused(
        &app.gql(&t, q, json!({"i": bad})).await,
        "BAD_USER_INPUT",
        Some("input.firstResponseAt"),
    );
    let mut bad = input.clone();
    bad["urgentReferralId"] = json!(fx.c1_referral.to_string());
    refused(
        &app.gql(&t, q, json!({"i": bad})).await,
        "BAD_USER_INPUT",
        Some("input.urgentReferralId"),
    );

    let body = app.gql(&t, q, json!({"i": input})).await;
    let c = data(&body, "recordCrisisEvent");
    assert_eq!(
        (
            c["riskLevel"].as_str(),
            c["emergencyServicesCalled"].as_bool()
        ),
        (Some("RED"), Some(true))
    );
    // The child's current risk level follows in the same transaction.
    let child = ent::child::Entity::find_by_id(fx.c2)
        .one(app.conn())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(child.current_risk_level, Some(ent::enums::RiskLevel::Red));
    let u = "mutation($id: ID!, $v: Int!, $i: UpdateCrisisEventInput!) { updateCrisisEvent(id: $id, expectedVersion: $v, input: $i) { version resolvedAt notes } }";
    refused(
        &app.gql(
            &t,
            u,
            json!({"id": c["id"], "v": 1, "i": {"resolvedAt": "2026-11-28T10:10:00Z"}}),
        )
        .await,
        "BAD_USER_INPUT",
        Some("input.resolvedAt"),
    );
    let body = app.gql(&t, u, json!({"id": c["id"], "v": 1, "i": {"resolvedAt": "2026-11-28T18:00:00Z", "notes": "已转介"}})).await;
    let r = data(&body, "updateCrisisEvent");
    assert_eq!(r["version"], 2);
    let resolved = chrono::DateTime::parse_from_rfc3339(r["resolvedAt"].as_str().unwrap()).unwrap();
    assert_eq!(
        resolved,
        chrono::DateTime::parse_from_rfc3339("2026-11-28T18:00:00Z").unwrap()
    );
});

// ---- Return to school --------------------------------------------------------------------

const TRANSITION_RETURN: &str = "mutation($id: ID!, $v: Int!, $s: ReturnStatus!, $c: String, $d: NaiveDate) { transitionReturnToSchool(id: $id, expectedVersion: $v, status: $s, clearance: $c, returnDate: $d) { id version } }";

backend_test!(
    return_to_school_updates_enrollment_in_same_transaction,
    |backend| {
        let (app, fx) = setup(backend).await;
        let school = psych(&app, &fx, "psych-a");
        let doctor = clinician(&app, &fx);
        let start = "mutation($i: StartReturnToSchoolInput!) { startReturnToSchool(input: $i) { id version status schoolId treatmentEpisodeId } }";
        // c2 (enrolled at school A, never treated) starts a return; validation first.
        let input = json!({"childId": fx.c2.to_string(), "schoolId": fx.school_a.to_string(), "accommodations": "半天课程，靠门座位", "returnDate": "2026-12-07"});
        let mut bad = input.clone();
        bad["schoolId"] = json!(fx.hospital.to_string());
        refused(
            &app.gql(&school, start, json!({"i": bad})).await,
            "BAD_USER_INPUT",
            Some("input.schoolId"),
        );
        let mut bad = input.clone();
        bad["treatmentEpisodeId"] = json!(fx.c1_episode.to_string());
        refused(
            &app.gql(&school, start, json!({"i": bad})).await,
            "BAD_USER_INPUT",
            Some("input.treatmentEpisodeId"),
        );
        let body = app.gql(&school, start, json!({"i": input})).await;
        let r = data(&body, "startReturnToSchool");
        assert_eq!(
            (r["status"].as_str(), r["version"].as_i64()),
            (Some("PENDING_CLEARANCE"), Some(1))
        );
        assert_eq!(
            transitions_of(&app, id_of(r)).await,
            vec!["PENDING_CLEARANCE"]
        );
        // One return in progress per child.
        refused(
            &app.gql(&school, start, json!({"i": input})).await,
            "CONFLICT",
            None,
        );
        // c1 (discharged from the hospital's episode) has one in progress in the fixtures.
        let c1_input = json!({"childId": fx.c1.to_string(), "schoolId": fx.school_a.to_string(), "treatmentEpisodeId": fx.c1_episode.to_string()});
        let body = app.gql(&school, start, json!({"i": c1_input})).await;
        refused(&body, "CONFLICT", None);
        let id: Uuid = body["errors"][0]["extensions"]["details"]["existingId"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        let ids = id.to_string();
        let existing = ent::return_to_school::Entity::find_by_id(id)
            .one(app.conn())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (existing.status, existing.version),
            (ent::enums::ReturnStatus::PendingClearance, 1)
        );

        // Clearance is health's: not the school's; and it needs the clearance text.
        refused(
            &app.gql(
                &school,
                TRANSITION_RETURN,
                json!({"id": ids, "v": 1, "s": "CLEARED", "c": "ok"}),
            )
            .await,
            "FORBIDDEN",
            None,
        );
        refused(
            &app.gql(
                &doctor,
                TRANSITION_RETURN,
                json!({"id": ids, "v": 1, "s": "CLEARED"}),
            )
            .await,
            "BAD_USER_INPUT",
            Some("clearance"),
        );
        let body = app
            .gql(
                &doctor,
                TRANSITION_RETURN,
                json!({"id": ids, "v": 1, "s": "CLEARED", "c": "病情稳定，可复学；避免体育考试"}),
            )
            .await;
        assert_eq!(data(&body, "transitionReturnToSchool")["version"], 2);
        let stored = ent::return_to_school::Entity::find_by_id(id)
            .one(app.conn())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(stored.cleared_by.as_deref(), Some("dr-1"));
        assert!(stored.cleared_at.is_some());
        // The school plans; an illegal jump names the allowed next state.
        let body = app
            .gql(
                &school,
                TRANSITION_RETURN,
                json!({"id": ids, "v": 2, "s": "MONITORING"}),
            )
            .await;
        refused(&body, "BAD_USER_INPUT", Some("status"));
        assert!(message(&body).contains("PLANNING"), "{body}");
        assert_eq!(
            data(
                &app.gql(
                    &school,
                    TRANSITION_RETURN,
                    json!({"id": ids, "v": 2, "s": "PLANNING", "d": "2026-11-25"})
                )
                .await,
                "transitionReturnToSchool"
            )["version"],
            3
        );

        let enrollment = ent::enrollment::Entity::find()
            .filter(ent::enrollment::Column::ChildId.eq(fx.c1))
            .one(app.conn())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(enrollment.status, ent::enums::EnrollmentStatus::Enrolled);
        // A stale version fails the whole mutation: the enrollment is not touched either.
        refused(
            &app.gql(
                &school,
                TRANSITION_RETURN,
                json!({"id": ids, "v": 2, "s": "RETURNED"}),
            )
            .await,
            "CONFLICT",
            None,
        );
        let unchanged = ent::enrollment::Entity::find_by_id(enrollment.id)
            .one(app.conn())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            unchanged, enrollment,
            "nothing written by a failed transition"
        );
        // RETURNED sets the enrollment to RETURNED in the same transaction, with its own history.
        let body = app
            .gql(
                &school,
                TRANSITION_RETURN,
                json!({"id": ids, "v": 3, "s": "RETURNED"}),
            )
            .await;
        assert_eq!(data(&body, "transitionReturnToSchool")["version"], 4);
        let after = ent::enrollment::Entity::find_by_id(enrollment.id)
            .one(app.conn())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(after.status, ent::enums::EnrollmentStatus::Returned);
        assert_eq!(after.version, enrollment.version + 1);
        let enrollment_events = events_of(&app, enrollment.id).await;
        let return_events = events_of(&app, id).await;
        assert_eq!(enrollment_events.len(), 1, "one UPDATE of the enrollment");
        assert_eq!(
            enrollment_events[0].changed["fields"]["status"],
            json!(["ENROLLED", "RETURNED"])
        );
        let last = return_events.last().unwrap();
        assert_eq!(
            last.request_id, enrollment_events[0].request_id,
            "same request"
        );
        assert_eq!(last.at, enrollment_events[0].at, "same transaction time");
        let stored = ent::return_to_school::Entity::find_by_id(id)
            .one(app.conn())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(stored.enrollment_id, Some(enrollment.id));
        assert_eq!(stored.return_date, NaiveDate::from_ymd_opt(2026, 11, 25));
        assert_eq!(
            transitions_of(&app, id).await,
            vec!["CLEARED", "PLANNING", "RETURNED"]
        );
    }
);

// ---- Victim aid --------------------------------------------------------------------------

backend_test!(victim_aid_open_and_update, |backend| {
    let (app, fx) = setup(backend).await;
    let t = app.token(
        "WOMENS_FEDERATION",
        "womens_federation.victim_aid",
        Some(&fx.womens_fed.to_string()),
        "450102",
        "vaw-1",
    );
    let open = "mutation($i: OpenVictimAidInput!) { openVictimAid(input: $i) { id version status services worker caseRef } }";
    // The report already has an open case.
    let body = app
        .gql(
            &t,
            open,
            json!({"i": {"childId": fx.c4.to_string(), "reportId": fx.c4_report.to_string()}}),
        )
        .await;
    refused(&body, "CONFLICT", None);
    refused(
        &app.gql(
            &t,
            open,
            json!({"i": {"childId": fx.c4.to_string(), "reportId": Uuid::now_v7().to_string()}}),
        )
        .await,
        "BAD_USER_INPUT",
        Some("input.reportId"),
    );
    refused(
        &app.gql(
            &t,
            open,
            json!({"i": {"childId": fx.c4.to_string(), "services": ["COUNSELING", ""]}}),
        )
        .await,
        "BAD_USER_INPUT",
        Some("input.services[1]"),
    );
    let body = app.gql(&t, open, json!({"i": {"childId": fx.c4.to_string(), "caseRef": "检-2026-12", "services": ["COUNSELING", "ACCOMPANIMENT"]}})).await;
    let v = data(&body, "openVictimAid");
    assert_eq!(
        (v["status"].as_str(), v["worker"].as_str()),
        (Some("OPEN"), Some("vaw-1"))
    );
    assert_eq!(v["services"], json!(["COUNSELING", "ACCOMPANIMENT"]));
    let u = "mutation($id: ID!, $v: Int!, $i: UpdateVictimAidInput!) { updateVictimAid(id: $id, expectedVersion: $v, input: $i) { version status services } }";
    let body = app.gql(&t, u, json!({"id": v["id"], "v": 1, "i": {"status": "IN_SERVICE", "services": ["COUNSELING"]}})).await;
    let s = data(&body, "updateVictimAid");
    assert_eq!(
        (s["version"].as_i64(), s["status"].as_str()),
        (Some(2), Some("IN_SERVICE"))
    );
    let body = app
        .gql(
            &t,
            u,
            json!({"id": v["id"], "v": 2, "i": {"status": "OPEN"}}),
        )
        .await;
    refused(&body, "BAD_USER_INPUT", Some("input.status"));
    assert!(message(&body).contains("CLOSED"), "{body}");
    // The most restricted record: a head teacher cannot open one.
    let body = app
        .gql(
            &head_teacher(&app, &fx, "teacher-a1"),
            open,
            json!({"i": {"childId": fx.c1.to_string()}}),
        )
        .await;
    refused(&body, "FORBIDDEN", None);
});

// ---- Service records ---------------------------------------------------------------------

const RECORD_SERVICE: &str = "mutation($i: RecordServiceInput!) { recordService(input: $i) { id version childId kind provider organizationId durationMinutes summary } }";
const UPDATE_SERVICE: &str = "mutation($id: ID!, $v: Int!, $i: UpdateServiceRecordInput!) { updateServiceRecord(id: $id, expectedVersion: $v, input: $i) { version summary } }";
const ARCHIVE_SERVICE: &str = "mutation($id: ID!, $v: Int!) { archiveServiceRecord(id: $id, expectedVersion: $v, reason: \"wrong child\") { archivedAt } }";

backend_test!(service_records_own_entries_only, |backend| {
    let (app, fx) = setup(backend).await;
    let mine = psych(&app, &fx, "psych-a");
    let colleague = psych(&app, &fx, "psych-a2");
    let input = json!({"childId": fx.c2.to_string(), "kind": "COUNSELING", "occurredAt": "2026-11-27T15:00:00Z", "durationMinutes": 45, "summary": "讨论考试焦虑"});
    let mut bad = input.clone();
    bad["occurredAt"] = json!("2099-01-01T00:00:00Z");
    refused(
        &app.gql(&mine, RECORD_SERVICE, json!({"i": bad})).await,
        "BAD_USER_INPUT",
        Some("input.occurredAt"),
    );
    let mut bad = input.clone();
    bad["durationMinutes"] = json!(0);
    refused(
        &app.gql(&mine, RECORD_SERVICE, json!({"i": bad})).await,
        "BAD_USER_INPUT",
        Some("input.durationMinutes"),
    );
    let mut bad = input.clone();
    bad["carePlanId"] = json!(Uuid::now_v7().to_string());
    refused(
        &app.gql(&mine, RECORD_SERVICE, json!({"i": bad})).await,
        "BAD_USER_INPUT",
        Some("input.carePlanId"),
    );
    // Only an anonymous hotline call has no child.
    let mut bad = input.clone();
    bad["childId"] = Value::Null;
    refused(
        &app.gql(&mine, RECORD_SERVICE, json!({"i": bad})).await,
        "BAD_USER_INPUT",
        Some("input.childId"),
    );

    let body = app.gql(&mine, RECORD_SERVICE, json!({"i": input})).await;
    let s = data(&body, "recordService");
    assert_eq!(
        (s["provider"].as_str(), s["organizationId"].as_str()),
        (Some("psych-a"), Some(fx.school_a.to_string().as_str()))
    );
    let id = s["id"].clone();
    // A colleague of the same school sees the record but may not change it.
    let body = app
        .gql(
            &colleague,
            UPDATE_SERVICE,
            json!({"id": id, "v": 1, "i": {"summary": "改写"}}),
        )
        .await;
    refused(&body, "FORBIDDEN", None);
    assert!(
        message(&body).contains("providers change their own entries only"),
        "{body}"
    );
    refused(
        &app.gql(&colleague, ARCHIVE_SERVICE, json!({"id": id, "v": 1}))
            .await,
        "FORBIDDEN",
        None,
    );
    // The provider may.
    let body = app
        .gql(
            &mine,
            UPDATE_SERVICE,
            json!({"id": id, "v": 1, "i": {"summary": "讨论考试焦虑，约定下周再谈"}}),
        )
        .await;
    assert_eq!(data(&body, "updateServiceRecord")["version"], 2);
    let body = app
        .gql(&mine, ARCHIVE_SERVICE, json!({"id": id, "v": 2}))
        .await;
    assert!(data(&body, "archiveServiceRecord")["archivedAt"].is_string());
    refused(
        &app.gql(
            &mine,
            UPDATE_SERVICE,
            json!({"id": id, "v": 3, "i": {"summary": "x"}}),
        )
        .await,
        "NOT_FOUND",
        None,
    );
});

backend_test!(anonymous_hotline_calls, |backend| {
    let (app, fx) = setup(backend).await;
    let hotline = app.token(
        "YOUTH_LEAGUE",
        "youth_league.hotline_counselor",
        Some(&fx.hotline.to_string()),
        "4501",
        "hotline-1",
    );
    let other = app.token(
        "YOUTH_LEAGUE",
        "youth_league.hotline_counselor",
        Some(&fx.hotline.to_string()),
        "4501",
        "hotline-2",
    );
    let body = app.gql(&hotline, RECORD_SERVICE, json!({"i": {"kind": "HOTLINE_12355", "occurredAt": "2026-11-28T21:30:00Z", "durationMinutes": 25, "summary": "匿名来电，情绪低落"}})).await;
    let s = data(&body, "recordService");
    assert!(s["childId"].is_null());
    let stored = ent::service_record::Entity::find_by_id(id_of(s))
        .one(app.conn())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (
            stored.child_id,
            stored.organization_id,
            stored.provider.as_str()
        ),
        (None, Some(fx.hotline), "hotline-1")
    );
    // An anonymous call has no care plan; someone else's anonymous entry does not exist for you.
    let body = app.gql(&hotline, RECORD_SERVICE, json!({"i": {"kind": "HOTLINE_12355", "occurredAt": "2026-11-28T21:30:00Z", "carePlanId": Uuid::now_v7().to_string()}})).await;
    refused(&body, "BAD_USER_INPUT", Some("input.carePlanId"));
    refused(
        &app.gql(
            &other,
            UPDATE_SERVICE,
            json!({"id": s["id"], "v": 1, "i": {"durationMinutes": 30}}),
        )
        .await,
        "NOT_FOUND",
        None,
    );
    let body = app
        .gql(
            &hotline,
            UPDATE_SERVICE,
            json!({"id": s["id"], "v": 1, "i": {"durationMinutes": 30}}),
        )
        .await;
    assert_eq!(data(&body, "updateServiceRecord")["version"], 2);
});

// ---- Lawful bases ------------------------------------------------------------------------

const RECORD_BASIS: &str = "mutation($i: RecordLawfulBasisInput!) { recordLawfulBasis(input: $i) { id version basis grantor purposes recipients fieldGroups } }";
const C1_SCORES: &str = "query($id: ID!) { child(id: $id) { screenings { score } } }";

backend_test!(lawful_basis_record_validate_and_withdraw, |backend| {
    let (app, fx) = setup(backend).await;
    let t = officer(&app, &fx);
    let doctor = clinician(&app, &fx);
    // c1 (12 years old) has no basis: the hospital's clinician may not read the school's scores.
    let body = app
        .gql(&doctor, C1_SCORES, json!({"id": fx.c1.to_string()}))
        .await;
    assert_eq!(error_codes(&body), vec!["CONSENT_REQUIRED"], "{body}");

    let input = json!({"childId": fx.c1.to_string(), "grantor": "李大爷", "grantorRelation": "GRANDPARENT", "basis": "CONSENT",
        "purposes": ["TREATMENT", "REFERRAL"], "recipients": ["HEALTH"], "fieldGroups": ["G-SCR"], "validFrom": "2026-11-01T00:00:00Z", "documentRef": "DOC-7"});
    // Consent for a child under 14 comes from a guardian.
    let mut bad = input.clone();
    bad["grantorRelation"] = json!("SELF");
    let body = app.gql(&t, RECORD_BASIS, json!({"i": bad})).await;
    refused(&body, "BAD_USER_INPUT", Some("input.grantorRelation"));
    assert!(message(&body).contains("14"), "{body}");
    let mut bad = input.clone();
    bad["grantor"] = Value::Null;
    refused(
        &app.gql(&t, RECORD_BASIS, json!({"i": bad})).await,
        "BAD_USER_INPUT",
        Some("input.grantor"),
    );
    // A statutory duty names its statute; field groups are the policy's; validity is ordered.
    let body = app.gql(&t, RECORD_BASIS, json!({"i": {"childId": fx.c1.to_string(), "basis": "STATUTORY_DUTY", "purposes": ["CARE"], "recipients": ["EDUCATION"], "fieldGroups": ["G-PLAN"], "validFrom": "2026-11-01T00:00:00Z"}})).await;
    refused(&body, "BAD_USER_INPUT", Some("input.legalReference"));
    let mut bad = input.clone();
    bad["fieldGroups"] = json!(["G-SCR", "G-NOPE"]);
    refused(
        &app.gql(&t, RECORD_BASIS, json!({"i": bad})).await,
        "BAD_USER_INPUT",
        Some("input.fieldGroups[1]"),
    );
    let mut bad = input.clone();
    bad["validTo"] = json!("2026-10-01T00:00:00Z");
    refused(
        &app.gql(&t, RECORD_BASIS, json!({"i": bad})).await,
        "BAD_USER_INPUT",
        Some("input.validTo"),
    );
    let mut bad = input.clone();
    bad["recipients"] = json!([]);
    refused(
        &app.gql(&t, RECORD_BASIS, json!({"i": bad})).await,
        "BAD_USER_INPUT",
        Some("input.recipients"),
    );

    let body = app.gql(&t, RECORD_BASIS, json!({"i": input})).await;
    let b = data(&body, "recordLawfulBasis");
    assert_eq!(b["recipients"], json!(["HEALTH"]));
    assert_eq!(b["purposes"], json!(["TREATMENT", "REFERRAL"]));
    // The basis releases the scores to the clinician from the next request on.
    let body = app
        .gql(&doctor, C1_SCORES, json!({"id": fx.c1.to_string()}))
        .await;
    assert_eq!(data(&body, "child")["screenings"][0]["score"], 88.0);

    // Withdrawal takes effect on the next request; a second withdrawal is refused.
    let w = "mutation($id: ID!, $v: Int!) { withdrawLawfulBasis(id: $id, expectedVersion: $v, reason: \"guardian withdrew consent\") { version withdrawnAt } }";
    let body = app.gql(&t, w, json!({"id": b["id"], "v": 1})).await;
    let wd = data(&body, "withdrawLawfulBasis");
    assert_eq!(wd["version"], 2);
    assert!(wd["withdrawnAt"].is_string());
    let body = app
        .gql(&doctor, C1_SCORES, json!({"id": fx.c1.to_string()}))
        .await;
    assert_eq!(error_codes(&body), vec!["CONSENT_REQUIRED"], "{body}");
    refused(
        &app.gql(&t, w, json!({"id": b["id"], "v": 2})).await,
        "BAD_USER_INPUT",
        Some("id"),
    );
    let audited = ent::audit_entry::Entity::find()
        .filter(ent::audit_entry::Column::Reason.eq("guardian withdrew consent"))
        .count(app.conn())
        .await
        .unwrap();
    assert_eq!(audited, 1);
});

// ---- Supervision findings ----------------------------------------------------------------

backend_test!(supervision_findings_scoped_by_region, |backend| {
    let (app, fx) = setup(backend).await;
    let t = app.token(
        "SUPERVISION",
        "supervision.inspector",
        None,
        "4501",
        "inspector-1",
    );
    let q = "mutation($i: RecordSupervisionFindingInput!) { recordSupervisionFinding(input: $i) { id version regionCode status period indicators } }";
    let input = json!({"regionCode": "450102", "organizationId": fx.school_a.to_string(), "period": "2026-Q3", "indicators": {"screeningCoverage": 0.62},
        "finding": "筛查覆盖率低于90%", "rectificationDue": "2027-01-31"});
    let mut bad = input.clone();
    bad["regionCode"] = json!("45");
    refused(&app.gql(&t, q, json!({"i": bad})).await, "FORBIDDEN", None);
    let mut bad = input.clone();
    bad["regionCode"] = json!("450199");
    refused(
        &app.gql(&t, q, json!({"i": bad})).await,
        "BAD_USER_INPUT",
        Some("input.regionCode"),
    );
    let mut bad = input.clone();
    bad["organizationId"] = json!(fx.other_hospital.to_string());
    refused(
        &app.gql(&t, q, json!({"i": bad})).await,
        "BAD_USER_INPUT",
        Some("input.organizationId"),
    );
    let mut bad = input.clone();
    bad["period"] = json!("2026-Q5");
    refused(
        &app.gql(&t, q, json!({"i": bad})).await,
        "BAD_USER_INPUT",
        Some("input.period"),
    );
    let mut bad = input.clone();
    bad["indicators"] = json!([1, 2]);
    refused(
        &app.gql(&t, q, json!({"i": bad})).await,
        "BAD_USER_INPUT",
        Some("input.indicators"),
    );
    // A head teacher records no findings.
    refused(
        &app.gql(
            &head_teacher(&app, &fx, "teacher-a1"),
            q,
            json!({"i": input}),
        )
        .await,
        "FORBIDDEN",
        None,
    );

    let body = app.gql(&t, q, json!({"i": input})).await;
    let f = data(&body, "recordSupervisionFinding");
    assert_eq!(
        (f["regionCode"].as_str(), f["status"].as_str()),
        (Some("450102000000"), Some("OPEN"))
    );
    let u = "mutation($id: ID!, $v: Int!, $s: FindingStatus!, $n: String) { updateSupervisionFinding(id: $id, expectedVersion: $v, status: $s, note: $n) { version status } }";
    // Outside the inspector's region the finding does not exist.
    let elsewhere = app.token(
        "SUPERVISION",
        "supervision.inspector",
        None,
        "450103",
        "inspector-2",
    );
    refused(
        &app.gql(
            &elsewhere,
            u,
            json!({"id": f["id"], "v": 1, "s": "RECTIFYING"}),
        )
        .await,
        "NOT_FOUND",
        None,
    );
    let body = app
        .gql(
            &t,
            u,
            json!({"id": f["id"], "v": 1, "s": "RECTIFYING", "n": "学校已制定整改方案"}),
        )
        .await;
    assert_eq!(
        data(&body, "updateSupervisionFinding")["status"],
        "RECTIFYING"
    );
    let body = app
        .gql(&t, u, json!({"id": f["id"], "v": 2, "s": "CLOSED"}))
        .await;
    refused(&body, "BAD_USER_INPUT", Some("status"));
    assert!(message(&body).contains("RECTIFIED"), "{body}");
    assert_eq!(
        transitions_of(&app, id_of(f)).await,
        vec!["OPEN", "RECTIFYING"]
    );
});

// ---- Flags -------------------------------------------------------------------------------

backend_test!(flags_raise_and_resolve, |backend| {
    let (app, fx) = setup(backend).await;
    let t = psych(&app, &fx, "psych-a");
    let raise = "mutation($c: ID!, $m: String!) { raiseFlag(childId: $c, message: $m) { id version kind raisedBy message } }";
    let resolve = "mutation($id: ID!, $v: Int!, $r: String!) { resolveFlag(id: $id, expectedVersion: $v, resolution: $r) { version resolvedAt resolvedBy resolution } }";
    refused(
        &app.gql(&t, raise, json!({"c": fx.c2.to_string(), "m": " "}))
            .await,
        "BAD_USER_INPUT",
        Some("message"),
    );
    let body = app
        .gql(
            &t,
            raise,
            json!({"c": fx.c2.to_string(), "m": "连续三天未到校"}),
        )
        .await;
    let f = data(&body, "raiseFlag");
    assert_eq!(
        (f["kind"].as_str(), f["raisedBy"].as_str()),
        (Some("MANUAL"), Some("psych-a"))
    );
    let body = app
        .gql(
            &t,
            resolve,
            json!({"id": f["id"], "v": 1, "r": "已联系家长，病假"}),
        )
        .await;
    let r = data(&body, "resolveFlag");
    assert_eq!(
        (r["version"].as_i64(), r["resolvedBy"].as_str()),
        (Some(2), Some("psych-a"))
    );
    refused(
        &app.gql(&t, resolve, json!({"id": f["id"], "v": 2, "r": "again"}))
            .await,
        "BAD_USER_INPUT",
        Some("id"),
    );

    // A system flag is resolved the same way, by the caller.
    carehub_api::write::flags::raise(
        app.conn(),
        fx.c2,
        ent::enums::FlagKind::MissingScreening,
        "2026",
        "not screened in school year 2026".into(),
        fixtures::t0(),
    )
    .await
    .unwrap();
    let sys = ent::flag::Entity::find()
        .filter(ent::flag::Column::Kind.eq(ent::enums::FlagKind::MissingScreening))
        .one(app.conn())
        .await
        .unwrap()
        .unwrap();
    refused(
        &app.gql(
            &t,
            resolve,
            json!({"id": sys.id.to_string(), "v": 7, "r": "screened elsewhere"}),
        )
        .await,
        "CONFLICT",
        None,
    );
    let body = app
        .gql(
            &t,
            resolve,
            json!({"id": sys.id.to_string(), "v": 1, "r": "screened elsewhere"}),
        )
        .await;
    assert_eq!(data(&body, "resolveFlag")["resolvedBy"], "psych-a");
    // A flag of a child outside the caller's scope does not exist for it.
    let mut other = sys.clone().into_active_model();
    other.id = sea_orm::Set(Uuid::now_v7());
    other.child_id = sea_orm::Set(fx.c3);
    other.resolved_at = sea_orm::Set(None);
    let other = other.insert(app.conn()).await.unwrap();
    refused(
        &app.gql(
            &t,
            resolve,
            json!({"id": other.id.to_string(), "v": 1, "r": "x"}),
        )
        .await,
        "NOT_FOUND",
        None,
    );
});
