//! Column and index helpers shared by the migrations. Frozen like the migrations themselves:
//! change a helper only by adding a new one, never by editing what an applied migration used.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

/// The bookkeeping columns every record carries (DESIGN.md §2): id, who/when created and
/// updated, optimistic-concurrency version, soft-delete time, and the writing agency and
/// organization (the owner, which decides whether a read crosses agencies).
pub fn record(name: &'static str) -> TableCreateStatement {
    Table::create()
        .table(name)
        .if_not_exists()
        .col(pk_uuid("id"))
        .col(timestamp_with_time_zone("created_at"))
        .col(string("created_by"))
        .col(timestamp_with_time_zone("updated_at"))
        .col(string("updated_by"))
        .col(integer("version").default(1))
        .col(timestamp_with_time_zone_null("archived_at"))
        .col(string("owner_agency"))
        .col(uuid_null("owner_org_id"))
        .to_owned()
}

/// A record that belongs to one child: `record` plus a non-null `child_id` foreign key.
pub fn child_record(name: &'static str) -> TableCreateStatement {
    let mut t = record(name);
    t.col(uuid("child_id"))
        .foreign_key(&mut fk(name, "child_id", "children"));
    t
}

/// A foreign key `table.column -> target.id`, restricted on delete (nothing is hard-deleted).
pub fn fk(
    table: &'static str,
    column: &'static str,
    target: &'static str,
) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .name(format!("fk_{table}_{column}"))
        .from(table, column)
        .to(target, "id")
        .on_delete(ForeignKeyAction::Restrict)
        .on_update(ForeignKeyAction::Restrict)
        .to_owned()
}

/// A plain index over `columns` named `ix_<table>_<columns>`.
pub fn index(table: &'static str, columns: &[&'static str]) -> IndexCreateStatement {
    let mut ix = Index::create();
    ix.name(format!("ix_{table}_{}", columns.join("_")))
        .table(table)
        .if_not_exists();
    for c in columns {
        ix.col(*c);
    }
    ix.to_owned()
}

/// A unique index over `columns` named `ux_<table>_<columns>`.
pub fn unique(table: &'static str, columns: &[&'static str]) -> IndexCreateStatement {
    let mut ix = index(table, columns);
    ix.name(format!("ux_{table}_{}", columns.join("_")))
        .unique();
    ix
}

/// Create every table, then every index, in order.
pub async fn create_all(
    manager: &SchemaManager<'_>,
    tables: Vec<TableCreateStatement>,
    indexes: Vec<IndexCreateStatement>,
) -> Result<(), DbErr> {
    for t in tables {
        manager.create_table(t).await?;
    }
    for ix in indexes {
        manager.create_index(ix).await?;
    }
    Ok(())
}

/// Drop tables in reverse dependency order.
pub async fn drop_all(manager: &SchemaManager<'_>, tables: &[&'static str]) -> Result<(), DbErr> {
    for t in tables.iter().rev() {
        manager
            .drop_table(Table::drop().table(*t).if_exists().to_owned())
            .await?;
    }
    Ok(())
}
