//! Store tests against a real PostgreSQL: a fresh, migrated database per test.

#![expect(
    clippy::unwrap_used,
    reason = "test helpers fail the test loudly when set-up breaks"
)]

mod audit;
mod grants;
mod lifecycle;
mod repositories;
mod upgrade;

use sqlx::PgPool;
use trizone_core::{Configuration, Format};
use trizone_store::{DbRole, experiments, production};

/// A pool on the test's database, logged in as `role`.
pub async fn pool_as(owner: &PgPool, role: DbRole) -> PgPool {
    trizone_store::connect_as(&owner.connect_options(), role, 8)
        .await
        .unwrap()
}

pub fn configuration(name: &str, temperature: f64) -> Configuration {
    let yaml = format!(
        r#"
name: {name}
models:
  primary:   {{ provider: openai,    model: gpt-4o,        input_per_mtok: 2.5, output_per_mtok: 10 }}
  secondary: {{ provider: anthropic, model: claude-3-opus, input_per_mtok: 15,  output_per_mtok: 75 }}
strategy: {{ kind: adaptive }}
prompt:
  system: You are a meticulous code reviewer.
  template: "Review {{{{path}}}}:\n{{{{code}}}}"
parameters: {{ temperature: {temperature} }}
"#
    );
    Configuration::parse(&yaml, Format::Yaml).unwrap()
}

/// Registers configuration `name` (owner alice) through `pool`.
pub async fn register(pool: &PgPool, name: &str, temperature: f64) -> experiments::Experiment {
    let config = configuration(name, temperature);
    let new = experiments::NewExperiment {
        owner: "alice",
        description: "test",
        configuration: &config,
        reevaluation_of: None,
    };
    experiments::insert(pool, new).await.unwrap()
}

/// Registers configuration `name` through V1 (`v1`) and makes it a pending
/// deployment through the gate (`gate`).
pub async fn deploy_pending(
    v1: &PgPool,
    gate: &PgPool,
    name: &str,
    temperature: f64,
) -> production::Deployment {
    let experiment = register(v1, name, temperature).await;
    production::insert_pending(
        gate,
        experiment.id,
        &experiment.fingerprint,
        &experiment.configuration,
    )
    .await
    .unwrap()
}
