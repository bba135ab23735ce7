//! `carehub audit verify`: walks every writer's chain from its checkpoint (or genesis) and names
//! the first entry that was altered, removed or reordered.

use std::fmt;

use carehub_entity::{audit_checkpoint, audit_entry};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

use super::chain::{canonical, from_row, link_hash, GENESIS};

/// The first problem found in one chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Broken {
    pub writer: String,
    pub seq: i64,
    pub id: i64,
    pub problem: String,
}

/// The outcome of a verification.
#[derive(Debug, Default)]
pub struct VerifyReport {
    pub chains: usize,
    pub entries: u64,
    pub broken: Vec<Broken>,
}

impl VerifyReport {
    pub fn ok(&self) -> bool {
        self.broken.is_empty()
    }
}

impl fmt::Display for VerifyReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.ok() {
            return write!(
                f,
                "audit OK: {} chains, {} entries verified",
                self.chains, self.entries
            );
        }
        writeln!(
            f,
            "audit BROKEN: {} of {} chains fail verification",
            self.broken.len(),
            self.chains
        )?;
        for b in &self.broken {
            writeln!(
                f,
                "  chain {}: first broken link at seq {} (row id {}): {}",
                b.writer, b.seq, b.id, b.problem
            )?;
        }
        Ok(())
    }
}

/// Verifies every chain.
pub async fn verify<C: ConnectionTrait>(db: &C) -> anyhow::Result<VerifyReport> {
    let writers: Vec<String> = audit_entry::Entity::find()
        .select_only()
        .column(audit_entry::Column::Writer)
        .distinct()
        .into_tuple()
        .all(db)
        .await?;
    let mut report = VerifyReport {
        chains: writers.len(),
        ..Default::default()
    };
    for writer in writers {
        let checkpoint = audit_checkpoint::Entity::find_by_id(writer.clone())
            .one(db)
            .await?;
        let (mut expected_seq, mut prev) = match &checkpoint {
            Some(c) => (c.seq + 1, c.hash.clone()),
            None => (1, GENESIS.to_owned()),
        };
        let mut last_id = i64::MIN;
        // Page through the chain in seq order to bound memory.
        loop {
            let rows = audit_entry::Entity::find()
                .filter(audit_entry::Column::Writer.eq(writer.as_str()))
                .filter(audit_entry::Column::Seq.gte(expected_seq))
                .order_by_asc(audit_entry::Column::Seq)
                .limit(5000)
                .all(db)
                .await?;
            if rows.is_empty() {
                break;
            }
            let mut broken = None;
            for row in &rows {
                report.entries += 1;
                let problem = if row.seq != expected_seq {
                    Some(format!(
                        "expected seq {expected_seq}, found {} (entries removed or reordered)",
                        row.seq
                    ))
                } else if row.prev_hash != prev {
                    Some("prevHash does not match the previous entry's hash (an entry was removed, inserted or reordered)".to_owned())
                } else if row.id < last_id {
                    Some("row order contradicts seq order (entries reordered)".to_owned())
                } else {
                    let recomputed = link_hash(&prev, &canonical(&writer, row.seq, &from_row(row)));
                    (recomputed != row.hash).then(|| {
                        "content does not match its hash (the entry was altered)".to_owned()
                    })
                };
                if let Some(problem) = problem {
                    broken = Some(Broken {
                        writer: writer.clone(),
                        seq: row.seq,
                        id: row.id,
                        problem,
                    });
                    break;
                }
                prev = row.hash.clone();
                last_id = row.id;
                expected_seq += 1;
            }
            if let Some(b) = broken {
                report.broken.push(b);
                break;
            }
        }
    }
    Ok(report)
}
