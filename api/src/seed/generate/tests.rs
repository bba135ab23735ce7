//! Pure tests of the generator: determinism, distributions and the consistency rules between
//! records, on a few thousand children without a database.

use std::collections::{BTreeMap, BTreeSet};

use super::*;
use crate::seed::world::World;

fn generate(n: u32, seed: u64) -> Batch {
    let mut g = Generator::new(Arc::new(World::build(seed)), seed);
    g.chunk(0..n)
}

fn sample() -> &'static Batch {
    static SAMPLE: std::sync::OnceLock<Batch> = std::sync::OnceLock::new();
    SAMPLE.get_or_init(|| generate(4_000, 42))
}

fn share(part: usize, whole: usize) -> f64 {
    part as f64 / whole.max(1) as f64
}

#[test]
fn the_same_seed_gives_the_same_rows_however_chunked() {
    let a = generate(500, 42);
    let b = generate(500, 42);
    assert_eq!(a, b);
    let mut g = Generator::new(Arc::new(World::build(42)), 42);
    let mut c = g.chunk(0..123);
    let d = g.chunk(123..500);
    c.children.extend(d.children);
    c.referrals.extend(d.referrals);
    c.guardians.extend(d.guardians);
    assert_eq!(c.children, a.children);
    assert_eq!(c.referrals, a.referrals);
    assert_eq!(c.guardians, a.guardians);
    assert_ne!(generate(500, 43).children, a.children);
}

#[test]
fn children_are_well_formed() {
    let b = sample();
    let mut id_numbers = BTreeSet::new();
    for c in &b.children {
        let age = time::age_on(c.birth_date, today());
        assert!((6..=17).contains(&age), "age {age}");
        assert_eq!(c.city_code, truncate(c.residence_region_code, 4));
        assert_eq!(c.county_code, truncate(c.residence_region_code, 6));
        assert_eq!(c.birth_year_month, c.birth_date.format("%Y-%m").to_string());
        let clear = c.id_number_enc.clone().unwrap_or_default();
        let id = IdNumber::parse(&clear).expect("valid GB 11643 number");
        assert_eq!(id.birth_date(), c.birth_date);
        assert_eq!(
            id.region6(),
            &format!("{:012}", c.household_region_code)[..6]
        );
        assert_eq!(id.is_male(), c.gender == Gender::Male);
        assert_eq!(c.id_number_mask.as_deref(), Some(id.mask().as_str()));
        assert!(id_numbers.insert(clear), "ID numbers are unique");
        let first = c.name.chars().next().unwrap_or('?');
        assert!(c.display_name.starts_with(first) && c.display_name.contains('*'));
        assert_ne!(c.display_name, c.name);
        assert!(c.created_at <= c.updated_at && c.updated_at < now());
        assert_eq!(c.risk_rank, c.current_risk_level.map_or(0, rank));
    }
    let active = b
        .children
        .iter()
        .filter(|c| c.status == ChildStatus::Active)
        .count();
    assert!(share(active, b.children.len()) > 0.93);
    let key = b.children.iter().filter(|c| c.key_case).count();
    let key_share = share(key, b.children.len());
    assert!((0.015..0.05).contains(&key_share), "key cases {key_share}");
    // Guardians' numbers are valid too and do not collide with anyone's.
    for g in &b.guardians {
        if let Some(clear) = &g.id_number_enc {
            let id = IdNumber::parse(clear).expect("valid guardian number");
            assert!((1950..=1995).contains(&id.birth_date().year()));
            assert!(id_numbers.insert(clear.clone()));
        }
    }
}

#[test]
fn difficulty_categories_follow_the_intended_mix() {
    let b = sample();
    let n = b.children.len();
    let mut per_child: BTreeMap<Uuid, Vec<DifficultyCategory>> = BTreeMap::new();
    for d in &b.difficulties {
        per_child.entry(d.child_id).or_default().push(d.category);
        assert!(d.verified_by.is_some() && d.verified_at.is_some());
    }
    assert_eq!(per_child.len(), n, "every child has a category");
    assert!(per_child.values().all(|v| (1..=2).contains(&v.len())));
    let with = |c: DifficultyCategory| per_child.values().filter(|v| v.contains(&c)).count();
    let left_behind = share(with(DifficultyCategory::LeftBehind), n);
    assert!(
        (0.5..0.65).contains(&left_behind),
        "left-behind {left_behind}"
    );
    let victim = share(with(DifficultyCategory::Victim), n);
    assert!((0.004..0.025).contains(&victim), "victims {victim}");
    for c in DifficultyCategory::ALL {
        assert!(with(*c) > 0, "{c} present");
        assert!(with(*c) <= with(DifficultyCategory::LeftBehind));
    }
    let per_guardians: BTreeMap<Uuid, usize> =
        b.guardians.iter().fold(BTreeMap::new(), |mut m, g| {
            *m.entry(g.child_id).or_default() += 1;
            m
        });
    assert_eq!(per_guardians.len(), n, "every child has a guardian");
    assert!(per_guardians.values().all(|k| (1..=3).contains(k)));
}

#[test]
fn screenings_have_the_risk_mix_and_valid_scores() {
    let b = sample();
    let this_year: Vec<&screening::Model> = b
        .screenings
        .iter()
        .filter(|s| s.school_year == 2026)
        .collect();
    let n = this_year.len();
    let count = |l: RiskLevel| this_year.iter().filter(|s| s.risk_level == l).count();
    let (g, y, o, r) = (
        count(RiskLevel::Green),
        count(RiskLevel::Yellow),
        count(RiskLevel::Orange),
        count(RiskLevel::Red),
    );
    assert!((0.74..0.86).contains(&share(g, n)), "green {}", share(g, n));
    assert!(
        (0.09..0.17).contains(&share(y, n)),
        "yellow {}",
        share(y, n)
    );
    assert!(
        (0.03..0.08).contains(&share(o, n)),
        "orange {}",
        share(o, n)
    );
    assert!((0.008..0.04).contains(&share(r, n)), "red {}", share(r, n));
    let last_year = b
        .screenings
        .iter()
        .filter(|s| s.school_year == 2025)
        .count();
    let coverage = share(n, last_year);
    assert!((0.8..0.9).contains(&coverage), "2026 coverage {coverage}");
    let (lo26, hi26) = (at(date(2026, 9, 1), 0), at(date(2026, 11, 16), 0));
    for s in &b.screenings {
        let (lo, hi) = band(s.instrument, s.risk_level);
        let score = s.score.unwrap_or(-1.0);
        assert!(score >= f64::from(lo) && score <= f64::from(hi));
        if s.school_year == 2026 {
            assert!(s.administered_at >= lo26 && s.administered_at < hi26);
        }
        if let Some(items) = &s.item_answers {
            let sum: u64 = items
                .as_array()
                .map_or(0, |a| a.iter().filter_map(|v| v.as_u64()).sum());
            assert_eq!(sum as f64, score);
        }
        assert_eq!(s.owner_agency, Agency::Education);
        assert_eq!(s.owner_org_id, s.organization_id);
    }
}

#[test]
fn derived_child_fields_agree_with_their_sources() {
    let b = sample();
    // Replays each child's results in time order as the write path applies them: the latest
    // result wins, but ORANGE/RED is lowered only by the approver's review.
    let mut events: BTreeMap<Uuid, Vec<(DateTime<Utc>, RiskLevel, bool)>> = BTreeMap::new();
    for s in &b.screenings {
        events
            .entry(s.child_id)
            .or_default()
            .push((s.administered_at, s.risk_level, false));
    }
    for c in &b.crisis_events {
        events
            .entry(c.child_id)
            .or_default()
            .push((c.occurred_at, c.risk_level, false));
        let first = c.first_response_at.expect("answered") - c.occurred_at;
        assert!(first >= TimeDelta::hours(1) && first <= TimeDelta::hours(30));
    }
    let approvers: BTreeSet<(Uuid, String)> = b
        .care_plans
        .iter()
        .filter_map(|p| p.approver.clone().map(|a| (p.child_id, a)))
        .collect();
    let mut reviews = 0;
    for t in b.transitions.iter().filter(|t| t.entity == "ChildRisk") {
        let child = t.child_id.unwrap_or_default();
        assert_eq!(t.record_id, child);
        assert!(
            approvers.contains(&(child, t.actor.clone())),
            "reviewed by the plan approver"
        );
        let level = RiskLevel::parse(&t.to_status).expect("a level");
        events.entry(child).or_default().push((t.at, level, true));
        reviews += 1;
    }
    assert!(reviews > 0);
    let mut pending = 0;
    for c in &b.children {
        let mut current: Option<(DateTime<Utc>, RiskLevel)> = None;
        let mut list = events.get(&c.id).cloned().unwrap_or_default();
        list.sort_by_key(|e| e.0);
        for (t, level, review) in list {
            let lowering = current.is_some_and(|(_, cur)| high(cur) && rank(level) < rank(cur));
            if lowering && !review {
                pending += 1;
                continue;
            }
            current = Some((t, level));
        }
        assert_eq!(c.current_risk_level, current.map(|(_, l)| l), "{}", c.id);
        assert_eq!(c.risk_updated_at, current.map(|(t, _)| t));
        let episodes: Vec<&treatment_episode::Model> =
            b.episodes.iter().filter(|e| e.child_id == c.id).collect();
        assert_eq!(
            c.in_treatment,
            episodes.iter().any(|e| e.discharged_at.is_none())
        );
        let last = episodes
            .iter()
            .filter(|e| e.discharged_at.is_some())
            .max_by_key(|e| e.discharged_at);
        assert_eq!(c.fit_to_return, last.and_then(|e| e.fit_to_return));
    }
    assert!(pending > 0, "some lowered results await review");
    assert!(b.children.iter().any(|c| c.in_treatment));
    assert!(b.children.iter().any(|c| c.fit_to_return == Some(true)));
}

#[test]
fn referrals_cover_every_status_and_keep_their_rules() {
    let b = sample();
    for dir in [ReferralDirection::Up, ReferralDirection::Down] {
        let statuses: BTreeSet<ReferralStatus> = b
            .referrals
            .iter()
            .filter(|r| r.direction == dir)
            .map(|r| r.status)
            .collect();
        assert_eq!(
            statuses.len(),
            ReferralStatus::ALL.len(),
            "{dir}: {statuses:?}"
        );
    }
    let by_id: BTreeMap<Uuid, &referral::Model> = b.referrals.iter().map(|r| (r.id, r)).collect();
    for r in &b.referrals {
        let hours = if r.urgency == Urgency::Urgent { 24 } else { 72 };
        assert_eq!(r.sla_due_at, r.sent_at.map(|t| t + TimeDelta::hours(hours)));
        assert_eq!(r.sent_at.is_none(), r.status == ReferralStatus::Draft);
        if let (Some(s), Some(resp)) = (r.sent_at, r.responded_at) {
            assert!(s <= resp);
        }
        if let Some(c) = r.closed_at {
            assert!(r.sent_at.is_some_and(|s| s <= c));
        }
        assert_eq!(
            r.rejection_reason.is_some(),
            r.status == ReferralStatus::Rejected
        );
        if matches!(r.status, ReferralStatus::Completed | ReferralStatus::Closed) {
            assert!(r.outcome_note.is_some());
        }
        assert!(r.updated_at < now());
        let view: Vec<&str> = r
            .authorized_view
            .as_array()
            .map_or(vec![], |a| a.iter().filter_map(|v| v.as_str()).collect());
        match r.direction {
            ReferralDirection::Up => assert_eq!(view, UP_VIEW),
            _ => {
                assert_eq!(view, DOWN_VIEW);
                let parent = r
                    .parent_referral_id
                    .and_then(|p| by_id.get(&p))
                    .expect("a DOWN referral has its UP parent");
                assert_eq!(parent.direction, ReferralDirection::Up);
                assert_eq!(parent.child_id, r.child_id);
                assert_eq!(r.owner_agency, Agency::Health);
            }
        }
        // The transition history is a chain ending in the current status.
        let mut chain: Vec<&workflow_transition::Model> = b
            .transitions
            .iter()
            .filter(|t| t.entity == "Referral" && t.record_id == r.id)
            .collect();
        chain.sort_by_key(|t| t.at);
        assert_eq!(chain.first().map(|t| t.from_status.clone()), Some(None));
        for pair in chain.windows(2) {
            assert_eq!(
                pair[1].from_status.as_deref(),
                Some(pair[0].to_status.as_str())
            );
        }
        assert_eq!(
            chain.last().map(|t| t.to_status.as_str()),
            Some(r.status.as_str())
        );
        assert_eq!(
            r.lawful_basis_id.is_some(),
            r.status != ReferralStatus::Draft
        );
    }
    let bases: BTreeSet<Uuid> = b.lawful_bases.iter().map(|l| l.id).collect();
    assert!(b
        .referrals
        .iter()
        .filter_map(|r| r.lawful_basis_id)
        .all(|id| bases.contains(&id)));
    assert!(b.lawful_bases.iter().any(|l| l.withdrawn_at.is_some()));
    assert!(b
        .lawful_bases
        .iter()
        .any(|l| l.valid_to.is_some_and(|t| t < now())));
    assert!(b
        .lawful_bases
        .iter()
        .any(|l| l.basis == BasisKind::StatutoryDuty));
    assert!(b.lawful_bases.iter().any(|l| l.basis == BasisKind::Consent));
}

#[test]
fn reports_follow_the_mandatory_reporting_rules() {
    let b = sample();
    let with_child: BTreeSet<Uuid> = b
        .reports
        .iter()
        .filter(|r| !r.anonymous_caller)
        .filter_map(|r| r.child_id)
        .collect();
    let s = share(with_child.len(), b.children.len());
    assert!((0.01..0.04).contains(&s), "reported children {s}");
    assert!(b.reports.iter().any(|r| r.category.is_harm()));
    assert!(b.reports.iter().any(|r| r.anonymous_caller));
    let residence: BTreeMap<Uuid, i64> = b
        .children
        .iter()
        .map(|c| (c.id, c.residence_region_code))
        .collect();
    for r in &b.reports {
        let urgent = r.category.is_harm() || r.category == ReportCategory::SelfHarmRisk;
        assert_eq!(
            r.due_by - r.reported_at,
            TimeDelta::hours(if urgent { 24 } else { 72 })
        );
        assert!(r.discovered_at <= r.reported_at && r.reported_at < now());
        if r.category.is_harm() {
            let to = r
                .reported_to
                .as_ref()
                .and_then(|v| v.as_array().cloned())
                .unwrap_or_default();
            assert!(to.contains(&json!("POLICE")) && to.contains(&json!("CIVIL_AFFAIRS")));
            assert!(r.police_ref.is_some());
        }
        if r.anonymous_caller {
            assert!(r.reporter.is_none());
            assert_eq!(r.owner_agency, Agency::YouthLeague);
        }
        if let Some(c) = r.child_id {
            assert_eq!(Some(r.region_code.unwrap_or(0)), residence.get(&c).copied());
        }
    }
    for v in &b.victim_aid {
        assert_eq!(v.owner_agency, Agency::WomensFederation);
        assert!(v
            .report_id
            .is_some_and(|id| b.reports.iter().any(|r| r.id == id && r.category.is_harm())));
    }
}

#[test]
fn schooling_visits_and_plans_are_consistent() {
    let b = sample();
    let ages: BTreeMap<Uuid, i32> = b
        .children
        .iter()
        .map(|c| (c.id, time::age_on(c.birth_date, today())))
        .collect();
    for e in b.enrollments.iter().filter(|e| e.school_year == 2026) {
        assert_eq!(e.grade, (ages[&e.child_id] - 6).clamp(1, 12));
        let class = e.class_name.clone().unwrap_or_default();
        assert!(class.starts_with(GRADE_NAMES[(e.grade - 1) as usize]) && class.ends_with('班'));
        assert!(e
            .head_teacher
            .as_deref()
            .is_some_and(|t| t.starts_with("teacher-")));
    }
    let enrolled = b
        .enrollments
        .iter()
        .filter(|e| e.school_year == 2026)
        .count();
    assert!(share(enrolled, b.children.len()) > 0.9);
    assert!(b
        .enrollments
        .iter()
        .any(|e| e.status == EnrollmentStatus::Graduated));
    assert!(b
        .enrollments
        .iter()
        .any(|e| e.status == EnrollmentStatus::Returned));
    let home: Vec<&visit::Model> = b
        .visits
        .iter()
        .filter(|v| v.kind == VisitKind::HeadTeacherHomeVisit)
        .collect();
    let done = share(
        home.iter().filter(|v| v.done_at.is_some()).count(),
        home.len(),
    );
    assert!((0.65..0.75).contains(&done), "home visits done {done}");
    let overdue = b.visits.iter().filter(|v| {
        v.kind == VisitKind::ChildDirectorVisit && v.done_at.is_none() && v.due_date < Some(today())
    });
    assert!(overdue.count() > 0);
    for v in &b.visits {
        assert!(v.done_at.is_none_or(|d| d < now()));
        assert_eq!(v.stressors.is_some(), v.done_at.is_some());
    }
    // Plans only for children who are or were ORANGE/RED.
    let high_children: BTreeSet<Uuid> = b
        .screenings
        .iter()
        .filter(|s| high(s.risk_level))
        .map(|s| s.child_id)
        .chain(b.crisis_events.iter().map(|c| c.child_id))
        .collect();
    for p in &b.care_plans {
        assert!(high_children.contains(&p.child_id));
        assert_eq!(p.plan_version, 1);
        assert_eq!(
            p.approved_at.is_some(),
            matches!(
                p.status,
                CarePlanStatus::Active
                    | CarePlanStatus::ReviewDue
                    | CarePlanStatus::Completed
                    | CarePlanStatus::Closed
            )
        );
        if p.status == CarePlanStatus::ReviewDue {
            assert!(p.review_due.is_some_and(|d| d < today()));
        }
        if p.status == CarePlanStatus::Active {
            assert!(p.review_due.is_some_and(|d| d >= today()));
        }
        let n = b
            .interventions
            .iter()
            .filter(|i| i.care_plan_id == p.id)
            .count();
        assert!((1..=3).contains(&n));
    }
    let statuses: BTreeSet<CarePlanStatus> = b.care_plans.iter().map(|p| p.status).collect();
    for s in [
        CarePlanStatus::Active,
        CarePlanStatus::Draft,
        CarePlanStatus::Submitted,
        CarePlanStatus::ReviewDue,
        CarePlanStatus::Completed,
    ] {
        assert!(statuses.contains(&s), "{s}");
    }
    let pairing = share(b.pairings.len(), b.children.len());
    assert!((0.05..0.15).contains(&pairing), "pairings {pairing}");
    let returns: BTreeSet<ReturnStatus> = b.returns.iter().map(|r| r.status).collect();
    assert_eq!(returns.len(), ReturnStatus::ALL.len());
    for kind in [
        FlagKind::OverdueVisit,
        FlagKind::RedWithoutPlan,
        FlagKind::MissingScreening,
    ] {
        assert!(
            b.flags
                .iter()
                .any(|f| f.kind == kind && f.raised_by == "system"),
            "{kind}"
        );
    }
    assert!(b
        .services
        .iter()
        .any(|s| s.child_id.is_none() && s.kind == ServiceKind::Hotline12355));
}

#[test]
fn ids_are_unique_and_times_are_in_the_past() {
    let b = sample();
    let mut ids = BTreeSet::new();
    let mut check = |id: Uuid, created: DateTime<Utc>, updated: DateTime<Utc>| {
        assert!(ids.insert(id), "duplicate id {id}");
        assert!(created <= updated, "{id}: created after updated");
        assert!(updated < now(), "{id}: updated in the future");
    };
    macro_rules! each {
        ($($v:ident),*) => { $(for m in &b.$v { check(m.id, m.created_at, m.updated_at); })* };
    }
    each!(
        children,
        difficulties,
        guardians,
        enrollments,
        screenings,
        reports,
        care_plans,
        visits,
        pairings,
        crisis_events,
        referrals,
        episodes,
        returns,
        victim_aid,
        services,
        flags,
        lawful_bases
    );
    for t in &b.transitions {
        assert!(t.at < now());
    }
}

#[test]
fn nothing_about_a_child_is_written_before_the_child() {
    let b = sample();
    let registered: BTreeMap<Uuid, DateTime<Utc>> =
        b.children.iter().map(|c| (c.id, c.created_at)).collect();
    let after = |child: Uuid, t: DateTime<Utc>| registered.get(&child).is_some_and(|r| *r <= t);
    macro_rules! each {
        ($($v:ident),*) => { $(for m in &b.$v { assert!(after(m.child_id, m.created_at), "{} {}", stringify!($v), m.id); })* };
    }
    each!(
        difficulties,
        guardians,
        enrollments,
        screenings,
        care_plans,
        visits,
        pairings,
        crisis_events,
        referrals,
        episodes,
        returns,
        victim_aid,
        flags,
        lawful_bases
    );
    for r in b.reports.iter().filter(|r| r.child_id.is_some()) {
        assert!(after(r.child_id.unwrap_or_default(), r.created_at));
    }
    for r in &b.referrals {
        assert!(r.sent_at.is_none_or(|s| s >= r.created_at));
    }
    for c in &b.crisis_events {
        assert!(after(c.child_id, c.occurred_at));
    }
    for t in &b.transitions {
        assert!(
            t.child_id.is_some_and(|c| after(c, t.at)),
            "{} {}",
            t.entity,
            t.record_id
        );
    }
}

#[test]
fn flags_are_what_the_sweep_would_have_raised() {
    let b = sample();
    let open: BTreeSet<(Uuid, FlagKind, String)> = b
        .flags
        .iter()
        .filter(|f| f.resolved_at.is_none())
        .map(|f| {
            (
                f.child_id,
                f.kind,
                f.subject_key.clone().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        open.len(),
        b.flags.iter().filter(|f| f.resolved_at.is_none()).count(),
        "one open flag per cause"
    );
    for f in &b.flags {
        assert_eq!(
            (f.raised_by.as_str(), f.owner_agency, f.owner_org_id),
            ("system", Agency::Supervision, None)
        );
        assert!(f.resolved_at.is_none_or(|t| t >= f.raised_at));
    }
    for v in b
        .visits
        .iter()
        .filter(|v| v.done_at.is_none() && v.due_date.is_some_and(|d| d < today()))
    {
        let kind = if v.kind == VisitKind::PostDischargeFollowUp {
            FlagKind::OverdueFollowUp
        } else {
            FlagKind::OverdueVisit
        };
        assert!(
            open.contains(&(v.child_id, kind, v.id.to_string())),
            "overdue visit {}",
            v.id
        );
    }
    for r in &b.referrals {
        let breached = matches!(r.status, ReferralStatus::Sent | ReferralStatus::Received)
            && r.sla_due_at.is_some_and(|t| t < now());
        assert_eq!(
            breached,
            open.contains(&(r.child_id, FlagKind::ReferralSlaBreach, r.id.to_string())),
            "referral {}",
            r.id
        );
        if breached {
            assert!(r.escalated);
        }
    }
    for p in b
        .reports
        .iter()
        .filter(|p| p.status != ReportStatus::Closed && p.due_by < now())
    {
        if let Some(c) = p.child_id {
            assert!(open.contains(&(c, FlagKind::ReportOverdue, p.id.to_string())));
        }
    }
    let active: BTreeSet<Uuid> = b
        .care_plans
        .iter()
        .filter(|p| matches!(p.status, CarePlanStatus::Active | CarePlanStatus::ReviewDue))
        .map(|p| p.child_id)
        .collect();
    for c in &b.children {
        let needs = c.current_risk_level.is_some_and(high)
            && c.risk_updated_at
                .is_some_and(|t| t < now() - TimeDelta::days(7))
            && !active.contains(&c.id);
        assert_eq!(
            needs,
            open.contains(&(c.id, FlagKind::RedWithoutPlan, "risk".to_owned())),
            "child {}",
            c.id
        );
    }
    assert!(b
        .flags
        .iter()
        .any(|f| f.kind == FlagKind::RedWithoutPlan && f.resolved_at.is_some()));
    assert!(b
        .flags
        .iter()
        .any(|f| f.kind == FlagKind::ReferralSlaBreach && f.resolved_at.is_some()));
    assert!(b
        .care_plans
        .iter()
        .all(|p| p.status != CarePlanStatus::Active || p.review_due.is_some_and(|d| d >= today())));
}
