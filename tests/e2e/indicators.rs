//! Monitoring indicators: values against a small hand-computed dataset, row scope, statistical
//! disclosure control and the attacks it must withstand, and a constant statement count.

use carehub_entity as ent;
use carehub_entity::enums::*;
use carehub_tests::*;
use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::{
    ActiveModelTrait, ConnectionTrait, DatabaseConnection, EntityTrait, IntoActiveModel,
};
use serde_json::{json, Value};
use uuid::Uuid;

/// A record of `ent::$m::Model` with the bookkeeping fields of a fixture row.
macro_rules! rec {
    ($m:ident { $($f:ident : $v:expr),* $(,)? }) => {
        ent::$m::Model {
            id: Uuid::now_v7(),
            created_at: at("2025-09-01T00:00:00Z"),
            created_by: "fixture".into(),
            updated_at: at("2025-09-01T00:00:00Z"),
            updated_by: "fixture".into(),
            version: 1,
            archived_at: None,
            owner_agency: Agency::CivilAffairs,
            owner_org_id: None,
            $($f: $v),*
        }
    };
}

fn at(s: &str) -> DateTime<Utc> {
    s.parse().expect("timestamp")
}

fn day(s: &str) -> NaiveDate {
    s.parse().expect("date")
}

async fn put<A: ActiveModelTrait + sea_orm::ActiveModelBehavior + Send>(
    db: &DatabaseConnection,
    am: A,
) -> <A::Entity as EntityTrait>::Model
where
    <A::Entity as EntityTrait>::Model: IntoActiveModel<A>,
{
    am.insert(db).await.expect("insert fixture row")
}

/// A child of `village`, born `birth`, with the maintained risk rank and treatment flag set.
fn kid(
    village: i64,
    birth: &str,
    status: ChildStatus,
    risk: Option<RiskLevel>,
    in_treatment: bool,
) -> ent::child::Model {
    let rank = match risk {
        None => 0,
        Some(RiskLevel::Green) => 1,
        Some(RiskLevel::Yellow) => 2,
        Some(RiskLevel::Orange) => 3,
        Some(RiskLevel::Red) => 4,
    };
    let county = village / 1_000_000 * 1_000_000;
    rec!(child {
        display_name: "李*明".into(),
        gender: Gender::Female,
        birth_year_month: birth[..7].to_owned(),
        residence_region_code: village,
        city_code: county / 100_000_000 * 100_000_000,
        county_code: county,
        household_region_code: village,
        status: status,
        responsible_org_id: None,
        name: "李小明".into(),
        id_number_enc: None,
        id_number_bidx: None,
        id_number_mask: None,
        birth_date: day(birth),
        ethnicity: None,
        address: None,
        phone: None,
        living_arrangement: None,
        key_case: false,
        current_risk_level: risk,
        risk_rank: rank,
        risk_updated_at: None,
        in_treatment: in_treatment,
        fit_to_return: None,
        difficulty_from: None,
        difficulty_to: None,
    })
}

/// Derives the children's difficulty periods after rows were put in directly (what the seeder
/// does after a bulk load; the write path refreshes its own child).
async fn derive_periods(db: &DatabaseConnection) {
    let stmt = carehub_api::write::derived::refresh_period(
        db.get_database_backend(),
        chrono::Utc::now().date_naive(),
        carehub_api::write::derived::Which::All,
    );
    db.execute_raw(stmt).await.unwrap();
}

fn category(child: Uuid) -> ent::child_difficulty::Model {
    rec!(child_difficulty {
        child_id: child,
        category: DifficultyCategory::LeftBehind,
        valid_from: day("2024-01-01"),
        valid_to: None,
        verified_by: None,
        verified_at: None,
    })
}

async fn regions(db: &DatabaseConnection) {
    for (code, name, level, parent) in [
        (
            450_000_000_000i64,
            "广西壮族自治区",
            RegionLevel::Province,
            None,
        ),
        (
            450_100_000_000,
            "南宁市",
            RegionLevel::City,
            Some(450_000_000_000i64),
        ),
        (
            450_200_000_000,
            "柳州市",
            RegionLevel::City,
            Some(450_000_000_000),
        ),
        (
            450_102_000_000,
            "兴宁区",
            RegionLevel::County,
            Some(450_100_000_000),
        ),
        (
            450_103_000_000,
            "青秀区",
            RegionLevel::County,
            Some(450_100_000_000),
        ),
        (
            450_105_000_000,
            "江南区",
            RegionLevel::County,
            Some(450_100_000_000),
        ),
        (
            450_102_001_000,
            "民生街道",
            RegionLevel::Township,
            Some(450_102_000_000),
        ),
        (
            450_102_002_000,
            "朝阳街道",
            RegionLevel::Township,
            Some(450_102_000_000),
        ),
        (
            450_103_001_000,
            "新竹街道",
            RegionLevel::Township,
            Some(450_103_000_000),
        ),
        (
            450_103_002_000,
            "中山街道",
            RegionLevel::Township,
            Some(450_103_000_000),
        ),
        (
            450_105_001_000,
            "江南街道",
            RegionLevel::Township,
            Some(450_105_000_000),
        ),
        (
            450_102_001_001,
            "一村",
            RegionLevel::Village,
            Some(450_102_001_000),
        ),
        (
            450_102_001_002,
            "二村",
            RegionLevel::Village,
            Some(450_102_001_000),
        ),
        (
            450_102_002_001,
            "三村",
            RegionLevel::Village,
            Some(450_102_002_000),
        ),
    ] {
        put(
            db,
            ent::region::Model {
                code,
                name: name.into(),
                level,
                parent_code: parent,
            }
            .into_active_model(),
        )
        .await;
    }
}

async fn org(
    db: &DatabaseConnection,
    name: &str,
    kind: OrganizationKind,
    agency: Agency,
    region: i64,
) -> Uuid {
    let o = rec!(organization {
        name: name.into(),
        kind: kind,
        agency: agency,
        region_code: region,
        contact_name: None,
        contact_phone: None
    });
    put(db, o.into_active_model()).await.id
}

const V1: i64 = 450_102_001_001;
const V2: i64 = 450_102_001_002;
const V3: i64 = 450_102_002_001;

/// The hand-computed dataset of county 450102, dated in school year 2025 (Sep 2025 – Aug 2026).
/// Every expected value in `values_match_hand_computed_definitions` is derived in its comments.
async fn county_dataset(db: &DatabaseConnection) {
    regions(db).await;
    let school = org(
        db,
        "兴宁一中",
        OrganizationKind::School,
        Agency::Education,
        450_102_000_000,
    )
    .await;
    let hospital = org(
        db,
        "南宁市精神卫生中心",
        OrganizationKind::PsychiatricHospital,
        Agency::Health,
        450_100_000_000,
    )
    .await;
    let center = org(
        db,
        "兴宁社区卫生服务中心",
        OrganizationKind::CommunityHealthCenter,
        Agency::Health,
        450_102_000_000,
    )
    .await;

    // k1..k6 are in scope; k7 is CLOSED, k8 is 19, k9 has no difficulty category.
    let k1 = put(
        db,
        kid(
            V1,
            "2012-05-01",
            ChildStatus::Active,
            Some(RiskLevel::Red),
            false,
        )
        .into_active_model(),
    )
    .await
    .id;
    let k2 = put(
        db,
        kid(
            V1,
            "2012-05-01",
            ChildStatus::Active,
            Some(RiskLevel::Orange),
            true,
        )
        .into_active_model(),
    )
    .await
    .id;
    let k3 = put(
        db,
        kid(V1, "2012-05-01", ChildStatus::Active, None, false).into_active_model(),
    )
    .await
    .id;
    let k4 = put(
        db,
        kid(
            V2,
            "2016-05-01",
            ChildStatus::Active,
            Some(RiskLevel::Green),
            false,
        )
        .into_active_model(),
    )
    .await
    .id;
    let k5 = put(
        db,
        kid(V3, "2012-05-01", ChildStatus::Active, None, false).into_active_model(),
    )
    .await
    .id;
    let k6 = put(
        db,
        kid(
            V3,
            "2011-05-01",
            ChildStatus::Active,
            Some(RiskLevel::Yellow),
            false,
        )
        .into_active_model(),
    )
    .await
    .id;
    let k7 = put(
        db,
        kid(V3, "2012-05-01", ChildStatus::Closed, None, false).into_active_model(),
    )
    .await
    .id;
    let k8 = put(
        db,
        kid(V1, "2007-01-01", ChildStatus::Active, None, false).into_active_model(),
    )
    .await
    .id;
    let _k9 = put(
        db,
        kid(V1, "2012-05-01", ChildStatus::Active, None, false).into_active_model(),
    )
    .await
    .id;
    for c in [k1, k2, k3, k4, k5, k6, k7, k8] {
        put(db, category(c).into_active_model()).await;
    }
    derive_periods(db).await;

    // Enrolled 2025 in grades 4–12: k1, k2, k3, k6 (k4 is in grade 3).
    for (c, grade) in [(k1, 7), (k2, 8), (k3, 5), (k4, 3), (k6, 9)] {
        let e = rec!(enrollment {
            child_id: c,
            school_id: school,
            school_year: 2025,
            grade: grade,
            class_name: None,
            head_teacher: Some("teacher-1".into()),
            status: EnrollmentStatus::Enrolled
        });
        put(db, e.into_active_model()).await;
    }
    // Screened in the school year: k1 (RED), k2 (ORANGE), k6 (YELLOW); k4 GREEN (grade 3).
    let mut k1_screening = Uuid::nil();
    for (c, when, level) in [
        (k1, "2025-10-10T08:00:00Z", RiskLevel::Red),
        (k2, "2025-10-12T08:00:00Z", RiskLevel::Orange),
        (k4, "2025-10-01T08:00:00Z", RiskLevel::Green),
        (k6, "2025-09-20T08:00:00Z", RiskLevel::Yellow),
    ] {
        let s = rec!(screening {
            child_id: c,
            school_year: 2025,
            instrument: Instrument::Mht,
            administered_at: at(when),
            organization_id: Some(school),
            score: Some(50.0),
            item_answers: None,
            notes: None,
            risk_level: level,
            recommended_next_step: None,
        });
        let id = put(db, s.into_active_model()).await.id;
        if c == k1 {
            k1_screening = id;
        }
    }
    // k1's plan: triggered by its screening of 10 Oct 08:00, approved 15 Oct 08:00 (5 days).
    let plan = rec!(care_plan {
        child_id: k1,
        kind: CarePlanKind::SchoolOneStudentOnePlan,
        trigger_screening_id: Some(k1_screening),
        trigger_report_id: None,
        risk_level_at_start: Some(RiskLevel::Red),
        goals: None,
        review_due: None,
        approver: Some("psych-1".into()),
        approved_at: Some(at("2025-10-15T08:00:00Z")),
        status: CarePlanStatus::Active,
        plan_version: 1,
        previous_version_id: None,
        lead_worker: None,
        organization_id: Some(school),
    });
    put(db, plan.into_active_model()).await;

    // Crisis events (RED): k1 answered in 6 h; k2 answered in 36 h (its later ORANGE screening
    // stays its latest risk); k1 unanswered (late once 24 h passed).
    for (c, when, first, guardian) in [
        (
            k1,
            "2026-03-01T08:00:00Z",
            None,
            Some("2026-03-01T14:00:00Z"),
        ),
        (
            k2,
            "2025-09-15T00:00:00Z",
            Some("2025-09-16T12:00:00Z"),
            None,
        ),
        (k1, "2026-02-01T00:00:00Z", None, None),
    ] {
        let e = rec!(crisis_event {
            child_id: c,
            trigger: CrisisTrigger::Observation,
            risk_level: RiskLevel::Red,
            occurred_at: at(when),
            first_response_at: first.map(at),
            resolved_at: None,
            guardian_informed_at: guardian.map(at),
            safety_measures: None,
            emergency_services_called: false,
            urgent_referral_id: None,
            notes: None,
        });
        put(db, e.into_active_model()).await;
    }

    // Referrals: turnarounds 10 h (urgent, in SLA), 96 h (routine, late), 24 h (routine, in
    // SLA); k6's is not yet due; k3's was revoked.
    for (c, dir, urg, status, sent, answered, note) in [
        (
            k1,
            ReferralDirection::Up,
            Urgency::Urgent,
            ReferralStatus::Completed,
            "2026-03-01T10:00:00Z",
            Some("2026-03-01T20:00:00Z"),
            Some("回执"),
        ),
        (
            k2,
            ReferralDirection::Up,
            Urgency::Routine,
            ReferralStatus::Rejected,
            "2026-05-01T00:00:00Z",
            Some("2026-05-05T00:00:00Z"),
            None,
        ),
        (
            k5,
            ReferralDirection::Down,
            Urgency::Routine,
            ReferralStatus::InService,
            "2026-06-01T08:00:00Z",
            Some("2026-06-02T08:00:00Z"),
            None,
        ),
        (
            k6,
            ReferralDirection::Up,
            Urgency::Urgent,
            ReferralStatus::Sent,
            "2026-08-31T12:00:00Z",
            None,
            None,
        ),
        (
            k3,
            ReferralDirection::Up,
            Urgency::Routine,
            ReferralStatus::Revoked,
            "2026-07-01T00:00:00Z",
            None,
            None,
        ),
    ] {
        let hours = if urg == Urgency::Urgent { 24 } else { 72 };
        let r = rec!(referral {
            child_id: c,
            from_org_id: school,
            to_org_id: if dir == ReferralDirection::Down {
                center
            } else {
                hospital
            },
            direction: dir,
            parent_referral_id: None,
            reason: None,
            urgency: urg,
            authorized_view: json!(["G-ID-min"]),
            lawful_basis_id: None,
            status: status,
            sla_due_at: Some(at(sent) + chrono::Duration::hours(hours)),
            escalated: false,
            sent_at: Some(at(sent)),
            responded_at: answered.map(at),
            closed_at: None,
            outcome_note: note.map(Into::into),
            rejection_reason: None,
            treatment_episode_id: None,
        });
        put(db, r.into_active_model()).await;
    }

    // Episodes: k5 discharged 1 Jun, followed up in 4 days (not enrolled: no return); k6
    // discharged 20 Apr, followed up after 20 days, back at school on 10 May (20 days); k2 is
    // in treatment at the as-of time.
    let mut k6_episode = Uuid::nil();
    for (c, admitted, discharged) in [
        (k5, "2026-05-01T00:00:00Z", Some("2026-06-01T08:00:00Z")),
        (k6, "2026-04-01T00:00:00Z", Some("2026-04-20T08:00:00Z")),
        (k2, "2026-08-20T00:00:00Z", None),
    ] {
        let e = rec!(treatment_episode {
            child_id: c,
            organization_id: hospital,
            setting: TreatmentSetting::Inpatient,
            admitted_at: at(admitted),
            discharged_at: discharged.map(at),
            diagnosis_code: None,
            severe_mental_disorder: false,
            discharge_summary: None,
            clinician: None,
            fit_to_return: None,
            follow_up_advice: None,
            next_appointment: None,
            referral_id: None,
        });
        let id = put(db, e.into_active_model()).await.id;
        if c == k6 {
            k6_episode = id;
        }
    }
    let rts = rec!(return_to_school {
        child_id: k6,
        school_id: school,
        treatment_episode_id: Some(k6_episode),
        clearance: None,
        cleared_at: None,
        cleared_by: None,
        accommodations: None,
        return_date: Some(day("2026-05-10")),
        status: ReturnStatus::Returned,
        enrollment_id: None,
    });
    put(db, rts.into_active_model()).await;

    // Visits. As of 1 Sep 2026 the 90-day window is due dates from 3 Jun to 31 Aug: due there are
    // k1's (open), k2's (done) and k5's follow-up (done): 1 of 3 overdue. k3's is open but older;
    // k7's child is CLOSED; k1's talk is not yet due; the home visits were done.
    for (c, kind, due, done) in [
        (k1, VisitKind::ChildDirectorVisit, Some("2026-08-15"), None),
        (
            k2,
            VisitKind::ChildDirectorVisit,
            Some("2026-07-01"),
            Some("2026-06-30T10:00:00Z"),
        ),
        (k3, VisitKind::ChildDirectorVisit, Some("2026-03-01"), None),
        (
            k5,
            VisitKind::PostDischargeFollowUp,
            Some("2026-06-08"),
            Some("2026-06-05T10:00:00Z"),
        ),
        (
            k6,
            VisitKind::PostDischargeFollowUp,
            Some("2026-04-27"),
            Some("2026-05-10T10:00:00Z"),
        ),
        (k1, VisitKind::Talk, Some("2026-09-10"), None),
        (k7, VisitKind::ChildDirectorVisit, Some("2026-08-01"), None),
        (
            k1,
            VisitKind::HeadTeacherHomeVisit,
            Some("2025-12-31"),
            Some("2025-11-01T10:00:00Z"),
        ),
        (
            k3,
            VisitKind::HeadTeacherHomeVisit,
            Some("2025-12-31"),
            Some("2025-12-01T10:00:00Z"),
        ),
    ] {
        let v = rec!(visit {
            child_id: c,
            kind: kind,
            due_date: due.map(day),
            done_at: done.map(at),
            visitor: Some("worker-1".into()),
            organization_id: None,
            stressors: None,
            observations: None,
            next_due: None,
            referral_id: None,
        });
        put(db, v.into_active_model()).await;
    }

    // Reports: harm reports discovered in the period are delayed 12 h, 48 h, 10 days and 5 h
    // (the last anonymous, in village 三村); k1's abuse report was discovered before the period.
    for (c, region, cat, discovered, reported, status) in [
        (
            Some(k4),
            V2,
            ReportCategory::Abuse,
            "2026-02-01T08:00:00Z",
            "2026-02-01T20:00:00Z",
            ReportStatus::Closed,
        ),
        (
            Some(k2),
            V1,
            ReportCategory::Neglect,
            "2026-03-01T00:00:00Z",
            "2026-03-03T00:00:00Z",
            ReportStatus::Handling,
        ),
        (
            Some(k3),
            V1,
            ReportCategory::Bullying,
            "2026-04-01T00:00:00Z",
            "2026-04-11T00:00:00Z",
            ReportStatus::Closed,
        ),
        (
            Some(k1),
            V1,
            ReportCategory::Psychological,
            "2026-05-01T00:00:00Z",
            "2026-05-01T00:00:00Z",
            ReportStatus::Reported,
        ),
        (
            None,
            V3,
            ReportCategory::Abuse,
            "2026-06-01T00:00:00Z",
            "2026-06-01T05:00:00Z",
            ReportStatus::Closed,
        ),
        (
            Some(k1),
            V1,
            ReportCategory::Abuse,
            "2025-08-01T00:00:00Z",
            "2025-09-02T00:00:00Z",
            ReportStatus::Closed,
        ),
    ] {
        // The deadline the API sets: 24 h for harm, 72 h otherwise.
        let (urgency, due) = if cat.is_harm() {
            (Urgency::Urgent, at(reported) + chrono::Duration::hours(24))
        } else {
            (Urgency::Routine, at(reported) + chrono::Duration::hours(72))
        };
        let r = rec!(report {
            child_id: c,
            region_code: Some(region),
            reporter: Some("reporter-1".into()),
            reporter_org_id: None,
            anonymous_caller: c.is_none(),
            category: cat,
            occurred_at: None,
            discovered_at: at(discovered),
            reported_at: at(reported),
            reported_to: Some(json!(["POLICE"])),
            police_ref: None,
            urgency: urgency,
            due_by: due,
            status: status,
            description: None,
        });
        put(db, r.into_active_model()).await;
    }
}

const FULL: &str = r#"query($r: String!, $p: IndicatorPeriodInput) { indicators(regionCode: $r, period: $p) {
  disclosureControl period { schoolYear from to }
  region { ...all } subregions { ...all } } }
fragment all on RegionIndicators { regionCode name level
  population { count suppressed }
  riskDistribution { unscreened { count } green { count } yellow { count } orange { count } red { count } }
  inTreatment { count }
  screeningCoverage { value numerator denominator suppressed }
  highRiskPlanCoverage { value numerator denominator }
  planApprovalDays { value count }
  homeVisitCoverage { value numerator denominator }
  overdueFollowUps { value numerator denominator }
  overdueOpen { count }
  overdueByKind { kind count { count } }
  crisisResponse { medianHours { value count } p90Hours { value count } within24h { value numerator denominator } }
  referralTurnaround { sent { count } medianHours { value count } withinSla { value numerator denominator } acceptance { value numerator denominator } }
  referralClosure { up { value numerator denominator } down { value numerator denominator } }
  postDischargeFollowUp { value numerator denominator }
  returnToSchool { value numerator denominator }
  reportTimeliness { within24h { value numerator denominator } upTo1Day { count } days1To3 { count } days3To7 { count } over7Days { count } }
  reportsFiled { count } reportsOverdue { count } }"#;

fn rate(v: &Value) -> (Value, Value, Value) {
    (
        v["numerator"].clone(),
        v["denominator"].clone(),
        v["value"].clone(),
    )
}

fn close(v: &Value, expected: f64) -> bool {
    v.as_f64().is_some_and(|x| (x - expected).abs() < 1e-9)
}

fn case_officer(app: &TestApp, region: &str) -> String {
    app.token(
        "CIVIL_AFFAIRS",
        "civil_affairs.case_officer",
        None,
        region,
        "officer-1",
    )
}

fn inspector(app: &TestApp, region: &str) -> String {
    app.token(
        "SUPERVISION",
        "supervision.inspector",
        None,
        region,
        "inspector-1",
    )
}

backend_test!(values_match_hand_computed_definitions, |backend| {
    // Arrange
    let app = TestApp::spawn(backend).await;
    county_dataset(app.conn()).await;
    let t = case_officer(&app, "450102");

    // Act: school year 2025, as of 1 September 2026.
    let body = app
        .gql(&t, FULL, json!({"r": "450102", "p": {"schoolYear": 2025}}))
        .await;

    // Assert
    assert!(body["errors"].is_null(), "{body}");
    let ind = &body["data"]["indicators"];
    assert_eq!(ind["disclosureControl"], false);
    assert_eq!(
        ind["period"],
        json!({"schoolYear": 2025, "from": "2025-09-01", "to": "2026-08-31"})
    );
    let r = &ind["region"];
    assert_eq!(r["regionCode"], "450102000000");
    assert_eq!(r["name"], "兴宁区");
    assert_eq!(r["population"], json!({"count": 6, "suppressed": false}));
    // Latest risk at the as-of time: k1 RED (crisis), k2 ORANGE (screening after its crisis),
    // k4 GREEN, k6 YELLOW, k3 and k5 never screened.
    assert_eq!(
        r["riskDistribution"],
        json!({"unscreened": {"count": 2}, "green": {"count": 1}, "yellow": {"count": 1}, "orange": {"count": 1}, "red": {"count": 1}})
    );
    assert_eq!(r["inTreatment"]["count"], 1, "k2's open episode");
    // 1: 3 of the 4 enrolled in grades 4–12 were screened.
    assert_eq!(
        rate(&r["screeningCoverage"]),
        (json!(3), json!(4), json!(0.75))
    );
    // 2: of k1 (RED) and k2 (ORANGE), k1 has an approved plan in force; approved 5 days after.
    assert_eq!(
        rate(&r["highRiskPlanCoverage"]),
        (json!(1), json!(2), json!(0.5))
    );
    assert_eq!(r["planApprovalDays"]["count"], 1);
    assert!(
        close(&r["planApprovalDays"]["value"], 5.0),
        "{}",
        r["planApprovalDays"]
    );
    // 3: k1 and k3 had their head teacher's home visit.
    assert_eq!(
        rate(&r["homeVisitCoverage"]),
        (json!(2), json!(4), json!(0.5))
    );
    // 4: 1 of 3 tasks due in the 90 days is overdue; 2 open overdue tasks, both child-director visits.
    assert_eq!(r["overdueFollowUps"]["numerator"], 1);
    assert_eq!(r["overdueFollowUps"]["denominator"], 3);
    assert_eq!(r["overdueOpen"]["count"], 2);
    let by_kind: Vec<(String, i64)> = r["overdueByKind"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| {
            (
                k["kind"].as_str().unwrap().to_owned(),
                k["count"]["count"].as_i64().unwrap(),
            )
        })
        .collect();
    assert!(
        by_kind.contains(&("CHILD_DIRECTOR_VISIT".into(), 2))
            && by_kind.iter().map(|k| k.1).sum::<i64>() == 2,
        "{by_kind:?}"
    );
    // 5: responses of 6 h and 36 h, one unanswered for more than 24 h.
    let crisis = &r["crisisResponse"];
    assert_eq!(crisis["medianHours"]["count"], 2);
    assert!(close(&crisis["medianHours"]["value"], 21.0), "{crisis}");
    assert!(close(&crisis["p90Hours"]["value"], 36.0), "{crisis}");
    assert_eq!(crisis["within24h"]["numerator"], 1);
    assert_eq!(crisis["within24h"]["denominator"], 3);
    // 6: 5 sent; answered in 10, 96 and 24 h (median 24); in SLA 2 of the 3 due (k6's is not
    // yet due, k3's was revoked); 2 of 3 answers accepted.
    let turn = &r["referralTurnaround"];
    assert_eq!(turn["sent"]["count"], 5);
    assert_eq!(turn["medianHours"]["count"], 3);
    assert!(close(&turn["medianHours"]["value"], 24.0), "{turn}");
    assert_eq!(rate(&turn["withinSla"]).0, json!(2));
    assert_eq!(rate(&turn["withinSla"]).1, json!(3));
    assert_eq!(rate(&turn["acceptance"]).0, json!(2));
    assert_eq!(rate(&turn["acceptance"]).1, json!(3));
    // 7: sent before 2 Aug and not revoked: UP 1 of 2 completed with a note, DOWN 0 of 1.
    assert_eq!(
        rate(&r["referralClosure"]["up"]),
        (json!(1), json!(2), json!(0.5))
    );
    assert_eq!(
        rate(&r["referralClosure"]["down"]),
        (json!(0), json!(1), json!(0.0))
    );
    // 8: k5 followed up in 4 days, k6 after 20.
    assert_eq!(
        rate(&r["postDischargeFollowUp"]),
        (json!(1), json!(2), json!(0.5))
    );
    // 9: k6 (enrolled before admission) back at school 20 days after discharge.
    assert_eq!(rate(&r["returnToSchool"]), (json!(1), json!(1), json!(1.0)));
    // 10: harm reports of the period delayed 12 h, 5 h (≤ 1 day), 48 h, 10 days.
    let rep = &r["reportTimeliness"];
    assert_eq!(rate(&rep["within24h"]), (json!(2), json!(4), json!(0.5)));
    assert_eq!(
        (
            &rep["upTo1Day"]["count"],
            &rep["days1To3"]["count"],
            &rep["days3To7"]["count"],
            &rep["over7Days"]["count"]
        ),
        (&json!(2), &json!(1), &json!(0), &json!(1))
    );
    assert_eq!(r["reportsFiled"]["count"], 6);
    assert_eq!(r["reportsOverdue"]["count"], 2);

    // Subregions: the two townships, attributed by residence (the anonymous report by place).
    let subs = ind["subregions"].as_array().unwrap();
    let codes: Vec<&str> = subs
        .iter()
        .map(|s| s["regionCode"].as_str().unwrap())
        .collect();
    assert_eq!(codes, vec!["450102001000", "450102002000"]);
    assert_eq!(subs[0]["population"]["count"], 4);
    assert_eq!(subs[1]["population"]["count"], 2);
    assert_eq!(subs[0]["reportTimeliness"]["upTo1Day"]["count"], 1);
    assert_eq!(
        subs[1]["reportTimeliness"]["upTo1Day"]["count"], 1,
        "the anonymous report counts where it happened"
    );
    assert_eq!(subs[1]["postDischargeFollowUp"]["denominator"], 2);
    // The parent is the sum of its parts.
    for path in [
        ["population", "count"],
        ["reportsFiled", "count"],
        ["overdueOpen", "count"],
    ] {
        let sum: i64 = subs
            .iter()
            .map(|s| s[path[0]][path[1]].as_i64().unwrap())
            .sum();
        assert_eq!(r[path[0]][path[1]].as_i64().unwrap(), sum, "{path:?}");
    }

    // The current period uses the maintained risk level and treatment flag: same population.
    let body = app.gql(&t, FULL, json!({"r": "450102"})).await;
    let now = &body["data"]["indicators"]["region"];
    assert_eq!(now["population"]["count"], 6, "{body}");
    assert_eq!(now["riskDistribution"], r["riskDistribution"]);
    assert_eq!(now["inTreatment"]["count"], 1);
});

backend_test!(scope_limits_a_county_officer_to_its_county, |backend| {
    // Arrange: the county dataset, plus children of another county.
    let app = TestApp::spawn(backend).await;
    county_dataset(app.conn()).await;
    for _ in 0..7 {
        let c = put(
            app.conn(),
            kid(
                450_103_001_001,
                "2013-01-01",
                ChildStatus::Active,
                None,
                false,
            )
            .into_active_model(),
        )
        .await
        .id;
        put(app.conn(), category(c).into_active_model()).await;
    }
    derive_periods(app.conn()).await;
    let county = case_officer(&app, "450102");
    let city = case_officer(&app, "4501");
    let q = "query($r: String!) { indicators(regionCode: $r) { region { population { count } } subregions { regionCode population { count } } } }";

    // Act + Assert: the city officer sees both counties; the county officer only its own.
    let body = app.gql(&city, q, json!({"r": "4501"})).await;
    assert_eq!(
        body["data"]["indicators"]["region"]["population"]["count"], 13,
        "{body}"
    );
    let body = app.gql(&county, q, json!({"r": "450102"})).await;
    assert_eq!(
        body["data"]["indicators"]["region"]["population"]["count"], 6,
        "{body}"
    );
    let body = app.gql(&county, q, json!({"r": "4501"})).await;
    assert_eq!(
        error_codes(&body),
        vec!["FORBIDDEN"],
        "the city is outside the county officer's jurisdiction: {body}"
    );
    let body = app.gql(&county, q, json!({"r": "450103"})).await;
    assert_eq!(error_codes(&body), vec!["FORBIDDEN"], "{body}");
    // Roles without G-AGG may not ask at all.
    let teacher = app.token(
        "EDUCATION",
        "education.head_teacher",
        None,
        "450102",
        "teacher-1",
    );
    let body = app.gql(&teacher, q, json!({"r": "450102"})).await;
    assert_eq!(error_codes(&body), vec!["FORBIDDEN"], "{body}");
});

/// Children with a difficulty category, `n` per village (bulk-inserted).
async fn population(db: &DatabaseConnection, villages: &[(i64, usize)]) {
    let mut kids = Vec::new();
    for (village, n) in villages {
        for _ in 0..*n {
            kids.push(kid(
                *village,
                "2013-01-01",
                ChildStatus::Active,
                None,
                false,
            ));
        }
    }
    let cats: Vec<_> = kids
        .iter()
        .map(|k| category(k.id).into_active_model())
        .collect();
    for chunk in kids.chunks(200) {
        ent::child::Entity::insert_many(
            chunk
                .iter()
                .cloned()
                .map(IntoActiveModel::into_active_model),
        )
        .exec_without_returning(db)
        .await
        .unwrap();
    }
    for chunk in cats.chunks(200) {
        ent::child_difficulty::Entity::insert_many(chunk.to_vec())
            .exec_without_returning(db)
            .await
            .unwrap();
    }
    derive_periods(db).await;
}

const POP: &str = "query($r: String!, $p: IndicatorPeriodInput) { indicators(regionCode: $r, period: $p) { disclosureControl region { regionCode population { count suppressed } screeningCoverage { value numerator denominator suppressed } } subregions { regionCode population { count suppressed } screeningCoverage { value numerator denominator suppressed } } } }";

/// Counties of Nanning: 450102 has 3 children (a small cell), 450103 has 20 in two townships,
/// 450105 has 50; Liuzhou has 40. In 450105, 10 are enrolled and 3 of them screened.
async fn small_cell_dataset(app: &TestApp) {
    let db = app.conn();
    regions(db).await;
    population(
        db,
        &[
            (V1, 3),
            (450_103_001_001, 10),
            (450_103_002_001, 10),
            (450_105_001_001, 50),
            (450_201_001_001, 40),
        ],
    )
    .await;
    let school = org(
        db,
        "江南一中",
        OrganizationKind::School,
        Agency::Education,
        450_105_000_000,
    )
    .await;
    let kids: Vec<Uuid> = ent::child::Entity::find()
        .all(db)
        .await
        .unwrap()
        .into_iter()
        .filter(|c| c.county_code == 450_105_000_000)
        .map(|c| c.id)
        .take(10)
        .collect();
    let now = chrono::Utc::now();
    let year = carehub_api::service::indicators::school_year_of(now.date_naive());
    for (i, c) in kids.iter().enumerate() {
        let e = rec!(enrollment {
            child_id: *c,
            school_id: school,
            school_year: year,
            grade: 5,
            class_name: None,
            head_teacher: None,
            status: EnrollmentStatus::Enrolled
        });
        put(db, e.into_active_model()).await;
        if i < 3 {
            let s = rec!(screening {
                child_id: *c,
                school_year: year,
                instrument: Instrument::Mht,
                administered_at: now - chrono::Duration::minutes(5),
                organization_id: Some(school),
                score: None,
                item_answers: None,
                notes: None,
                risk_level: RiskLevel::Green,
                recommended_next_step: None,
            });
            put(db, s.into_active_model()).await;
        }
    }
}

fn sub<'a>(body: &'a Value, code: &str) -> &'a Value {
    body["data"]["indicators"]["subregions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["regionCode"] == code)
        .unwrap_or_else(|| panic!("no subregion {code}: {body}"))
}

backend_test!(small_counts_are_suppressed_with_a_complement, |backend| {
    // Arrange
    let app = TestApp::spawn(backend).await;
    small_cell_dataset(&app).await;
    let t = inspector(&app, "45");

    // Act
    let body = app.gql(&t, POP, json!({"r": "4501"})).await;

    // Assert: 3 is suppressed; so is its smallest sibling, so the city total (73, shown) minus
    // the shown counties (50) leaves 23 = two unknowns, not the small cell.
    assert!(body["errors"].is_null(), "{body}");
    assert_eq!(body["data"]["indicators"]["disclosureControl"], true);
    assert_eq!(
        body["data"]["indicators"]["region"]["population"],
        json!({"count": 73, "suppressed": false})
    );
    assert_eq!(
        sub(&body, "450102000000")["population"],
        json!({"count": null, "suppressed": true})
    );
    assert_eq!(
        sub(&body, "450103000000")["population"],
        json!({"count": null, "suppressed": true}),
        "complementary suppression"
    );
    assert_eq!(
        sub(&body, "450105000000")["population"],
        json!({"count": 50, "suppressed": false})
    );
    let hidden = body["data"]["indicators"]["subregions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["population"]["suppressed"] == true)
        .count();
    assert!(
        hidden >= 2,
        "a suppressed cell never stands alone in its group: {body}"
    );
    // A rate whose numerator is suppressed is suppressed (3 of 10 screened).
    assert_eq!(
        sub(&body, "450105000000")["screeningCoverage"],
        json!({"value": null, "numerator": null, "denominator": 10, "suppressed": true})
    );

    // The same caller with row access sees everything (no suppression for row-scope roles).
    let officer = case_officer(&app, "4501");
    let body = app.gql(&officer, POP, json!({"r": "4501"})).await;
    assert_eq!(body["data"]["indicators"]["disclosureControl"], false);
    assert_eq!(
        sub(&body, "450102000000")["population"],
        json!({"count": 3, "suppressed": false})
    );
});

backend_test!(suppression_does_not_depend_on_the_query_path, |backend| {
    // Arrange
    let app = TestApp::spawn(backend).await;
    small_cell_dataset(&app).await;
    let province = inspector(&app, "45");
    let city_officer = app.token(
        "HEALTH",
        "health.commission_officer",
        None,
        "4501",
        "commission-1",
    );
    let county_officer = app.token(
        "EDUCATION",
        "education.bureau_officer",
        None,
        "450103",
        "bureau-1",
    );

    // Act: each county asked as a child of its city, and directly, by callers of three levels.
    let as_child = app.gql(&province, POP, json!({"r": "4501"})).await;
    let as_child_city = app.gql(&city_officer, POP, json!({"r": "4501"})).await;
    for code in ["450102", "450103", "450105"] {
        let direct = app.gql(&province, POP, json!({"r": code})).await;
        let full = format!("{code}000000");
        // Assert: the same cell, the same answer, whoever asks and however.
        assert_eq!(
            direct["data"]["indicators"]["region"]["population"],
            sub(&as_child, &full)["population"],
            "{code}: {direct}"
        );
        assert_eq!(
            sub(&as_child_city, &full)["population"],
            sub(&as_child, &full)["population"],
            "{code}"
        );
        assert_eq!(
            direct["data"]["indicators"]["region"]["screeningCoverage"],
            sub(&as_child, &full)["screeningCoverage"],
            "{code}"
        );
    }
    let direct = app.gql(&county_officer, POP, json!({"r": "450103"})).await;
    assert_eq!(
        direct["data"]["indicators"]["region"]["population"],
        json!({"count": null, "suppressed": true}),
        "{direct}"
    );

    // The complement (450103, 20 children) cannot be rebuilt from its own townships (10 + 10):
    // a suppressed total has at least two suppressed parts.
    let townships = direct["data"]["indicators"]["subregions"]
        .as_array()
        .unwrap();
    assert_eq!(townships.len(), 2, "{direct}");
    assert!(
        townships
            .iter()
            .all(|t| t["population"]["suppressed"] == true),
        "{direct}"
    );
    // Nor can the small cell be rebuilt from its villages.
    let body = app.gql(&province, POP, json!({"r": "450102001"})).await;
    assert!(
        body["data"]["indicators"]["subregions"]
            .as_array()
            .unwrap()
            .iter()
            .all(|v| v["population"]["count"].is_null() || v["population"]["count"] == 0),
        "{body}"
    );
});

backend_test!(
    overlapping_periods_are_refused_without_row_access,
    |backend| {
        // Arrange
        let app = TestApp::spawn(backend).await;
        small_cell_dataset(&app).await;
        let t = inspector(&app, "45");

        // Act + Assert: two overlapping custom periods would difference to the days between them.
        let body = app
            .gql(
                &t,
                POP,
                json!({"r": "4501", "p": {"from": "2026-09-01", "to": "2026-10-31"}}),
            )
            .await;
        assert_eq!(error_codes(&body), vec!["BAD_USER_INPUT"], "{body}");
        assert_eq!(body["errors"][0]["extensions"]["field"], "period.from");
        // Whole school years are the only periods: they never overlap.
        let body = app
            .gql(&t, POP, json!({"r": "4501", "p": {"schoolYear": 2025}}))
            .await;
        assert!(body["errors"].is_null(), "{body}");
        // Outside the token's region is outside the jurisdiction.
        let city = app.token(
            "HEALTH",
            "health.commission_officer",
            None,
            "4502",
            "commission-2",
        );
        let body = app.gql(&city, POP, json!({"r": "4501"})).await;
        assert_eq!(error_codes(&body), vec!["FORBIDDEN"], "{body}");
    }
);

backend_test!(statement_count_is_constant, |backend| {
    // Arrange: a small dataset, measured, then many more children and records.
    let app = TestApp::spawn(backend).await;
    county_dataset(app.conn()).await;
    let officer = case_officer(&app, "450102");
    let supervisor = inspector(&app, "45");
    let count = |body: &Value| {
        body["extensions"]["sqlStatements"]
            .as_u64()
            .unwrap_or(u64::MAX)
    };

    // Act
    let small_rows = count(&app.gql(&officer, FULL, json!({"r": "450102"})).await);
    let small_agg = count(&app.gql(&supervisor, FULL, json!({"r": "450102"})).await);
    population(
        app.conn(),
        &[(V1, 60), (V2, 45), (V3, 30), (450_103_001_001, 25)],
    )
    .await;
    let big_rows = count(&app.gql(&officer, FULL, json!({"r": "450102"})).await);
    let big_agg = count(&app.gql(&supervisor, FULL, json!({"r": "45"})).await);
    let historic = count(
        &app.gql(
            &officer,
            FULL,
            json!({"r": "450102001", "p": {"schoolYear": 2025}}),
        )
        .await,
    );

    // Assert: one statement per record family plus the directory, whatever the data.
    assert!(small_rows <= 8, "{small_rows}");
    assert_eq!(small_rows, big_rows);
    assert_eq!(small_agg, big_agg);
    assert_eq!(small_rows, small_agg);
    assert_eq!(small_rows, historic);
});

/// The risk view of the dashboard: population, risk levels and treatment only.
const RISK_ONLY: &str = r#"query($r: String!, $p: IndicatorPeriodInput) { indicators(regionCode: $r, period: $p) {
  region { ...risk } subregions { regionCode ... on RegionIndicators { riskDistribution { unscreened { count } green { count } yellow { count } orange { count } red { count } } } } } }
fragment risk on RegionIndicators { regionCode population { count suppressed } inTreatment { count }
  riskDistribution { unscreened { count } green { count } yellow { count } orange { count } red { count } } }"#;

// A selection's families only: the same values as the full answer, fewer statements.
backend_test!(a_partial_selection_computes_only_its_families, |backend| {
    // Arrange: rows for the officer, disclosure control for the inspector.
    let app = TestApp::spawn(backend).await;
    county_dataset(app.conn()).await;
    population(app.conn(), &[(V1, 3), (V2, 7)]).await;
    let officer = case_officer(&app, "450102");
    let supervisor = inspector(&app, "45");
    let statements = |body: &Value| body["extensions"]["sqlStatements"].as_u64();

    for (who, t, r) in [
        ("officer", &officer, "450102"),
        ("inspector", &supervisor, "4501"),
    ] {
        for p in [json!(null), json!({"schoolYear": 2025})] {
            // Act
            let vars = json!({"r": r, "p": p});
            let full = app.gql(t, FULL, vars.clone()).await;
            let part = app.gql(t, RISK_ONLY, vars).await;

            // Assert
            assert!(
                full["errors"].is_null() && part["errors"].is_null(),
                "{full} {part}"
            );
            let (f, p_) = (&full["data"]["indicators"], &part["data"]["indicators"]);
            for key in ["population", "inTreatment", "riskDistribution"] {
                assert_eq!(p_["region"][key], f["region"][key], "{who} {r} {key}");
            }
            let subs = f["subregions"].as_array().expect("subregions");
            assert!(!subs.is_empty(), "{who}: {f}");
            assert_eq!(p_["subregions"].as_array().map(Vec::len), Some(subs.len()));
            for (a, b) in subs
                .iter()
                .zip(p_["subregions"].as_array().into_iter().flatten())
            {
                assert_eq!(a["regionCode"], b["regionCode"]);
                assert_eq!(a["riskDistribution"], b["riskDistribution"], "{who} {r}");
            }
            // The directory and the population statement, against one per family.
            assert_eq!(statements(&part), Some(2), "{who}: {part}");
            assert!(statements(&full) > Some(2), "{who}: {full}");
        }
    }
});

// The population of today counted from the children's stored difficulty periods equals the
// definition (a category valid today) for every shape of periods, and the sweep brings a
// period that ended up to date with the next one.
backend_test!(
    stored_difficulty_periods_count_todays_population,
    |backend| {
        // Arrange: one child per shape of categories (from, to; archived), in village V1.
        let app = TestApp::spawn(backend).await;
        regions(app.conn()).await;
        let today = chrono::Utc::now().date_naive();
        let d = |days: i64| (today + chrono::Duration::days(days)).to_string();
        let shapes: Vec<Vec<(String, Option<String>, bool)>> = vec![
            vec![],                                                             // none
            vec![(d(-400), Some(d(-30)), false)],                               // ended
            vec![(d(-400), None, false)],                                       // open-ended
            vec![(d(-10), Some(d(0)), false)],                                  // ends today
            vec![(d(1), None, false)],                                          // begins tomorrow
            vec![(d(-400), None, true)],                                        // archived
            vec![(d(-400), Some(d(-30)), false), (d(-29), Some(d(30)), false)], // ended, then current
            vec![(d(-50), Some(d(5)), false), (d(-5), Some(d(40)), false)],     // two overlapping
            vec![(d(-50), Some(d(-1)), false), (d(3), None, false)],            // gap over today
        ];
        for shape in &shapes {
            let k = put(
                app.conn(),
                kid(V1, "2014-03-01", ChildStatus::Active, None, false).into_active_model(),
            )
            .await
            .id;
            for (from, to, archived) in shape {
                let mut c = category(k);
                c.valid_from = day(from);
                c.valid_to = to.as_deref().map(day);
                if *archived {
                    c.archived_at = Some(chrono::Utc::now());
                }
                put(app.conn(), c.into_active_model()).await;
            }
        }
        let by_definition = |db: &DatabaseConnection| {
            let sql = format!(
            "SELECT COUNT(*) AS n FROM children c WHERE EXISTS (SELECT 1 FROM child_difficulties d \
             WHERE d.child_id = c.id AND d.archived_at IS NULL AND d.valid_from <= '{today}' \
             AND (d.valid_to IS NULL OR d.valid_to >= '{today}'))"
        );
            let db = db.clone();
            async move {
                let row = db
                    .query_one_raw(sea_orm::Statement::from_string(
                        db.get_database_backend(),
                        sql,
                    ))
                    .await
                    .unwrap()
                    .unwrap();
                row.try_get::<i64>("", "n").unwrap()
            }
        };
        let t = case_officer(&app, "450102");
        let population =
            |body: Value| body["data"]["indicators"]["region"]["population"]["count"].clone();

        // Act: periods derived today.
        derive_periods(app.conn()).await;
        let counted = population(app.gql(&t, POP, json!({"r": "450102"})).await);

        // Assert: open-ended, ends today, ended-then-current, two overlapping.
        assert_eq!(by_definition(app.conn()).await, 4);
        assert_eq!(counted, json!(4));

        // Arrange: the periods as derived 35 days ago (the ended-then-current child's stored
        // period is the one that ended since; the gap child's the one before the gap).
        let stale = carehub_api::write::derived::refresh_period(
            app.conn().get_database_backend(),
            today - chrono::Duration::days(35),
            carehub_api::write::derived::Which::All,
        );
        app.conn().execute_raw(stale).await.unwrap();
        let before_sweep = population(app.gql(&t, POP, json!({"r": "450102"})).await);

        // Act: the sweep refreshes periods that ended.
        carehub_api::sweep::sweep(app.conn(), chrono::Utc::now())
            .await
            .unwrap();
        let after_sweep = population(app.gql(&t, POP, json!({"r": "450102"})).await);

        // Assert
        assert_eq!(
            before_sweep,
            json!(3),
            "stale: the later period is not known yet"
        );
        assert_eq!(after_sweep, json!(4));

        // Act: a child registered through the API with a category valid since last year.
        let reg = app
        .gql(
            &t,
            "mutation($i: RegisterChildInput!) { registerChild(input: $i) { id } }",
            json!({"i": {"name": "黄小强", "gender": "MALE", "birthDate": "2015-05-05", "residenceRegionCode": "450102001001",
                "difficultyCategories": [{"category": "LEFT_BEHIND", "validFrom": d(-365)}]}}),
        )
        .await;
        let after_write = population(app.gql(&t, POP, json!({"r": "450102"})).await);

        // Assert: counted at once (its write derived its period in the same transaction).
        assert!(reg["errors"].is_null(), "{reg}");
        assert_eq!(after_write, json!(5));
    }
);
