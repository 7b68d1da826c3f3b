//! Prompt templates: `{{code}}`, `{{language}}` and `{{path}}` placeholders,
//! checked when a configuration is registered and rendered in one pass.

/// A placeholder a template may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placeholder {
    Code,
    Language,
    Path,
}

impl Placeholder {
    const ALL: [(&'static str, Self); 3] = [
        ("code", Self::Code),
        ("language", Self::Language),
        ("path", Self::Path),
    ];
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece<'a> {
    Text(&'a str),
    Slot(Placeholder),
}

/// A parsed template. Rendering substitutes each placeholder once, so code
/// that itself contains `{{path}}` is never expanded a second time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template<'a> {
    pieces: Vec<Piece<'a>>,
}

/// What a template is rendered with.
#[derive(Debug, Clone, Copy)]
pub struct PromptInput<'a> {
    pub code: &'a str,
    pub language: &'a str,
    pub path: &'a str,
}

impl<'a> Template<'a> {
    /// Parses a template; the error says what is wrong and what is allowed.
    pub fn parse(source: &'a str) -> Result<Self, String> {
        let mut pieces = Vec::new();
        let mut rest = source;
        let mut has_code = false;
        while let Some(open) = rest.find("{{") {
            if open > 0 {
                pieces.push(Piece::Text(&rest[..open]));
            }
            let after = &rest[open + 2..];
            let close = after
                .find("}}")
                .ok_or_else(|| "has a `{{` that is never closed by `}}`".to_string())?;
            let name = after[..close].trim();
            let placeholder = Placeholder::ALL
                .iter()
                .find(|(known, _)| *known == name)
                .map(|(_, placeholder)| *placeholder)
                .ok_or_else(|| {
                    format!(
                        "uses unknown placeholder `{{{{{name}}}}}`; allowed: {{{{code}}}}, {{{{language}}}}, {{{{path}}}}"
                    )
                })?;
            has_code |= placeholder == Placeholder::Code;
            pieces.push(Piece::Slot(placeholder));
            rest = &after[close + 2..];
        }
        if !rest.is_empty() {
            pieces.push(Piece::Text(rest));
        }
        if !has_code {
            return Err("must contain `{{code}}`: the code under review goes there".into());
        }
        Ok(Self { pieces })
    }

    pub fn render(&self, input: PromptInput<'_>) -> String {
        let text = |piece: &Piece<'a>| match piece {
            Piece::Text(text) => *text,
            Piece::Slot(Placeholder::Code) => input.code,
            Piece::Slot(Placeholder::Language) => input.language,
            Piece::Slot(Placeholder::Path) => input.path,
        };
        // Sized once: the code may be 256 KiB, and growing by doubling
        // would copy it again at each step.
        let mut out = String::with_capacity(self.pieces.iter().map(|p| text(p).len()).sum());
        for piece in &self.pieces {
            out.push_str(text(piece));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const INPUT: PromptInput<'static> = PromptInput {
        code: "x = '{{path}}'",
        language: "python",
        path: "a.py",
    };

    #[test]
    fn renders_each_placeholder_once() {
        let template = Template::parse("Review {{ language }} file {{path}}:\n{{code}}").unwrap();
        assert_eq!(
            template.render(INPUT),
            "Review python file a.py:\nx = '{{path}}'"
        );
    }

    #[test]
    fn rejects_unknown_unclosed_and_codeless_templates() {
        let unknown = Template::parse("{{code}} {{author}}").unwrap_err();
        assert!(
            unknown.contains("`{{author}}`") && unknown.contains("{{language}}"),
            "{unknown}"
        );
        assert!(
            Template::parse("{{code}} {{path")
                .unwrap_err()
                .contains("never closed")
        );
        assert!(
            Template::parse("{{path}}")
                .unwrap_err()
                .contains("{{code}}")
        );
    }
}
