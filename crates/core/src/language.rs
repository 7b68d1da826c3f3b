//! The languages V2 reviews. A closed list, so a typo is a clear 422 that
//! names the accepted values rather than a prompt about "pyhton".

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(
    feature = "sqlx",
    derive(sqlx::Type),
    sqlx(type_name = "text", rename_all = "lowercase")
)]
pub enum Language {
    C,
    Cpp,
    Csharp,
    Go,
    Java,
    Javascript,
    Kotlin,
    Php,
    Python,
    Ruby,
    Rust,
    Scala,
    Shell,
    Sql,
    Swift,
    Typescript,
}

impl Language {
    /// Every language, in the order the accepted values are listed.
    pub const ALL: &'static [Self] = &[
        Self::C,
        Self::Cpp,
        Self::Csharp,
        Self::Go,
        Self::Java,
        Self::Javascript,
        Self::Kotlin,
        Self::Php,
        Self::Python,
        Self::Ruby,
        Self::Rust,
        Self::Scala,
        Self::Shell,
        Self::Sql,
        Self::Swift,
        Self::Typescript,
    ];

    /// The name prompts and records use (the serialized form).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::C => "c",
            Self::Cpp => "cpp",
            Self::Csharp => "csharp",
            Self::Go => "go",
            Self::Java => "java",
            Self::Javascript => "javascript",
            Self::Kotlin => "kotlin",
            Self::Php => "php",
            Self::Python => "python",
            Self::Ruby => "ruby",
            Self::Rust => "rust",
            Self::Scala => "scala",
            Self::Shell => "shell",
            Self::Sql => "sql",
            Self::Swift => "swift",
            Self::Typescript => "typescript",
        }
    }
}

impl Language {
    /// The language named `raw` as `as_str` writes it.
    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|l| l.as_str() == raw)
    }

    /// The language of a file, by the extension of its `path`; `None` for
    /// an extension trizone does not review.
    pub fn of_path(path: &str) -> Option<Self> {
        let name = path.rsplit(['/', '\\']).next()?;
        let (stem, extension) = name.rsplit_once('.')?;
        if stem.is_empty() {
            return None;
        }
        Some(match extension.to_ascii_lowercase().as_str() {
            "c" | "h" => Self::C,
            "cc" | "cpp" | "cxx" | "hpp" | "hh" => Self::Cpp,
            "cs" => Self::Csharp,
            "go" => Self::Go,
            "java" => Self::Java,
            "js" | "mjs" | "cjs" | "jsx" => Self::Javascript,
            "kt" | "kts" => Self::Kotlin,
            "php" => Self::Php,
            "py" => Self::Python,
            "rb" => Self::Ruby,
            "rs" => Self::Rust,
            "scala" => Self::Scala,
            "sh" | "bash" => Self::Shell,
            "sql" => Self::Sql,
            "swift" => Self::Swift,
            "ts" | "tsx" => Self::Typescript,
            _ => return None,
        })
    }
}

impl std::str::FromStr for Language {
    type Err = String;

    /// As serialized; the error lists the accepted names.
    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .iter()
            .copied()
            .find(|l| l.as_str() == raw)
            .ok_or_else(|| {
                let names: Vec<&str> = Self::ALL.iter().map(|l| l.as_str()).collect();
                format!(
                    "`{raw}` is not a language trizone reviews; use one of {}",
                    names.join(", ")
                )
            })
    }
}

impl std::fmt::Display for Language {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_names_list_the_accepted_ones() {
        let python: Language = serde_json::from_str("\"python\"").unwrap();
        assert_eq!(python, Language::Python);
        assert_eq!(serde_json::to_string(&Language::Cpp).unwrap(), "\"cpp\"");
        let error = serde_json::from_str::<Language>("\"cobol\"")
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("cobol") && error.contains("typescript"),
            "{error}"
        );
    }

    #[test]
    fn a_path_names_its_language_by_extension() {
        assert_eq!(Language::of_path("src/app.py"), Some(Language::Python));
        assert_eq!(Language::of_path("lib/Main.TS"), Some(Language::Typescript));
        assert_eq!(Language::of_path("a\\b.rs"), Some(Language::Rust));
        assert_eq!(Language::of_path("README.md"), None);
        assert_eq!(Language::of_path("Makefile"), None);
        // A dotfile has a name, not an extension.
        assert_eq!(Language::of_path("dir/.py"), None);
    }

    #[test]
    fn every_language_parses_from_its_name() {
        for language in Language::ALL {
            assert_eq!(language.as_str().parse::<Language>(), Ok(*language));
        }
        let error = "pyhton".parse::<Language>().unwrap_err();
        assert!(
            error.contains("pyhton") && error.contains("python"),
            "{error}"
        );
    }
}
