//! Per-request collection of sensitive reads: one entry per (entity, record) with the fields
//! and groups read and the strongest decision, as the audit log wants them.
//!
//! The guard calls [`Collector::read`] and [`Collector::served_at`] for every sensitive value of
//! every record (thousands per request), so both are allocation-free in the steady state: field
//! and group names are interned `&'static str`s (see `authz::context::FieldIndex`), records are
//! found by hash and their names in a small vector (both sorted once, when drained), and
//! response paths go into one shared text buffer. Owned strings are made only for the audit
//! log, or for the paths when that log could not be written.

use std::collections::HashMap;
use std::fmt::Write;
use std::hash::BuildHasherDefault;
use std::sync::Mutex;

use async_graphql::{QueryPathNode, QueryPathSegment};
use uuid::Uuid;

use crate::authz::context::FxHasher;

/// The decision recorded with an audit entry (DESIGN.md §6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Decision {
    Allowed,
    Masked,
    Denied,
    ConsentRequired,
    BreakGlass,
}

impl Decision {
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Allowed => "ALLOWED",
            Decision::Masked => "MASKED",
            Decision::Denied => "DENIED",
            Decision::ConsentRequired => "CONSENT_REQUIRED",
            Decision::BreakGlass => "BREAK_GLASS",
        }
    }
}

/// A set of interned names (a record's fields or groups: a handful, so a vector beats a tree).
/// The collector sorts it when it hands it out; iterating it by value then gives owned
/// `String`s in order, as a `BTreeSet<String>` would.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NameSet(Vec<&'static str>);

impl NameSet {
    /// Adds `name` unless present; never allocates when it is.
    pub fn insert(&mut self, name: &'static str) -> bool {
        if self.contains(name) {
            return false;
        }
        self.0.push(name);
        true
    }

    pub fn contains(&self, name: &str) -> bool {
        self.0.contains(&name)
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The names (in order once drained from the collector).
    pub fn iter(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.0.iter().copied()
    }

    fn sort(&mut self) {
        self.0.sort_unstable();
    }
}

impl IntoIterator for NameSet {
    type Item = String;
    type IntoIter = std::iter::Map<std::vec::IntoIter<&'static str>, fn(&'static str) -> String>;

    fn into_iter(self) -> Self::IntoIter {
        self.0
            .into_iter()
            .map(str::to_owned as fn(&'static str) -> String)
    }
}

/// What one request did with one record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadEntry {
    pub entity: &'static str,
    pub record_id: Uuid,
    pub child_id: Option<Uuid>,
    pub fields: NameSet,
    pub groups: NameSet,
    pub decision: Decision,
}

/// A search or listing and the ids it returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchEntry {
    pub operation: &'static str,
    pub ids: Vec<Uuid>,
}

/// Separates the segments of a path in [`Paths::text`]. GraphQL names (`[_A-Za-z][_0-9A-Za-z]*`)
/// and list indexes never contain it.
const SEP: char = '.';

/// Response paths, packed: every path's segments, leaf first, joined by [`SEP`], one after the
/// other in `text`; `ends[i]` is where path `i` stops. Recording a path allocates only when the
/// buffers grow.
#[derive(Debug, Default)]
struct Paths {
    text: String,
    ends: Vec<usize>,
}

impl Paths {
    fn push(&mut self, node: &QueryPathNode<'_>) {
        let start = self.text.len();
        let mut cur = Some(node);
        while let Some(n) = cur {
            if self.text.len() > start {
                self.text.push(SEP);
            }
            match n.segment {
                QueryPathSegment::Name(name) => self.text.push_str(name),
                // Into the buffer: formatting a number into a `String` does not allocate.
                QueryPathSegment::Index(i) => {
                    let _ = write!(self.text, "{i}");
                }
            }
            cur = n.parent;
        }
        self.ends.push(self.text.len());
    }

    /// The paths, root first, as the callers of `drain_paths` take them.
    fn unpack(&self) -> Vec<Vec<String>> {
        let mut out = Vec::with_capacity(self.ends.len());
        let mut start = 0;
        for &end in &self.ends {
            let text = self.text.get(start..end).unwrap_or_default();
            start = end;
            let mut path: Vec<String> = if text.is_empty() {
                Vec::new()
            } else {
                text.split(SEP).map(str::to_owned).collect()
            };
            path.reverse();
            out.push(path);
        }
        out
    }
}

/// Collects a request's sensitive reads and searches.
#[derive(Debug, Default)]
pub struct Collector {
    /// By (entity, record id); hashed, not ordered: looked up per sensitive field read, sorted
    /// once when drained.
    entries: Mutex<HashMap<(&'static str, Uuid), ReadEntry, BuildHasherDefault<FxHasher>>>,
    searches: Mutex<Vec<SearchEntry>>,
    /// Response paths of sensitive values served, withheld if the audit cannot be written.
    paths: Mutex<Paths>,
}

impl Collector {
    /// Records that `field` (of `group`) of a record was resolved with `decision`. Allocates
    /// only for a record or name not seen before in this request.
    pub fn read(
        &self,
        entity: &'static str,
        record_id: Uuid,
        child_id: Option<Uuid>,
        field: &'static str,
        group: &'static str,
        decision: Decision,
    ) {
        let Ok(mut map) = self.entries.lock() else {
            return;
        };
        let e = map.entry((entity, record_id)).or_insert_with(|| ReadEntry {
            entity,
            record_id,
            child_id,
            fields: NameSet::default(),
            groups: NameSet::default(),
            decision,
        });
        e.fields.insert(field);
        e.groups.insert(group);
        // BREAK_GLASS outranks everything; otherwise keep the most restrictive outcome seen.
        e.decision = e.decision.max(decision);
    }

    /// Remembers where a sensitive value sits in the response.
    pub fn served_at(&self, path: &QueryPathNode<'_>) {
        if let Ok(mut p) = self.paths.lock() {
            p.push(path);
        }
    }

    /// Takes the response paths of sensitive values, root first, one `String` per segment (list
    /// indexes in decimal).
    pub fn drain_paths(&self) -> Vec<Vec<String>> {
        match self.paths.lock() {
            Ok(mut p) => std::mem::take(&mut *p).unpack(),
            Err(_) => Vec::new(),
        }
    }

    /// Records a search (or listing) and the ids it returned.
    pub fn search(&self, operation: &'static str, ids: Vec<Uuid>) {
        if let Ok(mut v) = self.searches.lock() {
            v.push(SearchEntry { operation, ids });
        }
    }

    /// Takes the collected searches.
    pub fn drain_searches(&self) -> Vec<SearchEntry> {
        match self.searches.lock() {
            Ok(mut v) => std::mem::take(&mut *v),
            Err(_) => Vec::new(),
        }
    }

    /// Takes the collected entries, ordered by entity and record id, names in order.
    pub fn drain(&self) -> Vec<ReadEntry> {
        let mut entries: Vec<ReadEntry> = match self.entries.lock() {
            Ok(mut map) => std::mem::take(&mut *map).into_values().collect(),
            Err(_) => Vec::new(),
        };
        entries.sort_unstable_by(|a, b| (a.entity, a.record_id).cmp(&(b.entity, b.record_id)));
        for e in &mut entries {
            e.fields.sort();
            e.groups.sort();
        }
        entries
    }

    /// Whether anything sensitive was read.
    pub fn is_empty(&self) -> bool {
        self.entries.lock().map(|m| m.is_empty()).unwrap_or(true)
            && self.searches.lock().map(|v| v.is_empty()).unwrap_or(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_come_back_root_first_as_strings() {
        let root = QueryPathNode {
            parent: None,
            segment: QueryPathSegment::Name("children"),
        };
        let edges = QueryPathNode {
            parent: Some(&root),
            segment: QueryPathSegment::Name("edges"),
        };
        let idx = QueryPathNode {
            parent: Some(&edges),
            segment: QueryPathSegment::Index(1207),
        };
        let zero = QueryPathNode {
            parent: Some(&idx),
            segment: QueryPathSegment::Index(0),
        };
        let leaf = QueryPathNode {
            parent: Some(&zero),
            segment: QueryPathSegment::Name("name"),
        };
        let c = Collector::default();
        c.served_at(&leaf);
        c.served_at(&root);
        c.served_at(&idx);
        assert_eq!(
            c.drain_paths(),
            vec![
                leaf.to_string_vec(),
                root.to_string_vec(),
                idx.to_string_vec()
            ]
        );
        assert!(c.drain_paths().is_empty());
        // List indexes of every width come back in decimal.
        for i in [0usize, 9, 10, 99, 100, usize::MAX] {
            let node = QueryPathNode {
                parent: Some(&root),
                segment: QueryPathSegment::Index(i),
            };
            c.served_at(&node);
            assert_eq!(
                c.drain_paths(),
                vec![vec!["children".to_owned(), i.to_string()]]
            );
        }
    }

    #[test]
    fn reads_merge_per_record_in_order() {
        let c = Collector::default();
        let id = Uuid::from_u128(7);
        c.read("Guardian", id, None, "phone", "G-GUARD", Decision::Allowed);
        c.read("Guardian", id, None, "name", "G-GUARD", Decision::Masked);
        c.read("Guardian", id, None, "phone", "G-GUARD", Decision::Allowed);
        let entries = c.drain();
        assert_eq!(entries.len(), 1);
        let e = entries.into_iter().next().unwrap_or_else(|| unreachable!());
        assert_eq!(e.decision, Decision::Masked);
        assert!(e.fields.contains("name") && e.groups.len() == 1);
        let fields: Vec<String> = e.fields.into_iter().collect();
        assert_eq!(fields, vec!["name".to_owned(), "phone".to_owned()]);
        assert!(c.is_empty());
    }
}
