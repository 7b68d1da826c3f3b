//! Pages for what went wrong: an unknown id, a refusal, a zone that is
//! down. Each names what happened in words; none shows a stack or a token.

use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use maud::html;

use super::layout::{Section, page};
use crate::signed_in::{SignedIn, to_sign_in};
use crate::state::AppState;
use crate::zones::ZoneError;

/// Why a page could not be shown.
#[derive(Debug)]
pub enum Failure {
    NotFound(String),
    Forbidden(String),
    BadRequest(String),
    /// The zone no longer accepts the token: sign in again, then come back.
    SignInAgain {
        target: String,
    },
    /// A zone refused with its own code and message.
    Refused {
        zone: &'static str,
        status: u16,
        code: String,
        message: String,
    },
    Down {
        zone: &'static str,
    },
}

impl Failure {
    /// What a zone's error means for the page at `target`: an unknown
    /// token ends the session.
    pub fn from_zone(state: &AppState, who: &SignedIn, target: &str, error: ZoneError) -> Self {
        match error {
            ZoneError::Unauthenticated { .. } => {
                state.sessions.end(&who.id);
                Self::SignInAgain {
                    target: target.to_owned(),
                }
            }
            ZoneError::NotFound { zone, what } => {
                Self::NotFound(format!("{zone} has no such {what}."))
            }
            ZoneError::Refused {
                zone,
                status,
                code,
                message,
            } => Self::Refused {
                zone: zone.title(),
                status,
                code,
                message,
            },
            ZoneError::Down { zone } | ZoneError::Unreadable { zone } => {
                Self::Down { zone: zone.title() }
            }
        }
    }
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        let (status, title, text) = match self {
            Self::SignInAgain { target } => return to_sign_in(&target),
            Self::NotFound(text) => (StatusCode::NOT_FOUND, "Not found", text),
            Self::Forbidden(text) => (StatusCode::FORBIDDEN, "Not allowed", text),
            Self::BadRequest(text) => (StatusCode::BAD_REQUEST, "Bad request", text),
            Self::Refused {
                zone,
                status,
                code,
                message,
            } => (
                StatusCode::from_u16(status).unwrap_or(StatusCode::CONFLICT),
                "Refused",
                format!("{zone} refused ({code}): {message}"),
            ),
            Self::Down { zone } => (
                StatusCode::BAD_GATEWAY,
                "Zone unavailable",
                format!("{zone} is unreachable right now; the rest of the console keeps working."),
            ),
        };
        let body = html! {
            p.notice.error role="alert" { (text) }
            p { a href="/experiments" { "Back to the experiments" } }
        };
        (
            status,
            Html(page(title, Section::None, None, body).into_string()),
        )
            .into_response()
    }
}

/// The console's 404 for a path it does not serve.
pub async fn no_route() -> Failure {
    Failure::NotFound("The console has no page here.".into())
}
