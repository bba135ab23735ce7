//! Malformed and dangerous policies: each is the default policy with one change, and each must
//! be refused with the specific message (file, line, role, group, field) a reviewer needs.

use carehub_policy::{Policy, PolicyError, DEFAULT_POLICY_TOML};

/// The default policy with `from` (which must occur exactly once) replaced by `to`.
fn mutate(from: &str, to: &str) -> String {
    assert_eq!(
        DEFAULT_POLICY_TOML.matches(from).count(),
        1,
        "{from:?} must occur exactly once in remits.toml"
    );
    DEFAULT_POLICY_TOML.replacen(from, to, 1)
}

/// 1-based line of the first occurrence of `needle` in `text`.
fn line_of(text: &str, needle: &str) -> usize {
    let at = text
        .find(needle)
        .unwrap_or_else(|| panic!("{needle:?} not found"));
    text[..at].matches('\n').count() + 1
}

/// The messages of the errors the policy text is refused with.
fn errors(text: &str) -> Vec<String> {
    match Policy::from_toml_str(text, "remits.toml") {
        Ok(_) => panic!("the policy was accepted"),
        Err(e) => e.errors().iter().map(ToString::to_string).collect(),
    }
}

fn assert_has(errors: &[String], expected: &str) {
    assert!(
        errors.iter().any(|e| e == expected),
        "expected\n  {expected}\namong\n  {}",
        errors.join("\n  ")
    );
}

/// The role block of `role`: from its `name = ` line to the next `[[roles]]` or section.
fn role_block(role: &str) -> &'static str {
    let start = DEFAULT_POLICY_TOML
        .find(&format!("name = \"{role}\""))
        .expect("role");
    let rest = &DEFAULT_POLICY_TOML[start..];
    let end = rest
        .find("\n[[roles]]")
        .or_else(|| rest.find("\n# ---"))
        .expect("end of role");
    &DEFAULT_POLICY_TOML[start..start + end]
}

#[test]
fn default_policy_is_valid() {
    Policy::from_toml_str(DEFAULT_POLICY_TOML, "remits.toml").expect("valid");
}

#[test]
fn toml_syntax_error_names_the_line() {
    let text = mutate("format = 1", "format = = 1");
    let errs = errors(&text);
    assert_eq!(errs.len(), 1);
    assert!(
        errs[0].starts_with(&format!("remits.toml:{}: ", line_of(&text, "format = = 1"))),
        "{}",
        errs[0]
    );
}

#[test]
fn misspelt_key_is_refused() {
    let text = mutate("[break_glass]\nnever = [", "[break_glass]\nnevr = [");
    let errs = errors(&text);
    assert!(errs[0].contains("nevr"), "{}", errs[0]);
    assert!(
        errs[0].starts_with(&format!("remits.toml:{}:", line_of(&text, "nevr"))),
        "{}",
        errs[0]
    );
}

#[test]
fn unsupported_format() {
    let text = mutate("format = 1", "format = 2");
    assert_has(
        &errors(&text),
        &format!(
            "remits.toml:{}: policy format 2 is not supported; this carehub reads format 1",
            line_of(&text, "format = 2")
        ),
    );
}

#[test]
fn head_teacher_may_not_write_clinical_data() {
    let text = mutate(
        "write = [\"G-META\", \"G-PLAN\", \"G-VISIT-NOTES\"]\n# Schools keep",
        "write = [\"G-META\", \"G-PLAN\", \"G-VISIT-NOTES\", \"G-CLIN\"]\n# Schools keep",
    );
    let line = line_of(&text, "\"G-VISIT-NOTES\", \"G-CLIN\"]");
    let errs = errors(&text);
    assert_has(
        &errs,
        &format!("remits.toml:{line}: role education.head_teacher grants write on field group G-CLIN, which only HEALTH roles may write"),
    );
    assert_has(
        &errs,
        &format!(
            "remits.toml:{line}: role education.head_teacher writes field group G-CLIN but does not read it; a worker must see what they change (only PARTNER roles may write without reading)"
        ),
    );
    assert_eq!(errs.len(), 2, "{errs:#?}");
}

#[test]
fn single_field_write_respects_writable_by() {
    let text = mutate(
        "write_fields = [\"Guardian.phone\", \"Mutation.updateGuardian\", \"UpdateGuardianInput.phone\"]",
        "write_fields = [\"Guardian.phone\", \"Mutation.updateGuardian\", \"UpdateGuardianInput.phone\", \"TreatmentEpisode.diagnosisCode\"]",
    );
    let line = line_of(&text, "TreatmentEpisode.diagnosisCode\"]");
    assert_has(
        &errors(&text),
        &format!(
            "remits.toml:{line}: role education.head_teacher grants write on field TreatmentEpisode.diagnosisCode of group G-CLIN, which only HEALTH roles may write"
        ),
    );
}

#[test]
fn abuse_group_is_civil_affairs_and_womens_federation_only() {
    let text = mutate(
        "write = [\"G-META\", \"G-PLAN\", \"G-SERVICE-NOTES\", \"G-REF\"]\nown_org_only = { read = [\"G-SERVICE-NOTES\"], write = [\"G-SERVICE-NOTES\"] }\n\n[[roles]]\nname = \"youth_league.volunteer_coordinator\"",
        "write = [\"G-META\", \"G-PLAN\", \"G-SERVICE-NOTES\", \"G-REF\", \"G-ABUSE\"]\nown_org_only = { read = [\"G-SERVICE-NOTES\"], write = [\"G-SERVICE-NOTES\"] }\n\n[[roles]]\nname = \"youth_league.volunteer_coordinator\"",
    );
    let line = line_of(&text, "\"G-REF\", \"G-ABUSE\"]");
    assert_has(
        &errors(&text),
        &format!(
            "remits.toml:{line}: role youth_league.hotline_counselor grants write on field group G-ABUSE, which only CIVIL_AFFAIRS or WOMENS_FEDERATION roles may write"
        ),
    );
}

#[test]
fn unknown_group_in_a_grant() {
    let text = mutate(
        "read = [\"G-DIR\", \"G-AUDIT\"]",
        "read = [\"G-DIR\", \"G-AUDITS\"]",
    );
    assert_has(
        &errors(&text),
        &format!(
            "remits.toml:{}: role supervision.auditor read names field group G-AUDITS, which is not declared in [[groups]]",
            line_of(&text, "G-AUDITS")
        ),
    );
}

#[test]
fn unknown_group_in_the_catalogue() {
    let text = mutate(
        "G-WEL = [\"category\", \"validFrom\", \"validTo\", \"verifiedBy\"",
        "G-WELFARE = [\"category\", \"validFrom\", \"validTo\", \"verifiedBy\"",
    );
    assert_has(
        &errors(&text),
        &format!(
            "remits.toml:{}: [types.ChildDifficulty] names field group G-WELFARE, which is not declared in [[groups]]",
            line_of(&text, "G-WELFARE")
        ),
    );
}

#[test]
fn unknown_role_in_reveal_list() {
    let text = mutate(
        "field = \"Guardian.idNumber\"\nkeep_start = 4\nkeep_end = 4\nreveal = [\"civil_affairs.case_officer\", \"health.clinician\"]",
        "field = \"Guardian.idNumber\"\nkeep_start = 4\nkeep_end = 4\nreveal = [\"civil_affairs.case_officer\", \"health.clinican\"]",
    );
    assert_has(
        &errors(&text),
        &format!(
            "remits.toml:{}: the reveal list of the mask on Guardian.idNumber names role health.clinican, which is not declared in [[roles]]",
            line_of(&text, "health.clinican")
        ),
    );
}

#[test]
fn reveal_only_by_roles_that_read_and_may_reveal() {
    let text = mutate(
        "field = \"Child.idNumber\"\nkeep_start = 4\nkeep_end = 4\nreveal = [\"civil_affairs.case_officer\", \"health.clinician\"]",
        "field = \"Child.idNumber\"\nkeep_start = 4\nkeep_end = 4\nreveal = [\"civil_affairs.case_officer\", \"health.clinician\", \"education.head_teacher\"]",
    );
    let line = line_of(&text, "\"education.head_teacher\"]");
    let errs = errors(&text);
    assert_has(&errs, &format!("remits.toml:{line}: role education.head_teacher may reveal Child.idNumber but does not read it"));
    assert_has(
        &errs,
        &format!(
            "remits.toml:{line}: role education.head_teacher may not reveal Child.idNumber: only civil-affairs case officers and clinicians reveal ID numbers (a fixed point of DESIGN.md §5–§6)"
        ),
    );
}

#[test]
fn unknown_agency() {
    let block = role_block("health.commission_officer");
    let text = mutate(
        block,
        &block.replace("agency = \"HEALTH\"", "agency = \"HEALTHCARE\""),
    );
    assert_has(
        &errors(&text),
        &format!(
            "remits.toml:{}: role health.commission_officer names agency HEALTHCARE; the agencies are CIVIL_AFFAIRS, EDUCATION, HEALTH, YOUTH_LEAGUE, WOMENS_FEDERATION, SUPERVISION, PARTNER",
            line_of(&text, "HEALTHCARE")
        ),
    );
}

#[test]
fn unknown_purpose() {
    let block = role_block("youth_league.volunteer_coordinator");
    let text = mutate(
        block,
        &block.replace(
            "purposes = [\"CARE\"]",
            "purposes = [\"CARE\", \"THERAPY\"]",
        ),
    );
    assert_has(
        &errors(&text),
        &format!(
            "remits.toml:{}: role youth_league.volunteer_coordinator purposes names purpose THERAPY; the purposes are CARE, SCREENING, REFERRAL, TREATMENT, CRISIS, SUPERVISION, STATISTICS, PARTNER_SYNC",
            line_of(&text, "THERAPY")
        ),
    );
}

#[test]
fn unknown_link() {
    let text = mutate("links = [\"CLASS\"]", "links = [\"CLASSROOM\"]");
    assert_has(
        &errors(&text),
        &format!(
            "remits.toml:{}: role education.head_teacher uses row-scope link CLASSROOM; the links are ORG_STUDENTS, CLASS, REFERRED, EPISODE, ASSIGNED, IDENTIFIED, INSTITUTION",
            line_of(&text, "CLASSROOM")
        ),
    );
}

#[test]
fn unknown_field_type_and_field() {
    let text = mutate(
        "read_fields = [\"Child.phone\", \"Child.inTreatment\", \"ChildFilter.inTreatment\"]",
        "read_fields = [\"Chld.phone\", \"Child.fone\", \"Child.inTreatment\", \"ChildFilter.inTreatment\", \"phone\"]",
    );
    let line = line_of(&text, "Chld.phone");
    let errs = errors(&text);
    assert_has(
        &errs,
        &format!("remits.toml:{line}: role civil_affairs.child_supervisor read_fields names Chld.phone, but the field catalogue has no [types.Chld]"),
    );
    assert_has(
        &errs,
        &format!("remits.toml:{line}: role civil_affairs.child_supervisor read_fields names Child.fone, but [types.Child] lists no field fone"),
    );
    assert_has(
        &errs,
        &format!(
            "remits.toml:{line}: role civil_affairs.child_supervisor read_fields names \"phone\"; fields are written Type.field, e.g. Child.displayName"
        ),
    );
}

#[test]
fn field_in_two_groups() {
    let text = mutate(
        "G-ID-full = [\"name\", \"idNumber\", \"birthDate\", \"ethnicity\", \"address\", \"phone\"]\nG-WEL = [\"difficultyCategories\"",
        "G-ID-full = [\"name\", \"idNumber\", \"birthDate\", \"ethnicity\", \"address\", \"phone\", \"displayName\"]\nG-WEL = [\"difficultyCategories\"",
    );
    assert_has(
        &errors(&text),
        &format!(
            "remits.toml:{}: field Child.displayName is assigned to both G-ID-min and G-ID-full; a field belongs to exactly one group",
            line_of(&text, "\"phone\", \"displayName\"]")
        ),
    );
}

#[test]
fn field_listed_twice_in_one_group() {
    let text = mutate(
        "G-REF = [\"fromStatus\", \"toStatus\",",
        "G-REF = [\"fromStatus\", \"toStatus\", \"fromStatus\",",
    );
    assert_has(
        &errors(&text),
        &format!(
            "remits.toml:{}: field ReferralTransition.fromStatus is listed twice in G-REF",
            line_of(&text, "\"toStatus\", \"fromStatus\"")
        ),
    );
}

#[test]
fn default_purpose_must_be_allowed() {
    let block = role_block("education.bureau_officer");
    let text = mutate(
        block,
        &block.replace(
            "default_purpose = \"STATISTICS\"",
            "default_purpose = \"CARE\"",
        ),
    );
    let needle = block.replace(
        "default_purpose = \"STATISTICS\"",
        "default_purpose = \"CARE\"",
    );
    let line = line_of(&text, &needle)
        + needle[..needle.find("default_purpose").expect("key")]
            .matches('\n')
            .count();
    assert_has(
        &errors(&text),
        &format!("remits.toml:{line}: role education.bureau_officer has default purpose CARE, which is not among its purposes"),
    );
}

#[test]
fn empty_purposes() {
    let block = role_block("supervision.auditor");
    let text = mutate(
        block,
        &block.replace("purposes = [\"SUPERVISION\"]", "purposes = []"),
    );
    let errs = errors(&text);
    assert_has(
        &errs,
        &format!("remits.toml:{}: role supervision.auditor lists no purposes of use; every request states one", line_of(&text, "purposes = []")),
    );
}

#[test]
fn aggregate_role_may_not_hold_record_groups() {
    let block = role_block("health.commission_officer");
    let text = mutate(
        block,
        &block.replace(
            "read = [\"G-DIR\", \"G-AGG\"]",
            "read = [\"G-DIR\", \"G-AGG\", \"G-ID-min\"]\nread_fields = [\"Child.name\"]",
        ),
    );
    let errs = errors(&text);
    assert_has(
        &errs,
        &format!(
            "remits.toml:{}: role health.commission_officer is AGGREGATE_ONLY but is granted read on field group G-ID-min, which holds child records; aggregate-only roles may hold only groups with records = false (G-DIR, G-AUDIT, G-AGG)",
            line_of(&text, "\"G-AGG\", \"G-ID-min\"]")
        ),
    );
    assert_has(
        &errs,
        &format!(
            "remits.toml:{}: role health.commission_officer is AGGREGATE_ONLY but is granted read on field Child.name (group G-ID-full), which holds child records; aggregate-only roles may hold only groups with records = false (G-DIR, G-AUDIT, G-AGG)",
            line_of(&text, "read_fields = [\"Child.name\"]")
        ),
    );
}

#[test]
fn break_glass_needs_the_emergency_purpose() {
    let text = mutate(
        "purposes = [\"TREATMENT\", \"REFERRAL\", \"CRISIS\", \"CARE\"]",
        "purposes = [\"TREATMENT\", \"REFERRAL\", \"CARE\"]",
    );
    let block_start = text.find("name = \"health.clinician\"").expect("role");
    let line = text[..block_start].matches('\n').count()
        + 1
        + text[block_start..]
            .find("break_glass = true")
            .map(|i| text[block_start..block_start + i].matches('\n').count())
            .expect("flag");
    assert_has(
        &errors(&text),
        &format!(
            "remits.toml:{line}: role health.clinician may use break-glass but is not allowed purpose CRISIS; break-glass is for emergencies only"
        ),
    );
}

#[test]
fn abuse_must_stay_out_of_break_glass() {
    let text = mutate("never = [\"G-ABUSE\"]", "never = [\"G-CLIN\"]");
    assert_has(
        &errors(&text),
        &format!(
            "remits.toml:{}: [break_glass] never does not list G-ABUSE; DESIGN.md §6 requires that break-glass never opens G-ABUSE",
            line_of(&text, "never = [\"G-CLIN\"]")
        ),
    );
    let text = mutate("[break_glass]\nnever = [\"G-ABUSE\"]\n", "");
    assert_has(
        &errors(&text),
        "remits.toml: [break_glass] never does not list G-ABUSE; DESIGN.md §6 requires that break-glass never opens G-ABUSE",
    );
}

#[test]
fn mask_on_a_field_outside_the_catalogue() {
    let text = mutate(
        "field = \"Guardian.idNumber\"",
        "field = \"Guardian.passportNumber\"",
    );
    let errs = errors(&text);
    assert_has(
        &errs,
        &format!(
            "remits.toml:{}: a mask is declared on Guardian.passportNumber, which is not in any field group of the catalogue",
            line_of(&text, "Guardian.passportNumber")
        ),
    );
    // And the real identifier is then unmasked, which the fixed points refuse.
    assert_has(
        &errs,
        &format!(
            "remits.toml:{}: Guardian.idNumber must be masked for every role (add a [[masks]] entry) (a fixed point of DESIGN.md §5–§6)",
            line_of(&text, "G-ID-full = [\"idNumber\"]")
        ),
    );
}

#[test]
fn mask_that_keeps_too_much() {
    let text = mutate(
        "field = \"Child.idNumber\"\nkeep_start = 4\nkeep_end = 4",
        "field = \"Child.idNumber\"\nkeep_start = 14\nkeep_end = 4",
    );
    assert_has(
        &errors(&text),
        &format!(
            "remits.toml:{}: the mask on Child.idNumber keeps 18 characters in clear; at most 8 may stay visible",
            line_of(&text, "field = \"Child.idNumber\"")
        ),
    );
}

#[test]
fn writing_blind_is_refused() {
    let block = role_block("civil_affairs.child_director");
    let text = mutate(
        block,
        &block.replace(
            "write = [\"G-META\", \"G-RISK\"",
            "write = [\"G-META\", \"G-ID-full\", \"G-RISK\"",
        ),
    );
    let errs = errors(&text);
    assert_eq!(
        errs,
        vec![format!(
            "remits.toml:{}: role civil_affairs.child_director writes field group G-ID-full but does not read it; a worker must see what they change (only PARTNER roles may write without reading)",
            line_of(&text, "write = [\"G-META\", \"G-ID-full\"")
        )]
    );
}

#[test]
fn duplicate_role() {
    let block = role_block("supervision.auditor");
    let text = mutate(block, &format!("{block}\n\n[[roles]]\n{block}"));
    let first = line_of(&text, "name = \"supervision.auditor\"");
    let second = first + block.matches('\n').count() + 3;
    assert_has(&errors(&text), &format!("remits.toml:{second}: role supervision.auditor is declared twice (first at line {first})"));
}

#[test]
fn duplicate_group() {
    let text = mutate(
        "[[groups]]\nname = \"G-AGG\"",
        "[[groups]]\nname = \"G-DIR\"\ntitle = \"x\"\ntitle_zh = \"x\"\nsensitive = false\nrecords = false\nwritable_by = []\n\n[[groups]]\nname = \"G-AGG\"",
    );
    let first = line_of(&text, "name = \"G-DIR\"");
    let second = line_of(&text, "name = \"G-AGG\"") - 8;
    assert_has(
        &errors(&text),
        &format!(
            "remits.toml:{second}: field group G-DIR is declared twice (first at line {first})"
        ),
    );
}

#[test]
fn partner_scope_must_be_identified() {
    let block = role_block("partner.school_system");
    let text = mutate(
        block,
        &block.replace("links = [\"IDENTIFIED\"]", "links = [\"ORG_STUDENTS\"]"),
    );
    assert_has(
        &errors(&text),
        &format!(
            "remits.toml:{}: role partner.school_system is a PARTNER role but its scope is not {{ links = [\"IDENTIFIED\"] }}; partners see only records bound to their submissions",
            line_of(&text, "links = [\"ORG_STUDENTS\"] }\npurposes = [\"PARTNER_SYNC\"]")
        ),
    );
}

#[test]
fn role_name_must_match_agency() {
    let text = mutate(
        "name = \"civil_affairs.child_director\"",
        "name = \"education.child_director\"",
    );
    assert_has(
        &errors(&text),
        &format!(
            "remits.toml:{}: role education.child_director belongs to agency CIVIL_AFFAIRS, so its name must start with \"civil_affairs.\"",
            line_of(&text, "education.child_director")
        ),
    );
}

#[test]
fn referral_receivers_must_see_the_referral() {
    let block = role_block("womens_federation.family_guidance");
    let edited = block
        .replace(
            "\"G-SERVICE-NOTES\", \"G-REF\"]\nwrite",
            "\"G-SERVICE-NOTES\"]\nwrite",
        )
        .replace(
            "write = [\"G-META\", \"G-PLAN\", \"G-SERVICE-NOTES\", \"G-REF\"]",
            "write = [\"G-META\", \"G-PLAN\", \"G-SERVICE-NOTES\"]",
        );
    let text = mutate(block, &edited);
    assert_eq!(
        errors(&text),
        vec![format!(
            "remits.toml:{}: role womens_federation.family_guidance has link REFERRED but does not read G-REF, which every referral receiver sees ([referral_view] always_visible)",
            line_of(&text, "name = \"womens_federation.family_guidance\"") + 4
        )]
    );
}

#[test]
fn own_org_limit_on_an_ungranted_group() {
    let block = role_block("health.community_doctor");
    let text = mutate(
        block,
        &block.replace(
            "own_org_only = { write = [\"G-SERVICE-NOTES\"] }",
            "own_org_only = { read = [\"G-CLIN\"], write = [\"G-SERVICE-NOTES\"] }",
        ),
    );
    assert_has(
        &errors(&text),
        &format!(
            "remits.toml:{}: role health.community_doctor limits read of G-CLIN to its own organization but is not granted read on G-CLIN",
            line_of(&text, "read = [\"G-CLIN\"], write = [\"G-SERVICE-NOTES\"]")
        ),
    );
}

#[test]
fn conflicting_and_redundant_overrides() {
    let text = mutate(
        "deny_read_fields = [\"Guardian.guardianshipStatus\", \"Guardian.situation\"]",
        "deny_read_fields = [\"Guardian.guardianshipStatus\", \"Guardian.situation\", \"Child.difficultyCategories\", \"Child.name\"]\nwrite_fields = [\"Screening.score\"]",
    );
    let errs = errors(&text);
    let read_fields_line = line_of(&text, "read_fields = [\"Child.difficultyCategories\"");
    assert_has(
        &errs,
        &format!("remits.toml:{read_fields_line}: role education.psych_teacher both allows and denies read of Child.difficultyCategories"),
    );
    let deny_line = line_of(&text, "\"Child.difficultyCategories\", \"Child.name\"]");
    assert_has(
        &errs,
        &format!(
            "remits.toml:{deny_line}: role education.psych_teacher lists Child.name in deny_read_fields, but the role has no read on its group G-ID-full anyway"
        ),
    );
    assert_has(
        &errs,
        &format!(
            "remits.toml:{}: role education.psych_teacher lists Screening.score in write_fields, but the role already has write on its group G-SCR",
            line_of(&text, "write_fields = [\"Screening.score\"]")
        ),
    );
}

#[test]
fn empty_scope() {
    let text = mutate(
        "scope = { region = false, links = [\"INSTITUTION\", \"REFERRED\"] }",
        "scope = { region = false, links = [] }",
    );
    let line = line_of(&text, "region = false, links = [] }");
    let errs = errors(&text);
    assert_has(
        &errs,
        &format!(
            "remits.toml:{line}: role civil_affairs.institution_staff has scope {{ region = false, links = [] }}, which selects no child; write scope = \"AGGREGATE_ONLY\" for a role without records"
        ),
    );
}

#[test]
fn unknown_scope_keyword() {
    let block = role_block("supervision.inspector");
    let text = mutate(
        block,
        &block.replace("scope = \"AGGREGATE_ONLY\"", "scope = \"AGGREGATES\""),
    );
    assert_has(
        &errors(&text),
        &format!(
            "remits.toml:{}: role supervision.inspector has scope \"AGGREGATES\"; a scope is \"AGGREGATE_ONLY\", \"ALL\" or {{ region = true|false, links = [...] }}",
            line_of(&text, "\"AGGREGATES\"")
        ),
    );
}

#[test]
fn unknown_row_class() {
    let text = mutate("[row_classes.HARM]", "[row_classes.ABUSE]");
    assert_has(
        &errors(&text),
        &format!(
            "remits.toml:{}: row class ABUSE is not known; the row classes are HARM",
            line_of(&text, "[row_classes.ABUSE]")
        ),
    );
}

#[test]
fn fixed_points_cannot_be_relaxed() {
    // Clinical data writable by education.
    let text = mutate(
        "# Fixed point (DESIGN.md §5): clinical data is health's alone.\nwritable_by = [\"HEALTH\"]",
        "# Fixed point (DESIGN.md §5): clinical data is health's alone.\nwritable_by = [\"HEALTH\", \"EDUCATION\"]",
    );
    assert_has(
        &errors(&text),
        &format!(
            "remits.toml:{}: field group G-CLIN may be writable by HEALTH only, but writable_by lists EDUCATION (a fixed point of DESIGN.md §5–§6)",
            line_of(&text, "name = \"G-CLIN\"")
        ),
    );
    // Screening scores released across agencies without a lawful basis.
    let text = mutate(
        "groups = [\"G-SCR\", \"G-CLIN\", \"G-ABUSE\"]",
        "groups = [\"G-CLIN\", \"G-ABUSE\"]",
    );
    assert_has(
        &errors(&text),
        &format!(
            "remits.toml:{}: [lawful_basis] groups must include G-SCR: it crosses agencies only with a lawful basis (a fixed point of DESIGN.md §5–§6)",
            line_of(&text, "groups = [\"G-CLIN\", \"G-ABUSE\"]")
        ),
    );
    // Clinical reads not audited.
    let text = mutate(
        "title_zh = \"临床信息：诊断、严重精神障碍、出院小结\"\nsensitive = true",
        "title_zh = \"临床信息：诊断、严重精神障碍、出院小结\"\nsensitive = false",
    );
    assert_has(
        &errors(&text),
        &format!(
            "remits.toml:{}: field group G-CLIN must be sensitive = true: every read of it is audited (a fixed point of DESIGN.md §5–§6)",
            line_of(&text, "name = \"G-CLIN\"")
        ),
    );
}

#[test]
fn every_problem_is_reported_not_just_the_first() {
    let text = mutate("links = [\"CLASS\"]", "links = [\"CLASSROOM\"]");
    let text = text.replacen(
        "read = [\"G-DIR\", \"G-AUDIT\"]",
        "read = [\"G-DIR\", \"G-AUDITS\"]",
        1,
    );
    let text = text.replacen("never = [\"G-ABUSE\"]", "never = []", 1);
    let text = text.replacen(
        "default_purpose = \"TREATMENT\"",
        "default_purpose = \"STATISTICS\"",
        1,
    );
    let err = Policy::from_toml_str(&text, "remits.toml").expect_err("invalid");
    let kinds: Vec<&str> = err
        .errors()
        .iter()
        .map(|e| match e {
            PolicyError::UnknownLink { .. } => "link",
            PolicyError::UnknownGroup { .. } => "group",
            PolicyError::NeverBreakGlassMissing { .. } => "never",
            PolicyError::DefaultPurposeNotAllowed { .. } => "purpose",
            _ => "other",
        })
        .collect();
    assert_eq!(kinds.len(), 4, "{err}");
    for k in ["link", "group", "never", "purpose"] {
        assert!(kinds.contains(&k), "{k} missing from {err}");
    }
    // Reported in file order, errors without a line last.
    let lines: Vec<Option<usize>> = err.errors().iter().map(PolicyError::line).collect();
    let mut sorted = lines.clone();
    sorted.sort_by_key(|l| l.unwrap_or(usize::MAX));
    assert_eq!(lines, sorted);
    assert!(err
        .to_string()
        .starts_with("the remit policy is invalid (4 problems):\n  remits.toml:"));
}
