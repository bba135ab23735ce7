//! Accountability and change tracking: the outbox/change feed, the hash-chained audit log with
//! its pruning checkpoints, break-glass grants and idempotency keys for partner retries.

use crate::cols::*;
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const TABLES: &[&str] = &[
    "change_events",
    "audit_entries",
    "audit_checkpoints",
    "break_glass_grants",
    "idempotency_keys",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let tables = vec![
            // Written in the mutation's transaction (outbox). `cursor` is assigned after commit,
            // in commit-visibility order, by the single relay: readers of the feed see no gaps.
            Table::create()
                .table("change_events")
                .if_not_exists()
                .col(big_pk_auto("id"))
                .col(big_integer_null("cursor"))
                .col(string("entity"))
                .col(uuid("record_id"))
                .col(uuid_null("child_id"))
                .col(string("op"))
                .col(json("changed"))
                .col(string("actor"))
                .col(string("actor_agency"))
                .col(string_null("actor_org"))
                .col(string_null("purpose"))
                .col(string_null("request_id"))
                .col(big_integer_null("region_code"))
                .col(timestamp_with_time_zone("at"))
                .to_owned(),
            // Append-only. `writer` names a chain (one per server process and lane); `hash` is
            // SHA-256 over the canonical encoding of the entry and `prev_hash`.
            Table::create()
                .table("audit_entries")
                .if_not_exists()
                .col(big_pk_auto("id"))
                .col(string("writer"))
                .col(big_integer("seq"))
                .col(string("prev_hash"))
                .col(string("hash"))
                .col(timestamp_with_time_zone("at"))
                .col(string("sub"))
                .col(string("agency"))
                .col(string("role"))
                .col(string_null("org"))
                .col(string_null("client_id"))
                .col(string("purpose"))
                .col(string_null("lawful_basis"))
                .col(string("action"))
                .col(string_null("operation"))
                .col(string_null("entity"))
                .col(json("record_ids"))
                .col(uuid_null("child_id"))
                .col(json("fields"))
                .col(json("groups"))
                .col(string("decision"))
                .col(string_null("request_id"))
                .col(string_null("client_addr"))
                .col(string("policy_version"))
                .col(big_integer_null("region_code"))
                .col(text_null("reason"))
                .to_owned(),
            Table::create()
                .table("audit_checkpoints")
                .if_not_exists()
                .col(string("writer").primary_key())
                .col(big_integer("seq"))
                .col(string("hash"))
                .col(timestamp_with_time_zone("pruned_at"))
                .to_owned(),
            {
                let mut t = child_record("break_glass_grants");
                t.col(string("sub"))
                    .col(string("agency"))
                    .col(string("role"))
                    .col(uuid_null("org_id"))
                    .col(text("reason"))
                    .col(timestamp_with_time_zone("granted_at"))
                    .col(timestamp_with_time_zone("expires_at"))
                    .col(string_null("review_outcome"))
                    .col(text_null("review_note"))
                    .col(string_null("reviewed_by"))
                    .col(timestamp_with_time_zone_null("reviewed_at"));
                t
            },
            Table::create()
                .table("idempotency_keys")
                .if_not_exists()
                .col(string("key").primary_key())
                .col(string("sub"))
                .col(string("request_hash"))
                .col(text("response"))
                .col(timestamp_with_time_zone("created_at"))
                .to_owned(),
        ];
        let indexes = vec![
            unique("change_events", &["cursor"]),
            index("change_events", &["entity", "record_id", "id"]),
            unique("audit_entries", &["writer", "seq"]),
            index("audit_entries", &["child_id", "at"]),
            index("audit_entries", &["at"]),
            index("audit_entries", &["sub", "at"]),
            index("break_glass_grants", &["child_id", "sub", "expires_at"]),
            index("break_glass_grants", &["review_outcome"]),
        ];
        create_all(manager, tables, indexes).await?;
        // Unassigned cursors are what the relay looks for; a partial index keeps that probe
        // cheap on PostgreSQL (SQLite supports the same syntax).
        manager
            .get_connection()
            .execute_unprepared(
                "CREATE INDEX IF NOT EXISTS ix_change_events_pending ON change_events (id) WHERE cursor IS NULL",
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_all(manager, TABLES).await
    }
}
