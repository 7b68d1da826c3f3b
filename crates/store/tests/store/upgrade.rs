//! Upgrading a database written by an earlier release.

use sqlx::PgPool;
use trizone_store::{experiments, production};

use crate::register;

/// The release before configurations named the operator's providers.
const BEFORE_PROVIDERS: i64 = 20261201000012;

#[sqlx::test(migrations = false)]
async fn configurations_that_named_an_endpoint_name_a_provider_nobody_offers_yet(owner: PgPool) {
    trizone_store::MIGRATOR
        .run_to(BEFORE_PROVIDERS, &owner)
        .await
        .unwrap();
    // As the earlier release stored them: one model with an endpoint of its
    // own, the other at its provider's public one.
    let experiment = register(&owner, "legacy", 0.0).await;
    sqlx::query(
        "UPDATE experiments_v1.experiments
         SET configuration = jsonb_set(configuration, '{models,primary,base_url}', '\"http://127.0.0.1:8090/v1\"')
         WHERE id = $1",
    )
    .bind(experiment.id)
    .execute(&owner)
    .await
    .unwrap();
    let deployment = production::insert_pending(
        &owner,
        experiment.id,
        &experiment.fingerprint,
        &experiment.configuration,
    )
    .await
    .unwrap();
    sqlx::query(
        "UPDATE production.deployments
         SET configuration = jsonb_set(configuration, '{models,secondary,base_url}', '\"https://Gateway.example:8443/anthropic/\"')
         WHERE id = $1",
    )
    .bind(deployment.id)
    .execute(&owner)
    .await
    .unwrap();

    trizone_store::migrate(&mut owner.acquire().await.unwrap())
        .await
        .unwrap();

    // Both read back as configurations again, identity and history kept.
    let upgraded = experiments::get(&owner, experiment.id).await.unwrap();
    assert_eq!(upgraded.fingerprint, experiment.fingerprint);
    assert_eq!(
        upgraded.configuration.models.primary.provider.as_str(),
        "legacy-openai-127-0-0-1-8090-v1"
    );
    let secondary = upgraded.configuration.models.secondary.as_ref().unwrap();
    assert_eq!(secondary.provider.as_str(), "anthropic");
    let deployed = production::get(&owner, deployment.id).await.unwrap();
    assert_eq!(
        deployed
            .configuration
            .models
            .secondary
            .as_ref()
            .unwrap()
            .provider
            .as_str(),
        "legacy-anthropic-gateway-example-8443-anthropic"
    );
    assert_eq!(
        deployed.configuration.models.primary.provider.as_str(),
        "openai"
    );
}
