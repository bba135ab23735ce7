//! The decisions: may this role read or write this field on a row with these facts? Every
//! decision is a few bit tests on data compiled at load time — no strings, no allocation.

use std::fmt;

use crate::compile::RoleRules;
use crate::sets::{ClassSet, FieldId, GroupId, GroupSet, RoleId};
use crate::{Policy, Purpose};

/// What the server knows about the row a field is read from or written to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RowFacts {
    /// The row's organization is the principal's organization.
    pub own_org: bool,
    /// The row was written by the principal's agency (otherwise reading a lawful-basis group
    /// crosses agencies).
    pub same_agency: bool,
    /// Row classes that move fields between groups (e.g. a harm report).
    pub classes: ClassSet,
    /// `Some(view)` when the principal reaches the row's child only through REFERRED (the
    /// union of the open referrals' `authorizedView`); `None` when not view-limited.
    pub view: Option<GroupSet>,
    /// Groups for which a valid lawful basis covers (child, principal's agency, purpose).
    pub lawful: GroupSet,
    /// The row is reached only through an active break-glass grant.
    pub break_glass: bool,
    /// The request's purpose of use.
    pub purpose: Purpose,
}

impl RowFacts {
    /// A row of the principal's own organization and agency, reached through a full link:
    /// the most favourable facts, e.g. for checking a new record's input fields.
    pub fn own_row(purpose: Purpose) -> Self {
        RowFacts {
            own_org: true,
            same_agency: true,
            classes: ClassSet::EMPTY,
            view: None,
            lawful: GroupSet::EMPTY,
            break_glass: false,
            purpose,
        }
    }
}

/// Why a read or write is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DenyReason {
    /// The field's group is not granted to the role (nor the field itself).
    NotInRemit,
    /// The child is reached only through a referral whose authorized view lacks the group.
    OutsideReferralView,
    /// The group is limited to rows of the role's own organization.
    OtherOrganization,
    /// Break-glass never opens this group.
    BreakGlassExcluded,
    /// The role may not use break-glass at all.
    BreakGlassNotPermitted,
    /// Break-glass access never allows writing.
    BreakGlassReadOnly,
}

impl DenyReason {
    /// A stable code for logs and `extensions.reason` consumers.
    pub fn code(self) -> &'static str {
        match self {
            DenyReason::NotInRemit => "NOT_IN_REMIT",
            DenyReason::OutsideReferralView => "OUTSIDE_REFERRAL_VIEW",
            DenyReason::OtherOrganization => "OTHER_ORGANIZATION",
            DenyReason::BreakGlassExcluded => "BREAK_GLASS_EXCLUDED",
            DenyReason::BreakGlassNotPermitted => "BREAK_GLASS_NOT_PERMITTED",
            DenyReason::BreakGlassReadOnly => "BREAK_GLASS_READ_ONLY",
        }
    }
}

impl fmt::Display for DenyReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DenyReason::NotInRemit => "the field is outside this role's remit",
            DenyReason::OutsideReferralView => {
                "the child is reached only through a referral whose authorized view does not include this field"
            }
            DenyReason::OtherOrganization => "this field is available only on records of the role's own organization",
            DenyReason::BreakGlassExcluded => "break-glass access never extends to this field",
            DenyReason::BreakGlassNotPermitted => "this role may not use break-glass access",
            DenyReason::BreakGlassReadOnly => "break-glass access is read-only",
        })
    }
}

/// The outcome of a read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadDecision {
    /// Return the value; `audit` when the group is sensitive.
    Allow { audit: bool },
    /// Return the value masked: keep `keep_start` and `keep_end` characters, star the rest.
    Mask {
        keep_start: u8,
        keep_end: u8,
        audit: bool,
    },
    /// Return `null` and a `FORBIDDEN` error.
    Deny(DenyReason),
    /// Return `null` and `CONSENT_REQUIRED`: only a lawful basis for `group` is missing.
    ConsentRequired { group: GroupId },
    /// Return the value, reached through break-glass: always flagged in the audit (`audit` is
    /// always true).
    BreakGlass { audit: bool },
}

impl ReadDecision {
    /// Whether a value (clear or masked) is returned.
    pub fn is_readable(self) -> bool {
        matches!(
            self,
            ReadDecision::Allow { .. }
                | ReadDecision::Mask { .. }
                | ReadDecision::BreakGlass { .. }
        )
    }

    /// Whether the read must be written to the audit log.
    pub fn audit(self) -> bool {
        match self {
            ReadDecision::Allow { audit }
            | ReadDecision::Mask { audit, .. }
            | ReadDecision::BreakGlass { audit } => audit,
            ReadDecision::Deny(_) | ReadDecision::ConsentRequired { .. } => false,
        }
    }
}

/// The outcome of a write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteDecision {
    /// The field may be set.
    Allow,
    /// The whole mutation is refused.
    Deny(DenyReason),
}

/// Group ids outside the policy (from a foreign or out-of-range field id).
pub(crate) const NO_GROUP: GroupId = GroupId(u8::MAX);

impl Policy {
    fn rules(&self, role: RoleId) -> Option<&RoleRules> {
        self.rules.get(role.index())
    }

    /// The group of `f` on a row of `classes` (a row class may move a field into a stricter
    /// group). Unknown ids give a group that no role holds.
    pub fn group_of(&self, f: FieldId, classes: ClassSet) -> GroupId {
        let Some(default) = self.default_group.get(f.index()).copied() else {
            return NO_GROUP;
        };
        if classes.is_empty() {
            return default;
        }
        let moves = &self.moves[f.index()];
        classes
            .iter()
            .find_map(|c| moves[c.index()])
            .unwrap_or(default)
    }

    /// Whether the role reads `f` while it is in group `g`. A field override follows the field
    /// only while it is in its default group: an allowed field moved into a stricter group by
    /// a row class is decided by the stricter group's grant.
    pub(crate) fn reads(&self, r: &RoleRules, f: FieldId, g: GroupId) -> bool {
        !r.read_deny.get(f)
            && (r.read.contains(g)
                || (r.read_allow.get(f) && self.default_group.get(f.index()) == Some(&g)))
    }

    fn writes(&self, r: &RoleRules, f: FieldId, g: GroupId) -> bool {
        !r.write_deny.get(f)
            && (r.write.contains(g)
                || (r.write_allow.get(f) && self.default_group.get(f.index()) == Some(&g)))
    }

    /// May `role` read `f` on a row with `facts`? In order: remit (group or field override),
    /// break-glass exclusions, referral view, own organization, lawful basis, mask.
    pub fn decide_read(&self, role: RoleId, f: FieldId, facts: &RowFacts) -> ReadDecision {
        let Some(r) = self.rules(role) else {
            return ReadDecision::Deny(DenyReason::NotInRemit);
        };
        let g = self.group_of(f, facts.classes);
        if !self.reads(r, f, g) {
            return ReadDecision::Deny(DenyReason::NotInRemit);
        }
        if facts.break_glass {
            if !r.break_glass {
                return ReadDecision::Deny(DenyReason::BreakGlassNotPermitted);
            }
            if self.never_break_glass.contains(g) {
                return ReadDecision::Deny(DenyReason::BreakGlassExcluded);
            }
        }
        if let Some(view) = facts.view {
            if !view.contains(g) && !self.always_visible.contains(g) {
                return ReadDecision::Deny(DenyReason::OutsideReferralView);
            }
        }
        if !facts.own_org && r.own_org_read.contains(g) {
            return ReadDecision::Deny(DenyReason::OtherOrganization);
        }
        // An emergency to protect life and health needs no consent (PIPL art. 13(4)).
        let emergency = facts.purpose == self.emergency && r.emergency_ok;
        let basis_missing = self.lawful.contains(g) && !facts.lawful.contains(g);
        if !facts.same_agency && basis_missing && !emergency {
            return ReadDecision::ConsentRequired { group: g };
        }
        // Every break-glass read is flagged, sensitive or not.
        let audit = facts.break_glass || self.sensitive.contains(g);
        if let Some(m) = self.masks.get(f.index()).copied().flatten() {
            // Masks apply to every role, revealers included: revealing is a separate action.
            return ReadDecision::Mask {
                keep_start: m.keep_start,
                keep_end: m.keep_end,
                audit,
            };
        }
        if facts.break_glass {
            ReadDecision::BreakGlass { audit: true }
        } else {
            ReadDecision::Allow { audit }
        }
    }

    /// May `role` set `f` on a row with `facts`? Remit (group or field override), then: never
    /// through break-glass, never outside a referral's view, own organization where required.
    /// Writes to a new record are decided with no row classes (anyone may file a harm report;
    /// once filed, its narrative is G-ABUSE).
    pub fn decide_write(&self, role: RoleId, f: FieldId, facts: &RowFacts) -> WriteDecision {
        let Some(r) = self.rules(role) else {
            return WriteDecision::Deny(DenyReason::NotInRemit);
        };
        let g = self.group_of(f, facts.classes);
        if !self.writes(r, f, g) {
            return WriteDecision::Deny(DenyReason::NotInRemit);
        }
        if facts.break_glass {
            return WriteDecision::Deny(DenyReason::BreakGlassReadOnly);
        }
        if let Some(view) = facts.view {
            if !view.contains(g) && !self.always_visible.contains(g) {
                return WriteDecision::Deny(DenyReason::OutsideReferralView);
            }
        }
        if !facts.own_org && r.own_org_write.contains(g) {
            return WriteDecision::Deny(DenyReason::OtherOrganization);
        }
        WriteDecision::Allow
    }

    /// Could `role` read `f` on some row? For query root fields, directory fields and filter or
    /// sort inputs. A field that a row class can move into another group counts only if the
    /// role reads it in every group it can be in, so no filter can probe the stricter group.
    pub fn static_read(&self, role: RoleId, f: FieldId) -> bool {
        let Some(r) = self.rules(role) else {
            return false;
        };
        let Some(default) = self.default_group.get(f.index()).copied() else {
            return false;
        };
        self.reads(r, f, default)
            && self.moves[f.index()]
                .iter()
                .flatten()
                .all(|g| self.reads(r, f, *g))
    }

    /// Could `role` write `f` on some row (the row's own organization, no class)?
    pub fn static_write(&self, role: RoleId, f: FieldId) -> bool {
        let Some(r) = self.rules(role) else {
            return false;
        };
        let Some(default) = self.default_group.get(f.index()).copied() else {
            return false;
        };
        self.writes(r, f, default)
    }

    /// Whether `role` may take the audited reveal action on masked field `f`.
    pub fn may_reveal(&self, role: RoleId, f: FieldId) -> bool {
        self.rules(role).is_some_and(|r| r.reveal.get(f)) && self.static_read(role, f)
    }

    /// The mask of `f` (characters kept at the start and end), if any.
    pub fn mask(&self, f: FieldId) -> Option<(u8, u8)> {
        self.masks
            .get(f.index())
            .copied()
            .flatten()
            .map(|m| (m.keep_start, m.keep_end))
    }

    /// Whether `role` may state purpose `p`.
    pub fn purpose_allowed(&self, role: RoleId, p: Purpose) -> bool {
        self.rules(role).is_some_and(|r| r.purposes.contains(p))
    }

    /// Whether the role reads some group that crosses agencies only on a lawful basis — i.e.
    /// whether the server needs to compute [`RowFacts::lawful`] for it.
    pub fn needs_lawful_basis(&self, role: RoleId) -> bool {
        self.rules(role).is_some_and(|r| r.needs_lawful)
    }

    /// Groups the role reads as a whole (not counting single-field overrides).
    pub fn read_groups(&self, role: RoleId) -> GroupSet {
        self.rules(role).map_or(GroupSet::EMPTY, |r| r.read)
    }

    /// Groups the role writes as a whole (not counting single-field overrides).
    pub fn write_groups(&self, role: RoleId) -> GroupSet {
        self.rules(role).map_or(GroupSet::EMPTY, |r| r.write)
    }

    /// Groups that cross agencies only with a lawful basis.
    pub fn lawful_basis_groups(&self) -> GroupSet {
        self.lawful
    }

    /// Groups break-glass never opens.
    pub fn never_break_glass_groups(&self) -> GroupSet {
        self.never_break_glass
    }

    /// Groups a referral receiver sees besides the referral's authorized view.
    pub fn referral_always_visible(&self) -> GroupSet {
        self.always_visible
    }

    /// The purpose that counts as an emergency (PIPL art. 13(4)).
    pub fn emergency_purpose(&self) -> Purpose {
        self.emergency
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deny_reasons_have_distinct_codes_and_messages() {
        let all = [
            DenyReason::NotInRemit,
            DenyReason::OutsideReferralView,
            DenyReason::OtherOrganization,
            DenyReason::BreakGlassExcluded,
            DenyReason::BreakGlassNotPermitted,
            DenyReason::BreakGlassReadOnly,
        ];
        let codes: std::collections::HashSet<_> = all.iter().map(|r| r.code()).collect();
        let texts: std::collections::HashSet<_> = all.iter().map(ToString::to_string).collect();
        assert_eq!(codes.len(), all.len());
        assert_eq!(texts.len(), all.len());
        assert!(all
            .iter()
            .all(|r| r.code().chars().all(|c| c.is_ascii_uppercase() || c == '_')));
    }

    #[test]
    fn read_decision_helpers() {
        assert!(ReadDecision::Allow { audit: false }.is_readable());
        assert!(ReadDecision::Mask {
            keep_start: 4,
            keep_end: 4,
            audit: true
        }
        .audit());
        assert!(ReadDecision::BreakGlass { audit: true }.is_readable());
        assert!(!ReadDecision::Deny(DenyReason::NotInRemit).is_readable());
        assert!(!ReadDecision::ConsentRequired { group: GroupId(0) }.audit());
    }

    #[test]
    fn own_row_is_the_most_favourable_row() {
        let f = RowFacts::own_row(Purpose::Care);
        assert!(
            f.own_org
                && f.same_agency
                && !f.break_glass
                && f.view.is_none()
                && f.classes.is_empty()
        );
    }

    #[test]
    fn group_of_follows_row_classes() {
        let p = Policy::default_policy();
        let desc = p.field("Report.description").expect("field");
        let status = p.field("Report.status").expect("field");
        let plan = p.group("G-PLAN").expect("group");
        let abuse = p.group("G-ABUSE").expect("group");
        assert_eq!(p.group_of(desc, ClassSet::EMPTY), plan);
        assert_eq!(p.group_of(desc, ClassSet::HARM), abuse);
        assert_eq!(p.group_of(status, ClassSet::HARM), plan);
        assert_eq!(p.group_of(FieldId(u16::MAX), ClassSet::HARM), NO_GROUP);
    }
}
