//! Checks the meaning of a parsed policy file: every name resolves, every field has exactly one
//! group, every grant respects the groups' `writable_by` and the design's fixed points. All
//! problems are collected, not just the first; a file without problems yields a resolved
//! model (names replaced by indices) that [`crate::compile`] turns into bitsets.

use std::collections::{HashMap, HashSet};

use crate::error::{Loc, PolicyError};
use crate::file::{LineIndex, Name, PolicyFile, ScopeDecl};
use crate::scope::{Link, ScopeKind};
use crate::sets::{RowClass, MAX_GROUPS};
use crate::{Agency, Purpose};

/// Most characters a mask may leave in clear (4 + 4 keeps the region prefix and check digits).
pub const MASK_MAX_KEPT: usize = 8;

/// A position-tagged index: `(index, line)`.
pub(crate) type At = (usize, usize);

/// A field group after validation.
#[derive(Debug, Clone)]
pub(crate) struct RGroup {
    pub name: String,
    pub title: String,
    pub title_zh: String,
    pub sensitive: bool,
    pub records: bool,
    pub writable_by: Vec<Agency>,
    pub line: usize,
}

/// A catalogue field after validation.
#[derive(Debug, Clone)]
pub(crate) struct RField {
    pub type_name: String,
    pub field_name: String,
    pub group: usize,
    /// Per row class: the group the field moves to on such rows, and the line saying so.
    pub moves: [Option<At>; RowClass::COUNT],
    pub line: usize,
}

/// A row class declaration after validation.
#[derive(Debug, Clone)]
pub(crate) struct RClass {
    pub class: RowClass,
    pub title: String,
    pub title_zh: String,
}

/// A role after validation (every list keeps the line of each entry, for `explain`).
#[derive(Debug, Clone)]
pub(crate) struct RRole {
    pub name: String,
    pub agency: Agency,
    pub title: String,
    pub title_zh: String,
    pub scope: ScopeKind,
    pub scope_line: usize,
    pub purposes: Vec<At>,
    pub purposes_line: usize,
    pub default_purpose: Purpose,
    pub read: Vec<At>,
    pub write: Vec<At>,
    pub read_fields: Vec<At>,
    pub deny_read_fields: Vec<At>,
    pub write_fields: Vec<At>,
    pub deny_write_fields: Vec<At>,
    pub own_org_read: Vec<At>,
    pub own_org_write: Vec<At>,
    pub break_glass: Option<usize>,
    pub consent_override: bool,
    pub line: usize,
}

impl RRole {
    pub(crate) fn purposes(&self) -> impl Iterator<Item = Purpose> + '_ {
        self.purposes.iter().map(|(p, _)| Purpose::ALL[*p])
    }
}

/// A mask after validation.
#[derive(Debug, Clone)]
pub(crate) struct RMask {
    pub field: usize,
    pub keep_start: u8,
    pub keep_end: u8,
    pub reveal: Vec<At>,
    pub line: usize,
}

/// A valid policy with every name resolved to an index.
#[derive(Debug, Clone)]
pub(crate) struct Resolved {
    pub groups: Vec<RGroup>,
    pub fields: Vec<RField>,
    pub classes: Vec<RClass>,
    pub roles: Vec<RRole>,
    pub masks: Vec<RMask>,
    pub lawful: Vec<At>,
    pub emergency: Purpose,
    pub emergency_line: Option<usize>,
    pub never_break_glass: Vec<At>,
    pub always_visible: Vec<At>,
}

const UNRESOLVED: usize = usize::MAX;

fn is_graphql_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c == '_' || c.is_ascii_alphabetic())
        && chars.all(|c| c == '_' || c.is_ascii_alphanumeric())
}

fn purpose_index(p: Purpose) -> usize {
    Purpose::ALL.iter().position(|q| *q == p).unwrap_or(0)
}

struct Checker<'a> {
    origin: &'a str,
    lines: LineIndex,
    errors: Vec<PolicyError>,
    group_idx: HashMap<String, usize>,
    groups: Vec<RGroup>,
    field_idx: HashMap<String, usize>,
    types: HashSet<String>,
    fields: Vec<RField>,
    role_idx: HashMap<String, usize>,
}

impl Checker<'_> {
    fn at(&self, n: &toml::Spanned<impl Sized>) -> Loc {
        Loc {
            origin: self.origin.to_owned(),
            line: Some(self.lines.of(n)),
        }
    }

    fn line(&self, n: &toml::Spanned<impl Sized>) -> usize {
        self.lines.of(n)
    }

    fn nowhere(&self) -> Loc {
        Loc {
            origin: self.origin.to_owned(),
            line: None,
        }
    }

    fn err(&mut self, e: PolicyError) {
        self.errors.push(e);
    }

    /// Resolves a list of group names, reporting unknown and repeated ones.
    fn groups_of(&mut self, list: &[Name], context: &str) -> Vec<At> {
        let mut out: Vec<At> = Vec::new();
        for n in list {
            match self.group_idx.get(n.get_ref()).copied() {
                Some(g) if out.iter().any(|(x, _)| *x == g) => {
                    self.err(PolicyError::DuplicateEntry {
                        at: self.at(n),
                        context: context.to_owned(),
                        item: n.get_ref().clone(),
                    })
                }
                Some(g) => out.push((g, self.line(n))),
                None => self.err(PolicyError::UnknownGroup {
                    at: self.at(n),
                    context: context.to_owned(),
                    group: n.get_ref().clone(),
                }),
            }
        }
        out
    }

    /// Resolves `Type.field`, reporting malformed names, unknown types and unknown fields.
    fn field_of(&mut self, n: &Name, context: &str) -> Option<usize> {
        let text = n.get_ref();
        let Some((ty, field)) = text
            .split_once('.')
            .filter(|(t, f)| !t.is_empty() && !f.is_empty() && !f.contains('.'))
        else {
            self.err(PolicyError::MalformedField {
                at: self.at(n),
                context: context.to_owned(),
                field: text.clone(),
            });
            return None;
        };
        if let Some(i) = self.field_idx.get(text) {
            return Some(*i);
        }
        if self.types.contains(ty) {
            self.err(PolicyError::UnknownField {
                at: self.at(n),
                context: context.to_owned(),
                field: text.clone(),
                type_name: ty.to_owned(),
                field_name: field.to_owned(),
            });
        } else {
            self.err(PolicyError::UnknownType {
                at: self.at(n),
                context: context.to_owned(),
                field: text.clone(),
                type_name: ty.to_owned(),
            });
        }
        None
    }

    fn fields_of(&mut self, list: &[Name], context: &str) -> Vec<At> {
        let mut out: Vec<At> = Vec::new();
        for n in list {
            if let Some(f) = self.field_of(n, context) {
                if out.iter().any(|(x, _)| *x == f) {
                    self.err(PolicyError::DuplicateEntry {
                        at: self.at(n),
                        context: context.to_owned(),
                        item: n.get_ref().clone(),
                    });
                } else {
                    out.push((f, self.line(n)));
                }
            }
        }
        out
    }

    fn agency_of(&mut self, n: &Name, context: &str) -> Option<Agency> {
        match n.get_ref().parse::<Agency>() {
            Ok(a) => Some(a),
            Err(_) => {
                self.err(PolicyError::UnknownAgency {
                    at: self.at(n),
                    context: context.to_owned(),
                    agency: n.get_ref().clone(),
                });
                None
            }
        }
    }

    fn purpose_of(&mut self, n: &Name, context: &str) -> Option<Purpose> {
        match n.get_ref().parse::<Purpose>() {
            Ok(p) => Some(p),
            Err(_) => {
                self.err(PolicyError::UnknownPurpose {
                    at: self.at(n),
                    context: context.to_owned(),
                    purpose: n.get_ref().clone(),
                });
                None
            }
        }
    }

    fn group_name(&self, g: usize) -> String {
        self.groups
            .get(g)
            .map_or_else(|| "(unknown group)".to_owned(), |x| x.name.clone())
    }

    fn qualified(&self, f: usize) -> String {
        self.fields
            .get(f)
            .map_or_else(String::new, |x| format!("{}.{}", x.type_name, x.field_name))
    }

    fn group_named(&self, name: &str) -> Option<&RGroup> {
        self.group_idx.get(name).and_then(|g| self.groups.get(*g))
    }

    fn check_groups(&mut self, file: &PolicyFile) {
        let mut first_line: HashMap<String, usize> = HashMap::new();
        for g in &file.groups {
            let name = g.name.get_ref();
            if let Some(first) = first_line.get(name) {
                self.err(PolicyError::DuplicateGroup {
                    at: self.at(&g.name),
                    group: name.clone(),
                    first_line: *first,
                });
                continue;
            }
            first_line.insert(name.clone(), self.line(&g.name));
            let context = format!("writable_by of group {name}");
            let mut writable_by = Vec::new();
            for a in &g.writable_by {
                if let Some(agency) = self.agency_of(a, &context) {
                    if writable_by.contains(&agency) {
                        self.err(PolicyError::DuplicateEntry {
                            at: self.at(a),
                            context: context.clone(),
                            item: agency.as_str().to_owned(),
                        });
                    } else {
                        writable_by.push(agency);
                    }
                }
            }
            self.group_idx.insert(name.clone(), self.groups.len());
            self.groups.push(RGroup {
                name: name.clone(),
                title: g.title.clone(),
                title_zh: g.title_zh.clone(),
                sensitive: g.sensitive,
                records: g.records,
                writable_by,
                line: self.line(&g.name),
            });
        }
        if self.groups.len() > MAX_GROUPS {
            self.err(PolicyError::TooMany {
                at: self.nowhere(),
                what: "field groups",
                count: self.groups.len(),
                max: MAX_GROUPS,
            });
        }
    }

    fn check_types(&mut self, file: &PolicyFile) {
        // BTreeMap order is alphabetical; document order reads better in the matrix.
        let mut types: Vec<_> = file.types.iter().collect();
        types.sort_by_key(|(k, _)| k.span().start);
        for (ty, _) in &types {
            self.types.insert(ty.get_ref().clone());
        }
        for (ty, groups) in types {
            let type_name = ty.get_ref();
            let mut entries: Vec<_> = groups.iter().collect();
            entries.sort_by_key(|(k, _)| k.span().start);
            for (group, names) in entries {
                let g = match self.group_idx.get(group.get_ref()) {
                    Some(g) => *g,
                    None => {
                        self.err(PolicyError::UnknownGroup {
                            at: self.at(group),
                            context: format!("[types.{type_name}]"),
                            group: group.get_ref().clone(),
                        });
                        UNRESOLVED
                    }
                };
                for n in names {
                    let field = n.get_ref();
                    if !is_graphql_name(field) {
                        self.err(PolicyError::BadFieldName {
                            at: self.at(n),
                            type_name: type_name.clone(),
                            field: field.clone(),
                        });
                        continue;
                    }
                    let qualified = format!("{type_name}.{field}");
                    if let Some(existing) = self.field_idx.get(&qualified).copied() {
                        let first = self.fields[existing].group;
                        let e = if first == g {
                            PolicyError::DuplicateField {
                                at: self.at(n),
                                field: qualified,
                                group: self.group_name(g),
                            }
                        } else {
                            PolicyError::FieldInTwoGroups {
                                at: self.at(n),
                                field: qualified,
                                first: self.group_name(first),
                                second: self.group_name(g),
                            }
                        };
                        self.err(e);
                        continue;
                    }
                    self.field_idx.insert(qualified, self.fields.len());
                    self.fields.push(RField {
                        type_name: type_name.clone(),
                        field_name: field.clone(),
                        group: g,
                        moves: [None; RowClass::COUNT],
                        line: self.line(n),
                    });
                }
            }
        }
        if self.fields.len() > usize::from(u16::MAX) {
            self.err(PolicyError::TooMany {
                at: self.nowhere(),
                what: "fields",
                count: self.fields.len(),
                max: usize::from(u16::MAX),
            });
        }
    }

    fn check_classes(&mut self, file: &PolicyFile) -> Vec<RClass> {
        let mut out = Vec::new();
        for (name, decl) in &file.row_classes {
            let Ok(class) = name.get_ref().parse::<RowClass>() else {
                self.err(PolicyError::UnknownRowClass {
                    at: self.at(name),
                    class: name.get_ref().clone(),
                });
                continue;
            };
            out.push(RClass {
                class,
                title: decl.title.clone(),
                title_zh: decl.title_zh.clone(),
            });
            let context = format!("row class {class} move");
            for (field, group) in &decl.moves {
                let f = self.field_of(field, &context);
                let g = self.groups_of(std::slice::from_ref(group), &context);
                if let (Some(f), Some((g, line))) = (f, g.first().copied()) {
                    self.fields[f].moves[class.index()] = Some((g, line));
                }
            }
        }
        out.sort_by_key(|c| c.class);
        out
    }

    fn check_roles(
        &mut self,
        file: &PolicyFile,
        emergency: Purpose,
        always_visible: &[At],
    ) -> Vec<RRole> {
        let mut first_line: HashMap<String, usize> = HashMap::new();
        let mut unique = Vec::new();
        for r in &file.roles {
            let name = r.name.get_ref();
            if let Some(first) = first_line.get(name) {
                self.err(PolicyError::DuplicateRole {
                    at: self.at(&r.name),
                    role: name.clone(),
                    first_line: *first,
                });
            } else {
                first_line.insert(name.clone(), self.line(&r.name));
                self.role_idx.insert(name.clone(), unique.len());
                unique.push(r);
            }
        }
        if unique.len() > usize::from(u16::MAX) {
            self.err(PolicyError::TooMany {
                at: self.nowhere(),
                what: "roles",
                count: unique.len(),
                max: usize::from(u16::MAX),
            });
        }
        unique
            .into_iter()
            .map(|r| self.check_role(r, emergency, always_visible))
            .collect()
    }

    fn check_role(
        &mut self,
        r: &crate::file::RoleDecl,
        emergency: Purpose,
        always_visible: &[At],
    ) -> RRole {
        let name = r.name.get_ref().clone();
        let ctx = |what: &str| format!("role {name} {what}");

        let agency = self.agency_of(&r.agency, &format!("role {name}"));
        if let Some(agency) = agency {
            let prefix = agency.role_prefix();
            if !name
                .strip_prefix(prefix)
                .is_some_and(|rest| rest.starts_with('.') && rest.len() > 1)
            {
                self.err(PolicyError::RolePrefixMismatch {
                    at: self.at(&r.name),
                    role: name.clone(),
                    agency: agency.as_str().to_owned(),
                    prefix: prefix.to_owned(),
                });
            }
        }

        // Purposes.
        let mut purposes: Vec<At> = Vec::new();
        for p in r.purposes.get_ref() {
            if let Some(purpose) = self.purpose_of(p, &ctx("purposes")) {
                let i = purpose_index(purpose);
                if purposes.iter().any(|(x, _)| *x == i) {
                    self.err(PolicyError::DuplicateEntry {
                        at: self.at(p),
                        context: ctx("purposes"),
                        item: purpose.as_str().to_owned(),
                    });
                } else {
                    purposes.push((i, self.line(p)));
                }
            }
        }
        if r.purposes.get_ref().is_empty() {
            self.err(PolicyError::EmptyPurposes {
                at: self.at(&r.purposes),
                role: name.clone(),
            });
        }
        let default_purpose = self.purpose_of(&r.default_purpose, &ctx("default_purpose"));
        if let Some(d) = default_purpose {
            let known = r
                .purposes
                .get_ref()
                .iter()
                .all(|p| p.get_ref().parse::<Purpose>().is_ok());
            if known && !purposes.iter().any(|(i, _)| *i == purpose_index(d)) {
                self.err(PolicyError::DefaultPurposeNotAllowed {
                    at: self.at(&r.default_purpose),
                    role: name.clone(),
                    purpose: d.as_str().to_owned(),
                });
            }
        }

        // Scope.
        let scope = match r.scope.get_ref() {
            ScopeDecl::Keyword(k) if k == "AGGREGATE_ONLY" => ScopeKind::AggregateOnly,
            ScopeDecl::Keyword(k) if k == "ALL" => ScopeKind::All,
            ScopeDecl::Keyword(k) => {
                self.err(PolicyError::UnknownScope {
                    at: self.at(&r.scope),
                    role: name.clone(),
                    found: k.clone(),
                });
                ScopeKind::AggregateOnly
            }
            ScopeDecl::Linked { region, links } => {
                let mut out = Vec::new();
                for l in links {
                    match l.get_ref().parse::<Link>() {
                        Ok(link) if out.contains(&link) => self.err(PolicyError::DuplicateLink {
                            at: self.at(l),
                            role: name.clone(),
                            link: link.as_str().to_owned(),
                        }),
                        Ok(link) => out.push(link),
                        Err(_) => self.err(PolicyError::UnknownLink {
                            at: self.at(l),
                            role: name.clone(),
                            link: l.get_ref().clone(),
                        }),
                    }
                }
                if !region && links.is_empty() {
                    self.err(PolicyError::EmptyScope {
                        at: self.at(&r.scope),
                        role: name.clone(),
                    });
                }
                ScopeKind::Linked {
                    region: *region,
                    links: out,
                }
            }
        };
        if agency == Some(Agency::Partner)
            && !matches!(&scope, ScopeKind::Linked { links, .. } if links.as_slice() == [Link::Identified])
        {
            self.err(PolicyError::PartnerScope {
                at: self.at(&r.scope),
                role: name.clone(),
            });
        }

        // Grants.
        let read = self.groups_of(&r.read, &ctx("read"));
        let write = self.groups_of(&r.write, &ctx("write"));
        let read_fields = self.fields_of(&r.read_fields, &ctx("read_fields"));
        let deny_read_fields = self.fields_of(&r.deny_read_fields, &ctx("deny_read_fields"));
        let write_fields = self.fields_of(&r.write_fields, &ctx("write_fields"));
        let deny_write_fields = self.fields_of(&r.deny_write_fields, &ctx("deny_write_fields"));
        let own_org_read = self.groups_of(&r.own_org_only.read, &ctx("own_org_only.read"));
        let own_org_write = self.groups_of(&r.own_org_only.write, &ctx("own_org_only.write"));

        let has = |list: &[At], x: usize| list.iter().any(|(i, _)| *i == x);
        let loc = |line: usize| Loc {
            origin: self.origin.to_owned(),
            line: Some(line),
        };
        let mut problems = Vec::new();

        for (access, own, granted) in [
            ("read", &own_org_read, &read),
            ("write", &own_org_write, &write),
        ] {
            for (g, line) in own {
                if !has(granted, *g) {
                    problems.push(PolicyError::OwnOrgNotGranted {
                        at: loc(*line),
                        role: name.clone(),
                        access,
                        group: self.group_name(*g),
                    });
                }
            }
        }

        for (access, allow, deny, groups, list, deny_list) in [
            (
                "read",
                &read_fields,
                &deny_read_fields,
                &read,
                "read_fields",
                "deny_read_fields",
            ),
            (
                "write",
                &write_fields,
                &deny_write_fields,
                &write,
                "write_fields",
                "deny_write_fields",
            ),
        ] {
            for (f, line) in allow {
                let g = self.fields[*f].group;
                if has(deny, *f) {
                    problems.push(PolicyError::ConflictingOverride {
                        at: loc(*line),
                        role: name.clone(),
                        access,
                        field: self.qualified(*f),
                    });
                } else if has(groups, g) {
                    problems.push(PolicyError::RedundantOverride {
                        at: loc(*line),
                        role: name.clone(),
                        field: self.qualified(*f),
                        list,
                        reason: format!(
                            "the role already has {access} on its group {}",
                            self.group_name(g)
                        ),
                    });
                }
            }
            for (f, line) in deny {
                let g = self.fields[*f].group;
                let moved_into_granted = self.fields[*f]
                    .moves
                    .iter()
                    .flatten()
                    .any(|(mg, _)| has(groups, *mg));
                if !has(groups, g) && !moved_into_granted && !has(allow, *f) {
                    problems.push(PolicyError::RedundantOverride {
                        at: loc(*line),
                        role: name.clone(),
                        field: self.qualified(*f),
                        list: deny_list,
                        reason: format!(
                            "the role has no {access} on its group {} anyway",
                            self.group_name(g)
                        ),
                    });
                }
            }
        }

        if let Some(agency) = agency {
            for (g, line) in &write {
                let group = &self.groups[*g];
                if !group.writable_by.contains(&agency) {
                    problems.push(PolicyError::WriteNotPermitted {
                        at: loc(*line),
                        role: name.clone(),
                        group: group.name.clone(),
                        writable_by: group
                            .writable_by
                            .iter()
                            .map(|a| a.as_str().to_owned())
                            .collect(),
                    });
                }
            }
            for (f, line) in &write_fields {
                let group = &self.groups[self.fields[*f].group];
                if !group.writable_by.contains(&agency) {
                    problems.push(PolicyError::FieldWriteNotPermitted {
                        at: loc(*line),
                        role: name.clone(),
                        field: self.qualified(*f),
                        group: group.name.clone(),
                        writable_by: group
                            .writable_by
                            .iter()
                            .map(|a| a.as_str().to_owned())
                            .collect(),
                    });
                }
            }
            if agency != Agency::Partner {
                for (g, line) in &write {
                    if !has(&read, *g) {
                        problems.push(PolicyError::WriteWithoutRead {
                            at: loc(*line),
                            role: name.clone(),
                            subject: format!("field group {}", self.group_name(*g)),
                        });
                    }
                }
                for (f, line) in &write_fields {
                    let readable = (has(&read, self.fields[*f].group) || has(&read_fields, *f))
                        && !has(&deny_read_fields, *f);
                    if !readable {
                        problems.push(PolicyError::WriteWithoutRead {
                            at: loc(*line),
                            role: name.clone(),
                            subject: format!("field {}", self.qualified(*f)),
                        });
                    }
                }
            }
        }

        if scope == ScopeKind::AggregateOnly {
            let allowed = self
                .groups
                .iter()
                .filter(|g| !g.records)
                .map(|g| g.name.as_str())
                .collect::<Vec<_>>()
                .join(", ");
            for (access, list) in [("read", &read), ("write", &write)] {
                for (g, line) in list {
                    if self.groups[*g].records {
                        problems.push(PolicyError::AggregateRoleGrantedRecords {
                            at: loc(*line),
                            role: name.clone(),
                            access,
                            subject: format!("field group {}", self.group_name(*g)),
                            allowed: allowed.clone(),
                        });
                    }
                }
            }
            for (access, list) in [("read", &read_fields), ("write", &write_fields)] {
                for (f, line) in list {
                    let g = self.fields[*f].group;
                    if self.groups[g].records {
                        problems.push(PolicyError::AggregateRoleGrantedRecords {
                            at: loc(*line),
                            role: name.clone(),
                            access,
                            subject: format!(
                                "field {} (group {})",
                                self.qualified(*f),
                                self.group_name(g)
                            ),
                            allowed: allowed.clone(),
                        });
                    }
                }
            }
        }

        let break_glass = r
            .break_glass
            .as_ref()
            .filter(|b| *b.get_ref())
            .map(|b| self.line(b));
        if let Some(line) = break_glass {
            if !has(&purposes, purpose_index(emergency)) {
                problems.push(PolicyError::BreakGlassWithoutEmergency {
                    at: loc(line),
                    role: name.clone(),
                    emergency: emergency.as_str().to_owned(),
                });
            }
        }

        if scope.links().contains(&Link::Referred) {
            for (g, _) in always_visible {
                if !has(&read, *g) {
                    problems.push(PolicyError::ReferralReceiverBlind {
                        at: self.at(&r.scope),
                        role: name.clone(),
                        group: self.group_name(*g),
                    });
                }
            }
        }
        self.errors.extend(problems);

        RRole {
            name: name.clone(),
            agency: agency.unwrap_or(Agency::Partner),
            title: r.title.clone(),
            title_zh: r.title_zh.clone(),
            scope,
            scope_line: self.line(&r.scope),
            purposes,
            purposes_line: self.line(&r.purposes),
            default_purpose: default_purpose.unwrap_or(Purpose::Care),
            read,
            write,
            read_fields,
            deny_read_fields,
            write_fields,
            deny_write_fields,
            own_org_read,
            own_org_write,
            break_glass,
            consent_override: r.consent_override,
            line: self.line(&r.name),
        }
    }

    /// Whether a role reads a field in its default group (group grant or allow override, and
    /// no deny override).
    fn role_reads(&self, role: &RRole, f: usize) -> bool {
        let has = |list: &[At], x: usize| list.iter().any(|(i, _)| *i == x);
        (has(&role.read, self.fields[f].group) || has(&role.read_fields, f))
            && !has(&role.deny_read_fields, f)
    }

    fn check_masks(&mut self, file: &PolicyFile, roles: &[RRole]) -> Vec<RMask> {
        let mut out: Vec<RMask> = Vec::new();
        for m in &file.masks {
            let Some(f) = self.field_idx.get(m.field.get_ref()).copied() else {
                self.err(PolicyError::MaskOnUnknownField {
                    at: self.at(&m.field),
                    field: m.field.get_ref().clone(),
                });
                continue;
            };
            if let Some(first) = out.iter().find(|x| x.field == f) {
                self.err(PolicyError::DuplicateMask {
                    at: self.at(&m.field),
                    field: m.field.get_ref().clone(),
                    first_line: first.line,
                });
                continue;
            }
            let kept = usize::from(m.keep_start) + usize::from(m.keep_end);
            if kept > MASK_MAX_KEPT {
                self.err(PolicyError::MaskTooWeak {
                    at: self.at(&m.field),
                    field: m.field.get_ref().clone(),
                    kept,
                    max: MASK_MAX_KEPT,
                });
            }
            let context = format!("the reveal list of the mask on {}", m.field.get_ref());
            let mut reveal: Vec<At> = Vec::new();
            for r in &m.reveal {
                match self.role_idx.get(r.get_ref()).copied() {
                    None => self.err(PolicyError::UnknownRole {
                        at: self.at(r),
                        context: context.clone(),
                        role: r.get_ref().clone(),
                    }),
                    Some(i) if reveal.iter().any(|(x, _)| *x == i) => {
                        self.err(PolicyError::DuplicateEntry {
                            at: self.at(r),
                            context: context.clone(),
                            item: r.get_ref().clone(),
                        })
                    }
                    Some(i) => {
                        if let Some(role) = roles.get(i) {
                            if !self.role_reads(role, f) {
                                self.err(PolicyError::RevealWithoutRead {
                                    at: self.at(r),
                                    role: r.get_ref().clone(),
                                    field: m.field.get_ref().clone(),
                                });
                            }
                            if !matches!(role.agency, Agency::CivilAffairs | Agency::Health) {
                                self.err(PolicyError::FixedPoint {
                                    at: self.at(r),
                                    rule: format!(
                                        "role {} may not reveal {}: only civil-affairs case officers and clinicians reveal ID numbers",
                                        role.name,
                                        m.field.get_ref()
                                    ),
                                });
                            }
                        }
                        reveal.push((i, self.line(r)));
                    }
                }
            }
            out.push(RMask {
                field: f,
                keep_start: m.keep_start,
                keep_end: m.keep_end,
                reveal,
                line: self.line(&m.field),
            });
        }
        out
    }

    /// The design's fixed points (DESIGN.md §5–§6), which no policy file may relax.
    fn check_fixed_points(
        &mut self,
        lawful: &[At],
        never: &[At],
        masks: &[RMask],
        file: &PolicyFile,
    ) {
        let mut problems = Vec::new();
        let at_group = |g: &RGroup| Loc {
            origin: self.origin.to_owned(),
            line: Some(g.line),
        };
        for required in ["G-ID-full", "G-SCR", "G-CLIN", "G-ABUSE", "G-AUDIT"] {
            if self.group_named(required).is_none() {
                problems.push(PolicyError::FixedPoint {
                    at: self.nowhere(),
                    rule: format!("field group {required} must be declared"),
                });
            }
        }
        let writable_limits: [(&str, &[Agency]); 4] = [
            ("G-CLIN", &[Agency::Health]),
            ("G-ABUSE", &[Agency::CivilAffairs, Agency::WomensFederation]),
            ("G-ID-full", &[Agency::CivilAffairs, Agency::Health]),
            ("G-AUDIT", &[]),
        ];
        for (name, allowed) in writable_limits {
            if let Some(g) = self.group_named(name) {
                for a in g.writable_by.iter().filter(|a| !allowed.contains(a)) {
                    let who = if allowed.is_empty() {
                        "no agency".to_owned()
                    } else {
                        allowed
                            .iter()
                            .map(|a| a.as_str())
                            .collect::<Vec<_>>()
                            .join(" and ")
                    };
                    problems.push(PolicyError::FixedPoint {
                        at: at_group(g),
                        rule: format!("field group {name} may be writable by {who} only, but writable_by lists {a}"),
                    });
                }
            }
        }
        for name in [
            "G-ID-full",
            "G-GUARD",
            "G-SCR",
            "G-VISIT-NOTES",
            "G-SERVICE-NOTES",
            "G-CLIN",
            "G-ABUSE",
            "G-REF",
            "G-AUDIT",
        ] {
            if let Some(g) = self.group_named(name).filter(|g| !g.sensitive) {
                problems.push(PolicyError::FixedPoint {
                    at: at_group(g),
                    rule: format!(
                        "field group {name} must be sensitive = true: every read of it is audited"
                    ),
                });
            }
        }
        let lawful_line = file.lawful_basis.groups.first().map(|n| self.line(n));
        for name in ["G-SCR", "G-CLIN", "G-ABUSE"] {
            if let Some(g) = self.group_idx.get(name) {
                if !lawful.iter().any(|(x, _)| x == g) {
                    problems.push(PolicyError::FixedPoint {
                        at: Loc { origin: self.origin.to_owned(), line: lawful_line },
                        rule: format!("[lawful_basis] groups must include {name}: it crosses agencies only with a lawful basis"),
                    });
                }
            }
        }
        if let Some(g) = self.group_idx.get("G-ABUSE") {
            if !never.iter().any(|(x, _)| x == g) {
                problems.push(PolicyError::NeverBreakGlassMissing {
                    at: Loc {
                        origin: self.origin.to_owned(),
                        line: file.break_glass.never.first().map(|n| self.line(n)),
                    },
                    group: "G-ABUSE".to_owned(),
                });
            }
        }
        for field in ["Child.idNumber", "Guardian.idNumber"] {
            if let Some(f) = self.field_idx.get(field) {
                if !masks.iter().any(|m| m.field == *f) {
                    problems.push(PolicyError::FixedPoint {
                        at: Loc {
                            origin: self.origin.to_owned(),
                            line: Some(self.fields[*f].line),
                        },
                        rule: format!(
                            "{field} must be masked for every role (add a [[masks]] entry)"
                        ),
                    });
                }
            }
        }
        self.errors.extend(problems);
    }
}

/// Validates a parsed file; `src` is the text it was parsed from (for line numbers).
pub(crate) fn validate(
    file: &PolicyFile,
    src: &str,
    origin: &str,
) -> Result<Resolved, Vec<PolicyError>> {
    let mut c = Checker {
        origin,
        lines: LineIndex::new(src),
        errors: Vec::new(),
        group_idx: HashMap::new(),
        groups: Vec::new(),
        field_idx: HashMap::new(),
        types: HashSet::new(),
        fields: Vec::new(),
        role_idx: HashMap::new(),
    };
    if *file.format.get_ref() != 1 {
        c.err(PolicyError::UnsupportedFormat {
            at: c.at(&file.format),
            found: *file.format.get_ref(),
        });
    }
    c.check_groups(file);
    c.check_types(file);
    let classes = c.check_classes(file);

    let lawful = c.groups_of(&file.lawful_basis.groups, "[lawful_basis] groups");
    let (emergency, emergency_line) = match &file.lawful_basis.emergency_purpose {
        Some(n) => (
            c.purpose_of(n, "[lawful_basis] emergency_purpose")
                .unwrap_or(Purpose::Crisis),
            Some(c.line(n)),
        ),
        None => (Purpose::Crisis, None),
    };
    let never_break_glass = c.groups_of(&file.break_glass.never, "[break_glass] never");
    let always_visible = c.groups_of(
        &file.referral_view.always_visible,
        "[referral_view] always_visible",
    );

    let roles = c.check_roles(file, emergency, &always_visible);
    let masks = c.check_masks(file, &roles);
    c.check_fixed_points(&lawful, &never_break_glass, &masks, file);

    if c.errors.is_empty() {
        Ok(Resolved {
            groups: c.groups,
            fields: c.fields,
            classes,
            roles,
            masks,
            lawful,
            emergency,
            emergency_line,
            never_break_glass,
            always_visible,
        })
    } else {
        Err(c.errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn graphql_names() {
        assert!(is_graphql_name("displayName"));
        assert!(is_graphql_name("_x1"));
        assert!(!is_graphql_name("1x"));
        assert!(!is_graphql_name("a.b"));
        assert!(!is_graphql_name(""));
    }

    #[test]
    fn default_file_resolves() {
        let src = crate::DEFAULT_POLICY_TOML;
        let file = crate::file::parse(src).expect("parses");
        let r = validate(&file, src, "remits.toml").expect("valid");
        assert_eq!(r.groups.len(), 19);
        assert_eq!(r.roles.len(), 19);
        let harm = r
            .fields
            .iter()
            .filter(|f| f.moves[RowClass::Harm.index()].is_some())
            .map(|f| format!("{}.{}", f.type_name, f.field_name))
            .collect::<Vec<_>>();
        assert_eq!(harm, vec!["Report.description", "Report.policeRef"]);
    }
}
