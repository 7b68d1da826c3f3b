//! The signed-in person, as an extractor: a page without a live session
//! sends the person to sign in, keeping where they were going; a form
//! without its session's token, or posted from another origin, is refused.

use std::sync::Arc;

use axum::extract::{FromRequestParts, OptionalFromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, header};
use axum::response::{IntoResponse, Redirect, Response};

use crate::pages::errors::Failure;
use crate::sessions::{COOKIE, Session};
use crate::state::AppState;

/// A person with a live session.
#[derive(Debug, Clone)]
pub struct SignedIn {
    pub id: String,
    pub session: Arc<Session>,
}

/// A form that carries only its session's token.
#[derive(serde::Deserialize)]
pub struct CsrfForm {
    pub csrf: String,
}

impl std::fmt::Debug for CsrfForm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CsrfForm").finish_non_exhaustive()
    }
}

impl SignedIn {
    /// Refuses a form whose token is not this session's.
    pub fn check_form(&self, csrf: &str) -> Result<(), Failure> {
        if self.session.csrf_matches(csrf) {
            Ok(())
        } else {
            Err(Failure::Forbidden(
                "this form's token does not match your session".into(),
            ))
        }
    }
}

/// The session id in the request's cookie, if there is one.
pub fn session_id(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value)
}

/// Where to send a person to sign in, coming back to `target` after.
pub fn to_sign_in(target: &str) -> Response {
    let next: String = url::form_urlencoded::byte_serialize(target.as_bytes()).collect();
    Redirect::to(&format!("/signin?next={next}")).into_response()
}

/// A path the console may send a person back to after signing in: its
/// own, never another site's (`//host` or `/\host` would be one).
pub fn local_target(next: &str) -> &str {
    let local = next.starts_with('/')
        && !next.starts_with("//")
        && !next.starts_with("/\\")
        && !next.chars().any(char::is_control);
    if local { next } else { "/" }
}

impl FromRequestParts<AppState> for SignedIn {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let found = session_id(&parts.headers).and_then(|id| {
            state
                .sessions
                .get(id)
                .map(|session| (id.to_owned(), session))
        });
        let Some((id, session)) = found else {
            // A form posted without a session goes back to the page it
            // came from, not to the form's endpoint.
            let target = if parts.method == Method::GET {
                parts.uri.path_and_query().map_or("/", |p| p.as_str())
            } else {
                "/"
            };
            return Err(to_sign_in(target));
        };
        if parts.method != Method::GET && !same_origin(&parts.headers) {
            return Err(
                Failure::Forbidden("this form was posted from another site".into()).into_response(),
            );
        }
        Ok(Self { id, session })
    }
}

impl OptionalFromRequestParts<AppState> for SignedIn {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Option<Self>, Self::Rejection> {
        Ok(session_id(&parts.headers).and_then(|id| {
            state.sessions.get(id).map(|session| Self {
                id: id.to_owned(),
                session,
            })
        }))
    }
}

/// A browser names the page a form came from in `Origin`; it must be this
/// console. (The SameSite=Strict cookie already keeps other sites' forms
/// from carrying the session; this holds where a browser would not.)
pub fn same_origin(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|o| o.to_str().ok()) else {
        // No Origin: not a browser's cross-site form; the form token decides.
        return true;
    };
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    let origin_host = origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"));
    matches!((origin_host, host), (Some(o), Some(h)) if o == h)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_local_paths_are_targets() {
        assert_eq!(
            local_target("/experiments?status=failed"),
            "/experiments?status=failed"
        );
        for foreign in [
            "//evil.example/",
            "/\\evil.example",
            "https://evil.example",
            "x",
            "/a\nb",
        ] {
            assert_eq!(local_target(foreign), "/", "{foreign:?}");
        }
    }

    #[test]
    fn the_session_cookie_is_found_among_others() {
        let mut headers = HeaderMap::new();
        headers.insert(header::COOKIE, "a=1; tz_session=abc; b=2".parse().unwrap());
        assert_eq!(session_id(&headers), Some("abc"));
    }

    #[test]
    fn a_form_from_another_origin_is_told_apart() {
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, "127.0.0.1:8085".parse().unwrap());
        assert!(same_origin(&headers));
        headers.insert(header::ORIGIN, "http://127.0.0.1:8085".parse().unwrap());
        assert!(same_origin(&headers));
        headers.insert(header::ORIGIN, "http://evil.example".parse().unwrap());
        assert!(!same_origin(&headers));
    }
}
