//! The root `Mutation`: one object per area, merged. Every mutation is one transaction whose
//! input fields were authorized as writes before it began (see `authz::inputs`) and against the
//! target row inside it (see `write::WriteCtx::authorize`).

mod access;
mod care_plan;
mod child;
mod crisis;
mod enrollment;
mod flag;
mod guardian;
mod lawful_basis;
mod pairing;
mod referral;
mod report;
mod return_to_school;
mod screening;
mod service_record;
mod supervision;
mod treatment;
mod victim_aid;
mod visit;

use async_graphql::MergedObject;

/// Write operations.
#[derive(MergedObject, Default)]
pub struct Mutation(
    access::AccessMutation,
    child::ChildMutation,
    screening::ScreeningMutation,
    visit::VisitMutation,
    report::ReportMutation,
    referral::ReferralMutation,
    treatment::TreatmentMutation,
    MoreMutation,
);

/// The second half of the mutations (MergedObject takes at most 16 parts per level).
#[derive(MergedObject, Default)]
pub struct MoreMutation(
    guardian::GuardianMutation,
    enrollment::EnrollmentMutation,
    care_plan::CarePlanMutation,
    pairing::PairingMutation,
    crisis::CrisisMutation,
    return_to_school::ReturnToSchoolMutation,
    victim_aid::VictimAidMutation,
    service_record::ServiceRecordMutation,
    lawful_basis::LawfulBasisMutation,
    supervision::SupervisionMutation,
    flag::FlagMutation,
);

use crate::error::ApiError;

/// Checks that a date/time lies in the past (or now).
pub fn not_future(field: &str, t: chrono::DateTime<chrono::Utc>) -> Result<(), ApiError> {
    if t > chrono::Utc::now() + chrono::Duration::minutes(5) {
        return Err(ApiError::bad_input(field, "must not be in the future"));
    }
    Ok(())
}

/// Checks a non-empty text of at most `max` characters.
pub fn text(field: &str, v: &str, max: usize) -> Result<String, ApiError> {
    let t = v.trim();
    if t.is_empty() {
        return Err(ApiError::bad_input(field, "must not be empty"));
    }
    if t.chars().count() > max {
        return Err(ApiError::bad_input(
            field,
            format!("must be at most {max} characters"),
        ));
    }
    Ok(t.to_owned())
}

/// Optional text of at most `max` characters.
pub fn opt_text(field: &str, v: Option<&str>, max: usize) -> Result<Option<String>, ApiError> {
    v.map(|s| text(field, s, max)).transpose()
}
