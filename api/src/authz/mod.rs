//! Authorization adapters between the remit policy and the API: the per-request context, the
//! field index, row scopes as SQL, per-row facts and the guard every GraphQL field goes through.

pub mod access;
pub mod context;
pub mod guard;
pub mod inputs;
pub mod records;
pub mod scope;

pub use context::{FieldIndex, RequestCtx};
pub use guard::{Node, Record};
