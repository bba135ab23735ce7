//! The shared child record (DESIGN.md §2): the child, dated difficulty categories, guardians,
//! schooling, screenings, care plans, visits, pairings, reports, crisis events, referrals,
//! treatment, return to school, victim aid, services, flags, lawful bases, supervision findings,
//! and the transition history of every workflow.

use crate::cols::*;
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const TABLES: &[&str] = &[
    "children",
    "child_difficulties",
    "guardians",
    "enrollments",
    "screenings",
    "care_plans",
    "care_plan_interventions",
    "visits",
    "pairings",
    "reports",
    "crisis_events",
    "referrals",
    "treatment_episodes",
    "returns_to_school",
    "victim_aid",
    "service_records",
    "flags",
    "lawful_bases",
    "supervision_findings",
    "workflow_transitions",
];

fn children() -> TableCreateStatement {
    let mut t = record("children");
    t.col(string("display_name"))
        .col(string("gender"))
        .col(string("birth_year_month"))
        .col(big_integer("residence_region_code"))
        // The residence's city and county codes, kept with it, so the common "my county" and
        // "my city" scopes are equality lookups that also serve the recency order.
        .col(big_integer("city_code"))
        .col(big_integer("county_code"))
        .col(big_integer("household_region_code"))
        .col(string("status"))
        .col(uuid_null("responsible_org_id"))
        .col(string("name"))
        // The ID number is never stored in clear: authenticated ciphertext (with key id), an
        // HMAC blind index for exact lookup, and the display mask computed at write time.
        .col(text_null("id_number_enc"))
        .col(string_null("id_number_bidx"))
        .col(string_null("id_number_mask"))
        .col(date("birth_date"))
        .col(string_null("ethnicity"))
        .col(text_null("address"))
        .col(string_null("phone"))
        .col(string_null("living_arrangement"))
        .col(boolean("key_case").default(false))
        // Derived, maintained transactionally by every write that changes them.
        .col(string_null("current_risk_level"))
        // 0 = never screened, 1 GREEN … 4 RED: orders and ranges by severity on both backends.
        .col(small_integer("risk_rank").default(0))
        .col(timestamp_with_time_zone_null("risk_updated_at"))
        .col(boolean("in_treatment").default(false))
        .col(boolean_null("fit_to_return"))
        .foreign_key(&mut fk("children", "responsible_org_id", "organizations"));
    t
}

fn tables() -> Vec<TableCreateStatement> {
    let mut v = vec![children()];
    let mut t = child_record("child_difficulties");
    t.col(string("category"))
        .col(date("valid_from"))
        .col(date_null("valid_to"))
        .col(string_null("verified_by"))
        .col(timestamp_with_time_zone_null("verified_at"));
    v.push(t);

    let mut t = child_record("guardians");
    t.col(string("name"))
        .col(string("relation"))
        .col(boolean("is_legal_guardian"))
        .col(boolean("is_actual_caregiver"))
        .col(string_null("phone"))
        .col(text_null("id_number_enc"))
        .col(string_null("id_number_bidx"))
        .col(string_null("id_number_mask"))
        .col(string("guardianship_status"))
        .col(text_null("situation"));
    v.push(t);

    let mut t = child_record("enrollments");
    t.col(uuid("school_id"))
        .col(integer("school_year"))
        .col(integer("grade"))
        .col(string_null("class_name"))
        .col(string_null("head_teacher"))
        .col(string("status"))
        .foreign_key(&mut fk("enrollments", "school_id", "organizations"));
    v.push(t);

    let mut t = child_record("screenings");
    t.col(integer("school_year"))
        .col(string("instrument"))
        .col(timestamp_with_time_zone("administered_at"))
        .col(uuid_null("organization_id"))
        .col(double_null("score"))
        .col(json_null("item_answers"))
        .col(text_null("notes"))
        .col(string("risk_level"))
        .col(text_null("recommended_next_step"))
        .foreign_key(&mut fk("screenings", "organization_id", "organizations"));
    v.push(t);

    let mut t = child_record("care_plans");
    t.col(string("kind"))
        .col(uuid_null("trigger_screening_id"))
        .col(uuid_null("trigger_report_id"))
        .col(string_null("risk_level_at_start"))
        .col(text_null("goals"))
        .col(date_null("review_due"))
        .col(string_null("approver"))
        .col(timestamp_with_time_zone_null("approved_at"))
        .col(string("status"))
        .col(integer("plan_version").default(1))
        .col(uuid_null("previous_version_id"))
        .col(string_null("lead_worker"))
        .col(uuid_null("organization_id"))
        .foreign_key(&mut fk("care_plans", "organization_id", "organizations"));
    v.push(t);

    v.push(
        Table::create()
            .table("care_plan_interventions")
            .if_not_exists()
            .col(pk_uuid("id"))
            .col(uuid("care_plan_id"))
            .col(integer("position"))
            .col(text("action"))
            .col(string_null("responsible_agency"))
            .col(string_null("responsible_worker"))
            .col(string_null("frequency"))
            .col(date_null("due"))
            .col(timestamp_with_time_zone_null("done_at"))
            .foreign_key(&mut fk(
                "care_plan_interventions",
                "care_plan_id",
                "care_plans",
            ))
            .to_owned(),
    );

    let mut t = child_record("visits");
    t.col(string("kind"))
        .col(date_null("due_date"))
        .col(timestamp_with_time_zone_null("done_at"))
        .col(string_null("visitor"))
        .col(uuid_null("organization_id"))
        .col(json_null("stressors"))
        .col(text_null("observations"))
        .col(date_null("next_due"))
        .col(uuid_null("referral_id"))
        .foreign_key(&mut fk("visits", "organization_id", "organizations"));
    v.push(t);

    let mut t = child_record("pairings");
    t.col(string("kind"))
        .col(string("supporter"))
        .col(uuid_null("organization_id"))
        .col(date("start_date"))
        .col(date_null("end_date"))
        .col(string_null("contact_frequency"))
        .foreign_key(&mut fk("pairings", "organization_id", "organizations"));
    v.push(t);

    // A report may name no child yet (an anonymous 12355 call): child_id is nullable and the
    // place it concerns is kept for scoping.
    let mut t = record("reports");
    t.col(uuid_null("child_id"))
        .col(big_integer_null("region_code"))
        .col(string_null("reporter"))
        .col(uuid_null("reporter_org_id"))
        .col(boolean("anonymous_caller").default(false))
        .col(string("category"))
        .col(timestamp_with_time_zone_null("occurred_at"))
        .col(timestamp_with_time_zone("discovered_at"))
        .col(timestamp_with_time_zone("reported_at"))
        .col(json_null("reported_to"))
        .col(string_null("police_ref"))
        .col(string("urgency"))
        .col(timestamp_with_time_zone("due_by"))
        .col(string("status"))
        .col(text_null("description"))
        .foreign_key(&mut fk("reports", "child_id", "children"))
        .foreign_key(&mut fk("reports", "reporter_org_id", "organizations"));
    v.push(t);

    let mut t = child_record("crisis_events");
    t.col(string("trigger"))
        .col(string("risk_level"))
        .col(timestamp_with_time_zone("occurred_at"))
        .col(timestamp_with_time_zone_null("first_response_at"))
        .col(timestamp_with_time_zone_null("resolved_at"))
        .col(timestamp_with_time_zone_null("guardian_informed_at"))
        .col(text_null("safety_measures"))
        .col(boolean("emergency_services_called").default(false))
        .col(uuid_null("urgent_referral_id"))
        .col(text_null("notes"));
    v.push(t);

    let mut t = child_record("referrals");
    t.col(uuid("from_org_id"))
        .col(uuid("to_org_id"))
        .col(string("direction"))
        .col(uuid_null("parent_referral_id"))
        .col(text_null("reason"))
        .col(string("urgency"))
        .col(json("authorized_view"))
        .col(uuid_null("lawful_basis_id"))
        .col(string("status"))
        .col(timestamp_with_time_zone_null("sla_due_at"))
        .col(boolean("escalated").default(false))
        .col(timestamp_with_time_zone_null("sent_at"))
        .col(timestamp_with_time_zone_null("responded_at"))
        .col(timestamp_with_time_zone_null("closed_at"))
        .col(text_null("outcome_note"))
        .col(text_null("rejection_reason"))
        .col(uuid_null("treatment_episode_id"))
        .foreign_key(&mut fk("referrals", "from_org_id", "organizations"))
        .foreign_key(&mut fk("referrals", "to_org_id", "organizations"));
    v.push(t);

    let mut t = child_record("treatment_episodes");
    t.col(uuid("organization_id"))
        .col(string("setting"))
        .col(timestamp_with_time_zone("admitted_at"))
        .col(timestamp_with_time_zone_null("discharged_at"))
        .col(string_null("diagnosis_code"))
        .col(boolean("severe_mental_disorder").default(false))
        .col(text_null("discharge_summary"))
        .col(string_null("clinician"))
        .col(boolean_null("fit_to_return"))
        .col(text_null("follow_up_advice"))
        .col(timestamp_with_time_zone_null("next_appointment"))
        .col(uuid_null("referral_id"))
        .foreign_key(&mut fk(
            "treatment_episodes",
            "organization_id",
            "organizations",
        ));
    v.push(t);

    let mut t = child_record("returns_to_school");
    t.col(uuid("school_id"))
        .col(uuid_null("treatment_episode_id"))
        .col(text_null("clearance"))
        .col(timestamp_with_time_zone_null("cleared_at"))
        .col(string_null("cleared_by"))
        .col(text_null("accommodations"))
        .col(date_null("return_date"))
        .col(string("status"))
        .col(uuid_null("enrollment_id"))
        .foreign_key(&mut fk("returns_to_school", "school_id", "organizations"));
    v.push(t);

    let mut t = child_record("victim_aid");
    t.col(uuid_null("report_id"))
        .col(string_null("case_ref"))
        .col(json_null("services"))
        .col(string("status"))
        .col(string_null("worker"))
        .col(uuid_null("organization_id"))
        .foreign_key(&mut fk("victim_aid", "report_id", "reports"));
    v.push(t);

    let mut t = record("service_records");
    t.col(uuid_null("child_id"))
        .col(string("kind"))
        .col(uuid_null("organization_id"))
        .col(string("provider"))
        .col(timestamp_with_time_zone("occurred_at"))
        .col(integer_null("duration_minutes"))
        .col(uuid_null("care_plan_id"))
        .col(uuid_null("referral_id"))
        .col(text_null("summary"))
        .foreign_key(&mut fk("service_records", "child_id", "children"));
    v.push(t);

    let mut t = child_record("flags");
    t.col(string("kind"))
        .col(string("raised_by"))
        .col(text("message"))
        .col(timestamp_with_time_zone("raised_at"))
        .col(timestamp_with_time_zone_null("resolved_at"))
        .col(text_null("resolution"))
        .col(string_null("resolved_by"))
        // What the flag is about (e.g. the overdue visit's id), so the system raises it once.
        .col(string_null("subject_key"));
    v.push(t);

    let mut t = child_record("lawful_bases");
    t.col(string("grantor"))
        .col(string_null("grantor_relation"))
        .col(string("basis"))
        .col(json("purposes"))
        .col(json("recipients"))
        .col(json("field_groups"))
        .col(timestamp_with_time_zone("valid_from"))
        .col(timestamp_with_time_zone_null("valid_to"))
        .col(timestamp_with_time_zone_null("withdrawn_at"))
        .col(string_null("document_ref"))
        .col(string_null("legal_reference"));
    v.push(t);

    let mut t = record("supervision_findings");
    t.col(big_integer("region_code"))
        .col(uuid_null("organization_id"))
        .col(string("period"))
        .col(json_null("indicators"))
        .col(text("finding"))
        .col(date_null("rectification_due"))
        .col(string("status"));
    v.push(t);

    v.push(
        Table::create()
            .table("workflow_transitions")
            .if_not_exists()
            .col(pk_uuid("id"))
            .col(string("entity"))
            .col(uuid("record_id"))
            .col(uuid_null("child_id"))
            .col(string_null("from_status"))
            .col(string("to_status"))
            .col(timestamp_with_time_zone("at"))
            .col(string("actor"))
            .col(string_null("actor_org"))
            .col(text_null("note"))
            .to_owned(),
    );
    v
}

fn indexes() -> Vec<IndexCreateStatement> {
    let mut v = vec![
        // Row scopes: jurisdiction is a range over the residence code; lists order by recency.
        index("children", &["residence_region_code", "updated_at"]),
        index("children", &["county_code", "updated_at", "id"]),
        index("children", &["city_code", "updated_at", "id"]),
        index("children", &["updated_at"]),
        index("children", &["responsible_org_id"]),
        index("children", &["risk_rank", "residence_region_code"]),
        index("children", &["id_number_bidx"]),
        index("children", &["name", "birth_date"]),
        index("enrollments", &["school_id", "status", "child_id"]),
        index("enrollments", &["head_teacher"]),
        index("screenings", &["child_id", "administered_at"]),
        index("screenings", &["school_year", "child_id"]),
        index("care_plans", &["child_id", "status"]),
        index("care_plans", &["lead_worker"]),
        index("care_plan_interventions", &["care_plan_id", "position"]),
        index("visits", &["child_id", "due_date"]),
        index("visits", &["visitor"]),
        index("visits", &["kind", "done_at"]),
        index("pairings", &["child_id"]),
        index("pairings", &["supporter"]),
        index("reports", &["child_id", "reported_at"]),
        index("reports", &["region_code", "status"]),
        index("reports", &["created_by"]),
        index("crisis_events", &["child_id", "occurred_at"]),
        index("referrals", &["child_id", "status"]),
        index("referrals", &["to_org_id", "status", "child_id"]),
        index("referrals", &["from_org_id", "status"]),
        index("referrals", &["parent_referral_id"]),
        index("treatment_episodes", &["child_id", "admitted_at"]),
        index("treatment_episodes", &["organization_id", "child_id"]),
        index("returns_to_school", &["child_id", "status"]),
        index("victim_aid", &["child_id"]),
        index("victim_aid", &["worker"]),
        index("service_records", &["child_id", "occurred_at"]),
        index("service_records", &["created_by"]),
        index("flags", &["child_id", "resolved_at"]),
        index("flags", &["kind", "resolved_at"]),
        index("lawful_bases", &["child_id", "withdrawn_at"]),
        index("supervision_findings", &["region_code", "period"]),
        index("workflow_transitions", &["entity", "record_id", "at"]),
        index("child_difficulties", &["child_id"]),
        index("child_difficulties", &["category", "child_id"]),
        index("guardians", &["child_id"]),
        index("guardians", &["id_number_bidx"]),
    ];
    v.push(index("children", &["created_by"]));
    v
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        create_all(manager, tables(), indexes()).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_all(manager, TABLES).await
    }
}
