//! A small, hand-made dataset whose every row a test can name: two counties of Nanning, the
//! organizations that serve them, and children reached through each kind of row-scope link.

use carehub_entity as ent;
use carehub_entity::enums::*;
use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use sea_orm::{ActiveModelTrait, DatabaseConnection, IntoActiveModel};
use serde_json::json;
use uuid::Uuid;

/// Fixed "now" of the fixtures (rows are dated relative to it).
pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 1, 8, 0, 0)
        .single()
        .expect("valid time")
}

/// Ids of everything in the fixture set.
#[derive(Debug, Clone)]
pub struct Fixture {
    pub school_a: Uuid,
    pub school_b: Uuid,
    pub hospital: Uuid,
    pub other_hospital: Uuid,
    pub health_center: Uuid,
    pub civil_office: Uuid,
    pub welfare: Uuid,
    pub hotline: Uuid,
    pub womens_fed: Uuid,
    /// 450102, enrolled at school A in class of teacher-a1, RED, care plan led by worker-1,
    /// UP referral to the hospital (ACCEPTED; view G-ID-min, G-RISK, G-REF) and an episode there.
    pub c1: Uuid,
    /// 450102, enrolled at school A in another class, GREEN screening by school A.
    pub c2: Uuid,
    /// 450103 (other county), enrolled at school B, referral to the hospital SENT with view
    /// G-ID-min, G-GUARD, G-SCR, G-REF, and a CONSENT basis releasing G-SCR to HEALTH.
    pub c3: Uuid,
    /// 450102, not enrolled; an ABUSE report created by hotline-1 and a victim-aid case of vaw-1.
    pub c4: Uuid,
    /// 450103, lives in the welfare institution (responsible organization).
    pub c5: Uuid,
    pub c1_screening: Uuid,
    pub c2_screening: Uuid,
    pub c3_screening: Uuid,
    pub c1_referral: Uuid,
    pub c3_referral: Uuid,
    pub c1_episode: Uuid,
    pub c4_report: Uuid,
    pub c3_basis: Uuid,
}

fn id() -> Uuid {
    Uuid::now_v7()
}

fn org(
    name: &str,
    kind: OrganizationKind,
    agency: Agency,
    region: i64,
) -> ent::organization::Model {
    ent::organization::Model {
        id: id(),
        created_at: t0(),
        created_by: "fixture".into(),
        updated_at: t0(),
        updated_by: "fixture".into(),
        version: 1,
        archived_at: None,
        owner_agency: agency,
        owner_org_id: None,
        name: name.into(),
        kind,
        agency,
        region_code: region,
        contact_name: Some(format!("{name} contact")),
        contact_phone: Some("0771-0000000".into()),
    }
}

/// A child row with sensible defaults.
pub fn child_row(
    name: &str,
    village: i64,
    birth: NaiveDate,
    vault: &carehub_api::crypto::Vault,
    seq: u32,
) -> ent::child::Model {
    let county6 = format!("{}", village / 1_000_000);
    let idn = carehub_api::domain::idnumber::synthesize(&county6, birth, seq);
    let parsed = carehub_api::domain::idnumber::IdNumber::parse(&idn).expect("valid synthetic id");
    let mut chars = name.chars();
    let first = chars.next().unwrap_or('某');
    let last = name.chars().last().unwrap_or('某');
    ent::child::Model {
        id: id(),
        created_at: t0(),
        created_by: "fixture".into(),
        updated_at: t0(),
        updated_by: "fixture".into(),
        version: 1,
        archived_at: None,
        owner_agency: Agency::CivilAffairs,
        owner_org_id: None,
        display_name: format!("{first}*{last}"),
        gender: Gender::Female,
        birth_year_month: birth.format("%Y-%m").to_string(),
        residence_region_code: village,
        city_code: carehub_api::domain::region::truncate(village, 4),
        county_code: carehub_api::domain::region::truncate(village, 6),
        household_region_code: village,
        status: ChildStatus::Active,
        responsible_org_id: None,
        name: name.into(),
        id_number_enc: Some(vault.encrypt(&idn)),
        id_number_bidx: Some(vault.blind_index(&idn)),
        id_number_mask: Some(parsed.mask()),
        birth_date: birth,
        ethnicity: Some("壮族".into()),
        address: Some("某街道1号".into()),
        phone: Some("13800000000".into()),
        living_arrangement: Some(LivingArrangement::WithGrandparents),
        key_case: false,
        current_risk_level: None,
        risk_rank: 0,
        risk_updated_at: None,
        in_treatment: false,
        fit_to_return: None,
        difficulty_from: None,
        difficulty_to: None,
    }
}

macro_rules! meta {
    ($agency:expr, $org:expr) => {
        (
            id(),
            t0(),
            "fixture".to_string(),
            t0(),
            "fixture".to_string(),
            1,
            None,
            $agency,
            $org,
        )
    };
}

/// Inserts the fixture set.
pub async fn load(
    db: &DatabaseConnection,
    vault: &carehub_api::crypto::Vault,
) -> anyhow::Result<Fixture> {
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
            450_102_001_000,
            "民生街道",
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
            450_103_001_001,
            "三村",
            RegionLevel::Village,
            Some(450_103_001_000),
        ),
    ] {
        ent::region::Model {
            code,
            name: name.into(),
            level,
            parent_code: parent,
        }
        .into_active_model()
        .insert(db)
        .await?;
    }
    let orgs = [
        org(
            "兴宁一小",
            OrganizationKind::School,
            Agency::Education,
            450_102_000_000,
        ),
        org(
            "青秀二中",
            OrganizationKind::School,
            Agency::Education,
            450_103_000_000,
        ),
        org(
            "南宁市第五人民医院",
            OrganizationKind::PsychiatricHospital,
            Agency::Health,
            450_100_000_000,
        ),
        org(
            "柳州市精神病院",
            OrganizationKind::PsychiatricHospital,
            Agency::Health,
            450_200_000_000,
        ),
        org(
            "兴宁社区卫生服务中心",
            OrganizationKind::CommunityHealthCenter,
            Agency::Health,
            450_102_000_000,
        ),
        org(
            "兴宁区民政局",
            OrganizationKind::AgencyOffice,
            Agency::CivilAffairs,
            450_102_000_000,
        ),
        org(
            "南宁市儿童福利院",
            OrganizationKind::WelfareInstitution,
            Agency::CivilAffairs,
            450_100_000_000,
        ),
        org(
            "南宁12355",
            OrganizationKind::Hotline12355,
            Agency::YouthLeague,
            450_100_000_000,
        ),
        org(
            "兴宁区妇联",
            OrganizationKind::AgencyOffice,
            Agency::WomensFederation,
            450_102_000_000,
        ),
    ];
    for o in &orgs {
        o.clone().into_active_model().insert(db).await?;
    }
    let [school_a, school_b, hospital, other_hospital, health_center, civil_office, welfare, hotline, womens_fed] =
        orgs.map(|o| o.id);

    let birth = NaiveDate::from_ymd_opt(2014, 3, 15).expect("date");
    let mut c1 = child_row("李小明", 450_102_001_001, birth, vault, 11);
    c1.current_risk_level = Some(RiskLevel::Red);
    c1.risk_rank = 4;
    c1.risk_updated_at = Some(t0());
    c1.in_treatment = true;
    c1.key_case = true;
    let c2 = child_row(
        "王小红",
        450_102_001_002,
        NaiveDate::from_ymd_opt(2013, 6, 1).expect("date"),
        vault,
        22,
    );
    let mut c3 = child_row(
        "张小华",
        450_103_001_001,
        NaiveDate::from_ymd_opt(2012, 9, 9).expect("date"),
        vault,
        33,
    );
    c3.current_risk_level = Some(RiskLevel::Orange);
    c3.risk_rank = 3;
    let mut c4 = child_row(
        "赵小刚",
        450_102_001_001,
        NaiveDate::from_ymd_opt(2015, 1, 20).expect("date"),
        vault,
        44,
    );
    c4.created_by = "hotline-1".into();
    c4.owner_agency = Agency::YouthLeague;
    let mut c5 = child_row(
        "陈小丽",
        450_103_001_001,
        NaiveDate::from_ymd_opt(2016, 11, 2).expect("date"),
        vault,
        55,
    );
    c5.responsible_org_id = Some(welfare);
    c5.living_arrangement = Some(LivingArrangement::Institution);
    for c in [&c1, &c2, &c3, &c4, &c5] {
        c.clone().into_active_model().insert(db).await?;
    }

    for (child, cat) in [
        (c1.id, DifficultyCategory::LeftBehind),
        (c2.id, DifficultyCategory::LowIncome),
        (c3.id, DifficultyCategory::LeftBehind),
        (c4.id, DifficultyCategory::Victim),
        (c5.id, DifficultyCategory::Orphan),
    ] {
        let (id, ca, cb, ua, ub, v, ar, oa, oo) = meta!(Agency::CivilAffairs, Some(civil_office));
        ent::child_difficulty::Model {
            id,
            created_at: ca,
            created_by: cb,
            updated_at: ua,
            updated_by: ub,
            version: v,
            archived_at: ar,
            owner_agency: oa,
            owner_org_id: oo,
            child_id: child,
            category: cat,
            valid_from: NaiveDate::from_ymd_opt(2024, 1, 1).expect("date"),
            valid_to: None,
            verified_by: Some("officer-1".into()),
            verified_at: Some(t0()),
        }
        .into_active_model()
        .insert(db)
        .await?;
    }
    // Put in directly: derive the difficulty periods as the seeder does after a bulk load.
    sea_orm::ConnectionTrait::execute_raw(
        db,
        carehub_api::write::derived::refresh_period(
            sea_orm::ConnectionTrait::get_database_backend(db),
            chrono::Utc::now().date_naive(),
            carehub_api::write::derived::Which::All,
        ),
    )
    .await?;

    for (child, name, relation) in [
        (c1.id, "李大爷", GuardianRelation::Grandparent),
        (c2.id, "王妈妈", GuardianRelation::Mother),
        (c3.id, "张奶奶", GuardianRelation::Grandparent),
    ] {
        let (id, ca, cb, ua, ub, v, ar, oa, oo) = meta!(Agency::CivilAffairs, Some(civil_office));
        let gid = carehub_api::domain::idnumber::synthesize(
            "450102",
            NaiveDate::from_ymd_opt(1960, 5, 5).expect("date"),
            7,
        );
        ent::guardian::Model {
            id,
            created_at: ca,
            created_by: cb,
            updated_at: ua,
            updated_by: ub,
            version: v,
            archived_at: ar,
            owner_agency: oa,
            owner_org_id: oo,
            child_id: child,
            name: name.into(),
            relation,
            is_legal_guardian: true,
            is_actual_caregiver: true,
            phone: Some("13900000000".into()),
            id_number_enc: Some(vault.encrypt(&gid)),
            id_number_bidx: Some(vault.blind_index(&gid)),
            id_number_mask: Some(carehub_api::domain::idnumber::mask(&gid, 4, 4)),
            guardianship_status: GuardianshipStatus::Normal,
            situation: Some("外出务工".into()),
        }
        .into_active_model()
        .insert(db)
        .await?;
    }

    for (child, school, teacher, class) in [
        (c1.id, school_a, "teacher-a1", "四年级1班"),
        (c2.id, school_a, "teacher-a2", "五年级2班"),
        (c3.id, school_b, "teacher-b1", "六年级1班"),
    ] {
        let (id, ca, cb, ua, ub, v, ar, oa, oo) = meta!(Agency::Education, Some(school));
        ent::enrollment::Model {
            id,
            created_at: ca,
            created_by: cb,
            updated_at: ua,
            updated_by: ub,
            version: v,
            archived_at: ar,
            owner_agency: oa,
            owner_org_id: oo,
            child_id: child,
            school_id: school,
            school_year: 2026,
            grade: 5,
            class_name: Some(class.into()),
            head_teacher: Some(teacher.into()),
            status: EnrollmentStatus::Enrolled,
        }
        .into_active_model()
        .insert(db)
        .await?;
    }

    let mut screening_ids = Vec::new();
    for (child, school, risk, score) in [
        (c1.id, school_a, RiskLevel::Red, 88.0),
        (c2.id, school_a, RiskLevel::Green, 20.0),
        (c3.id, school_b, RiskLevel::Orange, 66.0),
    ] {
        let (id, ca, cb, ua, ub, v, ar, oa, oo) = meta!(Agency::Education, Some(school));
        screening_ids.push(id);
        ent::screening::Model {
            id,
            created_at: ca,
            created_by: cb,
            updated_at: ua,
            updated_by: ub,
            version: v,
            archived_at: ar,
            owner_agency: oa,
            owner_org_id: oo,
            child_id: child,
            school_year: 2026,
            instrument: Instrument::Mht,
            administered_at: t0() - Duration::days(30),
            organization_id: Some(school),
            score: Some(score),
            item_answers: Some(json!([1, 2, 3])),
            notes: Some("测评备注".into()),
            risk_level: risk,
            recommended_next_step: Some("复评".into()),
        }
        .into_active_model()
        .insert(db)
        .await?;
    }

    {
        let (id, ca, cb, ua, ub, v, ar, oa, oo) = meta!(Agency::Education, Some(school_a));
        ent::care_plan::Model {
            id,
            created_at: ca,
            created_by: cb,
            updated_at: ua,
            updated_by: ub,
            version: v,
            archived_at: ar,
            owner_agency: oa,
            owner_org_id: oo,
            child_id: c1.id,
            kind: CarePlanKind::SchoolOneStudentOnePlan,
            trigger_screening_id: Some(screening_ids[0]),
            trigger_report_id: None,
            risk_level_at_start: Some(RiskLevel::Red),
            goals: Some("稳定情绪".into()),
            review_due: NaiveDate::from_ymd_opt(2026, 12, 31),
            approver: Some("psych-a".into()),
            approved_at: Some(t0()),
            status: CarePlanStatus::Active,
            plan_version: 1,
            previous_version_id: None,
            lead_worker: Some("worker-1".into()),
            organization_id: Some(school_a),
        }
        .into_active_model()
        .insert(db)
        .await?;
        ent::care_plan_intervention::Model {
            id: Uuid::now_v7(),
            care_plan_id: id,
            position: 1,
            action: "每周谈心".into(),
            responsible_agency: Some(Agency::Education),
            responsible_worker: Some("teacher-a1".into()),
            frequency: Some("weekly".into()),
            due: None,
            done_at: None,
        }
        .into_active_model()
        .insert(db)
        .await?;
    }

    let mut referral_ids = Vec::new();
    for (child, from, status, view) in [
        (
            c1.id,
            school_a,
            ReferralStatus::Accepted,
            json!(["G-ID-min", "G-RISK", "G-REF"]),
        ),
        (
            c3.id,
            school_b,
            ReferralStatus::Sent,
            json!(["G-ID-min", "G-GUARD", "G-SCR", "G-REF"]),
        ),
    ] {
        let (id, ca, cb, ua, ub, v, ar, oa, oo) = meta!(Agency::Education, Some(from));
        referral_ids.push(id);
        ent::referral::Model {
            id,
            created_at: ca,
            created_by: cb,
            updated_at: ua,
            updated_by: ub,
            version: v,
            archived_at: ar,
            owner_agency: oa,
            owner_org_id: oo,
            child_id: child,
            from_org_id: from,
            to_org_id: hospital,
            direction: ReferralDirection::Up,
            parent_referral_id: None,
            reason: Some("筛查高风险".into()),
            urgency: Urgency::Urgent,
            authorized_view: view,
            lawful_basis_id: None,
            status,
            sla_due_at: Some(t0() + Duration::hours(24)),
            escalated: false,
            sent_at: Some(t0()),
            responded_at: None,
            closed_at: None,
            outcome_note: None,
            rejection_reason: None,
            treatment_episode_id: None,
        }
        .into_active_model()
        .insert(db)
        .await?;
    }

    let c1_episode = {
        let (id, ca, cb, ua, ub, v, ar, oa, oo) = meta!(Agency::Health, Some(hospital));
        ent::treatment_episode::Model {
            id,
            created_at: ca,
            created_by: cb,
            updated_at: ua,
            updated_by: ub,
            version: v,
            archived_at: ar,
            owner_agency: oa,
            owner_org_id: oo,
            child_id: c1.id,
            organization_id: hospital,
            setting: TreatmentSetting::Inpatient,
            admitted_at: t0(),
            discharged_at: None,
            diagnosis_code: Some("F32.1".into()),
            severe_mental_disorder: false,
            discharge_summary: Some("好转".into()),
            clinician: Some("dr-1".into()),
            fit_to_return: Some(false),
            follow_up_advice: Some("两周复诊".into()),
            next_appointment: Some(t0() + Duration::days(14)),
            referral_id: Some(referral_ids[0]),
        }
        .into_active_model()
        .insert(db)
        .await?;
        id
    };

    let c4_report = {
        let (id, ca, _cb, ua, _ub, v, ar, _oa, _oo) = meta!(Agency::YouthLeague, Some(hotline));
        ent::report::Model {
            id,
            created_at: ca,
            created_by: "hotline-1".into(),
            updated_at: ua,
            updated_by: "hotline-1".into(),
            version: v,
            archived_at: ar,
            owner_agency: Agency::YouthLeague,
            owner_org_id: Some(hotline),
            child_id: Some(c4.id),
            region_code: Some(c4.residence_region_code),
            reporter: Some("hotline-1".into()),
            reporter_org_id: Some(hotline),
            anonymous_caller: false,
            category: ReportCategory::Abuse,
            occurred_at: Some(t0() - Duration::days(2)),
            discovered_at: t0() - Duration::days(1),
            reported_at: t0() - Duration::hours(20),
            reported_to: Some(json!(["POLICE", "CIVIL_AFFAIRS"])),
            police_ref: Some("NN-2026-001".into()),
            urgency: Urgency::Urgent,
            due_by: t0() + Duration::hours(4),
            status: ReportStatus::Handling,
            description: Some("家中受到殴打".into()),
        }
        .into_active_model()
        .insert(db)
        .await?;
        id
    };
    {
        let (id, ca, cb, ua, ub, v, ar, _oa, _oo) =
            meta!(Agency::WomensFederation, Some(womens_fed));
        ent::victim_aid::Model {
            id,
            created_at: ca,
            created_by: cb,
            updated_at: ua,
            updated_by: ub,
            version: v,
            archived_at: ar,
            owner_agency: Agency::WomensFederation,
            owner_org_id: Some(womens_fed),
            child_id: c4.id,
            report_id: Some(c4_report),
            case_ref: Some("检-2026-9".into()),
            services: Some(json!(["COUNSELING"])),
            status: VictimAidStatus::InService,
            worker: Some("vaw-1".into()),
            organization_id: Some(womens_fed),
        }
        .into_active_model()
        .insert(db)
        .await?;
    }

    // One row of every other record type, for c1, so every output type can be read.
    {
        let (id, ca, cb, ua, ub, v, ar, oa, oo) = meta!(Agency::Education, Some(school_a));
        ent::visit::Model {
            id,
            created_at: ca,
            created_by: cb,
            updated_at: ua,
            updated_by: ub,
            version: v,
            archived_at: ar,
            owner_agency: oa,
            owner_org_id: oo,
            child_id: c1.id,
            kind: VisitKind::HeadTeacherHomeVisit,
            due_date: NaiveDate::from_ymd_opt(2026, 10, 1),
            done_at: Some(t0() - Duration::days(20)),
            visitor: Some("teacher-a1".into()),
            organization_id: Some(school_a),
            stressors: Some(json!(["ACADEMIC_PRESSURE"])),
            observations: Some("家访观察".into()),
            next_due: None,
            referral_id: None,
        }
        .into_active_model()
        .insert(db)
        .await?;
        let (id, ca, cb, ua, ub, v, ar, oa, oo) = meta!(Agency::YouthLeague, Some(hotline));
        ent::pairing::Model {
            id,
            created_at: ca,
            created_by: cb,
            updated_at: ua,
            updated_by: ub,
            version: v,
            archived_at: ar,
            owner_agency: oa,
            owner_org_id: oo,
            child_id: c1.id,
            kind: PairingKind::Volunteer,
            supporter: "vol-1".into(),
            organization_id: Some(hotline),
            start_date: NaiveDate::from_ymd_opt(2026, 9, 1).expect("date"),
            end_date: None,
            contact_frequency: Some("weekly".into()),
        }
        .into_active_model()
        .insert(db)
        .await?;
        let (id, ca, cb, ua, ub, v, ar, oa, oo) = meta!(Agency::Education, Some(school_a));
        ent::crisis_event::Model {
            id,
            created_at: ca,
            created_by: cb,
            updated_at: ua,
            updated_by: ub,
            version: v,
            archived_at: ar,
            owner_agency: oa,
            owner_org_id: oo,
            child_id: c1.id,
            trigger: CrisisTrigger::Screening,
            risk_level: RiskLevel::Red,
            occurred_at: t0() - Duration::days(31),
            first_response_at: Some(t0() - Duration::days(31) + Duration::hours(3)),
            resolved_at: None,
            guardian_informed_at: Some(t0() - Duration::days(31) + Duration::hours(2)),
            safety_measures: Some("专人陪护".into()),
            emergency_services_called: false,
            urgent_referral_id: Some(referral_ids[0]),
            notes: Some("危机记录".into()),
        }
        .into_active_model()
        .insert(db)
        .await?;
        let (id, ca, cb, ua, ub, v, ar, oa, oo) = meta!(Agency::Education, Some(school_a));
        ent::return_to_school::Model {
            id,
            created_at: ca,
            created_by: cb,
            updated_at: ua,
            updated_by: ub,
            version: v,
            archived_at: ar,
            owner_agency: oa,
            owner_org_id: oo,
            child_id: c1.id,
            school_id: school_a,
            treatment_episode_id: Some(c1_episode),
            clearance: Some("可复学".into()),
            cleared_at: None,
            cleared_by: None,
            accommodations: Some("减轻作业".into()),
            return_date: NaiveDate::from_ymd_opt(2026, 12, 1),
            status: ReturnStatus::PendingClearance,
            enrollment_id: None,
        }
        .into_active_model()
        .insert(db)
        .await?;
        let (id, ca, cb, ua, ub, v, ar, oa, oo) = meta!(Agency::Education, Some(school_a));
        ent::service_record::Model {
            id,
            created_at: ca,
            created_by: "psych-a".into(),
            updated_at: ua,
            updated_by: ub,
            version: v,
            archived_at: ar,
            owner_agency: oa,
            owner_org_id: oo,
            child_id: Some(c1.id),
            kind: ServiceKind::Counseling,
            organization_id: Some(school_a),
            provider: "psych-a".into(),
            occurred_at: t0() - Duration::days(5),
            duration_minutes: Some(40),
            care_plan_id: None,
            referral_id: None,
            summary: Some("辅导记录".into()),
        }
        .into_active_model()
        .insert(db)
        .await?;
        let _ = (cb,);
        let (id, ca, cb, ua, ub, v, ar, _oa, _oo) = meta!(Agency::Supervision, None::<Uuid>);
        ent::flag::Model {
            id,
            created_at: ca,
            created_by: cb,
            updated_at: ua,
            updated_by: ub,
            version: v,
            archived_at: ar,
            owner_agency: Agency::Supervision,
            owner_org_id: None,
            child_id: c1.id,
            kind: FlagKind::Manual,
            raised_by: "officer-1".into(),
            message: "关注".into(),
            raised_at: t0(),
            resolved_at: None,
            resolution: None,
            resolved_by: None,
            subject_key: None,
        }
        .into_active_model()
        .insert(db)
        .await?;
        ent::workflow_transition::Model {
            id: Uuid::now_v7(),
            entity: "Referral".into(),
            record_id: referral_ids[0],
            child_id: Some(c1.id),
            from_status: Some("SENT".into()),
            to_status: "ACCEPTED".into(),
            at: t0(),
            actor: "dr-1".into(),
            actor_org: Some(hospital.to_string()),
            note: None,
        }
        .into_active_model()
        .insert(db)
        .await?;
    }

    {
        // The mandatory report of c4's abuse is the statutory basis for the agencies the law names.
        let (id, ca, cb, ua, ub, v, ar, _oa, _oo) = meta!(Agency::YouthLeague, Some(hotline));
        ent::lawful_basis::Model {
            id,
            created_at: ca,
            created_by: cb,
            updated_at: ua,
            updated_by: ub,
            version: v,
            archived_at: ar,
            owner_agency: Agency::YouthLeague,
            owner_org_id: Some(hotline),
            child_id: c4.id,
            grantor: "statutory duty (mandatory report)".into(),
            grantor_relation: None,
            basis: BasisKind::StatutoryDuty,
            purposes: json!(["CARE", "CRISIS", "REFERRAL"]),
            recipients: json!(["CIVIL_AFFAIRS", "WOMENS_FEDERATION"]),
            field_groups: json!(["G-ABUSE"]),
            valid_from: t0() - Duration::days(1),
            valid_to: None,
            withdrawn_at: None,
            document_ref: Some(format!("report:{c4_report}")),
            legal_reference: Some("未成年人保护法 第十一条".into()),
        }
        .into_active_model()
        .insert(db)
        .await?;
    }

    let c3_basis = {
        let (id, ca, cb, ua, ub, v, ar, oa, oo) = meta!(Agency::CivilAffairs, Some(civil_office));
        ent::lawful_basis::Model {
            id,
            created_at: ca,
            created_by: cb,
            updated_at: ua,
            updated_by: ub,
            version: v,
            archived_at: ar,
            owner_agency: oa,
            owner_org_id: oo,
            child_id: c3.id,
            grantor: "张奶奶".into(),
            grantor_relation: Some("GRANDPARENT".into()),
            basis: BasisKind::Consent,
            purposes: json!(["REFERRAL", "TREATMENT"]),
            recipients: json!(["HEALTH"]),
            field_groups: json!(["G-SCR"]),
            valid_from: t0() - Duration::days(10),
            valid_to: None,
            withdrawn_at: None,
            document_ref: Some("DOC-1".into()),
            legal_reference: None,
        }
        .into_active_model()
        .insert(db)
        .await?;
        id
    };

    Ok(Fixture {
        school_a,
        school_b,
        hospital,
        other_hospital,
        health_center,
        civil_office,
        welfare,
        hotline,
        womens_fed,
        c1: c1.id,
        c2: c2.id,
        c3: c3.id,
        c4: c4.id,
        c5: c5.id,
        c1_screening: screening_ids[0],
        c2_screening: screening_ids[1],
        c3_screening: screening_ids[2],
        c1_referral: referral_ids[0],
        c3_referral: referral_ids[1],
        c1_episode,
        c4_report,
        c3_basis,
    })
}

/// Reads one row of every entity: fails if an entity names a column the migrations lack.
pub async fn entity_probe(db: &DatabaseConnection) -> anyhow::Result<()> {
    use sea_orm::EntityTrait;
    macro_rules! probe {
        ($($m:ident),*) => {$( ent::$m::Entity::find().one(db).await?; )*};
    }
    probe!(
        region,
        organization,
        app_meta,
        child,
        child_difficulty,
        guardian,
        enrollment,
        screening,
        care_plan,
        care_plan_intervention,
        visit,
        pairing,
        report,
        crisis_event,
        referral,
        treatment_episode,
        return_to_school,
        victim_aid,
        service_record,
        flag,
        lawful_basis,
        supervision_finding,
        workflow_transition,
        change_event,
        audit_entry,
        audit_checkpoint,
        break_glass_grant,
        idempotency_key,
        api_client,
        persisted_operation
    );
    Ok(())
}
