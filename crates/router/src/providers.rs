//! The operator's providers: name, API, base URL and key. A configuration
//! names one of them; the router sends a provider's key to its base URL and
//! nowhere else (it follows no redirects either).
//!
//! Binaries read the list once at start-up from the file named by
//! `TRIZONE_PROVIDERS_FILE`:
//!
//! ```yaml
//! providers:
//!   - name: openai
//!     api: openai                 # the wire format: openai | anthropic
//!     base_url: https://api.openai.com/v1
//!     key_file: /var/run/secrets/trizone/providers/openai
//!     models: [gpt-4o, gpt-4o-mini]   # optional: the only models it may be asked for
//!     structured_output: true     # optional, default true (see below)
//! ```
//!
//! With `structured_output` (the default), models are held to the review's
//! JSON schema: a strict `response_format` for `openai`, a forced tool call
//! for `anthropic`. An OpenAI-compatible server that rejects `json_schema`
//! (older vLLM or Ollama builds) is listed with `structured_output: false`
//! and gets `json_object` mode and the prompt's contract alone.
//!
//! A provider that lists its models is asked for no other: registrations
//! naming another are refused, and metrics are labelled by those names. One
//! that lists none takes any model, and its metrics label the first
//! `UNLISTED_MODEL_LABELS` model names and count the rest as `other`, so
//! experimenters cannot grow the platform's metric series without bound.
//!
//! Without that file, the list is OpenAI and Anthropic at their public
//! endpoints, each present when its key is set (`OPENAI_API_KEY` or
//! `OPENAI_API_KEY_FILE`, `ANTHROPIC_API_KEY` or `ANTHROPIC_API_KEY_FILE`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use trizone_core::{Configuration, FieldError, ProviderName};

/// The wire format a provider speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Api {
    /// OpenAI's chat completions: OpenAI, Azure-style gateways, vLLM, Ollama.
    Openai,
    /// Anthropic's Messages API.
    Anthropic,
}

impl std::fmt::Display for Api {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Openai => "OpenAI",
            Self::Anthropic => "Anthropic",
        })
    }
}

impl Api {
    /// The public endpoint of the company the wire format is named after.
    fn public_base_url(self) -> &'static str {
        match self {
            Self::Openai => "https://api.openai.com/v1",
            Self::Anthropic => "https://api.anthropic.com",
        }
    }
}

/// One provider the operator configured. Its key never prints.
#[derive(Clone)]
pub struct Provider {
    pub name: ProviderName,
    pub api: Api,
    /// For `openai`, the API root including `/v1`; for `anthropic`, without
    /// it (as each company's SDKs take it).
    pub base_url: url::Url,
    /// The only models it may be asked for, when the operator listed them.
    pub models: Option<Arc<[String]>>,
    /// Whether models are held to the review's schema by the API itself.
    pub structured_output: bool,
    key: SecretString,
}

impl std::fmt::Debug for Provider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Provider")
            .field("name", &self.name)
            .field("api", &self.api)
            .field("base_url", &self.base_url.as_str())
            .field("models", &self.models)
            .field("structured_output", &self.structured_output)
            .finish_non_exhaustive()
    }
}

impl Provider {
    /// `name` speaking `api` at `base_url`, authenticated with `key`.
    pub fn new(name: &str, api: Api, base_url: &str, key: &str) -> Result<Self, ProvidersError> {
        let name = ProviderName::parse(name).map_err(|message| ProvidersError::Invalid {
            provider: name.to_owned(),
            field: "name",
            message,
        })?;
        let invalid = |message: &str| ProvidersError::Invalid {
            provider: name.to_string(),
            field: "base_url",
            message: message.to_owned(),
        };
        let base_url = url::Url::parse(base_url)
            .ok()
            .filter(|url| matches!(url.scheme(), "http" | "https") && url.has_host())
            .ok_or_else(|| invalid("must be an absolute http or https URL"))?;
        // Credentials in a URL would print wherever the URL does.
        if !base_url.username().is_empty() || base_url.password().is_some() {
            return Err(invalid(
                "must not carry credentials: put the key in key_file",
            ));
        }
        Ok(Self {
            name,
            api,
            base_url,
            models: None,
            structured_output: true,
            key: SecretString::from(key.trim().to_owned()),
        })
    }

    /// The same provider, asking for structured output or not.
    pub fn with_structured_output(mut self, on: bool) -> Self {
        self.structured_output = on;
        self
    }

    /// The same provider, asked only for `models`.
    pub fn with_models(mut self, models: Vec<String>) -> Result<Self, ProvidersError> {
        let invalid = |message: String| ProvidersError::Invalid {
            provider: self.name.to_string(),
            field: "models",
            message,
        };
        if models.is_empty() {
            return Err(invalid(
                "lists no model: leave it out to allow any model".into(),
            ));
        }
        if let Some(bad) = models
            .iter()
            .find(|m| m.trim().is_empty() || m.len() > trizone_core::config::MAX_MODEL_CHARS)
        {
            return Err(invalid(format!("`{bad}` is not a model name")));
        }
        self.models = Some(models.into());
        Ok(self)
    }

    /// Whether this provider may be asked for `model`.
    pub fn offers_model(&self, model: &str) -> bool {
        self.models
            .as_ref()
            .is_none_or(|models| models.iter().any(|m| m == model))
    }

    pub(crate) fn key(&self) -> &str {
        self.key.expose_secret()
    }
}

/// What experimenters may know of a provider: its name and API, not where
/// it is or how it is reached.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ProviderInfo {
    pub name: ProviderName,
    pub api: Api,
    /// The only models it may be asked for; absent when any model goes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub models: Option<Vec<String>>,
}

/// Every provider this service may call, by name.
#[derive(Debug, Clone, Default)]
pub struct Providers {
    by_name: BTreeMap<ProviderName, Provider>,
}

#[derive(Debug, thiserror::Error)]
pub enum ProvidersError {
    #[error("cannot read {what} {path}")]
    Read {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the providers file {path} is not valid: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("provider `{provider}`: {field} {message}")]
    Invalid {
        provider: String,
        field: &'static str,
        message: String,
    },
    #[error("provider `{0}` is listed twice")]
    Duplicate(ProviderName),
}

/// The file's shape.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ProvidersFile {
    providers: Vec<ProviderEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ProviderEntry {
    name: String,
    api: Api,
    base_url: String,
    key_file: PathBuf,
    models: Option<Vec<String>>,
    #[serde(default = "structured_by_default")]
    structured_output: bool,
}

fn structured_by_default() -> bool {
    true
}

impl Providers {
    pub fn new(providers: impl IntoIterator<Item = Provider>) -> Result<Self, ProvidersError> {
        let mut by_name = BTreeMap::new();
        for provider in providers {
            if let Some(twice) = by_name.insert(provider.name.clone(), provider) {
                return Err(ProvidersError::Duplicate(twice.name));
            }
        }
        Ok(Self { by_name })
    }

    /// The list in `TRIZONE_PROVIDERS_FILE`, else the public OpenAI and
    /// Anthropic endpoints for whichever of their keys is set. Binaries call
    /// this once at start-up; nothing else reads the environment.
    pub fn from_env() -> Result<Self, ProvidersError> {
        if let Some(path) = std::env::var_os("TRIZONE_PROVIDERS_FILE") {
            return Self::from_file(Path::new(&path));
        }
        let mut providers = Vec::new();
        for (name, api, variable, file_variable) in [
            (
                "openai",
                Api::Openai,
                "OPENAI_API_KEY",
                "OPENAI_API_KEY_FILE",
            ),
            (
                "anthropic",
                Api::Anthropic,
                "ANTHROPIC_API_KEY",
                "ANTHROPIC_API_KEY_FILE",
            ),
        ] {
            if let Some(key) = key_from_env(variable, file_variable)? {
                providers.push(Provider::new(name, api, api.public_base_url(), &key)?);
            }
        }
        Self::new(providers)
    }

    /// Reads a providers file (YAML or JSON) and each key file it names.
    pub fn from_file(path: &Path) -> Result<Self, ProvidersError> {
        let text = std::fs::read_to_string(path).map_err(|source| ProvidersError::Read {
            what: "the providers file",
            path: path.to_owned(),
            source,
        })?;
        let file: ProvidersFile =
            yaml_serde::from_str(&text).map_err(|e| ProvidersError::Parse {
                path: path.to_owned(),
                message: e.to_string(),
            })?;
        let providers = file
            .providers
            .into_iter()
            .map(|entry| {
                let key = read_key(&entry.key_file)?;
                let provider = Provider::new(&entry.name, entry.api, &entry.base_url, &key)?
                    .with_structured_output(entry.structured_output);
                match entry.models {
                    Some(models) => provider.with_models(models),
                    None => Ok(provider),
                }
            })
            .collect::<Result<Vec<_>, _>>()?;
        Self::new(providers)
    }

    pub fn get(&self, name: &ProviderName) -> Option<&Provider> {
        self.by_name.get(name)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Provider> {
        self.by_name.values()
    }

    /// What experimenters may know of these providers.
    pub fn catalog(&self) -> Catalog {
        Catalog::new(self.iter().map(|p| ProviderInfo {
            name: p.name.clone(),
            api: p.api,
            models: p.models.as_ref().map(|m| m.to_vec()),
        }))
    }
}

/// The providers a service offers, by name and API, without endpoints or
/// keys: what V1 checks registrations against and lists to experimenters.
#[derive(Debug, Clone, Default)]
pub struct Catalog(Arc<[ProviderInfo]>);

impl Catalog {
    pub fn new(infos: impl IntoIterator<Item = ProviderInfo>) -> Self {
        let mut infos: Vec<_> = infos.into_iter().collect();
        infos.sort_by(|a, b| a.name.cmp(&b.name));
        Self(infos.into())
    }

    /// In name order.
    pub fn infos(&self) -> &[ProviderInfo] {
        &self.0
    }

    pub fn offers(&self, name: &ProviderName) -> bool {
        self.0.iter().any(|info| &info.name == name)
    }

    /// Every model of `config` whose provider is not offered, or that its
    /// provider does not list, each error naming its field
    /// (`models.secondary.provider`, `models.primary.model`).
    pub fn check(&self, config: &Configuration) -> Vec<FieldError> {
        let at = ["models.primary", "models.secondary"];
        config
            .models()
            .zip(at)
            .filter_map(|(spec, at)| {
                let Some(info) = self.0.iter().find(|info| info.name == spec.provider) else {
                    return Some(FieldError::new(
                        format!("{at}.provider"),
                        format!(
                            "`{}` is not a provider of this platform; it offers {}",
                            spec.provider,
                            self.names()
                        ),
                    ));
                };
                let models = info.models.as_ref()?;
                (!models.contains(&spec.model)).then(|| {
                    FieldError::new(
                        format!("{at}.model"),
                        format!(
                            "`{}` offers only {}",
                            spec.provider,
                            models
                                .iter()
                                .map(|m| format!("`{m}`"))
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    )
                })
            })
            .collect()
    }

    /// The names, quoted and comma-separated, for messages.
    pub fn names(&self) -> String {
        if self.0.is_empty() {
            return "none: the operator has configured no provider".into();
        }
        self.0
            .iter()
            .map(|info| format!("`{}`", info.name))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// The key in `variable`, else in the file named by `file_variable`.
fn key_from_env(variable: &str, file_variable: &str) -> Result<Option<String>, ProvidersError> {
    if let Some(key) = std::env::var(variable)
        .ok()
        .filter(|k| !k.trim().is_empty())
    {
        return Ok(Some(key));
    }
    std::env::var_os(file_variable)
        .map(|path| read_key(Path::new(&path)))
        .transpose()
}

fn read_key(path: &Path) -> Result<String, ProvidersError> {
    std::fs::read_to_string(path).map_err(|source| ProvidersError::Read {
        what: "the key file",
        path: path.to_owned(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    fn temp_dir(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("trizone-providers-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn a_providers_file_names_each_endpoint_and_its_key_file() {
        let dir = temp_dir("file");
        let key = write(&dir, "key", "sk-from-a-file\n");
        let file = write(
            &dir,
            "providers.yaml",
            &format!(
                "providers:\n  - {{ name: vllm-internal, api: openai, base_url: \"http://vllm.models.svc:8000/v1\", key_file: {} }}\n  - {{ name: ollama, api: openai, base_url: \"http://ollama.models.svc:11434/v1\", key_file: {}, structured_output: false }}\n",
                key.display(),
                key.display()
            ),
        );
        let providers = Providers::from_file(&file).unwrap();
        let vllm = providers
            .get(&ProviderName::parse("vllm-internal").unwrap())
            .unwrap();
        assert_eq!(vllm.api, Api::Openai);
        assert_eq!(vllm.base_url.as_str(), "http://vllm.models.svc:8000/v1");
        assert_eq!(vllm.key(), "sk-from-a-file");
        assert!(vllm.structured_output, "structured output is the default");
        let ollama = providers
            .get(&ProviderName::parse("ollama").unwrap())
            .unwrap();
        assert!(!ollama.structured_output);
        assert!(!format!("{providers:?}").contains("sk-from-a-file"));
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn the_lists_the_manifests_ship_are_read_as_written() {
        for shipped in [
            include_str!("../../../k8s/v1-exp/providers.yaml"),
            include_str!("../../../k8s/v2-stable/providers.yaml"),
        ] {
            let file: ProvidersFile = yaml_serde::from_str(shipped).unwrap();
            for entry in file.providers {
                let provider = Provider::new(&entry.name, entry.api, &entry.base_url, "k").unwrap();
                assert_eq!(provider.base_url.scheme(), "https", "{provider:?}");
                assert!(
                    entry
                        .key_file
                        .starts_with("/var/run/secrets/trizone/providers")
                );
            }
        }
    }

    #[test]
    fn a_broken_list_stops_the_service_naming_what_is_wrong() {
        let dir = temp_dir("broken");
        let missing = Providers::from_file(&dir.join("absent.yaml")).unwrap_err();
        assert!(missing.to_string().contains("absent.yaml"), "{missing}");

        let file = write(
            &dir,
            "providers.yaml",
            "providers:\n  - { name: x, api: openai, base_url: \"https://a/v1\", key_file: /nonexistent/key }\n",
        );
        let no_key = Providers::from_file(&file).unwrap_err();
        assert!(no_key.to_string().contains("/nonexistent/key"), "{no_key}");

        let with_credentials =
            Provider::new("x", Api::Openai, "https://user:sk-secret@llm.local/v1", "k")
                .unwrap_err();
        assert!(with_credentials.to_string().contains("base_url"));
        assert!(!with_credentials.to_string().contains("sk-secret"));
        assert!(Provider::new("x", Api::Openai, "ftp://llm.local", "k").is_err());
        assert!(Provider::new("Not A Name", Api::Openai, "https://llm.local", "k").is_err());

        let twice = Providers::new([
            Provider::new("x", Api::Openai, "https://a.example/v1", "k").unwrap(),
            Provider::new("x", Api::Anthropic, "https://b.example", "k").unwrap(),
        ])
        .unwrap_err();
        assert!(matches!(twice, ProvidersError::Duplicate(_)), "{twice}");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_configuration_naming_an_unlisted_provider_is_refused_field_by_field() {
        let providers = Providers::new([Provider::new(
            "sim-openai",
            Api::Openai,
            "http://127.0.0.1:8090/v1",
            "k",
        )
        .unwrap()])
        .unwrap();
        let yaml = "name: r\nmodels:\n  primary: { provider: sim-openai, model: m, input_per_mtok: 1, output_per_mtok: 1 }\n  secondary: { provider: openai, model: m, input_per_mtok: 1, output_per_mtok: 1 }\nstrategy: { kind: adaptive }\nprompt: { system: s, template: \"{{code}}\" }\n";
        let config = Configuration::parse(yaml, trizone_core::Format::Yaml).unwrap();
        let errors = providers.catalog().check(&config);
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!(errors[0].field, "models.secondary.provider");
        assert!(errors[0].message.contains("`sim-openai`"), "{}", errors[0]);
    }
}
