//! Cases with known findings, so the simulator can answer with a chosen quality.

use serde::Deserialize;
use trizone_core::ExpectedFinding;

/// One dataset line (the platform's dataset format; unused fields ignored).
#[derive(Debug, Clone, Deserialize)]
pub struct Case {
    pub id: String,
    pub code: String,
    #[serde(default)]
    pub expected_findings: Vec<ExpectedFinding>,
}

#[derive(Debug, Clone, Default)]
pub struct Dataset {
    /// Longest code first, so a case whose code contains another's wins.
    cases: Vec<Case>,
}

impl Dataset {
    /// Parses JSON lines; the error names the line.
    pub fn parse(jsonl: &str) -> Result<Self, String> {
        let mut cases = Vec::new();
        for (i, line) in jsonl
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
        {
            let case: Case =
                serde_json::from_str(line).map_err(|e| format!("line {}: {e}", i + 1))?;
            if case.code.trim().is_empty() {
                return Err(format!("line {}: case {} has no code", i + 1, case.id));
            }
            cases.push(case);
        }
        cases.sort_by_key(|c| std::cmp::Reverse(c.code.len()));
        Ok(Self { cases })
    }

    pub fn len(&self) -> usize {
        self.cases.len()
    }

    pub fn is_empty(&self) -> bool {
        self.cases.is_empty()
    }

    /// The case whose code the prompt carries.
    pub fn find(&self, prompt: &str) -> Option<&Case> {
        self.cases.iter().find(|c| prompt.contains(c.code.as_str()))
    }
}
