//! Dynamic-monitoring indicators (动态监测, domain-anchors §4) computed in SQL: counts grouped
//! by a region-code prefix, plus the per-event timestamps the medians need, in a fixed number
//! of statements whatever the number of children. `sdc` applies statistical disclosure control.

pub mod sdc;

use std::collections::BTreeMap;

use carehub_entity::enums::{
    CarePlanStatus, ChildStatus, EnrollmentStatus, ReferralDirection, ReferralStatus,
    ReportCategory, ReportStatus, ReturnStatus, RiskLevel, Urgency, VisitKind,
};
use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};
use sea_orm::sea_query::{Expr, PostgresQueryBuilder, Query, SqliteQueryBuilder};
use sea_orm::{Condition, ConnectionTrait, DatabaseBackend, QueryResult, Statement, Value};

use crate::domain::region::RegionPrefix;
use crate::error::ApiError;

/// Declares the published counts: an enum, its number, and the names used in documentation.
macro_rules! measures {
    ($($(#[$m:meta])* $name:ident),+ $(,)?) => {
        /// One published count of a region (a cell of the disclosure-control table).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum M { $($(#[$m])* $name),+ }
        impl M {
            /// Every count, in declaration order (the index of a count in [`Counts`]).
            pub const ALL: &'static [M] = &[$(M::$name),+];
        }
        /// How many counts a region has.
        pub const MEASURES: usize = M::ALL.len();
    };
}

measures!(
    /// In-scope children: ACTIVE, with a valid difficulty category, under 18 at the as-of time.
    Population,
    /// In-scope children never screened (no risk level).
    RiskNone,
    RiskGreen,
    RiskYellow,
    RiskOrange,
    RiskRed,
    /// In-scope children whose latest risk is ORANGE or RED (= RiskOrange + RiskRed).
    HighRisk,
    /// High-risk children with a care plan approved and in force at the as-of time.
    HighRiskPlanned,
    /// In-scope children in treatment at the as-of time.
    InTreatment,
    /// In-scope children enrolled (ENROLLED) in grades 4–12 in the school year.
    Enrolled,
    /// Of those, screened during the school year.
    Screened,
    /// Of those, visited at home by the head teacher during the school year.
    HomeVisited,
    /// Visit tasks due in the 90 days before the as-of day.
    VisitsDue90,
    /// Of those, not done by the as-of time.
    VisitsOverdue90,
    /// Every open visit task past its due date.
    OverdueOpen,
    OverdueHeadTeacherHomeVisit,
    OverdueChildDirectorVisit,
    OverdueSupervisorVisit,
    OverdueTalk,
    OverdueQuestionnaire,
    OverduePostDischargeFollowUp,
    OverdueReturnMonitoring,
    /// RED crisis events of the period that were answered or whose 24 hours have passed.
    CrisisEvents,
    /// Of those, answered within 24 hours.
    CrisisWithin24h,
    /// RED crisis events of the period with a first response (the median's sample).
    CrisisResponded,
    /// Referrals sent in the period.
    ReferralsSent,
    /// Of those, answered (accepted or rejected) by the as-of time (the median's sample).
    ReferralsResponded,
    /// Of those answered, accepted.
    ReferralsAccepted,
    /// Referrals sent in the period that were answered or whose SLA has passed.
    ReferralsSlaDue,
    /// Of those, answered within the SLA (urgent 24 h, routine 72 h).
    ReferralsWithinSla,
    /// UP referrals sent in the closure window, not revoked.
    ClosureUpSent,
    /// Of those, completed with an outcome note.
    ClosureUpClosed,
    ClosureDownSent,
    ClosureDownClosed,
    /// Episodes discharged in the period shifted 7 days back.
    Discharges,
    /// Of those, followed up by a completed visit within 7 days.
    DischargesFollowed,
    /// Episodes of enrolled children discharged in the period shifted 30 days back.
    ReturnsDue,
    /// Of those, back at school within 30 days.
    ReturnsWithin30d,
    /// Harm reports discovered in the period.
    HarmReports,
    /// Of those, reported within 1 day (≤ 24 h): also the timeliness numerator.
    ReportDelay1d,
    /// Reported after 1 and within 3 days.
    ReportDelay3d,
    /// Reported after 3 and within 7 days.
    ReportDelay7d,
    /// Reported after more than 7 days.
    ReportDelayOver7d,
    /// Reports (any category) filed in the period.
    ReportsFiled,
    /// Reports not closed whose deadline (`dueBy`) has passed.
    ReportsOverdue,
    /// First-version care plans approved in the period with a trigger (the median's sample).
    PlanApprovals,
);

/// The counts of one region, indexed by [`M`].
pub type Counts = [i64; MEASURES];

/// Overdue counts by visit kind, in [`VisitKind::ALL`] order.
pub const OVERDUE_BY_KIND: [M; 7] = [
    M::OverdueHeadTeacherHomeVisit,
    M::OverdueChildDirectorVisit,
    M::OverdueSupervisorVisit,
    M::OverdueTalk,
    M::OverdueQuestionnaire,
    M::OverduePostDischargeFollowUp,
    M::OverdueReturnMonitoring,
];

/// Counts that add up to another count of the same region: `(total, parts)`. Disclosure
/// control treats each as a group, like a region and its subregions.
pub const PARTITIONS: &[(M, &[M])] = &[
    (
        M::Population,
        &[
            M::RiskNone,
            M::RiskGreen,
            M::RiskYellow,
            M::RiskOrange,
            M::RiskRed,
        ],
    ),
    (M::HighRisk, &[M::RiskOrange, M::RiskRed]),
    (
        M::HarmReports,
        &[
            M::ReportDelay1d,
            M::ReportDelay3d,
            M::ReportDelay7d,
            M::ReportDelayOver7d,
        ],
    ),
    (M::OverdueOpen, &OVERDUE_BY_KIND),
];

/// The period asked for and the instants derived from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Window {
    /// School year (学年) starting 1 September of this year: indicators 1 and 3.
    pub school_year: i32,
    /// First and last day of the period (inclusive).
    pub from: NaiveDate,
    pub to: NaiveDate,
    /// `[start, end)`: the period as instants (UTC days).
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    /// Point in time of the stock indicators: the end of the period, or now if that is later.
    pub as_of: DateTime<Utc>,
    /// The period reaches now: the maintained current risk level and treatment flag apply.
    pub current: bool,
}

/// 1 September of school year `y`.
pub fn school_year_start(y: i32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, 9, 1).unwrap_or(NaiveDate::MIN)
}

/// The school year containing `d`.
pub fn school_year_of(d: NaiveDate) -> i32 {
    if d.month() >= 9 {
        d.year()
    } else {
        d.year() - 1
    }
}

fn midnight(d: NaiveDate) -> DateTime<Utc> {
    d.and_time(chrono::NaiveTime::MIN).and_utc()
}

impl Window {
    /// Resolves the period: the school year (default: the current one) and, optionally, days
    /// inside any year. Without `from`/`to` the period is the school year up to today.
    pub fn new(
        school_year: Option<i32>,
        from: Option<NaiveDate>,
        to: Option<NaiveDate>,
        now: DateTime<Utc>,
    ) -> Result<Self, ApiError> {
        let today = now.date_naive();
        let this_year = school_year_of(today);
        let year = match school_year {
            Some(y) if !(2000..=this_year).contains(&y) => {
                return Err(ApiError::bad_input(
                    "period.schoolYear",
                    format!("must be between 2000 and the current school year {this_year}"),
                ));
            }
            Some(y) => y,
            None => school_year_of(to.unwrap_or(today).min(today)),
        };
        let year_last = school_year_start(year + 1).pred_opt().unwrap_or(today);
        let from = from.unwrap_or_else(|| school_year_start(year));
        let to = to.unwrap_or_else(|| year_last.min(today));
        if from > to {
            return Err(ApiError::bad_input(
                "period.from",
                "must not be after period.to",
            ));
        }
        if (to - from).num_days() > 3 * 366 {
            return Err(ApiError::bad_input(
                "period.to",
                "the period must not span more than three years",
            ));
        }
        let start = midnight(from);
        let end = midnight(to.succ_opt().unwrap_or(to));
        let as_of = end.min(now);
        Ok(Self {
            school_year: year,
            from,
            to,
            start,
            end,
            as_of,
            current: as_of == now,
        })
    }

    /// The school year's bounds, cut at the as-of time: `[1 Sep, min(next 1 Sep, as of))`.
    fn year_span(&self) -> (DateTime<Utc>, DateTime<Utc>) {
        (
            midnight(school_year_start(self.school_year)),
            midnight(school_year_start(self.school_year + 1)).min(self.as_of),
        )
    }

    fn as_of_day(&self) -> NaiveDate {
        self.as_of.date_naive()
    }
}

/// Which rows to aggregate and how to group them.
#[derive(Debug, Clone)]
pub struct Extent {
    /// Children (and their records) residing inside this region.
    pub region: RegionPrefix,
    /// Group by this many digits of the residence code (2, 4, 6, 9 or 12).
    pub group_digits: usize,
    /// The caller's row scope; `None` aggregates every child of the region.
    pub scope: Option<Condition>,
    /// Reports without an identified child count by where they happened, inside this prefix
    /// (`None`: not counted — the caller's scope is not a plain region).
    pub unidentified_reports: Option<RegionPrefix>,
}

/// What one group (region) accumulated: its counts and the samples of its medians.
#[derive(Debug, Clone)]
pub struct Group {
    pub counts: Counts,
    /// Hours from a RED crisis event to its first response.
    pub crisis_hours: Vec<f64>,
    /// Hours from sending a referral to its answer.
    pub referral_hours: Vec<f64>,
    /// Days from the triggering screening or report to the plan's approval.
    pub approval_days: Vec<f64>,
}

impl Default for Group {
    fn default() -> Self {
        Self {
            counts: [0; MEASURES],
            crisis_hours: Vec::new(),
            referral_hours: Vec::new(),
            approval_days: Vec::new(),
        }
    }
}

impl Group {
    /// Adds another group's counts and samples (rolling subregions up).
    pub fn absorb(&mut self, other: &Group) {
        for (a, b) in self.counts.iter_mut().zip(other.counts.iter()) {
            *a += b;
        }
        self.crisis_hours.extend_from_slice(&other.crisis_hours);
        self.referral_hours.extend_from_slice(&other.referral_hours);
        self.approval_days.extend_from_slice(&other.approval_days);
    }

    fn add(&mut self, m: M, n: i64) {
        self.counts[m as usize] += n;
    }

    /// One count.
    pub fn get(&self, m: M) -> i64 {
        self.counts[m as usize]
    }
}

/// The median (mean of the two middle values for an even sample) and the nearest-rank P90.
pub fn median_p90(sample: &[f64]) -> (Option<f64>, Option<f64>) {
    if sample.is_empty() {
        return (None, None);
    }
    let mut v = sample.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    let median = if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    };
    let rank = (n * 9).div_ceil(10).max(1);
    (Some(median), Some(v[rank - 1]))
}

/// A SQL text with its bound values, placeholders numbered for the backend.
struct Sql {
    backend: DatabaseBackend,
    text: String,
    values: Vec<Value>,
}

impl Sql {
    fn new(backend: DatabaseBackend) -> Self {
        Self {
            backend,
            text: String::with_capacity(2048),
            values: Vec::new(),
        }
    }

    fn s(&mut self, t: &str) -> &mut Self {
        self.text.push_str(t);
        self
    }

    fn v(&mut self, v: impl Into<Value>) -> &mut Self {
        self.values.push(v.into());
        match self.backend {
            DatabaseBackend::Postgres => {
                let n = self.values.len();
                self.text.push_str(&format!("${n}"));
            }
            _ => self.text.push('?'),
        }
        self
    }

    /// Appends a SeaORM condition (the caller's row scope) as SQL, its values renumbered.
    fn cond(&mut self, c: &Condition) -> &mut Self {
        let q = Query::select()
            .expr(Expr::cust("1"))
            .cond_where(c.clone())
            .to_owned();
        let (sql, values) = match self.backend {
            DatabaseBackend::Postgres => q.build(PostgresQueryBuilder),
            _ => q.build(SqliteQueryBuilder),
        };
        let clause = match sql.find(" WHERE ") {
            Some(i) => &sql[i + 7..],
            None => "1 = 1",
        };
        self.text.push('(');
        if self.backend == DatabaseBackend::Postgres {
            // The condition's own placeholders start at $1: shift them past ours.
            let offset = self.values.len();
            let mut chars = clause.chars().peekable();
            while let Some(ch) = chars.next() {
                if ch == '$' && chars.peek().is_some_and(char::is_ascii_digit) {
                    let mut digits = String::new();
                    while let Some(d) = chars.peek().copied().filter(char::is_ascii_digit) {
                        digits.push(d);
                        chars.next();
                    }
                    let n: usize = digits.parse().unwrap_or(0);
                    self.text.push_str(&format!("${}", n + offset));
                } else {
                    self.text.push(ch);
                }
            }
        } else {
            self.text.push_str(clause);
        }
        self.text.push(')');
        self.values.extend(values.0);
        self
    }

    fn stmt(self) -> Statement {
        Statement::from_sql_and_values(self.backend, self.text, self.values)
    }
}

/// SQL of the group key: the first `digits` digits of a 12-digit code column, as a 12-digit code.
fn key_of(column: &str, digits: usize) -> String {
    if digits >= 12 {
        return column.to_owned();
    }
    let scale = 10i64.pow((12 - digits) as u32);
    format!("(({column} / {scale}) * {scale})")
}

/// The group key over `children`: the kept city and county codes where they fit (indexed).
fn child_key(digits: usize) -> String {
    match digits {
        4 => "children.city_code".to_owned(),
        6 => "children.county_code".to_owned(),
        d => key_of("children.residence_region_code", d),
    }
}

fn quoted(s: &str) -> String {
    format!("'{s}'")
}

fn list(items: &[&str]) -> String {
    items
        .iter()
        .map(|s| quoted(s))
        .collect::<Vec<_>>()
        .join(", ")
}

impl Extent {
    /// `children` inside the region and the caller's scope, not archived.
    fn children_where(&self, q: &mut Sql) {
        q.s("children.archived_at IS NULL AND ");
        let code = self.region.code();
        match self.region.as_str().len() {
            4 => {
                q.s("children.city_code = ").v(code);
            }
            6 => {
                q.s("children.county_code = ").v(code);
            }
            _ => {
                let (lo, hi) = self.region.range();
                q.s("children.residence_region_code >= ")
                    .v(lo)
                    .s(" AND children.residence_region_code < ")
                    .v(hi);
            }
        }
        if let Some(scope) = &self.scope {
            q.s(" AND ").cond(scope);
        }
    }
}

fn get_i64(row: &QueryResult, col: &str) -> Result<i64, ApiError> {
    Ok(row.try_get::<Option<i64>>("", col)?.unwrap_or(0))
}

fn get_time(row: &QueryResult, col: &str) -> Result<Option<DateTime<Utc>>, ApiError> {
    Ok(row.try_get::<Option<DateTime<Utc>>>("", col)?)
}

fn hours(a: DateTime<Utc>, b: DateTime<Utc>) -> f64 {
    (b - a).num_seconds() as f64 / 3600.0
}

/// Which families of counts an answer needs. Each family is computed by its own statement (or
/// part of the population statement) and fills counts no other family touches, so leaving one
/// out changes no other count — nor any suppression decision, since every additive group of
/// the disclosure control lies inside one family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Needs(u16);

impl Needs {
    /// Population, risk distribution, children in treatment.
    pub const POPULATION: Needs = Needs(1);
    /// Enrolled grades 4–12, screened and visited at home (needs the population).
    pub const SCHOOL: Needs = Needs(1 << 1);
    /// High-risk children with a plan in force (needs the population).
    pub const PLANS: Needs = Needs(1 << 2);
    pub const VISITS: Needs = Needs(1 << 3);
    pub const CRISES: Needs = Needs(1 << 4);
    pub const REFERRALS: Needs = Needs(1 << 5);
    pub const EPISODES: Needs = Needs(1 << 6);
    pub const APPROVALS: Needs = Needs(1 << 7);
    pub const REPORTS: Needs = Needs(1 << 8);
    pub const NONE: Needs = Needs(0);
    pub const ALL: Needs = Needs((1 << 9) - 1);

    /// Both sets.
    pub const fn with(self, other: Needs) -> Needs {
        Needs(self.0 | other.0)
    }

    /// Whether every family of `other` is needed.
    pub const fn has(self, other: Needs) -> bool {
        self.0 & other.0 == other.0 && other.0 != 0
    }

    /// What a field of a region's indicators (its GraphQL name) needs; an unknown field needs
    /// everything, so a new field is never answered from counts nobody computed.
    pub fn of_field(name: &str) -> Needs {
        match name {
            "regionCode" | "name" | "level" | "__typename" => Needs::NONE,
            "population" | "riskDistribution" | "inTreatment" => Needs::POPULATION,
            "screeningCoverage" | "homeVisitCoverage" => Needs::POPULATION.with(Needs::SCHOOL),
            "highRiskPlanCoverage" => Needs::POPULATION.with(Needs::PLANS),
            "planApprovalDays" => Needs::APPROVALS,
            "overdueFollowUps" | "overdueOpen" | "overdueByKind" => Needs::VISITS,
            "crisisResponse" => Needs::CRISES,
            "referralTurnaround" | "referralClosure" => Needs::REFERRALS,
            "postDischargeFollowUp" | "returnToSchool" => Needs::EPISODES,
            "reportTimeliness" | "reportsFiled" | "reportsOverdue" => Needs::REPORTS,
            _ => Needs::ALL,
        }
    }
}

/// Computes the counts and samples of `extent` for `window` that `needs` asks for, grouped by
/// region prefix, in at most seven statements (one per record family) whatever the number of
/// children.
pub async fn compute<C: ConnectionTrait>(
    db: &C,
    extent: &Extent,
    window: &Window,
    needs: Needs,
) -> Result<BTreeMap<i64, Group>, ApiError> {
    let backend = db.get_database_backend();
    let mut groups: BTreeMap<i64, Group> = BTreeMap::new();
    if needs.has(Needs::POPULATION) {
        population(db, backend, extent, window, needs, &mut groups).await?;
    }
    if needs.has(Needs::VISITS) {
        visits(db, backend, extent, window, &mut groups).await?;
    }
    if needs.has(Needs::CRISES) {
        crises(db, backend, extent, window, &mut groups).await?;
    }
    if needs.has(Needs::REFERRALS) {
        referrals(db, backend, extent, window, &mut groups).await?;
    }
    if needs.has(Needs::EPISODES) {
        episodes(db, backend, extent, window, &mut groups).await?;
    }
    if needs.has(Needs::APPROVALS) {
        approvals(db, backend, extent, window, &mut groups).await?;
    }
    if needs.has(Needs::REPORTS) {
        reports(db, backend, extent, window, &mut groups).await?;
    }
    Ok(groups)
}

/// Indicators 1–3 and the risk distribution: one grouped pass over the in-scope children,
/// with the per-child facts (enrolled, screened, visited, planned) as joined sets when
/// `needs` asks for them.
async fn population<C: ConnectionTrait>(
    db: &C,
    backend: DatabaseBackend,
    x: &Extent,
    w: &Window,
    needs: Needs,
    out: &mut BTreeMap<i64, Group>,
) -> Result<(), ApiError> {
    let school = needs.has(Needs::SCHOOL);
    let plans = needs.has(Needs::PLANS);
    let mut q = Sql::new(backend);
    let day = w.as_of_day();
    let born_after = day
        .checked_sub_months(chrono::Months::new(18 * 12))
        .unwrap_or(NaiveDate::MIN);
    let key = child_key(x.group_digits);
    // The in-scope children: active, a difficulty category valid on the as-of day, under 18.
    q.s("WITH base0 AS (SELECT children.id AS id, ")
        .s(&key)
        .s(" AS k, ");
    if w.current {
        q.s("children.risk_rank AS rr, CASE WHEN children.in_treatment THEN 1 ELSE 0 END AS tr ");
    } else {
        q.s("CASE WHEN EXISTS (SELECT 1 FROM treatment_episodes te WHERE te.child_id = children.id AND te.archived_at IS NULL AND te.admitted_at <= ")
            .v(w.as_of)
            .s(" AND (te.discharged_at IS NULL OR te.discharged_at > ")
            .v(w.as_of)
            .s(")) THEN 1 ELSE 0 END AS tr ");
    }
    q.s("FROM children WHERE children.status = ")
        .s(&quoted(ChildStatus::Active.as_str()))
        .s(" AND children.birth_date > ")
        .v(born_after)
        .s(" AND ");
    x.children_where(&mut q);
    if w.current {
        // Today: the maintained difficulty period (write::derived::refresh_period), so the
        // count is read from the partial index ix_children_population alone.
        q.s(" AND children.difficulty_from <= ")
            .v(day)
            .s(" AND (children.difficulty_to IS NULL OR children.difficulty_to >= ")
            .v(day)
            .s(")), ");
    } else {
        q.s(" AND EXISTS (SELECT 1 FROM child_difficulties d WHERE d.child_id = children.id AND d.archived_at IS NULL AND d.valid_from <= ")
            .v(day)
            .s(" AND (d.valid_to IS NULL OR d.valid_to >= ")
            .v(day)
            .s("))), ");
    }
    if w.current {
        // The maintained current risk level (latest screening or crisis event, every write).
        q.s("base AS (SELECT id, k, rr, tr FROM base0), ");
    } else {
        // Latest risk at the as-of time: the newest screening or crisis event before it.
        q.s("ev AS (SELECT s.child_id AS child_id, s.administered_at AS at, s.risk_level AS lvl FROM screenings s JOIN base0 b ON b.id = s.child_id WHERE s.archived_at IS NULL AND s.administered_at <= ")
            .v(w.as_of)
            .s(" UNION ALL SELECT ce.child_id, ce.occurred_at, ce.risk_level FROM crisis_events ce JOIN base0 b ON b.id = ce.child_id WHERE ce.archived_at IS NULL AND ce.occurred_at <= ")
            .v(w.as_of)
            .s("), lt AS (SELECT child_id, lvl FROM (SELECT child_id, lvl, ROW_NUMBER() OVER (PARTITION BY child_id ORDER BY at DESC) AS rn FROM ev) x WHERE rn = 1), ")
            .s("base AS (SELECT b.id AS id, b.k AS k, b.tr AS tr, CASE lt.lvl");
        for (i, l) in RiskLevel::ALL.iter().enumerate() {
            q.s(&format!(" WHEN '{}' THEN {}", l.as_str(), i + 1));
        }
        q.s(" ELSE 0 END AS rr FROM base0 b LEFT JOIN lt ON lt.child_id = b.id), ");
    }
    let (y0, y1) = w.year_span();
    if school {
        q.s("enr AS (SELECT DISTINCT e.child_id AS child_id FROM enrollments e JOIN base b ON b.id = e.child_id WHERE e.archived_at IS NULL AND e.school_year = ")
        .v(w.school_year)
        .s(" AND e.status = ")
        .s(&quoted(EnrollmentStatus::Enrolled.as_str()))
        .s(" AND e.grade BETWEEN 4 AND 12), ");
        q.s("scr AS (SELECT DISTINCT s.child_id AS child_id FROM screenings s JOIN enr ON enr.child_id = s.child_id WHERE s.archived_at IS NULL AND s.administered_at >= ")
        .v(y0)
        .s(" AND s.administered_at < ")
        .v(y1)
        .s("), ");
        q.s("hv AS (SELECT DISTINCT v.child_id AS child_id FROM visits v JOIN enr ON enr.child_id = v.child_id WHERE v.archived_at IS NULL AND v.kind = ")
        .s(&quoted(VisitKind::HeadTeacherHomeVisit.as_str()))
        .s(" AND v.done_at >= ")
        .v(y0)
        .s(" AND v.done_at < ")
        .v(y1)
        .s("), ");
    }
    if plans {
        let in_force = list(&[
            CarePlanStatus::Active.as_str(),
            CarePlanStatus::ReviewDue.as_str(),
        ]);
        q.s("pl AS (SELECT DISTINCT p.child_id AS child_id FROM care_plans p JOIN base b ON b.id = p.child_id WHERE b.rr >= 3 AND p.archived_at IS NULL AND p.approved_at IS NOT NULL AND p.approved_at <= ")
        .v(w.as_of)
        .s(&format!(" AND (p.status IN ({in_force})"));
        if !w.current {
            // A plan completed or closed after the as-of time was still in force then.
            let ended = list(&[
                CarePlanStatus::Completed.as_str(),
                CarePlanStatus::Closed.as_str(),
            ]);
            q.s(&format!(" OR (p.status IN ({ended}) AND p.updated_at > "))
                .v(w.as_of)
                .s(")");
        }
        q.s(")), ");
    }
    // Every CTE above ends with ", ": the list ends here.
    let end = q.text.trim_end_matches(", ").len();
    q.text.truncate(end);
    q.s(" SELECT b.k AS k, CAST(COUNT(*) AS BIGINT) AS n");
    for r in 0..=4 {
        q.s(&format!(
            ", CAST(SUM(CASE WHEN b.rr = {r} THEN 1 ELSE 0 END) AS BIGINT) AS r{r}"
        ));
    }
    q.s(", CAST(SUM(b.tr) AS BIGINT) AS tr");
    if school {
        q.s(", CAST(COUNT(enr.child_id) AS BIGINT) AS enrolled, CAST(COUNT(scr.child_id) AS BIGINT) AS screened, \
             CAST(COUNT(hv.child_id) AS BIGINT) AS visited");
    }
    if plans {
        q.s(", CAST(COUNT(pl.child_id) AS BIGINT) AS planned");
    }
    q.s(" FROM base b");
    if school {
        q.s(" LEFT JOIN enr ON enr.child_id = b.id LEFT JOIN scr ON scr.child_id = b.id LEFT JOIN hv ON hv.child_id = b.id");
    }
    if plans {
        q.s(" LEFT JOIN pl ON pl.child_id = b.id");
    }
    q.s(" GROUP BY b.k");
    for row in db.query_all_raw(q.stmt()).await? {
        let g = out.entry(get_i64(&row, "k")?).or_default();
        g.add(M::Population, get_i64(&row, "n")?);
        let risk = [
            M::RiskNone,
            M::RiskGreen,
            M::RiskYellow,
            M::RiskOrange,
            M::RiskRed,
        ];
        for (r, m) in risk.iter().enumerate() {
            g.add(*m, get_i64(&row, &format!("r{r}"))?);
        }
        g.add(M::HighRisk, get_i64(&row, "r3")? + get_i64(&row, "r4")?);
        g.add(M::InTreatment, get_i64(&row, "tr")?);
        if school {
            g.add(M::Enrolled, get_i64(&row, "enrolled")?);
            g.add(M::Screened, get_i64(&row, "screened")?);
            g.add(M::HomeVisited, get_i64(&row, "visited")?);
        }
        if plans {
            g.add(M::HighRiskPlanned, get_i64(&row, "planned")?);
        }
    }
    Ok(())
}

/// Indicator 4: visit tasks due in the last 90 days and not done, and every open overdue task
/// by kind. Tasks of children no longer ACTIVE are not follow-ups any more.
async fn visits<C: ConnectionTrait>(
    db: &C,
    backend: DatabaseBackend,
    x: &Extent,
    w: &Window,
    out: &mut BTreeMap<i64, Group>,
) -> Result<(), ApiError> {
    let day = w.as_of_day();
    let since = day - Duration::days(90);
    let mut q = Sql::new(backend);
    q.s("WITH t AS (SELECT ")
        .s(&child_key(x.group_digits))
        .s(" AS k, v.kind AS kind, CASE WHEN v.due_date >= ")
        .v(since);
    q.s(" THEN 1 ELSE 0 END AS recent, CASE WHEN v.done_at IS NULL OR v.done_at > ")
        .v(w.as_of)
        .s(" THEN 1 ELSE 0 END AS open ");
    q.s("FROM visits v JOIN children ON children.id = v.child_id WHERE v.archived_at IS NULL AND v.due_date IS NOT NULL AND v.due_date < ").v(day);
    q.s(" AND v.created_at <= ")
        .v(w.as_of)
        .s(" AND (v.due_date >= ")
        .v(since)
        .s(" OR v.done_at IS NULL OR v.done_at > ")
        .v(w.as_of)
        .s(")");
    q.s(" AND children.status = ")
        .s(&quoted(ChildStatus::Active.as_str()))
        .s(" AND ");
    x.children_where(&mut q);
    q.s(") SELECT k, CAST(SUM(recent) AS BIGINT) AS due90, CAST(SUM(recent * open) AS BIGINT) AS over90, CAST(SUM(open) AS BIGINT) AS open_all");
    for (i, kind) in VisitKind::ALL.iter().enumerate() {
        q.s(&format!(
            ", CAST(SUM(CASE WHEN kind = '{}' THEN open ELSE 0 END) AS BIGINT) AS kind{i}",
            kind.as_str()
        ));
    }
    q.s(" FROM t GROUP BY k");
    for row in db.query_all_raw(q.stmt()).await? {
        let g = out.entry(get_i64(&row, "k")?).or_default();
        g.add(M::VisitsDue90, get_i64(&row, "due90")?);
        g.add(M::VisitsOverdue90, get_i64(&row, "over90")?);
        g.add(M::OverdueOpen, get_i64(&row, "open_all")?);
        for (i, m) in OVERDUE_BY_KIND.iter().enumerate() {
            g.add(*m, get_i64(&row, &format!("kind{i}"))?);
        }
    }
    Ok(())
}

/// Indicator 5: RED crisis events of the period and their first response — the earliest of
/// the recorded first response, informing the guardian and sending the urgent referral.
async fn crises<C: ConnectionTrait>(
    db: &C,
    backend: DatabaseBackend,
    x: &Extent,
    w: &Window,
    out: &mut BTreeMap<i64, Group>,
) -> Result<(), ApiError> {
    let mut q = Sql::new(backend);
    q.s("SELECT ").s(&child_key(x.group_digits)).s(" AS k, ce.occurred_at AS at, ce.first_response_at AS fr, ce.guardian_informed_at AS gi, r.sent_at AS rs ");
    q.s("FROM crisis_events ce JOIN children ON children.id = ce.child_id LEFT JOIN referrals r ON r.id = ce.urgent_referral_id AND r.archived_at IS NULL ");
    q.s("WHERE ce.archived_at IS NULL AND ce.risk_level = ")
        .s(&quoted(RiskLevel::Red.as_str()));
    q.s(" AND ce.occurred_at >= ")
        .v(w.start)
        .s(" AND ce.occurred_at < ")
        .v(w.as_of)
        .s(" AND ");
    x.children_where(&mut q);
    for row in db.query_all_raw(q.stmt()).await? {
        let Some(at) = get_time(&row, "at")? else {
            continue;
        };
        let response = [
            get_time(&row, "fr")?,
            get_time(&row, "gi")?,
            get_time(&row, "rs")?,
        ]
        .into_iter()
        .flatten()
        .filter(|t| *t >= at && *t <= w.as_of)
        .min();
        let g = out.entry(get_i64(&row, "k")?).or_default();
        match response {
            Some(t) => {
                let h = hours(at, t);
                g.add(M::CrisisEvents, 1);
                g.add(M::CrisisResponded, 1);
                g.crisis_hours.push(h);
                if h <= 24.0 {
                    g.add(M::CrisisWithin24h, 1);
                }
            }
            // Unanswered: a failure once its 24 hours are over, not yet before.
            None if w.as_of - at > Duration::hours(24) => g.add(M::CrisisEvents, 1),
            None => {}
        }
    }
    Ok(())
}

/// Indicators 6 and 7: referrals sent in the period — turnaround, SLA, acceptance — and the
/// closure of those sent at least 30 days before the period's end, by direction.
async fn referrals<C: ConnectionTrait>(
    db: &C,
    backend: DatabaseBackend,
    x: &Extent,
    w: &Window,
    out: &mut BTreeMap<i64, Group>,
) -> Result<(), ApiError> {
    let mut q = Sql::new(backend);
    q.s("SELECT ").s(&child_key(x.group_digits)).s(" AS k, r.direction AS direction, r.urgency AS urgency, r.status AS status, r.sent_at AS sent, ");
    q.s("r.responded_at AS responded, r.sla_due_at AS sla, CAST(CASE WHEN r.outcome_note IS NULL THEN 0 ELSE 1 END AS BIGINT) AS outcome ");
    q.s("FROM referrals r JOIN children ON children.id = r.child_id WHERE r.archived_at IS NULL AND r.sent_at IS NOT NULL AND r.sent_at >= ")
        .v(w.start)
        .s(" AND r.sent_at < ")
        .v(w.as_of)
        .s(" AND ");
    x.children_where(&mut q);
    let closure_until = w.end.min(w.as_of) - Duration::days(30);
    for row in db.query_all_raw(q.stmt()).await? {
        let Some(sent) = get_time(&row, "sent")? else {
            continue;
        };
        let status = ReferralStatus::parse(&row.try_get::<String>("", "status")?);
        let direction = ReferralDirection::parse(&row.try_get::<String>("", "direction")?);
        let urgency = Urgency::parse(&row.try_get::<String>("", "urgency")?);
        let sla = get_time(&row, "sla")?.unwrap_or_else(|| {
            sent + Duration::hours(if urgency == Some(Urgency::Urgent) {
                24
            } else {
                72
            })
        });
        let responded = get_time(&row, "responded")?.filter(|t| *t <= w.as_of);
        let g = out.entry(get_i64(&row, "k")?).or_default();
        g.add(M::ReferralsSent, 1);
        if let Some(t) = responded {
            g.add(M::ReferralsResponded, 1);
            g.referral_hours.push(hours(sent, t).max(0.0));
            if status != Some(ReferralStatus::Rejected) {
                g.add(M::ReferralsAccepted, 1);
            }
        }
        match responded {
            Some(t) => {
                g.add(M::ReferralsSlaDue, 1);
                if t <= sla {
                    g.add(M::ReferralsWithinSla, 1);
                }
            }
            // Withdrawn by the sender before an answer: nothing was owed.
            None if status == Some(ReferralStatus::Revoked) => {}
            // Still unanswered past the SLA: a breach.
            None if w.as_of > sla => g.add(M::ReferralsSlaDue, 1),
            None => {}
        }
        if sent < closure_until && status != Some(ReferralStatus::Revoked) {
            let closed = matches!(
                status,
                Some(ReferralStatus::Completed | ReferralStatus::Closed)
            ) && get_i64(&row, "outcome")? == 1;
            let (den, num) = match direction {
                Some(ReferralDirection::Up) => (M::ClosureUpSent, M::ClosureUpClosed),
                Some(ReferralDirection::Down) => (M::ClosureDownSent, M::ClosureDownClosed),
                _ => continue,
            };
            g.add(den, 1);
            if closed {
                g.add(num, 1);
            }
        }
    }
    Ok(())
}

/// Indicators 8 and 9: treatment episodes discharged in the period shifted back by the length
/// of their window (7 days for the follow-up visit, 30 days for the return to school).
async fn episodes<C: ConnectionTrait>(
    db: &C,
    backend: DatabaseBackend,
    x: &Extent,
    w: &Window,
    out: &mut BTreeMap<i64, Group>,
) -> Result<(), ApiError> {
    let returned = list(&[
        ReturnStatus::Returned.as_str(),
        ReturnStatus::Monitoring.as_str(),
        ReturnStatus::Closed.as_str(),
    ]);
    let enrolled = list(&[
        EnrollmentStatus::Enrolled.as_str(),
        EnrollmentStatus::Suspended.as_str(),
        EnrollmentStatus::Returned.as_str(),
    ]);
    let mut q = Sql::new(backend);
    q.s("SELECT ")
        .s(&child_key(x.group_digits))
        .s(" AS k, te.discharged_at AS discharged, ");
    q.s("(SELECT MIN(v.done_at) FROM visits v WHERE v.child_id = te.child_id AND v.archived_at IS NULL AND v.kind = ")
        .s(&quoted(VisitKind::PostDischargeFollowUp.as_str()))
        .s(" AND v.done_at >= te.discharged_at) AS followed, ");
    q.s(&format!(
        "(SELECT MIN(rts.return_date) FROM returns_to_school rts WHERE rts.child_id = te.child_id AND rts.archived_at IS NULL \
         AND rts.return_date IS NOT NULL AND rts.status IN ({returned}) AND (rts.treatment_episode_id = te.id \
         OR (rts.treatment_episode_id IS NULL AND rts.created_at >= te.admitted_at))) AS returned, "
    ));
    q.s(&format!(
        "CAST(CASE WHEN EXISTS (SELECT 1 FROM enrollments e WHERE e.child_id = te.child_id AND e.archived_at IS NULL \
         AND e.created_at <= te.admitted_at AND e.status IN ({enrolled})) THEN 1 ELSE 0 END AS BIGINT) AS enrolled "
    ));
    q.s("FROM treatment_episodes te JOIN children ON children.id = te.child_id WHERE te.archived_at IS NULL AND te.discharged_at IS NOT NULL AND te.discharged_at >= ")
        .v(w.start - Duration::days(30))
        .s(" AND te.discharged_at < ")
        .v(w.end.min(w.as_of))
        .s(" AND ");
    x.children_where(&mut q);
    for row in db.query_all_raw(q.stmt()).await? {
        let Some(discharged) = get_time(&row, "discharged")? else {
            continue;
        };
        let g = out.entry(get_i64(&row, "k")?).or_default();
        let week = Duration::days(7);
        if discharged >= w.start - week && discharged < w.end - week && discharged + week <= w.as_of
        {
            g.add(M::Discharges, 1);
            if get_time(&row, "followed")?.is_some_and(|t| t <= discharged + week && t <= w.as_of) {
                g.add(M::DischargesFollowed, 1);
            }
        }
        let month = Duration::days(30);
        if get_i64(&row, "enrolled")? == 1
            && discharged >= w.start - month
            && discharged < w.end - month
            && discharged + month <= w.as_of
        {
            g.add(M::ReturnsDue, 1);
            let back = row.try_get::<Option<NaiveDate>>("", "returned")?;
            if back.is_some_and(|d| d <= (discharged + month).date_naive() && d <= w.as_of_day()) {
                g.add(M::ReturnsWithin30d, 1);
            }
        }
    }
    Ok(())
}

/// Indicator 2's companion: days from the triggering screening (or report) to the approval of
/// first-version care plans approved in the period.
async fn approvals<C: ConnectionTrait>(
    db: &C,
    backend: DatabaseBackend,
    x: &Extent,
    w: &Window,
    out: &mut BTreeMap<i64, Group>,
) -> Result<(), ApiError> {
    let mut q = Sql::new(backend);
    q.s("SELECT ").s(&child_key(x.group_digits)).s(" AS k, p.approved_at AS approved, s.administered_at AS screened, rp.reported_at AS reported ");
    q.s("FROM care_plans p JOIN children ON children.id = p.child_id LEFT JOIN screenings s ON s.id = p.trigger_screening_id ");
    q.s("LEFT JOIN reports rp ON rp.id = p.trigger_report_id WHERE p.archived_at IS NULL AND p.plan_version = 1 AND p.approved_at >= ")
        .v(w.start)
        .s(" AND p.approved_at < ")
        .v(w.as_of)
        .s(" AND (p.trigger_screening_id IS NOT NULL OR p.trigger_report_id IS NOT NULL) AND ");
    x.children_where(&mut q);
    for row in db.query_all_raw(q.stmt()).await? {
        let (Some(approved), Some(trigger)) = (
            get_time(&row, "approved")?,
            get_time(&row, "screened")?.or(get_time(&row, "reported")?),
        ) else {
            continue;
        };
        if trigger > approved {
            continue;
        }
        let g = out.entry(get_i64(&row, "k")?).or_default();
        g.add(M::PlanApprovals, 1);
        g.approval_days.push(hours(trigger, approved) / 24.0);
    }
    Ok(())
}

/// Indicator 10 and the report counters: harm reports discovered in the period by delay,
/// reports filed in the period, and open reports past their deadline. A report without an
/// identified child counts where it happened.
async fn reports<C: ConnectionTrait>(
    db: &C,
    backend: DatabaseBackend,
    x: &Extent,
    w: &Window,
    out: &mut BTreeMap<i64, Group>,
) -> Result<(), ApiError> {
    fn period(q: &mut Sql, w: &Window) {
        q.s(" AND ((rep.reported_at >= ")
            .v(w.start)
            .s(" AND rep.reported_at < ")
            .v(w.as_of);
        q.s(") OR (rep.discovered_at >= ")
            .v(w.start)
            .s(" AND rep.discovered_at < ")
            .v(w.as_of);
        q.s(") OR (rep.status <> ")
            .s(&quoted(ReportStatus::Closed.as_str()))
            .s(" AND rep.due_by < ")
            .v(w.as_of)
            .s("))");
    }
    let cols = "rep.category AS category, rep.status AS status, rep.discovered_at AS discovered, rep.reported_at AS reported, rep.due_by AS due";
    let mut q = Sql::new(backend);
    q.s("SELECT ")
        .s(&child_key(x.group_digits))
        .s(" AS k, ")
        .s(cols);
    q.s(" FROM reports rep JOIN children ON children.id = rep.child_id WHERE rep.archived_at IS NULL");
    period(&mut q, w);
    q.s(" AND ");
    x.children_where(&mut q);
    if let Some(anon) = x
        .unidentified_reports
        .as_ref()
        .and_then(|p| narrower(p, &x.region))
    {
        let (lo, hi) = anon.range();
        q.s(" UNION ALL SELECT ")
            .s(&key_of("rep.region_code", x.group_digits))
            .s(" AS k, ")
            .s(cols);
        q.s(" FROM reports rep WHERE rep.child_id IS NULL AND rep.archived_at IS NULL AND rep.region_code >= ").v(lo).s(" AND rep.region_code < ").v(hi);
        period(&mut q, w);
    }
    for row in db.query_all_raw(q.stmt()).await? {
        let (Some(discovered), Some(reported), Some(due)) = (
            get_time(&row, "discovered")?,
            get_time(&row, "reported")?,
            get_time(&row, "due")?,
        ) else {
            continue;
        };
        let category = ReportCategory::parse(&row.try_get::<String>("", "category")?);
        let status = ReportStatus::parse(&row.try_get::<String>("", "status")?);
        let g = out.entry(get_i64(&row, "k")?).or_default();
        if reported >= w.start && reported < w.as_of {
            g.add(M::ReportsFiled, 1);
        }
        if status != Some(ReportStatus::Closed) && due < w.as_of {
            g.add(M::ReportsOverdue, 1);
        }
        if category.is_some_and(|c| c.is_harm())
            && discovered >= w.start
            && discovered < w.as_of
            && reported <= w.as_of
        {
            g.add(M::HarmReports, 1);
            let delay = hours(discovered, reported);
            let bucket = if delay <= 24.0 {
                M::ReportDelay1d
            } else if delay <= 72.0 {
                M::ReportDelay3d
            } else if delay <= 168.0 {
                M::ReportDelay7d
            } else {
                M::ReportDelayOver7d
            };
            g.add(bucket, 1);
        }
    }
    Ok(())
}

/// The smaller of two nested prefixes, or `None` if they are disjoint.
pub fn narrower(a: &RegionPrefix, b: &RegionPrefix) -> Option<RegionPrefix> {
    if a.covers(b) {
        Some(b.clone())
    } else if b.covers(a) {
        Some(a.clone())
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_and_p90_follow_their_definitions() {
        assert_eq!(median_p90(&[]), (None, None));
        assert_eq!(median_p90(&[3.0]), (Some(3.0), Some(3.0)));
        assert_eq!(median_p90(&[4.0, 1.0, 3.0, 2.0]), (Some(2.5), Some(4.0)));
        let ten: Vec<f64> = (1..=10).map(f64::from).collect();
        assert_eq!(median_p90(&ten), (Some(5.5), Some(9.0)));
    }

    #[test]
    fn window_defaults_to_the_school_year_so_far() {
        let now = midnight(NaiveDate::from_ymd_opt(2026, 11, 29).unwrap()) + Duration::hours(3);
        let w = Window::new(None, None, None, now).unwrap();
        assert_eq!(w.school_year, 2026);
        assert_eq!(w.from, NaiveDate::from_ymd_opt(2026, 9, 1).unwrap());
        assert_eq!(w.to, NaiveDate::from_ymd_opt(2026, 11, 29).unwrap());
        assert!(w.current);
        assert_eq!(w.as_of, now);
        let past = Window::new(Some(2025), None, None, now).unwrap();
        assert_eq!(past.to, NaiveDate::from_ymd_opt(2026, 8, 31).unwrap());
        assert!(!past.current);
        assert_eq!(
            past.as_of,
            midnight(NaiveDate::from_ymd_opt(2026, 9, 1).unwrap())
        );
        assert!(Window::new(Some(2027), None, None, now).is_err());
    }

    #[test]
    fn group_keys_truncate_codes() {
        assert_eq!(key_of("c", 12), "c");
        assert_eq!(key_of("c", 9), "((c / 1000) * 1000)");
        assert_eq!(child_key(6), "children.county_code");
    }

    #[test]
    fn scope_placeholders_are_renumbered_for_postgres() {
        use sea_orm::ColumnTrait;
        let mut q = Sql::new(DatabaseBackend::Postgres);
        q.s("a = ").v(1i64).s(" AND ");
        q.cond(
            &Condition::all()
                .add(carehub_entity::child::Column::CreatedBy.eq("x"))
                .add(carehub_entity::child::Column::CityCode.eq(4i64)),
        );
        q.s(" AND b = ").v(2i64);
        assert!(
            q.text.contains("$2") && q.text.contains("$3") && q.text.ends_with("b = $4"),
            "{}",
            q.text
        );
        assert_eq!(q.values.len(), 4);
    }
}
