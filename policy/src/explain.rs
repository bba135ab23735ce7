//! `carehub policy explain`: the decision for one role and one field, in words, with the
//! `file:line` of every rule that made it — so a reviewer can check the policy against the law
//! without reading code.

use std::fmt::Write as _;

use crate::decide::{DenyReason, ReadDecision, WriteDecision};
use crate::scope::ScopeKind;
use crate::sets::{ClassSet, FieldId, GroupId, RoleId, RowClass};
use crate::validate::{At, RRole};
use crate::{Policy, Purpose, RowFacts};

fn line_in(list: &[At], idx: usize) -> Option<usize> {
    list.iter().find(|(i, _)| *i == idx).map(|(_, l)| *l)
}

/// An example of a masked value: `4501**********1234` for 4 + 4 of an 18-character ID.
pub fn mask_example(keep_start: u8, keep_end: u8) -> String {
    const SAMPLE: &str = "450102200801011234";
    let (s, e) = (usize::from(keep_start), usize::from(keep_end));
    if s + e >= SAMPLE.len() {
        return SAMPLE.to_owned();
    }
    format!(
        "{}{}{}",
        &SAMPLE[..s],
        "*".repeat(SAMPLE.len() - s - e),
        &SAMPLE[SAMPLE.len() - e..]
    )
}

impl Policy {
    fn at(&self, line: Option<usize>) -> String {
        match line {
            Some(l) => format!("{}:{l}", self.origin),
            None => self.origin.clone(),
        }
    }

    fn describe_read(&self, d: ReadDecision) -> String {
        match d {
            ReadDecision::Allow { .. } => "allowed".to_owned(),
            ReadDecision::Mask {
                keep_start,
                keep_end,
                ..
            } => {
                format!("allowed, masked ({})", mask_example(keep_start, keep_end))
            }
            ReadDecision::BreakGlass { .. } => {
                "allowed through break-glass, flagged in the audit".to_owned()
            }
            ReadDecision::Deny(r) => format!("FORBIDDEN ({}) — {r}", r.code()),
            ReadDecision::ConsentRequired { group } => {
                format!(
                    "CONSENT_REQUIRED — no lawful basis releases {}",
                    self.group_name(group)
                )
            }
        }
    }

    fn describe_write(d: WriteDecision) -> String {
        match d {
            WriteDecision::Allow => "allowed".to_owned(),
            WriteDecision::Deny(r) => format!("FORBIDDEN ({}) — {r}", r.code()),
        }
    }

    /// Why `role` does or does not hold `f` while it is in group `g` (read or write).
    fn grant_reason(&self, role: &RRole, f: FieldId, g: GroupId, write: bool) -> String {
        let (groups, allow, deny, verb, list, deny_list) = if write {
            (
                &role.write,
                &role.write_fields,
                &role.deny_write_fields,
                "write",
                "write_fields",
                "deny_write_fields",
            )
        } else {
            (
                &role.read,
                &role.read_fields,
                &role.deny_read_fields,
                "read",
                "read_fields",
                "deny_read_fields",
            )
        };
        let (fi, gi) = (f.index(), g.index());
        let field = self.field_name(f);
        let group = self.group_name(g);
        let default_group = self.group_of(f, ClassSet::EMPTY);
        if let Some(l) = line_in(deny, fi) {
            return format!(
                "{field} is listed in the role's {deny_list} ({})",
                self.at(Some(l))
            );
        }
        if let Some(l) = line_in(groups, gi) {
            return format!(
                "{group} is in the role's {verb} list ({})",
                self.at(Some(l))
            );
        }
        match line_in(allow, fi) {
            Some(l) if default_group == g => format!(
                "{field} is listed in the role's {list} ({}), although the role has no {verb} on its group {group}",
                self.at(Some(l))
            ),
            Some(l) => format!(
                "{field} is listed in the role's {list} ({}), but that covers the field only in its usual group {}; here it is in {group}, which is not in the role's {verb} list",
                self.at(Some(l)),
                self.group_name(default_group)
            ),
            None => format!(
                "{group} is not in the role's {verb} list (role declared at {}) and no {list} entry names {field}",
                self.at(Some(role.line))
            ),
        }
    }

    /// Explains the decisions for `role` on `field` (`Type.field`), for `purpose` (or the
    /// role's default purpose). `Err` names an unknown role or field.
    pub fn explain(
        &self,
        role: &str,
        field: &str,
        purpose: Option<Purpose>,
    ) -> Result<String, String> {
        let rid = self.role(role).ok_or_else(|| {
            let roles = self
                .roles
                .iter()
                .map(|r| r.name.as_str())
                .collect::<Vec<_>>()
                .join(", ");
            format!(
                "{}: there is no role {role:?}; the roles are {roles}",
                self.origin
            )
        })?;
        let f = self.field(field).ok_or_else(|| {
            format!("{}: there is no field {field:?} in the catalogue; fields are written Type.field, e.g. Child.displayName", self.origin)
        })?;
        let mut out = String::new();
        // `write!` to a String cannot fail; the results are ignored on purpose.
        let _ = self.explain_into(&mut out, rid, f, purpose);
        Ok(out)
    }

    fn explain_into(
        &self,
        out: &mut String,
        rid: RoleId,
        f: FieldId,
        purpose: Option<Purpose>,
    ) -> std::fmt::Result {
        let info = self.role_info(rid);
        let role = &self.source.roles[rid.index()];
        let g = self.group_of(f, ClassSet::EMPTY);
        let group = &self.groups[g.index()];
        let gname = group.name.as_str();
        let fname = self.field_name(f);

        writeln!(
            out,
            "policy   {} (version {})",
            self.origin,
            self.short_version()
        )?;
        writeln!(
            out,
            "role     {} — {} / {} ({}, declared at {})",
            info.name,
            info.title,
            info.title_zh,
            info.agency,
            self.at(Some(role.line))
        )?;
        writeln!(
            out,
            "field    {fname} — group {gname}: {} / {} ({}){}",
            group.title,
            group.title_zh,
            self.at(self.source.fields.get(f.index()).map(|x| x.line)),
            if group.sensitive {
                "; sensitive: every read is audited"
            } else {
                ""
            }
        )?;
        writeln!(
            out,
            "scope    {} ({})",
            info.scope.describe(),
            self.at(Some(role.scope_line))
        )?;

        let p = purpose.unwrap_or(info.default_purpose);
        let purpose_ok = self.purpose_allowed(rid, p);
        match purpose {
            None => writeln!(out, "purpose  none given: the role's default {p} applies")?,
            Some(p) if purpose_ok => writeln!(
                out,
                "purpose  {p} — allowed ({})",
                self.at(line_in(
                    &role.purposes,
                    Purpose::ALL.iter().position(|q| *q == p).unwrap_or(0)
                ))
            )?,
            Some(p) => {
                let allowed = info
                    .purposes
                    .iter()
                    .map(|q| q.as_str())
                    .collect::<Vec<_>>()
                    .join(", ");
                writeln!(
                    out,
                    "purpose  {p} — NOT allowed for this role ({allowed}; {}): every request stating it is refused (FORBIDDEN)",
                    self.at(Some(role.purposes_line))
                )?;
            }
        }

        if self.allow_all {
            writeln!(out)?;
            writeln!(
                out,
                "READ   allowed — this is the allow-all benchmarking policy derived from {}",
                self.origin
            )?;
            writeln!(out, "WRITE  allowed — no masks, overrides, own-organization, lawful-basis, break-glass or referral-view limits")?;
            return Ok(());
        }

        // READ: the decision on the most favourable row, then each condition that can change it.
        let best = RowFacts::own_row(p);
        let read = self.decide_read(rid, f, &best);
        let mut conditions = String::new();
        if read.is_readable() {
            self.read_conditions(&mut conditions, rid, role, f, g, p)?;
        }
        writeln!(out)?;
        writeln!(
            out,
            "READ   {}{}",
            self.describe_read(read),
            if conditions.is_empty() {
                ""
            } else {
                " — on the role's own records; the conditions below can change that"
            }
        )?;
        writeln!(out, "  - {}", self.grant_reason(role, f, g, false))?;
        out.push_str(&conditions);
        self.class_moves(out, rid, role, f, p, false)?;

        // WRITE.
        let write = self.decide_write(rid, f, &best);
        writeln!(out)?;
        writeln!(out, "WRITE  {}", Self::describe_write(write))?;
        writeln!(out, "  - {}", self.grant_reason(role, f, g, true))?;
        if write == WriteDecision::Allow && !self.groups[g.index()].records {
            // Directory, aggregate and audit groups have no owning organization or referral.
        } else if write == WriteDecision::Allow {
            if let Some(l) = line_in(&role.own_org_write, g.index()) {
                writeln!(
                    out,
                    "  - only on records of the role's own organization: own_org_only.write lists {gname} ({}); elsewhere FORBIDDEN (OTHER_ORGANIZATION)",
                    self.at(Some(l))
                )?;
            }
            if self.view_limited(rid) && !self.always_visible.contains(g) {
                writeln!(
                    out,
                    "  - on children reached only through a referral: only if the referral's authorizedView includes {gname}"
                )?;
            }
            if info.break_glass {
                writeln!(
                    out,
                    "  - never through break-glass: break-glass access is read-only"
                )?;
            }
            let mut write_group = group
                .writable_by
                .iter()
                .map(|a| a.as_str())
                .collect::<Vec<_>>()
                .join(", ");
            if write_group.is_empty() {
                write_group = "no agency".to_owned();
            }
            writeln!(
                out,
                "  - {gname} is writable by {write_group} ({})",
                self.at(Some(self.source.groups[g.index()].line))
            )?;
        }
        self.class_moves(out, rid, role, f, p, true)?;
        Ok(())
    }

    fn read_conditions(
        &self,
        out: &mut String,
        rid: RoleId,
        role: &RRole,
        f: FieldId,
        g: GroupId,
        p: Purpose,
    ) -> std::fmt::Result {
        let info = self.role_info(rid);
        let gname = self.group_name(g);
        if let Some(l) = line_in(&role.own_org_read, g.index()) {
            writeln!(
                out,
                "  - only on records of the role's own organization: own_org_only.read lists {gname} ({}); elsewhere FORBIDDEN (OTHER_ORGANIZATION)",
                self.at(Some(l))
            )?;
        }
        if self.lawful.contains(g) {
            let line = self.at(line_in(&self.source.lawful, g.index()));
            if p == self.emergency && self.purpose_allowed(rid, p) {
                writeln!(
                    out,
                    "  - {gname} crosses agencies only with a lawful basis ({line}); purpose {p} is the emergency purpose ({}), so no lawful basis is needed (PIPL art. 13(4))",
                    self.at(self.source.emergency_line)
                )?;
            } else {
                writeln!(
                    out,
                    "  - {gname} crosses agencies only with a lawful basis ({line}): on records another agency wrote, CONSENT_REQUIRED unless a LawfulBasis releases {gname} of that child to {} for purpose {p}",
                    info.agency
                )?;
            }
        }
        if self.view_limited(rid) {
            if let Some(l) = line_in(&self.source.always_visible, g.index()) {
                writeln!(
                    out,
                    "  - on children reached only through a referral: visible ([referral_view] always_visible, {})",
                    self.at(Some(l))
                )?;
            } else {
                writeln!(
                    out,
                    "  - on children reached only through a referral: FORBIDDEN (OUTSIDE_REFERRAL_VIEW) unless the referral's authorizedView includes {gname}"
                )?;
            }
        }
        if let Some(m) = self.source.masks.iter().find(|m| m.field == f.index()) {
            writeln!(
                out,
                "  - masked for every role: {} ([[masks]], {})",
                mask_example(m.keep_start, m.keep_end),
                self.at(Some(m.line))
            )?;
            match line_in(&m.reveal, rid.index()) {
                Some(l) => writeln!(
                    out,
                    "  - this role may take the separate reveal action, one child at a time, each reveal audited ({})",
                    self.at(Some(l))
                )?,
                None => {
                    let who = m.reveal.iter().map(|(r, _)| self.roles[*r].name.as_str()).collect::<Vec<_>>().join(", ");
                    writeln!(out, "  - this role may not reveal it (only {who} may)")?;
                }
            }
        }
        if info.break_glass {
            match line_in(&self.source.never_break_glass, g.index()) {
                Some(l) => writeln!(
                    out,
                    "  - under break-glass: FORBIDDEN ({}) — [break_glass] never lists {gname} ({})",
                    DenyReason::BreakGlassExcluded.code(),
                    self.at(Some(l))
                )?,
                None => writeln!(
                    out,
                    "  - under break-glass (role may break glass, {}): readable, every read flagged in the audit",
                    self.at(role.break_glass)
                )?,
            }
        }
        if matches!(info.scope, ScopeKind::AggregateOnly) && self.groups[g.index()].records {
            writeln!(out, "  - the role is AGGREGATE_ONLY: it reaches no child records, so this field is never served")?;
        }
        Ok(())
    }

    /// Row classes that move the field into another group, and what that means for the role.
    fn class_moves(
        &self,
        out: &mut String,
        rid: RoleId,
        role: &RRole,
        f: FieldId,
        p: Purpose,
        write: bool,
    ) -> std::fmt::Result {
        for class in RowClass::ALL {
            let Some((to, line)) = self
                .source
                .fields
                .get(f.index())
                .and_then(|x| x.moves[class.index()])
            else {
                continue;
            };
            let to = GroupId(u8::try_from(to).unwrap_or(u8::MAX));
            let facts = RowFacts {
                classes: ClassSet::from(class),
                ..RowFacts::own_row(p)
            };
            let decision = if write {
                Self::describe_write(self.decide_write(rid, f, &facts))
            } else {
                self.describe_read(self.decide_read(rid, f, &facts))
            };
            writeln!(
                out,
                "  - on {class} rows the field belongs to {} instead ([row_classes.{class}], {}): {decision}",
                self.group_name(to),
                self.at(Some(line))
            )?;
            if decision.starts_with("FORBIDDEN") {
                writeln!(out, "    because {}", self.grant_reason(role, f, to, write))?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mask_examples() {
        assert_eq!(mask_example(4, 4), "4501**********1234");
        assert_eq!(mask_example(0, 0), "******************");
        assert_eq!(mask_example(10, 10), "450102200801011234");
    }
}
