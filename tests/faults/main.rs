//! The fault suite (issue 10): crash consistency under `kill -9`, database and Redis outages,
//! overload, a bounded soak, and hostile input to the policy parser and the ID-number
//! validator. Run with `cargo build -p carehub-api && cargo test -p carehub-tests --test faults`;
//! see docs/reliability.md for what each test proves and the figures measured.

mod crash;
mod hostile;
mod outage;
mod overload;
mod soak;
mod support;
