//! Database access for the GraphQL layer: plain functions over a connection, no GraphQL types.
//! Every function that returns child data takes the caller's row scope as a SQL condition.

pub mod children;
pub mod directory;
pub mod indicators;
pub mod relations;
