//! A review configuration: models, prompt, routing strategy and parameters,
//! read from JSON or YAML and validated field by field.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::{Error, FieldError};
use crate::fingerprint::{Fingerprint, sha256_hex};
use crate::prompt::Template;
use crate::provider::ProviderName;

/// Everything that decides how a review is produced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Configuration {
    /// A human label. It is not part of the fingerprint: renaming a
    /// configuration does not make it a different one (nor lift a blacklist).
    pub name: String,
    pub models: Models,
    pub strategy: Strategy,
    pub prompt: Prompt,
    #[serde(default)]
    pub parameters: Parameters,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Models {
    pub primary: ModelSpec,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secondary: Option<ModelSpec>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ModelSpec {
    /// One of the providers the operator configured
    /// (`GET /api/v1/providers` lists them). Its endpoint and key are the
    /// operator's, never the configuration's.
    pub provider: ProviderName,
    pub model: String,
    /// Price in USD per million input tokens.
    pub input_per_mtok: f64,
    /// Price in USD per million input tokens the provider served from its
    /// prompt cache (OpenAI's "cached input", Anthropic's "cache hits").
    /// Left out, cached tokens are charged as `input_per_mtok`: never less
    /// than the provider would bill.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cached_input_per_mtok: Option<f64>,
    /// Price in USD per million output tokens, reasoning tokens included.
    pub output_per_mtok: f64,
}

impl ModelSpec {
    /// `provider/model`, the label metrics and impact analysis use.
    pub fn id(&self) -> String {
        format!("{}/{}", self.provider, self.model)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum Strategy {
    /// The primary model alone.
    Primary,
    /// The secondary model alone.
    Secondary,
    /// Both models concurrently, findings merged.
    Ensemble {
        #[serde(default)]
        merge: Merge,
    },
    /// The primary model; the secondary on error, timeout or open circuit.
    Adaptive,
}

impl Strategy {
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Primary => "primary",
            Self::Secondary => "secondary",
            Self::Ensemble { .. } => "ensemble",
            Self::Adaptive => "adaptive",
        }
    }

    fn needs_secondary(&self) -> bool {
        !matches!(self, Self::Primary)
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Merge {
    /// Every finding either model raised, with how many models agreed.
    #[default]
    Union,
    /// Only findings both models raised.
    Intersection,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Prompt {
    pub system: String,
    /// User message; `{{code}}` is required, `{{language}}` and `{{path}}`
    /// are optional, any other placeholder is an error.
    pub template: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Parameters {
    pub temperature: f64,
    pub max_tokens: u32,
    pub timeout_ms: u64,
    pub max_retries: u32,
}

impl Default for Parameters {
    fn default() -> Self {
        Self {
            temperature: 0.0,
            max_tokens: 1024,
            timeout_ms: 20_000,
            max_retries: 2,
        }
    }
}

/// Which text format a configuration body is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    Yaml,
}

const MAX_NAME_CHARS: usize = 100;
pub const MAX_MODEL_CHARS: usize = 200;
const MAX_PRICE_PER_MTOK: f64 = 10_000.0;
const MAX_SYSTEM_CHARS: usize = 20_000;
const MAX_TEMPLATE_CHARS: usize = 50_000;
const TEMPERATURE_RANGE: std::ops::RangeInclusive<f64> = 0.0..=2.0;
const MAX_TOKENS_RANGE: std::ops::RangeInclusive<u32> = 1..=100_000;
const TIMEOUT_MS_RANGE: std::ops::RangeInclusive<u64> = 100..=600_000;
const MAX_RETRIES_RANGE: std::ops::RangeInclusive<u32> = 0..=10;

impl Configuration {
    /// Reads and validates a configuration written in `format`.
    pub fn parse(body: &str, format: Format) -> Result<Self, Error> {
        let config: Self = parse_document(body, format)?;
        config.validate()?;
        Ok(config)
    }

    /// Checks every rule and reports every broken one, each naming its field.
    pub fn validate(&self) -> Result<(), Error> {
        let mut errors = Vec::new();
        let name = self.name.trim();
        if name.is_empty() || name.chars().count() > MAX_NAME_CHARS {
            errors.push(FieldError::new(
                "name",
                format!("must be 1 to {MAX_NAME_CHARS} characters"),
            ));
        } else if name.chars().any(char::is_control) {
            errors.push(FieldError::new(
                "name",
                "must not contain control characters",
            ));
        }
        validate_model(&self.models.primary, "models.primary", &mut errors);
        match &self.models.secondary {
            Some(secondary) => validate_model(secondary, "models.secondary", &mut errors),
            None if self.strategy.needs_secondary() => errors.push(FieldError::new(
                "models.secondary",
                format!(
                    "is required by strategy `{}` (only `primary` works with one model)",
                    self.strategy.kind()
                ),
            )),
            None => {}
        }
        self.prompt.validate(&mut errors);
        self.parameters.validate(&mut errors);
        if errors.is_empty() {
            Ok(())
        } else {
            Err(Error::Invalid(errors))
        }
    }

    /// Canonical fingerprint: the same configuration gives the same
    /// fingerprint whatever its key order, whitespace or format.
    pub fn fingerprint(&self) -> Fingerprint {
        Fingerprint::of_content(self)
    }

    /// Identifies the prompt alone (system text and template), so impact
    /// analysis can find configurations that share it.
    pub fn prompt_hash(&self) -> String {
        let mut bytes =
            Vec::with_capacity(self.prompt.system.len() + self.prompt.template.len() + 1);
        bytes.extend_from_slice(self.prompt.system.as_bytes());
        // NUL cannot occur in either field's JSON text, so the split is unambiguous.
        bytes.push(0);
        bytes.extend_from_slice(self.prompt.template.as_bytes());
        sha256_hex(&bytes)
    }

    /// The models a review may be asked of, primary first.
    pub fn models(&self) -> impl Iterator<Item = &ModelSpec> {
        std::iter::once(&self.models.primary).chain(self.models.secondary.as_ref())
    }
}

/// Reads any document written in `format`; a shape error names the path of
/// the offending field (`configuration.models.primary.provider`).
pub fn parse_document<T: serde::de::DeserializeOwned>(
    body: &str,
    format: Format,
) -> Result<T, Error> {
    match format {
        Format::Json => {
            let de = &mut serde_json::Deserializer::from_str(body);
            serde_path_to_error::deserialize(de).map_err(malformed)
        }
        Format::Yaml => {
            check_yaml_nesting(body)?;
            let de = yaml_serde::Deserializer::from_str(body);
            serde_path_to_error::deserialize(de).map_err(malformed)
        }
    }
}

/// Deepest flow nesting (`[`, `{`) a YAML document may have. A configuration
/// needs four levels; the YAML parser's time grows with the square of the
/// depth (200 KB of `[` took 42 s), which its own recursion limit, checked
/// only for block nesting, does not stop.
pub const MAX_YAML_NESTING: usize = 64;

/// Refuses a document whose flow collections nest deeper than
/// [`MAX_YAML_NESTING`], before the parser sees it. Brackets inside quoted
/// scalars and comments do not count; one in a plain scalar may, which can
/// only refuse a document with more than 64 unclosed brackets in its text.
fn check_yaml_nesting(body: &str) -> Result<(), Error> {
    let (mut depth, mut quote, mut comment) = (0usize, None, false);
    let mut previous = '\n';
    let mut chars = body.chars().peekable();
    while let Some(c) = chars.next() {
        match (quote, c) {
            _ if comment => comment = c != '\n',
            (Some('\''), '\'') if chars.peek() == Some(&'\'') => {
                chars.next();
            }
            (Some('"'), '\\') => {
                chars.next();
            }
            (Some(open), c) if c == open => quote = None,
            (Some(_), _) => {}
            // A quote opens a quoted scalar only where a scalar can start;
            // the one in `it's` does not, or it would hide what follows.
            (None, '\'' | '"') if previous.is_whitespace() || "[{,".contains(previous) => {
                quote = Some(c);
            }
            (None, '#') if previous.is_whitespace() => comment = true,
            (None, '[' | '{') => {
                depth += 1;
                if depth > MAX_YAML_NESTING {
                    return Err(Error::Malformed(FieldError::new(
                        "",
                        format!("the document nests deeper than {MAX_YAML_NESTING} levels"),
                    )));
                }
            }
            (None, ']' | '}') => depth = depth.saturating_sub(1),
            (None, _) => {}
        }
        previous = c;
    }
    Ok(())
}

fn malformed<E: std::fmt::Display>(error: serde_path_to_error::Error<E>) -> Error {
    let path = error.path().to_string();
    let field = if path == "." { String::new() } else { path };
    // Configurations written before providers became the operator's carry
    // an endpoint; say what replaced it rather than only that it is unknown.
    let message = if field.ends_with(".base_url") {
        "is not part of a configuration: name one of the operator's providers in `provider` (GET /api/v1/providers lists them); endpoints and keys are the operator's".to_owned()
    } else {
        error.inner().to_string()
    };
    Error::Malformed(FieldError::new(field, message))
}

fn validate_model(spec: &ModelSpec, at: &str, errors: &mut Vec<FieldError>) {
    let model = spec.model.trim();
    if model.is_empty() || model.chars().count() > MAX_MODEL_CHARS {
        errors.push(FieldError::new(
            format!("{at}.model"),
            format!("must be 1 to {MAX_MODEL_CHARS} characters"),
        ));
    }
    let cached = spec
        .cached_input_per_mtok
        .map(|p| ("cached_input_per_mtok", p));
    let prices = [
        ("input_per_mtok", spec.input_per_mtok),
        ("output_per_mtok", spec.output_per_mtok),
    ];
    for (name, price) in prices.into_iter().chain(cached) {
        if !(price.is_finite() && (0.0..=MAX_PRICE_PER_MTOK).contains(&price)) {
            errors.push(FieldError::new(
                format!("{at}.{name}"),
                format!("must be a price in USD from 0 to {MAX_PRICE_PER_MTOK}"),
            ));
        }
    }
}

impl Prompt {
    fn validate(&self, errors: &mut Vec<FieldError>) {
        if self.system.trim().is_empty() || self.system.chars().count() > MAX_SYSTEM_CHARS {
            errors.push(FieldError::new(
                "prompt.system",
                format!("must be 1 to {MAX_SYSTEM_CHARS} characters"),
            ));
        }
        if self.template.chars().count() > MAX_TEMPLATE_CHARS {
            errors.push(FieldError::new(
                "prompt.template",
                format!("must be at most {MAX_TEMPLATE_CHARS} characters"),
            ));
        } else if let Err(message) = Template::parse(&self.template) {
            errors.push(FieldError::new("prompt.template", message));
        }
    }
}

impl Parameters {
    fn validate(&self, errors: &mut Vec<FieldError>) {
        if !(self.temperature.is_finite() && TEMPERATURE_RANGE.contains(&self.temperature)) {
            errors.push(range_error("parameters.temperature", &TEMPERATURE_RANGE));
        }
        if !MAX_TOKENS_RANGE.contains(&self.max_tokens) {
            errors.push(range_error("parameters.max_tokens", &MAX_TOKENS_RANGE));
        }
        if !TIMEOUT_MS_RANGE.contains(&self.timeout_ms) {
            errors.push(range_error("parameters.timeout_ms", &TIMEOUT_MS_RANGE));
        }
        if !MAX_RETRIES_RANGE.contains(&self.max_retries) {
            errors.push(range_error("parameters.max_retries", &MAX_RETRIES_RANGE));
        }
    }
}

fn range_error<T: std::fmt::Display>(
    field: &str,
    range: &std::ops::RangeInclusive<T>,
) -> FieldError {
    FieldError::new(
        field,
        format!("must be from {} to {}", range.start(), range.end()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) const EXAMPLE_YAML: &str = r#"
name: gpt4-strict-reviewer
models:
  primary:   { provider: openai,    model: gpt-4o,        input_per_mtok: 2.5, output_per_mtok: 10 }
  secondary: { provider: anthropic, model: claude-3-opus, input_per_mtok: 15,  output_per_mtok: 75 }
strategy: { kind: adaptive }
prompt:
  system: You are a meticulous code reviewer. Answer only with JSON findings.
  template: "Review this {{language}} file ({{path}}):\n{{code}}"
parameters: { temperature: 0.0, max_tokens: 1024, timeout_ms: 20000, max_retries: 2 }
"#;

    fn example() -> Configuration {
        Configuration::parse(EXAMPLE_YAML, Format::Yaml).unwrap()
    }

    fn field_of(result: Result<Configuration, Error>) -> Vec<String> {
        result
            .unwrap_err()
            .field_errors()
            .iter()
            .map(|e| e.field.clone())
            .collect()
    }

    #[test]
    fn the_documented_example_parses() {
        let config = example();
        assert_eq!(config.strategy, Strategy::Adaptive);
        assert_eq!(config.models.primary.id(), "openai/gpt-4o");
        assert_eq!(config.models().count(), 2);
    }

    #[test]
    fn json_and_yaml_of_one_configuration_share_a_fingerprint() {
        let json = serde_json::to_string_pretty(&example()).unwrap();
        let from_json = Configuration::parse(&json, Format::Json).unwrap();
        assert_eq!(from_json.fingerprint(), example().fingerprint());
    }

    #[test]
    fn renaming_keeps_the_fingerprint_and_changing_a_parameter_does_not() {
        let mut renamed = example();
        renamed.name = "another-name".into();
        assert_eq!(renamed.fingerprint(), example().fingerprint());
        let mut warmer = example();
        warmer.parameters.temperature = 0.5;
        assert_ne!(warmer.fingerprint(), example().fingerprint());
    }

    #[test]
    fn unknown_fields_are_rejected_with_their_path() {
        let yaml = EXAMPLE_YAML.replace("model: gpt-4o,", "model: gpt-4o, temprature: 1,");
        let error = Configuration::parse(&yaml, Format::Yaml).unwrap_err();
        let field = &error.field_errors()[0];
        assert_eq!(field.field, "models.primary.temprature");
        assert!(field.message.contains("unknown field"), "{field}");
    }

    #[test]
    fn a_provider_that_is_not_a_name_is_rejected_with_its_field() {
        let yaml = EXAMPLE_YAML.replace("provider: openai", "provider: \"http://llm.local\"");
        let error = Configuration::parse(&yaml, Format::Yaml).unwrap_err();
        let field = &error.field_errors()[0];
        assert_eq!(field.field, "models.primary.provider");
        assert!(field.message.contains("provider"), "{field}");
    }

    #[test]
    fn an_unknown_strategy_is_rejected() {
        let yaml = EXAMPLE_YAML.replace("kind: adaptive", "kind: roundrobin");
        let error = Configuration::parse(&yaml, Format::Yaml).unwrap_err();
        let field = &error.field_errors()[0];
        assert_eq!(field.field, "strategy.kind");
        assert!(
            field.message.contains("ensemble") && field.message.contains("adaptive"),
            "{field}"
        );
    }

    #[test]
    fn every_broken_rule_is_reported_with_its_field() {
        let mut config = example();
        config.name = " ".into();
        config.parameters.temperature = 3.0;
        config.parameters.timeout_ms = 0;
        config.models.secondary = None;
        config.prompt.template = "no code here".into();
        let fields = field_of(config.validate().map(|()| config.clone()));
        assert_eq!(
            fields,
            [
                "name",
                "models.secondary",
                "prompt.template",
                "parameters.temperature",
                "parameters.timeout_ms"
            ]
        );
    }

    #[test]
    fn only_the_primary_strategy_works_with_one_model() {
        let mut config = example();
        config.models.secondary = None;
        config.strategy = Strategy::Primary;
        assert!(config.validate().is_ok());
        config.strategy = Strategy::Ensemble {
            merge: Merge::Intersection,
        };
        assert_eq!(
            field_of(config.validate().map(|()| config.clone())),
            ["models.secondary"]
        );
    }

    #[test]
    fn a_configuration_names_a_provider_and_never_an_endpoint() {
        let yaml = EXAMPLE_YAML.replace(
            "model: gpt-4o,",
            "model: gpt-4o, base_url: \"https://collector.example/v1\",",
        );
        let error = Configuration::parse(&yaml, Format::Yaml).unwrap_err();
        let field = &error.field_errors()[0];
        assert_eq!(field.field, "models.primary.base_url");
        assert!(field.message.contains("operator's providers"), "{field}");
    }

    #[test]
    fn negative_prices_are_rejected() {
        let mut config = example();
        config.models.secondary.as_mut().unwrap().output_per_mtok = -1.0;
        assert_eq!(
            field_of(config.validate().map(|()| config.clone())),
            ["models.secondary.output_per_mtok"]
        );
        config.models.secondary.as_mut().unwrap().output_per_mtok = 1.0;
        config.models.primary.cached_input_per_mtok = Some(f64::NAN);
        assert_eq!(
            field_of(config.validate().map(|()| config.clone())),
            ["models.primary.cached_input_per_mtok"]
        );
    }

    #[test]
    fn a_cached_input_price_changes_the_fingerprint_only_when_given() {
        let mut config = example();
        let before = config.fingerprint();
        config.models.primary.cached_input_per_mtok = Some(1.25);
        assert_ne!(config.fingerprint(), before);
        config.models.primary.cached_input_per_mtok = None;
        assert_eq!(config.fingerprint(), before);
    }

    #[test]
    fn parameters_default_when_absent() {
        let yaml = EXAMPLE_YAML
            .lines()
            .filter(|line| !line.starts_with("parameters"))
            .collect::<Vec<_>>()
            .join("\n");
        let config = Configuration::parse(&yaml, Format::Yaml).unwrap();
        assert_eq!(config.parameters, Parameters::default());
        assert_eq!(config.fingerprint(), example().fingerprint());
    }

    /// Writes `value` as JSON with object keys in an order and whitespace
    /// chosen by `seed`: the same document, spelled differently.
    fn respell(value: &serde_json::Value, seed: &mut u64, out: &mut String) {
        fn next(seed: &mut u64) -> usize {
            *seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (*seed >> 33) as usize
        }
        let space = |n: usize| [" ", "\n  ", "", "\t"][n % 4];
        match value {
            serde_json::Value::Object(map) => {
                let mut keys: Vec<_> = map.keys().collect();
                for i in (1..keys.len()).rev() {
                    keys.swap(i, next(seed) % (i + 1));
                }
                out.push('{');
                for (i, key) in keys.into_iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(space(next(seed)));
                    out.push_str(&serde_json::Value::String(key.clone()).to_string());
                    out.push_str(space(next(seed)));
                    out.push(':');
                    respell(&map[key], seed, out);
                }
                out.push_str(space(next(seed)));
                out.push('}');
            }
            other => {
                out.push_str(space(next(seed)));
                out.push_str(&other.to_string());
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn fingerprints_ignore_key_order_and_whitespace(
            seed in proptest::prelude::any::<u64>(),
            temperature in 0.0f64..=2.0,
            max_tokens in 1u32..100_000,
            ensemble in proptest::prelude::any::<bool>(),
            system in "[a-zA-Z][a-zA-Z .,]{0,40}",
        ) {
            let mut config = example();
            config.parameters.temperature = temperature;
            config.parameters.max_tokens = max_tokens;
            config.prompt.system = system;
            if ensemble {
                config.strategy = Strategy::Ensemble { merge: Merge::Intersection };
            }
            let value = serde_json::to_value(&config).unwrap();
            let (mut text, mut state) = (String::new(), seed);
            respell(&value, &mut state, &mut text);
            let reparsed = Configuration::parse(&text, Format::Json).unwrap();
            proptest::prop_assert_eq!(reparsed.fingerprint(), config.fingerprint());
        }
    }

    #[test]
    fn deep_yaml_nesting_is_refused_before_parsing_and_shallow_brackets_are_not() {
        let bomb = format!("name: {}{}\n", "[".repeat(100_000), "]".repeat(100_000));
        // The parser would take tens of seconds and say something else.
        let error = Configuration::parse(&bomb, Format::Yaml).unwrap_err();
        assert!(matches!(error, Error::Malformed(_)), "{error:?}");
        assert!(
            error.to_string().contains("nests deeper than 64"),
            "{error}"
        );

        let quoted = EXAMPLE_YAML.replace(
            "system: You are a meticulous code reviewer. Answer only with JSON findings.",
            &format!("system: '{} it''s {}'", "[".repeat(200), "{".repeat(200)),
        );
        assert!(Configuration::parse(&quoted, Format::Yaml).is_ok());
        let commented = format!("# {}\n{EXAMPLE_YAML}", "[".repeat(200));
        assert!(Configuration::parse(&commented, Format::Yaml).is_ok());
        // An apostrophe in a plain scalar opens no quote to hide a bomb in.
        let hidden = format!(
            "name: it's\nmodels: {}{}\n",
            "[".repeat(100_000),
            "]".repeat(100_000)
        );
        let error = Configuration::parse(&hidden, Format::Yaml).unwrap_err();
        assert!(
            error.to_string().contains("nests deeper than 64"),
            "{error}"
        );
    }

    #[test]
    fn syntax_errors_are_malformed_not_invalid() {
        let error = Configuration::parse("{\"name\": ", Format::Json).unwrap_err();
        assert!(matches!(error, Error::Malformed(_)), "{error:?}");
    }
}
