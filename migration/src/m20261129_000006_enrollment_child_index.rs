//! Enrollments by child: every child's enrollment list (and its latest enrollment) is read by
//! child id, which without this index scanned the whole table (118 ms per page of 50 children
//! at a million children, growing with the table instead of the page).

use crate::cols::*;
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        create_all(
            manager,
            vec![],
            vec![index("enrollments", &["child_id", "school_year"])],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("ix_enrollments_child_id_school_year")
                    .table("enrollments")
                    .to_owned(),
            )
            .await
    }
}
