//! The states the platform stores and its APIs show, each an enum: the
//! servers write them, the clients (the gate, the CLI, the tests) read them
//! back as the same type, and with the `sqlx` feature the store maps each
//! to its `TEXT` column once, whose `CHECK` constraint lists the values
//! (a store test holds the two to agree).

/// Declares an enum stored as text: its variants with their stored names,
/// `ALL`, `as_str`, `parse`, `Display`, serde in snake case, and (with
/// the `sqlx` feature, which the store turns on) sqlx's `Type`, `Encode`
/// and `Decode` for PostgreSQL text. A stored
/// value the enum does not know fails to decode, naming it.
macro_rules! text_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $($(#[$variant_meta:meta])* $variant:ident = $text:literal,)+
        }
    ) => {
        $(#[$meta])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, Hash,
            serde::Serialize, serde::Deserialize, utoipa::ToSchema,
        )]
        // The stored names are the variants in snake case, as serde and the
        // OpenAPI schema spell them; a test holds the two to agree.
        #[serde(rename_all = "snake_case")]
        pub enum $name {
            $($(#[$variant_meta])* $variant,)+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [Self] = &[$(Self::$variant),+];

            /// The stored name.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $text,)+
                }
            }

            pub fn parse(raw: &str) -> Option<Self> {
                match raw {
                    $($text => Some(Self::$variant),)+
                    _ => None,
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        #[cfg(feature = "sqlx")]
        impl sqlx::Type<sqlx::Postgres> for $name {
            fn type_info() -> sqlx::postgres::PgTypeInfo {
                <&str as sqlx::Type<sqlx::Postgres>>::type_info()
            }

            fn compatible(ty: &sqlx::postgres::PgTypeInfo) -> bool {
                <&str as sqlx::Type<sqlx::Postgres>>::compatible(ty)
            }
        }

        #[cfg(feature = "sqlx")]
        impl sqlx::Encode<'_, sqlx::Postgres> for $name {
            fn encode_by_ref(
                &self,
                buf: &mut sqlx::postgres::PgArgumentBuffer,
            ) -> Result<sqlx::encode::IsNull, sqlx::error::BoxDynError> {
                <&str as sqlx::Encode<sqlx::Postgres>>::encode(self.as_str(), buf)
            }
        }

        #[cfg(feature = "sqlx")]
        impl<'r> sqlx::Decode<'r, sqlx::Postgres> for $name {
            fn decode(
                value: sqlx::postgres::PgValueRef<'r>,
            ) -> Result<Self, sqlx::error::BoxDynError> {
                let raw = <&str as sqlx::Decode<sqlx::Postgres>>::decode(value)?;
                Self::parse(raw).ok_or_else(|| {
                    format!(concat!("`{}` is not a ", stringify!($name)), raw).into()
                })
            }
        }
    };
}

text_enum! {
    /// Where a run is: `experiments_v1.evaluation_runs.status`.
    pub enum RunStatus {
        Queued = "queued",
        Running = "running",
        Finished = "finished",
        Failed = "failed",
        Cancelled = "cancelled",
    }
}

impl RunStatus {
    /// Still to be worked: queued, or running on some replica.
    pub fn is_active(self) -> bool {
        matches!(self, Self::Queued | Self::Running)
    }
}

text_enum! {
    /// Why a finished run stopped: `experiments_v1.evaluation_runs.stop_reason`.
    pub enum StopReason {
        /// The judge decided; the remaining cases were not needed.
        Decided = "decided",
        /// Every case of the run was used.
        Exhausted = "exhausted",
    }
}

text_enum! {
    /// A deployment's place in the promotion saga and after it:
    /// `production.deployments.status`.
    pub enum DeploymentStatus {
        Pending = "pending",
        SmokeTesting = "smoke_testing",
        SmokePassed = "smoke_passed",
        /// Live requests are mirrored to it after users are answered.
        Shadowing = "shadowing",
        /// It answers a share of live requests.
        Canary = "canary",
        Active = "active",
        Superseded = "superseded",
        RolledBack = "rolled_back",
        Failed = "failed",
    }
}

text_enum! {
    /// What the gate did about a decision: `gate.decisions.outcome`.
    pub enum Outcome {
        /// PASS: a pending deployment is on its way to V2.
        Promoting = "promoting",
        /// INCONCLUSIVE: the experiment stays in V1 for more cases.
        KeptInV1 = "kept_in_v1",
        Quarantined = "quarantined",
        Blacklisted = "blacklisted",
    }
}

text_enum! {
    /// Why the gate judged: `gate.decisions.trigger`.
    pub enum Trigger {
        /// Its schedule found a finished, unjudged run.
        Schedule = "schedule",
        /// An admin asked.
        Request = "request",
    }
}

text_enum! {
    /// How one review request ended: `production.code_reviews.outcome`.
    pub enum ReviewOutcome {
        /// A well-formed review came back.
        Ok = "ok",
        /// No model produced one.
        Error = "error",
    }
}

text_enum! {
    /// How a rollout ended: `production.rollouts.outcome`.
    pub enum RolloutOutcome {
        /// The candidate serves everyone.
        Promoted = "promoted",
        /// A step failed or an admin aborted: the stable configuration
        /// serves everyone again.
        Aborted = "aborted",
    }
}

text_enum! {
    /// Why a file in a reviewed diff was not reviewed.
    pub enum SkipReason {
        /// A binary file: there is no text to read.
        Binary = "binary",
        /// Deleted: there is no new file.
        Deleted = "deleted",
        /// The change adds no line (a rename, a mode change, deletions only).
        NothingAdded = "nothing_added",
        /// Its extension names no language trizone reviews.
        UnknownLanguage = "unknown_language",
    }
}

text_enum! {
    /// How one case of a run ended, as its results list it.
    pub enum CaseOutcome {
        /// Every expected finding matched and no false positive.
        Correct = "correct",
        /// Reviewed, but a finding was missed or invented.
        Wrong = "wrong",
        /// No review: the models failed (`error_kind` says how).
        Error = "error",
        /// Never reviewed: the run was decided before it got there.
        NotNeeded = "not_needed",
    }
}

text_enum! {
    /// How an answer that broke the output contract was still read exactly:
    /// `experiments_v1.code_analyses.format_recovery`.
    pub enum FormatRecovery {
        /// The review object alone inside a Markdown code fence.
        Fenced = "fenced",
    }
}
