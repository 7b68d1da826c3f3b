//! Registering configurations: JSON, YAML, idempotency, refusals.

use serde_json::Value;
use sqlx::PgPool;
use trizone_core::Fingerprint;
use trizone_store::{DbRole, quarantine};

use crate::{END_USER, TestApp, error_of, registration};

const YAML: &str = r#"
description: the same configuration, written as YAML
configuration:
  name: yaml-reviewer
  models:
    primary:   { provider: openai,    model: gpt-4o,        input_per_mtok: 2.5, output_per_mtok: 10 }
    secondary: { provider: anthropic, model: claude-3-opus, input_per_mtok: 15,  output_per_mtok: 75 }
  strategy: { kind: adaptive }
  prompt:
    system: You are a meticulous code reviewer.
    template: "Review {{path}}:\n{{code}}"
  parameters: { temperature: 0.0 }
"#;

#[sqlx::test(migrator = "trizone_store::MIGRATOR")]
async fn registering_json_answers_201_with_id_and_fingerprint(owner: PgPool) {
    let app = TestApp::spawn(owner).await;
    let response = app
        .register(registration("json-reviewer", 0.0), false)
        .await;
    assert_eq!(response.status(), 201);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], "registered");
    assert_eq!(body["owner"], "alice");
    assert_eq!(body["name"], "json-reviewer");
    assert!(Fingerprint::parse(body["fingerprint"].as_str().unwrap()).is_ok());
    // It is audited, by the experiment role.
    let role: String = sqlx::query_scalar(
        "SELECT db_role FROM audit.event_log WHERE action = 'experiment.registered'",
    )
    .fetch_one(&app.owner)
    .await
    .unwrap();
    assert_eq!(role, "trizone_experiment");
    app.finish().await;
}

#[sqlx::test(migrator = "trizone_store::MIGRATOR")]
async fn the_same_configuration_in_yaml_is_the_same_experiment(owner: PgPool) {
    let app = TestApp::spawn(owner).await;
    let first: Value = app
        .register(registration("json-reviewer", 0.0), false)
        .await
        .json()
        .await
        .unwrap();
    let response = app.register(YAML.to_owned(), true).await;
    assert_eq!(
        response.status(),
        200,
        "idempotent on fingerprint, whatever the format or name"
    );
    let second: Value = response.json().await.unwrap();
    assert_eq!(second["id"], first["id"]);
    assert_eq!(second["fingerprint"], first["fingerprint"]);
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM experiments_v1.experiments")
        .fetch_one(&app.owner)
        .await
        .unwrap();
    assert_eq!(count, 1);
    app.finish().await;
}

#[sqlx::test(migrator = "trizone_store::MIGRATOR")]
async fn a_blacklisted_configuration_is_refused_with_the_reason(owner: PgPool) {
    let app = TestApp::spawn(owner).await;
    let body: Value = serde_json::from_str(&registration("bad", 0.7)).unwrap();
    let config: trizone_core::Configuration =
        serde_json::from_value(body["configuration"].clone()).unwrap();
    let gate = trizone_store::connect_as(&app.owner.connect_options(), DbRole::Gate, 1)
        .await
        .unwrap();
    quarantine::add_to_blacklist(
        &gate,
        &config.fingerprint(),
        "quarantined 3 times for accuracy",
        None,
        "gate",
    )
    .await
    .unwrap();
    let error = error_of(
        app.register(registration("renamed-to-sneak-past", 0.7), false)
            .await,
        409,
    )
    .await;
    assert_eq!(error["code"], "blacklisted");
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("quarantined 3 times for accuracy"),
        "{error}"
    );
    app.finish().await;
}

#[sqlx::test(migrator = "trizone_store::MIGRATOR")]
async fn invalid_configurations_are_422_naming_the_field(owner: PgPool) {
    let app = TestApp::spawn(owner).await;
    let cases = [
        (
            registration("x", 3.5),
            "configuration.parameters.temperature",
        ),
        (
            registration("x", 0.0).replace("\"adaptive\"", "\"roundrobin\""),
            "configuration.strategy.kind",
        ),
        (
            registration("x", 0.0).replace(
                "\"model\":\"gpt-4o\"",
                "\"model\":\"gpt-4o\",\"temprature\":1",
            ),
            "configuration.models.primary.temprature",
        ),
        (
            registration("x", 0.0).replace("\"owner\":\"alice\"", "\"owner\":\" \""),
            "owner",
        ),
        (
            registration("x", 0.0).replace("{{code}}", "{{body}}"),
            "configuration.prompt.template",
        ),
    ];
    for (body, field) in cases {
        let error = error_of(app.register(body, false).await, 422).await;
        assert_eq!(error["field"], field, "{error}");
    }
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM experiments_v1.experiments")
        .fetch_one(&app.owner)
        .await
        .unwrap();
    assert_eq!(count, 0);
    app.finish().await;
}

#[sqlx::test(migrator = "trizone_store::MIGRATOR")]
async fn malformed_bodies_and_other_media_types_are_client_errors(owner: PgPool) {
    let app = TestApp::spawn(owner).await;
    error_of(app.register("{\"owner\": ".into(), false).await, 422).await;
    error_of(app.register("owner: [unclosed".into(), true).await, 422).await;
    let response = app
        .client
        .post(app.url("/api/v1/experiments"))
        .bearer_auth(crate::EXPERIMENTER)
        .header("content-type", "text/plain")
        .body(registration("x", 0.0))
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_of(response, 415).await["code"],
        "unsupported_media_type"
    );
    app.finish().await;
}

#[sqlx::test(migrator = "trizone_store::MIGRATOR")]
async fn only_experimenters_and_admins_register(owner: PgPool) {
    let app = TestApp::spawn(owner).await;
    let response = app
        .client
        .post(app.url("/api/v1/experiments"))
        .bearer_auth(END_USER)
        .header("content-type", "application/json")
        .body(registration("x", 0.0))
        .send()
        .await
        .unwrap();
    error_of(response, 403).await;
    let response = app
        .client
        .post(app.url("/api/v1/experiments"))
        .body(registration("x", 0.0))
        .send()
        .await
        .unwrap();
    error_of(response, 401).await;
    app.finish().await;
}

/// What an experimenter sees when a configuration names its own endpoint, as
/// an attacker would to collect the platform's keys.
#[sqlx::test(migrator = "trizone_store::MIGRATOR")]
async fn a_configuration_naming_an_endpoint_is_refused_with_the_field(owner: PgPool) {
    let app = TestApp::spawn(owner).await;
    let mut body: Value = serde_json::from_str(&registration("collector", 0.0)).unwrap();
    body["configuration"]["models"]["secondary"]["base_url"] =
        "https://collector.example/v1".into();
    let error = error_of(app.register(body.to_string(), false).await, 422).await;
    assert_eq!(error["field"], "configuration.models.secondary.base_url");
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("operator's providers"),
        "{error}"
    );
    assert_eq!(registered(&app).await, 0);
    app.finish().await;
}

#[sqlx::test(migrator = "trizone_store::MIGRATOR")]
async fn a_provider_the_operator_did_not_list_is_refused_naming_those_it_did(owner: PgPool) {
    let app = TestApp::spawn(owner).await;
    let mut body: Value = serde_json::from_str(&registration("elsewhere", 0.0)).unwrap();
    body["configuration"]["models"]["primary"]["provider"] = "my-own-gateway".into();
    let error = error_of(app.register(body.to_string(), false).await, 422).await;
    assert_eq!(error["field"], "configuration.models.primary.provider");
    let message = error["message"].as_str().unwrap();
    assert!(
        message.contains("`my-own-gateway` is not a provider") && message.contains("`openai`"),
        "{message}"
    );
    assert_eq!(registered(&app).await, 0);
    app.finish().await;
}

/// Model names become metric labels: a provider that lists its models is
/// asked for no other.
#[sqlx::test(migrator = "trizone_store::MIGRATOR")]
async fn a_model_its_provider_does_not_list_is_refused_naming_those_it_does(owner: PgPool) {
    let app = TestApp::spawn(owner).await;
    let mut body: Value = serde_json::from_str(&registration("unlisted", 0.0)).unwrap();
    body["configuration"]["models"]["primary"]["model"] = "gpt-4o-2099-preview".into();
    let error = error_of(app.register(body.to_string(), false).await, 422).await;
    assert_eq!(error["field"], "configuration.models.primary.model");
    assert_eq!(
        error["details"][0]["message"], "`openai` offers only `gpt-4o`, `gpt-4o-mini`",
        "{error}"
    );
    assert_eq!(registered(&app).await, 0);
    // A provider that lists none takes any model.
    body["configuration"]["models"]["primary"]["provider"] = "sim-openai".into();
    assert_eq!(app.register(body.to_string(), false).await.status(), 201);
    app.finish().await;
}

#[sqlx::test(migrator = "trizone_store::MIGRATOR")]
async fn experimenters_see_the_providers_by_name_and_api_only(owner: PgPool) {
    let app = TestApp::spawn(owner).await;
    let response = app.get("/api/v1/providers", crate::EXPERIMENTER).await;
    assert_eq!(response.status(), 200);
    let providers: Value = response.json().await.unwrap();
    let names: Vec<_> = providers
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["name"].as_str().unwrap(), p["api"].as_str().unwrap()))
        .collect();
    assert_eq!(
        names,
        [
            ("anthropic", "anthropic"),
            ("openai", "openai"),
            ("sim-anthropic", "anthropic"),
            ("sim-openai", "openai")
        ]
    );
    assert!(providers[0].get("base_url").is_none(), "{providers}");
    assert_eq!(
        providers[1]["models"],
        serde_json::json!(["gpt-4o", "gpt-4o-mini"])
    );
    assert!(providers[0].get("models").is_none(), "{providers}");
    error_of(app.get("/api/v1/providers", END_USER).await, 403).await;
    app.finish().await;
}

async fn registered(app: &TestApp) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM experiments_v1.experiments")
        .fetch_one(&app.owner)
        .await
        .unwrap()
}

/// 200 KB of nested brackets took the YAML parser 37 s of CPU inside the
/// request; now it is refused before parsing, and YAML has its own size cap.
#[sqlx::test(migrator = "trizone_store::MIGRATOR")]
async fn a_yaml_nesting_bomb_is_refused_and_yaml_has_its_own_size_cap(owner: PgPool) {
    let app = TestApp::spawn(owner).await;
    let bomb = format!(
        "configuration: {}{}\n",
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    let error = error_of(app.register(bomb, true).await, 422).await;
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("nests deeper than 64"),
        "{error}"
    );
    let padded = format!("{YAML}# {}\n", "x".repeat(300 * 1024));
    let error = error_of(app.register(padded, true).await, 413).await;
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("YAML registration"),
        "{error}"
    );
    assert_eq!(registered(&app).await, 0);
    app.finish().await;
}

/// PostgreSQL cannot store U+0000: a registration carrying one, in JSON or
/// YAML, is a 422 naming where, not a 500; control characters in the prose
/// around the configuration are refused too.
#[sqlx::test(migrator = "trizone_store::MIGRATOR")]
async fn a_nul_or_a_control_character_is_refused_naming_where(owner: PgPool) {
    let app = TestApp::spawn(owner).await;
    let mut json: Value = serde_json::from_str(&registration("nul", 0.0)).unwrap();
    json["configuration"]["prompt"]["system"] = "nul\u{0}".into();
    let error = error_of(app.register(json.to_string(), false).await, 422).await;
    assert_eq!(error["field"], "configuration.prompt.system", "{error}");
    let yaml = YAML.replace("name: yaml-reviewer", "name: \"yaml\\0reviewer\"");
    let error = error_of(app.register(yaml, true).await, 422).await;
    assert_eq!(error["field"], "configuration.name", "{error}");
    let yaml = YAML.replace(
        "description: the same configuration, written as YAML",
        "description: \"bell \\a and escape \\e[2J\"",
    );
    let error = error_of(app.register(yaml, true).await, 422).await;
    assert_eq!(error["field"], "description", "{error}");
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM experiments_v1.experiments")
        .fetch_one(&app.owner)
        .await
        .unwrap();
    assert_eq!(count, 0);
    app.finish().await;
}
