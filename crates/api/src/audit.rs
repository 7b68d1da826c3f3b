//! The audit trail as the archive shows it: events, and whether the hash
//! chain they belong to verifies.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// One event of the trail.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEvent {
    pub seq: i64,
    pub occurred_at: DateTime<Utc>,
    pub db_role: String,
    pub actor: String,
    pub action: String,
    pub subject: String,
    pub details: serde_json::Value,
    /// The event's link in the chain, hex.
    pub hash: String,
}

/// What is wrong with the first bad row of a chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "problem")]
pub enum ChainProblem {
    /// The row's content no longer hashes to its stored hash (altered).
    HashMismatch,
    /// The row does not point at the previous row's hash (re-linked).
    BrokenLink,
    /// Rows before this one are missing (deleted).
    Gap { expected_seq: i64 },
    /// The chain head records events after the last row (tail deleted).
    TruncatedTail { head_seq: i64 },
}

impl std::fmt::Display for ChainProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::HashMismatch => {
                f.write_str("its content does not match its hash: the row was altered")
            }
            Self::BrokenLink => f.write_str("it does not link to the previous row's hash"),
            Self::Gap { expected_seq } => write!(f, "event {expected_seq} is missing before it"),
            Self::TruncatedTail { head_seq } => {
                write!(
                    f,
                    "the chain head records {head_seq} events: the rows after it were deleted"
                )
            }
        }
    }
}

/// The outcome of verifying the chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "status")]
pub enum ChainReport {
    Intact {
        events: i64,
        head: String,
    },
    Broken {
        /// The first bad row.
        seq: i64,
        #[serde(flatten)]
        problem: ChainProblem,
    },
}
