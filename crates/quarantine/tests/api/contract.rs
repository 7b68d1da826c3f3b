//! Every operation of V3's API answers as its own OpenAPI document says.

use sqlx::PgPool;
use trizone_core::Fingerprint;
use trizone_testkit::contract::Contract;
use uuid::Uuid;

use crate::{ADMIN, END_USER, EXPERIMENTER, Platform, SCRAPER};

#[sqlx::test(migrator = "trizone_store::MIGRATOR")]
async fn every_operation_answers_as_the_v3_document_says(owner: PgPool) {
    let platform = Platform::start(owner, None).await;
    let base = format!("http://{}", platform.v3);
    let mut contract = Contract::fetch(&platform.client, &base, EXPERIMENTER).await;
    let get = |path: &str, token: &str| {
        let request = platform.client.get(format!("{base}{path}"));
        if token.is_empty() {
            request
        } else {
            request.bearer_auth(token)
        }
    };
    let (_, record) = platform.quarantined(&platform.configuration(0.0)).await;
    let fingerprint = Fingerprint::parse(&"ab".repeat(32)).unwrap();
    platform
        .gate
        .blacklist(&fingerprint, "known bad", "admin:test")
        .await
        .unwrap();

    let records = "/api/v3/records";
    for (path, token, expected) in [
        (records.to_owned(), EXPERIMENTER, 200),
        (
            "/api/v3/records?reason=nonsense".to_owned(),
            EXPERIMENTER,
            422,
        ),
        (records.to_owned(), END_USER, 403),
        (records.to_owned(), "", 401),
    ] {
        let (status, body) = contract.send("GET", records, get(&path, token)).await;
        assert_eq!(status, expected, "{path}: {body}");
    }
    let one = "/api/v3/records/{id}";
    for (id, expected) in [(record, 200), (Uuid::new_v4(), 404)] {
        let (status, _) = contract
            .send("GET", one, get(&format!("/api/v3/records/{id}"), ADMIN))
            .await;
        assert_eq!(status, expected);
    }
    let (status, _) = contract
        .send(
            "GET",
            "/api/v3/summary",
            get("/api/v3/summary", EXPERIMENTER),
        )
        .await;
    assert_eq!(status, 200);
    let (status, _) = contract
        .send(
            "GET",
            "/api/v3/blacklist",
            get("/api/v3/blacklist", EXPERIMENTER),
        )
        .await;
    assert_eq!(status, 200);
    let entry = "/api/v3/blacklist/{fingerprint}";
    for (value, expected) in [
        (fingerprint.to_string(), 200),
        ("cd".repeat(32), 404),
        ("nope".to_owned(), 422),
    ] {
        let (status, _) = contract
            .send(
                "GET",
                entry,
                get(&format!("/api/v3/blacklist/{value}"), EXPERIMENTER),
            )
            .await;
        assert_eq!(status, expected, "{value}");
    }
    for (path, token) in [
        ("/healthz", ""),
        ("/readyz", ""),
        ("/metrics", SCRAPER),
        ("/openapi.json", EXPERIMENTER),
    ] {
        let (status, _) = contract.send("GET", path, get(path, token)).await;
        assert_eq!(status, 200, "{path}");
    }
    assert_eq!(contract.unchecked(), Vec::<String>::new());
}
