//! The daemon's own settings (`--config costguard.yaml`), apart from the
//! policies: where things are, when sweeps run, where it listens, and how
//! `notify` reaches people. Paths are relative to this file's folder.
//!
//! ```yaml
//! policies: [policies/]             # files or folders
//! regions: [us-east-1, eu-west-1]   # default: the SDK's region
//! state-dir: /var/lib/costguard     # journal, caches (default: $STATE_DIRECTORY, ...)
//! report-dir: /var/lib/costguard/report   # default: report/ in the state folder
//! listen: 127.0.0.1:9464            # /healthz /readyz /metrics /report
//! http-token-file: token            # or http-token-env: bearer token for /report and /metrics
//! dry-run: false                    # true: plan and report only, everywhere
//! schedule: "0 7 * * * *"           # cron (sec min hour day month weekday; 5 fields = minute first; at most once a minute)
//!                                   # a policy's own `schedule:` overrides it
//! email:
//!   from: costguard@example.com
//!   transport: smtp                 # smtp | ses
//!   smtp:
//!     host: smtp.example.com
//!     security: starttls            # starttls (default, port 587) | tls (465) | none (25, local relay)
//!     # port: 587
//!     username-env: COSTGUARD_SMTP_USERNAME   # or username-file
//!     password-env: COSTGUARD_SMTP_PASSWORD   # or password-file: /run/credentials/...
//!   # ses: {region: us-east-1, configuration-set: costguard}
//!   to: [platform@example.com]      # for `notify` without `to`, and when an owner tag is unusable
//!   owner-tags: [owner, contact]    # where `resource-owner` looks, in order
//!   owner-domains: [example.com]    # an owner tag naming another domain goes to `to` instead
//!   quiet-hours: 24                 # the same finding to the same person at most once per period
//!   # templates: /etc/costguard/templates   # overrides subject.txt.j2, digest.txt.j2, digest.html.j2
//!   # report-url: https://costguard.internal/report
//! organization:                     # every sweep covers these accounts, each through its member role
//!   # ous: [ou-ab12-cd34ef56]       # default: every active account of the organization
//!   # accounts-file: accounts.yml   # or c7n-org's accounts file instead of Organizations
//!   # accounts: ["111111111111"]    # only these; exclude: [...] leaves some out
//!   member-role: CostguardMember
//!   # external-id-env: COSTGUARD_EXTERNAL_ID   # or external-id-file
//!   # max-accounts: 16              # swept at once
//! state-keep-days: 400              # history (runs, actions, notices, alerts) kept; the savings ledger stays whole
//! ```
//!
//! Credentials never live in this file: only the names of the environment
//! variables or files that hold them.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::error::{ConfigError, ConfigErrors};
use super::numbers::{count, positive};
pub use super::schedule::normalize_schedule;
use super::secret::secret;
pub use super::secret::SecretSource;
use crate::actions::notify::is_email_address;
use crate::yaml::{self, DecodeError, Located};

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct DaemonConfigSpec {
    #[serde(default)]
    pub policies: Option<Vec<Located<String>>>,
    #[serde(default)]
    pub regions: Vec<Located<String>>,
    #[serde(default)]
    pub state_dir: Option<Located<String>>,
    #[serde(default)]
    pub report_dir: Option<Located<String>>,
    #[serde(default)]
    pub listen: Option<Located<String>>,
    #[serde(default)]
    pub http_token_env: Option<Located<String>>,
    #[serde(default)]
    pub http_token_file: Option<Located<String>>,
    #[serde(default)]
    pub dry_run: Option<bool>,
    /// `required`: scheduled sweeps only plan; a person applies the saved plan.
    #[serde(default)]
    pub approval: Option<Located<Approval>>,
    #[serde(default)]
    pub schedule: Option<Located<String>>,
    #[serde(default)]
    pub protect_tag: Option<Located<String>>,
    #[serde(default)]
    pub prices: Option<Located<PriceSource>>,
    #[serde(default)]
    pub email: Option<Located<EmailSpec>>,
    #[serde(default)]
    pub time_limits: Option<Located<TimeLimitsSpec>>,
    #[serde(default)]
    pub organization: Option<Located<OrganizationSpec>>,
    /// Days of history the state database keeps (runs, actions, notices, alerts).
    #[serde(default)]
    pub state_keep_days: Option<Located<f64>>,
    /// CloudTrail events of creations, from an SQS queue.
    #[serde(default)]
    pub events: Option<Located<super::events::EventsSpec>>,
}

/// `organization:`: every sweep covers the accounts of an AWS Organization
/// (or of an accounts file), each through its member role, as
/// `costguard sweep --organization` does.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct OrganizationSpec {
    /// Only these OUs and their children (default: every active account).
    #[serde(default)]
    pub ous: Vec<Located<String>>,
    /// An accounts file (c7n-org's accounts.yml) instead of Organizations.
    #[serde(default)]
    pub accounts_file: Option<Located<String>>,
    /// Only these accounts.
    #[serde(default)]
    pub accounts: Vec<Located<super::accounts::IdSpec>>,
    #[serde(default)]
    pub exclude: Vec<Located<super::accounts::IdSpec>>,
    #[serde(default)]
    pub member_role: Option<Located<String>>,
    #[serde(default)]
    pub external_id_env: Option<Located<String>>,
    #[serde(default)]
    pub external_id_file: Option<Located<String>>,
    #[serde(default)]
    pub max_accounts: Option<Located<f64>>,
}

impl OrganizationSpec {
    fn compile(&self, base: &Path, errors: &mut Vec<DecodeError>) -> super::accounts::OrgSettings {
        use super::accounts::{account_id, OrgSettings, DEFAULT_MAX_ACCOUNTS, DEFAULT_MEMBER_ROLE, MAX_ACCOUNTS};
        if let (Some(file), false) = (&self.accounts_file, self.ous.is_empty()) {
            errors.push(DecodeError::new(file.loc, "organization.accounts-file", "give ous or accounts-file, not both"));
        }
        let ids = |list: &[Located<super::accounts::IdSpec>], key: &str, errors: &mut Vec<DecodeError>| -> Vec<String> {
            list.iter().enumerate().filter_map(|(i, id)| account_id(id, &format!("organization.{key}[{i}]"), errors)).collect()
        };
        let (only, exclude) = (ids(&self.accounts, "accounts", errors), ids(&self.exclude, "exclude", errors));
        for (i, ou) in self.ous.iter().enumerate() {
            let v = ou.value.trim();
            if !(v.starts_with("ou-") || v.starts_with("r-")) {
                errors.push(DecodeError::new(
                    ou.loc,
                    format!("organization.ous[{i}]"),
                    format!("expected an OU id such as ou-ab12-cd34ef56 (or a root r-...), found {v:?}"),
                ));
            }
        }
        let member_role = match &self.member_role {
            Some(r) if r.value.trim().is_empty() || !r.value.trim().chars().all(|c| c.is_ascii_alphanumeric() || "+=,.@-_/".contains(c)) => {
                errors.push(DecodeError::new(r.loc, "organization.member-role", format!("expected a role name such as CostguardMember, found {:?}", r.value)));
                DEFAULT_MEMBER_ROLE.to_string()
            }
            Some(r) => r.value.trim().to_string(),
            None => DEFAULT_MEMBER_ROLE.to_string(),
        };
        let max_accounts = match &self.max_accounts {
            Some(m) if !(m.value.fract() == 0.0 && (1.0..=MAX_ACCOUNTS as f64).contains(&m.value)) => {
                errors.push(DecodeError::new(m.loc, "organization.max-accounts", format!("expected a whole number from 1 to {MAX_ACCOUNTS}, found {m}")));
                DEFAULT_MAX_ACCOUNTS
            }
            Some(m) => m.value as usize,
            None => DEFAULT_MAX_ACCOUNTS,
        };
        let external_id = secret(&self.external_id_env, &self.external_id_file, "organization", "external-id", errors).map(|s| match s {
            SecretSource::File(f) => SecretSource::File(base.join(f)),
            env => env,
        });
        OrgSettings {
            organization: self.accounts_file.is_none(),
            ous: self.ous.iter().map(|o| o.value.trim().to_string()).collect(),
            accounts_file: self.accounts_file.as_ref().map(|f| base.join(f.value.trim())),
            only,
            exclude,
            shard: None,
            member_role,
            external_id,
            max_accounts,
        }
    }
}

/// How long costguard waits: on each AWS call, and for a whole sweep.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct TimeLimitsSpec {
    #[serde(default)]
    pub aws_connect_seconds: Option<Located<f64>>,
    #[serde(default)]
    pub aws_read_seconds: Option<Located<f64>>,
    #[serde(default)]
    pub aws_attempt_seconds: Option<Located<f64>>,
    #[serde(default)]
    pub aws_call_seconds: Option<Located<f64>>,
    /// Each API's pace in one account and region (a burst of twice as
    /// many), where AWS documents none.
    #[serde(default)]
    pub aws_calls_per_second: Option<Located<f64>>,
    #[serde(default)]
    pub sweep_minutes: Option<Located<f64>>,
}

/// The time limits in force.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TimeLimits {
    pub aws: crate::aws::CallLimits,
    /// A whole sweep: past it, the sweep stops as on SIGTERM.
    pub sweep: std::time::Duration,
}

/// A sweep normally takes seconds to minutes; an hour means something hangs.
pub const DEFAULT_SWEEP_MINUTES: f64 = 60.0;

impl Default for TimeLimits {
    fn default() -> Self {
        TimeLimits { aws: crate::aws::CallLimits::default(), sweep: std::time::Duration::from_secs_f64(DEFAULT_SWEEP_MINUTES * 60.0) }
    }
}

impl TimeLimitsSpec {
    fn compile(&self, errors: &mut Vec<DecodeError>) -> TimeLimits {
        let defaults = TimeLimits::default();
        let seconds = |v: &Option<Located<f64>>, key: &str, default: std::time::Duration, max: f64, errors: &mut Vec<DecodeError>| {
            std::time::Duration::from_secs_f64(positive(v, &format!("time-limits.{key}"), default.as_secs_f64(), max, errors))
        };
        let aws = crate::aws::CallLimits {
            connect: seconds(&self.aws_connect_seconds, "aws-connect-seconds", defaults.aws.connect, 300.0, errors),
            read: seconds(&self.aws_read_seconds, "aws-read-seconds", defaults.aws.read, 3600.0, errors),
            attempt: seconds(&self.aws_attempt_seconds, "aws-attempt-seconds", defaults.aws.attempt, 3600.0, errors),
            call: seconds(&self.aws_call_seconds, "aws-call-seconds", defaults.aws.call, 3600.0, errors),
            rate: crate::aws::pace::Rate::per_second(positive(
                &self.aws_calls_per_second,
                "time-limits.aws-calls-per-second",
                defaults.aws.rate.per_second,
                10_000.0,
                errors,
            )),
        };
        let minutes = positive(&self.sweep_minutes, "time-limits.sweep-minutes", DEFAULT_SWEEP_MINUTES, 24.0 * 60.0, errors);
        TimeLimits { aws, sweep: std::time::Duration::from_secs_f64(minutes * 60.0) }
    }
}

/// Whether scheduled sweeps change AWS themselves.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Approval {
    /// Sweeps act as their policies say (after grace periods).
    #[default]
    Automatic,
    /// Sweeps save their plan in the state folder (`plans/`) and change
    /// nothing; `costguard apply --config FILE PLAN` applies a reviewed one.
    Required,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PriceSource {
    /// The AWS Price List API, cached; the built-in table when it fails.
    Api,
    /// The built-in table only.
    Builtin,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct EmailSpec {
    pub from: Located<String>,
    #[serde(default)]
    pub transport: Option<Located<TransportKind>>,
    #[serde(default)]
    pub smtp: Option<Located<SmtpSpec>>,
    #[serde(default)]
    pub ses: Option<Located<SesSpec>>,
    #[serde(default)]
    pub to: Vec<Located<String>>,
    #[serde(default)]
    pub owner_tags: Option<Vec<Located<String>>>,
    /// The mail domains an owner tag may name; others go to `to`.
    #[serde(default)]
    pub owner_domains: Vec<Located<String>>,
    #[serde(default)]
    pub quiet_hours: Option<Located<f64>>,
    #[serde(default)]
    pub templates: Option<Located<String>>,
    #[serde(default)]
    pub report_url: Option<Located<String>>,
    /// Attempts per message within one sweep (default 3).
    #[serde(default)]
    pub attempts: Option<Located<i64>>,
    /// The first pause between attempts; it doubles (default 2 seconds).
    #[serde(default)]
    pub retry_seconds: Option<Located<f64>>,
    /// How long an undeliverable message is kept for later sweeps (default 7 days).
    #[serde(default)]
    pub keep_unsent_hours: Option<Located<f64>>,
    /// Findings listed in one digest; the rest are counted (default 50).
    #[serde(default)]
    pub max_items: Option<Located<i64>>,
    /// Chat and webhook channels, named as `#name` recipients.
    #[serde(default)]
    pub channels: std::collections::BTreeMap<String, Located<super::channels::ChannelSpec>>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum TransportKind {
    Smtp,
    Ses,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SmtpSecurity {
    /// Plain connection upgraded with STARTTLS; refuses to go on without it.
    Starttls,
    /// TLS from the first byte (SMTPS).
    Tls,
    /// No encryption: only for a relay on the same host or network.
    None,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct SmtpSpec {
    pub host: Located<String>,
    #[serde(default)]
    pub port: Option<Located<i64>>,
    #[serde(default)]
    pub security: Option<Located<SmtpSecurity>>,
    #[serde(default)]
    pub username_env: Option<Located<String>>,
    #[serde(default)]
    pub username_file: Option<Located<String>>,
    #[serde(default)]
    pub password_env: Option<Located<String>>,
    #[serde(default)]
    pub password_file: Option<Located<String>>,
    #[serde(default)]
    pub timeout_seconds: Option<Located<f64>>,
    #[serde(default)]
    pub message_timeout_seconds: Option<Located<f64>>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct SesSpec {
    #[serde(default)]
    pub region: Option<Located<String>>,
    #[serde(default)]
    pub configuration_set: Option<Located<String>>,
}

/// The compiled daemon settings.
#[derive(Clone, Debug)]
pub struct DaemonConfig {
    pub policies: Vec<PathBuf>,
    /// Empty: the SDK's region.
    pub regions: Vec<String>,
    /// `None`: the default state folder.
    pub state_dir: Option<PathBuf>,
    /// `None`: `report/` in the state folder.
    pub report_dir: Option<PathBuf>,
    pub listen: std::net::SocketAddr,
    /// The bearer token `/report` and `/metrics` require, if any.
    pub http_token: Option<SecretSource>,
    pub dry_run: bool,
    pub approval: Approval,
    /// Six-field cron (seconds first), for policies without their own.
    pub schedule: String,
    pub protect_tag: String,
    pub prices: PriceSource,
    pub email: Option<EmailSettings>,
    pub time_limits: TimeLimits,
    /// Sweep these accounts of an organization; `None`: the credentials' own.
    pub organization: Option<super::accounts::OrgSettings>,
    /// History older than this leaves the state database (`state-keep-days`).
    pub state_keep: chrono::Duration,
    /// Where creations are heard of (`events:`), if anywhere.
    pub events: Option<super::events::EventsSettings>,
}

impl DaemonConfig {
    /// The events queue the command line names (`--events-queue`,
    /// `COSTGUARD_EVENTS_QUEUE`: a stack passes the queue it made) over the
    /// config's, the rest of `events:` kept (or its defaults).
    pub fn with_events_queue(&mut self, queue: &str) {
        match &mut self.events {
            Some(events) => events.queue = queue.to_string(),
            None => self.events = Some(super::events::EventsSettings::for_queue(queue)),
        }
    }
}

/// `state-keep-days` unless configured: a year and a month, so that last
/// year's same month can still be looked at.
pub const DEFAULT_STATE_KEEP_DAYS: i64 = 400;
/// At most about 30 years (a larger figure would overflow dates).
const MAX_STATE_KEEP_DAYS: f64 = 10_000.0;

/// The journal's file name in the state folder.
pub const JOURNAL_FILE: &str = "journal.sqlite";
/// The Price List cache's file name in the state folder.
pub const PRICE_CACHE_FILE: &str = "prices.json";

/// Where state lives when nothing says otherwise: `$COSTGUARD_STATE_DIR`,
/// else `$STATE_DIRECTORY` (systemd), else `$XDG_STATE_HOME/costguard`, else
/// `~/.local/state/costguard`, else `./costguard-state`.
pub fn default_state_dir() -> PathBuf {
    let var = |name: &str| std::env::var_os(name).filter(|d| !d.is_empty());
    if let Some(dir) = var("COSTGUARD_STATE_DIR") {
        return PathBuf::from(dir);
    }
    if let Some(dir) = var("STATE_DIRECTORY") {
        // systemd may pass several, colon-separated; the first is ours.
        let first = dir.to_string_lossy().split(':').next().unwrap_or_default().to_string();
        return PathBuf::from(first);
    }
    if let Some(dir) = var("XDG_STATE_HOME") {
        return PathBuf::from(dir).join("costguard");
    }
    match var("HOME") {
        Some(home) => PathBuf::from(home).join(".local/state/costguard"),
        None => PathBuf::from("costguard-state"),
    }
}

impl DaemonConfig {
    /// The state folder: the config's `state-dir`, else the default.
    pub fn state_dir(&self) -> PathBuf {
        self.state_dir.clone().unwrap_or_else(default_state_dir)
    }

    /// The report folder: the config's `report-dir`, else `report/` in the state folder.
    pub fn report_dir(&self) -> PathBuf {
        self.report_dir.clone().unwrap_or_else(|| self.state_dir().join("report"))
    }
}

impl EmailSettings {
    /// One attempt at one message, for channels as for SMTP (SES has the
    /// AWS call limits): `message-timeout-seconds`, else 60 s.
    pub fn message_limit(&self) -> std::time::Duration {
        match &self.transport {
            TransportSettings::Smtp(s) => s.message_timeout,
            TransportSettings::Ses(_) => std::time::Duration::from_secs(60),
        }
    }

    /// Addresses and hosts left as the shipped placeholders (example.com):
    /// mail to or through them reaches nobody.
    pub fn placeholders(&self) -> Vec<String> {
        let domain = |a: &str| a.rsplit_once('@').map_or(a, |(_, d)| d).to_string();
        let mut found: Vec<String> = std::iter::once(&self.from).chain(&self.to).filter(|a| super::is_placeholder_domain(&domain(a))).cloned().collect();
        if let TransportSettings::Smtp(smtp) = &self.transport {
            if super::is_placeholder_domain(&smtp.host) {
                found.push(format!("smtp host {}", smtp.host));
            }
        }
        found
    }
}

/// Whether costguard can write in `dir`, or create it: checked by trying,
/// with a file that is removed at once.
pub fn check_writable(dir: &Path) -> Result<(), String> {
    let mut existing = dir;
    while !existing.exists() {
        match existing.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => existing = parent,
            _ => {
                existing = Path::new(".");
                break;
            }
        }
    }
    if !existing.is_dir() {
        return Err(format!("{}: {} is not a folder", dir.display(), existing.display()));
    }
    let probe = existing.join(format!(".costguard-write-check-{}", uuid::Uuid::new_v4().simple()));
    // Created exclusively: a file or symlink planted at the name fails the
    // check instead of being written through.
    std::fs::OpenOptions::new().write(true).create_new(true).open(&probe).and_then(|_| std::fs::remove_file(&probe)).map_err(|e| {
        let what = if existing == dir { "cannot write in it".to_string() } else { format!("cannot create it in {}", existing.display()) };
        format!("{}: {what}: {e}", dir.display())
    })
}

/// The protection tag unless configured otherwise: resources carrying it
/// (any value) are never changed.
pub const DEFAULT_PROTECT_TAG: &str = "costguard:protect";

/// Every hour, at minute 7 (not on the hour, when everyone else's jobs run).
pub const DEFAULT_SCHEDULE: &str = "0 7 * * * *";

/// The shortest bearer token the HTTP listener takes: one a person types
/// (or a test's `s3cret`) can be guessed; 32 characters of `openssl rand
/// -hex 32` cannot.
pub const MIN_HTTP_TOKEN_CHARS: usize = 32;

/// The HTTP listener's bearer token, refused when shorter than
/// [`MIN_HTTP_TOKEN_CHARS`]. The error never shows the token.
pub fn read_http_token(source: &SecretSource) -> Result<String, super::secret::SecretError> {
    let token = source.read()?;
    let chars = token.chars().count();
    if chars < MIN_HTTP_TOKEN_CHARS {
        return Err(super::secret::SecretError::TooShort { chars, min: MIN_HTTP_TOKEN_CHARS });
    }
    Ok(token)
}

#[derive(Clone, Debug)]
pub struct SmtpSettings {
    pub host: String,
    pub port: u16,
    pub security: SmtpSecurity,
    pub username: Option<SecretSource>,
    pub password: Option<SecretSource>,
    /// The TCP connect.
    pub timeout: std::time::Duration,
    /// One attempt at one message, from connect to the server's answer to
    /// the data: it bounds the greeting and every command too (lettre has
    /// no limit of its own past the connect).
    pub message_timeout: std::time::Duration,
}

#[derive(Clone, Debug)]
pub struct SesSettings {
    /// `None`: the SDK's region.
    pub region: Option<String>,
    pub configuration_set: Option<String>,
}

#[derive(Clone, Debug)]
pub enum TransportSettings {
    Smtp(SmtpSettings),
    Ses(SesSettings),
}

#[derive(Clone, Debug)]
pub struct EmailSettings {
    pub from: String,
    pub transport: TransportSettings,
    /// Default recipients.
    pub to: Vec<String>,
    pub owner_tags: Vec<String>,
    /// The mail domains an owner tag may name (lower case); empty: any.
    pub owner_domains: Vec<String>,
    pub quiet_period: chrono::Duration,
    /// A folder whose templates replace the shipped ones, file by file.
    pub templates: Option<PathBuf>,
    pub report_url: Option<String>,
    pub attempts: u32,
    pub retry_pause: std::time::Duration,
    pub keep_unsent: chrono::Duration,
    pub max_items: usize,
    /// By name (without the `#`).
    pub channels: std::collections::BTreeMap<String, super::channels::ChannelSettings>,
}

pub const DEFAULT_OWNER_TAGS: &[&str] = &["owner", "contact"];
pub const DEFAULT_QUIET_HOURS: f64 = 24.0;

/// Loads the daemon config file. Relative template folders are taken from
/// the config file's folder.
pub fn load(file: &Path) -> Result<DaemonConfig, ConfigErrors> {
    let text = crate::files::read_text_bounded(file, super::MAX_FILE_BYTES)
        .map_err(|e| ConfigErrors(vec![ConfigError::whole_file(file, format!("cannot read: {e}"))]))?;
    compile_text(file, &text)
}

pub fn compile_text(file: &Path, text: &str) -> Result<DaemonConfig, ConfigErrors> {
    let to_config = |e: DecodeError| ConfigErrors(vec![ConfigError::from_decode(file, e)]);
    let root = yaml::parse(text).map_err(to_config)?;
    let spec: DaemonConfigSpec = match &root.value {
        yaml::Value::Null => DaemonConfigSpec::default(),
        _ => yaml::decode(&root, "").map_err(to_config)?,
    };
    let mut errors = Vec::new();
    let base = file.parent().unwrap_or(Path::new("."));
    let email = spec.email.as_ref().and_then(|e| e.value.compile(base, &mut errors));
    let path = |l: &Located<String>| base.join(l.value.trim());
    let schedule = match &spec.schedule {
        Some(s) => normalize_schedule(&s.value).unwrap_or_else(|e| {
            errors.push(DecodeError::new(s.loc, "schedule", e));
            String::new()
        }),
        None => DEFAULT_SCHEDULE.to_string(),
    };
    let listen = match &spec.listen {
        Some(l) => l.value.trim().parse().unwrap_or_else(|_| {
            errors.push(DecodeError::new(l.loc, "listen", format!("expected an address and port such as 127.0.0.1:9464, found {:?}", l.value)));
            std::net::SocketAddr::from(([127, 0, 0, 1], 9464))
        }),
        None => std::net::SocketAddr::from(([127, 0, 0, 1], 9464)),
    };
    let http_token = secret(&spec.http_token_env, &spec.http_token_file, "http", "token", &mut errors);
    let http_token = http_token.map(|s| match s {
        SecretSource::File(f) => SecretSource::File(base.join(f)),
        env => env,
    });
    let time_limits = spec.time_limits.as_ref().map_or_else(TimeLimits::default, |t| t.value.compile(&mut errors));
    let organization = spec.organization.as_ref().map(|o| o.value.compile(base, &mut errors));
    let channels: Vec<&str> = email.iter().flat_map(|e| e.channels.keys()).map(String::as_str).collect();
    let events = spec.events.as_ref().and_then(|e| e.value.compile(e.loc, &channels, &mut errors));
    if let (Some(a), Some(_)) = (spec.approval.as_ref().filter(|a| a.value == Approval::Required), &organization) {
        errors.push(DecodeError::new(a.loc, "approval", "approval: required saves one account's plan; it cannot be used with organization: yet"));
    }
    if let Some(tag) = spec.protect_tag.as_ref().filter(|t| t.value.trim().is_empty()) {
        errors.push(DecodeError::new(tag.loc, "protect-tag", "the protection tag cannot be empty (that would protect nothing)"));
    }
    for (i, r) in spec.regions.iter().enumerate() {
        if r.value.trim().is_empty() || !r.value.trim().chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-') {
            errors.push(DecodeError::new(r.loc, format!("regions[{i}]"), format!("expected a region name such as us-east-1, found {:?}", r.value)));
        }
    }
    let state_keep_days = match &spec.state_keep_days {
        Some(d) if !(d.value.fract() == 0.0 && (1.0..=MAX_STATE_KEEP_DAYS).contains(&d.value)) => {
            errors.push(DecodeError::new(d.loc, "state-keep-days", format!("expected a whole number of days from 1 to {MAX_STATE_KEEP_DAYS}, found {d}")));
            DEFAULT_STATE_KEEP_DAYS
        }
        Some(d) => d.value as i64,
        None => DEFAULT_STATE_KEEP_DAYS,
    };
    if errors.is_empty() {
        Ok(DaemonConfig {
            policies: spec.policies.as_ref().map_or_else(|| vec![base.join("policies")], |p| p.iter().map(path).collect()),
            regions: spec.regions.iter().map(|r| r.value.trim().to_string()).collect(),
            state_dir: spec.state_dir.as_ref().map(path),
            report_dir: spec.report_dir.as_ref().map(path),
            listen,
            http_token,
            dry_run: spec.dry_run.unwrap_or(false),
            approval: spec.approval.as_ref().map(|a| a.value).unwrap_or_default(),
            schedule,
            protect_tag: spec.protect_tag.as_ref().map_or_else(|| DEFAULT_PROTECT_TAG.to_string(), |t| t.value.trim().to_string()),
            prices: spec.prices.as_ref().map_or(PriceSource::Api, |p| p.value),
            email,
            time_limits,
            organization,
            state_keep: chrono::Duration::days(state_keep_days),
            events,
        })
    } else {
        Err(ConfigErrors(errors.into_iter().map(|e| ConfigError::from_decode(file, e)).collect()))
    }
}

/// The sender: exactly one address.
fn sender(v: &Located<String>, errors: &mut Vec<DecodeError>) -> Option<String> {
    let trimmed = v.value.trim();
    if is_email_address(trimmed) {
        Some(trimmed.to_string())
    } else {
        errors.push(DecodeError::new(v.loc, "email.from", format!("expected one email address (user@example.com), found {:?}", v.value)));
        None
    }
}

/// A POSIX environment variable name: what `-env` holds (a pasted value
/// is refused before it sits in a config file).
impl EmailSpec {
    fn compile(&self, base: &Path, errors: &mut Vec<DecodeError>) -> Option<EmailSettings> {
        let before = errors.len();
        let from = sender(&self.from, errors);
        let channels = super::channels::compile(&self.channels, base, errors);
        // `#name` names a channel; anything else must be an address.
        let (channel_to, address_to): (Vec<Located<String>>, Vec<Located<String>>) =
            self.to.iter().cloned().partition(|t| t.value.trim().starts_with(super::channels::PREFIX));
        let mut to = super::check_emails(&address_to, "email.to", errors);
        for t in &channel_to {
            match super::channels::channel_of(t.value.trim()) {
                Some(name) if channels.contains_key(name) => to.push(t.value.trim().to_string()),
                _ => errors.push(DecodeError::new(t.loc, "email.to", format!("{:?} names no channel in email.channels", t.value))),
            }
        }
        let kind = self.transport.as_ref().map(|t| t.value).unwrap_or(if self.ses.is_some() && self.smtp.is_none() {
            TransportKind::Ses
        } else {
            TransportKind::Smtp
        });
        let transport = match kind {
            TransportKind::Smtp => match &self.smtp {
                Some(smtp) => smtp.value.compile(errors).map(TransportSettings::Smtp),
                None => {
                    let loc = self.transport.as_ref().map(|t| t.loc).unwrap_or(self.from.loc);
                    errors.push(DecodeError::new(loc, "email.smtp", "the smtp transport needs an `smtp:` section with at least `host`"));
                    None
                }
            },
            TransportKind::Ses => {
                let ses = self.ses.as_ref().map(|s| &s.value);
                Some(TransportSettings::Ses(SesSettings {
                    region: ses.and_then(|s| s.region.as_ref()).map(|r| r.value.trim().to_string()),
                    configuration_set: ses.and_then(|s| s.configuration_set.as_ref()).map(|c| c.value.trim().to_string()),
                }))
            }
        };
        let owner_tags = match &self.owner_tags {
            Some(tags) => {
                for (i, t) in tags.iter().enumerate() {
                    if t.value.trim().is_empty() {
                        errors.push(DecodeError::new(t.loc, format!("email.owner-tags[{i}]"), "expected a tag key"));
                    }
                }
                tags.iter().map(|t| t.value.trim().to_string()).collect()
            }
            None => DEFAULT_OWNER_TAGS.iter().map(|t| t.to_string()).collect(),
        };
        for (i, d) in self.owner_domains.iter().enumerate() {
            let domain = d.value.trim();
            if domain.is_empty() || domain.contains(['@', '/']) || domain.chars().any(|c| c.is_whitespace() || c.is_control()) || !domain.contains('.') {
                errors.push(DecodeError::new(
                    d.loc,
                    format!("email.owner-domains[{i}]"),
                    format!("expected a mail domain such as example.com, found {:?}", d.value),
                ));
            }
        }
        let owner_domains = self.owner_domains.iter().map(|d| d.value.trim().to_ascii_lowercase()).collect();
        // A year at most: longer would mean "never tell anyone again".
        let quiet_hours = positive(&self.quiet_hours, "email.quiet-hours", DEFAULT_QUIET_HOURS, 8760.0, errors);
        let retry_seconds = positive(&self.retry_seconds, "email.retry-seconds", 2.0, 300.0, errors);
        let keep_hours = positive(&self.keep_unsent_hours, "email.keep-unsent-hours", 168.0, 8760.0, errors);
        let attempts = count(&self.attempts, "email.attempts", 3, 1..=10, errors);
        let max_items = count(&self.max_items, "email.max-items", 50, 1..=10_000, errors);
        if let Some(url) = &self.report_url {
            if !(url.value.starts_with("https://") || url.value.starts_with("http://")) || url.value.chars().any(|c| c.is_whitespace() || c.is_control()) {
                errors.push(DecodeError::new(url.loc, "email.report-url", format!("expected an http(s) URL, found {:?}", url.value)));
            }
        }
        if errors.len() != before {
            return None;
        }
        Some(EmailSettings {
            from: from?,
            transport: transport?,
            to,
            owner_tags,
            owner_domains,
            quiet_period: chrono::Duration::seconds((quiet_hours * 3600.0) as i64),
            templates: self.templates.as_ref().map(|t| base.join(t.value.trim())),
            report_url: self.report_url.as_ref().map(|u| u.value.clone()),
            attempts: attempts as u32,
            retry_pause: std::time::Duration::from_secs_f64(retry_seconds),
            keep_unsent: chrono::Duration::seconds((keep_hours * 3600.0) as i64),
            max_items: max_items as usize,
            channels,
        })
    }
}

impl SmtpSpec {
    fn compile(&self, errors: &mut Vec<DecodeError>) -> Option<SmtpSettings> {
        let before = errors.len();
        let host = self.host.value.trim();
        if host.is_empty() || host.chars().any(|c| c.is_whitespace() || c == '/' || c == '@') {
            errors.push(DecodeError::new(self.host.loc, "email.smtp.host", format!("expected a host name or address, found {:?}", self.host.value)));
        }
        let security = self.security.as_ref().map(|s| s.value).unwrap_or(SmtpSecurity::Starttls);
        let default_port = match security {
            SmtpSecurity::Starttls => 587,
            SmtpSecurity::Tls => 465,
            SmtpSecurity::None => 25,
        };
        let port = count(&self.port, "email.smtp.port", default_port, 1..=65535, errors);
        let username = secret(&self.username_env, &self.username_file, "email.smtp", "username", errors);
        let password = secret(&self.password_env, &self.password_file, "email.smtp", "password", errors);
        if username.is_some() != password.is_some() {
            let loc = self
                .username_env
                .as_ref()
                .or(self.username_file.as_ref())
                .or(self.password_env.as_ref())
                .or(self.password_file.as_ref())
                .map(|l| l.loc)
                .unwrap_or(self.host.loc);
            errors.push(DecodeError::new(loc, "email.smtp", "a username needs a password and a password a username"));
        }
        if security == SmtpSecurity::None && username.is_some() && !is_loopback(host) {
            let loc = self.security.as_ref().map(|l| l.loc).unwrap_or(self.host.loc);
            errors.push(DecodeError::new(
                loc,
                "email.smtp.security",
                format!("`security: none` would send the SMTP password in clear to {host}; use starttls or tls (plain is allowed only to a relay on loopback)"),
            ));
        }
        let timeout = positive(&self.timeout_seconds, "email.smtp.timeout-seconds", 30.0, 600.0, errors);
        let message_timeout = positive(&self.message_timeout_seconds, "email.smtp.message-timeout-seconds", 60.0, 600.0, errors);
        (errors.len() == before).then(|| SmtpSettings {
            host: host.to_string(),
            port: port as u16,
            security,
            username,
            password,
            timeout: std::time::Duration::from_secs_f64(timeout),
            message_timeout: std::time::Duration::from_secs_f64(message_timeout),
        })
    }
}

/// `localhost` or a loopback address: a relay on the same host, where a
/// plaintext password never crosses a network.
fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost") || host.trim_start_matches('[').trim_end_matches(']').parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errors_of(text: &str) -> Vec<String> {
        match compile_text(Path::new("c.yaml"), text) {
            Ok(_) => Vec::new(),
            Err(e) => e.0.iter().map(|e| e.to_string()).collect(),
        }
    }

    #[test]
    fn a_plaintext_password_is_refused_unless_the_relay_is_on_loopback() {
        let config = |host: &str| format!("email:\n  from: cg@example.com\n  smtp: {{host: {host}, security: none, username-env: U, password-env: P}}\n");
        let errors = errors_of(&config("mail.example.com"));
        assert!(errors.iter().any(|e| e.contains("email.smtp.security") && e.contains("in clear")), "{errors:?}");
        for host in ["localhost", "127.0.0.1", "\"::1\""] {
            assert_eq!(errors_of(&config(host)), Vec::<String>::new(), "{host}");
        }
        let tls = "email:\n  from: cg@example.com\n  smtp: {host: mail.example.com, username-env: U, password-env: P}\n";
        assert_eq!(errors_of(tls), Vec::<String>::new());
    }

    #[test]
    fn state_keep_days_is_a_whole_number_of_days_checked_at_its_place() {
        let keep = |text: &str| compile_text(Path::new("c.yaml"), text).map(|c| c.state_keep.num_days());
        assert_eq!(keep("regions: [us-east-1]\n").ok(), Some(DEFAULT_STATE_KEEP_DAYS));
        assert_eq!(keep("state-keep-days: 30\n").ok(), Some(30));
        for bad in ["0", "-5", "1.5", "100000"] {
            let errors = errors_of(&format!("regions: [us-east-1]\nstate-keep-days: {bad}\n"));
            assert!(errors.len() == 1 && errors[0].contains("c.yaml:2:18") && errors[0].contains("whole number of days"), "{bad}: {errors:?}");
        }
    }

    #[test]
    fn a_minimal_smtp_config_gets_the_defaults() {
        let config = compile_text(Path::new("/etc/costguard/c.yaml"), "email:\n  from: cg@example.com\n  smtp: {host: mail.example.com}\n  templates: t\n")
            .expect("valid");
        let email = config.email.expect("email");
        let TransportSettings::Smtp(smtp) = &email.transport else { panic!("smtp expected") };
        assert_eq!((smtp.port, smtp.security), (587, SmtpSecurity::Starttls));
        assert_eq!(email.owner_tags, ["owner", "contact"]);
        assert_eq!(email.quiet_period, chrono::Duration::hours(24));
        assert_eq!(email.templates.as_deref(), Some(Path::new("/etc/costguard/t")));
    }

    #[test]
    fn an_organization_section_is_read_and_checked_at_its_place() {
        let text = "organization:\n  ous: [ou-ab12-cd34ef56]\n  exclude: [111111111111]\n  member-role: Audit\n  external-id-file: ext\n  max-accounts: 4\n";
        let org = compile_text(Path::new("/etc/costguard/c.yaml"), text).expect("valid").organization.expect("an organization");
        assert!(org.organization && org.accounts_file.is_none());
        assert_eq!(
            (org.ous, org.exclude, org.member_role.as_str(), org.max_accounts),
            (vec!["ou-ab12-cd34ef56".to_string()], vec!["111111111111".to_string()], "Audit", 4)
        );
        assert_eq!(org.external_id, Some(SecretSource::File(PathBuf::from("/etc/costguard/ext"))), "relative to the config file");
        assert!(compile_text(Path::new("c.yaml"), "dry-run: true\n").expect("valid").organization.is_none(), "the credentials' own account");
        let file = compile_text(Path::new("/etc/c.yaml"), "organization:\n  accounts-file: accounts.yml\n").expect("valid").organization.expect("set");
        assert!(!file.organization && file.accounts_file == Some(PathBuf::from("/etc/accounts.yml")));

        let bad =
            "approval: required\norganization:\n  ous: [engineering]\n  accounts: ['12345']\n  member-role: 'a b'\n  max-accounts: 0\n  accounts-file: a.yml\n";
        let errors: Vec<String> = compile_text(Path::new("c.yaml"), bad).expect_err("invalid").0.iter().map(ToString::to_string).collect();
        for (line, key) in [
            (1, "approval"),
            (3, "organization.ous[0]"),
            (4, "organization.accounts[0]"),
            (5, "organization.member-role"),
            (6, "organization.max-accounts"),
            (7, "organization.accounts-file"),
        ] {
            assert!(errors.iter().any(|e| e.starts_with(&format!("c.yaml:{line}:")) && e.contains(key)), "{key} at line {line}: {errors:?}");
        }
    }

    #[test]
    fn time_limits_default_to_what_an_operator_would_choose_and_are_checked() {
        let defaults = compile_text(Path::new("c.yaml"), "").expect("valid").time_limits;
        assert_eq!(defaults.aws.call, std::time::Duration::from_secs(180));
        assert_eq!(defaults.sweep, std::time::Duration::from_secs(3600));
        let set = compile_text(Path::new("c.yaml"), "time-limits:\n  aws-call-seconds: 30\n  sweep-minutes: 10\n").expect("valid").time_limits;
        assert_eq!((set.aws.call, set.sweep), (std::time::Duration::from_secs(30), std::time::Duration::from_secs(600)));
        assert_eq!(set.aws.connect, defaults.aws.connect, "what is not given keeps its default");
        let errors = errors_of("time-limits:\n  aws-read-seconds: 0\n  sweep-minutes: 100000\n");
        assert!(errors.iter().any(|e| e.starts_with("c.yaml:2:21: time-limits.aws-read-seconds: expected a number above 0")), "{errors:?}");
        assert!(errors.iter().any(|e| e.contains("time-limits.sweep-minutes")), "{errors:?}");
        assert_eq!(defaults.aws.rate, crate::aws::pace::DEFAULT);
        let errors = errors_of("time-limits:\n  aws-calls-per-second: 0\n");
        assert!(errors.iter().any(|e| e.starts_with("c.yaml:2:25: time-limits.aws-calls-per-second: expected a number above 0")), "{errors:?}");
    }

    #[test]
    fn an_empty_protection_tag_is_refused() {
        let errors = errors_of("protect-tag: ''\n");
        assert!(errors.iter().any(|e| e.contains("protect-tag: the protection tag cannot be empty")), "{errors:?}");
    }

    #[test]
    fn an_empty_file_is_a_config_with_defaults() {
        assert!(compile_text(Path::new("c.yaml"), "").expect("valid").email.is_none());
    }

    #[test]
    fn every_mistake_is_located() {
        let errors = errors_of("email:\n  from: not-an-address\n  to: [ok@example.com, 'a@b.com, c@d.com']\n  smtp:\n    host: mail.example.com\n    password-env: SECRET=hunter2\n  quiet-hours: -1\n");
        assert!(errors.iter().any(|e| e.starts_with("c.yaml:2:9: email.from: expected one email address")), "{errors:?}");
        assert!(errors.iter().any(|e| e.starts_with("c.yaml:3:24: email.to[1]")), "{errors:?}");
        assert!(errors.iter().any(|e| e.contains("email.smtp.password-env: expected the name of an environment variable")), "{errors:?}");
        assert!(errors.iter().any(|e| e.contains("email.quiet-hours")), "{errors:?}");
        assert!(!errors.iter().any(|e| e.contains("hunter2")), "a secret written by mistake is not echoed back: {errors:?}");
    }

    #[test]
    fn unknown_keys_and_transports_are_rejected() {
        let errors = errors_of("email:\n  from: cg@example.com\n  transport: pigeon\n");
        assert!(errors.iter().any(|e| e.contains("c.yaml:3:14") && e.contains("pigeon")), "{errors:?}");
        let errors = errors_of("email:\n  from: cg@example.com\n  smtp: {host: h, passwrd-env: X}\n");
        assert!(errors.iter().any(|e| e.contains("passwrd-env")), "{errors:?}");
    }

    #[test]
    fn schedules_are_cron_with_or_without_seconds() {
        assert_eq!(normalize_schedule("*/5 * * * *").as_deref(), Ok("0 */5 * * * *"));
        assert_eq!(normalize_schedule("30 */2 * * * *").as_deref(), Ok("30 */2 * * * *"));
        for too_often in ["*/2 * * * * *", "* * * * * *", "0,30 * * * * *", "0-10 * * * * *"] {
            let refused = normalize_schedule(too_often);
            assert!(refused.as_ref().is_err_and(|e| e.contains("at most once a minute")), "{too_often}: {refused:?}");
        }
        assert!(normalize_schedule("every hour").is_err());
        assert!(normalize_schedule("0 99 * * *").is_err());
        let errors = errors_of("schedule: \"0 99 * * *\"\nlisten: localhost\n");
        assert!(errors.iter().any(|e| e.starts_with("c.yaml:1:11: schedule: not a valid cron expression")), "{errors:?}");
        assert!(errors.iter().any(|e| e.starts_with("c.yaml:2:9: listen:")), "{errors:?}");
    }

    #[test]
    fn paths_are_relative_to_the_config_file() {
        let config = compile_text(Path::new("/etc/costguard/c.yaml"), "policies: [p/]\nstate-dir: /var/lib/cg\n").expect("valid");
        assert_eq!(config.policies, [PathBuf::from("/etc/costguard/p/")]);
        assert_eq!(config.state_dir, Some(PathBuf::from("/var/lib/cg")));
        assert_eq!(config.schedule, DEFAULT_SCHEDULE);
    }

    #[test]
    fn ses_needs_no_smtp_section() {
        let config = compile_text(Path::new("c.yaml"), "email:\n  from: cg@example.com\n  transport: ses\n").expect("valid");
        assert!(matches!(config.email.map(|e| e.transport), Some(TransportSettings::Ses(_))));
    }
}
