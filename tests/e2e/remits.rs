//! Remits: row scopes per link kind, inference through filters and sort keys, purposes, and
//! the generated role × field × read/write matrix (see `matrix`).

mod matrix;

use carehub_tests::fixtures::Fixture;
use carehub_tests::*;
use serde_json::{json, Value};

const LIST: &str = "query($f: ChildFilter) { children(first: 50, filter: $f) { totalCount edges { node { id } } } }";

fn ids(body: &Value) -> Vec<String> {
    let mut v: Vec<String> = body["data"]["children"]["edges"]
        .as_array()
        .unwrap_or(&Vec::new())
        .iter()
        .map(|e| e["node"]["id"].as_str().unwrap().to_owned())
        .collect();
    v.sort();
    v
}

fn sorted(v: &[uuid::Uuid]) -> Vec<String> {
    let mut v: Vec<String> = v.iter().map(|u| u.to_string()).collect();
    v.sort();
    v
}

/// A token per role, bound to the fixture's organizations and subjects.
pub fn role_token(app: &TestApp, fx: &Fixture, role: &str) -> String {
    let (agency, org, region, sub) = match role {
        "civil_affairs.child_director" => ("CIVIL_AFFAIRS", None, "450102001", "director-1"),
        "civil_affairs.child_supervisor" => ("CIVIL_AFFAIRS", None, "450102001", "supervisor-1"),
        "civil_affairs.case_officer" => (
            "CIVIL_AFFAIRS",
            Some(fx.civil_office),
            "450102",
            "officer-1",
        ),
        "civil_affairs.institution_staff" => ("CIVIL_AFFAIRS", Some(fx.welfare), "4501", "inst-1"),
        "education.head_teacher" => ("EDUCATION", Some(fx.school_a), "450102", "teacher-a1"),
        "education.psych_teacher" => ("EDUCATION", Some(fx.school_a), "450102", "psych-a"),
        "education.bureau_officer" => ("EDUCATION", None, "450102", "bureau-1"),
        "health.clinician" => ("HEALTH", Some(fx.hospital), "45", "dr-1"),
        "health.community_doctor" => ("HEALTH", Some(fx.health_center), "450102", "cdoc-1"),
        "health.commission_officer" => ("HEALTH", None, "450102", "hc-1"),
        "youth_league.hotline_counselor" => ("YOUTH_LEAGUE", Some(fx.hotline), "4501", "hotline-1"),
        "youth_league.volunteer_coordinator" => ("YOUTH_LEAGUE", Some(fx.hotline), "4501", "vol-1"),
        "womens_federation.family_guidance" => {
            ("WOMENS_FEDERATION", Some(fx.womens_fed), "450102", "fg-1")
        }
        "womens_federation.victim_aid" => {
            ("WOMENS_FEDERATION", Some(fx.womens_fed), "450102", "vaw-1")
        }
        "supervision.inspector" => ("SUPERVISION", None, "4501", "inspector-1"),
        "supervision.auditor" => ("SUPERVISION", None, "4501", "auditor-1"),
        r if r.starts_with("partner.") => ("PARTNER", Some(fx.hotline), "4501", "partner-client-1"),
        other => panic!("no fixture binding for role {other}"),
    };
    app.token(
        agency,
        role,
        org.map(|o| o.to_string()).as_deref(),
        region,
        sub,
    )
}

backend_test!(row_scopes_per_link_kind, |backend| {
    let app = TestApp::spawn(backend).await;
    let fx = fixtures::load(app.conn(), &app.state.vault).await.unwrap();
    let cases: Vec<(&str, Vec<uuid::Uuid>)> = vec![
        // REGION subtree: the county's children.
        ("civil_affairs.case_officer", vec![fx.c1, fx.c2, fx.c4]),
        // CLASS: the head teacher's class only.
        ("education.head_teacher", vec![fx.c1]),
        // ORG_STUDENTS: the school's enrolled students.
        ("education.psych_teacher", vec![fx.c1, fx.c2]),
        // REFERRED or EPISODE at the hospital, wherever the child lives.
        ("health.clinician", vec![fx.c1, fx.c3]),
        // ASSIGNED: the victim-aid worker's case.
        ("womens_federation.victim_aid", vec![fx.c4]),
        // IDENTIFIED: what the hotline counsellor recorded.
        ("youth_league.hotline_counselor", vec![fx.c4]),
        // INSTITUTION: children the welfare institution is responsible for.
        ("civil_affairs.institution_staff", vec![fx.c5]),
    ];
    for (role, expected) in cases {
        let t = role_token(&app, &fx, role);
        let body = app.gql(&t, LIST, json!({"f": null})).await;
        assert!(body["errors"].is_null(), "{role}: {body}");
        assert_eq!(
            ids(&body),
            sorted(&expected),
            "{role} sees exactly its scope"
        );
        assert_eq!(
            body["data"]["children"]["totalCount"],
            expected.len(),
            "{role}: totalCount counts only the scope"
        );
        // Lookup by id outside the scope is indistinguishable from an absent id.
        for other in [fx.c1, fx.c2, fx.c3, fx.c4, fx.c5]
            .iter()
            .filter(|c| !expected.contains(c))
        {
            let b = app
                .gql(
                    &t,
                    "query($id: ID!) { child(id: $id) { id displayName } }",
                    json!({"id": other.to_string()}),
                )
                .await;
            assert_eq!(
                error_codes(&b),
                vec!["NOT_FOUND"],
                "{role} reading {other}: {b}"
            );
            let absent = app
                .gql(
                    &t,
                    "query($id: ID!) { child(id: $id) { id } }",
                    json!({"id": uuid::Uuid::new_v4().to_string()}),
                )
                .await;
            assert_eq!(
                b["errors"][0]["message"]
                    .as_str()
                    .map(|m| m.split(' ').take(2).collect::<Vec<_>>()),
                absent["errors"][0]["message"]
                    .as_str()
                    .map(|m| m.split(' ').take(2).collect::<Vec<_>>())
            );
        }
    }
    // Aggregate-only roles see no rows at all.
    for role in [
        "supervision.inspector",
        "education.bureau_officer",
        "health.commission_officer",
    ] {
        let t = role_token(&app, &fx, role);
        let body = app.gql(&t, LIST, json!({"f": null})).await;
        assert_eq!(error_codes(&body), vec!["FORBIDDEN"], "{role}: {body}");
    }
});

backend_test!(referral_receiver_loses_access_when_closed, |backend| {
    let app = TestApp::spawn(backend).await;
    let fx = fixtures::load(app.conn(), &app.state.vault).await.unwrap();
    let t = role_token(&app, &fx, "health.clinician");
    let q = "query($id: ID!) { child(id: $id) { id displayName guardians { name } screenings { score } enrollments { grade } } }";
    let body = app.gql(&t, q, json!({"id": fx.c3.to_string()})).await;
    // The referral authorizes G-ID-min, G-GUARD, G-SCR and G-REF: guardians and scores yes,
    // schooling no.
    assert!(body["data"]["child"]["guardians"].is_array(), "{body}");
    let codes: Vec<(String, String)> = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["extensions"]["field"].as_str().unwrap_or("").to_owned(),
                e["extensions"]["code"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert!(
        codes.contains(&("Child.enrollments".into(), "FORBIDDEN".into())),
        "{codes:?}"
    );
    // Close the referral: the child disappears from the clinician's scope.
    use sea_orm::{ActiveModelTrait, EntityTrait, IntoActiveModel, Set};
    let r = carehub_entity::referral::Entity::find_by_id(fx.c3_referral)
        .one(app.conn())
        .await
        .unwrap()
        .unwrap();
    let mut am = r.into_active_model();
    am.status = Set(carehub_entity::enums::ReferralStatus::Closed);
    am.update(app.conn()).await.unwrap();
    let body = app.gql(&t, q, json!({"id": fx.c3.to_string()})).await;
    assert_eq!(error_codes(&body), vec!["NOT_FOUND"], "{body}");
});

backend_test!(no_inference_through_filters_or_order, |backend| {
    let app = TestApp::spawn(backend).await;
    let fx = fixtures::load(app.conn(), &app.state.vault).await.unwrap();
    // A head teacher may not read full names: searching by name is refused.
    let teacher = role_token(&app, &fx, "education.head_teacher");
    let body = app
        .gql(&teacher, LIST, json!({"f": {"nameSearch": "李"}}))
        .await;
    assert_eq!(error_codes(&body), vec!["FORBIDDEN"], "{body}");
    assert_eq!(
        body["errors"][0]["extensions"]["field"],
        "ChildFilter.nameSearch"
    );
    assert!(body["data"].is_null(), "nothing runs: {body}");
    // A filter in a variable is checked the same way.
    let body = app
        .gql(
            &teacher,
            "query($n: String) { children(filter: {nameSearch: $n}) { totalCount } }",
            json!({"n": "李"}),
        )
        .await;
    assert_eq!(error_codes(&body), vec!["FORBIDDEN"], "{body}");
    // totalCount under a filter never counts rows outside the scope.
    let clinician = role_token(&app, &fx, "health.clinician");
    let body = app
        .gql(&clinician, LIST, json!({"f": {"regionCode": "450102"}}))
        .await;
    assert_eq!(body["data"]["children"]["totalCount"], 1, "{body}");
    // Ordering by a field the role may not read is refused.
    let vaw = role_token(&app, &fx, "womens_federation.family_guidance");
    let ord = app
        .gql(
            &vaw,
            "{ children(orderBy: {birthYearMonth: ASC}) { totalCount } }",
            json!({}),
        )
        .await;
    let any = app
        .gql(&vaw, "{ children { totalCount } }", json!({}))
        .await;
    if error_codes(&any).is_empty() {
        // Roles that can list children may order by what they read; a field they cannot read is refused.
        let body = app
            .gql(
                &vaw,
                "{ children(orderBy: {currentRiskLevel: DESC}) { totalCount } }",
                json!({}),
            )
            .await;
        let allowed = app.state.policy.static_read(
            app.state
                .policy
                .role("womens_federation.family_guidance")
                .unwrap(),
            app.state
                .policy
                .field("ChildOrder.currentRiskLevel")
                .unwrap(),
        );
        assert_eq!(error_codes(&body).is_empty(), allowed, "{body}");
        let _ = ord;
    }
});
