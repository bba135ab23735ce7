//! Turns a validated policy into its compiled, immutable form: per-role group bitsets and
//! per-field override bits, so that every decision is a handful of array lookups.

use std::collections::HashMap;

use sha2::{Digest, Sha256};

use crate::principal::PurposeSet;
use crate::scope::ScopeKind;
use crate::sets::{FieldBits, FieldId, GroupId, GroupSet, RoleId, RowClass};
use crate::validate::Resolved;
use crate::{Agency, Purpose};

/// What the policy says about a field group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupInfo {
    /// `G-…`.
    pub name: String,
    /// English title.
    pub title: String,
    /// Chinese title.
    pub title_zh: String,
    /// Whether reads are audited.
    pub sensitive: bool,
    /// Whether the group holds child records (`false`: directory, aggregates, audit).
    pub records: bool,
    /// The agencies whose roles may be granted write on the group.
    pub writable_by: Vec<Agency>,
}

/// A field of the catalogue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldInfo {
    /// `Type.field`.
    pub qualified: String,
    /// The GraphQL type.
    pub type_name: String,
    /// The GraphQL field.
    pub field_name: String,
}

/// What the policy says about a role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleInfo {
    /// e.g. `education.head_teacher`.
    pub name: String,
    /// The role's agency (a token's agency must match it).
    pub agency: Agency,
    /// English title.
    pub title: String,
    /// Chinese title.
    pub title_zh: String,
    /// Purposes of use the role may state, in declaration order.
    pub purposes: Vec<Purpose>,
    /// The purpose assumed when a request states none.
    pub default_purpose: Purpose,
    /// Which children the role sees.
    pub scope: ScopeKind,
    /// Whether the role may open a break-glass grant.
    pub break_glass: bool,
    /// Whether the role may record a referral without consent (with a reason, audited).
    pub consent_override: bool,
}

/// Returned for ids that do not belong to the policy (never panics, decides nothing).
pub(crate) static UNKNOWN_ROLE: RoleInfo = RoleInfo {
    name: String::new(),
    agency: Agency::Partner,
    title: String::new(),
    title_zh: String::new(),
    purposes: Vec::new(),
    default_purpose: Purpose::Care,
    scope: ScopeKind::AggregateOnly,
    break_glass: false,
    consent_override: false,
};

/// A mask: keep this many characters at each end, star the rest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct MaskRule {
    pub keep_start: u8,
    pub keep_end: u8,
}

/// One role, compiled.
#[derive(Debug, Clone)]
pub(crate) struct RoleRules {
    pub read: GroupSet,
    pub write: GroupSet,
    pub own_org_read: GroupSet,
    pub own_org_write: GroupSet,
    /// Fields readable although their group is not (only while the field is in its default group).
    pub read_allow: FieldBits,
    /// Fields never readable.
    pub read_deny: FieldBits,
    pub write_allow: FieldBits,
    pub write_deny: FieldBits,
    /// Masked fields the role may reveal.
    pub reveal: FieldBits,
    pub purposes: PurposeSet,
    pub break_glass: bool,
    /// The role may state the emergency purpose (so CRISIS requests skip the lawful-basis check).
    pub emergency_ok: bool,
    /// The role reads some group that crosses agencies only on a lawful basis.
    pub needs_lawful: bool,
}

/// The compiled policy: immutable, `Send + Sync`, cheap to share in an `Arc`.
#[derive(Debug, Clone)]
pub struct Policy {
    pub(crate) origin: String,
    pub(crate) version: String,
    pub(crate) allow_all: bool,
    pub(crate) groups: Vec<GroupInfo>,
    pub(crate) group_index: HashMap<String, GroupId>,
    pub(crate) fields: Vec<FieldInfo>,
    pub(crate) field_index: HashMap<String, FieldId>,
    pub(crate) default_group: Vec<GroupId>,
    pub(crate) moves: Vec<[Option<GroupId>; RowClass::COUNT]>,
    pub(crate) masks: Vec<Option<MaskRule>>,
    pub(crate) roles: Vec<RoleInfo>,
    pub(crate) role_index: HashMap<String, RoleId>,
    pub(crate) rules: Vec<RoleRules>,
    pub(crate) sensitive: GroupSet,
    pub(crate) lawful: GroupSet,
    pub(crate) never_break_glass: GroupSet,
    pub(crate) always_visible: GroupSet,
    pub(crate) emergency: Purpose,
    /// The validated file, kept for `explain` and the matrix (lines, declaration order).
    pub(crate) source: Resolved,
}

fn gid(i: usize) -> GroupId {
    // The validator caps groups at MAX_GROUPS (32), so the index fits.
    GroupId(u8::try_from(i).unwrap_or(u8::MAX))
}

fn fid(i: usize) -> FieldId {
    FieldId(u16::try_from(i).unwrap_or(u16::MAX))
}

fn rid(i: usize) -> RoleId {
    RoleId(u16::try_from(i).unwrap_or(u16::MAX))
}

/// Hex SHA-256 of `text`.
pub(crate) fn sha256_hex(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// Compiles a validated policy; `src` is hashed into the version.
pub(crate) fn compile(r: Resolved, src: &str, origin: &str) -> Policy {
    let nfields = r.fields.len();
    let groups: Vec<GroupInfo> = r
        .groups
        .iter()
        .map(|g| GroupInfo {
            name: g.name.clone(),
            title: g.title.clone(),
            title_zh: g.title_zh.clone(),
            sensitive: g.sensitive,
            records: g.records,
            writable_by: g.writable_by.clone(),
        })
        .collect();
    let group_index = groups
        .iter()
        .enumerate()
        .map(|(i, g)| (g.name.clone(), gid(i)))
        .collect();
    let fields: Vec<FieldInfo> = r
        .fields
        .iter()
        .map(|f| FieldInfo {
            qualified: format!("{}.{}", f.type_name, f.field_name),
            type_name: f.type_name.clone(),
            field_name: f.field_name.clone(),
        })
        .collect();
    let field_index = fields
        .iter()
        .enumerate()
        .map(|(i, f)| (f.qualified.clone(), fid(i)))
        .collect();
    let default_group: Vec<GroupId> = r.fields.iter().map(|f| gid(f.group)).collect();
    let moves = r
        .fields
        .iter()
        .map(|f| f.moves.map(|m| m.map(|(g, _)| gid(g))))
        .collect();

    let mut masks = vec![None; nfields];
    for m in &r.masks {
        if let Some(slot) = masks.get_mut(m.field) {
            *slot = Some(MaskRule {
                keep_start: m.keep_start,
                keep_end: m.keep_end,
            });
        }
    }
    let set_of = |list: &[(usize, usize)]| list.iter().map(|(g, _)| gid(*g)).collect::<GroupSet>();
    let bits_of = |list: &[(usize, usize)]| {
        let mut b = FieldBits::new(nfields);
        for (f, _) in list {
            b.set(fid(*f));
        }
        b
    };
    let sensitive = r
        .groups
        .iter()
        .enumerate()
        .filter(|(_, g)| g.sensitive)
        .map(|(i, _)| gid(i))
        .collect();
    let lawful: GroupSet = set_of(&r.lawful);

    let mut roles = Vec::with_capacity(r.roles.len());
    let mut rules = Vec::with_capacity(r.roles.len());
    for (ri, role) in r.roles.iter().enumerate() {
        let purposes: PurposeSet = role.purposes().collect();
        let read = set_of(&role.read);
        let read_allow = bits_of(&role.read_fields);
        let mut reveal = FieldBits::new(nfields);
        for m in r
            .masks
            .iter()
            .filter(|m| m.reveal.iter().any(|(x, _)| *x == ri))
        {
            reveal.set(fid(m.field));
        }
        let needs_lawful = !read.intersection(lawful).is_empty()
            || role
                .read_fields
                .iter()
                .any(|(f, _)| lawful.contains(default_group[*f]));
        rules.push(RoleRules {
            read,
            write: set_of(&role.write),
            own_org_read: set_of(&role.own_org_read),
            own_org_write: set_of(&role.own_org_write),
            read_allow,
            read_deny: bits_of(&role.deny_read_fields),
            write_allow: bits_of(&role.write_fields),
            write_deny: bits_of(&role.deny_write_fields),
            reveal,
            purposes,
            break_glass: role.break_glass.is_some(),
            emergency_ok: purposes.contains(r.emergency),
            needs_lawful,
        });
        roles.push(RoleInfo {
            name: role.name.clone(),
            agency: role.agency,
            title: role.title.clone(),
            title_zh: role.title_zh.clone(),
            purposes: role.purposes().collect(),
            default_purpose: role.default_purpose,
            scope: role.scope.clone(),
            break_glass: role.break_glass.is_some(),
            consent_override: role.consent_override,
        });
    }
    let role_index = roles
        .iter()
        .enumerate()
        .map(|(i, x)| (x.name.clone(), rid(i)))
        .collect();

    Policy {
        origin: origin.to_owned(),
        version: sha256_hex(src),
        allow_all: false,
        groups,
        group_index,
        fields,
        field_index,
        default_group,
        moves,
        masks,
        roles,
        role_index,
        rules,
        sensitive,
        lawful,
        never_break_glass: set_of(&r.never_break_glass),
        always_visible: set_of(&r.always_visible),
        emergency: r.emergency,
        source: r,
    }
}

/// The allow-everything twin of `template` (for benchmarking the cost of the real policy).
pub(crate) fn allow_all(template: &Policy) -> Policy {
    let nfields = template.fields.len();
    let all_groups: GroupSet = (0..template.groups.len()).map(gid).collect();
    let rules = template
        .rules
        .iter()
        .map(|r| RoleRules {
            read: all_groups,
            write: all_groups,
            own_org_read: GroupSet::EMPTY,
            own_org_write: GroupSet::EMPTY,
            read_allow: FieldBits::new(nfields),
            read_deny: FieldBits::new(nfields),
            write_allow: FieldBits::new(nfields),
            write_deny: FieldBits::new(nfields),
            reveal: FieldBits::new(nfields),
            purposes: r.purposes,
            break_glass: r.break_glass,
            emergency_ok: r.emergency_ok,
            needs_lawful: false,
        })
        .collect();
    Policy {
        version: sha256_hex(&format!("allow-all\n{}", template.version)),
        allow_all: true,
        masks: vec![None; nfields],
        rules,
        lawful: GroupSet::EMPTY,
        never_break_glass: GroupSet::EMPTY,
        always_visible: all_groups,
        ..template.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_hex_is_hex_sha256() {
        assert_eq!(
            sha256_hex(""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn compiled_roles_hold_their_grants() {
        let p = Policy::default_policy();
        let teacher = p.role("education.head_teacher").expect("role");
        let rules = &p.rules[teacher.index()];
        let scr = p.group("G-SCR").expect("group");
        assert!(!rules.read.contains(scr));
        assert!(rules
            .read_allow
            .get(p.field("Guardian.phone").expect("field")));
        assert!(rules
            .write_allow
            .get(p.field("Guardian.phone").expect("field")));
        assert!(!rules.break_glass && !rules.needs_lawful && rules.emergency_ok);
        let clinician = p.role("health.clinician").expect("role");
        let rules = &p.rules[clinician.index()];
        assert!(rules
            .own_org_read
            .contains(p.group("G-CLIN").expect("group")));
        assert!(rules.reveal.get(p.field("Child.idNumber").expect("field")));
    }

    #[test]
    fn allow_all_keeps_roles_and_scopes() {
        let p = Policy::default_policy();
        let a = allow_all(&p);
        assert_eq!(a.roles, p.roles);
        assert_eq!(a.fields, p.fields);
        assert!(a.masks.iter().all(Option::is_none));
        assert!(a.lawful.is_empty() && a.never_break_glass.is_empty());
        assert_eq!(a.sensitive, p.sensitive);
    }
}
