//! Row scopes as SQL: the policy's abstract predicate over a child becomes a SeaORM
//! `Condition` on the `children` table, so rows outside the scope are never fetched and counts,
//! pagination and latency stay right.

use carehub_entity::enums::{EnrollmentStatus, ReferralStatus};
use carehub_policy::Pred;
use sea_orm::sea_query::{Expr, ExprTrait, Query, SelectStatement};
use sea_orm::{Condition, Value};
use uuid::Uuid;

use crate::domain::region::RegionPrefix;

/// A condition that is never true (an unparsable id in a token must match nothing).
pub fn never() -> Condition {
    Condition::all().add(Expr::cust("1 = 0"))
}

fn exists_where(table: &'static str, build: impl FnOnce(&mut SelectStatement)) -> Expr {
    let mut q = Query::select();
    q.expr(Expr::val(1))
        .from(table)
        .and_where(Expr::col((table, "child_id")).equals(("children", "id")));
    build(&mut q);
    Expr::exists(q)
}

fn uuid_or_never(s: &str) -> Option<Uuid> {
    Uuid::parse_str(s).ok()
}

fn not_archived(q: &mut SelectStatement, table: &'static str) {
    q.and_where(Expr::col((table, "archived_at")).is_null());
}

/// The children whose residence lies inside `prefix`.
pub fn region_condition(prefix: &RegionPrefix) -> Condition {
    // City and county scopes use the kept codes (equality, index-ordered by recency).
    match prefix.as_str().len() {
        4 => return Condition::all().add(Expr::col(("children", "city_code")).eq(prefix.code())),
        6 => return Condition::all().add(Expr::col(("children", "county_code")).eq(prefix.code())),
        _ => {}
    }
    let (lo, hi) = prefix.range();
    Condition::all()
        .add(Expr::col(("children", "residence_region_code")).gte(lo))
        .add(Expr::col(("children", "residence_region_code")).lt(hi))
}

/// Translates one predicate of the policy into a condition on `children`.
pub fn to_condition(pred: &Pred) -> Condition {
    match pred {
        Pred::And(v) => v
            .iter()
            .fold(Condition::all(), |c, p| c.add(to_condition(p))),
        Pred::Or(v) => {
            if v.is_empty() {
                return never();
            }
            v.iter()
                .fold(Condition::any(), |c, p| c.add(to_condition(p)))
        }
        Pred::RegionPrefix(p) => match RegionPrefix::parse(p) {
            Ok(prefix) => region_condition(&prefix),
            Err(_) => never(),
        },
        Pred::OrgStudents { org } => match uuid_or_never(org) {
            Some(org) => Condition::all().add(exists_where("enrollments", |q| {
                q.and_where(Expr::col(("enrollments", "school_id")).eq(Value::from(org)))
                    .and_where(
                        Expr::col(("enrollments", "status"))
                            .eq(EnrollmentStatus::Enrolled.as_str()),
                    );
                not_archived(q, "enrollments");
            })),
            None => never(),
        },
        Pred::Class { org, teacher } => match uuid_or_never(org) {
            Some(org) => Condition::all().add(exists_where("enrollments", |q| {
                q.and_where(Expr::col(("enrollments", "school_id")).eq(Value::from(org)))
                    .and_where(Expr::col(("enrollments", "head_teacher")).eq(teacher.as_str()))
                    .and_where(
                        Expr::col(("enrollments", "status"))
                            .eq(EnrollmentStatus::Enrolled.as_str()),
                    );
                not_archived(q, "enrollments");
            })),
            None => never(),
        },
        Pred::Referred { org } => match uuid_or_never(org) {
            Some(org) => Condition::all().add(exists_where("referrals", |q| {
                q.and_where(Expr::col(("referrals", "to_org_id")).eq(Value::from(org)))
                    .and_where(
                        Expr::col(("referrals", "status"))
                            .is_in(ReferralStatus::OPEN.iter().map(|s| s.as_str())),
                    );
                not_archived(q, "referrals");
            })),
            None => never(),
        },
        Pred::Episode { org } => match uuid_or_never(org) {
            Some(org) => Condition::all().add(exists_where("treatment_episodes", |q| {
                q.and_where(
                    Expr::col(("treatment_episodes", "organization_id")).eq(Value::from(org)),
                );
                not_archived(q, "treatment_episodes");
            })),
            None => never(),
        },
        Pred::Assigned { sub } => Condition::any()
            .add(exists_where("care_plans", |q| {
                q.and_where(Expr::col(("care_plans", "lead_worker")).eq(sub.as_str()));
                not_archived(q, "care_plans");
            }))
            .add(exists_where("pairings", |q| {
                q.and_where(Expr::col(("pairings", "supporter")).eq(sub.as_str()));
                not_archived(q, "pairings");
            }))
            .add(exists_where("visits", |q| {
                q.and_where(Expr::col(("visits", "visitor")).eq(sub.as_str()))
                    .and_where(Expr::col(("visits", "done_at")).is_null());
                not_archived(q, "visits");
            }))
            .add(exists_where("victim_aid", |q| {
                q.and_where(Expr::col(("victim_aid", "worker")).eq(sub.as_str()));
                not_archived(q, "victim_aid");
            })),
        Pred::Identified { sub } => Condition::any()
            .add(Expr::col(("children", "created_by")).eq(sub.as_str()))
            .add(exists_where("reports", |q| {
                q.and_where(Expr::col(("reports", "created_by")).eq(sub.as_str()));
            }))
            .add(exists_where("service_records", |q| {
                q.and_where(Expr::col(("service_records", "created_by")).eq(sub.as_str()));
            })),
        Pred::Institution { org } => match uuid_or_never(org) {
            Some(org) => Condition::all()
                .add(Expr::col(("children", "responsible_org_id")).eq(Value::from(org))),
            None => never(),
        },
    }
}
