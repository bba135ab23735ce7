//! The child's current difficulty period on the child row, so the indicators' population
//! (ACTIVE, under 18, a difficulty category valid today) is counted from one partial index
//! instead of a semi-join over every child's categories (a whole-table read per request).
//!
//! The backfill below is this migration's own copy of the refresh statement: a migration is a
//! snapshot and must not change when the application's statement does.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::ConnectionTrait;

#[derive(DeriveMigrationName)]
pub struct Migration;

const INDEX: &str = "ix_children_population";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in ["difficulty_from", "difficulty_to"] {
            manager
                .alter_table(
                    Table::alter()
                        .table("children")
                        .add_column(ColumnDef::new(column).date().null())
                        .to_owned(),
                )
                .await?;
        }
        let db = manager.get_connection();
        let today = chrono::Utc::now().date_naive();
        db.execute_unprepared(&format!(
            "UPDATE children SET difficulty_from = ({from}), difficulty_to = ({to})",
            from = from_sql(today),
            to = to_sql(today)
        ))
        .await?;
        // Partial and covering: the population's fixed predicates select the index, every
        // column the count reads or groups by is in it (an index-only scan on PostgreSQL).
        db.execute_unprepared(&format!(
            "CREATE INDEX {INDEX} ON children (city_code, county_code, risk_rank, in_treatment, \
             birth_date, difficulty_from, difficulty_to, residence_region_code) \
             WHERE archived_at IS NULL AND status = 'ACTIVE'"
        ))
        .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(Index::drop().name(INDEX).table("children").to_owned())
            .await?;
        for column in ["difficulty_from", "difficulty_to"] {
            manager
                .alter_table(
                    Table::alter()
                        .table("children")
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}

/// Categories of the child not archived and not ended before `day`.
fn live(alias: &str, day: chrono::NaiveDate) -> String {
    format!(
        "{alias}.child_id = children.id AND {alias}.archived_at IS NULL \
         AND ({alias}.valid_to IS NULL OR {alias}.valid_to >= '{day}')"
    )
}

fn from_sql(day: chrono::NaiveDate) -> String {
    format!(
        "SELECT COALESCE(MIN(CASE WHEN d.valid_from <= '{day}' THEN d.valid_from END), MIN(d.valid_from)) \
         FROM child_difficulties d WHERE {}",
        live("d", day)
    )
}

fn to_sql(day: chrono::NaiveDate) -> String {
    format!(
        "SELECT CASE WHEN MAX(CASE WHEN d.valid_from <= '{day}' THEN 1 ELSE 0 END) = 1 THEN \
         (CASE WHEN MAX(CASE WHEN d.valid_from <= '{day}' AND d.valid_to IS NULL THEN 1 ELSE 0 END) = 1 THEN NULL \
         ELSE MAX(CASE WHEN d.valid_from <= '{day}' THEN d.valid_to END) END) \
         ELSE (SELECT d2.valid_to FROM child_difficulties d2 WHERE {} AND d2.valid_from > '{day}' \
         ORDER BY d2.valid_from ASC, CASE WHEN d2.valid_to IS NULL THEN 0 ELSE 1 END ASC, d2.valid_to DESC LIMIT 1) END \
         FROM child_difficulties d WHERE {}",
        live("d2", day),
        live("d", day)
    )
}
