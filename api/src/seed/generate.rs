//! The per-child generator. Child `i` draws everything from its own ChaCha stream (`seed`,
//! stream `i + 1`), so its records do not depend on how the run is chunked; the little state
//! shared between children (ID-number sequence numbers, workflow counters) advances in child
//! order. No clock, no hash-map iteration: the same (children, seed) gives the same rows.
//!
//! ID numbers leave the generator in clear (in `id_number_enc`) with no blind index; `seal`
//! encrypts and indexes them just before insertion.

use std::collections::HashMap;
use std::ops::Range;
use std::sync::Arc;

use carehub_entity::enums::*;
use carehub_entity::{
    care_plan, care_plan_intervention, child, child_difficulty, crisis_event, enrollment, flag,
    guardian, lawful_basis, pairing, referral, report, return_to_school, screening, service_record,
    treatment_episode, victim_aid, visit, workflow_transition,
};
use chrono::{DateTime, Datelike, NaiveDate, TimeDelta, Utc};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::json;
use uuid::Uuid;

use super::time::{self, at, cap, date, date_between, days, hours, now, office_hours, today};
use super::world::{School, World};
use super::{names, pick, text, uuid};
use crate::crypto::Vault;
use crate::domain::idnumber::{synthesize, IdNumber};
use crate::domain::region::truncate;

/// Group names a receiver may see while an UP referral is open.
pub(crate) const UP_VIEW: &[&str] = &[
    "G-ID-min",
    "G-ID-full",
    "G-GUARD",
    "G-RISK",
    "G-SCR",
    "G-REF",
];
/// Group names a receiver may see while a DOWN referral is open.
pub(crate) const DOWN_VIEW: &[&str] = &["G-ID-min", "G-GUARD", "G-RISK", "G-DISCH", "G-REF"];

/// Every generated row of a run of children, by table.
#[derive(Debug, Default, Clone, PartialEq)]
pub(crate) struct Batch {
    pub children: Vec<child::Model>,
    pub difficulties: Vec<child_difficulty::Model>,
    pub guardians: Vec<guardian::Model>,
    pub enrollments: Vec<enrollment::Model>,
    pub screenings: Vec<screening::Model>,
    pub reports: Vec<report::Model>,
    pub care_plans: Vec<care_plan::Model>,
    pub interventions: Vec<care_plan_intervention::Model>,
    pub visits: Vec<visit::Model>,
    pub pairings: Vec<pairing::Model>,
    pub crisis_events: Vec<crisis_event::Model>,
    pub referrals: Vec<referral::Model>,
    pub episodes: Vec<treatment_episode::Model>,
    pub returns: Vec<return_to_school::Model>,
    pub victim_aid: Vec<victim_aid::Model>,
    pub services: Vec<service_record::Model>,
    pub flags: Vec<flag::Model>,
    pub lawful_bases: Vec<lawful_basis::Model>,
    pub transitions: Vec<workflow_transition::Model>,
}

impl Batch {
    /// Encrypts the clear ID numbers left in `id_number_enc` and fills their blind index.
    pub fn seal(&mut self, vault: &Vault) {
        for c in &mut self.children {
            if let Some(clear) = c.id_number_enc.take() {
                c.id_number_bidx = Some(vault.blind_index(&clear));
                c.id_number_enc = Some(vault.encrypt(&clear));
            }
        }
        for g in &mut self.guardians {
            if let Some(clear) = g.id_number_enc.take() {
                g.id_number_bidx = Some(vault.blind_index(&clear));
                g.id_number_enc = Some(vault.encrypt(&clear));
            }
        }
    }
}

/// Bookkeeping columns of a record.
#[derive(Debug, Clone)]
struct Meta {
    id: Uuid,
    created_at: DateTime<Utc>,
    created_by: String,
    updated_at: DateTime<Utc>,
    updated_by: String,
    agency: Agency,
    org: Uuid,
}

impl Meta {
    /// A record created at `at`, but never before `floor` (the child's registration: nothing
    /// about a child is written to the hub before the child is).
    fn after(
        floor: DateTime<Utc>,
        id: Uuid,
        at: DateTime<Utc>,
        by: &str,
        agency: Agency,
        org: Uuid,
    ) -> Self {
        let at = at.max(floor);
        Meta {
            id,
            created_at: at,
            created_by: by.to_owned(),
            updated_at: at,
            updated_by: by.to_owned(),
            agency,
            org,
        }
    }

    fn touched(mut self, at: DateTime<Utc>, by: &str) -> Self {
        if at > self.updated_at {
            self.updated_at = at;
            self.updated_by = by.to_owned();
        }
        self
    }
}

/// Fills a record model's bookkeeping columns from a `Meta` (version 1, not archived).
macro_rules! record {
    ($ty:path, $meta:expr, { $($field:ident : $value:expr),* $(,)? }) => {{
        let meta: Meta = $meta;
        $ty {
            id: meta.id,
            created_at: meta.created_at,
            created_by: meta.created_by,
            updated_at: meta.updated_at,
            updated_by: meta.updated_by,
            version: 1,
            archived_at: None,
            owner_agency: meta.agency,
            owner_org_id: Some(meta.org),
            $($field: $value),*
        }
    }};
}

/// State shared between children, advanced in child order.
#[derive(Debug, Default)]
struct Shared {
    /// Next sequence number per (household county, birth date): ID numbers never collide.
    id_seq: HashMap<(i64, NaiveDate), u32>,
    up_referrals: usize,
    down_referrals: usize,
    returns: usize,
}

/// Generates children in order; `chunk` may be called for consecutive ranges.
pub(crate) struct Generator {
    world: Arc<World>,
    seed: u64,
    shared: Shared,
}

impl Generator {
    pub fn new(world: Arc<World>, seed: u64) -> Self {
        Generator {
            world,
            seed,
            shared: Shared::default(),
        }
    }

    /// The records of children `range` (call with consecutive ranges from 0).
    pub fn chunk(&mut self, range: Range<u32>) -> Batch {
        let mut b = Batch::default();
        for i in range {
            let mut r = ChaCha8Rng::seed_from_u64(self.seed);
            r.set_stream(u64::from(i) + 1);
            let mut kid = Kid::place(r, &self.world, &mut b, &mut self.shared);
            kid.generate();
        }
        b
    }
}

const CATEGORY_WEIGHTS: &[(DifficultyCategory, u32)] = &[
    (DifficultyCategory::LeftBehind, 50),
    (DifficultyCategory::LowIncome, 15),
    (DifficultyCategory::Migrant, 9),
    (DifficultyCategory::Disabled, 7),
    (DifficultyCategory::Unattended, 5),
    (DifficultyCategory::Orphan, 3),
    (DifficultyCategory::SeriouslyIll, 4),
    (DifficultyCategory::Victim, 1),
    (DifficultyCategory::Other, 6),
];

const ETHNICITIES: &[(&str, u32)] = &[
    ("汉族", 600),
    ("壮族", 330),
    ("瑶族", 30),
    ("苗族", 15),
    ("侗族", 15),
    ("仫佬族", 5),
    ("毛南族", 3),
    ("京族", 2),
];

const GRADE_NAMES: &[&str] = &[
    "一年级",
    "二年级",
    "三年级",
    "四年级",
    "五年级",
    "六年级",
    "七年级",
    "八年级",
    "九年级",
    "高一",
    "高二",
    "高三",
];

const WORK_AWAY: &[&str] = &[
    "在广东务工",
    "在浙江务工",
    "在外省务工，春节返乡",
    "在南宁务工，每月回家一次",
];
const ABSENT: &[&str] = &["离异后失联", "长期外出，联系不上"];
const INADEQUATE: &[&str] = &["服刑中", "患重病，无力照护", "有酗酒问题，照护不当"];

/// Risk draws: GREEN 80 %, YELLOW 13 %, ORANGE 5 %, RED 2 %.
fn draw_risk(r: &mut ChaCha8Rng) -> RiskLevel {
    match r.gen_range(0..1000) {
        0..=799 => RiskLevel::Green,
        800..=929 => RiskLevel::Yellow,
        930..=979 => RiskLevel::Orange,
        _ => RiskLevel::Red,
    }
}

fn bump(level: RiskLevel) -> RiskLevel {
    match level {
        RiskLevel::Green => RiskLevel::Yellow,
        RiskLevel::Yellow => RiskLevel::Orange,
        _ => RiskLevel::Red,
    }
}

/// `risk_rank` of a level: 1 GREEN … 4 RED (0 = never assessed).
pub(crate) fn rank(level: RiskLevel) -> i16 {
    match level {
        RiskLevel::Green => 1,
        RiskLevel::Yellow => 2,
        RiskLevel::Orange => 3,
        RiskLevel::Red => 4,
    }
}

fn high(level: RiskLevel) -> bool {
    matches!(level, RiskLevel::Orange | RiskLevel::Red)
}

/// Inclusive score band of an instrument for a risk level.
pub(crate) fn band(instrument: Instrument, level: RiskLevel) -> (u32, u32) {
    use RiskLevel::*;
    match (instrument, level) {
        (Instrument::Mht, Green) => (8, 55),
        (Instrument::Mht, Yellow) => (56, 64),
        (Instrument::Mht, Orange) => (65, 79),
        (Instrument::Mht, Red) => (80, 100),
        (Instrument::Sdq, Green) => (0, 13),
        (Instrument::Sdq, Yellow) => (14, 16),
        (Instrument::Sdq, Orange) => (17, 22),
        (Instrument::Sdq, Red) => (23, 40),
        (Instrument::Phq9, Green) => (0, 7),
        (Instrument::Phq9, Yellow) => (8, 11),
        (Instrument::Phq9, Orange) => (12, 19),
        (Instrument::Phq9, Red) => (20, 27),
        (Instrument::Gad7, Green) => (0, 6),
        (Instrument::Gad7, Yellow) => (7, 10),
        (Instrument::Gad7, Orange) => (11, 15),
        (Instrument::Gad7, Red) => (16, 21),
        (Instrument::Scl90 | Instrument::Other, Green) => (90, 159),
        (Instrument::Scl90 | Instrument::Other, Yellow) => (160, 199),
        (Instrument::Scl90 | Instrument::Other, Orange) => (200, 259),
        (Instrument::Scl90 | Instrument::Other, Red) => (260, 450),
    }
}

fn instrument_for(r: &mut ChaCha8Rng, grade: i32) -> Instrument {
    use Instrument::*;
    if grade <= 6 {
        pick(r, &[(Mht, 65), (Sdq, 35)])
    } else if grade <= 9 {
        pick(r, &[(Mht, 45), (Phq9, 30), (Gad7, 15), (Sdq, 10)])
    } else {
        pick(r, &[(Mht, 35), (Phq9, 30), (Gad7, 15), (Scl90, 20)])
    }
}

/// Item answers (0–3 each) that add up to `score`; item 9 of a RED PHQ-9 is positive.
fn item_answers(r: &mut ChaCha8Rng, items: usize, score: u32, item9: bool) -> Vec<u32> {
    let mut a = vec![0u32; items];
    let mut left = score.min(3 * items as u32);
    if item9 && items == 9 && left > 0 {
        a[8] = 1;
        left -= 1;
    }
    while left > 0 {
        let k = r.gen_range(0..items);
        if a[k] < 3 {
            a[k] += 1;
            left -= 1;
        }
    }
    a
}

fn next_step(level: RiskLevel) -> &'static str {
    match level {
        RiskLevel::Green => "未见明显风险，下一学年复评。",
        RiskLevel::Yellow => "一般关注：班主任每月谈心一次。",
        RiskLevel::Orange => "重点关注：7日内制定一生一策方案，每两周联系，安排成长导师。",
        RiskLevel::Red => "危机：当日启动危机干预，24小时内紧急转介，必要时报警。",
    }
}

fn relation_cn(rel: GuardianRelation) -> &'static str {
    match rel {
        GuardianRelation::Father => "父亲",
        GuardianRelation::Mother => "母亲",
        GuardianRelation::Grandparent => "祖父母",
        GuardianRelation::Sibling => "兄姐",
        GuardianRelation::OtherRelative => "亲属",
        GuardianRelation::Institution => "监护机构",
        GuardianRelation::Other => "其他",
    }
}

/// A guardian to create: relation, male, legal guardian, actual caregiver, status, situation.
type Kin = (
    GuardianRelation,
    bool,
    bool,
    bool,
    GuardianshipStatus,
    Option<&'static str>,
);

/// A care-plan transition: from, to, when, who, note.
type PlanStep = (
    Option<CarePlanStatus>,
    CarePlanStatus,
    DateTime<Utc>,
    String,
    Option<&'static str>,
);

/// A service to record: kind, provider, organization, agency, summaries to draw from, minutes.
type ServicePlan = (
    ServiceKind,
    String,
    Uuid,
    Agency,
    &'static [&'static str],
    i32,
);

/// A stage of a workflow: the status reached and the gap since the previous one.
type Path<S> = Vec<(S, TimeDelta)>;

/// Lays `path` out from `t0`, compressed if it would run past now.
fn lay_out<S: Copy>(t0: DateTime<Utc>, path: &Path<S>) -> Vec<(S, DateTime<Utc>)> {
    let end = now() - TimeDelta::minutes(5);
    let total: i64 = path.iter().map(|(_, g)| g.num_minutes()).sum();
    let avail = (end - t0).num_minutes().max(0);
    let factor = if total > avail && total > 0 {
        avail as f64 / total as f64
    } else {
        1.0
    };
    let mut t = t0;
    path.iter()
        .map(|(s, g)| {
            t += TimeDelta::minutes((g.num_minutes() as f64 * factor) as i64);
            (*s, t)
        })
        .collect()
}

fn time_of<S: PartialEq + Copy>(laid: &[(S, DateTime<Utc>)], s: S) -> Option<DateTime<Utc>> {
    laid.iter().find(|(x, _)| *x == s).map(|(_, t)| *t)
}

/// A referral's parties.
struct Parties {
    from_org: Uuid,
    from_agency: Agency,
    sender: String,
    to_org: Uuid,
    receiver: String,
}

#[derive(Clone)]
struct EpisodeFacts {
    id: Uuid,
    admitted: DateTime<Utc>,
    discharged: Option<DateTime<Utc>>,
    fit: Option<bool>,
    inpatient: bool,
    clinician: String,
    hospital: Uuid,
}

struct ScreeningFacts {
    id: Uuid,
    at: DateTime<Utc>,
    level: RiskLevel,
    instrument: Instrument,
    score: u32,
    year: i32,
    school: Uuid,
    short: String,
}

struct ReportFacts {
    id: Uuid,
    category: ReportCategory,
    discovered: DateTime<Utc>,
    reported: DateTime<Utc>,
}

struct EnrollmentFacts {
    index: usize,
    id: Uuid,
    school: School,
    grade: i32,
    head_teacher: String,
}

/// Where a child's rows start in the batch's tables.
struct First {
    visits: usize,
    referrals: usize,
    reports: usize,
    transitions: usize,
}

/// A flag to raise: kind, message, when, when and why cleared, subject key.
type FlagToRaise = (
    FlagKind,
    String,
    DateTime<Utc>,
    Option<(DateTime<Utc>, &'static str)>,
    String,
);

/// Subject of the system in flags.
const SYSTEM: &str = "system";

/// One child being generated, and what is known about it so far.
struct Kid<'a> {
    r: ChaCha8Rng,
    w: &'a World,
    b: &'a mut Batch,
    shared: &'a mut Shared,
    id: Uuid,
    village: usize,
    county: usize,
    city: usize,
    residence: i64,
    county6: String,
    ca_office: Uuid,
    officer: String,
    director: String,
    registered: DateTime<Utc>,
    updated: (DateTime<Utc>, String),
    male: bool,
    birth: NaiveDate,
    age: i32,
    name: String,
    categories: Vec<DifficultyCategory>,
    living: LivingArrangement,
    active: bool,
    /// (name, relation) of the legal guardian who signs consents.
    signer: Option<(String, GuardianRelation)>,
    enrollment: Option<EnrollmentFacts>,
    school_2025: Option<School>,
    screenings: Vec<ScreeningFacts>,
    reports: Vec<ReportFacts>,
    crisis: Vec<(usize, DateTime<Utc>)>,
    current: Option<(RiskLevel, DateTime<Utc>, String)>,
    /// The ACTIVE/REVIEW_DUE plan and when it was approved.
    active_plan: Option<(Uuid, Option<DateTime<Utc>>)>,
    /// When the approver reviewed a lowered risk level.
    risk_review: Option<DateTime<Utc>>,
    /// Where this child's rows start in the batch.
    first: First,
    episodes: Vec<EpisodeFacts>,
}

impl<'a> Kid<'a> {
    fn place(mut r: ChaCha8Rng, w: &'a World, b: &'a mut Batch, shared: &'a mut Shared) -> Self {
        let id = uuid(&mut r);
        let village = w.pick_village(r.gen());
        let (_, county, city) = w.ancestry(village);
        let c = &w.counties[county];
        let county6 = c.code6();
        let officer = format!("ca-officer-{county6}-{}", r.gen_range(1..=3));
        let residence = w.villages[village].code;
        Kid {
            id,
            village,
            county,
            city,
            residence,
            ca_office: c.civil_affairs,
            director: format!("director-{residence:012}"),
            county6,
            officer,
            registered: now(),
            updated: (now(), String::new()),
            male: false,
            birth: today(),
            age: 0,
            name: String::new(),
            categories: Vec::new(),
            living: LivingArrangement::WithParents,
            active: true,
            signer: None,
            enrollment: None,
            school_2025: None,
            screenings: Vec::new(),
            reports: Vec::new(),
            crisis: Vec::new(),
            current: None,
            active_plan: None,
            risk_review: None,
            first: First {
                visits: b.visits.len(),
                referrals: b.referrals.len(),
                reports: b.reports.len(),
                transitions: b.transitions.len(),
            },
            episodes: Vec::new(),
            r,
            w,
            b,
            shared,
        }
    }

    fn touch(&mut self, at: DateTime<Utc>, by: &str) {
        if at > self.updated.0 {
            self.updated = (at, by.to_owned());
        }
    }

    fn uuid(&mut self) -> Uuid {
        uuid(&mut self.r)
    }

    fn chance(&mut self, p: f64) -> bool {
        self.r.gen_bool(p.clamp(0.0, 1.0))
    }

    fn id_number(&mut self, county6: &str, birth: NaiveDate, male: bool) -> (String, String) {
        let key: i64 = county6.parse().unwrap_or(0);
        let k = self.shared.id_seq.entry((key, birth)).or_insert(0);
        let offset = ((key * 31 + i64::from(birth.num_days_from_ce())) % 450) as u32;
        let seq = 2 * ((offset + *k) % 500) + u32::from(male);
        *k += 1;
        let clear = synthesize(county6, birth, seq);
        let mask = IdNumber::parse(&clear)
            .map(|id| id.mask())
            .unwrap_or_default();
        (clear, mask)
    }

    fn generate(&mut self) {
        self.identity();
        self.schooling();
        self.screen();
        self.report();
        self.crises();
        self.derive_risk();
        self.plans();
        self.referrals();
        self.home_visits();
        self.pairing();
        self.services();
        self.system_flags();
        self.finish();
    }

    // ---------------------------------------------------------------- identity and family

    fn identity(&mut self) {
        use DifficultyCategory as D;
        let r = &mut self.r;
        self.male = r.gen_bool(0.52);
        self.birth = date_between(r, date(2009, 1, 1), date(2020, 11, 27));
        self.age = time::age_on(self.birth, today());
        let surname = names::surname(r);
        self.name = format!("{surname}{}", names::given_name(r, self.male));

        let first = pick(r, CATEGORY_WEIGHTS);
        let mut categories = vec![first];
        if r.gen_bool(0.3) {
            let second = pick(r, CATEGORY_WEIGHTS);
            let clash = |a: D, b: D| {
                matches!(
                    (a, b),
                    (D::Orphan, D::LeftBehind | D::Migrant | D::Unattended)
                        | (D::LeftBehind | D::Migrant | D::Unattended, D::Orphan)
                        | (D::LeftBehind, D::Migrant)
                        | (D::Migrant, D::LeftBehind)
                )
            };
            if second != first && !clash(first, second) {
                categories.push(second);
            }
        }
        let has = |c: D| categories.contains(&c);
        use LivingArrangement as L;
        self.living = if has(D::Orphan) {
            pick(
                r,
                &[
                    (L::Institution, 55),
                    (L::WithRelatives, 30),
                    (L::FosterFamily, 15),
                ],
            )
        } else if has(D::Unattended) {
            pick(
                r,
                &[
                    (L::WithGrandparents, 50),
                    (L::WithRelatives, 30),
                    (L::Institution, 10),
                    (L::Alone, 10),
                ],
            )
        } else if has(D::LeftBehind) {
            pick(
                r,
                &[
                    (L::WithGrandparents, 65),
                    (L::WithOneParent, 20),
                    (L::WithRelatives, 10),
                    (L::Alone, 5),
                ],
            )
        } else if has(D::Migrant) {
            pick(r, &[(L::WithParents, 80), (L::WithOneParent, 20)])
        } else {
            pick(
                r,
                &[
                    (L::WithParents, 60),
                    (L::WithOneParent, 30),
                    (L::WithGrandparents, 8),
                    (L::Other, 2),
                ],
            )
        };

        let household_village = if has(D::Migrant) {
            let mut other = r.gen_range(0..self.w.counties.len());
            if other == self.county {
                other = (other + 1) % self.w.counties.len();
            }
            self.w.village_in_county(other, r)
        } else if r.gen_bool(0.05) {
            self.w.village_in_county(self.county, r)
        } else {
            self.village
        };
        let household = self.w.villages[household_village].code;
        let household6 = format!("{:06}", household / 1_000_000);

        let earliest = date(2023, 3, 1).max(self.birth + chrono::Days::new(30));
        let reg_date = date_between(r, earliest, date(2026, 8, 31));
        self.registered = office_hours(r, reg_date);
        self.updated = (self.registered, self.officer.clone());
        self.active = true;
        let status = match r.gen_range(0..100) {
            0..=96 => ChildStatus::Active,
            97..=98 => ChildStatus::Transferred,
            _ => ChildStatus::Closed,
        };
        if status != ChildStatus::Active {
            self.active = false;
        }
        let ethnicity = pick(r, ETHNICITIES);
        let phone = if self.age >= 13 && r.gen_bool(0.3) {
            Some(names::mobile(r))
        } else {
            None
        };
        let w = self.w;
        let city = &w.cities[self.city];
        let county = &w.counties[self.county];
        let village = &w.villages[self.village];
        let township = &w.townships[village.township];
        let address = if self.living == L::Institution {
            format!("广西壮族自治区{}（{}）", city.welfare_name, city.name)
        } else {
            format!(
                "广西壮族自治区{}{}{}{}{}组{}号",
                city.name,
                county.name,
                township.name,
                village.name,
                r.gen_range(1..=12),
                r.gen_range(1..=80)
            )
        };
        let responsible = if has(D::Orphan) || self.living == L::Institution {
            city.welfare
        } else {
            county.civil_affairs
        };

        // Difficulty categories, verified by the county's civil-affairs office.
        let mut valid_from = reg_date;
        for (k, category) in categories.clone().into_iter().enumerate() {
            if k > 0 {
                valid_from = date_between(&mut self.r, reg_date, date(2026, 11, 20));
            }
            let lag = chrono::Days::new(self.r.gen_range(1..10));
            let verified = cap(office_hours(&mut self.r, valid_from + lag));
            let id = self.uuid();
            let creator = self.officer.clone();
            let meta = Meta::after(
                self.registered,
                id,
                office_hours(&mut self.r, valid_from).min(verified),
                &creator,
                Agency::CivilAffairs,
                self.ca_office,
            )
            .touched(verified, &format!("ca-chief-{}", self.county6));
            self.b
                .difficulties
                .push(record!(child_difficulty::Model, meta, {
                    child_id: self.id,
                    category: category,
                    valid_from: valid_from,
                    valid_to: None,
                    verified_by: Some(format!("ca-chief-{}", self.county6)),
                    verified_at: Some(verified),
                }));
        }
        self.categories = categories;

        let (clear, mask) = self.id_number(&household6, self.birth, self.male);
        let meta = Meta::after(
            self.registered,
            self.id,
            self.registered,
            &self.officer.clone(),
            Agency::CivilAffairs,
            self.ca_office,
        );
        let name = self.name.clone();
        self.b.children.push(record!(child::Model, meta, {
            display_name: names::display_name(&name),
            gender: if self.male { Gender::Male } else { Gender::Female },
            birth_year_month: format!("{:04}-{:02}", self.birth.year(), self.birth.month()),
            residence_region_code: self.residence,
            city_code: truncate(self.residence, 4),
            county_code: truncate(self.residence, 6),
            household_region_code: household,
            status: status,
            responsible_org_id: Some(responsible),
            name: name,
            id_number_enc: Some(clear),
            id_number_bidx: None,
            id_number_mask: Some(mask),
            birth_date: self.birth,
            ethnicity: Some(ethnicity.to_owned()),
            address: Some(address),
            phone: phone,
            living_arrangement: Some(self.living),
            key_case: false,
            current_risk_level: None,
            risk_rank: 0,
            risk_updated_at: None,
            in_treatment: false,
            fit_to_return: None,            difficulty_from: None,            difficulty_to: None,
        }));
        self.guardians(&household6, surname);
    }

    fn guardians(&mut self, household6: &str, surname: &str) {
        use GuardianRelation as G;
        use GuardianshipStatus as S;
        use LivingArrangement as L;
        let orphan = self.categories.contains(&DifficultyCategory::Orphan);
        let unattended = self.categories.contains(&DifficultyCategory::Unattended);
        let by = self.birth.year();
        let mut plan: Vec<Kin> = Vec::new();
        let r = &mut self.r;
        let parent_status = |r: &mut ChaCha8Rng| -> (S, Option<&'static str>) {
            if unattended {
                if r.gen_bool(0.5) {
                    (S::Absent, Some(text::any(r, ABSENT)))
                } else {
                    (S::Inadequate, Some(text::any(r, INADEQUATE)))
                }
            } else {
                match r.gen_range(0..100) {
                    0..=84 => (S::Normal, Some(text::any(r, WORK_AWAY))),
                    85..=95 => (S::Absent, Some(text::any(r, ABSENT))),
                    _ => (S::Inadequate, Some(text::any(r, INADEQUATE))),
                }
            }
        };
        match self.living {
            L::Institution => {
                plan.push((
                    G::Institution,
                    false,
                    true,
                    true,
                    S::Normal,
                    Some("由儿童福利机构监护"),
                ));
                if r.gen_bool(0.2) {
                    plan.push((
                        G::OtherRelative,
                        r.gen_bool(0.5),
                        false,
                        false,
                        S::Normal,
                        Some("定期探望"),
                    ));
                }
            }
            L::FosterFamily => {
                plan.push((
                    G::Institution,
                    false,
                    true,
                    false,
                    S::Normal,
                    Some("由儿童福利机构监护，家庭寄养"),
                ));
                plan.push((
                    G::Other,
                    r.gen_bool(0.4),
                    false,
                    true,
                    S::Normal,
                    Some("寄养家庭"),
                ));
            }
            L::WithParents => {
                let st = if r.gen_bool(0.05) {
                    (S::Inadequate, Some(text::any(r, INADEQUATE)))
                } else {
                    (S::Normal, None)
                };
                plan.push((G::Father, true, true, true, st.0, st.1));
                plan.push((G::Mother, false, true, true, S::Normal, None));
            }
            L::WithOneParent | L::Other => {
                let mother = r.gen_bool(0.6);
                plan.push((
                    if mother { G::Mother } else { G::Father },
                    !mother,
                    true,
                    true,
                    S::Normal,
                    None,
                ));
                if r.gen_bool(0.6) {
                    let (st, sit) = if r.gen_bool(0.5) {
                        (S::Absent, Some(text::any(r, ABSENT)))
                    } else {
                        (S::Normal, Some("离异，另居"))
                    };
                    plan.push((
                        if mother { G::Father } else { G::Mother },
                        mother,
                        true,
                        false,
                        st,
                        sit,
                    ));
                }
            }
            L::WithGrandparents | L::Alone => {
                let (st, sit) = parent_status(r);
                plan.push((G::Father, true, true, false, st, sit));
                if r.gen_bool(0.7) {
                    let (st, sit) = parent_status(r);
                    plan.push((G::Mother, false, true, false, st, sit));
                }
                if self.living == L::WithGrandparents {
                    plan.push((
                        G::Grandparent,
                        r.gen_bool(0.45),
                        unattended,
                        true,
                        S::Normal,
                        Some("受父母委托照护，年事已高"),
                    ));
                } else if r.gen_bool(0.5) {
                    plan.push((
                        G::Grandparent,
                        r.gen_bool(0.45),
                        false,
                        false,
                        S::Normal,
                        Some("同村居住，偶尔照看"),
                    ));
                }
            }
            L::WithRelatives => {
                plan.push((
                    G::OtherRelative,
                    r.gen_bool(0.5),
                    orphan || unattended,
                    true,
                    S::Normal,
                    Some("亲属代为抚养"),
                ));
                if !orphan {
                    let (st, sit) = parent_status(r);
                    plan.push((G::Father, true, true, false, st, sit));
                } else if r.gen_bool(0.4) {
                    plan.push((
                        G::Grandparent,
                        r.gen_bool(0.45),
                        false,
                        false,
                        S::Normal,
                        Some("年迈，无力抚养"),
                    ));
                }
            }
        }
        plan.truncate(3);
        let w = self.w;
        let city = &w.cities[self.city];
        for (rel, male, legal, caregiver, status, situation) in plan {
            let id = self.uuid();
            let (name, id_number, phone) = if rel == G::Institution {
                (
                    city.welfare_name.clone(),
                    None,
                    Some(names::landline(&mut self.r, city.area)),
                )
            } else {
                let family = match rel {
                    G::Father => Some(surname),
                    G::Grandparent if male => Some(surname),
                    _ => None,
                };
                let name = names::person_name(&mut self.r, male, family);
                let year = match rel {
                    G::Grandparent => (by - self.r.gen_range(45..62)).clamp(1950, 1972),
                    G::Father | G::Mother => (by - self.r.gen_range(21..38)).clamp(1965, 1995),
                    _ => self.r.gen_range(1960..=1995),
                };
                let birth = date_between(&mut self.r, date(year, 1, 1), date(year, 12, 28));
                let id_number = if self.r.gen_bool(0.9) {
                    Some(self.id_number(household6, birth, male))
                } else {
                    None
                };
                let p = if rel == G::Grandparent { 0.6 } else { 0.9 };
                let phone = if self.r.gen_bool(p) {
                    Some(names::mobile(&mut self.r))
                } else {
                    None
                };
                (name, id_number, phone)
            };
            if legal && status == S::Normal && self.signer.is_none() {
                self.signer = Some((name.clone(), rel));
            }
            let meta = Meta::after(
                self.registered,
                id,
                self.registered,
                &self.officer.clone(),
                Agency::CivilAffairs,
                self.ca_office,
            );
            let (enc, mask) = match id_number {
                Some((clear, mask)) => (Some(clear), Some(mask)),
                None => (None, None),
            };
            self.b.guardians.push(record!(guardian::Model, meta, {
                child_id: self.id,
                name: name,
                relation: rel,
                is_legal_guardian: legal,
                is_actual_caregiver: caregiver,
                phone: phone,
                id_number_enc: enc,
                id_number_bidx: None,
                id_number_mask: mask,
                guardianship_status: status,
                situation: situation.map(str::to_owned),
            }));
        }
        if self.signer.is_none() {
            self.signer = Some((
                self.w.cities[self.city].welfare_name.clone(),
                G::Institution,
            ));
        }
    }

    // ---------------------------------------------------------------- school

    fn schooling(&mut self) {
        let grade = (self.age - 6).clamp(1, 12);
        let disabled = self.categories.contains(&DifficultyCategory::Disabled);
        let p_enrolled = if disabled {
            0.8
        } else if self.age >= 16 {
            0.9
        } else {
            0.98
        };
        let enrolled = self.chance(p_enrolled);
        let dropped = !enrolled && self.age >= 13 && self.chance(0.5);
        if !enrolled && !dropped {
            return;
        }
        let w = self.w;
        let county = &w.counties[self.county];
        let choose = |r: &mut ChaCha8Rng, secondary: bool| -> School {
            let pool: Vec<&School> = county
                .schools
                .iter()
                .filter(|s| s.secondary == secondary)
                .collect();
            pool.get(r.gen_range(0..pool.len().max(1)))
                .map_or_else(|| county.schools[0].clone(), |s| (*s).clone())
        };
        let school = choose(&mut self.r, grade >= 7);
        let class_no = self.r.gen_range(1..=6);
        let head_teacher = format!("teacher-{}-g{grade}c{class_no}", school.short);
        let registrar = format!("registrar-{}", school.short);
        let id = self.uuid();
        let created = time::office_day(&mut self.r, date(2026, 9, 1), date(2026, 9, 5));
        let status = if dropped {
            EnrollmentStatus::DroppedOut
        } else {
            EnrollmentStatus::Enrolled
        };
        let mut meta = Meta::after(
            self.registered,
            id,
            created,
            &registrar,
            Agency::Education,
            school.id,
        );
        if dropped {
            let left = time::office_day(&mut self.r, date(2026, 9, 20), date(2026, 11, 20));
            meta = meta.touched(left, &head_teacher);
        }
        self.b.enrollments.push(record!(enrollment::Model, meta, {
            child_id: self.id,
            school_id: school.id,
            school_year: 2026,
            grade: grade,
            class_name: Some(format!("{}{class_no}班", GRADE_NAMES[(grade - 1) as usize])),
            head_teacher: Some(head_teacher.clone()),
            status: status,
        }));
        let index = self.b.enrollments.len() - 1;

        // Last year's record for those who changed school or came back.
        let mut school_2025 = Some(school.clone());
        if grade == 7 || (grade >= 2 && self.chance(0.04)) {
            let graduated = grade == 7;
            let old = if graduated {
                choose(&mut self.r, false)
            } else {
                school.clone()
            };
            let old_class = self.r.gen_range(1..=6);
            let id = self.uuid();
            let created = time::office_day(&mut self.r, date(2025, 9, 1), date(2025, 9, 5));
            let (status, closed) = if graduated {
                (
                    EnrollmentStatus::Graduated,
                    office_hours(&mut self.r, date(2026, 7, 10)),
                )
            } else {
                let d = date_between(&mut self.r, date(2026, 2, 20), date(2026, 5, 30));
                (EnrollmentStatus::Returned, office_hours(&mut self.r, d))
            };
            let old_teacher = format!("teacher-{}-g{}c{old_class}", old.short, grade - 1);
            let meta = Meta::after(
                self.registered,
                id,
                created,
                &format!("registrar-{}", old.short),
                Agency::Education,
                old.id,
            )
            .touched(closed, &old_teacher);
            self.b.enrollments.push(record!(enrollment::Model, meta, {
                child_id: self.id,
                school_id: old.id,
                school_year: 2025,
                grade: grade - 1,
                class_name: Some(format!("{}{old_class}班", GRADE_NAMES[(grade - 2) as usize])),
                head_teacher: Some(old_teacher),
                status: status,
            }));
            school_2025 = Some(old);
        }
        if !dropped {
            self.school_2025 = school_2025;
            self.enrollment = Some(EnrollmentFacts {
                index,
                id,
                school,
                grade,
                head_teacher,
            });
        }
    }

    // ---------------------------------------------------------------- screening and risk

    fn screen(&mut self) {
        let Some(e) = &self.enrollment else { return };
        if e.grade < 4 {
            return;
        }
        let (grade, school) = (e.grade, e.school.clone());
        let old_school = self.school_2025.clone().unwrap_or_else(|| school.clone());
        let vulnerable = self
            .categories
            .iter()
            .any(|c| matches!(c, DifficultyCategory::Victim));
        let fragile = self.categories.iter().any(|c| {
            matches!(
                c,
                DifficultyCategory::Orphan | DifficultyCategory::Unattended
            )
        });
        let mut level_2026 = draw_risk(&mut self.r);
        if (vulnerable && self.chance(0.5)) || (fragile && self.chance(0.15)) {
            level_2026 = bump(level_2026);
        }
        let level_2025 = if self.chance(0.55) {
            level_2026
        } else {
            draw_risk(&mut self.r)
        };
        self.one_screening(2025, grade - 1, level_2025, &old_school);
        if self.chance(0.85) {
            self.one_screening(2026, grade, level_2026, &school);
        }
    }

    fn one_screening(&mut self, year: i32, grade: i32, level: RiskLevel, school: &School) {
        let r = &mut self.r;
        let instrument = instrument_for(r, grade);
        let (lo, hi) = band(instrument, level);
        let score = r.gen_range(lo..=hi);
        let administered = time::office_day(r, date(year, 9, 1), date(year, 11, 15));
        let answers = match instrument {
            Instrument::Phq9 => Some(json!(item_answers(r, 9, score, level == RiskLevel::Red))),
            Instrument::Gad7 => Some(json!(item_answers(r, 7, score, false))),
            _ => None,
        };
        let notes = if high(level) || (level == RiskLevel::Yellow && r.gen_bool(0.2)) {
            Some(text::any(r, text::SCREENING_NOTES).to_owned())
        } else {
            None
        };
        let entered = administered + hours(r, 0.5, 4.0);
        let counselor = format!("counselor-{}", school.short);
        let id = self.uuid();
        let meta = Meta::after(
            self.registered,
            id,
            entered,
            &counselor,
            Agency::Education,
            school.id,
        );
        self.b.screenings.push(record!(screening::Model, meta, {
            child_id: self.id,
            school_year: year,
            instrument: instrument,
            administered_at: administered,
            organization_id: Some(school.id),
            score: Some(f64::from(score)),
            item_answers: answers,
            notes: notes,
            risk_level: level,
            recommended_next_step: Some(next_step(level).to_owned()),
        }));
        self.screenings.push(ScreeningFacts {
            id,
            at: administered,
            level,
            instrument,
            score,
            year,
            school: school.id,
            short: school.short.clone(),
        });
    }

    fn latest_screening(&self) -> Option<&ScreeningFacts> {
        self.screenings.iter().max_by_key(|s| s.at)
    }

    // ---------------------------------------------------------------- reports

    fn report(&mut self) {
        use ReportCategory as C;
        let victim = self.categories.contains(&DifficultyCategory::Victim);
        let worrying = self.latest_screening().is_some_and(|s| high(s.level));
        let p = if victim {
            0.6
        } else if worrying {
            0.12
        } else {
            0.012
        };
        if self.chance(p) {
            let category = if victim {
                pick(
                    &mut self.r,
                    &[
                        (C::Abuse, 30),
                        (C::SexualAbuse, 15),
                        (C::DomesticViolence, 25),
                        (C::Neglect, 20),
                        (C::Bullying, 10),
                    ],
                )
            } else if worrying {
                pick(
                    &mut self.r,
                    &[
                        (C::Psychological, 40),
                        (C::SelfHarmRisk, 35),
                        (C::Behavioural, 25),
                    ],
                )
            } else {
                pick(
                    &mut self.r,
                    &[
                        (C::Psychological, 22),
                        (C::Behavioural, 18),
                        (C::SelfHarmRisk, 8),
                        (C::Bullying, 14),
                        (C::Neglect, 14),
                        (C::Abuse, 8),
                        (C::DomesticViolence, 7),
                        (C::SexualAbuse, 2),
                        (C::Other, 7),
                    ],
                )
            };
            self.one_report(category, false);
        }
        if self.chance(0.0015) {
            let category = pick(
                &mut self.r,
                &[
                    (C::Psychological, 30),
                    (C::SelfHarmRisk, 20),
                    (C::Bullying, 20),
                    (C::Abuse, 10),
                    (C::DomesticViolence, 10),
                    (C::Neglect, 10),
                ],
            );
            self.one_report(category, true);
        }
    }

    fn one_report(&mut self, category: ReportCategory, anonymous: bool) {
        use ReportStatus as S;
        let w = self.w;
        let county = &w.counties[self.county];
        let city = &w.cities[self.city];
        let township = &w.townships[w.villages[self.village].township];
        // Who reports, from where.
        let (agency, org, reporter) = if anonymous {
            (
                Agency::YouthLeague,
                city.hotline,
                format!(
                    "hotline-{:04}-{}",
                    city.code / 100_000_000,
                    self.r.gen_range(1..=4)
                ),
            )
        } else {
            let roll = self.r.gen_range(0..100);
            match (&self.enrollment, roll) {
                (Some(e), 0..=54) => (Agency::Education, e.school.id, e.head_teacher.clone()),
                (_, 0..=79) => (
                    Agency::CivilAffairs,
                    township.children_home,
                    self.director.clone(),
                ),
                _ => (
                    Agency::Health,
                    county.general_hospital,
                    format!("doctor-{}-{}", self.county6, self.r.gen_range(1..=5)),
                ),
            }
        };
        let r = &mut self.r;
        let days_ago = match r.gen_range(0..100) {
            0..=19 => r.gen_range(0.05..7.0),
            20..=49 => r.gen_range(7.0..60.0),
            _ => r.gen_range(60.0..330.0),
        };
        let reported = now() - TimeDelta::minutes((days_ago * 1440.0) as i64);
        let reported = reported.max(self.registered + TimeDelta::hours(1));
        let discovered = reported - hours(r, 0.1, 6.0);
        let occurred = if r.gen_bool(0.7) {
            Some(discovered - days(r, 0.0, 14.0))
        } else {
            None
        };
        let harm = category.is_harm();
        let urgent = harm || category == ReportCategory::SelfHarmRisk;
        let due_by = reported + TimeDelta::hours(if urgent { 24 } else { 72 });
        let age_days = (now() - reported).num_minutes() as f64 / 1440.0;
        let status = if age_days < 1.0 {
            pick(r, &[(S::Reported, 70), (S::Acknowledged, 30)])
        } else if age_days < 7.0 {
            pick(
                r,
                &[(S::Reported, 10), (S::Acknowledged, 30), (S::Handling, 60)],
            )
        } else if age_days < 60.0 {
            pick(
                r,
                &[(S::Acknowledged, 5), (S::Handling, 55), (S::Closed, 40)],
            )
        } else {
            pick(r, &[(S::Handling, 15), (S::Closed, 85)])
        };
        let reported_to: Vec<&str> = if harm {
            if category == ReportCategory::Bullying {
                vec!["POLICE", "CIVIL_AFFAIRS", "EDUCATION"]
            } else {
                vec!["POLICE", "CIVIL_AFFAIRS"]
            }
        } else if category == ReportCategory::SelfHarmRisk {
            vec!["CIVIL_AFFAIRS", "EDUCATION"]
        } else if agency == Agency::Education {
            vec!["EDUCATION"]
        } else {
            vec!["CIVIL_AFFAIRS"]
        };
        let police_ref = if harm {
            Some(format!(
                "桂公({})受案〔2026〕{:05}号",
                city.short,
                r.gen_range(1..99_999)
            ))
        } else {
            None
        };
        // The handling path: acknowledged, handled, closed.
        let mut path: Path<S> = vec![(S::Reported, TimeDelta::zero())];
        let order = [S::Acknowledged, S::Handling, S::Closed];
        let target = order.iter().position(|s| *s == status).map_or(0, |p| p + 1);
        for s in order.iter().take(target) {
            let gap = match s {
                S::Acknowledged => hours(r, 0.5, 20.0),
                S::Handling => hours(r, 1.0, 48.0),
                _ => days(r, 3.0, 40.0),
            };
            path.push((*s, gap));
        }
        let laid = lay_out(reported, &path);
        let id = self.uuid();
        let handler = if agency == Agency::Education {
            reporter.clone()
        } else {
            self.officer.clone()
        };
        let mut meta = Meta::after(self.registered, id, reported, &reporter, agency, org);
        let mut prev: Option<S> = None;
        for (s, t) in &laid {
            let actor = if *s == S::Reported {
                reporter.clone()
            } else {
                handler.clone()
            };
            meta = meta.touched(*t, &actor);
            self.transition(
                "Report",
                id,
                prev.map(|p| p.as_str()),
                s.as_str(),
                *t,
                &actor,
                org,
                None,
            );
            prev = Some(*s);
        }
        let child_id = if anonymous && self.r.gen_bool(0.5) {
            None
        } else {
            Some(self.id)
        };
        let description = text::report_description(&mut self.r, category.as_str()).to_owned();
        self.b.reports.push(record!(report::Model, meta, {
            child_id: child_id,
            region_code: Some(self.residence),
            reporter: if anonymous { None } else { Some(reporter.clone()) },
            reporter_org_id: Some(org),
            anonymous_caller: anonymous,
            category: category,
            occurred_at: occurred,
            discovered_at: discovered,
            reported_at: reported,
            reported_to: Some(json!(reported_to)),
            police_ref: police_ref,
            urgency: if urgent { Urgency::Urgent } else { Urgency::Routine },
            due_by: due_by,
            status: status,
            description: Some(description),
        }));
        if anonymous {
            // The call itself, as the hotline logged it.
            let sid = self.uuid();
            let minutes = self.r.gen_range(10..50);
            let summary = text::any(&mut self.r, text::HOTLINE_SUMMARIES).to_owned();
            let meta = Meta::after(
                self.registered,
                sid,
                reported,
                &reporter,
                Agency::YouthLeague,
                org,
            );
            self.b.services.push(record!(service_record::Model, meta, {
                child_id: child_id,
                kind: ServiceKind::Hotline12355,
                organization_id: Some(org),
                provider: reporter.clone(),
                occurred_at: discovered,
                duration_minutes: Some(minutes),
                care_plan_id: None,
                referral_id: None,
                summary: Some(summary),
            }));
        }
        if child_id.is_some() {
            self.reports.push(ReportFacts {
                id,
                category,
                discovered,
                reported,
            });
        }
        if harm
            && matches!(
                category,
                ReportCategory::Abuse
                    | ReportCategory::SexualAbuse
                    | ReportCategory::DomesticViolence
                    | ReportCategory::Neglect
            )
        {
            let p = if category == ReportCategory::Neglect {
                0.2
            } else {
                0.7
            };
            if child_id.is_some() && status != S::Reported && self.r.gen_bool(p) {
                self.victim_aid(id, reported, status == S::Closed);
            }
        }
    }

    fn victim_aid(&mut self, report_id: Uuid, reported: DateTime<Utc>, report_closed: bool) {
        let w = self.w;
        let county = &w.counties[self.county];
        let city = &w.cities[self.city];
        let worker = format!("wf-worker-{}-{}", self.county6, self.r.gen_range(1..=3));
        let org = county.womens_federation;
        let opened = cap(reported + days(&mut self.r, 1.0, 5.0));
        let status = if report_closed {
            pick(
                &mut self.r,
                &[
                    (VictimAidStatus::Closed, 60),
                    (VictimAidStatus::InService, 40),
                ],
            )
        } else {
            pick(
                &mut self.r,
                &[
                    (VictimAidStatus::Open, 40),
                    (VictimAidStatus::InService, 60),
                ],
            )
        };
        let mut services = vec!["COUNSELING"];
        for s in ["FAMILY_EDUCATION_GUIDANCE", "LEGAL_AID", "MATERIAL_AID"] {
            if self.r.gen_bool(0.4) {
                services.push(s);
            }
        }
        let case_ref = if self.r.gen_bool(0.6) {
            Some(format!(
                "{}检未检〔2026〕{}号",
                city.short,
                self.r.gen_range(1..400)
            ))
        } else {
            None
        };
        let id = self.uuid();
        let mut meta = Meta::after(
            self.registered,
            id,
            opened,
            &worker,
            Agency::WomensFederation,
            org,
        );
        if status != VictimAidStatus::Open {
            let t = cap(opened + days(&mut self.r, 1.0, 10.0));
            meta = meta.touched(t, &worker);
            for k in 0..self.r.gen_range(1..=2) {
                let sid = self.uuid();
                let at = cap(t + days(&mut self.r, 0.0, 5.0) + TimeDelta::days(7 * k));
                let summary = text::any(&mut self.r, text::COUNSELING_SUMMARIES).to_owned();
                let smeta = Meta::after(
                    self.registered,
                    sid,
                    at,
                    &worker,
                    Agency::WomensFederation,
                    org,
                );
                self.b.services.push(record!(service_record::Model, smeta, {
                    child_id: Some(self.id),
                    kind: ServiceKind::Counseling,
                    organization_id: Some(org),
                    provider: worker.clone(),
                    occurred_at: at,
                    duration_minutes: Some(50),
                    care_plan_id: None,
                    referral_id: None,
                    summary: Some(summary),
                }));
            }
        }
        self.b.victim_aid.push(record!(victim_aid::Model, meta, {
            child_id: self.id,
            report_id: Some(report_id),
            case_ref: case_ref,
            services: Some(json!(services)),
            status: status,
            worker: Some(worker.clone()),
            organization_id: Some(org),
        }));
    }

    // ---------------------------------------------------------------- crisis and derived risk

    fn crises(&mut self) {
        if let Some(s) = self.latest_screening() {
            if s.level == RiskLevel::Red {
                let (at, school, short) = (s.at, s.school, s.short.clone());
                if self.chance(0.85) {
                    let occurred = cap(at + hours(&mut self.r, 0.5, 30.0));
                    self.crisis_event(
                        CrisisTrigger::Screening,
                        occurred,
                        Agency::Education,
                        school,
                        &format!("counselor-{short}"),
                    );
                }
            }
        }
        let self_harm: Vec<DateTime<Utc>> = self
            .reports
            .iter()
            .filter(|r| r.category == ReportCategory::SelfHarmRisk)
            .map(|r| r.discovered)
            .collect();
        for discovered in self_harm {
            if self.chance(0.5) {
                let occurred = cap(discovered + hours(&mut self.r, 0.0, 2.0));
                let officer = self.officer.clone();
                self.crisis_event(
                    CrisisTrigger::Report,
                    occurred,
                    Agency::CivilAffairs,
                    self.ca_office,
                    &officer,
                );
            }
        }
    }

    fn crisis_event(
        &mut self,
        trigger: CrisisTrigger,
        occurred: DateTime<Utc>,
        agency: Agency,
        org: Uuid,
        by: &str,
    ) {
        let occurred = occurred.max(self.registered + TimeDelta::hours(1));
        let r = &mut self.r;
        let first = occurred + hours(r, 1.0, 30.0);
        let first_response = (first < now()).then_some(first);
        let informed = occurred + hours(r, 0.5, 6.0);
        let guardian_informed = (informed < now()).then_some(informed);
        let resolved = first_response
            .map(|f| f + days(r, 2.0, 20.0))
            .filter(|t| *t < now() && r.gen_bool(0.8));
        let emergency = r.gen_bool(0.15);
        let safety = text::any(r, text::SAFETY_MEASURES).to_owned();
        let notes = text::any(r, text::CRISIS_NOTES).to_owned();
        let id = self.uuid();
        let mut meta = Meta::after(self.registered, id, occurred, by, agency, org);
        for t in [first_response, guardian_informed, resolved]
            .into_iter()
            .flatten()
        {
            meta = meta.touched(t, by);
        }
        self.b
            .crisis_events
            .push(record!(crisis_event::Model, meta, {
                child_id: self.id,
                trigger: trigger,
                risk_level: RiskLevel::Red,
                occurred_at: occurred,
                first_response_at: first_response,
                resolved_at: resolved,
                guardian_informed_at: guardian_informed,
                safety_measures: Some(safety),
                emergency_services_called: emergency,
                urgent_referral_id: None,
                notes: Some(notes),
            }));
        self.crisis.push((self.b.crisis_events.len() - 1, occurred));
    }

    /// The current risk level as the write path keeps it: the latest screening or crisis event,
    /// except that lowering ORANGE/RED takes effect only with the care-plan approver's review
    /// (a `ChildRisk` transition), which most, not all, recovered children have had.
    fn derive_risk(&mut self) {
        // (time, level, who, from last year's screening)
        let mut events: Vec<(DateTime<Utc>, RiskLevel, String, bool)> = self
            .screenings
            .iter()
            .map(|s| {
                (
                    s.at,
                    s.level,
                    format!("counselor-{}", s.short),
                    s.year == 2025,
                )
            })
            .collect();
        for (k, at) in &self.crisis {
            events.push((
                *at,
                RiskLevel::Red,
                self.b.crisis_events[*k].created_by.clone(),
                false,
            ));
        }
        events.sort_by_key(|e| e.0);
        let mut current: Option<(RiskLevel, DateTime<Utc>, String, bool)> = None;
        for (i, (t, level, by, last_year)) in events.iter().enumerate() {
            match &current {
                Some((cur, _, _, from_last_year)) if high(*cur) && rank(*level) < rank(*cur) => {
                    // Lowering: the approver of last year's plan reviews it, usually.
                    let Some(school) = self.school_2025.clone().filter(|_| *from_last_year) else {
                        continue;
                    };
                    // (RED to ORANGE stays RED under the plan until it is reviewed with it.)
                    if high(*level) || !self.chance(0.85) {
                        continue;
                    }
                    let next = events.get(i + 1).map_or(now(), |e| e.0);
                    let review =
                        cap(*t + days(&mut self.r, 1.0, 14.0)).min(next - TimeDelta::minutes(1));
                    if review <= *t {
                        continue;
                    }
                    let approver = format!("principal-{}", school.short);
                    let from = cur.as_str();
                    let note = Some("复评结果下降，经方案审批人复核后调整风险等级");
                    self.transition(
                        "ChildRisk",
                        self.id,
                        Some(from),
                        level.as_str(),
                        review,
                        &approver,
                        school.id,
                        note,
                    );
                    self.risk_review = Some(review);
                    current = Some((*level, review, approver, false));
                }
                _ => current = Some((*level, *t, by.clone(), *last_year)),
            }
        }
        if let Some((_, at, by, _)) = &current {
            let (at, by) = (*at, by.clone());
            self.touch(at, &by);
        }
        self.current = current.map(|(l, t, by, _)| (l, t, by));
    }

    // ---------------------------------------------------------------- care plans

    fn plans(&mut self) {
        let Some((level, since, _)) = self.current.clone() else {
            return;
        };
        if high(level) {
            let trigger_screening = self
                .screenings
                .iter()
                .filter(|s| high(s.level) && s.at <= since + TimeDelta::days(3))
                .max_by_key(|s| s.at)
                .map(|s| s.id);
            let trigger_report = if trigger_screening.is_none() {
                self.reports.iter().max_by_key(|r| r.reported).map(|r| r.id)
            } else {
                None
            };
            let none = if level == RiskLevel::Red && !self.crisis.is_empty() {
                6
            } else {
                12
            };
            use CarePlanStatus as P;
            let status = pick(
                &mut self.r,
                &[
                    (Some(P::Active), 62),
                    (Some(P::ReviewDue), 10),
                    (Some(P::Draft), 7),
                    (Some(P::Submitted), 7),
                    (Some(P::Returned), 2),
                    (None, none),
                ],
            );
            if let Some(status) = status {
                let created = cap(since + hours(&mut self.r, 4.0, 72.0));
                let (id, status, approved) = self.plan(
                    level,
                    status,
                    created,
                    trigger_screening,
                    trigger_report,
                    None,
                );
                if matches!(status, P::Active | P::ReviewDue) {
                    self.active_plan = Some((id, approved));
                }
            }
        }
        // Last year's plan for those who were ORANGE/RED then and are not now.
        let old = self
            .screenings
            .iter()
            .find(|s| s.year == 2025 && high(s.level))
            .map(|s| (s.id, s.at, s.level));
        if let Some((sid, at, old_level)) = old {
            if !high(level) {
                let status = if self.chance(0.8) {
                    CarePlanStatus::Completed
                } else {
                    CarePlanStatus::Closed
                };
                // Completed once the approver had reviewed the lower result.
                let created = at + hours(&mut self.r, 4.0, 72.0);
                let finish = self
                    .risk_review
                    .map(|t| cap(t + days(&mut self.r, 1.0, 14.0)));
                self.plan(old_level, status, created, Some(sid), None, finish);
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn plan(
        &mut self,
        level: RiskLevel,
        mut status: CarePlanStatus,
        created: DateTime<Utc>,
        trigger_screening: Option<Uuid>,
        trigger_report: Option<Uuid>,
        finish: Option<DateTime<Utc>>,
    ) -> (Uuid, CarePlanStatus, Option<DateTime<Utc>>) {
        let historic = finish.is_some();
        use CarePlanStatus as P;
        let created = created.max(self.registered + TimeDelta::hours(2));
        let school = if historic {
            self.school_2025.clone()
        } else {
            self.enrollment.as_ref().map(|e| e.school.clone())
        };
        // Community plans: children out of school, cases raised by a report, and some others.
        let community = !historic && (trigger_report.is_some() || self.chance(0.15));
        let school = if community { None } else { school };
        let (kind, org, agency, lead, approver) = match &school {
            Some(s) => (
                CarePlanKind::SchoolOneStudentOnePlan,
                s.id,
                Agency::Education,
                format!("counselor-{}", s.short),
                format!("principal-{}", s.short),
            ),
            None => (
                CarePlanKind::Community,
                self.ca_office,
                Agency::CivilAffairs,
                self.director.clone(),
                format!("ca-chief-{}", self.county6),
            ),
        };
        let r = &mut self.r;
        let submitted = created + hours(r, 2.0, 48.0);
        let approved = submitted + hours(r, 2.0, if level == RiskLevel::Red { 24.0 } else { 96.0 });
        let period = if level == RiskLevel::Red { 30 } else { 60 };
        if matches!(status, P::Active | P::ReviewDue | P::Completed | P::Closed)
            && approved >= now()
        {
            status = P::Submitted;
        }
        if matches!(status, P::Submitted | P::Returned) && submitted >= now() {
            status = P::Draft;
        }
        let mut review_due = None;
        let mut reviewed = Vec::new();
        let mut finished = None;
        if matches!(status, P::Active | P::ReviewDue) {
            let mut due = approved.date_naive() + chrono::Days::new(period);
            // Reviews held on time while the plan stays active; an overdue one is REVIEW_DUE.
            if status == P::ReviewDue && due >= today() {
                status = P::Active;
            }
            while due < today() {
                if status == P::ReviewDue && due + chrono::Days::new(period) >= today() {
                    break;
                }
                reviewed.push(due);
                due = due + chrono::Days::new(period);
            }
            if status == P::ReviewDue && due >= today() {
                status = P::Active;
            }
            review_due = Some(due);
        }
        if matches!(status, P::Completed | P::Closed) {
            let end = finish.unwrap_or_else(|| cap(approved + days(r, 60.0, 200.0)));
            finished = Some(cap(end.max(approved + TimeDelta::days(7))));
            review_due = Some(approved.date_naive() + chrono::Days::new(period));
        }
        let goals = if level == RiskLevel::Red {
            text::any(r, text::GOALS_RED)
        } else {
            text::any(r, text::GOALS_ORANGE)
        }
        .to_owned();
        let id = self.uuid();

        // Workflow history.
        let mut steps: Vec<PlanStep> = vec![(None, P::Draft, created, lead.clone(), None)];
        if status != P::Draft {
            steps.push((Some(P::Draft), P::Submitted, submitted, lead.clone(), None));
        }
        if status == P::Returned {
            steps.push((
                Some(P::Submitted),
                P::Returned,
                approved,
                approver.clone(),
                Some("请补充家庭层面的干预措施"),
            ));
        }
        if matches!(status, P::Active | P::ReviewDue | P::Completed | P::Closed) {
            steps.push((
                Some(P::Submitted),
                P::Active,
                approved,
                approver.clone(),
                None,
            ));
        }
        for d in &reviewed {
            let t = office_hours(&mut self.r, *d);
            steps.push((
                Some(P::Active),
                P::Active,
                cap(t),
                approver.clone(),
                Some("定期评估：维持方案"),
            ));
        }
        if status == P::ReviewDue {
            if let Some(d) = review_due {
                steps.push((
                    Some(P::Active),
                    P::ReviewDue,
                    at(d, 0),
                    "system".to_owned(),
                    Some("方案评估到期"),
                ));
            }
        }
        if let Some(end) = finished {
            let note = if status == P::Completed {
                "目标达成，方案结束"
            } else {
                "儿童转学，方案关闭"
            };
            steps.push((Some(P::Active), status, end, lead.clone(), Some(note)));
        }
        let mut meta = Meta::after(self.registered, id, created, &lead, agency, org);
        for (from, to, t, actor, note) in &steps {
            meta = meta.touched(*t, actor);
            self.transition(
                "CarePlan",
                id,
                from.map(|f| f.as_str()),
                to.as_str(),
                *t,
                actor,
                org,
                *note,
            );
        }
        let is_approved = matches!(status, P::Active | P::ReviewDue | P::Completed | P::Closed);
        self.b.care_plans.push(record!(care_plan::Model, meta, {
            child_id: self.id,
            kind: kind,
            trigger_screening_id: trigger_screening,
            trigger_report_id: trigger_report,
            risk_level_at_start: Some(level),
            goals: Some(goals),
            review_due: review_due,
            approver: Some(approver.clone()),
            approved_at: is_approved.then_some(approved),
            status: status,
            plan_version: 1,
            previous_version_id: None,
            lead_worker: Some(lead.clone()),
            organization_id: Some(org),
        }));

        // Interventions.
        let n = self.r.gen_range(1..=3);
        let base = if is_approved { approved } else { created };
        for position in 1..=n {
            let r = &mut self.r;
            let (action, agency, worker) =
                if kind == CarePlanKind::SchoolOneStudentOnePlan && r.gen_bool(0.7) {
                    let worker = match (r.gen_range(0..3), &self.enrollment) {
                        (0, Some(e)) if !historic => e.head_teacher.clone(),
                        _ => lead.clone(),
                    };
                    (
                        text::any(r, text::SCHOOL_ACTIONS),
                        Agency::Education,
                        worker,
                    )
                } else if r.gen_bool(0.25) {
                    (
                        "家庭教育指导",
                        Agency::WomensFederation,
                        format!("wf-worker-{}-{}", self.county6, r.gen_range(1..=3)),
                    )
                } else {
                    (
                        text::any(r, text::COMMUNITY_ACTIONS),
                        Agency::CivilAffairs,
                        self.director.clone(),
                    )
                };
            let due = base.date_naive() + chrono::Days::new(r.gen_range(14..90));
            let done = if is_approved && due < today() && r.gen_bool(0.75) {
                let early = chrono::Days::new(r.gen_range(0..7));
                Some(cap(office_hours(r, due - early)).max(base))
            } else {
                None
            };
            let frequency = text::any(r, text::FREQUENCIES).to_owned();
            let iid = uuid(r);
            self.b.interventions.push(care_plan_intervention::Model {
                id: iid,
                care_plan_id: id,
                position,
                action: action.to_owned(),
                responsible_agency: Some(agency),
                responsible_worker: Some(worker),
                frequency: Some(frequency),
                due: Some(due),
                done_at: done,
            });
        }

        // Counselling sessions and talks under an approved plan.
        if is_approved {
            let sessions = self.r.gen_range(1..=3);
            for k in 0..sessions {
                let t = approved + TimeDelta::days(14 * k) + days(&mut self.r, 1.0, 10.0);
                if t >= now() || finished.is_some_and(|f| t > f) {
                    break;
                }
                let sid = self.uuid();
                let summary = text::any(&mut self.r, text::COUNSELING_SUMMARIES).to_owned();
                let minutes = self.r.gen_range(30..=60);
                let smeta = Meta::after(self.registered, sid, t, &lead, agency, org);
                self.b.services.push(record!(service_record::Model, smeta, {
                    child_id: Some(self.id),
                    kind: ServiceKind::Counseling,
                    organization_id: Some(org),
                    provider: lead.clone(),
                    occurred_at: t,
                    duration_minutes: Some(minutes),
                    care_plan_id: Some(id),
                    referral_id: None,
                    summary: Some(summary),
                }));
                let vid = self.uuid();
                let obs = text::any(&mut self.r, text::TALK_OBSERVATIONS).to_owned();
                let vmeta = Meta::after(self.registered, vid, t, &lead, agency, org);
                self.b.visits.push(record!(visit::Model, vmeta, {
                    child_id: self.id,
                    kind: VisitKind::Talk,
                    due_date: Some(t.date_naive()),
                    done_at: Some(t),
                    visitor: Some(lead.clone()),
                    organization_id: Some(org),
                    stressors: Some(json!(["PSYCH_OR_BEHAVIOUR"])),
                    observations: Some(obs),
                    next_due: Some(t.date_naive() + chrono::Days::new(14)),
                    referral_id: None,
                }));
            }
        }
        (id, status, is_approved.then_some(approved))
    }

    // ---------------------------------------------------------------- referrals and treatment

    fn referrals(&mut self) {
        let current = self.current.clone();
        if let Some((level, since, _)) = current {
            let p = match level {
                RiskLevel::Red => 0.9,
                RiskLevel::Orange => 0.55,
                _ => 0.0,
            };
            if p > 0.0 && self.chance(p) {
                let urgent = level == RiskLevel::Red;
                let t0 = since
                    + if urgent {
                        hours(&mut self.r, 1.0, 20.0)
                    } else {
                        days(&mut self.r, 1.0, 40.0)
                    };
                let t0 = t0
                    .min(now() - TimeDelta::hours(1))
                    .max(since)
                    .max(self.registered + TimeDelta::hours(2));
                let reason = self.up_reason(level);
                self.up_referral(urgent, t0, reason, false);
            }
        }
        // Last year's referral of a child who was ORANGE/RED then and recovered.
        let old = self
            .screenings
            .iter()
            .find(|s| s.year == 2025 && high(s.level))
            .map(|s| (s.at, s.level));
        let now_level = self.current.as_ref().map(|(l, _, _)| *l);
        if let (Some((at, old_level)), Some(level)) = (old, now_level) {
            if !high(level) && self.chance(0.3) {
                let urgent = old_level == RiskLevel::Red;
                let t0 =
                    (at + days(&mut self.r, 1.0, 10.0)).max(self.registered + TimeDelta::hours(2));
                let reason = self.up_reason(old_level);
                self.up_referral(urgent, t0, reason, true);
            }
        }
    }

    fn up_reason(&mut self, level: RiskLevel) -> String {
        let s = self
            .latest_screening()
            .map(|s| (s.instrument, s.score, s.year));
        match s {
            Some((inst, score, year)) => format!(
                "{year}学年心理测评（{}）得分{score}，风险等级{}，建议精神专科进一步评估与诊治。",
                inst.as_str(),
                level.as_str()
            ),
            None => format!(
                "发现报告提示自伤风险，风险等级{}，建议精神专科紧急评估。",
                level.as_str()
            ),
        }
    }

    fn pick_up_status(&mut self, t0: DateTime<Utc>, historic: bool) -> ReferralStatus {
        use ReferralStatus as S;
        let n = self.shared.up_referrals;
        self.shared.up_referrals += 1;
        if let Some(s) = S::ALL.get(n) {
            return *s;
        }
        let age = (now() - t0).num_hours() as f64 / 24.0;
        let weights: &[(S, u32)] = if historic {
            // Last year's referrals of children who have recovered are over.
            &[
                (S::Completed, 35),
                (S::Closed, 45),
                (S::Rejected, 8),
                (S::Failed, 8),
                (S::Revoked, 4),
            ]
        } else if age < 3.0 {
            &[
                (S::Draft, 15),
                (S::Sent, 35),
                (S::Received, 25),
                (S::Accepted, 15),
                (S::Revoked, 5),
                (S::Rejected, 5),
            ]
        } else if age < 14.0 {
            &[
                (S::Draft, 3),
                (S::Sent, 7),
                (S::Received, 10),
                (S::Accepted, 20),
                (S::InService, 40),
                (S::Rejected, 8),
                (S::Revoked, 4),
                (S::Failed, 3),
                (S::Completed, 5),
            ]
        } else if age < 45.0 {
            &[
                (S::Sent, 2),
                (S::Received, 2),
                (S::Accepted, 6),
                (S::InService, 40),
                (S::Completed, 30),
                (S::Closed, 8),
                (S::Rejected, 6),
                (S::Failed, 4),
                (S::Revoked, 2),
            ]
        } else {
            &[
                (S::Accepted, 1),
                (S::InService, 15),
                (S::Completed, 38),
                (S::Closed, 30),
                (S::Rejected, 7),
                (S::Failed, 8),
                (S::Revoked, 1),
            ]
        };
        pick(&mut self.r, weights)
    }

    fn pick_down_status(&mut self, t0: DateTime<Utc>) -> ReferralStatus {
        use ReferralStatus as S;
        let n = self.shared.down_referrals;
        self.shared.down_referrals += 1;
        if let Some(s) = S::ALL.get(n) {
            return *s;
        }
        let age = (now() - t0).num_hours() as f64 / 24.0;
        let weights: &[(S, u32)] = if age < 7.0 {
            &[
                (S::Draft, 5),
                (S::Sent, 30),
                (S::Received, 25),
                (S::Accepted, 25),
                (S::InService, 10),
                (S::Rejected, 3),
                (S::Revoked, 2),
            ]
        } else if age < 30.0 {
            &[
                (S::Received, 5),
                (S::Accepted, 15),
                (S::InService, 40),
                (S::Completed, 30),
                (S::Rejected, 4),
                (S::Failed, 4),
                (S::Revoked, 2),
            ]
        } else {
            &[
                (S::InService, 15),
                (S::Completed, 40),
                (S::Closed, 35),
                (S::Rejected, 3),
                (S::Failed, 6),
                (S::Revoked, 1),
            ]
        };
        pick(&mut self.r, weights)
    }

    /// The stages up to `status` with the gap before each.
    fn referral_path(
        &mut self,
        status: ReferralStatus,
        urgent: bool,
        treatment: Option<bool>,
        down: bool,
    ) -> Path<ReferralStatus> {
        use ReferralStatus as S;
        let r = &mut self.r;
        let mut stages = vec![S::Draft];
        let through = |s: &mut Vec<S>, upto: &[S]| s.extend_from_slice(upto);
        match status {
            S::Draft => {}
            S::Sent => through(&mut stages, &[S::Sent]),
            S::Received => through(&mut stages, &[S::Sent, S::Received]),
            S::Accepted => through(&mut stages, &[S::Sent, S::Received, S::Accepted]),
            S::InService => through(
                &mut stages,
                &[S::Sent, S::Received, S::Accepted, S::InService],
            ),
            S::Completed => through(
                &mut stages,
                &[
                    S::Sent,
                    S::Received,
                    S::Accepted,
                    S::InService,
                    S::Completed,
                ],
            ),
            S::Closed => through(
                &mut stages,
                &[
                    S::Sent,
                    S::Received,
                    S::Accepted,
                    S::InService,
                    S::Completed,
                    S::Closed,
                ],
            ),
            S::Rejected => through(&mut stages, &[S::Sent, S::Received, S::Rejected]),
            S::Failed => {
                through(&mut stages, &[S::Sent, S::Received, S::Accepted]);
                if r.gen_bool(0.5) {
                    stages.push(S::InService);
                }
                stages.push(S::Failed);
            }
            S::Revoked => {
                stages.push(S::Sent);
                if r.gen_bool(0.5) {
                    stages.push(S::Received);
                }
                stages.push(S::Revoked);
            }
        }
        stages
            .into_iter()
            .map(|s| {
                let gap = match s {
                    S::Draft => TimeDelta::zero(),
                    S::Sent if urgent => hours(r, 0.3, 6.0),
                    S::Sent => hours(r, 2.0, 48.0),
                    S::Received => hours(r, 0.2, 6.0),
                    S::Accepted | S::Rejected => {
                        let late = r.gen_bool(0.12);
                        match (urgent, late) {
                            (true, false) => hours(r, 1.0, 16.0),
                            (true, true) => hours(r, 24.0, 48.0),
                            (false, false) => hours(r, 4.0, 60.0),
                            (false, true) => hours(r, 72.0, 120.0),
                        }
                    }
                    S::InService if urgent => hours(r, 1.0, 24.0),
                    S::InService => hours(r, 12.0, 96.0),
                    S::Completed if down => days(r, 3.0, 21.0),
                    S::Completed => match treatment {
                        Some(true) => days(r, 14.0, 40.0),
                        Some(false) => days(r, 10.0, 50.0),
                        None => days(r, 1.0, 10.0),
                    },
                    S::Closed => days(r, 1.0, 14.0),
                    S::Failed => days(r, 2.0, 20.0),
                    S::Revoked => hours(r, 2.0, 40.0),
                };
                (s, gap)
            })
            .collect()
    }

    fn up_referral(&mut self, urgent: bool, t0: DateTime<Utc>, reason: String, historic: bool) {
        use ReferralStatus as S;
        let w = self.w;
        let city = &w.cities[self.city];
        let (from_org, from_agency, sender) = match &self.enrollment {
            Some(e) => (
                e.school.id,
                Agency::Education,
                format!("counselor-{}", e.school.short),
            ),
            None => (self.ca_office, Agency::CivilAffairs, self.officer.clone()),
        };
        let receiver = format!(
            "clinician-{:04}-{}",
            city.code / 100_000_000,
            self.r.gen_range(1..=6)
        );
        let parties = Parties {
            from_org,
            from_agency,
            sender,
            to_org: city.psych_hospital,
            receiver: receiver.clone(),
        };
        let status = self.pick_up_status(t0, historic);
        let episode = match status {
            S::InService => self.chance(0.6),
            S::Completed => self.chance(0.55),
            S::Closed => self.chance(0.5),
            _ => false,
        };
        let inpatient = episode && self.chance(0.4);
        let path = self.referral_path(status, urgent, episode.then_some(inpatient), false);
        let laid = lay_out(t0, &path);
        let episode_facts = if episode {
            let admitted = time_of(&laid, S::InService).unwrap_or(t0);
            let discharged = time_of(&laid, S::Completed);
            // Nobody has been an inpatient for months: a long open episode is outpatient care.
            let inpatient =
                inpatient && (discharged.is_some() || now() - admitted < TimeDelta::days(45));
            Some(EpisodeFacts {
                id: self.uuid(),
                admitted,
                discharged,
                fit: None,
                inpatient,
                clinician: receiver.clone(),
                hospital: city.psych_hospital,
            })
        } else {
            None
        };
        let up_id = self.write_referral(
            ReferralDirection::Up,
            &parties,
            urgent,
            status,
            &laid,
            None,
            reason,
            episode_facts.as_ref().map(|e| e.id),
        );
        if urgent {
            // The crisis that prompted it points at the urgent referral.
            let sent = time_of(&laid, S::Sent).unwrap_or(t0);
            if let Some((k, _)) = self.crisis.iter().rev().find(|(_, at)| *at <= sent) {
                self.b.crisis_events[*k].urgent_referral_id = Some(up_id);
            }
        }
        let Some(ep) = episode_facts else { return };
        let ep = self.episode(ep, up_id);
        self.episodes.push(ep.clone());
        self.after_discharge(up_id, &ep);
    }

    fn episode(&mut self, mut ep: EpisodeFacts, referral_id: Uuid) -> EpisodeFacts {
        let victim =
            self.categories.contains(&DifficultyCategory::Victim) || !self.reports.is_empty();
        let r = &mut self.r;
        let diagnosis = if victim && r.gen_bool(0.5) {
            pick(r, &[("F43.1", 50), ("F43.2", 50)])
        } else {
            pick(
                r,
                &[
                    ("F32.1", 22),
                    ("F32.2", 6),
                    ("F41.1", 16),
                    ("F41.2", 8),
                    ("F43.2", 12),
                    ("F90.0", 8),
                    ("F91.3", 6),
                    ("F93.0", 6),
                    ("F42.0", 5),
                    ("F50.0", 3),
                    ("F31.1", 2),
                    ("F20.0", 2),
                    ("F32.3", 4),
                ],
            )
        };
        let severe = matches!(diagnosis, "F20.0" | "F31.1" | "F32.3");
        let (summary, fit, advice, next) = match ep.discharged {
            Some(d) => {
                let fit = (!severe && r.gen_bool(0.85)) || r.gen_bool(0.3);
                let next = d + days(r, 14.0, 30.0);
                (
                    Some(text::discharge_summary(r, diagnosis, ep.inpatient)),
                    Some(fit),
                    Some(text::any(r, text::FOLLOW_UP_ADVICE).to_owned()),
                    Some(next),
                )
            }
            None => (
                None,
                None,
                None,
                if r.gen_bool(0.5) {
                    Some(now() + days(r, 1.0, 14.0))
                } else {
                    None
                },
            ),
        };
        ep.fit = fit;
        let setting = if ep.inpatient {
            TreatmentSetting::Inpatient
        } else {
            TreatmentSetting::Outpatient
        };
        let mut meta = Meta::after(
            self.registered,
            ep.id,
            ep.admitted,
            &ep.clinician,
            Agency::Health,
            ep.hospital,
        );
        if let Some(d) = ep.discharged {
            meta = meta.touched(d, &ep.clinician);
        }
        self.b
            .episodes
            .push(record!(treatment_episode::Model, meta, {
                child_id: self.id,
                organization_id: ep.hospital,
                setting: setting,
                admitted_at: ep.admitted,
                discharged_at: ep.discharged,
                diagnosis_code: Some(diagnosis.to_owned()),
                severe_mental_disorder: severe,
                discharge_summary: summary,
                clinician: Some(ep.clinician.clone()),
                fit_to_return: fit,
                follow_up_advice: advice,
                next_appointment: next,
                referral_id: Some(referral_id),
            }));
        let clinician = ep.clinician.clone();
        self.touch(ep.admitted, &clinician);
        if let Some(d) = ep.discharged {
            self.touch(d, &clinician);
        }
        // A child admitted to hospital is suspended from school meanwhile.
        if ep.inpatient && ep.discharged.is_none() {
            self.suspend(ep.admitted);
        }
        ep
    }

    fn suspend(&mut self, at: DateTime<Utc>) {
        if let Some(e) = &self.enrollment {
            let row = &mut self.b.enrollments[e.index];
            row.status = EnrollmentStatus::Suspended;
            if at > row.updated_at {
                row.updated_at = at;
                row.updated_by = e.head_teacher.clone();
            }
        }
    }

    fn after_discharge(&mut self, up_id: Uuid, ep: &EpisodeFacts) {
        let Some(discharged) = ep.discharged else {
            return;
        };
        if self.chance(0.9) {
            self.down_referral(up_id, ep, discharged);
        }
        if ep.fit == Some(true) && self.enrollment.is_some() && self.chance(0.8) {
            self.return_to_school(ep, discharged);
        }
    }

    fn down_referral(&mut self, parent: Uuid, ep: &EpisodeFacts, discharged: DateTime<Utc>) {
        use ReferralStatus as S;
        let w = self.w;
        let county = &w.counties[self.county];
        let (to_org, receiver, to_agency) = match &self.enrollment {
            Some(e) if self.r.gen_bool(0.5) => (
                e.school.id,
                format!("counselor-{}", e.school.short),
                Agency::Education,
            ),
            _ => (
                county.health_center,
                format!("chc-doctor-{}-{}", self.county6, self.r.gen_range(1..=3)),
                Agency::Health,
            ),
        };
        let parties = Parties {
            from_org: ep.hospital,
            from_agency: Agency::Health,
            sender: ep.clinician.clone(),
            to_org,
            receiver: receiver.clone(),
        };
        let t0 = cap(discharged + hours(&mut self.r, 2.0, 48.0));
        let status = self.pick_down_status(t0);
        let path = self.referral_path(status, false, None, true);
        let laid = lay_out(t0, &path);
        let reason = "出院后下转：请按出院医嘱开展随访与复学支持。".to_owned();
        let down_id = self.write_referral(
            ReferralDirection::Down,
            &parties,
            false,
            status,
            &laid,
            Some(parent),
            reason,
            None,
        );

        // The first post-discharge follow-up closes the loop.
        let due = discharged.date_naive() + chrono::Days::new(14);
        let in_service = time_of(&laid, S::InService);
        let completed = time_of(&laid, S::Completed);
        let done = match (completed, in_service) {
            (Some(c), Some(s)) => Some((c - hours(&mut self.r, 1.0, 24.0)).max(s)),
            _ => None,
        };
        if done.is_some() || matches!(status, S::Accepted | S::InService) {
            let vid = self.uuid();
            let created = in_service.or(time_of(&laid, S::Accepted)).unwrap_or(t0);
            let mut meta = Meta::after(self.registered, vid, created, &receiver, to_agency, to_org);
            if let Some(d) = done {
                meta = meta.touched(d, &receiver);
            }
            let observations =
                done.map(|_| text::any(&mut self.r, text::FOLLOW_UP_OBSERVATIONS).to_owned());
            self.b.visits.push(record!(visit::Model, meta, {
                child_id: self.id,
                kind: VisitKind::PostDischargeFollowUp,
                due_date: Some(due),
                done_at: done,
                visitor: Some(receiver.clone()),
                organization_id: Some(to_org),
                stressors: done.map(|_| json!(["PSYCH_OR_BEHAVIOUR"])),
                observations: observations,
                next_due: done.map(|d| d.date_naive() + chrono::Days::new(14)),
                referral_id: Some(down_id),
            }));
            // Services of the receiving centre while in service.
            if let (Some(s), Agency::Health) = (in_service, to_agency) {
                let t = cap(s + days(&mut self.r, 1.0, 7.0));
                let sid = self.uuid();
                let summary = text::any(&mut self.r, text::COUNSELING_SUMMARIES).to_owned();
                let smeta = Meta::after(self.registered, sid, t, &receiver, Agency::Health, to_org);
                self.b.services.push(record!(service_record::Model, smeta, {
                    child_id: Some(self.id),
                    kind: ServiceKind::Counseling,
                    organization_id: Some(to_org),
                    provider: receiver.clone(),
                    occurred_at: t,
                    duration_minutes: Some(40),
                    care_plan_id: None,
                    referral_id: Some(down_id),
                    summary: Some(summary),
                }));
            }
        }
    }

    /// Writes a referral, its transitions and (unless a draft) its lawful basis.
    #[allow(clippy::too_many_arguments)]
    fn write_referral(
        &mut self,
        direction: ReferralDirection,
        p: &Parties,
        urgent: bool,
        status: ReferralStatus,
        laid: &[(ReferralStatus, DateTime<Utc>)],
        parent: Option<Uuid>,
        reason: String,
        episode: Option<Uuid>,
    ) -> Uuid {
        use ReferralStatus as S;
        let id = self.uuid();
        let created = laid.first().map_or(now(), |(_, t)| *t);
        let sent = time_of(laid, S::Sent);
        let responded = time_of(laid, S::Accepted).or(time_of(laid, S::Rejected));
        let closed = time_of(laid, S::Closed);
        let ended = [S::Closed, S::Rejected, S::Failed, S::Revoked]
            .into_iter()
            .find_map(|s| time_of(laid, s));
        let sla = sent.map(|t| t + TimeDelta::hours(if urgent { 24 } else { 72 }));
        // Escalated while unanswered past the SLA; an answer clears it.
        let escalated = match (status, sla) {
            (S::Sent | S::Received, Some(due)) => now() > due,
            (S::Revoked, Some(due)) => time_of(laid, S::Revoked).is_some_and(|t| t > due),
            _ => false,
        };
        let r = &mut self.r;
        let outcome = time_of(laid, S::Completed).map(|_| {
            if direction == ReferralDirection::Down {
                text::any(r, text::DOWN_OUTCOMES)
            } else {
                text::any(r, text::UP_OUTCOMES)
            }
            .to_owned()
        });
        let rejection =
            time_of(laid, S::Rejected).map(|_| text::any(r, text::REJECTION_REASONS).to_owned());
        let failure = text::any(r, text::FAILURE_NOTES);
        let revoke = text::any(r, text::REVOKE_NOTES);

        let mut meta = Meta::after(
            self.registered,
            id,
            created,
            &p.sender,
            p.from_agency,
            p.from_org,
        );
        let mut prev: Option<S> = None;
        for (s, t) in laid {
            let sender_side = matches!(s, S::Draft | S::Sent | S::Revoked | S::Closed);
            let (actor, org) = if sender_side {
                (&p.sender, p.from_org)
            } else {
                (&p.receiver, p.to_org)
            };
            let note = match s {
                S::Rejected => rejection.as_deref(),
                S::Completed => outcome.as_deref(),
                S::Failed => Some(failure),
                S::Revoked => Some(revoke),
                S::Closed => Some("双向转诊闭环完成"),
                _ => None,
            };
            meta = meta.touched(*t, actor);
            let (actor, note) = (actor.clone(), note.map(str::to_owned));
            self.transition(
                "Referral",
                id,
                prev.map(|x| x.as_str()),
                s.as_str(),
                *t,
                &actor,
                org,
                note.as_deref(),
            );
            prev = Some(*s);
        }
        let basis = if status == S::Draft {
            None
        } else {
            Some(self.lawful_basis(direction, p, urgent, created, ended))
        };
        let view: &[&str] = if direction == ReferralDirection::Down {
            DOWN_VIEW
        } else {
            UP_VIEW
        };
        self.b.referrals.push(record!(referral::Model, meta, {
            child_id: self.id,
            from_org_id: p.from_org,
            to_org_id: p.to_org,
            direction: direction,
            parent_referral_id: parent,
            reason: Some(reason),
            urgency: if urgent { Urgency::Urgent } else { Urgency::Routine },
            authorized_view: json!(view),
            lawful_basis_id: basis,
            status: status,
            sla_due_at: sla,
            escalated: escalated,
            sent_at: sent,
            responded_at: responded,
            closed_at: closed,
            outcome_note: outcome,
            rejection_reason: rejection,
            treatment_episode_id: episode,
        }));
        id
    }

    fn lawful_basis(
        &mut self,
        direction: ReferralDirection,
        p: &Parties,
        urgent: bool,
        from: DateTime<Utc>,
        closed: Option<DateTime<Utc>>,
    ) -> Uuid {
        let id = self.uuid();
        let statutory = urgent || (direction == ReferralDirection::Up && self.chance(0.2));
        let (grantor, relation) = self
            .signer
            .clone()
            .unwrap_or_else(|| (p.sender.clone(), GuardianRelation::Other));
        let (basis, grantor, relation, valid_to, reference, document) = if statutory {
            (
                BasisKind::StatutoryDuty,
                p.sender.clone(),
                None,
                None,
                Some("《个人信息保护法》第十三条第一款第（三）项；《未成年人保护法》第十一条、第九十七条".to_owned()),
                None,
            )
        } else {
            let signer = if self.age >= 14 && relation != GuardianRelation::Institution {
                format!(
                    "{grantor}（{}）、{}（本人）",
                    relation_cn(relation),
                    self.name
                )
            } else {
                grantor
            };
            let doc = format!("同意书-{}", &id.simple().to_string()[..8]);
            (
                BasisKind::Consent,
                signer,
                Some(relation.as_str().to_owned()),
                Some(from + TimeDelta::days(365)),
                None,
                Some(doc),
            )
        };
        // Some consents were withdrawn, some bases lapsed after the case closed.
        let r = &mut self.r;
        let withdrawn = if basis == BasisKind::Consent && r.gen_bool(0.05) {
            Some(cap(from + days(r, 3.0, 30.0)))
        } else {
            None
        };
        let valid_to = match closed {
            Some(c) if r.gen_bool(0.4) => Some(c + days(r, 7.0, 30.0)),
            _ => valid_to,
        };
        let (recipients, groups): (Vec<&str>, Vec<&str>) = match direction {
            ReferralDirection::Up => (vec!["HEALTH"], vec!["G-SCR"]),
            _ => {
                let agency = if p.to_org
                    == self
                        .enrollment
                        .as_ref()
                        .map_or(Uuid::nil(), |e| e.school.id)
                {
                    "EDUCATION"
                } else {
                    "HEALTH"
                };
                (vec![agency], vec!["G-SCR", "G-CLIN"])
            }
        };
        let mut meta = Meta::after(
            self.registered,
            id,
            from,
            &p.sender,
            p.from_agency,
            p.from_org,
        );
        if let Some(t) = withdrawn {
            meta = meta.touched(t, &p.sender);
        }
        self.b
            .lawful_bases
            .push(record!(lawful_basis::Model, meta, {
                child_id: self.id,
                grantor: grantor,
                grantor_relation: relation,
                basis: basis,
                purposes: json!(["REFERRAL", "TREATMENT", "CARE"]),
                recipients: json!(recipients),
                field_groups: json!(groups),
                valid_from: from,
                valid_to: valid_to,
                withdrawn_at: withdrawn,
                document_ref: document,
                legal_reference: reference,
            }));
        id
    }

    fn return_to_school(&mut self, ep: &EpisodeFacts, discharged: DateTime<Utc>) {
        use ReturnStatus as S;
        let Some(e) = &self.enrollment else { return };
        let (school, enrollment_id, head_teacher) =
            (e.school.clone(), e.id, e.head_teacher.clone());
        let counselor = format!("counselor-{}", school.short);
        let start = cap(discharged + hours(&mut self.r, 2.0, 72.0));
        let order = [
            S::PendingClearance,
            S::Cleared,
            S::Planning,
            S::Returned,
            S::Monitoring,
            S::Closed,
        ];
        let n = self.shared.returns;
        self.shared.returns += 1;
        let status = match order.get(n) {
            Some(s) => *s,
            None => {
                let age = (now() - start).num_hours() as f64 / 24.0;
                if age < 7.0 {
                    pick(
                        &mut self.r,
                        &[
                            (S::PendingClearance, 40),
                            (S::Cleared, 30),
                            (S::Planning, 30),
                        ],
                    )
                } else if age < 30.0 {
                    pick(
                        &mut self.r,
                        &[
                            (S::Cleared, 5),
                            (S::Planning, 15),
                            (S::Returned, 20),
                            (S::Monitoring, 60),
                        ],
                    )
                } else {
                    pick(&mut self.r, &[(S::Monitoring, 45), (S::Closed, 55)])
                }
            }
        };
        let upto = order.iter().position(|s| *s == status).unwrap_or(0);
        let r = &mut self.r;
        let path: Path<S> = order[..=upto]
            .iter()
            .map(|s| {
                let gap = match s {
                    S::PendingClearance => TimeDelta::zero(),
                    S::Cleared => days(r, 1.0, 5.0),
                    S::Planning => days(r, 1.0, 4.0),
                    S::Returned => days(r, 2.0, 10.0),
                    S::Monitoring => hours(r, 2.0, 72.0),
                    S::Closed => days(r, 20.0, 60.0),
                };
                (*s, gap)
            })
            .collect();
        let laid = lay_out(start, &path);
        let cleared = time_of(&laid, S::Cleared);
        let planning = time_of(&laid, S::Planning);
        let returned = time_of(&laid, S::Returned);
        let return_date = match (returned, planning) {
            (Some(t), _) => Some(t.date_naive()),
            (None, Some(t)) => Some(t.date_naive() + chrono::Days::new(r.gen_range(2..10))),
            _ => None,
        };
        let clearance = cleared.map(|_| text::any(r, text::CLEARANCES).to_owned());
        let accommodations = planning.map(|_| text::any(r, text::ACCOMMODATIONS).to_owned());
        let id = self.uuid();
        let mut meta = Meta::after(
            self.registered,
            id,
            start,
            &counselor,
            Agency::Education,
            school.id,
        );
        let mut prev: Option<S> = None;
        for (s, t) in &laid {
            let (actor, org) = if *s == S::Cleared {
                (ep.clinician.clone(), ep.hospital)
            } else {
                (counselor.clone(), school.id)
            };
            meta = meta.touched(*t, &actor);
            self.transition(
                "ReturnToSchool",
                id,
                prev.map(|p| p.as_str()),
                s.as_str(),
                *t,
                &actor,
                org,
                None,
            );
            prev = Some(*s);
        }
        self.b.returns.push(record!(return_to_school::Model, meta, {
            child_id: self.id,
            school_id: school.id,
            treatment_episode_id: Some(ep.id),
            clearance: clearance,
            cleared_at: cleared,
            cleared_by: cleared.map(|_| ep.clinician.clone()),
            accommodations: accommodations,
            return_date: return_date,
            status: status,
            enrollment_id: Some(enrollment_id),
        }));
        // The enrollment follows the case: suspended until the child is back.
        match returned {
            Some(t) => {
                if let Some(e) = &self.enrollment {
                    let row = &mut self.b.enrollments[e.index];
                    row.status = EnrollmentStatus::Enrolled;
                    row.updated_at = row.updated_at.max(t);
                    row.updated_by = head_teacher.clone();
                }
            }
            None => self.suspend(start),
        }
        if matches!(status, S::Monitoring | S::Closed) {
            let from = returned.unwrap_or(start);
            for k in 0..self.r.gen_range(1..=2) {
                let t = from + TimeDelta::days(7 * (k + 1)) + hours(&mut self.r, 0.0, 48.0);
                if t >= now() {
                    break;
                }
                let vid = self.uuid();
                let obs = text::any(&mut self.r, text::RETURN_OBSERVATIONS).to_owned();
                let vmeta = Meta::after(
                    self.registered,
                    vid,
                    t,
                    &head_teacher,
                    Agency::Education,
                    school.id,
                );
                self.b.visits.push(record!(visit::Model, vmeta, {
                    child_id: self.id,
                    kind: VisitKind::ReturnMonitoring,
                    due_date: Some(t.date_naive()),
                    done_at: Some(t),
                    visitor: Some(head_teacher.clone()),
                    organization_id: Some(school.id),
                    stressors: Some(json!([])),
                    observations: Some(obs),
                    next_due: Some(t.date_naive() + chrono::Days::new(7)),
                    referral_id: None,
                }));
            }
        }
    }

    // ---------------------------------------------------------------- visits, pairing, services

    fn stressors(&mut self) -> serde_json::Value {
        use DifficultyCategory as D;
        let mut out: Vec<&str> = Vec::new();
        let r = &mut self.r;
        let has = |c: D| self.categories.contains(&c);
        if self.enrollment.as_ref().is_some_and(|e| e.grade >= 9) && r.gen_bool(0.4) {
            out.push(Stressor::AcademicPressure.as_str());
        }
        if (has(D::LowIncome) && r.gen_bool(0.7)) || r.gen_bool(0.08) {
            out.push(Stressor::EconomicHardship.as_str());
        }
        if ((has(D::LeftBehind) || has(D::Orphan) || has(D::Unattended)) && r.gen_bool(0.3))
            || r.gen_bool(0.05)
        {
            out.push(Stressor::FamilyChange.as_str());
        }
        if has(D::Victim) && r.gen_bool(0.8) {
            out.push(Stressor::RightsInfringed.as_str());
        }
        if self.current.as_ref().is_some_and(|(l, _, _)| high(*l)) && r.gen_bool(0.8) {
            out.push(Stressor::PsychOrBehaviour.as_str());
        }
        json!(out)
    }

    fn home_visits(&mut self) {
        // The head teacher's home visit of this school year.
        if let Some(e) = &self.enrollment {
            let (teacher, school) = (e.head_teacher.clone(), e.school.id);
            let worrying = self
                .current
                .as_ref()
                .filter(|(l, _, _)| high(*l))
                .map(|(_, t, _)| *t);
            let due = match worrying {
                Some(t) => (t.date_naive() + chrono::Days::new(14)).max(date(2026, 9, 15)),
                None if self.chance(0.05) => date(2026, 11, 15),
                None => date(2026, 12, 31),
            };
            let done = if self.chance(if worrying.is_some() { 0.9 } else { 0.7 }) {
                Some(time::office_day(
                    &mut self.r,
                    date(2026, 9, 5),
                    date(2026, 11, 27),
                ))
            } else {
                None
            };
            let created = office_hours(&mut self.r, date(2026, 9, 1));
            self.visit(
                VisitKind::HeadTeacherHomeVisit,
                due,
                done,
                &teacher,
                Agency::Education,
                school,
                created,
                Some(date(2027, 3, 31)),
            );
        }
        // The village child director's quarterly visit.
        if self.active {
            let director = self.director.clone();
            let home = self.w.townships[self.w.villages[self.village].township].children_home;
            // Done within the last quarter: the next one is not yet due.
            let last = time::office_day(&mut self.r, date(2026, 8, 31), date(2026, 11, 27));
            let last = last
                .max(self.registered + TimeDelta::days(1))
                .min(now() - TimeDelta::hours(2));
            let next = last.date_naive() + chrono::Days::new(90);
            let due_last = last.date_naive() + chrono::Days::new(self.r.gen_range(0..10));
            self.visit(
                VisitKind::ChildDirectorVisit,
                due_last,
                Some(last),
                &director,
                Agency::CivilAffairs,
                home,
                last - TimeDelta::days(20),
                Some(next),
            );
            if self.chance(0.02) {
                // An extra visit asked for (e.g. after a report) and overdue: due before today, not done.
                let due = date_between(&mut self.r, date(2026, 10, 1), date(2026, 11, 20));
                let created = at(due, 0) - TimeDelta::days(30);
                self.visit(
                    VisitKind::ChildDirectorVisit,
                    due,
                    None,
                    &director,
                    Agency::CivilAffairs,
                    home,
                    created,
                    None,
                );
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn visit(
        &mut self,
        kind: VisitKind,
        due: NaiveDate,
        done: Option<DateTime<Utc>>,
        visitor: &str,
        agency: Agency,
        org: Uuid,
        created: DateTime<Utc>,
        next_due: Option<NaiveDate>,
    ) -> Uuid {
        let id = self.uuid();
        let created = created
            .max(self.registered)
            .min(done.unwrap_or(now() - TimeDelta::hours(1)));
        let (stressors, observations) = match done {
            Some(_) => {
                let s = self.stressors();
                let o = if self.chance(0.3) {
                    Some(text::any(&mut self.r, text::HOME_VISIT_OBSERVATIONS).to_owned())
                } else {
                    None
                };
                (Some(s), o)
            }
            None => (None, None),
        };
        let mut meta = Meta::after(self.registered, id, created, visitor, agency, org);
        if let Some(d) = done {
            meta = meta.touched(d, visitor);
        }
        self.b.visits.push(record!(visit::Model, meta, {
            child_id: self.id,
            kind: kind,
            due_date: Some(due),
            done_at: done,
            visitor: Some(visitor.to_owned()),
            organization_id: Some(org),
            stressors: stressors,
            observations: observations,
            next_due: done.and(next_due),
            referral_id: None,
        }));
        id
    }

    fn pairing(&mut self) {
        use PairingKind as K;
        let worrying = self.current.as_ref().is_some_and(|(l, _, _)| high(*l));
        let left_behind = self.categories.contains(&DifficultyCategory::LeftBehind);
        let p = if worrying {
            0.7
        } else if left_behind {
            0.08
        } else {
            0.03
        };
        if !self.active || !self.chance(p) {
            return;
        }
        let w = self.w;
        let county = &w.counties[self.county];
        let city = &w.cities[self.city];
        let kind = if worrying && self.enrollment.is_some() {
            K::GrowthMentor
        } else {
            pick(
                &mut self.r,
                &[
                    (K::GrowthMentor, 25),
                    (K::PeerPartner, 20),
                    (K::CaringParent, 25),
                    (K::Volunteer, 15),
                    (K::SocialWorker, 15),
                ],
            )
        };
        let school = self.enrollment.as_ref().map(|e| e.school.clone());
        let k = self.r.gen_range(1..=8);
        let (supporter, org, agency) = match (kind, &school) {
            (K::GrowthMentor, Some(s)) => {
                (format!("mentor-{}-{k}", s.short), s.id, Agency::Education)
            }
            (K::PeerPartner, Some(s)) => (format!("peer-{}-{k}", s.short), s.id, Agency::Education),
            (K::Volunteer, _) => (
                format!("volunteer-{:04}-{k}", city.code / 100_000_000),
                city.hotline,
                Agency::YouthLeague,
            ),
            (K::CaringParent, _) | (K::GrowthMentor | K::PeerPartner, None) => (
                format!("caring-parent-{}-{k}", self.county6),
                county.womens_federation,
                Agency::WomensFederation,
            ),
            (K::SocialWorker, _) => (
                format!("social-worker-{}-{k}", self.county6),
                county.protection_center,
                Agency::CivilAffairs,
            ),
        };
        let kind = match (kind, &school) {
            (K::GrowthMentor | K::PeerPartner, None) => K::CaringParent,
            (k, _) => k,
        };
        let start = date_between(&mut self.r, date(2025, 9, 1), date(2026, 11, 1))
            .max(self.registered.date_naive());
        let end = if self.chance(0.15) {
            let e = start + chrono::Days::new(self.r.gen_range(60..300));
            (e < today()).then_some(e)
        } else {
            None
        };
        let frequency = text::any(&mut self.r, text::FREQUENCIES).to_owned();
        let id = self.uuid();
        let created = office_hours(&mut self.r, start);
        let mut meta = Meta::after(self.registered, id, created, &supporter, agency, org);
        if let Some(e) = end {
            meta = meta.touched(office_hours(&mut self.r, e), &supporter);
        }
        self.b.pairings.push(record!(pairing::Model, meta, {
            child_id: self.id,
            kind: kind,
            supporter: supporter.clone(),
            organization_id: Some(org),
            start_date: start,
            end_date: end,
            contact_frequency: Some(frequency),
        }));
    }

    fn services(&mut self) {
        use DifficultyCategory as D;
        let w = self.w;
        let county = &w.counties[self.county];
        let city = &w.cities[self.city];
        let mut plan: Vec<ServicePlan> = Vec::new();
        if self.chance(0.004) {
            let op = format!(
                "hotline-{:04}-{}",
                city.code / 100_000_000,
                self.r.gen_range(1..=4)
            );
            plan.push((
                ServiceKind::Hotline12355,
                op,
                city.hotline,
                Agency::YouthLeague,
                text::HOTLINE_SUMMARIES,
                25,
            ));
        }
        if self.categories.contains(&D::LeftBehind) && self.chance(0.03) {
            let worker = format!("wf-worker-{}-{}", self.county6, self.r.gen_range(1..=3));
            plan.push((
                ServiceKind::FamilyEducationGuidance,
                worker,
                county.womens_federation,
                Agency::WomensFederation,
                text::FAMILY_GUIDANCE_SUMMARIES,
                60,
            ));
        }
        if self.categories.contains(&D::LowIncome) && self.chance(0.04) {
            plan.push((
                ServiceKind::MaterialAid,
                self.officer.clone(),
                self.ca_office,
                Agency::CivilAffairs,
                text::AID_SUMMARIES,
                30,
            ));
        }
        if self
            .current
            .as_ref()
            .is_some_and(|(l, _, _)| *l == RiskLevel::Yellow)
            && self.chance(0.1)
        {
            if let Some(e) = &self.enrollment {
                plan.push((
                    ServiceKind::EmotionalSupport,
                    format!("counselor-{}", e.school.short),
                    e.school.id,
                    Agency::Education,
                    text::SUPPORT_SUMMARIES,
                    30,
                ));
            }
        }
        for (kind, provider, org, agency, pool, minutes) in plan {
            let t = time::office_day(&mut self.r, date(2026, 3, 1), date(2026, 11, 26));
            let t = t
                .max(self.registered + TimeDelta::hours(2))
                .min(now() - TimeDelta::hours(1));
            let id = self.uuid();
            let summary = text::any(&mut self.r, pool).to_owned();
            let meta = Meta::after(self.registered, id, t, &provider, agency, org);
            self.b.services.push(record!(service_record::Model, meta, {
                child_id: Some(self.id),
                kind: kind,
                organization_id: Some(org),
                provider: provider.clone(),
                occurred_at: t,
                duration_minutes: Some(minutes),
                care_plan_id: None,
                referral_id: None,
                summary: Some(summary),
            }));
        }
    }

    // ---------------------------------------------------------------- flags and the child row

    /// The warning flags the system would have raised by now, keyed as the sweep keys them
    /// (child, kind, subject), so the first sweep finds them in place: overdue visits and
    /// follow-ups, ORANGE/RED for a week without an active plan, referrals unanswered past their
    /// SLA, reports not closed by their deadline (with the cleared ones of the past), and a
    /// few children not yet screened this school year.
    fn system_flags(&mut self) {
        let mut raise: Vec<FlagToRaise> = Vec::new();
        for v in &self.b.visits[self.first.visits..] {
            let Some(due) = v.due_date.filter(|d| v.done_at.is_none() && *d < today()) else {
                continue;
            };
            let kind = if v.kind == VisitKind::PostDischargeFollowUp {
                FlagKind::OverdueFollowUp
            } else {
                FlagKind::OverdueVisit
            };
            let message = format!("{} due {due} not done", v.kind.as_str());
            raise.push((
                kind,
                message,
                at(due + chrono::Days::new(1), 30),
                None,
                v.id.to_string(),
            ));
        }
        if let Some((level, since, _)) = &self.current {
            let week = *since + TimeDelta::days(7);
            if high(*level) && week < now() {
                let message = format!(
                    "{} for more than 7 days without an active care plan",
                    level.as_str()
                );
                match self.active_plan {
                    None => raise.push((
                        FlagKind::RedWithoutPlan,
                        message,
                        week,
                        None,
                        "risk".to_owned(),
                    )),
                    Some((_, Some(approved))) if approved > week => {
                        raise.push((
                            FlagKind::RedWithoutPlan,
                            message,
                            week,
                            Some((approved, "care plan activated")),
                            "risk".to_owned(),
                        ));
                    }
                    Some(_) => {}
                }
            }
        }
        let transitions = &self.b.transitions[self.first.transitions..];
        for r in &self.b.referrals[self.first.referrals..] {
            let Some(due) = r.sla_due_at.filter(|d| *d < now()) else {
                continue;
            };
            let message = format!(
                "{} referral unanswered past {}",
                r.urgency.as_str(),
                due.to_rfc3339()
            );
            let when = |status: &str| {
                transitions
                    .iter()
                    .find(|t| t.record_id == r.id && t.to_status == status)
                    .map(|t| t.at)
            };
            // Raised once the SLA passed (again if it was received late), cleared by the answer.
            let raised = when("RECEIVED").filter(|t| *t > due).unwrap_or(due);
            let answer = when("ACCEPTED")
                .or_else(|| when("REJECTED"))
                .map(|t| (t, "answered"));
            let exit = answer.or_else(|| when("REVOKED").map(|t| (t, "cause resolved (sweep)")));
            match exit {
                None if matches!(r.status, ReferralStatus::Sent | ReferralStatus::Received) => {
                    raise.push((
                        FlagKind::ReferralSlaBreach,
                        message,
                        raised,
                        None,
                        r.id.to_string(),
                    ));
                }
                Some((t, why)) if t > raised => {
                    raise.push((
                        FlagKind::ReferralSlaBreach,
                        message,
                        raised,
                        Some((t, why)),
                        r.id.to_string(),
                    ));
                }
                _ => {}
            }
        }
        for p in &self.b.reports[self.first.reports..] {
            if p.child_id != Some(self.id) || p.due_by >= now() {
                continue;
            }
            let message = format!(
                "{} report not closed by {}",
                p.category.as_str(),
                p.due_by.to_rfc3339()
            );
            let cleared = (p.status == ReportStatus::Closed)
                .then_some((p.updated_at, "cause resolved (sweep)"));
            if cleared.is_none_or(|(t, _)| t > p.due_by) {
                raise.push((
                    FlagKind::ReportOverdue,
                    message,
                    p.due_by,
                    cleared,
                    p.id.to_string(),
                ));
            }
        }
        if let Some(e) = &self.enrollment {
            let unscreened = e.grade >= 4 && !self.screenings.iter().any(|s| s.year == 2026);
            if unscreened
                && self.b.enrollments[e.index].status == EnrollmentStatus::Enrolled
                && self.chance(0.1)
            {
                let message = "not screened in school year 2026".to_owned();
                raise.push((
                    FlagKind::MissingScreening,
                    message,
                    at(date(2026, 11, 16), 60),
                    None,
                    "2026".to_owned(),
                ));
            }
        }
        for (kind, message, raised, resolved, subject) in raise {
            self.flag(kind, message, raised, resolved, subject);
        }
    }

    /// A system flag (owned by supervision, as the sweep writes them).
    fn flag(
        &mut self,
        kind: FlagKind,
        message: String,
        raised: DateTime<Utc>,
        resolved: Option<(DateTime<Utc>, &str)>,
        subject: String,
    ) {
        let id = self.uuid();
        let raised = cap(raised.max(self.registered));
        let resolved = resolved.map(|(t, why)| (cap(t.max(raised)), why));
        let mut meta = Meta::after(
            self.registered,
            id,
            raised,
            SYSTEM,
            Agency::Supervision,
            Uuid::nil(),
        );
        if let Some((t, _)) = resolved {
            meta = meta.touched(t, SYSTEM);
        }
        let mut row = record!(flag::Model, meta, {
            child_id: self.id,
            kind: kind,
            raised_by: SYSTEM.to_owned(),
            message: message,
            raised_at: raised,
            resolved_at: resolved.map(|(t, _)| t),
            resolution: resolved.map(|(_, why)| why.to_owned()),
            resolved_by: resolved.map(|_| SYSTEM.to_owned()),
            subject_key: Some(subject),
        });
        row.owner_org_id = None;
        self.b.flags.push(row);
    }

    #[allow(clippy::too_many_arguments)]
    fn transition(
        &mut self,
        entity: &str,
        record: Uuid,
        from: Option<&str>,
        to: &str,
        at: DateTime<Utc>,
        actor: &str,
        actor_org: Uuid,
        note: Option<&str>,
    ) {
        let id = self.uuid();
        self.b.transitions.push(workflow_transition::Model {
            id,
            entity: entity.to_owned(),
            record_id: record,
            child_id: Some(self.id),
            from_status: from.map(str::to_owned),
            to_status: to.to_owned(),
            at,
            actor: actor.to_owned(),
            actor_org: Some(actor_org.to_string()),
            note: note.map(str::to_owned),
        });
    }

    fn finish(&mut self) {
        let in_treatment = self.episodes.iter().any(|e| e.discharged.is_none());
        let fit = self
            .episodes
            .iter()
            .filter(|e| e.discharged.is_some())
            .max_by_key(|e| e.discharged)
            .and_then(|e| e.fit);
        let level = self.current.as_ref().map(|(l, _, _)| *l);
        let victim = self.categories.contains(&DifficultyCategory::Victim);
        let p_key = match level {
            Some(RiskLevel::Red) => 0.4,
            Some(RiskLevel::Orange) => 0.15,
            _ if victim => 0.3,
            _ => 0.012,
        };
        let key_case = self.chance(p_key);
        let (updated_at, updated_by) = self.updated.clone();
        let Some(c) = self.b.children.iter_mut().rev().find(|c| c.id == self.id) else {
            return;
        };
        c.current_risk_level = level;
        c.risk_rank = level.map_or(0, rank);
        c.risk_updated_at = self.current.as_ref().map(|(_, t, _)| *t);
        c.in_treatment = in_treatment;
        c.fit_to_return = fit;
        c.key_case = key_case;
        c.updated_at = updated_at;
        c.updated_by = updated_by;
    }
}

#[cfg(test)]
mod tests;
