//! Dynamic-monitoring indicators (动态监测) per region, computed in SQL with statistical
//! disclosure control for roles without row access (definitions: `docs/indicators.md`).

use std::collections::{BTreeMap, BTreeSet};

use async_graphql::{Context, InputObject, Object};
use carehub_entity::region;
use carehub_policy::{Pred, RowScope};
use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::{ColumnTrait, Condition, EntityTrait, QueryFilter};

use super::directory::dir_check;
use crate::authz::RequestCtx;
use crate::domain::region::{format_code, RegionPrefix, LEVEL_DIGITS};
use crate::error::{ApiError, GqlResult, IntoGql};
use crate::graphql::enums::{RegionLevel, VisitKind};
use crate::graphql::query::parse_region;
use crate::service::indicators::sdc::{self, Tree};
use crate::service::indicators::{
    self as svc, median_p90, Extent, Group, Needs, Window, M, MEASURES, OVERDUE_BY_KIND,
};

/// The period of `indicators`. Roles without row access may set only `schoolYear`.
#[derive(InputObject, Default)]
pub struct IndicatorPeriodInput {
    /// School year (学年) starting 1 September of this year; defaults to the current one.
    pub school_year: Option<i32>,
    /// First day of the period (inclusive); defaults to 1 September of the school year.
    /// Only for roles with row access.
    pub from: Option<NaiveDate>,
    /// Last day of the period (inclusive); defaults to today or the school year's last day.
    /// Only for roles with row access.
    pub to: Option<NaiveDate>,
}

/// Generates a plain output object whose every field is decided by the policy (G-AGG).
macro_rules! agg_object {
    ($(#[$m:meta])* $name:ident { $($(#[$fm:meta])* $field:ident : $ty:ty),* $(,)? }) => {
        $(#[$m])*
        #[derive(Clone, Debug)]
        pub struct $name { $(pub $field: $ty),* }

        $(#[$m])*
        #[Object]
        impl $name {
            $(
                $(#[$fm])*
                async fn $field(&self, ctx: &Context<'_>) -> GqlResult<$ty> {
                    dir_check(ctx, stringify!($name))?;
                    Ok(self.$field.clone())
                }
            )*
        }
    };
}

agg_object!(
    /// A rate (比率): numerator ÷ denominator. For roles without row access, a count from 1 to 4
    /// is suppressed, and so is every rate that would reveal one.
    IndicatorValue {
        /// The rate from 0 to 1; null when suppressed or when the denominator is 0.
        value: Option<f64>,
        /// Numerator (分子); null when suppressed.
        numerator: Option<i64>,
        /// Denominator (分母); null when suppressed.
        denominator: Option<i64>,
        /// Whether small-cell suppression withheld part of this value (小数抑制).
        suppressed: Option<bool>,
    }
);

agg_object!(
    /// A count (计数). For roles without row access, 1 to 4 (and complements) are suppressed.
    IndicatorCount {
        /// The count; null when suppressed.
        count: Option<i64>,
        /// Whether small-cell suppression withheld the count (小数抑制).
        suppressed: Option<bool>,
    }
);

agg_object!(
    /// A statistic over a sample of events (median or P90), with the sample size.
    IndicatorStat {
        /// The statistic; null when suppressed or when there is no event.
        value: Option<f64>,
        /// Sample size (样本量); null when suppressed.
        count: Option<i64>,
        /// Whether small-cell suppression withheld the statistic.
        suppressed: Option<bool>,
    }
);

agg_object!(
    /// Risk distribution (风险等级分布) of the in-scope children by their latest risk level at the
    /// as-of time.
    RiskDistribution {
        /// Never screened (未测评).
        unscreened: Option<IndicatorCount>,
        /// GREEN 绿色 · no apparent risk (未见明显风险).
        green: Option<IndicatorCount>,
        /// YELLOW 黄色 · general attention (一般关注).
        yellow: Option<IndicatorCount>,
        /// ORANGE 橙色 · key attention (重点关注).
        orange: Option<IndicatorCount>,
        /// RED 红色 · crisis (危机).
        red: Option<IndicatorCount>,
    }
);

agg_object!(
    /// Open visit tasks past their due date, of one visit kind.
    OverdueVisitKindCount {
        /// Visit kind.
        kind: Option<VisitKind>,
        /// Open overdue tasks of this kind.
        count: Option<IndicatorCount>,
    }
);

agg_object!(
    /// Indicator 5 · crisis first-response time (危机首次响应时长): for RED crisis events that
    /// occurred in the period, the time from the event to the first response — the earliest of
    /// the recorded first response, informing the guardian, and sending the urgent referral.
    CrisisResponseIndicator {
        /// Median hours to the first response (响应时长中位数), over answered events.
        median_hours: Option<IndicatorStat>,
        /// 90th percentile (nearest rank) of the hours to the first response (P90).
        p90_hours: Option<IndicatorStat>,
        /// Share answered within 24 hours (24小时内响应率), of the events answered or whose 24
        /// hours have passed (an unanswered event counts as late once its 24 hours are over).
        #[graphql(name = "within24h")]
        within_24h: Option<IndicatorValue>,
    }
);

agg_object!(
    /// Indicator 6 · referral turnaround (转介响应时长): for referrals sent in the period, the time
    /// from sending to the receiver's answer (accepted or rejected).
    ReferralTurnaroundIndicator {
        /// Referrals sent in the period (转介发出数).
        sent: Option<IndicatorCount>,
        /// Median hours to the answer (响应时长中位数), over answered referrals.
        median_hours: Option<IndicatorStat>,
        /// Share answered within the SLA (按时响应率; urgent 24 h, routine 72 h) of those answered
        /// or past their SLA; an unanswered referral past its SLA is a breach.
        within_sla: Option<IndicatorValue>,
        /// Share accepted (接收率) of those answered.
        acceptance: Option<IndicatorValue>,
    }
);

agg_object!(
    /// Indicator 7 · referral closure rate (转介闭环率): referrals sent from the period's start to
    /// 30 days before its end (not revoked) that were completed with an outcome note (回执).
    ReferralClosureIndicator {
        /// UP referrals (上转) to treatment.
        up: Option<IndicatorValue>,
        /// DOWN referrals (下转) back to the community or school.
        down: Option<IndicatorValue>,
    }
);

agg_object!(
    /// Indicator 10 · mandatory-report timeliness (强制报告及时率): harm reports (abuse, sexual
    /// abuse, neglect, bullying, domestic violence) discovered in the period, by the delay from
    /// discovery to the report.
    ReportTimelinessIndicator {
        /// Share reported within 24 hours (24小时内报告率).
        #[graphql(name = "within24h")]
        within_24h: Option<IndicatorValue>,
        /// Reported within 1 day (≤ 24 h; 1天内).
        up_to_1_day: Option<IndicatorCount>,
        /// Reported after 1 and within 3 days (2–3天).
        days_1_to_3: Option<IndicatorCount>,
        /// Reported after 3 and within 7 days (4–7天).
        days_3_to_7: Option<IndicatorCount>,
        /// Reported after more than 7 days (7天以上).
        over_7_days: Option<IndicatorCount>,
    }
);

agg_object!(
    /// The ten dynamic-monitoring indicators (十项动态监测指标) of one region, attributed to the
    /// children's region of residence.
    RegionIndicators {
        /// 12-digit statistical code of the region.
        region_code: Option<String>,
        /// Name (Chinese); `未细分` for records coded at the parent region itself.
        name: Option<String>,
        /// Level of the region.
        level: Option<RegionLevel>,
        /// In-scope children (在册困境儿童): ACTIVE, with a difficulty category valid at the as-of
        /// time, under 18.
        population: Option<IndicatorCount>,
        /// Risk distribution (风险等级分布) of the in-scope children.
        risk_distribution: Option<RiskDistribution>,
        /// In-scope children in treatment (在治疗) at the as-of time.
        in_treatment: Option<IndicatorCount>,
        /// Indicator 1 · screening coverage (测评覆盖率): in-scope children enrolled (在读) in grades
        /// 4–12 in the school year with a screening administered in the school year, ÷ those
        /// enrolled. Target 100 %.
        screening_coverage: Option<IndicatorValue>,
        /// Indicator 2 · high-risk care-plan coverage (高风险建档立策率): in-scope children whose
        /// latest risk at the as-of time is ORANGE or RED and who have a care plan approved and in
        /// force then (ACTIVE or REVIEW_DUE), ÷ those ORANGE or RED.
        high_risk_plan_coverage: Option<IndicatorValue>,
        /// Indicator 2 companion · median days from the triggering screening (or report) to the
        /// approval of first-version care plans approved in the period (建档立策天数中位数).
        plan_approval_days: Option<IndicatorStat>,
        /// Indicator 3 · head-teacher home-visit coverage (班主任家访完成率): enrolled in-scope
        /// children (as in indicator 1) visited at home by the head teacher in the school year up
        /// to the as-of time, ÷ those enrolled.
        home_visit_coverage: Option<IndicatorValue>,
        /// Indicator 4 · overdue follow-ups (逾期随访率): visit tasks due in the 90 days before the
        /// as-of day and not done by the as-of time, ÷ visit tasks due in those 90 days (children
        /// ACTIVE).
        overdue_follow_ups: Option<IndicatorValue>,
        /// Every open visit task past its due date, whatever its age (逾期未完成随访任务数).
        overdue_open: Option<IndicatorCount>,
        /// Open overdue visit tasks by kind (按类型).
        overdue_by_kind: Option<Vec<OverdueVisitKindCount>>,
        /// Indicator 5 · crisis first-response time (危机首次响应时长).
        crisis_response: Option<CrisisResponseIndicator>,
        /// Indicator 6 · referral turnaround (转介响应时长).
        referral_turnaround: Option<ReferralTurnaroundIndicator>,
        /// Indicator 7 · referral closure rate (转介闭环率), UP and DOWN.
        referral_closure: Option<ReferralClosureIndicator>,
        /// Indicator 8 · post-discharge follow-up within 7 days (出院随访及时率): treatment episodes
        /// discharged in the period shifted 7 days back with a completed post-discharge follow-up
        /// visit within 7 days of discharge, ÷ those episodes.
        post_discharge_follow_up: Option<IndicatorValue>,
        /// Indicator 9 · return to school within 30 days (复学率): episodes of children enrolled
        /// before admission, discharged in the period shifted 30 days back, whose return to
        /// school (RETURNED or later) has a return date within 30 days of discharge, ÷ those
        /// episodes.
        return_to_school: Option<IndicatorValue>,
        /// Indicator 10 · mandatory-report timeliness (强制报告及时率), with delay buckets.
        report_timeliness: Option<ReportTimelinessIndicator>,
        /// Concern and mandatory reports (any category) filed in the period (新增发现报告).
        reports_filed: Option<IndicatorCount>,
        /// Reports not closed whose deadline (`dueBy`) has passed (逾期未办结报告).
        reports_overdue: Option<IndicatorCount>,
    }
);

agg_object!(
    /// The period the indicators cover.
    IndicatorPeriod {
        /// School year (学年) of indicators 1 and 3, starting 1 September.
        school_year: Option<i32>,
        /// First day (inclusive).
        from: Option<NaiveDate>,
        /// Last day (inclusive).
        to: Option<NaiveDate>,
        /// The point in time of stock indicators (risk, coverage, overdue): the period's end or now.
        as_of: Option<DateTime<Utc>>,
    }
);

agg_object!(
    /// Indicators of a region and of each region one level down.
    Indicators {
        /// The region asked for.
        region: Option<RegionIndicators>,
        /// Each region one level down (with data or in the directory), by code.
        subregions: Option<Vec<RegionIndicators>>,
        /// The period covered.
        period: Option<IndicatorPeriod>,
        /// Whether small counts were suppressed for you (roles without row access).
        disclosure_control: Option<bool>,
    }
);

/// Counts of one region and which of them are suppressed.
struct Cells<'a> {
    group: &'a Group,
    hidden: Option<&'a [bool; MEASURES]>,
}

impl Cells<'_> {
    fn shown(&self, m: M) -> bool {
        self.hidden.is_none_or(|h| !h[m as usize])
    }

    fn count(&self, m: M) -> Option<IndicatorCount> {
        let shown = self.shown(m);
        Some(IndicatorCount {
            count: shown.then(|| self.group.get(m)),
            suppressed: Some(!shown),
        })
    }

    fn rate(&self, num: M, den: M) -> Option<IndicatorValue> {
        let (n_ok, d_ok) = (self.shown(num), self.shown(den));
        let (n, d) = (self.group.get(num), self.group.get(den));
        let value = (n_ok && d_ok && d > 0).then(|| n as f64 / d as f64);
        Some(IndicatorValue {
            value,
            numerator: n_ok.then_some(n),
            denominator: d_ok.then_some(d),
            suppressed: Some(!(n_ok && d_ok)),
        })
    }

    fn stat(&self, n: M, value: Option<f64>) -> Option<IndicatorStat> {
        let ok = self.shown(n);
        Some(IndicatorStat {
            value: if ok { value } else { None },
            count: ok.then(|| self.group.get(n)),
            suppressed: Some(!ok),
        })
    }

    fn region(&self, code: i64, digits: usize, name: Option<String>) -> RegionIndicators {
        let (crisis_median, crisis_p90) = median_p90(&self.group.crisis_hours);
        let (referral_median, _) = median_p90(&self.group.referral_hours);
        let (approval_median, _) = median_p90(&self.group.approval_days);
        RegionIndicators {
            region_code: Some(format_code(code)),
            name,
            level: Some(level_of(digits)),
            population: self.count(M::Population),
            risk_distribution: Some(RiskDistribution {
                unscreened: self.count(M::RiskNone),
                green: self.count(M::RiskGreen),
                yellow: self.count(M::RiskYellow),
                orange: self.count(M::RiskOrange),
                red: self.count(M::RiskRed),
            }),
            in_treatment: self.count(M::InTreatment),
            screening_coverage: self.rate(M::Screened, M::Enrolled),
            high_risk_plan_coverage: self.rate(M::HighRiskPlanned, M::HighRisk),
            plan_approval_days: self.stat(M::PlanApprovals, approval_median),
            home_visit_coverage: self.rate(M::HomeVisited, M::Enrolled),
            overdue_follow_ups: self.rate(M::VisitsOverdue90, M::VisitsDue90),
            overdue_open: self.count(M::OverdueOpen),
            overdue_by_kind: Some(
                carehub_entity::enums::VisitKind::ALL
                    .iter()
                    .zip(OVERDUE_BY_KIND)
                    .map(|(k, m)| OverdueVisitKindCount {
                        kind: Some((*k).into()),
                        count: self.count(m),
                    })
                    .collect(),
            ),
            crisis_response: Some(CrisisResponseIndicator {
                median_hours: self.stat(M::CrisisResponded, crisis_median),
                p90_hours: self.stat(M::CrisisResponded, crisis_p90),
                within_24h: self.rate(M::CrisisWithin24h, M::CrisisEvents),
            }),
            referral_turnaround: Some(ReferralTurnaroundIndicator {
                sent: self.count(M::ReferralsSent),
                median_hours: self.stat(M::ReferralsResponded, referral_median),
                within_sla: self.rate(M::ReferralsWithinSla, M::ReferralsSlaDue),
                acceptance: self.rate(M::ReferralsAccepted, M::ReferralsResponded),
            }),
            referral_closure: Some(ReferralClosureIndicator {
                up: self.rate(M::ClosureUpClosed, M::ClosureUpSent),
                down: self.rate(M::ClosureDownClosed, M::ClosureDownSent),
            }),
            post_discharge_follow_up: self.rate(M::DischargesFollowed, M::Discharges),
            return_to_school: self.rate(M::ReturnsWithin30d, M::ReturnsDue),
            report_timeliness: Some(ReportTimelinessIndicator {
                within_24h: self.rate(M::ReportDelay1d, M::HarmReports),
                up_to_1_day: self.count(M::ReportDelay1d),
                days_1_to_3: self.count(M::ReportDelay3d),
                days_3_to_7: self.count(M::ReportDelay7d),
                over_7_days: self.count(M::ReportDelayOver7d),
            }),
            reports_filed: self.count(M::ReportsFiled),
            reports_overdue: self.count(M::ReportsOverdue),
        }
    }
}

fn level_of(digits: usize) -> RegionLevel {
    match digits {
        2 => RegionLevel::Province,
        4 => RegionLevel::City,
        6 => RegionLevel::County,
        9 => RegionLevel::Township,
        _ => RegionLevel::Village,
    }
}

/// Digits of the level below (a village has none: its own).
fn child_digits(digits: usize) -> usize {
    LEVEL_DIGITS
        .iter()
        .copied()
        .find(|d| *d > digits)
        .unwrap_or(12)
}

/// Where reports without an identified child count for a caller with row access: only a plain
/// region scope reaches them (as for `reportRaised`).
fn unidentified_reach(rc: &RequestCtx, region: &RegionPrefix) -> Option<RegionPrefix> {
    match rc.policy.row_scope(&rc.principal) {
        RowScope::All => Some(region.clone()),
        RowScope::Filter(Pred::RegionPrefix(p)) => RegionPrefix::parse(&p).ok(),
        _ => None,
    }
}

/// The count families the selection of `indicators` reads: those of every field selected
/// under `region` and `subregions` (fragments included).
fn needs_of(ctx: &Context<'_>) -> Needs {
    let mut needs = Needs::NONE;
    for part in ctx.field().selection_set() {
        if matches!(part.name(), "region" | "subregions") {
            for f in part.selection_set() {
                needs = needs.with(Needs::of_field(f.name()));
            }
        }
    }
    needs
}

/// Indicator queries.
#[derive(Default)]
pub struct IndicatorQuery;

#[Object]
impl IndicatorQuery {
    /// The ten dynamic-monitoring indicators (十项动态监测指标) and the risk distribution of a
    /// region and of each region one level down, within your jurisdiction (the token's region)
    /// and row scope. Roles without row access see every count of the province's table under
    /// statistical disclosure control: counts from 1 to 4 are suppressed with complementary
    /// suppression, the same whichever region is asked, and periods are whole school years.
    /// Definitions: `docs/indicators.md`.
    async fn indicators(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Region code prefix (`45`, `4501`, `450102`, … or a 12-digit code)")]
        region_code: String,
        period: Option<IndicatorPeriodInput>,
    ) -> GqlResult<Option<Indicators>> {
        dir_check(ctx, "Query")?;
        let rc = RequestCtx::of(ctx);
        let region = parse_region("regionCode", &region_code).gql()?;
        let own = parse_region("token region", &rc.principal.region).gql()?;
        if !own.covers(&region) {
            return Err(ApiError::Forbidden {
                reason: format!("region {region} is outside your jurisdiction ({own})"),
                field: Some("Query.indicators".into()),
            }
            .into_gql());
        }
        let period = period.unwrap_or_default();
        let protected = rc.scope.is_none();
        if protected && (period.from.is_some() || period.to.is_some()) {
            return Err(ApiError::bad_input(
                if period.from.is_some() { "period.from" } else { "period.to" },
                "roles without row access see whole school years only (set period.schoolYear): the difference of two overlapping periods would reveal the small counts between them",
            )
            .into_gql());
        }
        let window = Window::new(period.school_year, period.from, period.to, rc.now).gql()?;
        let needs = needs_of(ctx);
        let db = &rc.app.db.read;
        let digits = region.as_str().len();
        let below = child_digits(digits);

        // One statement for the names of the region and its subregions.
        let directory = region::Entity::find()
            .filter(
                Condition::any()
                    .add(region::Column::Code.eq(region.code()))
                    .add(region::Column::ParentCode.eq(region.code())),
            )
            .all(db)
            .await
            .map_err(ApiError::from)
            .gql()?;
        let name_of = |code: i64, d: usize| -> Option<String> {
            if d > digits && code == region.code() {
                return Some("未细分".to_owned());
            }
            directory
                .iter()
                .find(|r| r.code == code && (d == digits || r.parent_code == Some(region.code())))
                .map(|r| r.name.clone())
        };
        let mut sub_codes: BTreeSet<i64> = directory
            .iter()
            .filter(|r| r.parent_code == Some(region.code()) && below > digits)
            .map(|r| r.code)
            .collect();

        let (head, subs) = if protected {
            // The whole province, down to villages: suppression never depends on the question.
            let province = parse_region("regionCode", &region.as_str()[..2]).gql()?;
            let extent = Extent {
                region: province.clone(),
                group_digits: 12,
                scope: None,
                unidentified_reports: Some(province.clone()),
            };
            let leaves = svc::compute(db, &extent, &window, needs).await.gql()?;
            let mut tree = Tree::build(&province, &leaves);
            tree.protect();
            let empty = Group::default();
            let node = tree.get(digits, region.code());
            let cells = |n: Option<&sdc::Node>| -> (Group, Option<[bool; MEASURES]>) {
                match n {
                    Some(n) => (n.group.clone(), Some(n.hidden)),
                    None => (empty.clone(), None),
                }
            };
            let (g, h) = cells(node);
            let head = Cells {
                group: &g,
                hidden: h.as_ref(),
            }
            .region(region.code(), digits, name_of(region.code(), digits));
            if let Some(n) = node.filter(|_| below > digits) {
                sub_codes.extend(tree.children_of(n).map(|c| c.code));
            }
            let subs: Vec<RegionIndicators> = sub_codes
                .iter()
                .map(|code| {
                    let (g, h) = cells(tree.get(below, *code));
                    Cells {
                        group: &g,
                        hidden: h.as_ref(),
                    }
                    .region(*code, below, name_of(*code, below))
                })
                .collect();
            (head, subs)
        } else {
            let extent = Extent {
                region: region.clone(),
                group_digits: below,
                scope: rc.scope_within(Some(&region)).ok(),
                unidentified_reports: unidentified_reach(rc, &region),
            };
            let groups: BTreeMap<i64, Group> =
                svc::compute(db, &extent, &window, needs).await.gql()?;
            let mut total = Group::default();
            for g in groups.values() {
                total.absorb(g);
            }
            let head = Cells {
                group: &total,
                hidden: None,
            }
            .region(region.code(), digits, name_of(region.code(), digits));
            let subs = if below > digits {
                sub_codes.extend(groups.keys().copied());
                let empty = Group::default();
                sub_codes
                    .iter()
                    .map(|code| {
                        Cells {
                            group: groups.get(code).unwrap_or(&empty),
                            hidden: None,
                        }
                        .region(*code, below, name_of(*code, below))
                    })
                    .collect()
            } else {
                Vec::new()
            };
            (head, subs)
        };
        Ok(Some(Indicators {
            region: Some(head),
            subregions: Some(subs),
            period: Some(IndicatorPeriod {
                school_year: Some(window.school_year),
                from: Some(window.from),
                to: Some(window.to),
                as_of: Some(window.as_of),
            }),
            disclosure_control: Some(protected),
        }))
    }
}
