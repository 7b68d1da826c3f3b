//! The role commands: thin HTTP clients of the zone services, with errors a
//! person can act on (which server, what status, what it said) and `--json`
//! on every read. One module per command group; this one holds what they
//! share: where the zones are, how a zone is asked, and how answers print.

use std::io::Write;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use trizone_api::ErrorBody;

use crate::session::Session;

mod cases;
mod dataset;
mod decisions;
mod experiment;
mod gate;
mod quarantine;
mod review;
mod rollout;
mod run;
mod v2;
mod wait;

pub use dataset::{DatasetCommand, dataset};
pub use experiment::{ExperimentCommand, experiment};
#[cfg(feature = "local")]
pub use gate::judge;
pub use gate::{GateCommand, gate};
pub use quarantine::{QuarantineCommand, quarantine};
pub use review::{ReviewArgs, review};
pub use run::{RunCommand, run};
#[cfg(feature = "local")]
pub use run::{follow_run, run_bar};
pub use v2::{V2Command, v2};

/// What the server wrote, read back as the type it was written from, for a
/// client that acts on it (a state, a decision) rather than printing it.
pub fn typed<T: DeserializeOwned>(value: &Value) -> anyhow::Result<T> {
    T::deserialize(value).with_context(|| {
        format!(
            "the server's answer is not a {} this client reads",
            std::any::type_name::<T>()
                .rsplit("::")
                .next()
                .unwrap_or("value")
        )
    })
}

/// Where the services are and who is asking. Each URL and token comes from
/// its flag, else its environment variable, else the session `trizone up`
/// saved, else the local default.
#[derive(Debug, Clone, Args)]
pub struct Servers {
    /// Default: http://127.0.0.1:8081.
    #[arg(long, global = true, env = "TRIZONE_V1_URL")]
    pub v1_url: Option<String>,
    /// Default: http://127.0.0.1:8082.
    #[arg(long, global = true, env = "TRIZONE_V2_URL")]
    pub v2_url: Option<String>,
    /// Default: http://127.0.0.1:8083.
    #[arg(long, global = true, env = "TRIZONE_V3_URL")]
    pub v3_url: Option<String>,
    /// Default: http://127.0.0.1:8084.
    #[arg(long, global = true, env = "TRIZONE_GATE_URL")]
    pub gate_url: Option<String>,
    /// Bearer token (default: TRIZONE_TOKEN_<ROLE> for the role the command needs).
    #[arg(long, global = true, env = "TRIZONE_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
}

/// The zones a command can talk to.
#[derive(Debug, Clone, Copy)]
pub enum ZoneName {
    V1,
    V2,
    V3,
    Gate,
}

impl ZoneName {
    fn describe(self) -> &'static str {
        match self {
            Self::V1 => "V1",
            Self::V2 => "V2",
            Self::V3 => "V3",
            Self::Gate => "the gate",
        }
    }
}

impl Servers {
    /// Where `zone` is: flag or environment, session, default.
    pub fn url(&self, zone: ZoneName, session: Option<&Session>) -> String {
        let (given, saved, default) = match zone {
            ZoneName::V1 => (&self.v1_url, session.map(|s| &s.v1_url), 8081),
            ZoneName::V2 => (&self.v2_url, session.map(|s| &s.v2_url), 8082),
            ZoneName::V3 => (&self.v3_url, session.map(|s| &s.v3_url), 8083),
            ZoneName::Gate => (&self.gate_url, session.map(|s| &s.gate_url), 8084),
        };
        given
            .clone()
            .or_else(|| saved.cloned())
            .unwrap_or_else(|| format!("http://127.0.0.1:{default}"))
    }

    /// The token for `role`: `--token`, `TRIZONE_TOKEN_<ROLE>`, session.
    pub fn token(&self, role: &str, session: Option<&Session>) -> anyhow::Result<String> {
        let variable = format!("TRIZONE_TOKEN_{}", role.to_uppercase());
        self.token
            .clone()
            .or_else(|| std::env::var(&variable).ok().filter(|t| !t.is_empty()))
            .or_else(|| session.and_then(|s| s.token(role)).map(str::to_owned))
            .with_context(|| {
                format!("no token: pass --token or set {variable} (`trizone up` prints one)")
            })
    }
}

/// A zone's answer that was not a success, kept whole so that a caller can
/// act on its stable `code` (`already_decided`, `being_judged`) rather
/// than on the wording of its message.
#[derive(Debug)]
pub struct Refusal {
    zone: &'static str,
    base: String,
    path: String,
    status: u16,
    code: String,
    message: String,
}

impl Refusal {
    /// Whether `error` is a zone's refusal with code `code`.
    pub fn has_code(error: &anyhow::Error, code: &str) -> bool {
        error.downcast_ref::<Self>().is_some_and(|r| r.code == code)
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} at {} answered {} to {}: {} ({})",
            self.zone, self.base, self.status, self.path, self.message, self.code
        )
    }
}

impl std::error::Error for Refusal {}

/// One zone, as a command talks to it.
pub struct Zone {
    name: &'static str,
    base: String,
    token: String,
    http: reqwest::Client,
}

impl Zone {
    /// `zone`, asked with the token of `role`.
    pub fn new(servers: &Servers, zone: ZoneName, role: &str) -> anyhow::Result<Self> {
        let session = Session::load();
        let token = servers.token(role, session.as_ref())?;
        Self::at(zone, &servers.url(zone, session.as_ref()), &token)
    }

    /// `zone` at `base`, asked with `token`.
    pub fn at(zone: ZoneName, base: &str, token: &str) -> anyhow::Result<Self> {
        Ok(Self {
            name: zone.describe(),
            base: base.trim_end_matches('/').to_owned(),
            token: token.to_owned(),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(60))
                .build()?,
        })
    }

    async fn send(&self, request: reqwest::RequestBuilder, path: &str) -> anyhow::Result<Value> {
        let response = request
            .bearer_auth(&self.token)
            .send()
            .await
            .with_context(|| {
                format!(
                    "cannot reach {} at {} (is it running? `scripts/run` starts it)",
                    self.name, self.base
                )
            })?;
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            let (message, code) = match ErrorBody::deserialize(&body) {
                Ok(ErrorBody { error }) => (error.message, error.code.into_owned()),
                Err(_) => ("no message".to_owned(), "no code".to_owned()),
            };
            return Err(Refusal {
                zone: self.name,
                base: self.base.clone(),
                path: path.to_owned(),
                status: status.as_u16(),
                code,
                message,
            }
            .into());
        }
        Ok(body)
    }

    pub async fn get(&self, path: &str) -> anyhow::Result<Value> {
        self.send(self.http.get(format!("{}{path}", self.base)), path)
            .await
    }

    pub async fn put(&self, path: &str, body: &Value) -> anyhow::Result<Value> {
        self.send(
            self.http.put(format!("{}{path}", self.base)).json(body),
            path,
        )
        .await
    }

    pub async fn post(&self, path: &str, body: &Value) -> anyhow::Result<Value> {
        self.send(
            self.http.post(format!("{}{path}", self.base)).json(body),
            path,
        )
        .await
    }

    pub async fn post_raw(
        &self,
        path: &str,
        content_type: &str,
        body: Vec<u8>,
    ) -> anyhow::Result<Value> {
        let request = self
            .http
            .post(format!("{}{path}", self.base))
            .header("content-type", content_type)
            .body(body);
        self.send(request, path).await
    }
}

pub(crate) fn print(
    json: bool,
    value: &Value,
    human: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    if json {
        writeln!(out, "{}", serde_json::to_string_pretty(value)?)?;
    } else {
        human(&mut out)?;
    }
    Ok(())
}

/// Prints `value` as JSON, or as `template` fills it (see [`render`]).
pub(crate) fn show(json: bool, value: &Value, template: &str) -> anyhow::Result<()> {
    print(json, value, |out| {
        writeln!(out, "{}", render(template, value))
    })
}

/// Prints `value` as JSON, or one line per item of `items` (a path into
/// `value`, empty for `value` itself), as `template` fills it.
pub(crate) fn list(json: bool, value: &Value, items: &str, template: &str) -> anyhow::Result<()> {
    let items = if items.is_empty() {
        value
    } else {
        &value[items]
    };
    print(json, value, |out| {
        for item in items.as_array().into_iter().flatten() {
            writeln!(out, "{}", render(template, item))?;
        }
        Ok(())
    })
}

/// `template` with each `{field}` replaced by that field of `value`, a
/// `.`-separated path read with [`text`]. `{field:N}` pads it to N
/// columns (`{field:>N}` on the left); `{field:short}` keeps a fingerprint's first 12 characters and
/// `{field:date}` a timestamp's date.
pub(crate) fn render(template: &str, value: &Value) -> String {
    let mut out = String::with_capacity(template.len() * 2);
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let Some(close) = rest[open..].find('}') else {
            break;
        };
        let spec = &rest[open + 1..open + close];
        let (path, format) = spec.split_once(':').unwrap_or((spec, ""));
        let field = path.split('.').fold(value, |v, key| &v[key]);
        let shown = text(field);
        match format {
            "short" => out.extend(shown.chars().take(12)),
            "date" => out.push_str(shown.get(..10).unwrap_or(&shown)),
            width => match width.strip_prefix('>') {
                Some(width) => {
                    let width = width.parse().unwrap_or(0);
                    out.push_str(&format!("{shown:>width$}"));
                }
                None => {
                    let width = width.parse().unwrap_or(0);
                    out.push_str(&format!("{shown:<width$}"));
                }
            },
        }
        rest = &rest[open + close + 1..];
    }
    out.push_str(rest);
    out
}

/// `path`, with `?key=value&...` (encoded) for each pair that has a value.
pub(crate) fn with_query(path: &str, pairs: &[(&str, Option<&str>)]) -> String {
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    for (key, value) in pairs {
        if let Some(value) = value {
            query.append_pair(key, value);
        }
    }
    match query.finish() {
        query if query.is_empty() => path.to_owned(),
        query => format!("{path}?{query}"),
    }
}

pub fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => "-".into(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::render;

    #[test]
    fn a_template_shows_nested_fields_padded_shortened_and_missing() {
        let value = json!({
            "id": "e1",
            "status": "evaluated",
            "fingerprint": "0123456789abcdef",
            "progress": {"cases_done": 12},
            "week": "2026-11-30T00:00:00Z",
        });
        assert_eq!(
            render(
                "{id}  {status:12} {fingerprint:short} {progress.cases_done:>4} cases, week of {week:date}, {summary}",
                &value
            ),
            "e1  evaluated    0123456789ab   12 cases, week of 2026-11-30, -"
        );
    }
}
