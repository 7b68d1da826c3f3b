//! The shape a request asks an answer in, read and checked as the real
//! APIs read and check it: OpenAI's `response_format`, Anthropic's `tools`,
//! `tool_choice` and `output_config`.

use serde_json::Value;

/// The shape a request asked the answer in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Shape {
    /// Free text: the prompt is all the model was told.
    Text,
    /// Text that is exactly an instance of a JSON schema (OpenAI's
    /// `response_format`, Anthropic's `output_format`).
    Schema,
    /// A call of this tool, among those offered.
    Tool(String),
}

/// `response_format`: `text` and `json_object` leave the form to the model;
/// a `json_schema` marked strict must be in the strict subset, or OpenAI
/// refuses the request before any model sees it.
pub fn openai_shape(format: &Value) -> Result<Shape, String> {
    match format["type"].as_str() {
        None | Some("text" | "json_object") => Ok(Shape::Text),
        Some("json_schema") => {
            let spec = &format["json_schema"];
            let Some(name) = spec["name"].as_str() else {
                return Err(
                    "Missing required parameter: 'response_format.json_schema.name'.".into(),
                );
            };
            if spec["strict"] == Value::Bool(true)
                && let Some(problem) = strict_problem(&spec["schema"])
            {
                return Err(format!(
                    "Invalid schema for response_format '{name}': {problem}"
                ));
            }
            Ok(Shape::Schema)
        }
        Some(other) => Err(format!(
            "Invalid value: '{other}'. Supported values are: 'json_object', 'json_schema', and 'text'."
        )),
    }
}

/// What OpenAI's strict mode refuses: an object that allows properties it
/// does not list, or that leaves one of them optional.
fn strict_problem(schema: &Value) -> Option<String> {
    match schema {
        Value::Object(map) => {
            if map.get("type").and_then(Value::as_str) == Some("object") {
                if map.get("additionalProperties") != Some(&Value::Bool(false)) {
                    return Some(
                        "'additionalProperties' is required to be supplied and to be false.".into(),
                    );
                }
                let required: Vec<&str> = map
                    .get("required")
                    .and_then(Value::as_array)
                    .map(|r| r.iter().filter_map(Value::as_str).collect())
                    .unwrap_or_default();
                let properties = map.get("properties").and_then(Value::as_object);
                if let Some(missing) = properties
                    .into_iter()
                    .flat_map(|p| p.keys())
                    .find(|key| !required.contains(&key.as_str()))
                {
                    return Some(format!(
                        "'required' is required to be supplied and to be an array including every key in properties. Missing '{missing}'."
                    ));
                }
            }
            map.values().find_map(strict_problem)
        }
        Value::Array(items) => items.iter().find_map(strict_problem),
        _ => None,
    }
}

/// `tools` and `tool_choice` (or `output_config`), checked as Anthropic
/// checks them: every tool named with an object `input_schema`, and a
/// forced tool among them.
pub fn anthropic_shape(request: &Value) -> Result<Shape, String> {
    let Some(tools) = request["tools"].as_array() else {
        // `output_config.format` is the current spelling; `output_format`
        // the beta's.
        let schema = request["output_config"]["format"]["type"] == "json_schema"
            || request["output_format"]["type"] == "json_schema";
        return Ok(if schema { Shape::Schema } else { Shape::Text });
    };
    let mut names = Vec::new();
    for (i, tool) in tools.iter().enumerate() {
        let Some(name) = tool["name"].as_str().filter(|n| !n.is_empty()) else {
            return Err(format!("tools.{i}.name: Field required"));
        };
        if tool["input_schema"]["type"] != "object" {
            return Err(format!(
                "tools.{i}.input_schema.type: Input should be 'object'"
            ));
        }
        names.push(name);
    }
    let choice = &request["tool_choice"];
    match choice["type"].as_str() {
        Some("none") => Ok(Shape::Text),
        Some("tool") => match choice["name"].as_str() {
            Some(name) if names.contains(&name) => Ok(Shape::Tool(name.to_owned())),
            name => Err(format!(
                "tool_choice: tool `{}` is not among the tools offered",
                name.unwrap_or_default()
            )),
        },
        _ => names
            .first()
            .map(|name| Shape::Tool((*name).to_owned()))
            .ok_or_else(|| "tools: List should have at least 1 item".to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_strict_schema_must_close_and_require_every_object() {
        let open = json!({"type": "object", "properties": {"a": {"type": "string"}}});
        assert!(
            strict_problem(&open)
                .unwrap()
                .contains("additionalProperties")
        );
        let optional = json!({"type": "object", "properties": {"a": {}, "b": {}}, "required": ["a"], "additionalProperties": false});
        assert!(strict_problem(&optional).unwrap().contains("Missing 'b'"));
        let nested = json!({"type": "object", "additionalProperties": false, "required": ["x"], "properties": {"x": {"type": "array", "items": open}}});
        assert!(strict_problem(&nested).is_some());
        let closed = json!({"type": "object", "additionalProperties": false, "required": ["a"], "properties": {"a": {"type": "string"}}});
        assert_eq!(strict_problem(&closed), None);
        // Only a schema marked strict is held to it.
        let loose = json!({"type": "json_schema", "json_schema": {"name": "n", "schema": open}});
        assert_eq!(openai_shape(&loose), Ok(Shape::Schema));
        assert_eq!(openai_shape(&Value::Null), Ok(Shape::Text));
        assert!(openai_shape(&json!({"type": "xml"})).is_err());
    }

    #[test]
    fn a_forced_tool_must_be_one_offered() {
        let tool = json!({"name": "submit_review", "input_schema": {"type": "object"}});
        let forced = |name: &str| json!({"tools": [tool.clone()], "tool_choice": {"type": "tool", "name": name}});
        assert_eq!(
            anthropic_shape(&forced("submit_review")),
            Ok(Shape::Tool("submit_review".into()))
        );
        assert!(anthropic_shape(&forced("other")).is_err());
        assert_eq!(
            anthropic_shape(&json!({"tools": [tool]})),
            Ok(Shape::Tool("submit_review".into()))
        );
        assert!(anthropic_shape(&json!({"tools": [{"name": "t"}]})).is_err());
        let schema = json!({"output_config": {"format": {"type": "json_schema", "schema": {}}}});
        assert_eq!(anthropic_shape(&schema), Ok(Shape::Schema));
        assert_eq!(anthropic_shape(&json!({})), Ok(Shape::Text));
    }
}
