//! End-to-end tests: the real server over HTTP, on SQLite and (when configured) PostgreSQL.

mod auth;
mod foundation;
mod remits;
mod writes;
