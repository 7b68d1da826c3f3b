//! The console over HTTP against a real V1 (on its own database role) and
//! a PostgreSQL per test: signing in, sessions, forms, and what a page
//! says when an id is unknown, a token is revoked or a zone is down. The
//! journeys in a browser are in `tests/e2e/console.rs`.

#![expect(
    clippy::unwrap_used,
    reason = "test helpers fail the test loudly when set-up breaks"
)]

mod sessions;

use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use sqlx::PgPool;
use trizone_console::{AppState, Shared, ZoneUrls, Zones};
use trizone_http::layers::Limits;
use trizone_http::{KeyStore, Role};
use trizone_router::{Api, ProviderInfo};
use trizone_store::DbRole;
use trizone_testkit::Served;

pub const EXPERIMENTER: &str = "console-experimenter-token-7f3a";
pub const ADMIN: &str = "console-admin-token-19bd42";
pub const END_USER: &str = "console-end-user-token-c81e";

#[derive(Debug)]
pub struct TestConsole {
    pub url: String,
    pub client: reqwest::Client,
    pub owner: PgPool,
    pub v1: Option<Served>,
    pub v1_address: std::net::SocketAddr,
    v1_db: PgPool,
    console: Served,
}

fn catalog() -> trizone_router::Catalog {
    trizone_router::Catalog::new([ProviderInfo {
        name: trizone_core::ProviderName::parse("openai").unwrap(),
        api: Api::Openai,
        models: None,
    }])
}

pub fn keys(tokens: &[(Role, &str, &str)]) -> KeyStore {
    KeyStore::from_named_tokens(tokens.iter().copied())
}

pub fn everyone() -> KeyStore {
    keys(&[
        (Role::Experimenter, "alice", EXPERIMENTER),
        (Role::Admin, "admin", ADMIN),
        (Role::EndUser, "end-user", END_USER),
    ])
}

/// V1 serving `keys` on `listener`.
pub async fn v1_on(db: &PgPool, keys: KeyStore, listener: tokio::net::TcpListener) -> Served {
    let state = trizone_experiment::state_with(db.clone(), keys, catalog()).unwrap();
    let app = trizone_experiment::router(state, Limits::default());
    trizone_testkit::serve_on(listener, app)
}

impl TestConsole {
    pub async fn spawn(owner: PgPool) -> Self {
        trizone_http::telemetry::init_for_test();
        let v1_db = trizone_store::connect_as(&owner.connect_options(), DbRole::Experiment, 4)
            .await
            .unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let v1_address = listener.local_addr().unwrap();
        let v1 = v1_on(&v1_db, everyone(), listener).await;
        // V3 and the gate are not running: their pages show them as down.
        let nowhere: url::Url = "http://127.0.0.1:9".parse().unwrap();
        let zones = Zones::new(ZoneUrls {
            v1: v1.url().parse().unwrap(),
            v3: nowhere.clone(),
            gate: nowhere,
        })
        .unwrap();
        let state = AppState::new(Shared {
            zones,
            sessions: Default::default(),
            secure_cookies: false,
        });
        let console = trizone_testkit::serve(trizone_console::router(state)).await;
        Self {
            url: console.url(),
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            owner,
            v1: Some(v1),
            v1_address,
            v1_db,
            console,
        }
    }

    pub async fn finish(mut self) {
        self.console.stop().await;
        if let Some(v1) = self.v1.take() {
            v1.stop().await;
        }
        self.v1_db.close().await;
    }

    /// Signs in with `token`; returns the session cookie (`name=value`).
    pub async fn sign_in(&self, token: &str, next: &str) -> reqwest::Response {
        self.client
            .post(format!("{}/signin", self.url))
            .form(&[("token", token), ("next", next)])
            .send()
            .await
            .unwrap()
    }

    pub async fn cookie(&self, token: &str) -> String {
        let response = self.sign_in(token, "/experiments").await;
        assert_eq!(response.status(), 303);
        session_cookie(&response)
    }

    pub async fn get(&self, path: &str, cookie: &str) -> reqwest::Response {
        self.client
            .get(format!("{}{path}", self.url))
            .header(COOKIE, cookie)
            .send()
            .await
            .unwrap()
    }
}

/// `name=value` of the session cookie a response sets.
pub fn session_cookie(response: &reqwest::Response) -> String {
    let set = response.headers()[SET_COOKIE].to_str().unwrap();
    set.split(';').next().unwrap().to_owned()
}

pub fn location(response: &reqwest::Response) -> &str {
    response.headers()[LOCATION].to_str().unwrap()
}

/// The form token on a page (every signed-in page has the sign-out form).
pub fn csrf_of(html: &str) -> String {
    let at = html.find("name=\"csrf\" value=\"").unwrap() + "name=\"csrf\" value=\"".len();
    html[at..at + 64].to_owned()
}
