//! Regions (administrative divisions), organizations and a small key/value table for
//! installation metadata (e.g. whether demo data was seeded).

use crate::cols::*;
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const TABLES: &[&str] = &["app_meta", "regions", "organizations"];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let tables = vec![
            Table::create()
                .table("app_meta")
                .if_not_exists()
                .col(string("key").primary_key())
                .col(text("value"))
                .col(timestamp_with_time_zone("updated_at"))
                .to_owned(),
            // Region codes are the 12-digit statistical codes held as integers, so that a
            // jurisdiction (a code prefix) is an integer range on every backend and collation.
            Table::create()
                .table("regions")
                .if_not_exists()
                .col(big_integer("code").primary_key())
                .col(string("name"))
                .col(string("level"))
                .col(big_integer_null("parent_code"))
                .to_owned(),
            {
                let mut t = record("organizations");
                t.col(string("name"))
                    .col(string("kind"))
                    .col(string("agency"))
                    .col(big_integer("region_code"))
                    .col(string_null("contact_name"))
                    .col(string_null("contact_phone"));
                t
            },
        ];
        let indexes = vec![
            index("regions", &["parent_code"]),
            index("organizations", &["region_code"]),
            index("organizations", &["kind", "region_code"]),
        ];
        create_all(manager, tables, indexes).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_all(manager, TABLES).await
    }
}
