//! The policy file as written: a serde model of `remits.toml` that keeps the position of every
//! name (via `toml::Spanned`) so validation and `explain` can cite `file:line`.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};
use toml::Spanned;

/// A name with its position in the source.
pub type Name = Spanned<String>;

/// The whole file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyFile {
    /// Format version; only 1 exists.
    pub format: Spanned<i64>,
    /// `[[groups]]`, in declaration order.
    #[serde(default)]
    pub groups: Vec<GroupDecl>,
    /// `[row_classes.NAME]`.
    #[serde(default)]
    pub row_classes: BTreeMap<Name, RowClassDecl>,
    /// `[[masks]]`.
    #[serde(default)]
    pub masks: Vec<MaskDecl>,
    /// `[lawful_basis]`.
    #[serde(default)]
    pub lawful_basis: LawfulBasisDecl,
    /// `[break_glass]`.
    #[serde(default)]
    pub break_glass: BreakGlassDecl,
    /// `[referral_view]`.
    #[serde(default)]
    pub referral_view: ReferralViewDecl,
    /// `[[roles]]`, in declaration order.
    #[serde(default)]
    pub roles: Vec<RoleDecl>,
    /// `[types.Type]`: group name → field names.
    #[serde(default)]
    pub types: BTreeMap<Name, BTreeMap<Name, Vec<Name>>>,
}

/// `[[groups]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupDecl {
    pub name: Name,
    pub title: String,
    pub title_zh: String,
    pub sensitive: bool,
    /// `false` for groups that hold no child records (directory, aggregates, audit).
    pub records: bool,
    pub writable_by: Vec<Name>,
}

/// `[row_classes.NAME]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RowClassDecl {
    pub title: String,
    pub title_zh: String,
    /// `Type.field` → the group the field belongs to on rows of this class.
    #[serde(rename = "move", default)]
    pub moves: BTreeMap<Name, Name>,
}

/// `[[masks]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MaskDecl {
    pub field: Name,
    pub keep_start: u8,
    pub keep_end: u8,
    #[serde(default)]
    pub reveal: Vec<Name>,
}

/// `[lawful_basis]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LawfulBasisDecl {
    #[serde(default)]
    pub groups: Vec<Name>,
    /// The purpose under which an emergency basis (PIPL art. 13(4)) is presumed; CRISIS if absent.
    pub emergency_purpose: Option<Name>,
}

/// `[break_glass]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BreakGlassDecl {
    #[serde(default)]
    pub never: Vec<Name>,
}

/// `[referral_view]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReferralViewDecl {
    #[serde(default)]
    pub always_visible: Vec<Name>,
}

/// `own_org_only = { read = [...], write = [...] }`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OwnOrgDecl {
    #[serde(default)]
    pub read: Vec<Name>,
    #[serde(default)]
    pub write: Vec<Name>,
}

/// `[[roles]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleDecl {
    pub name: Name,
    pub agency: Name,
    pub title: String,
    pub title_zh: String,
    pub scope: Spanned<ScopeDecl>,
    pub purposes: Spanned<Vec<Name>>,
    pub default_purpose: Name,
    #[serde(default)]
    pub read: Vec<Name>,
    #[serde(default)]
    pub write: Vec<Name>,
    #[serde(default)]
    pub read_fields: Vec<Name>,
    #[serde(default)]
    pub deny_read_fields: Vec<Name>,
    #[serde(default)]
    pub write_fields: Vec<Name>,
    #[serde(default)]
    pub deny_write_fields: Vec<Name>,
    #[serde(default)]
    pub own_org_only: OwnOrgDecl,
    pub break_glass: Option<Spanned<bool>>,
    #[serde(default)]
    pub consent_override: bool,
}

/// `scope = "AGGREGATE_ONLY"` or `scope = { region = true, links = [...] }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScopeDecl {
    /// A keyword (`AGGREGATE_ONLY`, `ALL`; anything else is reported by validation).
    Keyword(String),
    /// Region subtree and/or links.
    Linked { region: bool, links: Vec<Name> },
}

impl<'de> Deserialize<'de> for ScopeDecl {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // A hand-written visitor rather than `#[serde(untagged)]`: untagged enums buffer their
        // input and would lose the spans of the link names.
        struct ScopeVisitor;

        impl<'de> Visitor<'de> for ScopeVisitor {
            type Value = ScopeDecl;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(
                    "\"AGGREGATE_ONLY\", \"ALL\" or a table { region = true|false, links = [...] }",
                )
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<ScopeDecl, E> {
                Ok(ScopeDecl::Keyword(v.to_owned()))
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<ScopeDecl, A::Error> {
                let mut region = None;
                let mut links = None;
                while let Some(key) = map.next_key::<String>()? {
                    match key.as_str() {
                        "region" => region = Some(map.next_value::<bool>()?),
                        "links" => links = Some(map.next_value::<Vec<Name>>()?),
                        other => return Err(de::Error::unknown_field(other, &["region", "links"])),
                    }
                }
                let region = region.ok_or_else(|| de::Error::missing_field("region"))?;
                Ok(ScopeDecl::Linked {
                    region,
                    links: links.unwrap_or_default(),
                })
            }
        }

        d.deserialize_any(ScopeVisitor)
    }
}

/// Byte offset → 1-based line number.
#[derive(Debug, Clone, Default)]
pub struct LineIndex {
    starts: Vec<usize>,
}

impl LineIndex {
    /// Indexes the line starts of `src`.
    pub fn new(src: &str) -> Self {
        let mut starts = vec![0];
        starts.extend(src.match_indices('\n').map(|(i, _)| i + 1));
        LineIndex { starts }
    }

    /// The line holding byte `offset`.
    pub fn line(&self, offset: usize) -> usize {
        match self.starts.binary_search(&offset) {
            Ok(i) => i + 1,
            Err(i) => i,
        }
    }

    /// The line where a spanned value starts.
    pub fn of<T>(&self, s: &Spanned<T>) -> usize {
        self.line(s.span().start)
    }
}

/// Parses the text (syntax and shape only; meaning is checked by [`crate::validate`]).
pub fn parse(src: &str) -> Result<PolicyFile, toml::de::Error> {
    toml::from_str(src)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_index() {
        let idx = LineIndex::new("a\nbc\n\nd");
        assert_eq!(idx.line(0), 1);
        assert_eq!(idx.line(1), 1);
        assert_eq!(idx.line(2), 2);
        assert_eq!(idx.line(5), 3);
        assert_eq!(idx.line(6), 4);
    }

    #[test]
    fn scope_forms_parse_with_spans() {
        let src = r#"
format = 1
[[roles]]
name = "a.b"
agency = "HEALTH"
title = "t"
title_zh = "t"
scope = { region = true, links = ["CLASS", "REFERRED"] }
purposes = ["CARE"]
default_purpose = "CARE"

[[roles]]
name = "a.c"
agency = "HEALTH"
title = "t"
title_zh = "t"
scope = "AGGREGATE_ONLY"
purposes = ["CARE"]
default_purpose = "CARE"
"#;
        let file = parse(src).expect("parses");
        let idx = LineIndex::new(src);
        match file.roles[0].scope.get_ref() {
            ScopeDecl::Linked { region, links } => {
                assert!(*region);
                assert_eq!(links.len(), 2);
                assert_eq!(idx.of(&links[1]), 8);
                assert_eq!(links[1].get_ref(), "REFERRED");
            }
            other => panic!("unexpected {other:?}"),
        }
        assert_eq!(
            file.roles[1].scope.get_ref(),
            &ScopeDecl::Keyword("AGGREGATE_ONLY".into())
        );
        assert_eq!(idx.of(&file.roles[1].name), 13);
    }

    #[test]
    fn unknown_keys_are_refused() {
        let err = parse("format = 1\n[break_glass]\nnevr = []\n").expect_err("typo");
        assert!(err.message().contains("nevr"), "{}", err.message());
    }
}
