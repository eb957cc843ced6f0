//! An organization's sweep: every account reached through its member role
//! is swept as one account is (its own state folder, lock, journal,
//! guardrails and report, under `accounts/<id>/`), several at once up to
//! `max-accounts`; then one report folds them, by account.
//!
//! One account's failure (its role refused, its sweep failing) is that
//! account's: the others finish, and the run exits 3.

use std::collections::BTreeMap;
use std::path::PathBuf;

use futures_util::stream::{self, StreamExt};
use tokio_util::sync::CancellationToken;

use super::{SweepError, SweepOptions};
use crate::aws::Aws;
use crate::clock::Clock;
use crate::config::Policy;
use crate::engine::accounts::{self, Reach, Selection};
use crate::progress::Progress;
use crate::report::organization::{AccountOutcome, LeftOut, OrgReport, OrgRun};

/// Where each account's state and report go, under the run's folders.
pub const ACCOUNTS_DIR: &str = "accounts";

#[derive(Debug)]
pub struct OrgResult {
    pub report: OrgReport,
    pub report_json: PathBuf,
    pub report_md: PathBuf,
}

impl OrgResult {
    /// 0 when every account was swept cleanly; 3 when some account failed
    /// or reported errors.
    pub fn exit_code(&self) -> u8 {
        let t = &self.report.totals;
        if t.accounts_failed > 0 || t.failed > 0 {
            crate::outcome::exit::ERRORS
        } else {
            crate::outcome::exit::OK
        }
    }
}

/// The options of one account's sweep: its own state and report folders,
/// and its regions when the accounts file names them.
fn for_account(options: &SweepOptions, account: &str, regions: &[String], tags: &BTreeMap<String, String>) -> SweepOptions {
    let state = options.journal.parent().map(|d| d.to_path_buf()).unwrap_or_default().join(ACCOUNTS_DIR).join(account);
    SweepOptions {
        journal: state.join(options.journal.file_name().unwrap_or_default()),
        report_dir: options.report_dir.join(ACCOUNTS_DIR).join(account),
        regions: if regions.is_empty() { options.regions.clone() } else { regions.to_vec() },
        account_tags: Some(tags.clone()),
        ..options.clone()
    }
}

/// Sweeps every account of `selection` reached with `how`.
#[allow(clippy::too_many_arguments)]
pub async fn run(
    hub: &Aws,
    policies: &[Policy],
    options: &SweepOptions,
    (selection, how): (&Selection, &Reach),
    clock: &Clock,
    progress: &Progress,
    cancel: &CancellationToken,
) -> Result<OrgResult, SweepError> {
    let started = clock.now();
    if options.save_plan.is_some() {
        return Err(SweepError::Config("--save-plan covers one account; sweep the organization without it".to_string()));
    }
    let hub_account = super::check_access(hub, cancel).await?;
    let selection = Selection { with_tags: policies.iter().any(|p| p.accounts.as_ref().is_some_and(|s| !s.tags.is_empty())), ..selection.clone() };
    let found = accounts::discover(hub, &selection).await.map_err(|e| SweepError::NoAccess(format!("cannot list the accounts: {e}")))?;
    let members: BTreeMap<String, crate::config::accounts::MemberAccount> = found.accounts.iter().map(|a| (a.id.clone(), a.clone())).collect();
    let task = progress.task(&format!("sweeping {} accounts", found.accounts.len()));
    let reached = accounts::reach(hub, &hub_account, found.accounts, how).await;
    let sweeps = reached.into_iter().map(|r| {
        let member = members.get(&r.account_id).cloned().unwrap_or_else(|| crate::config::accounts::MemberAccount::new(&r.account_id, &r.name));
        let name = member.name.clone();
        async move {
            let Some(aws) = r.aws else {
                return AccountOutcome::Failed { account_id: r.account_id, name, error: r.error.unwrap_or_default() };
            };
            let mine = for_account(options, &r.account_id, &member.regions, &member.tags);
            match super::run(&aws, policies, &mine, clock, &Progress::hidden(), cancel).await {
                Ok(result) => AccountOutcome::Swept { name, report: Box::new(result.report), path: result.report_json },
                Err(e) => {
                    tracing::error!(account = %r.account_id, error = %e, "the account's sweep failed; the others go on");
                    AccountOutcome::Failed { account_id: r.account_id, name, error: e.to_string() }
                }
            }
        }
    });
    let outcomes: Vec<AccountOutcome> = stream::iter(sweeps).buffer_unordered(how.max_concurrent.max(1)).collect().await;
    drop(task);
    let left_out = found.left_out.into_iter().map(|(a, why)| LeftOut { account_id: a.id, name: a.name, why }).collect();
    let run = OrgRun { run_id: uuid::Uuid::new_v4().to_string(), dry_run: options.dry_run, hub_account, started_at: started, finished_at: clock.now() };
    let report = OrgReport::build(run, outcomes, left_out, hub.counter().snapshot());
    let (report_json, report_md) = report.write(&options.report_dir).map_err(|source| SweepError::Report { path: options.report_dir.clone(), source })?;
    tracing::info!(accounts = report.totals.accounts, failed = report.totals.accounts_failed, findings = report.totals.findings, report = %report_json.display(), "organization swept");
    Ok(OrgResult { report, report_json, report_md })
}
