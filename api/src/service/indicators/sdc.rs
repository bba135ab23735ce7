//! Statistical disclosure control for callers without row access: small counts (1–4) are
//! suppressed, and complementary suppression keeps them from being recovered from a total.
//!
//! The table is always the whole province, down to villages, so whether a cell is suppressed
//! depends only on the data — never on which region was asked for, by whom, or through which
//! parent (a county asked directly and as a child of its city shows the same cells). Every
//! additive relation a reader can see is a *group* — a region and its subregions, for each
//! count; and a count and the counts that partition it (risk levels, report delays, overdue
//! visits by kind). The rules, applied until nothing changes:
//!
//! 1. a count from 1 to 4 is suppressed (primary suppression);
//! 2. in a group, a suppressed member never stands alone: if exactly one member is suppressed,
//!    the smallest other member is suppressed too (non-zero first, then by code or position);
//! 3. a suppressed total has at least two suppressed members, so it cannot be rebuilt from
//!    its parts (this protects a complementary cell against its own subregions);
//! 4. a group of one member shares the member's status (the total equals it).

use std::collections::{BTreeMap, HashMap};

#[cfg(test)]
use super::M;
use super::{Group, MEASURES, PARTITIONS};
use crate::domain::region::{truncate, RegionPrefix, LEVEL_DIGITS};

/// Counts from 1 to this are suppressed.
pub const THRESHOLD: i64 = 4;

/// One region of the province table.
#[derive(Debug, Clone)]
pub struct Node {
    pub code: i64,
    /// Significant digits of the region's level (2, 4, 6, 9, 12).
    pub digits: usize,
    pub children: Vec<usize>,
    pub group: Group,
    /// Suppressed counts, indexed like [`Group::counts`].
    pub hidden: [bool; MEASURES],
}

/// The province table: every region with data, from the province down to villages.
#[derive(Debug, Clone)]
pub struct Tree {
    pub nodes: Vec<Node>,
    index: HashMap<(usize, i64), usize>,
}

/// A cell: (node index, count).
type Cell = (usize, usize);

impl Tree {
    /// Builds the table of `root` from groups keyed by full 12-digit residence codes.
    pub fn build(root: &RegionPrefix, leaves: &BTreeMap<i64, Group>) -> Self {
        let mut tree = Tree {
            nodes: Vec::new(),
            index: HashMap::new(),
        };
        let root_digits = root.as_str().len();
        let root_idx = tree.node_at(root_digits, root.code());
        for (code, g) in leaves {
            if !root.contains(*code) {
                continue;
            }
            let mut parent = root_idx;
            tree.nodes[root_idx].group.absorb(g);
            for digits in LEVEL_DIGITS.iter().copied().filter(|d| *d > root_digits) {
                let idx = tree.node_at(digits, truncate(*code, digits));
                if !tree.nodes[parent].children.contains(&idx) {
                    tree.nodes[parent].children.push(idx);
                }
                tree.nodes[idx].group.absorb(g);
                parent = idx;
            }
        }
        for i in 0..tree.nodes.len() {
            let mut kids = std::mem::take(&mut tree.nodes[i].children);
            kids.sort_by_key(|k| tree.nodes[*k].code);
            tree.nodes[i].children = kids;
        }
        tree
    }

    fn node_at(&mut self, digits: usize, code: i64) -> usize {
        if let Some(i) = self.index.get(&(digits, code)) {
            return *i;
        }
        let i = self.nodes.len();
        self.nodes.push(Node {
            code,
            digits,
            children: Vec::new(),
            group: Group::default(),
            hidden: [false; MEASURES],
        });
        self.index.insert((digits, code), i);
        i
    }

    /// The region `code` at the level of `digits`, if it has data.
    pub fn get(&self, digits: usize, code: i64) -> Option<&Node> {
        self.index.get(&(digits, code)).map(|i| &self.nodes[*i])
    }

    /// The subregions of a node.
    pub fn children_of<'a>(&'a self, node: &'a Node) -> impl Iterator<Item = &'a Node> + 'a {
        node.children.iter().map(|i| &self.nodes[*i])
    }

    fn value(&self, (n, m): Cell) -> i64 {
        self.nodes[n].group.counts[m]
    }

    fn is_hidden(&self, (n, m): Cell) -> bool {
        self.nodes[n].hidden[m]
    }

    fn hide(&mut self, (n, m): Cell) {
        self.nodes[n].hidden[m] = true;
    }

    /// Every group as (total, members), in a fixed order.
    fn groups(&self) -> Vec<(Cell, Vec<Cell>)> {
        let mut order: Vec<usize> = (0..self.nodes.len()).collect();
        order.sort_by_key(|i| (self.nodes[*i].digits, self.nodes[*i].code));
        let mut out = Vec::new();
        for &i in &order {
            let node = &self.nodes[i];
            if !node.children.is_empty() {
                for m in 0..MEASURES {
                    out.push(((i, m), node.children.iter().map(|c| (*c, m)).collect()));
                }
            }
            for (total, parts) in PARTITIONS {
                out.push((
                    (i, *total as usize),
                    parts.iter().map(|p| (i, *p as usize)).collect(),
                ));
            }
        }
        out
    }

    /// Applies the rules of this module until no cell changes.
    pub fn protect(&mut self) {
        for n in 0..self.nodes.len() {
            for m in 0..MEASURES {
                let v = self.nodes[n].group.counts[m];
                if (1..=THRESHOLD).contains(&v) {
                    self.nodes[n].hidden[m] = true;
                }
            }
        }
        let groups = self.groups();
        loop {
            let mut changed = false;
            for (total, members) in &groups {
                changed |= self.settle(*total, members);
            }
            if !changed {
                break;
            }
        }
    }

    /// Makes one group safe; `true` if it suppressed anything.
    fn settle(&mut self, total: Cell, members: &[Cell]) -> bool {
        if members.len() == 1 {
            let (t, m) = (self.is_hidden(total), self.is_hidden(members[0]));
            if t != m {
                self.hide(total);
                self.hide(members[0]);
                return true;
            }
            return false;
        }
        let mut hidden = members.iter().filter(|c| self.is_hidden(**c)).count();
        let need = if self.is_hidden(total) || hidden > 0 {
            2
        } else {
            0
        };
        let mut changed = false;
        while hidden < need {
            // The smallest visible member, non-zero first (a suppressed zero hides little).
            let next = members
                .iter()
                .enumerate()
                .filter(|(_, c)| !self.is_hidden(**c))
                .min_by_key(|(pos, c)| {
                    let v = self.value(**c);
                    (v == 0, v, *pos)
                })
                .map(|(_, c)| *c);
            match next {
                Some(c) => {
                    self.hide(c);
                    hidden += 1;
                    changed = true;
                }
                None => break,
            }
        }
        changed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaf(pairs: &[(M, i64)]) -> Group {
        let mut g = Group::default();
        for (m, v) in pairs {
            g.counts[*m as usize] = *v;
        }
        g
    }

    fn tree(villages: &[(i64, i64)]) -> Tree {
        let leaves: BTreeMap<i64, Group> = villages
            .iter()
            .map(|(code, n)| (*code, leaf(&[(M::Population, *n), (M::RiskNone, *n)])))
            .collect();
        let mut t = Tree::build(&RegionPrefix::parse("45").unwrap(), &leaves);
        t.protect();
        t
    }

    fn hidden(t: &Tree, digits: usize, code: i64) -> bool {
        t.get(digits, code).unwrap().hidden[M::Population as usize]
    }

    #[test]
    fn a_lone_small_cell_takes_its_smallest_sibling_with_it() {
        // Three counties of one city: 3, 20 and 50 children.
        let t = tree(&[
            (450_102_001_001, 3),
            (450_103_001_001, 20),
            (450_105_001_001, 50),
        ]);
        assert!(hidden(&t, 6, 450_102_000_000));
        assert!(
            hidden(&t, 6, 450_103_000_000),
            "the next smallest sibling is suppressed too"
        );
        assert!(!hidden(&t, 6, 450_105_000_000));
        assert!(!hidden(&t, 4, 450_100_000_000));
    }

    #[test]
    fn a_suppressed_total_is_not_rebuilt_from_its_parts() {
        // County 450103 is suppressed as a complement; its two townships must not both show.
        let t = tree(&[
            (450_102_001_001, 3),
            (450_103_001_001, 10),
            (450_103_002_001, 10),
            (450_105_001_001, 50),
        ]);
        assert!(hidden(&t, 6, 450_103_000_000));
        assert!(hidden(&t, 9, 450_103_001_000) && hidden(&t, 9, 450_103_002_000));
    }

    #[test]
    fn a_single_child_shares_its_parent_status() {
        // 450103 (one township, one village) becomes the complement of 450102; its only
        // township and village equal it, so they are suppressed with it.
        let t = tree(&[
            (450_102_001_001, 3),
            (450_103_001_001, 30),
            (450_105_001_001, 50),
            (450_105_002_001, 50),
        ]);
        assert!(hidden(&t, 6, 450_103_000_000));
        assert!(hidden(&t, 9, 450_103_001_000) && hidden(&t, 12, 450_103_001_001));
        assert!(!hidden(&t, 6, 450_105_000_000));
    }

    #[test]
    fn partitions_are_groups_too() {
        let leaves: BTreeMap<i64, Group> = [(
            450_102_001_001,
            leaf(&[
                (M::HarmReports, 12),
                (M::ReportDelay1d, 3),
                (M::ReportDelay3d, 9),
            ]),
        )]
        .into_iter()
        .collect();
        let mut t = Tree::build(&RegionPrefix::parse("45").unwrap(), &leaves);
        t.protect();
        let v = t.get(12, 450_102_001_001).unwrap();
        assert!(v.hidden[M::ReportDelay1d as usize]);
        assert!(
            v.hidden[M::ReportDelay3d as usize]
                || v.hidden[M::ReportDelay7d as usize]
                || v.hidden[M::ReportDelayOver7d as usize]
        );
    }
}
