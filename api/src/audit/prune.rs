//! `carehub audit prune --before DATE`: deletes the oldest entries of each chain, never younger
//! than the retention (`audit_retention_days`), and records each chain's last pruned link in
//! `audit_checkpoints` so `carehub audit verify` still walks the rest from there.

use std::fmt;

use carehub_entity::{audit_checkpoint, audit_entry};
use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::sea_query::{Expr, Func};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter,
    QuerySelect, Set,
};

/// What a prune did (or would do, in a dry run).
#[derive(Debug, Default)]
pub struct PruneReport {
    pub before: Option<DateTime<Utc>>,
    pub dry_run: bool,
    /// (writer, last pruned seq, entries deleted) per chain touched.
    pub chains: Vec<(String, i64, u64)>,
}

impl PruneReport {
    /// Entries deleted over all chains.
    pub fn entries(&self) -> u64 {
        self.chains.iter().map(|c| c.2).sum()
    }
}

impl fmt::Display for PruneReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let before = self
            .before
            .map(|b| b.format("%Y-%m-%d").to_string())
            .unwrap_or_default();
        let verb = if self.dry_run {
            "would prune"
        } else {
            "pruned"
        };
        write!(
            f,
            "audit {verb} {} entries older than {before} from {} chains",
            self.entries(),
            self.chains.len()
        )?;
        for (writer, seq, n) in &self.chains {
            write!(
                f,
                "\n  chain {writer}: {n} entries, checkpoint at seq {seq}"
            )?;
        }
        Ok(())
    }
}

/// The latest date `--before` may name for a retention of `retention_days` at `now`.
pub fn latest_allowed(now: DateTime<Utc>, retention_days: u64) -> NaiveDate {
    (now - chrono::Duration::days(retention_days as i64)).date_naive()
}

/// Prunes every chain's entries before `before` (midnight UTC of that date). Refuses a date inside
/// the retention, and refuses to prune a log that does not verify (the evidence would be lost).
pub async fn prune(
    db: &DatabaseConnection,
    before: NaiveDate,
    retention_days: u64,
    now: DateTime<Utc>,
    dry_run: bool,
) -> anyhow::Result<PruneReport> {
    let latest = latest_allowed(now, retention_days);
    if before > latest {
        anyhow::bail!(
            "--before {before} is inside the retention of {retention_days} days (CAREHUB_AUDIT_RETENTION_DAYS): the latest allowed date is {latest}"
        );
    }
    let cutoff = before
        .and_hms_opt(0, 0, 0)
        .map(|t| t.and_utc())
        .ok_or_else(|| anyhow::anyhow!("invalid date {before}"))?;
    let check = super::verify::verify(db).await?;
    if !check.ok() {
        anyhow::bail!("refusing to prune a log that does not verify; investigate first:\n{check}");
    }
    let mut report = PruneReport {
        before: Some(cutoff),
        dry_run,
        chains: Vec::new(),
    };
    let writers: Vec<String> = audit_entry::Entity::find()
        .select_only()
        .column(audit_entry::Column::Writer)
        .filter(audit_entry::Column::At.lt(cutoff))
        .distinct()
        .into_tuple()
        .all(db)
        .await?;
    for writer in writers {
        let txn = crate::db::begin_write(db).await?;
        // Only a prefix of the chain may go: everything below the first entry at or after the
        // cutoff (times within one chain are not strictly ordered across group commits).
        let first_young: Option<i64> = audit_entry::Entity::find()
            .select_only()
            .column_as(
                Expr::expr(Func::min(Expr::col(audit_entry::Column::Seq))),
                "m",
            )
            .filter(audit_entry::Column::Writer.eq(writer.as_str()))
            .filter(audit_entry::Column::At.gte(cutoff))
            .into_tuple::<Option<i64>>()
            .one(&txn)
            .await?
            .flatten();
        let last_seq: Option<i64> = match first_young {
            Some(s) => Some(s - 1),
            None => audit_entry::Entity::find()
                .select_only()
                .column_as(
                    Expr::expr(Func::max(Expr::col(audit_entry::Column::Seq))),
                    "m",
                )
                .filter(audit_entry::Column::Writer.eq(writer.as_str()))
                .into_tuple::<Option<i64>>()
                .one(&txn)
                .await?
                .flatten(),
        };
        let Some(last_seq) = last_seq else { continue };
        let Some(last) = audit_entry::Entity::find()
            .filter(audit_entry::Column::Writer.eq(writer.as_str()))
            .filter(audit_entry::Column::Seq.eq(last_seq))
            .one(&txn)
            .await?
        else {
            // The oldest remaining entry is already young: nothing of this chain is prunable.
            continue;
        };
        let doomed = audit_entry::Entity::find()
            .filter(audit_entry::Column::Writer.eq(writer.as_str()))
            .filter(audit_entry::Column::Seq.lte(last_seq))
            .count(&txn)
            .await?;
        if doomed == 0 {
            continue;
        }
        report.chains.push((writer.clone(), last_seq, doomed));
        if dry_run {
            txn.rollback().await?;
            continue;
        }
        // The checkpoint is written in the same transaction as the deletion: verify never sees
        // a chain cut without its checkpoint.
        let checkpoint = audit_checkpoint::ActiveModel {
            writer: Set(writer.clone()),
            seq: Set(last_seq),
            hash: Set(last.hash.clone()),
            pruned_at: Set(now),
        };
        if audit_checkpoint::Entity::find_by_id(writer.clone())
            .one(&txn)
            .await?
            .is_some()
        {
            checkpoint.update(&txn).await?;
        } else {
            checkpoint.insert(&txn).await?;
        }
        audit_entry::Entity::delete_many()
            .filter(audit_entry::Column::Writer.eq(writer.as_str()))
            .filter(audit_entry::Column::Seq.lte(last_seq))
            .exec(&txn)
            .await?;
        txn.commit().await?;
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retention_bounds_the_date() {
        let now = DateTime::parse_from_rfc3339("2026-11-29T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(latest_allowed(now, 183).to_string(), "2026-05-30");
    }
}
