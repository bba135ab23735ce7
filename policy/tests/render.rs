//! What people read: `explain` for single decisions and the Markdown matrix, which is committed
//! as `policy/REMITS.md` and must stay current (regenerate with `CAREHUB_BLESS=1 cargo test -p
//! carehub-policy --test render`).

use carehub_policy::{Policy, Purpose, DEFAULT_POLICY_TOML};

fn line_of(needle: &str) -> usize {
    let at = DEFAULT_POLICY_TOML
        .find(needle)
        .unwrap_or_else(|| panic!("{needle:?} not found"));
    DEFAULT_POLICY_TOML[..at].matches('\n').count() + 1
}

#[test]
fn explain_clinician_diagnosis() {
    let p = Policy::default_policy();
    let text = p
        .explain("health.clinician", "TreatmentEpisode.diagnosisCode", None)
        .expect("explains");
    let own_org = line_of("own_org_only = { read = [\"G-CLIN\"]");
    for expected in [
        "role     health.clinician — Mental-health hospital clinician / 精神卫生医疗机构医生 (HEALTH".to_owned(),
        "purpose  none given: the role's default TREATMENT applies".to_owned(),
        "READ   allowed — on the role's own records; the conditions below can change that".to_owned(),
        format!(
            "  - only on records of the role's own organization: own_org_only.read lists G-CLIN (remits.toml:{own_org}); elsewhere FORBIDDEN (OTHER_ORGANIZATION)"
        ),
        "  - on children reached only through a referral: FORBIDDEN (OUTSIDE_REFERRAL_VIEW) unless the referral's authorizedView includes G-CLIN".to_owned(),
        "  - never through break-glass: break-glass access is read-only".to_owned(),
        format!("  - G-CLIN is writable by HEALTH (remits.toml:{})", line_of("name = \"G-CLIN\"")),
    ] {
        assert!(text.contains(&expected), "missing {expected:?} in\n{text}");
    }
}

#[test]
fn explain_denial_names_the_missing_grant() {
    let p = Policy::default_policy();
    let text = p
        .explain(
            "education.head_teacher",
            "Screening.score",
            Some(Purpose::Care),
        )
        .expect("explains");
    let role_line = line_of("name = \"education.head_teacher\"");
    assert!(
        text.contains("READ   FORBIDDEN (NOT_IN_REMIT) — the field is outside this role's remit"),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "  - G-SCR is not in the role's read list (role declared at remits.toml:{role_line}) and no read_fields entry names Screening.score"
        )),
        "{text}"
    );
    assert!(text.contains("WRITE  FORBIDDEN (NOT_IN_REMIT)"), "{text}");
}

#[test]
fn explain_field_override_and_reclassification() {
    let p = Policy::default_policy();
    let text = p
        .explain(
            "education.head_teacher",
            "TreatmentEpisode.fitToReturn",
            None,
        )
        .expect("explains");
    assert!(
        text.contains(
            "TreatmentEpisode.fitToReturn is listed in the role's read_fields (remits.toml:"
        ),
        "{text}"
    );
    let text = p
        .explain("education.head_teacher", "Report.description", None)
        .expect("explains");
    assert!(
        text.contains(&format!(
            "  - on HARM rows the field belongs to G-ABUSE instead ([row_classes.HARM], remits.toml:{}): FORBIDDEN (NOT_IN_REMIT)",
            line_of("move = {")
        )),
        "{text}"
    );
}

#[test]
fn explain_masks_lawful_basis_and_purposes() {
    let p = Policy::default_policy();
    let text = p
        .explain("civil_affairs.case_officer", "Child.idNumber", None)
        .expect("explains");
    assert!(
        text.contains("READ   allowed, masked (4501**********1234)"),
        "{text}"
    );
    assert!(
        text.contains("this role may take the separate reveal action"),
        "{text}"
    );
    let text = p
        .explain("civil_affairs.institution_staff", "Child.idNumber", None)
        .expect("explains");
    assert!(
        text.contains(
            "this role may not reveal it (only civil_affairs.case_officer, health.clinician may)"
        ),
        "{text}"
    );

    let text = p
        .explain(
            "health.clinician",
            "Screening.score",
            Some(Purpose::Treatment),
        )
        .expect("explains");
    assert!(
        text.contains("on records another agency wrote, CONSENT_REQUIRED unless a LawfulBasis releases G-SCR of that child to HEALTH for purpose TREATMENT"),
        "{text}"
    );
    let text = p
        .explain("health.clinician", "Screening.score", Some(Purpose::Crisis))
        .expect("explains");
    assert!(
        text.contains("purpose CRISIS is the emergency purpose"),
        "{text}"
    );
    let text = p
        .explain(
            "health.clinician",
            "Screening.score",
            Some(Purpose::Statistics),
        )
        .expect("explains");
    assert!(
        text.contains("purpose  STATISTICS — NOT allowed for this role"),
        "{text}"
    );

    let text = p
        .explain("womens_federation.victim_aid", "VictimAid.caseRef", None)
        .expect("explains");
    assert!(
        !text.contains("break-glass"),
        "victim-aid workers cannot break glass:\n{text}"
    );
    let text = p
        .explain("health.clinician", "Child.victimAid", None)
        .expect("explains");
    assert!(text.contains("READ   FORBIDDEN (NOT_IN_REMIT)"), "{text}");
}

#[test]
fn explain_unknown_names() {
    let p = Policy::default_policy();
    let err = p
        .explain("health.surgeon", "Child.name", None)
        .expect_err("unknown role");
    assert!(err.starts_with("remits.toml: there is no role \"health.surgeon\"; the roles are civil_affairs.child_director,"), "{err}");
    let err = p
        .explain("health.clinician", "Child.shoeSize", None)
        .expect_err("unknown field");
    assert!(
        err.contains("there is no field \"Child.shoeSize\""),
        "{err}"
    );
}

#[test]
fn allow_all_explains_itself() {
    let p = Policy::allow_all(&Policy::default_policy());
    let text = p
        .explain(
            "education.head_teacher",
            "TreatmentEpisode.diagnosisCode",
            None,
        )
        .expect("explains");
    assert!(text.contains("allow-all benchmarking policy"), "{text}");
    assert!(p
        .matrix_markdown()
        .contains("**This is the allow-all benchmarking policy"));
}

#[test]
fn matrix_is_deterministic() {
    let a = Policy::default_policy().matrix_markdown();
    let b = Policy::from_toml_str(DEFAULT_POLICY_TOML, "remits.toml")
        .expect("valid")
        .matrix_markdown();
    assert_eq!(a, b);
    assert_eq!(a, Policy::default_policy().matrix_markdown());
}

#[test]
fn matrix_content() {
    let m = Policy::default_policy().matrix_markdown();
    for expected in [
        "| Role | Scope | G-META | G-DIR | G-ID-min | G-ID-full | G-GUARD | G-WEL | G-SCH | G-RISK | G-SCR | G-PLAN | G-VISIT-NOTES | G-SERVICE-NOTES | G-CLIN | G-DISCH | G-ABUSE | G-REF | G-CONSENT | G-AUDIT | G-AGG |",
        "| `health.clinician` | REFERRED or EPISODE | RW | R | RW | RW masked | R | — | — | RW | R W(own) except 1 consent | RW | RW | — | R(own) W(own) consent | RW | — | RW | RW | — | — |",
        "| `supervision.auditor` | AGGREGATE_ONLY | — | R | — | — | — | — | — | — | — | — | — | — | — | — | — | — | — | R | — |",
        "| `Child.idNumber` | `4501**********1234` | `civil_affairs.case_officer`, `health.clinician` |",
        "| HARM | Harm reports (abuse, sexual abuse, neglect, bullying, domestic violence) / 侵害类报告（虐待、性侵、遗弃/忽视、欺凌、家暴） | `Report.description` | G-ABUSE |",
        "| `Report.policeRef` | G-PLAN | G-ABUSE |",
        "- Never reads: `Screening.itemAnswers`",
        "| G-ABUSE | Abuse and victim aid: incident narrative, police reference, victim-aid case | 侵害信息：案情叙述、报案回执、未成年被害人救助 | yes | yes | CIVIL_AFFAIRS, WOMENS_FEDERATION | required | never | no |",
    ] {
        assert!(m.contains(expected), "missing {expected:?}");
    }
    let roles_in_table = m
        .lines()
        .filter(|l| l.starts_with("| `") && l.contains("` | ") && l.matches('|').count() == 22)
        .count();
    assert_eq!(roles_in_table, 19);
}

#[test]
fn committed_matrix_is_current() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("REMITS.md");
    let current = Policy::default_policy().matrix_markdown();
    if std::env::var_os("CAREHUB_BLESS").is_some() {
        std::fs::write(&path, &current).expect("write REMITS.md");
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == current,
        "policy/REMITS.md is out of date; run `CAREHUB_BLESS=1 cargo test -p carehub-policy --test render` (or `carehub policy matrix > policy/REMITS.md`)"
    );
}
