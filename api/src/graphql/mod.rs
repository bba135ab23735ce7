//! The GraphQL schema: one schema for every role, with every field decided by the remit policy.

pub mod enums;
pub mod mutation;
pub mod query;
pub mod schema;
pub mod subscription;
pub mod types;

pub use schema::{build_schema, schema_fields, sdl, AppSchema};
