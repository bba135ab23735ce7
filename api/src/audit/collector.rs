//! Per-request collection of sensitive reads: one entry per (entity, record) with the fields
//! and groups read and the strongest decision, as the audit log wants them.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;

use uuid::Uuid;

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

/// What one request did with one record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadEntry {
    pub entity: &'static str,
    pub record_id: Uuid,
    pub child_id: Option<Uuid>,
    pub fields: BTreeSet<String>,
    pub groups: BTreeSet<String>,
    pub decision: Decision,
}

/// A search or listing and the ids it returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchEntry {
    pub operation: &'static str,
    pub ids: Vec<Uuid>,
}

/// Collects a request's sensitive reads and searches.
#[derive(Debug, Default)]
pub struct Collector {
    entries: Mutex<BTreeMap<(&'static str, Uuid), ReadEntry>>,
    searches: Mutex<Vec<SearchEntry>>,
    /// Response paths of sensitive values served, withheld if the audit cannot be written.
    paths: Mutex<Vec<Vec<String>>>,
}

impl Collector {
    /// Records that `field` (of `group`) of a record was resolved with `decision`.
    pub fn read(
        &self,
        entity: &'static str,
        record_id: Uuid,
        child_id: Option<Uuid>,
        field: &str,
        group: &str,
        decision: Decision,
    ) {
        let Ok(mut map) = self.entries.lock() else {
            return;
        };
        let e = map.entry((entity, record_id)).or_insert_with(|| ReadEntry {
            entity,
            record_id,
            child_id,
            fields: BTreeSet::new(),
            groups: BTreeSet::new(),
            decision,
        });
        e.fields.insert(field.to_owned());
        e.groups.insert(group.to_owned());
        // BREAK_GLASS outranks everything; otherwise keep the most restrictive outcome seen.
        e.decision = e.decision.max(decision);
    }

    /// Remembers where a sensitive value sits in the response.
    pub fn served_at(&self, path: Vec<String>) {
        if let Ok(mut v) = self.paths.lock() {
            v.push(path);
        }
    }

    /// Takes the response paths of sensitive values.
    pub fn drain_paths(&self) -> Vec<Vec<String>> {
        match self.paths.lock() {
            Ok(mut v) => std::mem::take(&mut *v),
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

    /// Takes the collected entries.
    pub fn drain(&self) -> Vec<ReadEntry> {
        match self.entries.lock() {
            Ok(mut map) => std::mem::take(&mut *map).into_values().collect(),
            Err(_) => Vec::new(),
        }
    }

    /// Whether anything sensitive was read.
    pub fn is_empty(&self) -> bool {
        self.entries.lock().map(|m| m.is_empty()).unwrap_or(true)
            && self.searches.lock().map(|v| v.is_empty()).unwrap_or(true)
    }
}
