//! Signing in by pasting a token, and out. The token goes to V1 once, to
//! learn whose it is, then lives in the server's session; the browser gets
//! a session cookie only.

use axum::Form;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use maud::{Markup, html};
use secrecy::SecretString;
use serde::Deserialize;
use trizone_api::auth::Me;

use super::errors::Failure;
use super::layout::{Section, page};
use crate::sessions::COOKIE;
use crate::signed_in::{CsrfForm, SignedIn, local_target};
use crate::state::AppState;
use crate::zones::{Zone, ZoneError};

#[derive(Debug, Deserialize)]
pub struct Next {
    #[serde(default)]
    next: Option<String>,
}

pub async fn form(Query(query): Query<Next>) -> Html<String> {
    let next = local_target(query.next.as_deref().unwrap_or("/"));
    Html(sign_in_page(next, None).into_string())
}

fn sign_in_page(next: &str, problem: Option<&str>) -> Markup {
    let body = html! {
        @if let Some(problem) = problem {
            p.notice.error #signin-problem role="alert" { (problem) }
        }
        form.signin method="post" action="/signin" {
            input type="hidden" name="next" value=(next);
            label for="token" { "API token" }
            input #token type="password" name="token" autocomplete="off" required
                aria-describedby="token-help";
            p #token-help.help {
                "Your experimenter or admin token. The console keeps it on the server for this session and acts with it; it is never shown again."
            }
            button type="submit" { "Sign in" }
        }
    };
    page("Sign in", Section::None, None, body)
}

#[derive(Deserialize)]
pub struct Credentials {
    token: String,
    #[serde(default)]
    next: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("next", &self.next)
            .finish_non_exhaustive()
    }
}

pub async fn sign_in(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(credentials): Form<Credentials>,
) -> Response {
    let next = local_target(&credentials.next).to_owned();
    let token: SecretString = credentials.token.trim().to_owned().into();
    let refused = |status: StatusCode, problem: &str| {
        (
            status,
            Html(sign_in_page(&next, Some(problem)).into_string()),
        )
            .into_response()
    };
    if !crate::signed_in::same_origin(&headers) {
        return Failure::Forbidden("this form was posted from another site".into()).into_response();
    }
    let me: Me = match state
        .zones
        .get(Zone::V1, "/api/v1/me", &token, "caller")
        .await
    {
        Ok(me) => me,
        Err(ZoneError::Unauthenticated { .. }) => {
            return refused(StatusCode::UNAUTHORIZED, "V1 does not know this token.");
        }
        Err(ZoneError::Refused { status: 403, .. }) => {
            return refused(
                StatusCode::FORBIDDEN,
                "This token's role cannot use the console: it is for experimenters and admins.",
            );
        }
        Err(error) => {
            return refused(
                StatusCode::BAD_GATEWAY,
                &format!("Cannot check the token: {error}."),
            );
        }
    };
    tracing::info!(principal = %me.principal, role = %me.role, "signed in");
    let id = state.sessions.start(token, me);
    let secure = if state.secure_cookies { "; Secure" } else { "" };
    let cookie = format!("{COOKIE}={id}; Path=/; HttpOnly; SameSite=Strict{secure}");
    ([(header::SET_COOKIE, cookie)], Redirect::to(&next)).into_response()
}

pub async fn sign_out(
    State(state): State<AppState>,
    who: SignedIn,
    Form(form): Form<CsrfForm>,
) -> Response {
    if let Err(refused) = who.check_form(&form.csrf) {
        return refused.into_response();
    }
    state.sessions.end(&who.id);
    let secure = if state.secure_cookies { "; Secure" } else { "" };
    let cookie = format!("{COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{secure}");
    ([(header::SET_COOKIE, cookie)], Redirect::to("/signin")).into_response()
}
