//! Accountability: collecting what a request read, the hash-chained audit log, its group-commit
//! writer and its verification.

pub mod chain;
mod collector;
pub mod prune;
pub mod verify;
mod writer;

pub use chain::AuditRecord;
pub use collector::{Collector, Decision, ReadEntry, SearchEntry};
pub use writer::{AuditError, AuditStats, AuditWriter, Lane};
