//! Row scopes: which children a role sees at all, as an abstract predicate over a child that
//! the server translates into SQL (so rows outside the scope are never fetched).

use std::fmt;
use std::str::FromStr;

use crate::{Policy, Principal, RoleId};

/// A way a principal is linked to a child (Primero's association scopes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Link {
    /// The child is ENROLLED at the principal's school.
    OrgStudents,
    /// The child is enrolled at the principal's school in a class the principal heads.
    Class,
    /// An open referral of the child to the principal's organization (view-limited).
    Referred,
    /// A treatment episode of the child at the principal's organization.
    Episode,
    /// The principal leads a care plan, supports a pairing, has an open visit task or works the
    /// victim-aid case.
    Assigned,
    /// Records the principal created (e.g. 12355 calls, a partner's submissions).
    Identified,
    /// The child's responsible organization is the principal's organization.
    Institution,
}

impl Link {
    /// Every link kind.
    pub const ALL: [Link; 7] = [
        Link::OrgStudents,
        Link::Class,
        Link::Referred,
        Link::Episode,
        Link::Assigned,
        Link::Identified,
        Link::Institution,
    ];

    /// The name used in the policy file.
    pub fn as_str(self) -> &'static str {
        match self {
            Link::OrgStudents => "ORG_STUDENTS",
            Link::Class => "CLASS",
            Link::Referred => "REFERRED",
            Link::Episode => "EPISODE",
            Link::Assigned => "ASSIGNED",
            Link::Identified => "IDENTIFIED",
            Link::Institution => "INSTITUTION",
        }
    }

    /// Whether reaching a child through this link shows the whole remit (every link but
    /// REFERRED, which shows only the referral's authorized view).
    pub fn full_view(self) -> bool {
        self != Link::Referred
    }

    /// A short description for people.
    pub fn describe(self) -> &'static str {
        match self {
            Link::OrgStudents => "enrolled at the user's school",
            Link::Class => "in the user's class",
            Link::Referred => "referred to the user's organization (authorized view only)",
            Link::Episode => "treated at the user's organization",
            Link::Assigned => "assigned to the user",
            Link::Identified => "records the user created",
            Link::Institution => "in the care of the user's organization",
        }
    }

    pub(crate) fn names() -> String {
        Link::ALL.map(Link::as_str).join(", ")
    }

    /// The predicate of this link for `p`; `None` when the principal lacks what the link needs
    /// (an organization), so the link selects nothing.
    fn pred(self, p: &Principal) -> Option<Pred> {
        let org = || p.org.clone().filter(|o| !o.is_empty());
        Some(match self {
            Link::OrgStudents => Pred::OrgStudents { org: org()? },
            Link::Class => Pred::Class {
                org: org()?,
                teacher: p.sub.clone(),
            },
            Link::Referred => Pred::Referred { org: org()? },
            Link::Episode => Pred::Episode { org: org()? },
            Link::Assigned => Pred::Assigned { sub: p.sub.clone() },
            Link::Identified => Pred::Identified { sub: p.sub.clone() },
            Link::Institution => Pred::Institution { org: org()? },
        })
    }
}

impl fmt::Display for Link {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Link {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Link::ALL
            .into_iter()
            .find(|l| l.as_str() == s)
            .ok_or_else(|| format!("unknown link {s:?}"))
    }
}

/// A role's row scope as declared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScopeKind {
    /// No individual records; aggregates and the directory only.
    AggregateOnly,
    /// Every child, wherever they live (not used by the default policy).
    All,
    /// Children in the principal's region subtree (if `region`) and, if any links are given,
    /// linked to the principal by at least one of them.
    Linked { region: bool, links: Vec<Link> },
}

impl ScopeKind {
    /// Whether the scope reaches any rows at all.
    pub fn has_rows(&self) -> bool {
        !matches!(self, ScopeKind::AggregateOnly)
    }

    /// The links of the scope (empty for the keywords).
    pub fn links(&self) -> &[Link] {
        match self {
            ScopeKind::Linked { links, .. } => links,
            _ => &[],
        }
    }

    /// One line for people.
    pub fn describe(&self) -> String {
        match self {
            ScopeKind::AggregateOnly => "aggregates only (no individual records)".to_owned(),
            ScopeKind::All => "every child".to_owned(),
            ScopeKind::Linked { region, links } => {
                let links = links
                    .iter()
                    .map(|l| l.describe())
                    .collect::<Vec<_>>()
                    .join(", or ");
                match (region, links.is_empty()) {
                    (true, true) => "children living in the user's region".to_owned(),
                    (true, false) => format!("children living in the user's region and {links}"),
                    (false, _) => format!("children {links}"),
                }
            }
        }
    }

    /// The scope written as in the policy file.
    pub fn to_toml(&self) -> String {
        match self {
            ScopeKind::AggregateOnly => "\"AGGREGATE_ONLY\"".to_owned(),
            ScopeKind::All => "\"ALL\"".to_owned(),
            ScopeKind::Linked { region, links } => {
                let links = links
                    .iter()
                    .map(|l| format!("\"{l}\""))
                    .collect::<Vec<_>>()
                    .join(", ");
                format!("{{ region = {region}, links = [{links}] }}")
            }
        }
    }
}

/// A predicate over one child. `And(vec![])` is true; `Or(vec![])` is false.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pred {
    /// Every part holds.
    And(Vec<Pred>),
    /// At least one part holds.
    Or(Vec<Pred>),
    /// `child.residenceRegionCode` starts with the prefix.
    RegionPrefix(String),
    /// An ENROLLED enrollment of the child at `org`.
    OrgStudents { org: String },
    /// An ENROLLED enrollment at `org` whose head teacher is `teacher`.
    Class { org: String, teacher: String },
    /// An open referral of the child to `org`.
    Referred { org: String },
    /// A treatment episode of the child at `org`.
    Episode { org: String },
    /// `sub` leads a care plan, supports a pairing, has an open visit or works victim aid.
    Assigned { sub: String },
    /// Records of the child created by `sub`.
    Identified { sub: String },
    /// The child's responsible organization is `org`.
    Institution { org: String },
}

/// The rows a principal may see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RowScope {
    /// No rows (aggregate-only roles, unknown roles).
    Nothing,
    /// Every row, no region restriction.
    All,
    /// The rows satisfying the predicate.
    Filter(Pred),
}

/// Region subtree AND any of the links. When no link applies (every declared link needs an
/// organization the principal lacks) the scope is empty — never the whole region.
fn linked_scope(p: &Principal, region: bool, links: &[Link]) -> RowScope {
    let region = region.then(|| Pred::RegionPrefix(p.region.clone()));
    if links.is_empty() {
        // Validation rejects `region = false` without links; nothing is the safe reading.
        return region.map_or(RowScope::Nothing, RowScope::Filter);
    }
    let mut preds: Vec<Pred> = links.iter().filter_map(|l| l.pred(p)).collect();
    let any_link = match preds.len() {
        0 => return RowScope::Nothing,
        1 => preds.remove(0),
        _ => Pred::Or(preds),
    };
    match region {
        Some(r) => RowScope::Filter(Pred::And(vec![r, any_link])),
        None => RowScope::Filter(any_link),
    }
}

impl Policy {
    /// The rows `p` may see through its role's scope. Unknown roles see nothing.
    pub fn row_scope(&self, p: &Principal) -> RowScope {
        let Some(role) = self.role(&p.role) else {
            return RowScope::Nothing;
        };
        match &self.role_info(role).scope {
            ScopeKind::AggregateOnly => RowScope::Nothing,
            ScopeKind::All => RowScope::All,
            ScopeKind::Linked { region, links } => linked_scope(p, *region, links),
        }
    }

    /// The rows `p` reaches with the whole remit: the scope without the REFERRED link. A row in
    /// [`Policy::row_scope`] but not here is seen only through a referral, and its facts carry
    /// the referral's authorized view. Roles without REFERRED get the same as `row_scope`.
    pub fn full_view_scope(&self, p: &Principal) -> RowScope {
        let Some(role) = self.role(&p.role) else {
            return RowScope::Nothing;
        };
        match &self.role_info(role).scope {
            ScopeKind::Linked { region, links } if links.contains(&Link::Referred) => {
                let full: Vec<Link> = links.iter().copied().filter(|l| l.full_view()).collect();
                if full.is_empty() {
                    return RowScope::Nothing;
                }
                linked_scope(p, *region, &full)
            }
            _ => self.row_scope(p),
        }
    }

    /// Whether the role reaches some children only through referrals (its scope has REFERRED),
    /// so the server must compute [`crate::RowFacts::view`] per child.
    pub fn view_limited(&self, role: RoleId) -> bool {
        self.role_info(role).scope.links().contains(&Link::Referred)
    }

    /// The links through which the role sees the whole remit (all but REFERRED).
    pub fn full_view_links(&self, role: RoleId) -> Vec<Link> {
        self.role_info(role)
            .scope
            .links()
            .iter()
            .copied()
            .filter(|l| l.full_view())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_names_round_trip() {
        for l in Link::ALL {
            assert_eq!(l.as_str().parse::<Link>(), Ok(l));
            assert_eq!(l.full_view(), l != Link::Referred);
        }
        assert!("referred".parse::<Link>().is_err());
    }

    #[test]
    fn scope_kinds() {
        assert!(!ScopeKind::AggregateOnly.has_rows());
        assert!(ScopeKind::All.has_rows());
        let s = ScopeKind::Linked {
            region: false,
            links: vec![Link::Identified],
        };
        assert_eq!(s.links(), &[Link::Identified]);
        assert_eq!(s.to_toml(), "{ region = false, links = [\"IDENTIFIED\"] }");
        assert_eq!(s.describe(), "children records the user created");
        assert_eq!(ScopeKind::AggregateOnly.to_toml(), "\"AGGREGATE_ONLY\"");
    }

    #[test]
    fn linked_scope_shapes() {
        let p = Principal {
            sub: "s".into(),
            agency: crate::Agency::Education,
            role: "education.head_teacher".into(),
            org: Some("o".into()),
            region: "4501".into(),
            purpose: crate::Purpose::Care,
            client_id: None,
        };
        assert_eq!(
            linked_scope(&p, true, &[]),
            RowScope::Filter(Pred::RegionPrefix("4501".into()))
        );
        assert_eq!(linked_scope(&p, false, &[]), RowScope::Nothing);
        assert_eq!(
            linked_scope(&p, false, &[Link::Assigned, Link::Episode]),
            RowScope::Filter(Pred::Or(vec![
                Pred::Assigned { sub: "s".into() },
                Pred::Episode { org: "o".into() }
            ]))
        );
        let no_org = Principal { org: None, ..p };
        assert_eq!(
            linked_scope(&no_org, true, &[Link::Institution]),
            RowScope::Nothing
        );
    }
}
