//! The model router: gets a code review from the models a configuration
//! names, with the strategy it names (`primary`, `secondary`, `ensemble`,
//! `adaptive`), over OpenAI-compatible and Anthropic providers.
//!
//! Every call has a deadline (`timeout_ms`), retries retryable failures with
//! jittered backoff honouring `Retry-After`, and goes through a circuit
//! breaker per provider and model. Models are held to the review's JSON
//! schema by each provider's structured output where the operator allows
//! it, and answers are parsed strictly either way.

pub mod error;
pub mod merge;
pub mod metrics;
pub mod outcome;
pub mod output;
pub mod provider;
pub mod providers;
pub mod request;
pub mod resilience;
pub mod router;
pub mod schema;

pub use error::{CallError, ErrorKind, RouterError};
pub use outcome::{CallOutcome, Fallback, Review, ReviewFinding, Reviewed, Usage};
pub use output::FormatRecovery;
pub use providers::{Api, Catalog, Provider, ProviderInfo, Providers, ProvidersError};
pub use request::ReviewInput;
pub use resilience::ResilienceSettings;
pub use router::ModelRouter;
