//! The hash chain of the audit log (X-Road's message log is the model): each writer's entries
//! carry a gap-free `seq`, the previous entry's hash, and SHA-256 over a canonical encoding of
//! the entry and that previous hash. Altering, removing or reordering an entry breaks a link.

use chrono::{DateTime, SubsecRound, Utc};
use sea_orm::ActiveValue::Set;
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

/// The canonical encoding hashed for an entry (field order fixed; times in RFC 3339 micros).
pub fn canonical(writer: &str, seq: i64, r: &AuditRecord) -> String {
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

    /// Places `records` after this head; returns the rows and the new head.
    pub fn extend(&self, records: &[AuditRecord]) -> (Vec<audit_entry::ActiveModel>, Head) {
        let mut seq = self.seq;
        let mut prev = self.hash.clone();
        let mut rows = Vec::with_capacity(records.len());
        for r in records {
            seq += 1;
            let canon = canonical(&self.writer, seq, r);
            let hash = link_hash(&prev, &canon);
            rows.push(to_row(&self.writer, seq, &prev, &hash, r));
            prev = hash;
        }
        (
            rows,
            Head {
                writer: self.writer.clone(),
                seq,
                hash: prev,
            },
        )
    }
}

fn to_row(
    writer: &str,
    seq: i64,
    prev: &str,
    hash: &str,
    r: &AuditRecord,
) -> audit_entry::ActiveModel {
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
