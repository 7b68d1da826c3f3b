//! End-to-end tests: the `trizone` binary against a real PostgreSQL.

#![expect(
    clippy::unwrap_used,
    reason = "test helpers fail the test loudly when set-up breaks"
)]

mod backup;
mod cli;
mod console;
mod demo;
mod diff_review;
mod gate_wait;
mod lifecycle;
mod observability;
mod roles;
mod rollout;
mod sequential;
mod up;
