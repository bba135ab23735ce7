//! The outbox relay's position: the last cursor it handed out, kept in a one-row table so
//! numbering a batch reads one row instead of `MAX(cursor)` over the whole change feed (whose
//! plan degrades to a scan while the table's statistics are stale, e.g. after bulk deletes).

use crate::cols::*;
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const TABLES: &[&str] = &["outbox_position"];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let tables = vec![Table::create()
            .table("outbox_position")
            .if_not_exists()
            .col(integer("id").primary_key())
            .col(big_integer("last_cursor"))
            .to_owned()];
        create_all(manager, tables, vec![]).await?;
        manager
            .get_connection()
            .execute_unprepared(
                "INSERT INTO outbox_position (id, last_cursor) \
                 SELECT 1, COALESCE(MAX(cursor), 0) FROM change_events",
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_all(manager, TABLES).await
    }
}
