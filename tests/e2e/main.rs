//! End-to-end tests: the real server over HTTP, on SQLite and (when configured) PostgreSQL.

mod auth;
mod foundation;
mod indicators;
mod operations;
mod partners;
mod remits;
mod security;
mod subscriptions;
mod writes;
mod writes_more;
