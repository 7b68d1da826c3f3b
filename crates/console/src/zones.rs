//! The zones the console reads and acts on (V1, V3 and the gate), always
//! with the signed-in person's own token: the console can do exactly what
//! that token can, and the zones keep enforcing roles.

use std::fmt;
use std::time::Duration;

use reqwest::StatusCode;
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use serde::de::DeserializeOwned;
use trizone_api::ErrorBody;
use url::Url;

/// A zone the console calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Zone {
    V1,
    V3,
    Gate,
}

impl Zone {
    /// The zone as a person knows it.
    pub fn title(self) -> &'static str {
        match self {
            Self::V1 => "V1 experimentation",
            Self::V3 => "V3 quarantine",
            Self::Gate => "the gate",
        }
    }
}

impl fmt::Display for Zone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.title())
    }
}

/// What went wrong calling a zone, in the terms a page shows it.
#[derive(Debug, thiserror::Error)]
pub enum ZoneError {
    /// The token is unknown (expired or revoked): sign in again.
    #[error("{zone} does not accept this token")]
    Unauthenticated { zone: Zone },
    /// A 4xx with the zone's own code and message: forbidden, a conflict,
    /// an invalid request.
    #[error("{zone} refused ({code}): {message}")]
    Refused {
        zone: Zone,
        status: u16,
        code: String,
        message: String,
    },
    #[error("{zone} has no such {what}")]
    NotFound { zone: Zone, what: &'static str },
    /// Unreachable, timed out, or a 5xx: the zone is down for now.
    #[error("{zone} is unreachable")]
    Down { zone: Zone },
    #[error("{zone} answered in a form the console cannot read")]
    Unreadable { zone: Zone },
}

impl ZoneError {
    pub fn zone(&self) -> Zone {
        match self {
            Self::Unauthenticated { zone }
            | Self::Refused { zone, .. }
            | Self::NotFound { zone, .. }
            | Self::Down { zone }
            | Self::Unreadable { zone } => *zone,
        }
    }
}

/// Where each zone listens.
#[derive(Debug, Clone)]
pub struct ZoneUrls {
    pub v1: Url,
    pub v3: Url,
    pub gate: Url,
}

/// The zones' HTTP client.
#[derive(Debug, Clone)]
pub struct Zones {
    http: reqwest::Client,
    urls: ZoneUrls,
}

/// How long a page waits for a zone before showing it as down.
const TIMEOUT: Duration = Duration::from_secs(10);

impl Zones {
    pub fn new(urls: ZoneUrls) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            .timeout(TIMEOUT)
            .connect_timeout(Duration::from_secs(3))
            // A zone never redirects; one that does is not followed with a
            // person's token.
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(Self { http, urls })
    }

    fn url(&self, zone: Zone, path: &str) -> Result<Url, ZoneError> {
        let base = match zone {
            Zone::V1 => &self.urls.v1,
            Zone::V3 => &self.urls.v3,
            Zone::Gate => &self.urls.gate,
        };
        base.join(path).map_err(|_| ZoneError::Unreadable { zone })
    }

    /// `GET path` on `zone`; `what` names the thing for a 404.
    pub async fn get<T: DeserializeOwned>(
        &self,
        zone: Zone,
        path: &str,
        token: &SecretString,
        what: &'static str,
    ) -> Result<T, ZoneError> {
        let request = self.http.get(self.url(zone, path)?);
        self.send(zone, request, token, what).await
    }

    /// `POST path` on `zone` with a JSON `body`.
    pub async fn post<T: DeserializeOwned, B: Serialize + ?Sized>(
        &self,
        zone: Zone,
        path: &str,
        token: &SecretString,
        body: &B,
        what: &'static str,
    ) -> Result<T, ZoneError> {
        let request = self.http.post(self.url(zone, path)?).json(body);
        self.send(zone, request, token, what).await
    }

    async fn send<T: DeserializeOwned>(
        &self,
        zone: Zone,
        request: reqwest::RequestBuilder,
        token: &SecretString,
        what: &'static str,
    ) -> Result<T, ZoneError> {
        let response = request
            .bearer_auth(token.expose_secret())
            .send()
            .await
            .map_err(|error| {
                tracing::warn!(%zone, error = %error.without_url(), "zone unreachable");
                ZoneError::Down { zone }
            })?;
        let status = response.status();
        if status.is_success() {
            return response.json().await.map_err(|error| {
                tracing::error!(%zone, %error, "unreadable answer");
                ZoneError::Unreadable { zone }
            });
        }
        if status.is_server_error() {
            tracing::warn!(%zone, %status, "zone answered a server error");
            return Err(ZoneError::Down { zone });
        }
        match status {
            StatusCode::UNAUTHORIZED => Err(ZoneError::Unauthenticated { zone }),
            StatusCode::NOT_FOUND => Err(ZoneError::NotFound { zone, what }),
            _ => {
                let body: Option<ErrorBody> = response.json().await.ok();
                let (code, message) = body.map_or_else(
                    || ("refused".to_owned(), format!("answered {status}")),
                    |body| (body.error.code.into_owned(), body.error.message),
                );
                Err(ZoneError::Refused {
                    zone,
                    status: status.as_u16(),
                    code,
                    message,
                })
            }
        }
    }
}
