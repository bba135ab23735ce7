//! History and the change feed: committed change events, with every old and new value passed
//! through the same field decisions as a read of the record — a value the caller may not read
//! is withheld, never shown.

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::{Json, Object};
use carehub_entity::change_event;
use carehub_policy::{ClassSet, ReadDecision, RowFacts};

use crate::authz::access::ChildAccess;
use crate::authz::RequestCtx;

/// The GraphQL field a stored column appears as (`None`: never shown in history).
pub fn column_field(entity: &str, column: &str) -> Option<String> {
    let special = match (entity, column) {
        (
            _,
            "owner_agency" | "owner_org_id" | "id" | "id_number_enc" | "id_number_bidx"
            | "city_code" | "county_code" | "risk_rank" | "difficulty_from" | "difficulty_to",
        ) => return None,
        (_, "id_number_mask") => "idNumber",
        ("Child", "responsible_org_id") => "responsibleOrganization",
        ("Referral", "from_org_id") => "fromOrganizationId",
        ("Referral", "to_org_id") => "toOrganizationId",
        ("Report", "reporter_org_id") => "reporterOrganizationId",
        _ => "",
    };
    if !special.is_empty() {
        return Some(special.to_owned());
    }
    let mut out = String::new();
    let mut up = false;
    for c in column.chars() {
        if c == '_' {
            up = true;
        } else if up {
            out.extend(c.to_uppercase());
            up = false;
        } else {
            out.push(c);
        }
    }
    Some(out)
}

/// One field's change.
pub struct FieldChange {
    field: String,
    old: serde_json::Value,
    new: serde_json::Value,
    withheld: bool,
}

#[Object]
impl FieldChange {
    /// The GraphQL field that changed.
    async fn field(&self) -> &str {
        &self.field
    }
    /// The value before (null if withheld).
    async fn old_value(&self) -> Option<Json<serde_json::Value>> {
        (!self.withheld).then(|| Json(self.old.clone()))
    }
    /// The value after (null if withheld).
    async fn new_value(&self) -> Option<Json<serde_json::Value>> {
        (!self.withheld).then(|| Json(self.new.clone()))
    }
    /// Whether the values are withheld because your remit does not cover the field.
    async fn withheld(&self) -> bool {
        self.withheld
    }
}

/// A committed change of one record.
pub struct ChangeEvent {
    pub model: Arc<change_event::Model>,
    pub changes: Vec<FieldChange>,
}

#[Object]
impl ChangeEvent {
    /// Position in the change feed; pass the last one seen as `after` to resume.
    async fn cursor(&self) -> Option<String> {
        self.model.cursor.map(|c| c.to_string())
    }
    /// The record type (GraphQL type name).
    async fn entity(&self) -> &str {
        &self.model.entity
    }
    /// The record's id.
    async fn record_id(&self) -> uuid::Uuid {
        self.model.record_id
    }
    /// The child the record belongs to.
    async fn child_id(&self) -> Option<uuid::Uuid> {
        self.model.child_id
    }
    /// CREATE, UPDATE or ARCHIVE.
    async fn op(&self) -> &str {
        &self.model.op
    }
    /// Who made the change.
    async fn actor(&self) -> &str {
        &self.model.actor
    }
    /// The actor's agency.
    async fn actor_agency(&self) -> &str {
        &self.model.actor_agency
    }
    /// When.
    async fn at(&self) -> chrono::DateTime<chrono::Utc> {
        self.model.at
    }
    /// The record's version after the change.
    async fn version(&self) -> Option<i64> {
        self.model
            .changed
            .get("version")
            .and_then(serde_json::Value::as_i64)
    }
    /// The fields that changed, each decided like a read.
    async fn changes(&self) -> &[FieldChange] {
        &self.changes
    }
}

/// Builds events with each value decided for `rc`; `access` gives the child facts.
pub fn decide_events(
    rc: &RequestCtx,
    events: Vec<change_event::Model>,
    access: &HashMap<uuid::Uuid, ChildAccess>,
) -> Vec<ChangeEvent> {
    events
        .into_iter()
        .map(|m| {
            let child = m
                .child_id
                .and_then(|c| access.get(&c).copied())
                .unwrap_or_else(ChildAccess::unrestricted);
            let fields = m
                .changed
                .get("fields")
                .and_then(serde_json::Value::as_object)
                .cloned()
                .unwrap_or_default();
            let classes = if m.entity == "Report" {
                let cat = fields
                    .get("category")
                    .and_then(|v| v.get(1))
                    .and_then(|v| v.as_str())
                    .and_then(carehub_entity::enums::ReportCategory::parse);
                if cat.is_some_and(|c| c.is_harm()) {
                    ClassSet::HARM
                } else {
                    ClassSet::EMPTY
                }
            } else {
                ClassSet::EMPTY
            };
            let same_agency = m.actor_agency == rc.agency.as_str();
            let own_org = m
                .actor_org
                .as_deref()
                .is_some_and(|o| Some(o) == rc.principal.org.as_deref());
            let facts = RowFacts {
                own_org,
                same_agency,
                classes,
                view: child.view,
                lawful: child.lawful,
                break_glass: child.break_glass,
                purpose: rc.principal.purpose,
            };
            let changes = fields
                .into_iter()
                .filter_map(|(col, pair)| {
                    let field = column_field(&m.entity, &col)?;
                    let fid = rc.app.fields.get(&m.entity, &field);
                    let allowed = fid.is_some_and(|f| {
                        matches!(
                            rc.policy.decide_read(rc.role, f, &facts),
                            ReadDecision::Allow { .. } | ReadDecision::BreakGlass { .. }
                        )
                    });
                    let old = pair.get(0).cloned().unwrap_or_default();
                    let new = pair.get(1).cloned().unwrap_or_default();
                    Some(FieldChange {
                        field,
                        old,
                        new,
                        withheld: !allowed,
                    })
                })
                .collect();
            ChangeEvent {
                model: Arc::new(m),
                changes,
            }
        })
        .collect()
}
