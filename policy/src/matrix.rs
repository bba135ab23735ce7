//! `carehub policy matrix`: the whole policy as one deterministic Markdown document — the role ×
//! group table, each role's exceptions, scopes and purposes, the groups, masks and the field
//! catalogue — for officials to review and for CI to diff.

use std::fmt::Write as _;

use crate::compile::RoleRules;
use crate::explain::mask_example;
use crate::scope::ScopeKind;
use crate::sets::{ClassSet, FieldId, GroupId, RoleId, RowClass};
use crate::Policy;

fn yes_no(b: bool) -> &'static str {
    if b {
        "yes"
    } else {
        "no"
    }
}

impl Policy {
    fn fields_in(&self, g: GroupId) -> impl Iterator<Item = FieldId> + '_ {
        self.fields()
            .filter(move |f| self.group_of(*f, ClassSet::EMPTY) == g)
    }

    /// One cell of the role × group table.
    fn cell(&self, r: &RoleRules, g: GroupId) -> String {
        let some = |bits: &crate::sets::FieldBits| self.fields_in(g).any(|f| bits.get(f));
        let read = if r.read.contains(g) {
            Some(if r.own_org_read.contains(g) {
                "R(own)"
            } else {
                "R"
            })
        } else if some(&r.read_allow) {
            Some("R(some)")
        } else {
            None
        };
        let write = if r.write.contains(g) {
            Some(if r.own_org_write.contains(g) {
                "W(own)"
            } else {
                "W"
            })
        } else if some(&r.write_allow) {
            Some("W(some)")
        } else {
            None
        };
        let mut tokens: Vec<String> = match (read, write) {
            (Some("R"), Some("W")) => vec!["RW".to_owned()],
            (r, w) => r.into_iter().chain(w).map(str::to_owned).collect(),
        };
        if tokens.is_empty() {
            return "—".to_owned();
        }
        let denied = self.fields_in(g).filter(|f| r.read_deny.get(*f)).count();
        if read.is_some() && denied > 0 {
            tokens.push(format!("except {denied}"));
        }
        let readable_masked = self
            .fields_in(g)
            .any(|f| self.mask(f).is_some() && self.reads(r, f, g));
        if read.is_some() && readable_masked {
            tokens.push("masked".to_owned());
        }
        if read.is_some() && self.lawful.contains(g) {
            tokens.push("consent".to_owned());
        }
        tokens.join(" ")
    }

    fn scope_short(scope: &ScopeKind) -> String {
        match scope {
            ScopeKind::AggregateOnly => "AGGREGATE_ONLY".to_owned(),
            ScopeKind::All => "ALL".to_owned(),
            ScopeKind::Linked { region, links } => {
                let links = links
                    .iter()
                    .map(|l| l.as_str())
                    .collect::<Vec<_>>()
                    .join(" or ");
                match (region, links.is_empty()) {
                    (true, true) => "region".to_owned(),
                    (true, false) => format!("region + {links}"),
                    (false, _) => links,
                }
            }
        }
    }

    fn field_list(&self, fields: impl Iterator<Item = FieldId>) -> String {
        let v: Vec<String> = fields
            .map(|f| format!("`{}`", self.field_name(f)))
            .collect();
        if v.is_empty() {
            "—".to_owned()
        } else {
            v.join(", ")
        }
    }

    fn group_list(&self, groups: impl Iterator<Item = GroupId>) -> String {
        let v: Vec<&str> = groups.map(|g| self.group_name(g)).collect();
        if v.is_empty() {
            "—".to_owned()
        } else {
            v.join(", ")
        }
    }

    /// The whole policy as Markdown. Deterministic: declaration order throughout.
    pub fn matrix_markdown(&self) -> String {
        let mut out = String::new();
        // `write!` to a String cannot fail.
        let _ = self.matrix_into(&mut out);
        out
    }

    fn matrix_into(&self, out: &mut String) -> std::fmt::Result {
        writeln!(out, "# carehub remit matrix")?;
        writeln!(out)?;
        writeln!(
            out,
            "Generated from `{}` (version `{}`) by `carehub policy matrix`. Do not edit by hand.",
            self.origin,
            self.short_version()
        )?;
        if self.allow_all {
            writeln!(out)?;
            writeln!(out, "**This is the allow-all benchmarking policy: every role reads and writes every group.**")?;
        }
        writeln!(out)?;
        writeln!(
            out,
            "Legend: **R** read · **W** write · **RW** read and write · **(own)** only on records of the user's own \
             organization · **(some)** only the single fields listed under the role · **except n** n fields of the \
             group denied · **masked** identifiers shown masked · **consent** on records of another agency only with a \
             lawful basis (or in an emergency) · **—** nothing."
        )?;

        // Role × group table.
        writeln!(out)?;
        writeln!(out, "## Roles × field groups")?;
        writeln!(out)?;
        let groups: Vec<GroupId> = self.groups().collect();
        write!(out, "| Role | Scope |")?;
        for g in &groups {
            write!(out, " {} |", self.group_name(*g))?;
        }
        writeln!(out)?;
        write!(out, "|---|---|")?;
        for _ in &groups {
            write!(out, "---|")?;
        }
        writeln!(out)?;
        for role in self.roles() {
            let info = self.role_info(role);
            let r = &self.rules[role.index()];
            write!(
                out,
                "| `{}` | {} |",
                info.name,
                Self::scope_short(&info.scope)
            )?;
            for g in &groups {
                write!(out, " {} |", self.cell(r, *g))?;
            }
            writeln!(out)?;
        }

        // Per role.
        writeln!(out)?;
        writeln!(out, "## Roles")?;
        for role in self.roles() {
            self.role_section(out, role)?;
        }

        // Groups.
        writeln!(out)?;
        writeln!(out, "## Field groups")?;
        writeln!(out)?;
        writeln!(
            out,
            "| Group | Title | 中文 | Sensitive (reads audited) | Child records | Writable by | Lawful basis across agencies | Break-glass | Always visible to referral receivers |"
        )?;
        writeln!(out, "|---|---|---|---|---|---|---|---|---|")?;
        for g in self.groups() {
            let info = &self.groups[g.index()];
            let writable = info
                .writable_by
                .iter()
                .map(|a| a.as_str())
                .collect::<Vec<_>>()
                .join(", ");
            writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                info.name,
                info.title,
                info.title_zh,
                yes_no(info.sensitive),
                yes_no(info.records),
                if writable.is_empty() {
                    "nobody"
                } else {
                    &writable
                },
                if self.lawful.contains(g) {
                    "required"
                } else {
                    "—"
                },
                if self.never_break_glass.contains(g) {
                    "never"
                } else {
                    "allowed"
                },
                yes_no(self.always_visible.contains(g)),
            )?;
        }
        writeln!(out)?;
        writeln!(
            out,
            "Emergency purpose (no lawful basis needed, PIPL art. 13(4)): {}.",
            self.emergency
        )?;

        // Masks.
        writeln!(out)?;
        writeln!(out, "## Masks")?;
        writeln!(out)?;
        writeln!(
            out,
            "| Field | Shown to every role as | May take the audited reveal action |"
        )?;
        writeln!(out, "|---|---|---|")?;
        for f in self.fields() {
            if let Some((s, e)) = self.mask(f) {
                let who: Vec<String> = self
                    .roles()
                    .filter(|r| self.may_reveal(*r, f))
                    .map(|r| format!("`{}`", self.role_info(r).name))
                    .collect();
                writeln!(
                    out,
                    "| `{}` | `{}` | {} |",
                    self.field_name(f),
                    mask_example(s, e),
                    if who.is_empty() {
                        "nobody".to_owned()
                    } else {
                        who.join(", ")
                    }
                )?;
            }
        }

        // Row classes.
        writeln!(out)?;
        writeln!(out, "## Row classes")?;
        writeln!(out)?;
        writeln!(out, "| Class | Rows | Field | Moves to |")?;
        writeln!(out, "|---|---|---|---|")?;
        for c in &self.source.classes {
            for f in self.fields() {
                let moved = self.group_of(f, ClassSet::from(c.class));
                if moved != self.group_of(f, ClassSet::EMPTY) {
                    writeln!(
                        out,
                        "| {} | {} / {} | `{}` | {} |",
                        c.class,
                        c.title,
                        c.title_zh,
                        self.field_name(f),
                        self.group_name(moved)
                    )?;
                }
            }
        }

        // Catalogue.
        writeln!(out)?;
        writeln!(out, "## Field catalogue")?;
        writeln!(out)?;
        write!(out, "| Field | Group |")?;
        for c in RowClass::ALL {
            write!(out, " On {c} rows |")?;
        }
        writeln!(out)?;
        write!(out, "|---|---|")?;
        for _ in RowClass::ALL {
            write!(out, "---|")?;
        }
        writeln!(out)?;
        for f in self.fields() {
            let g = self.group_of(f, ClassSet::EMPTY);
            write!(out, "| `{}` | {} |", self.field_name(f), self.group_name(g))?;
            for c in RowClass::ALL {
                let m = self.group_of(f, ClassSet::from(c));
                write!(out, " {} |", if m == g { "—" } else { self.group_name(m) })?;
            }
            writeln!(out)?;
        }
        Ok(())
    }

    fn role_section(&self, out: &mut String, role: RoleId) -> std::fmt::Result {
        let info = self.role_info(role);
        let r = &self.rules[role.index()];
        writeln!(out)?;
        writeln!(
            out,
            "### `{}` — {} / {}",
            info.name, info.title, info.title_zh
        )?;
        writeln!(out)?;
        writeln!(
            out,
            "- Agency: {} ({})",
            info.agency,
            info.agency.title_zh()
        )?;
        writeln!(
            out,
            "- Scope: {} — `scope = {}`",
            info.scope.describe(),
            info.scope.to_toml()
        )?;
        let purposes: Vec<String> = info
            .purposes
            .iter()
            .map(|p| {
                if *p == info.default_purpose {
                    format!("**{p}** (default)")
                } else {
                    p.to_string()
                }
            })
            .collect();
        writeln!(out, "- Purposes: {}", purposes.join(", "))?;
        writeln!(out, "- Reads groups: {}", self.group_list(r.read.iter()))?;
        writeln!(out, "- Writes groups: {}", self.group_list(r.write.iter()))?;
        let fields =
            |bits: &crate::sets::FieldBits| self.field_list(self.fields().filter(|f| bits.get(*f)));
        if r.read_allow.any() {
            writeln!(out, "- Also reads single fields: {}", fields(&r.read_allow))?;
        }
        if r.read_deny.any() {
            writeln!(out, "- Never reads: {}", fields(&r.read_deny))?;
        }
        if r.write_allow.any() {
            writeln!(
                out,
                "- Also writes single fields: {}",
                fields(&r.write_allow)
            )?;
        }
        if r.write_deny.any() {
            writeln!(out, "- Never writes: {}", fields(&r.write_deny))?;
        }
        if !r.own_org_read.is_empty() || !r.own_org_write.is_empty() {
            writeln!(
                out,
                "- Own organization's records only: read {}; write {}",
                self.group_list(r.own_org_read.iter()),
                self.group_list(r.own_org_write.iter())
            )?;
        }
        if r.reveal.any() {
            writeln!(out, "- May reveal: {}", fields(&r.reveal))?;
        }
        writeln!(
            out,
            "- Break-glass: {} · Consent override: {}",
            yes_no(info.break_glass),
            yes_no(info.consent_override)
        )?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cell(p: &Policy, role: &str, group: &str) -> String {
        let r = p.role(role).expect("role");
        p.cell(&p.rules[r.index()], p.group(group).expect("group"))
    }

    #[test]
    fn cells() {
        let p = Policy::default_policy();
        assert_eq!(cell(&p, "education.head_teacher", "G-SCR"), "—");
        assert_eq!(
            cell(&p, "education.head_teacher", "G-GUARD"),
            "R(some) W(some)"
        );
        assert_eq!(cell(&p, "education.psych_teacher", "G-GUARD"), "R except 2");
        assert_eq!(
            cell(&p, "civil_affairs.case_officer", "G-ID-full"),
            "RW masked"
        );
        assert_eq!(
            cell(&p, "civil_affairs.child_director", "G-ID-full"),
            "R(some)"
        );
        assert_eq!(
            cell(&p, "health.clinician", "G-CLIN"),
            "R(own) W(own) consent"
        );
        assert_eq!(cell(&p, "partner.hotline_app", "G-SERVICE-NOTES"), "W(own)");
        assert_eq!(cell(&p, "supervision.inspector", "G-AGG"), "RW");
    }

    #[test]
    fn short_scopes() {
        let p = Policy::default_policy();
        let short = |r: &str| Policy::scope_short(&p.role_info(p.role(r).expect("role")).scope);
        assert_eq!(short("education.head_teacher"), "region + CLASS");
        assert_eq!(short("health.clinician"), "REFERRED or EPISODE");
        assert_eq!(short("civil_affairs.case_officer"), "region");
        assert_eq!(short("supervision.auditor"), "AGGREGATE_ONLY");
    }
}
