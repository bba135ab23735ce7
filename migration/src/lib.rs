//! The carehub schema as sea-orm-migration migrations. Migrations are frozen history: they use
//! string identifiers and never import `carehub-entity`, and they run unchanged on SQLite and
//! PostgreSQL.

pub use sea_orm_migration::prelude::*;

mod cols;
mod m20261128_000001_create_directory;
mod m20261128_000002_create_child_record;
mod m20261128_000003_create_accountability;
mod m20261128_000004_create_partners;
mod m20261129_000005_outbox_position;
mod m20261129_000006_enrollment_child_index;
mod m20261129_000007_child_difficulty_period;

/// Every migration in order.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261128_000001_create_directory::Migration),
            Box::new(m20261128_000002_create_child_record::Migration),
            Box::new(m20261128_000003_create_accountability::Migration),
            Box::new(m20261128_000004_create_partners::Migration),
            Box::new(m20261129_000005_outbox_position::Migration),
            Box::new(m20261129_000006_enrollment_child_index::Migration),
            Box::new(m20261129_000007_child_difficulty_period::Migration),
        ]
    }
}
