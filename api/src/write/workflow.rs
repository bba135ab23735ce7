//! The workflows of DESIGN.md §2 as explicit state tables. A transition not in the table is
//! refused with `BAD_USER_INPUT` naming the current state and the allowed next states.

use carehub_entity::enums::{CarePlanStatus, ReferralStatus, ReportStatus, ReturnStatus};

use crate::error::ApiError;

/// A state machine: its name and every allowed (from, to) pair.
pub struct Machine<S: 'static> {
    pub name: &'static str,
    pub transitions: &'static [(S, S)],
}

/// Enum states with a stored name.
pub trait State: Copy + PartialEq + 'static {
    fn name(&self) -> &'static str;
}

macro_rules! state {
    ($($t:ty),*) => {$(impl State for $t { fn name(&self) -> &'static str { self.as_str() } })*};
}
state!(ReferralStatus, ReportStatus, CarePlanStatus, ReturnStatus);

impl<S: State> Machine<S> {
    /// The states reachable from `from` in one step.
    pub fn next(&self, from: S) -> Vec<S> {
        self.transitions
            .iter()
            .filter(|(f, _)| *f == from)
            .map(|(_, t)| *t)
            .collect()
    }

    /// Whether `from → to` is allowed.
    pub fn allows(&self, from: S, to: S) -> bool {
        self.transitions.iter().any(|(f, t)| *f == from && *t == to)
    }

    /// Checks a transition.
    pub fn check(&self, from: S, to: S) -> Result<(), ApiError> {
        if self.allows(from, to) {
            return Ok(());
        }
        let next: Vec<&str> = self.next(from).iter().map(State::name).collect();
        Err(ApiError::bad_input(
            "status",
            format!(
                "a {} cannot go from {} to {}; allowed next: {}",
                self.name,
                from.name(),
                to.name(),
                if next.is_empty() {
                    "none (final state)".to_owned()
                } else {
                    next.join(", ")
                }
            ),
        ))
    }
}

use ReferralStatus as R;
/// Referral (转介): DRAFT → SENT → RECEIVED → ACCEPTED → IN_SERVICE → COMPLETED → CLOSED;
/// RECEIVED → REJECTED; ACCEPTED/IN_SERVICE → FAILED; SENT/RECEIVED → REVOKED.
pub const REFERRAL: Machine<ReferralStatus> = Machine {
    name: "referral",
    transitions: &[
        (R::Draft, R::Sent),
        (R::Sent, R::Received),
        (R::Received, R::Accepted),
        (R::Accepted, R::InService),
        (R::InService, R::Completed),
        (R::Completed, R::Closed),
        (R::Received, R::Rejected),
        (R::Accepted, R::Failed),
        (R::InService, R::Failed),
        (R::Sent, R::Revoked),
        (R::Received, R::Revoked),
        // Rejected, failed and revoked referrals are closed once the sender has followed up.
        (R::Rejected, R::Closed),
        (R::Failed, R::Closed),
        (R::Revoked, R::Closed),
    ],
};

use ReportStatus as P;
/// Report (强制报告): REPORTED → ACKNOWLEDGED → HANDLING → CLOSED.
pub const REPORT: Machine<ReportStatus> = Machine {
    name: "report",
    transitions: &[
        (P::Reported, P::Acknowledged),
        (P::Acknowledged, P::Handling),
        (P::Handling, P::Closed),
    ],
};

use CarePlanStatus as C;
/// Care plan: DRAFT → SUBMITTED → ACTIVE ⇄ REVIEW_DUE → COMPLETED | CLOSED; SUBMITTED →
/// RETURNED → DRAFT.
pub const CARE_PLAN: Machine<CarePlanStatus> = Machine {
    name: "care plan",
    transitions: &[
        (C::Draft, C::Submitted),
        (C::Submitted, C::Active),
        (C::Submitted, C::Returned),
        (C::Returned, C::Draft),
        (C::Active, C::ReviewDue),
        (C::ReviewDue, C::Active),
        (C::Active, C::Completed),
        (C::ReviewDue, C::Completed),
        (C::Active, C::Closed),
        (C::ReviewDue, C::Closed),
    ],
};

use ReturnStatus as T;
/// Return to school (复学): PENDING_CLEARANCE → CLEARED → PLANNING → RETURNED → MONITORING → CLOSED.
pub const RETURN_TO_SCHOOL: Machine<ReturnStatus> = Machine {
    name: "return to school",
    transitions: &[
        (T::PendingClearance, T::Cleared),
        (T::Cleared, T::Planning),
        (T::Planning, T::Returned),
        (T::Returned, T::Monitoring),
        (T::Monitoring, T::Closed),
    ],
};

#[cfg(test)]
mod tests {
    use super::*;

    /// Every pair of states: allowed exactly when listed, and the refusal names the allowed
    /// next states.
    fn exhaustive<S: State + std::fmt::Debug>(m: &Machine<S>, all: &[S]) {
        for from in all {
            for to in all {
                let listed = m.transitions.contains(&(*from, *to));
                match m.check(*from, *to) {
                    Ok(()) => assert!(listed, "{from:?} -> {to:?} allowed but not listed"),
                    Err(e) => {
                        assert!(!listed, "{from:?} -> {to:?} listed but refused");
                        let msg = e.to_string();
                        assert!(
                            msg.contains(from.name()) && msg.contains(to.name()),
                            "{msg}"
                        );
                        for n in m.next(*from) {
                            assert!(msg.contains(n.name()), "{msg} lacks {}", n.name());
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn referral_table() {
        exhaustive(&REFERRAL, ReferralStatus::ALL);
        assert!(REFERRAL.next(ReferralStatus::Closed).is_empty());
    }

    #[test]
    fn report_table() {
        exhaustive(&REPORT, ReportStatus::ALL);
    }

    #[test]
    fn care_plan_table() {
        exhaustive(&CARE_PLAN, CarePlanStatus::ALL);
    }

    #[test]
    fn return_table() {
        exhaustive(&RETURN_TO_SCHOOL, ReturnStatus::ALL);
    }
}
