//! The one way a sweep starts, for the CLI and the daemon alike: a
//! `Request` (the policies, the options, whose accounts), executed.

use tokio_util::sync::CancellationToken;

use super::{organization, SweepError, SweepOptions, SweepResult};
use crate::aws::{ApiCallCounter, Aws};
use crate::clock::Clock;
use crate::config::accounts::OrgSettings;
use crate::config::Policy;
use crate::progress::Progress;

/// A sweep to run: built from the CLI's flags or from a daemon config
/// (`Loaded::request`).
#[derive(Debug)]
pub struct Request {
    pub policies: Vec<Policy>,
    pub options: SweepOptions,
    /// An organization's accounts instead of the credentials' own.
    pub organization: Option<OrgSettings>,
}

/// What a sweep produced: one account's report, or an organization's.
#[derive(Debug)]
pub enum Swept {
    Account(Box<SweepResult>),
    Organization(Box<organization::OrgResult>),
}

/// Runs `request` with the environment's credentials: the credentials'
/// own account, or every account of its organization.
pub async fn execute(request: Request, clock: &Clock, progress: &Progress, cancel: &CancellationToken) -> Result<Swept, SweepError> {
    let Request { policies, options, organization } = request;
    let aws = Aws::from_env(ApiCallCounter::new()).await.with_limits(options.limits.aws);
    let Some(settings) = organization else {
        return super::run(&aws, &policies, &options, clock, progress, cancel).await.map(|r| Swept::Account(Box::new(r)));
    };
    let (selection, how) =
        crate::engine::accounts::resolve(settings, &aws.default_region().unwrap_or_default()).map_err(|e| SweepError::Config(e.to_string()))?;
    let mut options = options;
    // `{shard}` in the report folder: this shard's K, so shards on a shared
    // volume write side by side (for `report merge`).
    if let Some((k, _)) = selection.shard {
        options.paths.report_dir = options.paths.report_dir.to_string_lossy().replace("{shard}", &k.to_string()).into();
    }
    let org = organization::Org { hub: &aws, options: &options, clock, progress, cancel };
    organization::run(&org, &policies, &selection, &how).await.map(|r| Swept::Organization(Box::new(r)))
}
