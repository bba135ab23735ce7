//! End-to-end tests: the real server over HTTP, on SQLite and (when configured) PostgreSQL.

// A failed unwrap in a test is a failed test with its cause; that is what tests want.
#![allow(clippy::unwrap_used)]

mod audit;
mod auth;
mod dashboard;
mod foundation;
mod indicators;
mod operations;
mod partners;
mod remits;
mod security;
mod subscriptions;
mod writes;
mod writes_more;
