//! Why a policy file was refused. Every validation rule has its own variant, and every message
//! names the file and line (when known), the role, the group and the field involved, so an
//! official can fix the file without reading code.

use std::fmt;

/// A place in a policy file: `remits.toml:212`, or just `remits.toml` when no line applies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Loc {
    /// The file name given when loading.
    pub origin: String,
    /// 1-based line, when known.
    pub line: Option<usize>,
}

impl fmt::Display for Loc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{line}", self.origin),
            None => f.write_str(&self.origin),
        }
    }
}

/// "which only HEALTH roles may write" / "which no role may write".
fn who_may_write(writable_by: &[String]) -> String {
    match writable_by {
        [] => "which no role may write".to_owned(),
        [one] => format!("which only {one} roles may write"),
        many => {
            let (last, rest) = many
                .split_last()
                .map_or((&many[0], &[][..]), |(l, r)| (l, r));
            format!("which only {} or {last} roles may write", rest.join(", "))
        }
    }
}

/// One reason a policy is invalid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    /// The file could not be read.
    #[error("{path}: cannot read the policy file: {message}")]
    Io { path: String, message: String },

    /// The text is not TOML, or a key/value has the wrong shape (parsing stops here).
    #[error("{at}: {message}")]
    Syntax { at: Loc, message: String },

    /// `format = …` is not a version this crate reads.
    #[error("{at}: policy format {found} is not supported; this carehub reads format 1")]
    UnsupportedFormat { at: Loc, found: i64 },

    /// A group name that `[[groups]]` does not declare.
    #[error("{at}: {context} names field group {group}, which is not declared in [[groups]]")]
    UnknownGroup {
        at: Loc,
        context: String,
        group: String,
    },

    /// A role name that `[[roles]]` does not declare.
    #[error("{at}: {context} names role {role}, which is not declared in [[roles]]")]
    UnknownRole {
        at: Loc,
        context: String,
        role: String,
    },

    /// An agency name that is not one of the seven.
    #[error(
        "{at}: {context} names agency {agency}; the agencies are {}",
        crate::Agency::names()
    )]
    UnknownAgency {
        at: Loc,
        context: String,
        agency: String,
    },

    /// A purpose name that is not one of the eight.
    #[error(
        "{at}: {context} names purpose {purpose}; the purposes are {}",
        crate::Purpose::names()
    )]
    UnknownPurpose {
        at: Loc,
        context: String,
        purpose: String,
    },

    /// A row-scope link kind that does not exist.
    #[error(
        "{at}: role {role} uses row-scope link {link}; the links are {}",
        crate::Link::names()
    )]
    UnknownLink { at: Loc, role: String, link: String },

    /// A scope keyword that does not exist.
    #[error(
        "{at}: role {role} has scope {found:?}; a scope is \"AGGREGATE_ONLY\", \"ALL\" or {{ region = true|false, links = [...] }}"
    )]
    UnknownScope {
        at: Loc,
        role: String,
        found: String,
    },

    /// `region = false` and no links: the scope selects nobody, which is surely a mistake.
    #[error(
        "{at}: role {role} has scope {{ region = false, links = [] }}, which selects no child; write scope = \"AGGREGATE_ONLY\" for a role without records"
    )]
    EmptyScope { at: Loc, role: String },

    /// The same link twice in one scope.
    #[error("{at}: role {role} lists row-scope link {link} twice")]
    DuplicateLink { at: Loc, role: String, link: String },

    /// A row class that the server does not compute.
    #[error("{at}: row class {class} is not known; the row classes are HARM")]
    UnknownRowClass { at: Loc, class: String },

    /// `Type.field` whose type has no `[types.Type]` table.
    #[error("{at}: {context} names {field}, but the field catalogue has no [types.{type_name}]")]
    UnknownType {
        at: Loc,
        context: String,
        field: String,
        type_name: String,
    },

    /// `Type.field` whose type exists but lacks the field.
    #[error("{at}: {context} names {field}, but [types.{type_name}] lists no field {field_name}")]
    UnknownField {
        at: Loc,
        context: String,
        field: String,
        type_name: String,
        field_name: String,
    },

    /// A field reference that is not of the form `Type.field`.
    #[error(
        "{at}: {context} names {field:?}; fields are written Type.field, e.g. Child.displayName"
    )]
    MalformedField {
        at: Loc,
        context: String,
        field: String,
    },

    /// A field name in the catalogue that cannot be a GraphQL name.
    #[error("{at}: [types.{type_name}] lists {field:?}, which is not a GraphQL field name")]
    BadFieldName {
        at: Loc,
        type_name: String,
        field: String,
    },

    /// The same group declared twice.
    #[error("{at}: field group {group} is declared twice (first at line {first_line})")]
    DuplicateGroup {
        at: Loc,
        group: String,
        first_line: usize,
    },

    /// The same role declared twice.
    #[error("{at}: role {role} is declared twice (first at line {first_line})")]
    DuplicateRole {
        at: Loc,
        role: String,
        first_line: usize,
    },

    /// One field in two groups of the catalogue.
    #[error("{at}: field {field} is assigned to both {first} and {second}; a field belongs to exactly one group")]
    FieldInTwoGroups {
        at: Loc,
        field: String,
        first: String,
        second: String,
    },

    /// One field listed twice in the same group.
    #[error("{at}: field {field} is listed twice in {group}")]
    DuplicateField {
        at: Loc,
        field: String,
        group: String,
    },

    /// An item listed twice in one list of a role or section.
    #[error("{at}: {context} lists {item} twice")]
    DuplicateEntry {
        at: Loc,
        context: String,
        item: String,
    },

    /// A role writes a group its agency may not write (`writable_by`).
    #[error("{at}: role {role} grants write on field group {group}, {}", who_may_write(.writable_by))]
    WriteNotPermitted {
        at: Loc,
        role: String,
        group: String,
        writable_by: Vec<String>,
    },

    /// A role writes a single field of a group its agency may not write.
    #[error("{at}: role {role} grants write on field {field} of group {group}, {}", who_may_write(.writable_by))]
    FieldWriteNotPermitted {
        at: Loc,
        role: String,
        field: String,
        group: String,
        writable_by: Vec<String>,
    },

    /// The default purpose is not one of the role's purposes.
    #[error("{at}: role {role} has default purpose {purpose}, which is not among its purposes")]
    DefaultPurposeNotAllowed {
        at: Loc,
        role: String,
        purpose: String,
    },

    /// A role without purposes could never make a request.
    #[error("{at}: role {role} lists no purposes of use; every request states one")]
    EmptyPurposes { at: Loc, role: String },

    /// An aggregate-only role is granted something that holds child records.
    #[error(
        "{at}: role {role} is AGGREGATE_ONLY but is granted {access} on {subject}, which holds child records; aggregate-only roles may hold only groups with records = false ({allowed})"
    )]
    AggregateRoleGrantedRecords {
        at: Loc,
        role: String,
        access: &'static str,
        subject: String,
        allowed: String,
    },

    /// Break-glass is an emergency action: the role must be allowed the emergency purpose.
    #[error("{at}: role {role} may use break-glass but is not allowed purpose {emergency}; break-glass is for emergencies only")]
    BreakGlassWithoutEmergency {
        at: Loc,
        role: String,
        emergency: String,
    },

    /// A group the design says break-glass must never open is missing from `[break_glass] never`.
    #[error("{at}: [break_glass] never does not list {group}; DESIGN.md §6 requires that break-glass never opens {group}")]
    NeverBreakGlassMissing { at: Loc, group: String },

    /// A mask on a field that no group contains.
    #[error(
        "{at}: a mask is declared on {field}, which is not in any field group of the catalogue"
    )]
    MaskOnUnknownField { at: Loc, field: String },

    /// A mask that leaves too much of the value readable.
    #[error("{at}: the mask on {field} keeps {kept} characters in clear; at most {max} may stay visible")]
    MaskTooWeak {
        at: Loc,
        field: String,
        kept: usize,
        max: usize,
    },

    /// Two masks on one field.
    #[error("{at}: field {field} is masked twice (first at line {first_line})")]
    DuplicateMask {
        at: Loc,
        field: String,
        first_line: usize,
    },

    /// A role may reveal a field it cannot read.
    #[error("{at}: role {role} may reveal {field} but does not read it")]
    RevealWithoutRead {
        at: Loc,
        role: String,
        field: String,
    },

    /// A worker who writes what they cannot see would overwrite blind.
    #[error(
        "{at}: role {role} writes {subject} but does not read it; a worker must see what they change (only PARTNER roles may write without reading)"
    )]
    WriteWithoutRead {
        at: Loc,
        role: String,
        subject: String,
    },

    /// Partners see only records bound to their own submissions.
    #[error(
        "{at}: role {role} is a PARTNER role but its scope is not {{ links = [\"IDENTIFIED\"] }}; partners see only records bound to their submissions"
    )]
    PartnerScope { at: Loc, role: String },

    /// A role name whose prefix does not match its agency.
    #[error(
        "{at}: role {role} belongs to agency {agency}, so its name must start with \"{prefix}.\""
    )]
    RolePrefixMismatch {
        at: Loc,
        role: String,
        agency: String,
        prefix: String,
    },

    /// A referral receiver that cannot see what every referral receiver sees.
    #[error(
        "{at}: role {role} has link REFERRED but does not read {group}, which every referral receiver sees ([referral_view] always_visible)"
    )]
    ReferralReceiverBlind {
        at: Loc,
        role: String,
        group: String,
    },

    /// An own-organization limit on a group the role is not granted.
    #[error("{at}: role {role} limits {access} of {group} to its own organization but is not granted {access} on {group}")]
    OwnOrgNotGranted {
        at: Loc,
        role: String,
        access: &'static str,
        group: String,
    },

    /// The same field both allowed and denied.
    #[error("{at}: role {role} both allows and denies {access} of {field}")]
    ConflictingOverride {
        at: Loc,
        role: String,
        access: &'static str,
        field: String,
    },

    /// An override that changes nothing (the group grant already decides it).
    #[error("{at}: role {role} lists {field} in {list}, but {reason}")]
    RedundantOverride {
        at: Loc,
        role: String,
        field: String,
        list: &'static str,
        reason: String,
    },

    /// A fixed point of DESIGN.md that no policy file may relax.
    #[error("{at}: {rule} (a fixed point of DESIGN.md §5–§6)")]
    FixedPoint { at: Loc, rule: String },

    /// More groups, fields or roles than the compiled form holds.
    #[error("{at}: the policy declares {count} {what}; at most {max} are supported")]
    TooMany {
        at: Loc,
        what: &'static str,
        count: usize,
        max: usize,
    },
}

impl PolicyError {
    /// The line the error points at, if any.
    pub fn line(&self) -> Option<usize> {
        match self {
            PolicyError::Io { .. } => None,
            PolicyError::Syntax { at, .. }
            | PolicyError::UnsupportedFormat { at, .. }
            | PolicyError::UnknownGroup { at, .. }
            | PolicyError::UnknownRole { at, .. }
            | PolicyError::UnknownAgency { at, .. }
            | PolicyError::UnknownPurpose { at, .. }
            | PolicyError::UnknownLink { at, .. }
            | PolicyError::UnknownScope { at, .. }
            | PolicyError::EmptyScope { at, .. }
            | PolicyError::DuplicateLink { at, .. }
            | PolicyError::UnknownRowClass { at, .. }
            | PolicyError::UnknownType { at, .. }
            | PolicyError::UnknownField { at, .. }
            | PolicyError::MalformedField { at, .. }
            | PolicyError::BadFieldName { at, .. }
            | PolicyError::DuplicateGroup { at, .. }
            | PolicyError::DuplicateRole { at, .. }
            | PolicyError::FieldInTwoGroups { at, .. }
            | PolicyError::DuplicateField { at, .. }
            | PolicyError::DuplicateEntry { at, .. }
            | PolicyError::WriteNotPermitted { at, .. }
            | PolicyError::FieldWriteNotPermitted { at, .. }
            | PolicyError::DefaultPurposeNotAllowed { at, .. }
            | PolicyError::EmptyPurposes { at, .. }
            | PolicyError::AggregateRoleGrantedRecords { at, .. }
            | PolicyError::BreakGlassWithoutEmergency { at, .. }
            | PolicyError::NeverBreakGlassMissing { at, .. }
            | PolicyError::MaskOnUnknownField { at, .. }
            | PolicyError::MaskTooWeak { at, .. }
            | PolicyError::DuplicateMask { at, .. }
            | PolicyError::RevealWithoutRead { at, .. }
            | PolicyError::WriteWithoutRead { at, .. }
            | PolicyError::PartnerScope { at, .. }
            | PolicyError::RolePrefixMismatch { at, .. }
            | PolicyError::ReferralReceiverBlind { at, .. }
            | PolicyError::OwnOrgNotGranted { at, .. }
            | PolicyError::ConflictingOverride { at, .. }
            | PolicyError::RedundantOverride { at, .. }
            | PolicyError::FixedPoint { at, .. }
            | PolicyError::TooMany { at, .. } => at.line,
        }
    }
}

/// Every problem found in one policy file (validation does not stop at the first).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyErrors(Vec<PolicyError>);

impl PolicyErrors {
    pub(crate) fn new(mut errors: Vec<PolicyError>) -> Self {
        // File order reads best; errors without a line come last. The sort is stable, so
        // problems on one line keep the order they were found in.
        errors.sort_by_key(|e| e.line().unwrap_or(usize::MAX));
        PolicyErrors(errors)
    }

    pub(crate) fn one(error: PolicyError) -> Self {
        PolicyErrors(vec![error])
    }

    /// The problems, in file order.
    pub fn errors(&self) -> &[PolicyError] {
        &self.0
    }

    /// Number of problems.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there is no problem (never true for a returned error).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The problems, owned.
    pub fn into_vec(self) -> Vec<PolicyError> {
        self.0
    }
}

impl fmt::Display for PolicyErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0.len();
        writeln!(
            f,
            "the remit policy is invalid ({n} problem{}):",
            if n == 1 { "" } else { "s" }
        )?;
        for (i, e) in self.0.iter().enumerate() {
            if i + 1 == n {
                write!(f, "  {e}")?;
            } else {
                writeln!(f, "  {e}")?;
            }
        }
        Ok(())
    }
}

impl std::error::Error for PolicyErrors {}

impl IntoIterator for PolicyErrors {
    type Item = PolicyError;
    type IntoIter = std::vec::IntoIter<PolicyError>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(line: Option<usize>) -> Loc {
        Loc {
            origin: "remits.toml".into(),
            line,
        }
    }

    #[test]
    fn write_messages_name_who_may_write() {
        let e = PolicyError::WriteNotPermitted {
            at: at(Some(212)),
            role: "education.head_teacher".into(),
            group: "G-CLIN".into(),
            writable_by: vec!["HEALTH".into()],
        };
        assert_eq!(
            e.to_string(),
            "remits.toml:212: role education.head_teacher grants write on field group G-CLIN, which only HEALTH roles may write"
        );
        assert_eq!(who_may_write(&[]), "which no role may write");
        assert_eq!(
            who_may_write(&["A".into(), "B".into(), "C".into()]),
            "which only A, B or C roles may write"
        );
    }

    #[test]
    fn errors_sort_by_line_and_display_all() {
        let errs = PolicyErrors::new(vec![
            PolicyError::EmptyPurposes {
                at: at(None),
                role: "a.b".into(),
            },
            PolicyError::EmptyPurposes {
                at: at(Some(9)),
                role: "c.d".into(),
            },
            PolicyError::EmptyPurposes {
                at: at(Some(3)),
                role: "e.f".into(),
            },
        ]);
        let lines: Vec<_> = errs.errors().iter().map(PolicyError::line).collect();
        assert_eq!(lines, vec![Some(3), Some(9), None]);
        let text = errs.to_string();
        assert!(text
            .starts_with("the remit policy is invalid (3 problems):\n  remits.toml:3: role e.f"));
        assert!(text
            .ends_with("remits.toml: role a.b lists no purposes of use; every request states one"));
    }
}
