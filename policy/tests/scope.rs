//! Row scopes per scope kind: the abstract predicates the server turns into SQL.

use carehub_policy::{Agency, Link, Policy, Pred, Principal, Purpose, RowScope, ScopeKind};

fn principal(role: &str, org: Option<&str>) -> Principal {
    let p = Policy::default_policy();
    let info = p.role_info(p.role(role).unwrap_or_else(|| panic!("role {role}")));
    Principal {
        sub: "u-1".into(),
        agency: info.agency,
        role: role.into(),
        org: org.map(str::to_owned),
        region: "450102".into(),
        purpose: info.default_purpose,
        client_id: None,
    }
}

fn region() -> Pred {
    Pred::RegionPrefix("450102".into())
}

#[test]
fn region_only_roles() {
    let p = Policy::default_policy();
    for role in [
        "civil_affairs.child_director",
        "civil_affairs.child_supervisor",
        "civil_affairs.case_officer",
    ] {
        assert_eq!(
            p.row_scope(&principal(role, Some("org-1"))),
            RowScope::Filter(region()),
            "{role}"
        );
        assert_eq!(
            p.full_view_scope(&principal(role, None)),
            RowScope::Filter(region()),
            "{role}"
        );
    }
}

#[test]
fn region_and_link() {
    let p = Policy::default_policy();
    assert_eq!(
        p.row_scope(&principal("education.head_teacher", Some("school-1"))),
        RowScope::Filter(Pred::And(vec![
            region(),
            Pred::Class {
                org: "school-1".into(),
                teacher: "u-1".into()
            }
        ]))
    );
    assert_eq!(
        p.row_scope(&principal("education.psych_teacher", Some("school-1"))),
        RowScope::Filter(Pred::And(vec![
            region(),
            Pred::OrgStudents {
                org: "school-1".into()
            }
        ]))
    );
    assert_eq!(
        p.row_scope(&principal(
            "womens_federation.family_guidance",
            Some("wf-1")
        )),
        RowScope::Filter(Pred::And(vec![
            region(),
            Pred::Or(vec![
                Pred::Referred { org: "wf-1".into() },
                Pred::Assigned { sub: "u-1".into() }
            ])
        ]))
    );
}

#[test]
fn links_without_region() {
    let p = Policy::default_policy();
    assert_eq!(
        p.row_scope(&principal("health.clinician", Some("h-1"))),
        RowScope::Filter(Pred::Or(vec![
            Pred::Referred { org: "h-1".into() },
            Pred::Episode { org: "h-1".into() }
        ]))
    );
    assert_eq!(
        p.row_scope(&principal(
            "civil_affairs.institution_staff",
            Some("inst-1")
        )),
        RowScope::Filter(Pred::Or(vec![
            Pred::Institution {
                org: "inst-1".into()
            },
            Pred::Referred {
                org: "inst-1".into()
            }
        ]))
    );
    assert_eq!(
        p.row_scope(&principal("youth_league.hotline_counselor", Some("12355"))),
        RowScope::Filter(Pred::Or(vec![
            Pred::Identified { sub: "u-1".into() },
            Pred::Referred {
                org: "12355".into()
            }
        ]))
    );
    for partner in [
        "partner.hotline_app",
        "partner.hospital_system",
        "partner.school_system",
    ] {
        assert_eq!(
            p.row_scope(&principal(partner, Some("org"))),
            RowScope::Filter(Pred::Identified { sub: "u-1".into() }),
            "{partner}"
        );
    }
}

#[test]
fn aggregate_and_unknown_roles_see_nothing() {
    let p = Policy::default_policy();
    for role in [
        "education.bureau_officer",
        "health.commission_officer",
        "supervision.inspector",
        "supervision.auditor",
    ] {
        assert_eq!(
            p.row_scope(&principal(role, Some("org"))),
            RowScope::Nothing,
            "{role}"
        );
        assert_eq!(
            p.role_info(p.role(role).expect("role")).scope,
            ScopeKind::AggregateOnly
        );
    }
    let mut stranger = principal("education.head_teacher", Some("school-1"));
    stranger.role = "education.janitor".into();
    assert_eq!(p.row_scope(&stranger), RowScope::Nothing);
    assert_eq!(p.full_view_scope(&stranger), RowScope::Nothing);
}

#[test]
fn links_needing_an_organization_select_nothing_without_one() {
    let p = Policy::default_policy();
    // Never the whole region just because the token lacks an organization.
    assert_eq!(
        p.row_scope(&principal("education.head_teacher", None)),
        RowScope::Nothing
    );
    assert_eq!(
        p.row_scope(&principal("health.clinician", None)),
        RowScope::Nothing
    );
    // Links that need no organization remain.
    assert_eq!(
        p.row_scope(&principal("health.community_doctor", None)),
        RowScope::Filter(Pred::And(vec![
            region(),
            Pred::Assigned { sub: "u-1".into() }
        ]))
    );
    assert_eq!(
        p.row_scope(&principal("education.psych_teacher", Some(""))),
        RowScope::Nothing,
        "an empty organization is no organization"
    );
}

#[test]
fn full_view_scope_drops_referrals() {
    let p = Policy::default_policy();
    assert_eq!(
        p.full_view_scope(&principal("health.clinician", Some("h-1"))),
        RowScope::Filter(Pred::Episode { org: "h-1".into() })
    );
    assert_eq!(
        p.full_view_scope(&principal("health.community_doctor", Some("chc-1"))),
        RowScope::Filter(Pred::And(vec![
            region(),
            Pred::Assigned { sub: "u-1".into() }
        ]))
    );
    assert_eq!(
        p.full_view_scope(&principal("youth_league.hotline_counselor", Some("12355"))),
        RowScope::Filter(Pred::Identified { sub: "u-1".into() })
    );
    let clinician = p.role("health.clinician").expect("role");
    assert_eq!(p.full_view_links(clinician), vec![Link::Episode]);
    let teacher = p.role("education.head_teacher").expect("role");
    assert!(!p.view_limited(teacher));
    assert_eq!(
        p.full_view_scope(&principal("education.head_teacher", Some("s"))),
        p.row_scope(&principal("education.head_teacher", Some("s")))
    );
}

#[test]
fn scope_descriptions() {
    let p = Policy::default_policy();
    let info = p.role_info(p.role("health.community_doctor").expect("role"));
    assert_eq!(
        info.scope.to_toml(),
        "{ region = true, links = [\"REFERRED\", \"ASSIGNED\"] }"
    );
    assert_eq!(
        info.scope.describe(),
        "children living in the user's region and referred to the user's organization (authorized view only), or assigned to the user"
    );
    assert_eq!(info.agency, Agency::Health);
    assert_eq!(info.default_purpose, Purpose::Care);
    assert_eq!("REFERRED".parse::<Link>(), Ok(Link::Referred));
}
