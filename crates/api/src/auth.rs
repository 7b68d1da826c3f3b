//! Who a caller is, as every zone knows them: a role, and the principal
//! the operator bound the key to. The console asks V1 (`GET /api/v1/me`)
//! to know which buttons a person's token may use.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Asks V2 for reviews.
    EndUser,
    /// Registers and evaluates configurations in V1.
    Experimenter,
    /// Everything an experimenter can, plus gate and quarantine operations.
    Admin,
    /// The gate calling V2: smoke tests of the deployment it promotes.
    Gate,
    /// V1 calling V3: reading one record, to re-evaluate it.
    Experimentation,
    /// Prometheus: `/metrics` and nothing else.
    Scraper,
}

impl Role {
    pub const ALL: [Self; 6] = [
        Self::EndUser,
        Self::Experimenter,
        Self::Admin,
        Self::Gate,
        Self::Experimentation,
        Self::Scraper,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::EndUser => "end_user",
            Self::Experimenter => "experimenter",
            Self::Admin => "admin",
            Self::Gate => "gate",
            Self::Experimentation => "experimentation",
            Self::Scraper => "scraper",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == raw)
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The caller as a zone knows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Me {
    pub role: Role,
    /// The person or team the key is bound to (`key-<id>` for an unnamed key).
    pub principal: String,
}
