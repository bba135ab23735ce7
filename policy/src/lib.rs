//! The carehub remit engine: who may read and write which field of which child's record.
//!
//! One declarative policy file (`remits.toml`) is parsed ([`mod@file`]), checked rule by rule with
//! every problem reported ([`validate`]), and compiled into bitsets ([`compile`]) so that each
//! decision ([`decide`]) is constant-time. Row scopes become abstract predicates ([`scope`]) that
//! the server turns into SQL. [`explain`] and [`matrix`] render the policy for people.
//! The crate knows nothing of the web server or the database.

pub mod compile;
pub mod decide;
pub mod error;
pub mod explain;
pub mod file;
pub mod matrix;
pub mod principal;
pub mod scope;
pub mod sets;
pub mod validate;

use std::path::Path;

pub use compile::{FieldInfo, GroupInfo, Policy, RoleInfo};
pub use decide::{DenyReason, ReadDecision, RowFacts, WriteDecision};
pub use error::{Loc, PolicyError, PolicyErrors};
pub use principal::{Agency, Principal, Purpose, PurposeSet, UnknownName};
pub use scope::{Link, Pred, RowScope, ScopeKind};
pub use sets::{ClassSet, FieldId, GroupId, GroupSet, RoleId, RowClass};

/// The default policy, embedded at build time.
pub const DEFAULT_POLICY_TOML: &str = include_str!("../remits.toml");

/// One field of the GraphQL schema, as the server lists it for [`Policy::check_schema`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SchemaField {
    /// The object or input type.
    pub type_name: String,
    /// The field.
    pub field_name: String,
    /// Whether the type is an input object type.
    pub is_input: bool,
}

impl SchemaField {
    /// A schema field.
    pub fn new(
        type_name: impl Into<String>,
        field_name: impl Into<String>,
        is_input: bool,
    ) -> Self {
        SchemaField {
            type_name: type_name.into(),
            field_name: field_name.into(),
            is_input,
        }
    }
}

impl Policy {
    /// Parses, validates and compiles a policy. `origin` names the file in messages.
    pub fn from_toml_str(src: &str, origin: &str) -> Result<Policy, PolicyErrors> {
        let parsed = file::parse(src).map_err(|e| {
            let line = e.span().map(|s| file::LineIndex::new(src).line(s.start));
            PolicyErrors::one(PolicyError::Syntax {
                at: Loc {
                    origin: origin.to_owned(),
                    line,
                },
                message: e.message().trim_end().to_owned(),
            })
        })?;
        let resolved = validate::validate(&parsed, src, origin).map_err(PolicyErrors::new)?;
        Ok(compile::compile(resolved, src, origin))
    }

    /// Reads and compiles the policy file at `path` (named in messages as given).
    pub fn load(path: &Path) -> Result<Policy, PolicyErrors> {
        let origin = path.display().to_string();
        let src = std::fs::read_to_string(path).map_err(|e| {
            PolicyErrors::one(PolicyError::Io {
                path: origin.clone(),
                message: e.to_string(),
            })
        })?;
        Policy::from_toml_str(&src, &origin)
    }

    /// The embedded default policy (`policy/remits.toml`).
    ///
    /// # Panics
    /// Only if the embedded file is invalid, which the crate's tests rule out.
    #[expect(
        clippy::panic,
        reason = "the embedded policy is validated by a unit test"
    )]
    pub fn default_policy() -> Policy {
        match Policy::from_toml_str(DEFAULT_POLICY_TOML, "remits.toml") {
            Ok(p) => p,
            Err(e) => panic!("the embedded default policy is invalid: {e}"),
        }
    }

    /// The same catalogue, roles and scopes as `template`, but every role reads and writes every
    /// group, with no masks, field overrides, own-organization, lawful-basis, break-glass or
    /// referral-view limits (sensitivity, and so auditing, is kept). For benchmarking only.
    pub fn allow_all(template: &Policy) -> Policy {
        compile::allow_all(template)
    }

    /// Whether this is an [`Policy::allow_all`] policy.
    pub fn is_allow_all(&self) -> bool {
        self.allow_all
    }

    /// Hex SHA-256 of the policy text (64 characters).
    pub fn version(&self) -> &str {
        &self.version
    }

    /// The first 16 characters of [`Policy::version`], for display.
    pub fn short_version(&self) -> &str {
        self.version.get(..16).unwrap_or(&self.version)
    }

    /// The file name the policy was loaded from.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The role named `name`.
    pub fn role(&self, name: &str) -> Option<RoleId> {
        self.role_index.get(name).copied()
    }

    /// What the policy says about a role (an empty, powerless role for foreign ids).
    pub fn role_info(&self, role: RoleId) -> &RoleInfo {
        self.roles
            .get(role.index())
            .unwrap_or(&compile::UNKNOWN_ROLE)
    }

    /// Every role, in declaration order.
    pub fn roles(&self) -> impl Iterator<Item = RoleId> + '_ {
        (0..self.roles.len()).map(|i| RoleId(i as u16))
    }

    /// The field `Type.field`.
    pub fn field(&self, qualified: &str) -> Option<FieldId> {
        self.field_index.get(qualified).copied()
    }

    /// `Type.field` of a field ("" for foreign ids).
    pub fn field_name(&self, f: FieldId) -> &str {
        self.fields
            .get(f.index())
            .map_or("", |x| x.qualified.as_str())
    }

    /// The type and field name of a field.
    pub fn field_info(&self, f: FieldId) -> Option<&FieldInfo> {
        self.fields.get(f.index())
    }

    /// Every field, in catalogue order.
    pub fn fields(&self) -> impl Iterator<Item = FieldId> + '_ {
        (0..self.fields.len()).map(|i| FieldId(i as u16))
    }

    /// The group named `name`.
    pub fn group(&self, name: &str) -> Option<GroupId> {
        self.group_index.get(name).copied()
    }

    /// The name of a group ("(unknown group)" for foreign ids).
    pub fn group_name(&self, g: GroupId) -> &str {
        self.groups
            .get(g.index())
            .map_or("(unknown group)", |x| x.name.as_str())
    }

    /// What the policy says about a group.
    pub fn group_info(&self, g: GroupId) -> Option<&GroupInfo> {
        self.groups.get(g.index())
    }

    /// Every group, in declaration order.
    pub fn groups(&self) -> impl Iterator<Item = GroupId> + '_ {
        (0..self.groups.len()).map(|i| GroupId(i as u8))
    }

    /// Whether reads of the group are audited (foreign ids count as sensitive: fail closed).
    pub fn is_sensitive(&self, g: GroupId) -> bool {
        self.groups
            .get(g.index())
            .is_none_or(|_| self.sensitive.contains(g))
    }

    /// Compares the policy with the GraphQL schema: lists every schema field without a policy
    /// entry and every policy field the schema does not have.
    pub fn check_schema(&self, schema: &[SchemaField]) -> Result<(), Vec<String>> {
        let mut problems = Vec::new();
        let mut covered = vec![false; self.fields.len()];
        for sf in schema {
            let qualified = format!("{}.{}", sf.type_name, sf.field_name);
            match self.field(&qualified) {
                Some(f) => covered[f.index()] = true,
                None => problems.push(format!(
                    "{}: the {} field {qualified} has no entry in the remit policy; add it to a group under [types.{}]",
                    self.origin,
                    if sf.is_input { "input" } else { "object" },
                    sf.type_name
                )),
            }
        }
        for (i, seen) in covered.iter().enumerate() {
            if !seen {
                let line = self.source.fields.get(i).map_or(0, |f| f.line);
                problems.push(format!(
                    "{}:{line}: the policy names {}, which is not a field of the GraphQL schema",
                    self.origin, self.fields[i].qualified
                ));
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send_sync<T: Send + Sync>() {}

    #[test]
    fn default_policy_loads() {
        assert_send_sync::<Policy>();
        let p = Policy::default_policy();
        assert_eq!(p.version().len(), 64);
        assert_eq!(p.short_version().len(), 16);
        assert_eq!(p.roles().count(), 19);
        assert_eq!(p.groups().count(), 19);
        assert!(p.field("Child.displayName").is_some());
        assert_eq!(
            p.field_name(p.field("Child.idNumber").expect("field")),
            "Child.idNumber"
        );
        assert!(!p.is_allow_all());
    }

    #[test]
    fn version_is_sha256_of_text() {
        let p = Policy::default_policy();
        assert_eq!(p.version(), compile::sha256_hex(DEFAULT_POLICY_TOML));
        let q = Policy::from_toml_str(&format!("{DEFAULT_POLICY_TOML}\n# comment\n"), "x.toml")
            .expect("valid");
        assert_ne!(p.version(), q.version());
    }

    #[test]
    fn foreign_ids_never_panic() {
        let p = Policy::default_policy();
        let role = RoleId(999);
        let field = FieldId(60000);
        assert_eq!(p.role_info(role).name, "");
        assert_eq!(p.field_name(field), "");
        assert_eq!(p.group_name(GroupId(200)), "(unknown group)");
        assert!(p.is_sensitive(GroupId(200)));
        let facts = RowFacts::own_row(Purpose::Care);
        assert_eq!(
            p.decide_read(role, field, &facts),
            ReadDecision::Deny(DenyReason::NotInRemit)
        );
        let head = p.role("education.head_teacher").expect("role");
        assert_eq!(
            p.decide_read(head, field, &facts),
            ReadDecision::Deny(DenyReason::NotInRemit)
        );
        assert_eq!(
            p.decide_write(head, field, &facts),
            WriteDecision::Deny(DenyReason::NotInRemit)
        );
        assert!(!p.static_read(role, field) && !p.may_reveal(role, field));
    }

    #[test]
    fn check_schema_lists_both_directions() {
        let p = Policy::default_policy();
        let mut schema: Vec<SchemaField> = p
            .fields()
            .filter_map(|f| p.field_info(f))
            .map(|f| SchemaField::new(&f.type_name, &f.field_name, f.type_name.ends_with("Filter")))
            .collect();
        assert_eq!(p.check_schema(&schema), Ok(()));
        schema.retain(|f| !(f.type_name == "Child" && f.field_name == "keyCase"));
        schema.push(SchemaField::new("Child", "shoeSize", false));
        schema.push(SchemaField::new("ChildFilter", "shoeSize", true));
        let problems = p.check_schema(&schema).expect_err("mismatch");
        assert_eq!(problems.len(), 3, "{problems:#?}");
        assert_eq!(
            problems[0],
            "remits.toml: the object field Child.shoeSize has no entry in the remit policy; add it to a group under [types.Child]"
        );
        assert!(problems[1].starts_with("remits.toml: the input field ChildFilter.shoeSize"));
        assert!(
            problems[2].starts_with("remits.toml:")
                && problems[2].ends_with(
                    "the policy names Child.keyCase, which is not a field of the GraphQL schema"
                )
        );
    }

    #[test]
    fn load_reports_missing_file() {
        let err = Policy::load(Path::new("/nonexistent/remits.toml")).expect_err("missing");
        assert!(
            err.to_string()
                .contains("/nonexistent/remits.toml: cannot read the policy file"),
            "{err}"
        );
    }

    #[test]
    fn allow_all_allows_everything() {
        let p = Policy::default_policy();
        let a = Policy::allow_all(&p);
        assert!(a.is_allow_all());
        assert_ne!(a.version(), p.version());
        let facts = RowFacts {
            own_org: false,
            same_agency: false,
            classes: ClassSet::HARM,
            view: Some(GroupSet::EMPTY),
            lawful: GroupSet::EMPTY,
            break_glass: false,
            purpose: Purpose::Care,
        };
        for role in a.roles() {
            assert_eq!(a.role_info(role), p.role_info(role));
            for f in a.fields() {
                assert!(
                    matches!(a.decide_read(role, f, &facts), ReadDecision::Allow { .. }),
                    "{}",
                    a.field_name(f)
                );
                assert_eq!(a.decide_write(role, f, &facts), WriteDecision::Allow);
            }
        }
    }
}
