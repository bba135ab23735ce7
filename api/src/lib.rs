//! carehub: one GraphQL API over the shared record of children in difficulty, where each agency
//! reads and writes exactly its remit and every read of sensitive data is accounted for.

pub mod audit;
pub mod auth;
pub mod authz;
pub mod cli;
pub mod config;
pub mod crypto;
pub mod dashboard;
pub mod db;
pub mod domain;
pub mod error;
pub mod events;
pub mod graphql;
pub mod guard;
pub mod http;
pub mod lifecycle;
pub mod metrics;
pub mod partners;
pub mod seed;
pub mod service;
pub mod startup;
pub mod state;
pub mod sweep;
pub mod telemetry;
pub mod write;
pub mod ws;
