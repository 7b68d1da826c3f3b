//! What a review request sends (`Content-Type`: one file as JSON, or a
//! unified diff) and what it asks back (`Accept`: JSON or SARIF).

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use mime::Mime;
use trizone_api::reviews::ReviewRequest;
use trizone_api::sarif;
use trizone_http::{ApiError, Json};

/// The body of `POST /api/v2/reviews`.
#[derive(Debug)]
pub enum ReviewBody {
    File(ReviewRequest),
    /// The diff's text, not yet parsed.
    Diff(String),
}

/// The media types a diff may be sent as.
pub const DIFF_TYPES: &[&str] = &["text/x-diff", "text/x-patch"];

impl<S: Send + Sync> FromRequest<S> for ReviewBody {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        let essence = essence(request.headers());
        if !DIFF_TYPES.contains(&essence.as_str()) {
            if essence == "application/json" || essence.ends_with("+json") {
                let Json(file) = Json::from_request(request, state).await?;
                return Ok(Self::File(file));
            }
            return Err(ApiError::UnsupportedMediaType {
                message: "send one file as `Content-Type: application/json`, or a unified diff as `Content-Type: text/x-diff`".into(),
            });
        }
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(|rejection| {
                if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError::PayloadTooLarge {
                        message: "the diff is larger than this endpoint accepts".into(),
                        field: Some("diff".into()),
                    }
                } else {
                    ApiError::BadRequest {
                        message: rejection.body_text(),
                        field: None,
                    }
                }
            })?;
        let text = String::from_utf8(bytes.into()).map_err(|error| {
            let bad = error.utf8_error().valid_up_to();
            let line = 1 + error.as_bytes()[..bad]
                .iter()
                .filter(|&&b| b == b'\n')
                .count();
            ApiError::invalid("diff", format!("line {line}: the diff is not UTF-8 text"))
        })?;
        Ok(Self::Diff(text))
    }
}

/// The lowercased `type/subtype` of the request's `Content-Type`.
fn essence(headers: &HeaderMap) -> String {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<Mime>().ok())
        .map(|m| m.essence_str().to_ascii_lowercase())
        .unwrap_or_default()
}

/// How a review is written back, as the request's `Accept` asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Representation {
    Json,
    Sarif,
}

impl Representation {
    /// What V2 serves reviews as, most preferred first.
    pub const SERVED: &'static [&'static str] = &["application/json", sarif::MEDIA_TYPE];

    /// The served type `accept` ranks highest (JSON on a tie, or with no
    /// header); `None` when it accepts none of them.
    pub fn negotiate(accept: Option<&str>) -> Option<Self> {
        let Some(accept) = accept.filter(|a| !a.trim().is_empty()) else {
            return Some(Self::Json);
        };
        let ranges: Vec<(Mime, f32)> = accept
            .split(',')
            .filter_map(|range| range.trim().parse::<Mime>().ok())
            .map(|range| {
                let q = range
                    .get_param("q")
                    .and_then(|q| q.as_str().parse::<f32>().ok())
                    .unwrap_or(1.0);
                (range, q)
            })
            .collect();
        let quality = |served: &str| -> f32 {
            let Ok(served) = served.parse::<Mime>() else {
                return 0.0;
            };
            // The most specific range that matches decides.
            ranges
                .iter()
                .filter_map(|(range, q)| {
                    let specificity = if range.type_() == mime::STAR {
                        0
                    } else if range.type_() != served.type_() {
                        return None;
                    } else if range.subtype() == mime::STAR {
                        1
                    } else if range.subtype() == served.subtype()
                        && range.suffix() == served.suffix()
                    {
                        2
                    } else {
                        return None;
                    };
                    Some((specificity, *q))
                })
                .max_by_key(|(specificity, _)| *specificity)
                .map_or(0.0, |(_, q)| q)
        };
        let (json, sarif) = (quality(Self::SERVED[0]), quality(Self::SERVED[1]));
        if json <= 0.0 && sarif <= 0.0 {
            None
        } else if sarif > json {
            Some(Self::Sarif)
        } else {
            Some(Self::Json)
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Representation {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let accept = parts
            .headers
            .get(header::ACCEPT)
            .map(|v| v.to_str().unwrap_or("\u{fffd}"));
        Self::negotiate(accept).ok_or(ApiError::NotAcceptable {
            served: Self::SERVED,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_picks_the_best_served_type_and_json_by_default() {
        use Representation::{Json, Sarif};
        let cases = [
            (None, Some(Json)),
            (Some(""), Some(Json)),
            (Some("*/*"), Some(Json)),
            (Some("application/json"), Some(Json)),
            (Some("application/sarif+json"), Some(Sarif)),
            (Some("application/sarif+json, */*;q=0.1"), Some(Sarif)),
            (
                Some("application/json;q=0.5, application/sarif+json"),
                Some(Sarif),
            ),
            (Some("application/*"), Some(Json)),
            (Some("text/html, application/xhtml+xml"), None),
            (Some("application/json;q=0"), None),
            (Some("text/html, */*;q=0.8"), Some(Json)),
            (Some("not a media type"), None),
        ];
        for (accept, expected) in cases {
            assert_eq!(Representation::negotiate(accept), expected, "{accept:?}");
        }
    }
}
