//! A daemon config with everything it names loaded and checked, and the
//! sweep request it makes: what `run`, `run --once` and `apply --config`
//! start from.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use super::execute::Request;
use super::{Features, Limits, Paths, Scope, SweepOptions};
use crate::config::daemon::{self, DaemonConfig, PriceSource};
use crate::config::{self, Guardrails, Policy};
use crate::engine::plan::PlanSettings;
use crate::notify::EmailSetup;

/// Where `approval: required` sweeps save their plans, in the state folder.
pub const PLANS_DIR: &str = "plans";

/// Why a daemon config could not be loaded: every problem found, as
/// `validate` prints them.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The config file or its policy files.
    #[error("{0}")]
    Config(config::ConfigErrors),
    #[error("{0}")]
    Templates(crate::notify::template::TemplateError),
    /// Policies that name chat channels the config does not declare.
    #[error("{}", .0.join("\n"))]
    Channels(Vec<String>),
    #[error("{}: the HTTP token: {source}", file.display())]
    HttpToken { file: PathBuf, source: config::secret::SecretError },
}

/// A config with everything it names loaded and checked.
pub struct Loaded {
    pub config: DaemonConfig,
    pub policies: Vec<Policy>,
    pub guardrails: Option<Guardrails>,
    pub email: Option<Arc<EmailSetup>>,
    /// The bearer token of `/report` and `/metrics`, read at load.
    pub http_token: Option<String>,
    /// The files it came from, with their modification times.
    pub stamps: Vec<(PathBuf, Option<SystemTime>)>,
}

pub fn stamps(files: &[PathBuf]) -> Vec<(PathBuf, Option<SystemTime>)> {
    files.iter().map(|f| (f.clone(), std::fs::metadata(f).and_then(|m| m.modified()).ok())).collect()
}

/// The files a config depends on: itself, its policy files, its templates.
pub fn watched(config_file: &Path, config: &DaemonConfig) -> Vec<PathBuf> {
    let mut files = vec![config_file.to_path_buf()];
    files.extend(config::policy_files(&config.policies).unwrap_or_else(|_| config.policies.clone()));
    if let Some(dir) = config.email.as_ref().and_then(|e| e.templates.as_ref()) {
        files.extend(crate::notify::template::NAMES.map(|t| dir.join(t)));
    }
    // A rotated token takes effect without a restart.
    if let Some(daemon::SecretSource::File(token)) = &config.http_token {
        files.push(token.clone());
    }
    files
}

/// A config file and what the command line says over it (`run --region
/// R --dry-run`, meaning what they mean for `sweep`), applied at every
/// (re)load.
#[derive(Clone, Debug, Default)]
pub struct Source {
    pub file: PathBuf,
    /// Non-empty: these regions instead of the config's.
    pub regions: Vec<String>,
    /// A dry run whatever the config says.
    pub dry_run: bool,
    /// This events queue instead of the config's `events.queue`.
    pub events_queue: Option<String>,
}

impl Source {
    pub fn file(file: &Path) -> Self {
        Source { file: file.to_path_buf(), ..Source::default() }
    }

    pub fn load(&self) -> Result<Loaded, LoadError> {
        let mut loaded = Loaded::load(&self.file)?;
        if !self.regions.is_empty() {
            loaded.config.regions = self.regions.clone();
        }
        loaded.config.dry_run |= self.dry_run;
        if let Some(queue) = &self.events_queue {
            loaded.config.with_events_queue(queue);
        }
        Ok(loaded)
    }
}

impl Loaded {
    /// Loads the config file and everything it names; `Err` is every
    /// problem found, as `validate` prints them.
    pub fn load(config_file: &Path) -> Result<Self, LoadError> {
        let config = daemon::load(config_file).map_err(LoadError::Config)?;
        let set = config::load(&config.policies).map_err(LoadError::Config)?;
        for w in &set.warnings {
            tracing::warn!("{w}");
        }
        let (policies, guardrails) = (set.policies, set.guardrails);
        let email = config.email.as_ref().map(EmailSetup::load).transpose().map_err(LoadError::Templates)?;
        if let Some(email) = &email {
            let problems = crate::notify::channel_problems(&policies, &email.settings);
            if !problems.is_empty() {
                return Err(LoadError::Channels(problems));
            }
        }
        let http_token = config
            .http_token
            .as_ref()
            .map(|s| daemon::read_http_token(s).map_err(|source| LoadError::HttpToken { file: config_file.to_path_buf(), source }))
            .transpose()?;
        let stamps = stamps(&watched(config_file, &config));
        Ok(Loaded { config, policies, guardrails, email, http_token, stamps })
    }

    /// The spend-velocity guardrail's own schedule, if it has one.
    pub fn ai_spend_schedule(&self) -> Option<&str> {
        self.guardrails.as_ref()?.spend_velocity.as_ref()?.schedule.as_deref()
    }

    /// Every schedule in use: the default (which also reconciles the
    /// guardrails) and each policy's own.
    pub fn schedules(&self) -> BTreeSet<String> {
        let mut all: BTreeSet<String> = self.policies.iter().filter(|p| p.enabled).filter_map(|p| p.schedule.clone()).collect();
        all.insert(self.config.schedule.clone());
        all
    }

    pub fn state_dir(&self) -> PathBuf {
        self.config.state_dir()
    }

    pub fn report_dir(&self) -> PathBuf {
        self.config.report_dir()
    }

    /// The sweep of one schedule's policies (all of them when `None`):
    /// the guardrails go with the default schedule; `now` names the plan an
    /// `approval: required` sweep saves (none for an organization, whose
    /// plans are reviewed per account).
    pub fn request(&self, schedule: Option<&str>, now: chrono::DateTime<chrono::Utc>) -> Request {
        let default = self.config.schedule.as_str();
        let policies = self.policies.iter().filter(|p| schedule.is_none_or(|s| p.schedule.as_deref().unwrap_or(default) == s)).cloned().collect();
        let state_dir = self.state_dir();
        let approval = self.config.approval == daemon::Approval::Required && self.config.organization.is_none();
        let options = SweepOptions {
            dry_run: self.config.dry_run || self.config.approval == daemon::Approval::Required,
            scope: Scope { regions: self.config.regions.clone(), ..Scope::default() },
            features: Features {
                settings: PlanSettings { protect_tag: self.config.protect_tag.clone() },
                guardrails: if schedule.is_none_or(|s| s == default) { self.guardrails.clone() } else { None },
                email: self.email.clone(),
                price_list_api: self.config.prices == PriceSource::Api,
            },
            paths: Paths {
                report_dir: self.report_dir(),
                journal: state_dir.join(daemon::JOURNAL_FILE),
                price_cache: Some(state_dir.join(daemon::PRICE_CACHE_FILE)),
                save_plan: approval.then(|| state_dir.join(PLANS_DIR).join(format!("plan-{}.json", now.format("%Y%m%dT%H%M%SZ")))),
            },
            limits: Limits {
                max_duration: Some(self.config.time_limits.sweep),
                // A CLI sweep holding the state folder delays the daemon's, up
                // to the sweep's own time limit: the schedule is not lost.
                wait_lock: self.config.time_limits.sweep,
                state_keep: self.config.state_keep,
                aws: self.config.time_limits.aws,
            },
        };
        Request { policies, options, organization: self.config.organization.clone() }
    }
}
