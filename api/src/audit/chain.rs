//! The hash chain of the audit log (X-Road's message log is the model): each writer's entries
//! carry a gap-free `seq`, the previous entry's hash, and SHA-256 over a canonical encoding of
//! the entry and that previous hash. Altering, removing or reordering an entry breaks a link.

use chrono::{DateTime, SubsecRound, Utc};
use sea_orm::ActiveValue::Set;
use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Serialize, Serializer};
use serde_json::json;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use carehub_entity::audit_entry;

/// Hash that precedes the first entry of a chain.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// An audit entry before it is placed in a chain.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditRecord {
    pub at: DateTime<Utc>,
    pub sub: String,
    pub agency: String,
    pub role: String,
    pub org: Option<String>,
    pub client_id: Option<String>,
    pub purpose: String,
    pub lawful_basis: Option<String>,
    /// READ, SEARCH, WRITE, REVEAL_ID, BREAK_GLASS, EXPORT, LOGIN, AUDIT_READ.
    pub action: String,
    pub operation: Option<String>,
    pub entity: Option<String>,
    pub record_ids: Vec<String>,
    pub child_id: Option<Uuid>,
    pub fields: Vec<String>,
    pub groups: Vec<String>,
    pub decision: String,
    pub request_id: Option<String>,
    pub client_addr: Option<String>,
    pub policy_version: String,
    pub region_code: Option<i64>,
    pub reason: Option<String>,
}

/// Timestamps are kept to the microsecond, which both backends store exactly.
pub fn normalize_time(t: DateTime<Utc>) -> DateTime<Utc> {
    t.trunc_subsecs(6)
}

/// The canonical encoding hashed for an entry (field order fixed; times in RFC 3339 micros):
/// a compact JSON array, serialized straight from the record.
pub fn canonical(writer: &str, seq: i64, r: &AuditRecord) -> String {
    serde_json::to_string(&Canonical { writer, seq, r }).unwrap_or_default()
}

/// RFC 3339 with microseconds, UTC (`Z`): the one text form of an entry's time.
fn time_text(t: DateTime<Utc>) -> String {
    normalize_time(t).to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

struct Canonical<'a> {
    writer: &'a str,
    seq: i64,
    r: &'a AuditRecord,
}

impl Serialize for Canonical<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let r = self.r;
        let mut a = s.serialize_seq(Some(23))?;
        a.serialize_element(self.writer)?;
        a.serialize_element(&self.seq)?;
        a.serialize_element(&time_text(r.at))?;
        a.serialize_element(&r.sub)?;
        a.serialize_element(&r.agency)?;
        a.serialize_element(&r.role)?;
        a.serialize_element(&r.org)?;
        a.serialize_element(&r.client_id)?;
        a.serialize_element(&r.purpose)?;
        a.serialize_element(&r.lawful_basis)?;
        a.serialize_element(&r.action)?;
        a.serialize_element(&r.operation)?;
        a.serialize_element(&r.entity)?;
        a.serialize_element(&r.record_ids)?;
        a.serialize_element(&r.child_id)?;
        a.serialize_element(&r.fields)?;
        a.serialize_element(&r.groups)?;
        a.serialize_element(&r.decision)?;
        a.serialize_element(&r.request_id)?;
        a.serialize_element(&r.client_addr)?;
        a.serialize_element(&r.policy_version)?;
        a.serialize_element(&r.region_code)?;
        a.serialize_element(&r.reason)?;
        a.end()
    }
}

/// SHA-256 of the previous hash and the canonical entry, hex.
pub fn link_hash(prev: &str, canonical: &str) -> String {
    let mut h = Sha256::new();
    h.update(prev.as_bytes());
    h.update(b"\n");
    h.update(canonical.as_bytes());
    hex::encode(h.finalize())
}

/// The end of a chain: the last seq and hash written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    pub writer: String,
    pub seq: i64,
    pub hash: String,
}

impl Head {
    /// A new, empty chain.
    pub fn new(writer: String) -> Self {
        Self {
            writer,
            seq: 0,
            hash: GENESIS.to_owned(),
        }
    }

    /// Places `records` after this head; returns them with their links and the new head.
    pub fn place<'a>(&'a self, records: &'a [AuditRecord]) -> (Vec<Placed<'a>>, Head) {
        let mut seq = self.seq;
        let mut prev = self.hash.clone();
        let mut placed = Vec::with_capacity(records.len());
        for r in records {
            seq += 1;
            let hash = link_hash(&prev, &canonical(&self.writer, seq, r));
            placed.push(Placed {
                writer: &self.writer,
                seq,
                prev_hash: std::mem::replace(&mut prev, hash.clone()),
                hash,
                r,
            });
        }
        (
            placed,
            Head {
                writer: self.writer.clone(),
                seq,
                hash: prev,
            },
        )
    }

    /// Places `records` after this head; returns the rows and the new head.
    pub fn extend(&self, records: &[AuditRecord]) -> (Vec<audit_entry::ActiveModel>, Head) {
        let (placed, head) = self.place(records);
        (placed.iter().map(to_row).collect(), head)
    }
}

/// A record placed in a chain: its writer, position and links.
pub struct Placed<'a> {
    pub writer: &'a str,
    pub seq: i64,
    pub prev_hash: String,
    pub hash: String,
    pub r: &'a AuditRecord,
}

/// The row as one JSON object keyed by column name (PostgreSQL's `json_to_recordset`).
impl Serialize for Placed<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let r = self.r;
        let mut m = s.serialize_map(Some(25))?;
        m.serialize_entry("writer", self.writer)?;
        m.serialize_entry("seq", &self.seq)?;
        m.serialize_entry("prev_hash", &self.prev_hash)?;
        m.serialize_entry("hash", &self.hash)?;
        m.serialize_entry("at", &time_text(r.at))?;
        m.serialize_entry("sub", &r.sub)?;
        m.serialize_entry("agency", &r.agency)?;
        m.serialize_entry("role", &r.role)?;
        m.serialize_entry("org", &r.org)?;
        m.serialize_entry("client_id", &r.client_id)?;
        m.serialize_entry("purpose", &r.purpose)?;
        m.serialize_entry("lawful_basis", &r.lawful_basis)?;
        m.serialize_entry("action", &r.action)?;
        m.serialize_entry("operation", &r.operation)?;
        m.serialize_entry("entity", &r.entity)?;
        m.serialize_entry("record_ids", &r.record_ids)?;
        m.serialize_entry("child_id", &r.child_id)?;
        m.serialize_entry("fields", &r.fields)?;
        m.serialize_entry("groups", &r.groups)?;
        m.serialize_entry("decision", &r.decision)?;
        m.serialize_entry("request_id", &r.request_id)?;
        m.serialize_entry("client_addr", &r.client_addr)?;
        m.serialize_entry("policy_version", &r.policy_version)?;
        m.serialize_entry("region_code", &r.region_code)?;
        m.serialize_entry("reason", &r.reason)?;
        m.end()
    }
}

/// The row of a placed record.
pub fn to_row(p: &Placed<'_>) -> audit_entry::ActiveModel {
    let (writer, seq, prev, hash, r) =
        (p.writer, p.seq, p.prev_hash.as_str(), p.hash.as_str(), p.r);
    audit_entry::ActiveModel {
        id: sea_orm::ActiveValue::NotSet,
        writer: Set(writer.to_owned()),
        seq: Set(seq),
        prev_hash: Set(prev.to_owned()),
        hash: Set(hash.to_owned()),
        at: Set(normalize_time(r.at)),
        sub: Set(r.sub.clone()),
        agency: Set(r.agency.clone()),
        role: Set(r.role.clone()),
        org: Set(r.org.clone()),
        client_id: Set(r.client_id.clone()),
        purpose: Set(r.purpose.clone()),
        lawful_basis: Set(r.lawful_basis.clone()),
        action: Set(r.action.clone()),
        operation: Set(r.operation.clone()),
        entity: Set(r.entity.clone()),
        record_ids: Set(json!(r.record_ids)),
        child_id: Set(r.child_id),
        fields: Set(json!(r.fields)),
        groups: Set(json!(r.groups)),
        decision: Set(r.decision.clone()),
        request_id: Set(r.request_id.clone()),
        client_addr: Set(r.client_addr.clone()),
        policy_version: Set(r.policy_version.clone()),
        region_code: Set(r.region_code),
        reason: Set(r.reason.clone()),
    }
}

/// Rebuilds the record an entry row was made from (for verification).
pub fn from_row(m: &audit_entry::Model) -> AuditRecord {
    let strs = |v: &serde_json::Value| -> Vec<String> {
        v.as_array()
            .into_iter()
            .flatten()
            .filter_map(|x| x.as_str().map(str::to_owned))
            .collect()
    };
    AuditRecord {
        at: m.at,
        sub: m.sub.clone(),
        agency: m.agency.clone(),
        role: m.role.clone(),
        org: m.org.clone(),
        client_id: m.client_id.clone(),
        purpose: m.purpose.clone(),
        lawful_basis: m.lawful_basis.clone(),
        action: m.action.clone(),
        operation: m.operation.clone(),
        entity: m.entity.clone(),
        record_ids: strs(&m.record_ids),
        child_id: m.child_id,
        fields: strs(&m.fields),
        groups: strs(&m.groups),
        decision: m.decision.clone(),
        request_id: m.request_id.clone(),
        client_addr: m.client_addr.clone(),
        policy_version: m.policy_version.clone(),
        region_code: m.region_code,
        reason: m.reason.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The encoding every stored chain was hashed with (a `json!` array): the serializer
    /// above must reproduce it byte for byte, or `audit verify` fails on existing entries.
    fn canonical_as_first_written(writer: &str, seq: i64, r: &AuditRecord) -> String {
        json!([
            writer,
            seq,
            normalize_time(r.at).to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
            r.sub,
            r.agency,
            r.role,
            r.org,
            r.client_id,
            r.purpose,
            r.lawful_basis,
            r.action,
            r.operation,
            r.entity,
            r.record_ids,
            r.child_id.map(|c| c.to_string()),
            r.fields,
            r.groups,
            r.decision,
            r.request_id,
            r.client_addr,
            r.policy_version,
            r.region_code,
            r.reason,
        ])
        .to_string()
    }

    fn record(full: bool) -> AuditRecord {
        let some = |s: &str| full.then(|| s.to_owned());
        AuditRecord {
            at: "2026-11-29T10:11:12.123456789Z".parse().expect("time"),
            sub: "teacher \"李\" 1".into(),
            agency: "EDUCATION".into(),
            role: "education.head_teacher".into(),
            org: some("0190e1c2-0000-7000-8000-000000000001"),
            client_id: some("hotline"),
            purpose: "CARE".into(),
            lawful_basis: some("LB-1"),
            action: "READ".into(),
            operation: some("BenchChild"),
            entity: some("Child"),
            record_ids: if full {
                vec!["a".into(), "b\n".into()]
            } else {
                vec![]
            },
            child_id: full.then(Uuid::now_v7),
            fields: vec!["Child.name".into()],
            groups: vec!["G-ID-full".into()],
            decision: "ALLOW".into(),
            request_id: some("req-1"),
            client_addr: some("127.0.0.1"),
            policy_version: "v1".into(),
            region_code: full.then_some(450102),
            reason: some("ünïcode \u{1F600} </script>"),
        }
    }

    #[test]
    fn canonical_encoding_is_unchanged() {
        for full in [true, false] {
            let r = record(full);
            assert_eq!(
                canonical("w/r0", 7, &r),
                canonical_as_first_written("w/r0", 7, &r)
            );
        }
    }

    #[test]
    fn placed_rows_link_and_serialize_every_column() {
        let records = [record(true), record(false)];
        let head = Head::new("w/r0".into());
        let (placed, next) = head.place(&records);
        assert_eq!(placed[0].prev_hash, GENESIS);
        assert_eq!(placed[1].prev_hash, placed[0].hash);
        assert_eq!(next.hash, placed[1].hash);
        assert_eq!(next.seq, 2);
        let v = serde_json::to_value(&placed[0]).expect("json");
        assert_eq!(v["at"], "2026-11-29T10:11:12.123456Z");
        assert_eq!(v["record_ids"], json!(["a", "b\n"]));
        assert_eq!(
            v["child_id"],
            json!(records[0].child_id.map(|c| c.to_string()))
        );
        assert_eq!(v.as_object().map(|o| o.len()), Some(25));
        let w = serde_json::to_value(&placed[1]).expect("json");
        assert!(w["org"].is_null() && w["region_code"].is_null() && w["child_id"].is_null());
    }
}
