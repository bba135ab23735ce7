//! Partner systems: API clients (client-credentials) and their persisted-operation safelists.

use crate::cols::*;
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const TABLES: &[&str] = &["api_clients", "persisted_operations"];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let tables = vec![
            Table::create()
                .table("api_clients")
                .if_not_exists()
                .col(pk_uuid("id"))
                .col(string_uniq("client_id"))
                .col(string("name"))
                .col(string("role"))
                .col(uuid_null("org_id"))
                .col(string("region"))
                .col(string("secret_hash"))
                .col(string("safelist_mode"))
                .col(timestamp_with_time_zone("created_at"))
                .col(timestamp_with_time_zone_null("disabled_at"))
                .to_owned(),
            Table::create()
                .table("persisted_operations")
                .if_not_exists()
                .col(pk_auto("id"))
                .col(string("client_id"))
                .col(string("sha256"))
                .col(string_null("operation_name"))
                .col(text("document"))
                .col(timestamp_with_time_zone("created_at"))
                .to_owned(),
        ];
        let indexes = vec![unique("persisted_operations", &["client_id", "sha256"])];
        create_all(manager, tables, indexes).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_all(manager, TABLES).await
    }
}
