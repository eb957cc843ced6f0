//! What happened, in words every layer shares: the status of a finding or
//! a guardrail change, what an action did, and the process's exit codes.
//! A leaf: it imports nothing from the crate.

/// Where a finding or a change stands after a sweep.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Would run (dry run), waits for its grace period, or is reported only.
    Planned,
    Done,
    Skipped,
    Failed,
}

impl Status {
    pub fn name(self) -> &'static str {
        match self {
            Status::Planned => "planned",
            Status::Done => "done",
            Status::Skipped => "skipped",
            Status::Failed => "failed",
        }
    }
}

/// Whether a finding's saving will happen: the three parts of a report's
/// total, never summed into one headline.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Standing {
    /// A change that runs (a dry run: would run) or ran.
    WillChange,
    /// A person decides: a report-only policy, or a change held by a
    /// circuit breaker, a grace period, a review or a failure.
    #[default]
    NeedsDecision,
    /// Protected, opted out, refused by its type, gone, or no longer
    /// matching: nothing will happen, by design.
    LeftAlone,
}

impl Standing {
    pub fn as_str(self) -> &'static str {
        match self {
            Standing::WillChange => "will-change",
            Standing::NeedsDecision => "needs-decision",
            Standing::LeftAlone => "left-alone",
        }
    }
}

/// Whether an account of an organization could be reached and swept.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AccountStatus {
    Ok,
    Failed,
    /// Listed only (`accounts` without `--check`).
    #[serde(rename = "not checked")]
    NotChecked,
}

impl AccountStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            AccountStatus::Ok => "ok",
            AccountStatus::Failed => "failed",
            AccountStatus::NotChecked => "not checked",
        }
    }
}

impl std::fmt::Display for AccountStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// As written in the report (tests compare with the text).
impl PartialEq<&str> for AccountStatus {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

/// What happened when an action ran.
#[derive(Clone, Debug, PartialEq)]
pub enum ActionResult {
    /// AWS changed; the message says how.
    Done(String),
    /// Nothing to change (the resource is gone, or already as wanted).
    AlreadyDone(String),
}

/// What a resource type's `recover` did about a change that a failure or
/// a crash left half done (a resize stopped but not started).
#[derive(Clone, Debug, PartialEq)]
pub enum Repair {
    /// Put right; the message says how.
    Repaired(String),
    /// Still half done, and why: the journal keeps the change open and the
    /// next run tries again.
    StillHalfDone(String),
}

/// Exit codes, documented in the README.
pub mod exit {
    pub const OK: u8 = 0;
    /// Invalid policies, or the sweep could not run at all (nothing was changed).
    pub const FAILED: u8 = 1;
    /// A listing or an action failed; the report says which.
    pub const ERRORS: u8 = 3;
    /// A policy's circuit breaker tripped; it applied nothing.
    pub const BREAKER: u8 = 4;
}
