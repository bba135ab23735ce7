//! Compact identifiers and bitsets: the compiled policy refers to fields, groups and roles by
//! small integer ids so that every decision is a few array lookups and bit tests.

use std::fmt;
use std::str::FromStr;

/// A field of the catalogue (`Type.field`), by position in the compiled policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FieldId(pub(crate) u16);

impl FieldId {
    /// Position of the field in [`crate::Policy::fields`] order.
    pub fn index(self) -> usize {
        usize::from(self.0)
    }
}

/// A field group (`G-…`), by declaration order in the policy file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GroupId(pub(crate) u8);

impl GroupId {
    /// Position of the group in declaration order.
    pub fn index(self) -> usize {
        usize::from(self.0)
    }
}

/// A role, by declaration order in the policy file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RoleId(pub(crate) u16);

impl RoleId {
    /// Position of the role in declaration order.
    pub fn index(self) -> usize {
        usize::from(self.0)
    }
}

/// The most field groups a policy may declare (one bit each in a [`GroupSet`]).
pub const MAX_GROUPS: usize = 32;

/// A set of field groups (one bit per [`GroupId`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct GroupSet(u32);

impl GroupSet {
    /// The empty set.
    pub const EMPTY: GroupSet = GroupSet(0);

    /// Every group a policy can have.
    pub const ALL: GroupSet = GroupSet(u32::MAX);

    /// Whether `g` is in the set.
    pub fn contains(self, g: GroupId) -> bool {
        usize::from(g.0) < MAX_GROUPS && self.0 & (1 << g.0) != 0
    }

    /// Adds `g` (ids beyond [`MAX_GROUPS`] are ignored; the validator never produces them).
    pub fn insert(&mut self, g: GroupId) {
        if usize::from(g.0) < MAX_GROUPS {
            self.0 |= 1 << g.0;
        }
    }

    /// Removes `g`.
    pub fn remove(&mut self, g: GroupId) {
        if usize::from(g.0) < MAX_GROUPS {
            self.0 &= !(1 << g.0);
        }
    }

    /// The set with `g` added.
    #[must_use]
    pub fn with(mut self, g: GroupId) -> Self {
        self.insert(g);
        self
    }

    /// Groups in either set.
    #[must_use]
    pub fn union(self, other: GroupSet) -> GroupSet {
        GroupSet(self.0 | other.0)
    }

    /// Groups in both sets.
    #[must_use]
    pub fn intersection(self, other: GroupSet) -> GroupSet {
        GroupSet(self.0 & other.0)
    }

    /// Whether no group is in the set.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Number of groups in the set.
    pub fn len(self) -> usize {
        self.0.count_ones() as usize
    }

    /// The raw bits (bit *i* = group *i*), e.g. for caching.
    pub fn bits(self) -> u32 {
        self.0
    }

    /// The groups in ascending id order.
    pub fn iter(self) -> impl Iterator<Item = GroupId> {
        (0..MAX_GROUPS as u8)
            .map(GroupId)
            .filter(move |g| self.contains(*g))
    }
}

impl FromIterator<GroupId> for GroupSet {
    fn from_iter<I: IntoIterator<Item = GroupId>>(iter: I) -> Self {
        let mut set = GroupSet::EMPTY;
        for g in iter {
            set.insert(g);
        }
        set
    }
}

/// A class of row whose content moves some fields into a stricter group. Classes are fixed in
/// code because the server computes them from row data (e.g. a report's category).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RowClass {
    /// A report of a harm category (ABUSE, SEXUAL_ABUSE, NEGLECT, BULLYING, DOMESTIC_VIOLENCE).
    Harm,
}

impl RowClass {
    /// Every class, in precedence order (the first class of a row that moves a field wins).
    pub const ALL: [RowClass; 1] = [RowClass::Harm];

    /// Number of classes.
    pub const COUNT: usize = Self::ALL.len();

    /// The name used in the policy file.
    pub fn as_str(self) -> &'static str {
        match self {
            RowClass::Harm => "HARM",
        }
    }

    pub(crate) fn bit(self) -> u8 {
        match self {
            RowClass::Harm => 1,
        }
    }

    pub(crate) fn index(self) -> usize {
        match self {
            RowClass::Harm => 0,
        }
    }
}

impl fmt::Display for RowClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for RowClass {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        RowClass::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| format!("unknown row class {s:?}"))
    }
}

/// The classes a row belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct ClassSet(u8);

impl ClassSet {
    /// A row of no special class.
    pub const EMPTY: ClassSet = ClassSet(0);

    /// A harm report row.
    pub const HARM: ClassSet = ClassSet(1);

    /// Whether the row is of class `c`.
    pub fn contains(self, c: RowClass) -> bool {
        self.0 & c.bit() != 0
    }

    /// Adds class `c`.
    pub fn insert(&mut self, c: RowClass) {
        self.0 |= c.bit();
    }

    /// Classes in either set.
    #[must_use]
    pub fn union(self, other: ClassSet) -> ClassSet {
        ClassSet(self.0 | other.0)
    }

    /// Whether the row has no class.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The classes in precedence order.
    pub fn iter(self) -> impl Iterator<Item = RowClass> {
        RowClass::ALL.into_iter().filter(move |c| self.contains(*c))
    }
}

impl From<RowClass> for ClassSet {
    fn from(c: RowClass) -> Self {
        ClassSet(c.bit())
    }
}

/// One bit per field, for per-role field overrides (allow/deny lists).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct FieldBits(Vec<u64>);

impl FieldBits {
    pub(crate) fn new(fields: usize) -> Self {
        FieldBits(vec![0; fields.div_ceil(64)])
    }

    pub(crate) fn set(&mut self, f: FieldId) {
        let i = f.index();
        if let Some(word) = self.0.get_mut(i / 64) {
            *word |= 1 << (i % 64);
        }
    }

    pub(crate) fn get(&self, f: FieldId) -> bool {
        let i = f.index();
        self.0.get(i / 64).is_some_and(|w| w & (1 << (i % 64)) != 0)
    }

    pub(crate) fn any(&self) -> bool {
        self.0.iter().any(|w| *w != 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_set_basics() {
        let mut s = GroupSet::EMPTY;
        assert!(s.is_empty());
        s.insert(GroupId(3));
        s.insert(GroupId(31));
        s.insert(GroupId(200)); // ignored, never panics
        assert!(s.contains(GroupId(3)) && s.contains(GroupId(31)));
        assert!(!s.contains(GroupId(4)) && !s.contains(GroupId(200)));
        assert_eq!(s.iter().collect::<Vec<_>>(), vec![GroupId(3), GroupId(31)]);
        assert_eq!(s.len(), 2);
        s.remove(GroupId(3));
        assert_eq!(s, GroupSet::EMPTY.with(GroupId(31)));
        let u = s.union([GroupId(1)].into_iter().collect());
        assert_eq!(u.len(), 2);
        assert_eq!(u.intersection(s), s);
    }

    #[test]
    fn class_set_basics() {
        assert!(ClassSet::HARM.contains(RowClass::Harm));
        assert!(!ClassSet::EMPTY.contains(RowClass::Harm));
        assert_eq!(ClassSet::from(RowClass::Harm), ClassSet::HARM);
        assert_eq!("HARM".parse::<RowClass>(), Ok(RowClass::Harm));
        assert!("harm".parse::<RowClass>().is_err());
        assert_eq!(
            ClassSet::HARM.iter().collect::<Vec<_>>(),
            vec![RowClass::Harm]
        );
    }

    #[test]
    fn field_bits() {
        let mut b = FieldBits::new(130);
        assert!(!b.any());
        b.set(FieldId(129));
        b.set(FieldId(500)); // out of range: ignored
        assert!(b.get(FieldId(129)) && !b.get(FieldId(128)) && !b.get(FieldId(500)));
        assert!(b.any());
    }
}
