//! What a service answers, checked against its own OpenAPI document: the
//! operation is there, it lists the status, and the body validates against
//! the schema it declares for that status (JSON Schema 2020-12, the dialect
//! of OpenAPI 3.1), `$ref`s resolved within the document.

use serde_json::{Value, json};

/// A service's document, fetched from its `/openapi.json`.
#[derive(Debug, Clone)]
pub struct Contract {
    document: Value,
    /// `METHOD template` of every operation checked so far.
    checked: std::collections::BTreeSet<String>,
}

impl Contract {
    pub async fn fetch(client: &reqwest::Client, base_url: &str, token: &str) -> Self {
        let document = client
            .get(format!("{base_url}/openapi.json"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        Self {
            document,
            checked: Default::default(),
        }
    }

    /// Sends `request` (to an operation whose path in the document is
    /// `template`) and checks the answer; returns its status and body.
    pub async fn send(
        &mut self,
        method: &str,
        template: &str,
        request: reqwest::RequestBuilder,
    ) -> (u16, Value) {
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let media = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.split(';').next().unwrap_or_default().trim().to_owned());
        let text = response.text().await.unwrap();
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        self.check_as(method, template, status, media.as_deref(), &body);
        (status, body)
    }

    /// Panics naming what differs when `body`, answered with `status` to
    /// `method template` as JSON, does not match the document.
    pub fn check(&mut self, method: &str, template: &str, status: u16, body: &Value) {
        self.check_as(method, template, status, Some("application/json"), body);
    }

    /// As [`Self::check`], for a body of media type `media` (none for an
    /// empty answer).
    pub fn check_as(
        &mut self,
        method: &str,
        template: &str,
        status: u16,
        media: Option<&str>,
        body: &Value,
    ) {
        let method = method.to_lowercase();
        let operation = &self.document["paths"][template][&method];
        assert!(
            operation.is_object(),
            "{method} {template} is not in the document"
        );
        let listed = &operation["responses"][status.to_string()];
        assert!(
            listed.is_object(),
            "{method} {template} answered {status}, which its document does not list: {body}"
        );
        self.checked
            .insert(format!("{} {template}", method.to_uppercase()));
        let content = &listed["content"];
        if content.as_object().is_none_or(serde_json::Map::is_empty) {
            return;
        }
        let media = media.unwrap_or("no content type");
        assert!(
            content[media].is_object(),
            "{method} {template} answered {status} as {media}, which its document does not list: {body}"
        );
        // A stream (`text/event-stream`) is listed without a schema.
        if !content[media]["schema"].is_object() {
            return;
        }
        // The document itself is the schema's root, so its $refs resolve; the
        // root's own `$ref` points at this response's schema.
        let escape = |segment: &str| {
            segment
                .replace('~', "~0")
                .replace('/', "~1")
                .replace('{', "%7B")
                .replace('}', "%7D")
        };
        let mut root = self.document.clone();
        root["$ref"] = json!(format!(
            "#/paths/{}/{method}/responses/{status}/content/{}/schema",
            escape(template),
            escape(media)
        ));
        let validator = jsonschema::options()
            .with_draft(jsonschema::Draft::Draft202012)
            .build(&root)
            .unwrap_or_else(|e| {
                panic!("the schema of {method} {template} {status} does not build: {e}")
            });
        let errors: Vec<String> = validator
            .iter_errors(body)
            .map(|e| format!("{} (at {})", e, e.instance_path()))
            .collect();
        assert!(
            errors.is_empty(),
            "{} {template} answered {status} with a body its document does not describe:\n{}\nbody: {body}",
            method.to_uppercase(),
            errors.join("\n")
        );
    }

    /// Every operation in the document, `METHOD template`, not checked yet.
    pub fn unchecked(&self) -> Vec<String> {
        let mut missing = Vec::new();
        for (template, item) in self.document["paths"].as_object().into_iter().flatten() {
            for method in item.as_object().into_iter().flatten().map(|(m, _)| m) {
                let operation = format!("{} {template}", method.to_uppercase());
                if !self.checked.contains(&operation) {
                    missing.push(operation);
                }
            }
        }
        missing
    }
}
