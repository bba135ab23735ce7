//! The audit trail as seen by auditors (`auditLog`), by case officers answering a guardian's
//! right-to-know request (`accessReport`), and break-glass grants under review.

use async_graphql::{Context, Object};
use carehub_entity::{audit_entry, break_glass_grant};

use super::directory::dir_check;
use super::records::strings;
use crate::error::GqlResult;
use crate::graphql::enums::BreakGlassOutcome;

/// One audit entry.
pub struct AuditEntry(pub audit_entry::Model);

#[Object]
impl AuditEntry {
    /// Row id.
    async fn id(&self, ctx: &Context<'_>) -> GqlResult<Option<String>> {
        dir_check(ctx, "AuditEntry")?;
        Ok(Some(self.0.id.to_string()))
    }
    /// The chain (writer) and position in it.
    async fn writer(&self, ctx: &Context<'_>) -> GqlResult<Option<String>> {
        dir_check(ctx, "AuditEntry")?;
        Ok(Some(self.0.writer.clone()))
    }
    /// Position in the writer's chain.
    async fn seq(&self, ctx: &Context<'_>) -> GqlResult<Option<i64>> {
        dir_check(ctx, "AuditEntry")?;
        Ok(Some(self.0.seq))
    }
    /// SHA-256 link of the chain.
    async fn hash(&self, ctx: &Context<'_>) -> GqlResult<Option<String>> {
        dir_check(ctx, "AuditEntry")?;
        Ok(Some(self.0.hash.clone()))
    }
    /// When.
    async fn at(&self, ctx: &Context<'_>) -> GqlResult<Option<chrono::DateTime<chrono::Utc>>> {
        dir_check(ctx, "AuditEntry")?;
        Ok(Some(self.0.at))
    }
    /// Who (token subject).
    async fn sub(&self, ctx: &Context<'_>) -> GqlResult<Option<String>> {
        dir_check(ctx, "AuditEntry")?;
        Ok(Some(self.0.sub.clone()))
    }
    /// Their agency.
    async fn agency(&self, ctx: &Context<'_>) -> GqlResult<Option<String>> {
        dir_check(ctx, "AuditEntry")?;
        Ok(Some(self.0.agency.clone()))
    }
    /// Their role.
    async fn role(&self, ctx: &Context<'_>) -> GqlResult<Option<String>> {
        dir_check(ctx, "AuditEntry")?;
        Ok(Some(self.0.role.clone()))
    }
    /// Their organization.
    async fn org(&self, ctx: &Context<'_>) -> GqlResult<Option<String>> {
        dir_check(ctx, "AuditEntry")?;
        Ok(self.0.org.clone())
    }
    /// Partner client, if any.
    async fn client_id(&self, ctx: &Context<'_>) -> GqlResult<Option<String>> {
        dir_check(ctx, "AuditEntry")?;
        Ok(self.0.client_id.clone())
    }
    /// Purpose of use stated.
    async fn purpose(&self, ctx: &Context<'_>) -> GqlResult<Option<String>> {
        dir_check(ctx, "AuditEntry")?;
        Ok(Some(self.0.purpose.clone()))
    }
    /// Lawful basis used.
    async fn lawful_basis(&self, ctx: &Context<'_>) -> GqlResult<Option<String>> {
        dir_check(ctx, "AuditEntry")?;
        Ok(self.0.lawful_basis.clone())
    }
    /// READ, SEARCH, WRITE, REVEAL_ID, BREAK_GLASS, AUDIT_READ, …
    async fn action(&self, ctx: &Context<'_>) -> GqlResult<Option<String>> {
        dir_check(ctx, "AuditEntry")?;
        Ok(Some(self.0.action.clone()))
    }
    /// GraphQL operation name.
    async fn operation(&self, ctx: &Context<'_>) -> GqlResult<Option<String>> {
        dir_check(ctx, "AuditEntry")?;
        Ok(self.0.operation.clone())
    }
    /// Record type.
    async fn entity(&self, ctx: &Context<'_>) -> GqlResult<Option<String>> {
        dir_check(ctx, "AuditEntry")?;
        Ok(self.0.entity.clone())
    }
    /// Records concerned (a search lists every id it returned).
    async fn record_ids(&self, ctx: &Context<'_>) -> GqlResult<Option<Vec<String>>> {
        dir_check(ctx, "AuditEntry")?;
        Ok(Some(strings(&self.0.record_ids)))
    }
    /// The child concerned.
    async fn child_id(&self, ctx: &Context<'_>) -> GqlResult<Option<uuid::Uuid>> {
        dir_check(ctx, "AuditEntry")?;
        Ok(self.0.child_id)
    }
    /// Fields read or written.
    async fn fields(&self, ctx: &Context<'_>) -> GqlResult<Option<Vec<String>>> {
        dir_check(ctx, "AuditEntry")?;
        Ok(Some(strings(&self.0.fields)))
    }
    /// Field groups read or written.
    async fn groups(&self, ctx: &Context<'_>) -> GqlResult<Option<Vec<String>>> {
        dir_check(ctx, "AuditEntry")?;
        Ok(Some(strings(&self.0.groups)))
    }
    /// ALLOWED, MASKED, DENIED, CONSENT_REQUIRED or BREAK_GLASS.
    async fn decision(&self, ctx: &Context<'_>) -> GqlResult<Option<String>> {
        dir_check(ctx, "AuditEntry")?;
        Ok(Some(self.0.decision.clone()))
    }
    /// Request id (ties entries of one request together).
    async fn request_id(&self, ctx: &Context<'_>) -> GqlResult<Option<String>> {
        dir_check(ctx, "AuditEntry")?;
        Ok(self.0.request_id.clone())
    }
    /// Client address.
    async fn client_addr(&self, ctx: &Context<'_>) -> GqlResult<Option<String>> {
        dir_check(ctx, "AuditEntry")?;
        Ok(self.0.client_addr.clone())
    }
    /// Version of the remit policy in force.
    async fn policy_version(&self, ctx: &Context<'_>) -> GqlResult<Option<String>> {
        dir_check(ctx, "AuditEntry")?;
        Ok(Some(self.0.policy_version.clone()))
    }
    /// Reason given (reveal, break-glass, override).
    async fn reason(&self, ctx: &Context<'_>) -> GqlResult<Option<String>> {
        dir_check(ctx, "AuditEntry")?;
        Ok(self.0.reason.clone())
    }
}

/// Who accessed a child's data, grouped by agency and purpose.
pub struct AccessSummary {
    pub agency: String,
    pub purpose: String,
    pub accesses: i64,
    pub last_at: chrono::DateTime<chrono::Utc>,
    pub roles: Vec<String>,
    pub groups: Vec<String>,
}

#[Object]
impl AccessSummary {
    /// Agency that accessed.
    async fn agency(&self, ctx: &Context<'_>) -> GqlResult<Option<String>> {
        dir_check(ctx, "AccessSummary")?;
        Ok(Some(self.agency.clone()))
    }
    /// Purpose stated.
    async fn purpose(&self, ctx: &Context<'_>) -> GqlResult<Option<String>> {
        dir_check(ctx, "AccessSummary")?;
        Ok(Some(self.purpose.clone()))
    }
    /// Number of accesses (reads and writes).
    async fn accesses(&self, ctx: &Context<'_>) -> GqlResult<Option<i64>> {
        dir_check(ctx, "AccessSummary")?;
        Ok(Some(self.accesses))
    }
    /// The latest access.
    async fn last_at(&self, ctx: &Context<'_>) -> GqlResult<Option<chrono::DateTime<chrono::Utc>>> {
        dir_check(ctx, "AccessSummary")?;
        Ok(Some(self.last_at))
    }
    /// Roles involved.
    async fn roles(&self, ctx: &Context<'_>) -> GqlResult<Option<Vec<String>>> {
        dir_check(ctx, "AccessSummary")?;
        Ok(Some(self.roles.clone()))
    }
    /// Field groups accessed.
    async fn field_groups(&self, ctx: &Context<'_>) -> GqlResult<Option<Vec<String>>> {
        dir_check(ctx, "AccessSummary")?;
        Ok(Some(self.groups.clone()))
    }
}

/// A break-glass grant (emergency access to one child).
pub struct BreakGlassGrant(pub break_glass_grant::Model);

#[Object]
impl BreakGlassGrant {
    /// Grant id.
    async fn id(&self, ctx: &Context<'_>) -> GqlResult<Option<uuid::Uuid>> {
        dir_check(ctx, "BreakGlassGrant")?;
        Ok(Some(self.0.id))
    }
    /// The child.
    async fn child_id(&self, ctx: &Context<'_>) -> GqlResult<Option<uuid::Uuid>> {
        dir_check(ctx, "BreakGlassGrant")?;
        Ok(Some(self.0.child_id))
    }
    /// Who opened it.
    async fn sub(&self, ctx: &Context<'_>) -> GqlResult<Option<String>> {
        dir_check(ctx, "BreakGlassGrant")?;
        Ok(Some(self.0.sub.clone()))
    }
    /// Their role.
    async fn role(&self, ctx: &Context<'_>) -> GqlResult<Option<String>> {
        dir_check(ctx, "BreakGlassGrant")?;
        Ok(Some(self.0.role.clone()))
    }
    /// The stated emergency.
    async fn reason(&self, ctx: &Context<'_>) -> GqlResult<Option<String>> {
        dir_check(ctx, "BreakGlassGrant")?;
        Ok(Some(self.0.reason.clone()))
    }
    /// When it was granted.
    async fn granted_at(
        &self,
        ctx: &Context<'_>,
    ) -> GqlResult<Option<chrono::DateTime<chrono::Utc>>> {
        dir_check(ctx, "BreakGlassGrant")?;
        Ok(Some(self.0.granted_at))
    }
    /// When it ends.
    async fn expires_at(
        &self,
        ctx: &Context<'_>,
    ) -> GqlResult<Option<chrono::DateTime<chrono::Utc>>> {
        dir_check(ctx, "BreakGlassGrant")?;
        Ok(Some(self.0.expires_at))
    }
    /// The supervisor's outcome (null while pending).
    async fn review_outcome(&self, ctx: &Context<'_>) -> GqlResult<Option<BreakGlassOutcome>> {
        dir_check(ctx, "BreakGlassGrant")?;
        Ok(self.0.review_outcome.map(Into::into))
    }
    /// The supervisor's note.
    async fn review_note(&self, ctx: &Context<'_>) -> GqlResult<Option<String>> {
        dir_check(ctx, "BreakGlassGrant")?;
        Ok(self.0.review_note.clone())
    }
    /// Who reviewed.
    async fn reviewed_by(&self, ctx: &Context<'_>) -> GqlResult<Option<String>> {
        dir_check(ctx, "BreakGlassGrant")?;
        Ok(self.0.reviewed_by.clone())
    }
    /// When it was reviewed.
    async fn reviewed_at(
        &self,
        ctx: &Context<'_>,
    ) -> GqlResult<Option<chrono::DateTime<chrono::Utc>>> {
        dir_check(ctx, "BreakGlassGrant")?;
        Ok(self.0.reviewed_at)
    }
}
