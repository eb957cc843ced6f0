//! An organization's sweep: every account reached through its member role
//! is swept as one account is (its own state folder, lock, journal,
//! guardrails and report, under `accounts/<id>/`), several at once up to
//! `max-accounts`; then one report folds them, by account.
//!
//! One account's failure (its role refused, its sweep failing) is that
//! account's: the others finish, and the run exits 3.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use futures_util::stream::{self, StreamExt};
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use super::{SweepError, SweepOptions};
use crate::aws::Aws;
use crate::clock::Clock;
use crate::config::accounts::MemberAccount;
use crate::config::guardrails::Scope;
use crate::config::Policy;
use crate::engine::accounts::{self, Reach, Selection};
use crate::engine::journal::Journal;
use crate::guardrails::scope;
use crate::notify::digest::{self, AccountRef, Digest};
use crate::notify::{self, EmailSetup};
use crate::progress::Progress;
use crate::report::organization::{AccountOutcome, DigestSummary, GuardrailLine, LeftOut, OrgGuardrails, OrgReport, OrgRun};

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
        if self.report.has_errors() {
            crate::outcome::exit::ERRORS
        } else {
            crate::outcome::exit::OK
        }
    }
}

/// The options of one account's sweep: its own state and report folders,
/// its regions when the accounts file names them, its guardrails as the
/// scope says.
fn for_account(options: &SweepOptions, member: &MemberAccount, hub: &Aws) -> SweepOptions {
    let mut mine = options.clone();
    mine.scope = super::Scope {
        regions: if member.regions.is_empty() { options.scope.regions.clone() } else { member.regions.clone() },
        account_tags: Some(member.tags.clone()),
        member: Some(super::MemberOf { label: crate::text::account_label(&member.id, &member.name), hub: hub.clone() }),
    };
    mine.paths.journal = journal_of(options, &member.id);
    mine.paths.report_dir = options.paths.report_dir.join(ACCOUNTS_DIR).join(&member.id);
    mine.features.guardrails = options.features.guardrails.as_ref().map(|g| scope::for_member(g, member));
    mine
}

/// An account's journal, in its own state folder under the run's.
fn journal_of(options: &SweepOptions, account: &str) -> PathBuf {
    account_journal(&options.paths.journal, account)
}

/// The journal of `account` beside the run's `journal`: `accounts/<id>/`.
fn account_journal(journal: &Path, account: &str) -> PathBuf {
    let state = journal.parent().map(|d| d.to_path_buf()).unwrap_or_default().join(ACCOUNTS_DIR).join(account);
    state.join(journal.file_name().unwrap_or_default())
}

/// What every step of an organization's sweep needs: the hub's clients
/// (they list the accounts and assume the member roles), the options each
/// account's sweep starts from, the clock, progress and stop signal.
pub struct Org<'a> {
    pub hub: &'a Aws,
    pub options: &'a SweepOptions,
    pub clock: &'a Clock,
    pub progress: &'a Progress,
    pub cancel: &'a CancellationToken,
}

/// Sweeps every account of `selection` reached with `how`.
pub async fn run(org: &Org<'_>, policies: &[Policy], selection: &Selection, how: &Reach) -> Result<OrgResult, SweepError> {
    let Org { hub, options, clock, progress, cancel } = *org;
    let started = clock.now();
    if options.paths.save_plan.is_some() {
        return Err(SweepError::Config("--save-plan covers one account; sweep the organization without it".to_string()));
    }
    let hub_account = super::check_access(hub, cancel).await?;
    let selection = Selection { with_tags: policies.iter().any(|p| p.accounts.as_ref().is_some_and(|s| !s.tags.is_empty())), ..selection.clone() };
    let found = accounts::discover(hub, &selection).await.map_err(|e| SweepError::NoAccess(format!("cannot list the accounts: {e}")))?;
    let members: BTreeMap<String, MemberAccount> = found.accounts.iter().map(|a| (a.id.clone(), a.clone())).collect();
    let task = progress.task(&format!("sweeping {} accounts", found.accounts.len()));
    // Each account's routed digests go to disk as its sweep ends, so they
    // do not wait in memory for the last account.
    let spool = match options.features.email.as_ref().map(|_| Spool::create(&options.paths.report_dir)) {
        Some(Ok(spool)) => Some(spool),
        Some(Err(e)) => return Err(SweepError::Report { path: options.paths.report_dir.join(SPOOL_FILE), source: e }),
        None => None,
    };
    let reached = accounts::reach(hub, &hub_account, found.accounts, how).await;
    let spooled = spool.as_ref();
    let sweeps = reached.into_iter().map(|r| {
        let member = members.get(&r.account_id).cloned().unwrap_or_else(|| MemberAccount::new(&r.account_id, &r.name));
        let name = member.name.clone();
        let ou = member.ou.clone();
        async move {
            let Some(aws) = r.aws else {
                return AccountOutcome::Failed { account_id: r.account_id, name, ou, error: r.error.unwrap_or_default() };
            };
            let mine = for_account(options, &member, hub);
            match super::run(&aws, policies, &mine, clock, &Progress::hidden(), cancel).await {
                Ok(result) => {
                    if let Some(spool) = spooled {
                        spool.add(AccountRef { id: r.account_id, name: name.clone() }, result.held_digests);
                    }
                    AccountOutcome::swept(name, ou, result.report, &result.report_json)
                }
                Err(e) => {
                    tracing::error!(account = %r.account_id, error = %e, "the account's sweep failed; the others go on");
                    AccountOutcome::Failed { account_id: r.account_id, name, ou, error: e.to_string() }
                }
            }
        }
    });
    let outcomes: Vec<AccountOutcome> = stream::iter(sweeps).buffer_unordered(how.max_concurrent.max(1)).collect().await;
    drop(task);
    let left_out = found.left_out.into_iter().map(|(a, why)| LeftOut { account_id: a.id, name: a.name, ou: a.ou, why }).collect();
    let guardrails = match options.features.guardrails.as_ref().filter(|g| g.reconcile) {
        Some(g) if g.scope == Scope::Payer => Some(payer_guardrails(org, g, &hub_account, &selection, members.into_values().collect()).await),
        Some(_) => Some(OrgGuardrails::default()),
        None => None,
    };
    let run = OrgRun { run_id: uuid::Uuid::new_v4().to_string(), dry_run: options.dry_run, hub_account, started_at: started, finished_at: clock.now() };
    let mut report = OrgReport::build(run, outcomes, left_out, hub.counter().snapshot());
    report.guardrails = guardrails;
    if let (Some(email), Some(spool)) = (&options.features.email, spool) {
        if selection.shard.is_some() {
            // A shard only routes: `report merge --config` sends one digest
            // per person across every shard's accounts.
            (report.digests, report.email_errors) = hold_for_merge(&options.paths.report_dir, spool);
        } else {
            let _task = progress.task("sending email");
            let (held, mut errors) = spool.read_back();
            let teller = Teller { hub, email, state: &options.paths.journal, dry_run: options.dry_run, protect_tag: &options.features.settings.protect_tag };
            (report.digests, report.email_errors) = teller.tell(&report, held, clock, cancel).await;
            errors.append(&mut report.email_errors);
            report.email_errors = errors;
        }
    }
    let (report_json, report_md) =
        report.write(&options.paths.report_dir).map_err(|source| SweepError::Report { path: options.paths.report_dir.clone(), source })?;
    tracing::info!(accounts = report.totals.accounts, failed = report.totals.accounts_failed, findings = report.totals.findings, report = %report_json.display(), "organization swept");
    Ok(OrgResult { report, report_json, report_md })
}

/// Where a shard leaves its routed digests, in its report folder, for
/// `report merge --config`: one line of JSON per account
/// ([`HeldAccount`]).
pub const HELD_DIGESTS_FILE: &str = "digests.jsonl";
/// Where a run's routed digests wait while its accounts are swept: renamed
/// to [`HELD_DIGESTS_FILE`] by a shard, read back and removed by a run
/// that sends them.
const SPOOL_FILE: &str = "digests.jsonl.partial";

/// One account's routed digests, a line of the held digests.
#[derive(Debug, Serialize, Deserialize)]
pub struct HeldAccount {
    pub account: AccountRef,
    pub digests: Vec<Digest>,
}

/// The routed digests of the accounts swept so far, on disk (0600: they
/// hold addresses), one line per account.
struct Spool {
    path: PathBuf,
    out: std::sync::Mutex<std::io::BufWriter<std::fs::File>>,
    /// Accounts whose digests could not be written: not sent, said in the report.
    lost: std::sync::Mutex<Vec<String>>,
}

impl Spool {
    /// An empty spool in `dir` (one a crashed run left is emptied).
    fn create(dir: &Path) -> std::io::Result<Spool> {
        crate::files::create_private_dir(dir)?;
        let path = dir.join(SPOOL_FILE);
        let file = crate::files::open_private(&path)?;
        file.set_len(0)?;
        Ok(Spool { path, out: std::sync::Mutex::new(std::io::BufWriter::new(file)), lost: Default::default() })
    }

    fn add(&self, account: AccountRef, digests: Vec<Digest>) {
        use std::io::Write;
        if digests.is_empty() {
            return;
        }
        let id = account.id.clone();
        let line = HeldAccount { account, digests };
        let mut out = self.out.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let written = serde_json::to_writer(&mut *out, &line).map_err(std::io::Error::other).and_then(|()| out.write_all(b"\n"));
        if let Err(e) = written {
            tracing::error!(account = %id, error = %e, "cannot keep the account's digests");
            self.lost
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .push(format!("account {id}: its digests could not be kept ({e}): they are not sent"));
        }
    }

    /// Everything written, flushed to disk; the errors so far.
    fn close(self) -> (PathBuf, std::io::Result<()>, Vec<String>) {
        let lost = self.lost.into_inner().unwrap_or_else(std::sync::PoisonError::into_inner);
        let out = self.out.into_inner().unwrap_or_else(std::sync::PoisonError::into_inner);
        let flushed = out.into_inner().map_err(std::io::IntoInnerError::into_error).and_then(|f| f.sync_all());
        (self.path, flushed, lost)
    }

    /// The accounts' digests, read back; the spool is removed.
    fn read_back(self) -> (Vec<(AccountRef, Vec<Digest>)>, Vec<String>) {
        let (path, flushed, mut errors) = self.close();
        let held = match flushed.map_err(|source| HeldError::Read { path: path.clone(), source }).and_then(|()| read_lines(&path)) {
            Ok(held) => held,
            Err(e) => {
                errors.push(format!("email: the routed digests cannot be read back ({e}): they are not sent"));
                Vec::new()
            }
        };
        if let Err(e) = std::fs::remove_file(&path) {
            tracing::warn!(file = %path.display(), error = %e, "cannot remove the digests' spool");
        }
        (held, errors)
    }
}

/// A shard's spool becomes its held digests (a rename: a merge never reads
/// half a shard's); the report lists each recipient as held.
fn hold_for_merge(report_dir: &Path, spool: Spool) -> (Vec<DigestSummary>, Vec<String>) {
    let (path, flushed, mut errors) = spool.close();
    let held = report_dir.join(HELD_DIGESTS_FILE);
    let kept = flushed.and_then(|()| std::fs::rename(&path, &held));
    let read = kept.map_err(|source| HeldError::Read { path: held.clone(), source }).and_then(|()| read_lines(&held));
    match read {
        Ok(accounts) => {
            let mut summaries: Vec<DigestSummary> = digest::across_accounts(accounts).iter().map(summary).collect();
            for s in &mut summaries {
                s.status = HELD_STATUS.to_string();
            }
            tracing::info!(digests = summaries.len(), file = %held.display(), "digests held for `report merge --config`");
            (summaries, errors)
        }
        Err(e) => {
            errors.push(format!("email: cannot keep this shard's digests for `report merge` ({e}): they are not sent"));
            (Vec::new(), errors)
        }
    }
}

/// The accounts' digests in a held digests file, a line each.
fn read_lines(path: &Path) -> Result<Vec<(AccountRef, Vec<Digest>)>, HeldError> {
    let unreadable = |source| HeldError::Read { path: path.to_path_buf(), source };
    crate::files::refuse_symlink(path).map_err(unreadable)?;
    let bytes = crate::files::read_bounded(path, MAX_HELD_BYTES).map_err(unreadable)?;
    let mut out = Vec::new();
    for (i, line) in bytes.split(|b| *b == b'\n').enumerate() {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let held: HeldAccount = serde_json::from_slice(line).map_err(|source| HeldError::Invalid { path: path.to_path_buf(), line: i + 1, source })?;
        out.push((held.account, held.digests));
    }
    Ok(out)
}

/// The most a held digests file may hold.
const MAX_HELD_BYTES: u64 = 512 * 1024 * 1024;

/// A held digest's status in a shard's report.
const HELD_STATUS: &str = "held for report merge";

/// Why a shard's held digests cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum HeldError {
    #[error("cannot read {}: {source}", path.display())]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{}:{line}: not a shard's digests ({source})", path.display())]
    Invalid { path: PathBuf, line: usize, source: serde_json::Error },
}

/// Reads the digests shards left in their report folders.
pub fn read_held(dirs: &[PathBuf]) -> Result<Vec<(AccountRef, Vec<Digest>)>, HeldError> {
    let mut out = Vec::new();
    for dir in dirs {
        let path = dir.join(HELD_DIGESTS_FILE);
        if path.exists() {
            out.extend(read_lines(&path)?);
        }
    }
    Ok(out)
}

/// Who sends an organization's digests: the hub's transport, the run's
/// state folder (its outbox; each account's journal under it records what
/// was told), and how the run went.
pub struct Teller<'a> {
    pub hub: &'a Aws,
    pub email: &'a EmailSetup,
    /// The run's journal: its folder holds `accounts/<id>/`.
    pub state: &'a Path,
    pub dry_run: bool,
    pub protect_tag: &'a str,
}

impl Teller<'_> {
    /// One digest per recipient across the accounts, the accounts most at
    /// stake first, sent with the hub's credentials; the run's own journal
    /// keeps the outbox, and each account's journal what its findings'
    /// people were told (the quiet period of its next sweeps).
    pub async fn tell(
        &self,
        report: &OrgReport,
        mut held: Vec<(AccountRef, Vec<Digest>)>,
        clock: &Clock,
        cancel: &CancellationToken,
    ) -> (Vec<DigestSummary>, Vec<String>) {
        let rank: BTreeMap<&str, usize> = report.accounts.iter().enumerate().map(|(i, a)| (a.account_id.as_str(), i)).collect();
        held.sort_by_key(|(a, _)| rank.get(a.id.as_str()).copied().unwrap_or(usize::MAX));
        let mut errors = Vec::new();
        // What each account's journal says was told within the quiet period
        // stays out: a merge run again, or digests routed before the last
        // send, repeat nothing. One journal open at a time: a thousand
        // accounts are a thousand SQLite files.
        let now = clock.now();
        let quiet = self.email.settings.quiet_period;
        let held = held
            .into_iter()
            .map(|(account, digests)| {
                if digests.is_empty() {
                    return (account, digests);
                }
                let journal = match Journal::open(&account_journal(self.state, &account.id)) {
                    Ok(j) => j,
                    Err(e) => {
                        errors.push(format!("account {}: what is told cannot be remembered ({e}); it may be repeated", account.id));
                        return (account, digests);
                    }
                };
                let recipients: Vec<String> = digests.iter().map(|d| d.recipient.clone()).collect();
                match crate::notify::state::Notices::of(&journal).last(&recipients) {
                    Ok(previous) => (account, digest::without_repeats(digests, &previous, now, quiet).0),
                    Err(e) => {
                        errors.push(format!("account {}: cannot read what was already told ({e}); sending everything", account.id));
                        (account, digests)
                    }
                }
            })
            .collect();
        let digests = digest::across_accounts(held);
        let mut summaries: Vec<DigestSummary> = digests.iter().map(summary).collect();
        let outbox = match Journal::open(self.state) {
            Ok(j) => Some(j),
            Err(e) => {
                errors.push(format!("email: no outbox ({e}): a message that cannot be sent now is lost"));
                None
            }
        };
        let outlets = notify::Outlets::new(self.email, self.hub, clock);
        let mailer = outlets.mailer(outbox.as_ref(), cancel);
        let meta = mailer.meta(&report.run_id, self.dry_run, now, self.protect_tag, None);
        let remember = |d: &Digest| {
            d.policies.iter().try_for_each(|g| match g.account.as_ref() {
                Some(a) => {
                    let journal = Journal::open(&account_journal(self.state, &a.id))?;
                    crate::notify::state::Notices::of(&journal).record(g.items.iter().map(|i| (&i.key, &i.state)), now)
                }
                None => Ok(()),
            })
        };
        let routed = notify::Routed { digests, ..Default::default() };
        let (sent, send_errors) = mailer.send_digests(routed, &meta, remember).await;
        for e in &send_errors {
            tracing::error!(error = %e, "email");
        }
        errors.extend(send_errors);
        for s in &mut summaries {
            // One digest per recipient: its message is the one to them alone.
            if let Some(m) = sent.messages.iter().find(|m| m.to.len() == 1 && m.to[0] == s.recipient && !m.status.from_outbox()) {
                s.status = m.status.to_string();
                s.error = m.error.clone();
            }
        }
        (summaries, errors)
    }
}

fn summary(d: &Digest) -> DigestSummary {
    let mut accounts: Vec<String> = d.policies.iter().filter_map(|g| g.account.as_ref().map(|a| crate::text::account_label(&a.id, &a.name))).collect();
    accounts.dedup();
    DigestSummary {
        recipient: d.recipient.clone(),
        accounts,
        findings: d.items().count(),
        monthly_saving_usd: crate::text::total(d.items().filter_map(|i| i.monthly_saving_usd)),
        status: "not sent".to_string(),
        error: None,
    }
}

/// Under `scope: payer`: the guardrails once, in the management account
/// (refused from any other), with a budget per member account and
/// declared budget. With shards, shard 0 does it for every account of the
/// organization, so no shard reports another's budgets as undeclared.
async fn payer_guardrails(org: &Org<'_>, g: &crate::config::Guardrails, hub_account: &str, selection: &Selection, swept: Vec<MemberAccount>) -> OrgGuardrails {
    let Org { hub, options, clock, progress, cancel } = *org;
    let mut out = OrgGuardrails { scope: Scope::Payer, ..Default::default() };
    if selection.shard.is_some_and(|(k, _)| k != 0) {
        return out;
    }
    match hub.organizations().management_account().await {
        Ok(payer) if payer == hub_account => {}
        Ok(payer) => {
            out.errors.push(format!(
                "guardrails scope: payer reconciles in the management account {payer}; these credentials are account {hub_account}: nothing was reconciled"
            ));
            return out;
        }
        Err(e) => {
            out.errors.push(format!("guardrails scope: payer: cannot tell the management account: {e}; nothing was reconciled"));
            return out;
        }
    }
    let members = match selection.shard {
        None => swept,
        Some(_) => match accounts::discover(hub, &Selection { shard: None, ..selection.clone() }).await {
            Ok(all) => all.accounts,
            Err(e) => {
                out.errors.push(format!("guardrails scope: payer: cannot list every account: {e}; nothing was reconciled"));
                return out;
            }
        },
    };
    out.payer_account = Some(hub_account.to_string());
    let declared = scope::for_payer(g, &members);
    let now = clock.now();
    let run_id = uuid::Uuid::new_v4().to_string();
    let mut payer = options.clone();
    payer.features.guardrails = Some(declared);
    // The run's own state folder: its lock, and its journal for the changes.
    let (lock, journal) = match super::lock_state(&payer, now, cancel)
        .await
        .map_err(|e| e.to_string())
        .and_then(|lock| super::open_journal(&payer, &run_id, now).map(|j| (lock, j)).map_err(|e| e.to_string()))
    {
        Ok(held) => held,
        Err(e) => {
            out.errors.push(format!("guardrails scope: payer: {e}; nothing was reconciled"));
            return out;
        }
    };
    let regions = payer.scope.regions.clone();
    let mode = super::Mode::of_sweep(payer.dry_run, journal.as_ref());
    let run = super::Run { aws: hub, options: &payer, clock, progress, cancel, run_id: &run_id, now, regions: &regions, mode };
    let (changes, errors) = super::reconcile_guardrails(&run).await;
    if let Some(j) = &journal {
        let summary = format!("payer guardrails: {} reconciled", changes.len());
        if let Err(e) = j.finish_run(&run_id, clock.now(), &summary) {
            out.errors.push(format!("guardrails: {e}"));
        }
    }
    drop(lock);
    out.changes = changes
        .into_iter()
        .map(|c| GuardrailLine { kind: c.kind, name: c.name, change: c.change.name().to_string(), status: c.status, detail: c.detail })
        .collect();
    out.errors.extend(errors);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_spool_keeps_each_accounts_digests_on_disk_and_a_bad_line_is_named() {
        let dir = tempfile::tempdir().expect("temp dir");
        let spool = Spool::create(dir.path()).expect("a spool");
        let account = |id: &str| AccountRef { id: id.into(), name: format!("team-{id}") };
        spool.add(account("111111111111"), vec![Digest { recipient: "ana@example.com".into(), policies: Vec::new() }]);
        spool.add(account("222222222222"), Vec::new());
        spool.add(account("333333333333"), vec![Digest { recipient: "bo@example.com".into(), policies: Vec::new() }]);
        let (held, errors) = spool.read_back();
        assert!(errors.is_empty(), "{errors:?}");
        let ids: Vec<&str> = held.iter().map(|(a, _)| a.id.as_str()).collect();
        assert_eq!(ids, ["111111111111", "333333333333"], "an account with nothing to tell takes no line");
        assert!(!dir.path().join(SPOOL_FILE).exists(), "read back, then removed");

        let bad = dir.path().join(HELD_DIGESTS_FILE);
        std::fs::write(&bad, "{\"account\":{\"id\":\"1\",\"name\":\"a\"},\"digests\":[]}\nnot json\n").expect("write");
        let e = read_held(&[dir.path().to_path_buf()]).expect_err("the second line is not a digest");
        assert!(e.to_string().contains("digests.jsonl:2:"), "{e}");
    }
}
