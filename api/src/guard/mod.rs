//! Guard rails of the public endpoint: query limits checked before execution (`limits`) and
//! HTTP hardening with GraphQL-over-HTTP media types and status codes (`http`).

pub mod http;
pub mod limits;

pub use limits::QueryLimits;
