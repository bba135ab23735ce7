//! Every role × every field of the default policy, under every combination of row facts that
//! matters: the compiled decisions must agree with a straightforward re-derivation from the raw
//! TOML (strings and sets, no bitsets). Then the design's fixed points, spelled out.

use std::collections::{HashMap, HashSet};

use carehub_policy::{
    Agency, ClassSet, DenyReason, GroupSet, Policy, Purpose, ReadDecision, RoleId, RowFacts,
    WriteDecision, DEFAULT_POLICY_TOML,
};

// ---------------------------------------------------------------------------------------------
// The reference model, read from the TOML with no help from the crate. Group names are interned
// into the reference's own bit numbering (alphabetical) so the million checks below stay fast.
// ---------------------------------------------------------------------------------------------

struct RefRole {
    read: u32,
    write: u32,
    read_fields: HashSet<String>,
    deny_read_fields: HashSet<String>,
    write_fields: HashSet<String>,
    deny_write_fields: HashSet<String>,
    own_read: u32,
    own_write: u32,
    crisis: bool,
    break_glass: bool,
}

struct Reference {
    names: Vec<String>,
    group_of: HashMap<String, u32>,
    harm_group_of: HashMap<String, u32>,
    sensitive: u32,
    masks: HashMap<String, (u8, u8, HashSet<String>)>,
    lawful: u32,
    never_break_glass: u32,
    always_visible: u32,
    roles: HashMap<String, RefRole>,
}

/// What the reference needs about one (role, field) pair, looked up once.
struct Case<'a> {
    role: &'a RefRole,
    default: u32,
    harm: u32,
    deny_read: bool,
    allow_read: bool,
    deny_write: bool,
    allow_write: bool,
    mask: Option<(u8, u8)>,
}

fn strings(v: Option<&toml::Value>) -> HashSet<String> {
    v.and_then(toml::Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

impl Reference {
    fn load() -> Self {
        let t: toml::Table = DEFAULT_POLICY_TOML.parse().expect("toml");
        let mut names: Vec<String> = t["groups"]
            .as_array()
            .expect("groups")
            .iter()
            .map(|g| g["name"].as_str().expect("name").to_owned())
            .collect();
        names.sort();
        let bit = |n: &str| {
            1u32 << names
                .iter()
                .position(|x| x == n)
                .unwrap_or_else(|| panic!("group {n}"))
        };
        let bits = |set: HashSet<String>| set.iter().fold(0u32, |acc, n| acc | bit(n));
        let mut group_of = HashMap::new();
        for (ty, groups) in t["types"].as_table().expect("types") {
            for (g, fields) in groups.as_table().expect("type table") {
                for f in strings(Some(fields)) {
                    group_of.insert(format!("{ty}.{f}"), bit(g));
                }
            }
        }
        let harm_group_of = t["row_classes"]["HARM"]["move"]
            .as_table()
            .expect("moves")
            .iter()
            .map(|(f, g)| (f.clone(), bit(g.as_str().expect("group"))))
            .collect();
        let sensitive = t["groups"]
            .as_array()
            .expect("groups")
            .iter()
            .filter(|g| g["sensitive"].as_bool() == Some(true))
            .fold(0, |acc, g| acc | bit(g["name"].as_str().expect("name")));
        let masks = t["masks"]
            .as_array()
            .expect("masks")
            .iter()
            .map(|m| {
                let n = |k: &str| u8::try_from(m[k].as_integer().expect("int")).expect("u8");
                (
                    m["field"].as_str().expect("field").to_owned(),
                    (n("keep_start"), n("keep_end"), strings(m.get("reveal"))),
                )
            })
            .collect();
        let mut roles = HashMap::new();
        for r in t["roles"].as_array().expect("roles") {
            let own = r.get("own_org_only");
            roles.insert(
                r["name"].as_str().expect("name").to_owned(),
                RefRole {
                    read: bits(strings(r.get("read"))),
                    write: bits(strings(r.get("write"))),
                    read_fields: strings(r.get("read_fields")),
                    deny_read_fields: strings(r.get("deny_read_fields")),
                    write_fields: strings(r.get("write_fields")),
                    deny_write_fields: strings(r.get("deny_write_fields")),
                    own_read: bits(strings(own.and_then(|o| o.get("read")))),
                    own_write: bits(strings(own.and_then(|o| o.get("write")))),
                    crisis: strings(r.get("purposes")).contains("CRISIS"),
                    break_glass: r
                        .get("break_glass")
                        .and_then(toml::Value::as_bool)
                        .unwrap_or(false),
                },
            );
        }
        Reference {
            group_of,
            harm_group_of,
            sensitive,
            masks,
            lawful: bits(strings(t["lawful_basis"].get("groups"))),
            never_break_glass: bits(strings(t["break_glass"].get("never"))),
            always_visible: bits(strings(t["referral_view"].get("always_visible"))),
            roles,
            names,
        }
    }

    fn bits(&self, names: &[&str]) -> u32 {
        names.iter().fold(0, |acc, n| {
            acc | 1 << self.names.iter().position(|x| x == n).expect("group")
        })
    }

    fn name(&self, bit: u32) -> String {
        self.names[bit.trailing_zeros() as usize].clone()
    }

    fn case(&self, role: &str, field: &str) -> Case<'_> {
        let r = &self.roles[role];
        let default = self.group_of[field];
        Case {
            role: r,
            default,
            harm: self.harm_group_of.get(field).copied().unwrap_or(default),
            deny_read: r.deny_read_fields.contains(field),
            allow_read: r.read_fields.contains(field),
            deny_write: r.deny_write_fields.contains(field),
            allow_write: r.write_fields.contains(field),
            mask: self.masks.get(field).map(|(s, e, _)| (*s, *e)),
        }
    }

    fn read(&self, c: &Case<'_>, f: &Facts) -> Expected {
        let r = c.role;
        let g = if f.harm { c.harm } else { c.default };
        let readable = !c.deny_read && (r.read & g != 0 || (c.allow_read && g == c.default));
        if !readable {
            return Expected::Deny(DenyReason::NotInRemit);
        }
        if f.break_glass {
            if !r.break_glass {
                return Expected::Deny(DenyReason::BreakGlassNotPermitted);
            }
            if self.never_break_glass & g != 0 {
                return Expected::Deny(DenyReason::BreakGlassExcluded);
            }
        }
        if let Some(view) = f.view {
            if (view | self.always_visible) & g == 0 {
                return Expected::Deny(DenyReason::OutsideReferralView);
            }
        }
        if !f.own_org && r.own_read & g != 0 {
            return Expected::Deny(DenyReason::OtherOrganization);
        }
        let emergency = f.purpose == "CRISIS" && r.crisis;
        if !f.same_agency && self.lawful & g != 0 && f.lawful & g == 0 && !emergency {
            return Expected::Consent(self.name(g));
        }
        let audit = f.break_glass || self.sensitive & g != 0;
        if let Some((s, e)) = c.mask {
            return Expected::Mask(s, e, audit);
        }
        if f.break_glass {
            Expected::BreakGlass
        } else {
            Expected::Allow(audit)
        }
    }

    fn write(&self, c: &Case<'_>, f: &Facts) -> Expected {
        let r = c.role;
        let g = if f.harm { c.harm } else { c.default };
        let writable = !c.deny_write && (r.write & g != 0 || (c.allow_write && g == c.default));
        if !writable {
            return Expected::Deny(DenyReason::NotInRemit);
        }
        if f.break_glass {
            return Expected::Deny(DenyReason::BreakGlassReadOnly);
        }
        if let Some(view) = f.view {
            if (view | self.always_visible) & g == 0 {
                return Expected::Deny(DenyReason::OutsideReferralView);
            }
        }
        if !f.own_org && r.own_write & g != 0 {
            return Expected::Deny(DenyReason::OtherOrganization);
        }
        Expected::Allow(false)
    }
}

#[derive(Debug, PartialEq)]
enum Expected {
    Allow(bool),
    Mask(u8, u8, bool),
    Deny(DenyReason),
    Consent(String),
    BreakGlass,
}

#[derive(Debug)]
struct Facts {
    own_org: bool,
    same_agency: bool,
    harm: bool,
    view: Option<u32>,
    lawful: u32,
    break_glass: bool,
    purpose: &'static str,
}

/// The crate's facts for the reference's facts (group sets translated by name).
fn facts_of(p: &Policy, reference: &Reference, f: &Facts) -> RowFacts {
    let set = |bits: u32| -> GroupSet {
        (0..32)
            .filter(|i| bits & (1 << i) != 0)
            .map(|i| p.group(&reference.names[i]).expect("group"))
            .collect()
    };
    RowFacts {
        own_org: f.own_org,
        same_agency: f.same_agency,
        classes: if f.harm {
            ClassSet::HARM
        } else {
            ClassSet::EMPTY
        },
        view: f.view.map(set),
        lawful: set(f.lawful),
        break_glass: f.break_glass,
        purpose: f.purpose.parse().expect("purpose"),
    }
}

fn actual_read(p: &Policy, d: ReadDecision) -> Expected {
    match d {
        ReadDecision::Allow { audit } => Expected::Allow(audit),
        ReadDecision::Mask {
            keep_start,
            keep_end,
            audit,
        } => Expected::Mask(keep_start, keep_end, audit),
        ReadDecision::Deny(r) => Expected::Deny(r),
        ReadDecision::ConsentRequired { group } => {
            Expected::Consent(p.group_name(group).to_owned())
        }
        ReadDecision::BreakGlass { audit } => {
            assert!(audit, "break-glass reads are always audited");
            Expected::BreakGlass
        }
    }
}

fn all_facts(reference: &Reference) -> Vec<Facts> {
    let all_groups = reference.bits(
        &reference
            .names
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
    );
    let views = [
        None,
        Some(0),
        Some(reference.bits(&["G-DISCH", "G-GUARD", "G-PLAN"])),
        Some(reference.bits(&["G-SCR", "G-CLIN"])),
    ];
    let mut out = Vec::new();
    for own_org in [true, false] {
        for same_agency in [true, false] {
            for harm in [false, true] {
                for view in views {
                    for lawful in [0, all_groups] {
                        for break_glass in [false, true] {
                            for purpose in ["CARE", "CRISIS", "TREATMENT"] {
                                out.push(Facts {
                                    own_org,
                                    same_agency,
                                    harm,
                                    view,
                                    lawful,
                                    break_glass,
                                    purpose,
                                });
                            }
                        }
                    }
                }
            }
        }
    }
    out
}

#[test]
fn every_role_every_field_matches_the_rederivation() {
    let p = Policy::default_policy();
    let reference = Reference::load();
    let facts = all_facts(&reference);
    // Compiled once: the loop below is about decisions, not about building facts.
    let row_facts: Vec<RowFacts> = facts.iter().map(|f| facts_of(&p, &reference, f)).collect();
    assert_eq!(reference.roles.len(), p.roles().count());
    assert_eq!(
        reference.group_of.len(),
        p.fields().count(),
        "every catalogue field is compiled"
    );
    let mut checked = 0usize;
    for role in p.roles() {
        let name = p.role_info(role).name.clone();
        for field in p.fields() {
            let fname = p.field_name(field);
            let case = reference.case(&name, fname);
            for (f, rf) in facts.iter().zip(&row_facts) {
                let expected = reference.read(&case, f);
                if actual_read(&p, p.decide_read(role, field, rf)) != expected {
                    panic!(
                        "read {name} {fname} {f:?}: expected {expected:?}, got {:?}",
                        p.decide_read(role, field, rf)
                    );
                }
                let w = match p.decide_write(role, field, rf) {
                    WriteDecision::Allow => Expected::Allow(false),
                    WriteDecision::Deny(r) => Expected::Deny(r),
                };
                let expected = reference.write(&case, f);
                assert!(
                    w == expected,
                    "write {name} {fname} {f:?}: expected {expected:?}, got {w:?}"
                );
                checked += 2;
            }
            // static_read: readable on the most favourable row, in every group the field can be in.
            let best = |harm: bool| Facts {
                own_org: true,
                same_agency: true,
                harm,
                view: None,
                lawful: 0,
                break_glass: false,
                purpose: "CARE",
            };
            let readable = |harm| !matches!(reference.read(&case, &best(harm)), Expected::Deny(_));
            assert_eq!(
                p.static_read(role, field),
                readable(false) && readable(true),
                "static_read {name} {fname}"
            );
            // may_reveal: in the mask's reveal list and readable.
            let reveal = reference
                .masks
                .get(fname)
                .is_some_and(|(_, _, r)| r.contains(&name))
                && readable(false);
            assert_eq!(
                p.may_reveal(role, field),
                reveal,
                "may_reveal {name} {fname}"
            );
        }
    }
    assert!(checked > 1_000_000, "{checked}");
}

// ---------------------------------------------------------------------------------------------
// Fixed points of DESIGN.md §5–§6 and the anchors' remit matrix.
// ---------------------------------------------------------------------------------------------

fn role(p: &Policy, name: &str) -> RoleId {
    p.role(name).unwrap_or_else(|| panic!("role {name}"))
}

fn field(p: &Policy, name: &str) -> carehub_policy::FieldId {
    p.field(name).unwrap_or_else(|| panic!("field {name}"))
}

fn own(purpose: Purpose) -> RowFacts {
    RowFacts::own_row(purpose)
}

#[test]
fn only_case_officers_and_clinicians_may_reveal() {
    let p = Policy::default_policy();
    let mut revealers = HashSet::new();
    for r in p.roles() {
        for f in p.fields() {
            if p.may_reveal(r, f) {
                revealers.insert(p.role_info(r).name.clone());
                assert!(p.mask(f).is_some(), "only masked fields are revealed");
            }
        }
    }
    assert_eq!(
        revealers,
        ["civil_affairs.case_officer", "health.clinician"]
            .map(str::to_owned)
            .into()
    );
    for name in ["Child.idNumber", "Guardian.idNumber"] {
        let f = field(&p, name);
        assert!(p.may_reveal(role(&p, "civil_affairs.case_officer"), f));
        assert!(p.may_reveal(role(&p, "health.clinician"), f));
    }
}

#[test]
fn id_numbers_are_masked_for_every_reader_including_revealers() {
    let p = Policy::default_policy();
    for name in ["Child.idNumber", "Guardian.idNumber"] {
        let f = field(&p, name);
        for r in p.roles() {
            match p.decide_read(r, f, &own(p.role_info(r).default_purpose)) {
                ReadDecision::Mask {
                    keep_start: 4,
                    keep_end: 4,
                    audit: true,
                } => {}
                ReadDecision::Deny(DenyReason::NotInRemit) => {}
                other => panic!("{} reads {name} as {other:?}", p.role_info(r).name),
            }
        }
    }
    let d = p.decide_read(
        role(&p, "civil_affairs.case_officer"),
        field(&p, "Child.idNumber"),
        &own(Purpose::Care),
    );
    assert_eq!(
        d,
        ReadDecision::Mask {
            keep_start: 4,
            keep_end: 4,
            audit: true
        }
    );
}

#[test]
fn only_health_writes_clinical_data() {
    let p = Policy::default_policy();
    let clin = p.group("G-CLIN").expect("group");
    for r in p.roles() {
        for f in p
            .fields()
            .filter(|f| p.group_of(*f, ClassSet::EMPTY) == clin)
        {
            if p.static_write(r, f) {
                assert_eq!(
                    p.role_info(r).agency,
                    Agency::Health,
                    "{} writes {}",
                    p.role_info(r).name,
                    p.field_name(f)
                );
            }
        }
    }
    let clinician = role(&p, "health.clinician");
    let dx = field(&p, "TreatmentEpisode.diagnosisCode");
    assert_eq!(
        p.decide_write(clinician, dx, &own(Purpose::Treatment)),
        WriteDecision::Allow
    );
    let other_facility = RowFacts {
        own_org: false,
        ..own(Purpose::Treatment)
    };
    assert_eq!(
        p.decide_write(clinician, dx, &other_facility),
        WriteDecision::Deny(DenyReason::OtherOrganization)
    );
}

#[test]
fn abuse_is_never_reached_through_break_glass() {
    let p = Policy::default_policy();
    let abuse = p.group("G-ABUSE").expect("group");
    let facts = |harm| RowFacts {
        break_glass: true,
        classes: if harm {
            ClassSet::HARM
        } else {
            ClassSet::EMPTY
        },
        ..own(Purpose::Crisis)
    };
    for r in p.roles() {
        for f in p.fields() {
            for harm in [false, true] {
                let fx = facts(harm);
                if p.group_of(f, fx.classes) == abuse {
                    assert!(
                        !p.decide_read(r, f, &fx).is_readable(),
                        "{} reads {} through break-glass",
                        p.role_info(r).name,
                        p.field_name(f)
                    );
                }
            }
        }
    }
    // Only roles allowed to break glass get anything at all through it.
    let clinician = role(&p, "health.clinician");
    let fx = RowFacts {
        break_glass: true,
        ..own(Purpose::Crisis)
    };
    assert_eq!(
        p.decide_read(clinician, field(&p, "Child.displayName"), &fx),
        ReadDecision::BreakGlass { audit: true }
    );
    assert_eq!(
        p.decide_write(clinician, field(&p, "Visit.observations"), &fx),
        WriteDecision::Deny(DenyReason::BreakGlassReadOnly)
    );
    let officer = role(&p, "civil_affairs.case_officer");
    assert_eq!(
        p.decide_read(officer, field(&p, "Child.displayName"), &fx),
        ReadDecision::Deny(DenyReason::BreakGlassNotPermitted)
    );
    let break_glass_roles: Vec<String> = p
        .roles()
        .filter(|r| p.role_info(*r).break_glass)
        .map(|r| p.role_info(r).name.clone())
        .collect();
    assert_eq!(break_glass_roles, vec!["health.clinician"]);
}

#[test]
fn head_teacher_sees_contact_risk_level_and_fitness_only() {
    let p = Policy::default_policy();
    let t = role(&p, "education.head_teacher");
    let read = |name: &str| p.decide_read(t, field(&p, name), &own(Purpose::Care));
    for denied in [
        "Screening.score",
        "Screening.itemAnswers",
        "Screening.riskLevel",
        "Child.screenings",
        "Child.difficultyCategories",
        "TreatmentEpisode.diagnosisCode",
        "TreatmentEpisode.followUpAdvice",
        "Guardian.situation",
        "Guardian.guardianshipStatus",
        "Guardian.idNumber",
        "Child.idNumber",
        "Child.victimAid",
        "ServiceRecord.summary",
    ] {
        assert_eq!(
            read(denied),
            ReadDecision::Deny(DenyReason::NotInRemit),
            "{denied}"
        );
    }
    for allowed in [
        "Guardian.name",
        "Guardian.relation",
        "Guardian.phone",
        "TreatmentEpisode.fitToReturn",
        "Child.currentRiskLevel",
        "Child.inTreatment",
    ] {
        assert!(read(allowed).is_readable(), "{allowed}");
    }
    // No filtering by screening risk either, so nothing leaks through `where`.
    assert!(!p.static_read(t, field(&p, "ChildFilter.difficultyCategory")));
    assert!(p.static_read(t, field(&p, "ChildFilter.currentRiskLevel")));
    // Schools keep the guardian's phone current, nothing else of the guardian.
    assert_eq!(
        p.decide_write(t, field(&p, "Guardian.phone"), &own(Purpose::Care)),
        WriteDecision::Allow
    );
    assert_eq!(
        p.decide_write(t, field(&p, "Guardian.name"), &own(Purpose::Care)),
        WriteDecision::Deny(DenyReason::NotInRemit)
    );
}

#[test]
fn clinician_reads_diagnosis_of_own_facility_only() {
    let p = Policy::default_policy();
    let c = role(&p, "health.clinician");
    let dx = field(&p, "TreatmentEpisode.diagnosisCode");
    assert_eq!(
        p.decide_read(c, dx, &own(Purpose::Treatment)),
        ReadDecision::Allow { audit: true }
    );
    let elsewhere = RowFacts {
        own_org: false,
        ..own(Purpose::Treatment)
    };
    assert_eq!(
        p.decide_read(c, dx, &elsewhere),
        ReadDecision::Deny(DenyReason::OtherOrganization)
    );
    // The discharge share of another facility is fine.
    assert_eq!(
        p.decide_read(c, field(&p, "TreatmentEpisode.fitToReturn"), &elsewhere),
        ReadDecision::Allow { audit: false }
    );
    // Other roles see the discharge share, never the diagnosis.
    for name in [
        "education.psych_teacher",
        "civil_affairs.case_officer",
        "health.community_doctor",
    ] {
        let r = role(&p, name);
        assert_eq!(
            p.decide_read(r, dx, &own(Purpose::Care)),
            ReadDecision::Deny(DenyReason::NotInRemit),
            "{name}"
        );
        assert!(
            p.decide_read(
                r,
                field(&p, "TreatmentEpisode.fitToReturn"),
                &own(Purpose::Care)
            )
            .is_readable(),
            "{name}"
        );
    }
}

#[test]
fn cross_agency_screening_needs_a_lawful_basis() {
    let p = Policy::default_policy();
    let c = role(&p, "health.clinician");
    let score = field(&p, "Screening.score");
    let scr = p.group("G-SCR").expect("group");
    let school_row = RowFacts {
        own_org: false,
        same_agency: false,
        ..own(Purpose::Treatment)
    };
    assert_eq!(
        p.decide_read(c, score, &school_row),
        ReadDecision::ConsentRequired { group: scr }
    );
    let with_basis = RowFacts {
        lawful: GroupSet::EMPTY.with(scr),
        ..school_row
    };
    assert_eq!(
        p.decide_read(c, score, &with_basis),
        ReadDecision::Allow { audit: true }
    );
    // An emergency needs no consent (PIPL art. 13(4)) — for roles allowed the CRISIS purpose.
    let crisis = RowFacts {
        purpose: Purpose::Crisis,
        ..school_row
    };
    assert_eq!(
        p.decide_read(c, score, &crisis),
        ReadDecision::Allow { audit: true }
    );
    // Within the agency no basis is needed.
    let psych = role(&p, "education.psych_teacher");
    let same = RowFacts {
        own_org: false,
        ..own(Purpose::Screening)
    };
    assert_eq!(
        p.decide_read(psych, score, &same),
        ReadDecision::Allow { audit: true }
    );
    // The risk level itself is not a lawful-basis group.
    assert_eq!(
        p.decide_read(c, field(&p, "Screening.riskLevel"), &school_row),
        ReadDecision::Allow { audit: false }
    );
    // The clinician sees the summary, not the item answers.
    assert_eq!(
        p.decide_read(c, field(&p, "Screening.itemAnswers"), &with_basis),
        ReadDecision::Deny(DenyReason::NotInRemit)
    );
    assert!(p.needs_lawful_basis(c) && p.needs_lawful_basis(psych));
    assert!(!p.needs_lawful_basis(role(&p, "education.head_teacher")));
}

#[test]
fn referral_receivers_see_only_the_authorized_view() {
    let p = Policy::default_policy();
    let c = role(&p, "health.clinician");
    assert!(p.view_limited(c));
    let disch = p.group("G-DISCH").expect("group");
    let scr = p.group("G-SCR").expect("group");
    let referred = |view: GroupSet| RowFacts {
        view: Some(view),
        ..own(Purpose::Referral)
    };
    let only_disch = referred(GroupSet::EMPTY.with(disch));
    // Identity, the referral packet and bookkeeping are always visible to the receiver.
    for name in [
        "Child.displayName",
        "Child.id",
        "Referral.reason",
        "ReferralTransition.note",
        "Region.name",
    ] {
        assert!(
            p.decide_read(c, field(&p, name), &only_disch).is_readable(),
            "{name}"
        );
    }
    assert!(p
        .decide_read(c, field(&p, "TreatmentEpisode.fitToReturn"), &only_disch)
        .is_readable());
    for name in [
        "Screening.score",
        "Guardian.phone",
        "Child.name",
        "Visit.observations",
    ] {
        assert_eq!(
            p.decide_read(c, field(&p, name), &only_disch),
            ReadDecision::Deny(DenyReason::OutsideReferralView),
            "{name}"
        );
    }
    // A view that includes screenings still needs the lawful basis across agencies.
    let scr_view = RowFacts {
        same_agency: false,
        ..referred(GroupSet::EMPTY.with(scr))
    };
    assert_eq!(
        p.decide_read(c, field(&p, "Screening.score"), &scr_view),
        ReadDecision::ConsentRequired { group: scr }
    );
    // Writes outside the view are refused too.
    assert_eq!(
        p.decide_write(c, field(&p, "Visit.observations"), &only_disch),
        WriteDecision::Deny(DenyReason::OutsideReferralView)
    );
    let view_limited: Vec<String> = p
        .roles()
        .filter(|r| p.view_limited(*r))
        .map(|r| p.role_info(r).name.clone())
        .collect();
    assert_eq!(
        view_limited,
        vec![
            "civil_affairs.institution_staff",
            "health.clinician",
            "health.community_doctor",
            "youth_league.hotline_counselor",
            "womens_federation.family_guidance",
            "womens_federation.victim_aid"
        ]
    );
}

#[test]
fn harm_narratives_belong_to_abuse_holders() {
    let p = Policy::default_policy();
    let desc = field(&p, "Report.description");
    let harm = |same_agency| RowFacts {
        classes: ClassSet::HARM,
        same_agency,
        ..own(Purpose::Care)
    };
    let abuse = p.group("G-ABUSE").expect("group");
    assert_eq!(
        p.group_of(desc, ClassSet::EMPTY),
        p.group("G-PLAN").expect("group")
    );
    assert_eq!(p.group_of(desc, ClassSet::HARM), abuse);
    let teacher = role(&p, "education.head_teacher");
    assert_eq!(
        p.decide_read(teacher, desc, &own(Purpose::Care)),
        ReadDecision::Allow { audit: false }
    );
    assert_eq!(
        p.decide_read(teacher, desc, &harm(true)),
        ReadDecision::Deny(DenyReason::NotInRemit)
    );
    // Anyone may file a harm report (new records have no class), nobody but G-ABUSE holders edits it.
    assert_eq!(
        p.decide_write(teacher, desc, &own(Purpose::Care)),
        WriteDecision::Allow
    );
    assert_eq!(
        p.decide_write(teacher, desc, &harm(true)),
        WriteDecision::Deny(DenyReason::NotInRemit)
    );
    assert!(
        !p.static_read(teacher, desc),
        "no filter can probe harm narratives"
    );
    let officer = role(&p, "civil_affairs.case_officer");
    assert_eq!(
        p.decide_read(officer, desc, &harm(true)),
        ReadDecision::Allow { audit: true }
    );
    assert_eq!(
        p.decide_read(officer, desc, &harm(false)),
        ReadDecision::ConsentRequired { group: abuse }
    );
    let aid = role(&p, "womens_federation.victim_aid");
    assert_eq!(
        p.decide_read(aid, field(&p, "VictimAid.caseRef"), &own(Purpose::Care)),
        ReadDecision::Allow { audit: true }
    );
    // Nobody else reads G-ABUSE at all.
    let readers: Vec<String> = p
        .roles()
        .filter(|r| {
            p.decide_read(*r, field(&p, "VictimAid.caseRef"), &own(Purpose::Care))
                .is_readable()
        })
        .map(|r| p.role_info(r).name.clone())
        .collect();
    assert_eq!(
        readers,
        vec!["civil_affairs.case_officer", "womens_federation.victim_aid"]
    );
}

#[test]
fn every_role_reads_the_directory_and_row_roles_read_bookkeeping() {
    let p = Policy::default_policy();
    let dir = p.group("G-DIR").expect("group");
    let meta = p.group("G-META").expect("group");
    for r in p.roles() {
        let info = p.role_info(r);
        assert!(p.read_groups(r).contains(dir), "{}", info.name);
        assert_eq!(
            p.read_groups(r).contains(meta),
            info.scope.has_rows(),
            "{}",
            info.name
        );
        assert!(p.purpose_allowed(r, info.default_purpose), "{}", info.name);
        if !info.scope.has_rows() {
            for g in p.read_groups(r).union(p.write_groups(r)).iter() {
                assert!(
                    !p.group_info(g).expect("group").records,
                    "{} holds {}",
                    info.name,
                    p.group_name(g)
                );
            }
        }
    }
    let aggregate: Vec<String> = p
        .roles()
        .filter(|r| !p.role_info(*r).scope.has_rows())
        .map(|r| p.role_info(r).name.clone())
        .collect();
    assert_eq!(
        aggregate,
        vec![
            "education.bureau_officer",
            "health.commission_officer",
            "supervision.inspector",
            "supervision.auditor"
        ]
    );
    let audit = p.group("G-AUDIT").expect("group");
    let audit_readers: Vec<String> = p
        .roles()
        .filter(|r| p.read_groups(*r).contains(audit))
        .map(|r| p.role_info(r).name.clone())
        .collect();
    assert_eq!(audit_readers, vec!["supervision.auditor"]);
}

#[test]
fn service_providers_write_their_own_entries_only() {
    let p = Policy::default_policy();
    let summary = field(&p, "ServiceRecord.summary");
    let elsewhere = RowFacts {
        own_org: false,
        ..own(Purpose::Care)
    };
    for r in p.roles() {
        if p.static_write(r, summary) {
            assert_eq!(
                p.decide_write(r, summary, &elsewhere),
                WriteDecision::Deny(DenyReason::OtherOrganization),
                "{}",
                p.role_info(r).name
            );
            assert_eq!(
                p.decide_write(r, summary, &own(Purpose::Care)),
                WriteDecision::Allow
            );
        }
    }
}

#[test]
fn partners_submit_and_see_only_status() {
    let p = Policy::default_policy();
    let app = role(&p, "partner.hotline_app");
    let fx = own(Purpose::PartnerSync);
    assert_eq!(
        p.decide_write(app, field(&p, "Report.description"), &fx),
        WriteDecision::Allow
    );
    assert_eq!(
        p.decide_read(app, field(&p, "Report.description"), &fx),
        ReadDecision::Deny(DenyReason::NotInRemit)
    );
    assert!(p
        .decide_read(app, field(&p, "Report.status"), &fx)
        .is_readable());
    assert_eq!(
        p.decide_read(app, field(&p, "Child.displayName"), &fx),
        ReadDecision::Deny(DenyReason::NotInRemit)
    );
    assert!(p.static_read(app, field(&p, "Query.child")));
    assert!(!p.static_read(app, field(&p, "Query.children")));
    assert!(p.purpose_allowed(app, Purpose::PartnerSync));
    assert!(!p.purpose_allowed(app, Purpose::Care));
    let hospital = role(&p, "partner.hospital_system");
    assert_eq!(
        p.decide_write(hospital, field(&p, "TreatmentEpisode.diagnosisCode"), &fx),
        WriteDecision::Deny(DenyReason::NotInRemit)
    );
    assert_eq!(
        p.decide_write(hospital, field(&p, "TreatmentEpisode.fitToReturn"), &fx),
        WriteDecision::Allow
    );
}

#[test]
fn decisions_are_cheap() {
    // Not a benchmark: a guard against accidental string work in the hot path (debug build).
    let p = Policy::default_policy();
    let roles: Vec<RoleId> = p.roles().collect();
    let fields: Vec<_> = p.fields().collect();
    let fx = RowFacts {
        classes: ClassSet::HARM,
        view: Some(GroupSet::EMPTY),
        ..own(Purpose::Care)
    };
    let start = std::time::Instant::now();
    let mut readable = 0usize;
    for _ in 0..20 {
        for r in &roles {
            for f in &fields {
                readable += usize::from(p.decide_read(*r, *f, &fx).is_readable());
            }
        }
    }
    let per = start.elapsed() / u32::try_from(20 * roles.len() * fields.len()).expect("fits");
    assert!(readable > 0);
    assert!(
        per < std::time::Duration::from_micros(5),
        "{per:?} per decision"
    );
}
