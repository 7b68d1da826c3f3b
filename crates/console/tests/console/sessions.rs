//! Signing in and out, sessions, forms, and the failure pages.

use reqwest::header::{CONTENT_SECURITY_POLICY, COOKIE, ORIGIN, SET_COOKIE};
use sqlx::PgPool;
use trizone_http::Role;

use crate::{
    ADMIN, END_USER, EXPERIMENTER, TestConsole, csrf_of, keys, location, session_cookie, v1_on,
};

#[sqlx::test(migrator = "trizone_store::MIGRATOR")]
async fn signing_in_keeps_the_token_on_the_server_and_returns_the_person_where_they_were(
    owner: PgPool,
) {
    let app = TestConsole::spawn(owner).await;
    let unsigned = app.get("/experiments?status=quarantined", "").await;
    assert_eq!(unsigned.status(), 303);
    assert_eq!(
        location(&unsigned),
        "/signin?next=%2Fexperiments%3Fstatus%3Dquarantined"
    );

    let signed = app
        .sign_in(EXPERIMENTER, "/experiments?status=quarantined")
        .await;
    assert_eq!(signed.status(), 303);
    assert_eq!(location(&signed), "/experiments?status=quarantined");
    let set = signed.headers()[SET_COOKIE].to_str().unwrap().to_owned();
    for flag in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(set.contains(flag), "{set}");
    }
    assert!(
        !set.contains(EXPERIMENTER),
        "the cookie must not carry the token"
    );
    let cookie = session_cookie(&signed);

    let page = app.get("/experiments?status=quarantined", &cookie).await;
    assert_eq!(page.status(), 200);
    let csp = page.headers()[CONTENT_SECURITY_POLICY]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        csp.contains("default-src 'none'") && csp.contains("frame-ancestors 'none'"),
        "{csp}"
    );
    let html = page.text().await.unwrap();
    assert!(html.contains("alice · experimenter"), "{html}");
    assert!(
        !html.contains(EXPERIMENTER),
        "a page must not show the token"
    );

    // Where a sign-in would send someone is always this console.
    let elsewhere = app.sign_in(EXPERIMENTER, "//evil.example/steal").await;
    assert_eq!(location(&elsewhere), "/");

    let csrf = csrf_of(&html);
    let out = app
        .client
        .post(format!("{}/signout", app.url))
        .header(COOKIE, &cookie)
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(location(&out), "/signin");
    assert_eq!(app.get("/experiments", &cookie).await.status(), 303);
    app.finish().await;
}

#[sqlx::test(migrator = "trizone_store::MIGRATOR")]
async fn a_token_v1_does_not_know_or_of_an_end_user_is_refused_with_a_reason(owner: PgPool) {
    let app = TestConsole::spawn(owner).await;
    let unknown = app.sign_in("not-a-token-of-anyone-here", "/").await;
    assert_eq!(unknown.status(), 401);
    assert!(
        unknown
            .text()
            .await
            .unwrap()
            .contains("V1 does not know this token")
    );
    let end_user = app.sign_in(END_USER, "/").await;
    assert_eq!(end_user.status(), 403);
    assert!(
        end_user
            .text()
            .await
            .unwrap()
            .contains("experimenters and admins")
    );
    app.finish().await;
}

#[sqlx::test(migrator = "trizone_store::MIGRATOR")]
async fn a_form_without_its_sessions_token_or_from_another_site_is_refused(owner: PgPool) {
    let app = TestConsole::spawn(owner).await;
    let cookie = app.cookie(ADMIN).await;
    let html = app.get("/experiments", &cookie).await.text().await.unwrap();
    let csrf = csrf_of(&html);
    let forged = app
        .client
        .post(format!("{}/signout", app.url))
        .header(COOKIE, &cookie)
        .form(&[("csrf", "0".repeat(64).as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 403);
    let cross_site = app
        .client
        .post(format!("{}/signout", app.url))
        .header(COOKIE, &cookie)
        .header(ORIGIN, "https://evil.example")
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(cross_site.status(), 403);
    // Neither signed the admin out.
    assert_eq!(app.get("/experiments", &cookie).await.status(), 200);
    app.finish().await;
}

#[sqlx::test(migrator = "trizone_store::MIGRATOR")]
async fn unknown_ids_and_paths_are_a_404_page(owner: PgPool) {
    let app = TestConsole::spawn(owner).await;
    let cookie = app.cookie(EXPERIMENTER).await;
    for path in [
        "/experiments/00000000-0000-0000-0000-000000000000",
        "/runs/00000000-0000-0000-0000-000000000000",
        "/nowhere",
    ] {
        let page = app.get(path, &cookie).await;
        assert_eq!(page.status(), 404, "{path}");
        assert!(page.text().await.unwrap().contains("Not found"), "{path}");
    }
    let bad = app.get("/experiments?status=nonsense", &cookie).await;
    assert_eq!(bad.status(), 400);
    app.finish().await;
}

#[sqlx::test(migrator = "trizone_store::MIGRATOR")]
async fn a_revoked_token_sends_the_person_back_to_sign_in_keeping_their_page(owner: PgPool) {
    let mut app = TestConsole::spawn(owner).await;
    let cookie = app.cookie(EXPERIMENTER).await;
    assert_eq!(app.get("/experiments", &cookie).await.status(), 200);
    // V1 restarts without the experimenter's key, on the same address.
    app.v1.take().unwrap().stop().await;
    let listener = tokio::net::TcpListener::bind(app.v1_address).await.unwrap();
    let db = trizone_store::connect_as(
        &app.owner.connect_options(),
        trizone_store::DbRole::Experiment,
        2,
    )
    .await
    .unwrap();
    app.v1 = Some(v1_on(&db, keys(&[(Role::Admin, "admin", ADMIN)]), listener).await);
    let page = app.get("/experiments?owner=alice", &cookie).await;
    assert_eq!(page.status(), 303);
    assert_eq!(
        location(&page),
        "/signin?next=%2Fexperiments%3Fowner%3Dalice"
    );
    // The session is over, not just this page.
    assert_eq!(
        location(&app.get("/experiments", &cookie).await),
        "/signin?next=%2Fexperiments"
    );
    app.finish().await;
    db.close().await;
}

#[sqlx::test(migrator = "trizone_store::MIGRATOR")]
async fn a_zone_that_is_down_is_named(owner: PgPool) {
    let mut app = TestConsole::spawn(owner).await;
    let cookie = app.cookie(EXPERIMENTER).await;
    app.v1.take().unwrap().stop().await;
    let page = app.get("/experiments", &cookie).await;
    assert_eq!(page.status(), 502);
    let html = page.text().await.unwrap();
    assert!(html.contains("V1 experimentation is unreachable"), "{html}");
    // The frame still works: the person can sign out.
    assert!(html.contains("Back to the experiments"), "{html}");
    app.finish().await;
}

/// The gate is down (this console's gate address answers nothing): an
/// experiment's page still shows V1's part, and names the gate where its
/// part would be.
#[sqlx::test(migrator = "trizone_store::MIGRATOR")]
async fn a_page_with_a_zone_down_still_renders_the_rest(owner: PgPool) {
    let app = TestConsole::spawn(owner).await;
    let configuration: trizone_core::Configuration = serde_json::from_value(serde_json::json!({
        "name": "half-seen",
        "models": {"primary": {"provider": "openai", "model": "gpt-4o", "input_per_mtok": 1, "output_per_mtok": 2}},
        "strategy": {"kind": "primary"},
        "prompt": {"system": "Review.", "template": "{{code}}"},
        "parameters": {}
    }))
    .unwrap();
    let experiment = trizone_store::experiments::insert(
        &app.owner,
        trizone_store::experiments::NewExperiment {
            owner: "alice",
            description: "",
            configuration: &configuration,
            reevaluation_of: None,
        },
    )
    .await
    .unwrap();
    trizone_testkit::evaluate(
        &app.owner,
        experiment.id,
        trizone_testkit::Measured::passing(),
    )
    .await;
    let cookie = app.cookie(EXPERIMENTER).await;
    let page = app
        .get(&format!("/experiments/{}", experiment.id), &cookie)
        .await;
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("half-seen"), "{html}");
    assert!(html.contains("<svg"), "V1's evidence is drawn");
    assert!(
        html.contains("The decisions cannot be shown: the gate is unreachable."),
        "{html}"
    );
    app.finish().await;
}
