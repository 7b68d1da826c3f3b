//! The types that cross a process boundary, so the server that writes one
//! and the client that reads it cannot drift apart: one definition, used by
//! both, with the OpenAPI schema derived from it.

pub mod audit;
pub mod auth;
pub mod error;
pub mod experiments;
pub mod gate;
pub mod health;
pub mod quarantine;
pub mod reviews;
pub mod runs;
pub mod sarif;
pub mod smoke;
pub mod states;

pub use error::{ErrorBody, ErrorDetail};
pub use health::{CheckReport, HealthReport, HealthStatus};
pub use smoke::{ReviewOutcome, SmokeCaseReport, SmokeReport};
