//! The report of an organization's sweep: `report.json` and `report.md` in
//! the report folder, opening with what costguard saved the organization
//! so far (the accounts' ledgers added up), a table by account (most at
//! stake first), then every finding with its account. Each account's own full
//! report is in `accounts/<id>/` beside it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::Report;
use crate::engine::findings::Finding;
use crate::engine::ledger::SavingsTotal;
use crate::outcome::AccountStatus;
use crate::text::total;

/// One account's line.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct AccountSummary {
    pub account_id: String,
    pub name: String,
    /// Its OU's path (`Root / research / ml`), when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ou: Option<String>,
    pub status: AccountStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub findings: usize,
    pub monthly_cost_usd: f64,
    pub unpriced: usize,
    pub monthly_saving_usd: f64,
    /// Its saving split by whether it will happen.
    #[serde(default)]
    pub saving_usd: super::SavingSplit,
    pub done: usize,
    pub failed: usize,
    /// Its savings ledger's total: what costguard saved it so far.
    #[serde(default)]
    pub saved: SavingsTotal,
    /// Its own report, when it was swept.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub report: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct OrgTotals {
    pub accounts: usize,
    pub accounts_failed: usize,
    pub findings: usize,
    pub monthly_cost_usd: f64,
    pub unpriced: usize,
    pub monthly_saving_usd: f64,
    /// The saving split by whether it will happen, over the accounts.
    #[serde(default)]
    pub saving_usd: super::SavingSplit,
    pub done: usize,
    pub failed: usize,
    pub api_calls: u64,
    /// The accounts' savings ledgers added up: the organization's ledger.
    #[serde(default)]
    pub saved: SavingsTotal,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct OrgReport {
    pub run_id: String,
    pub dry_run: bool,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    /// The account whose credentials assumed the member roles.
    pub hub_account: String,
    /// Most at stake first.
    pub accounts: Vec<AccountSummary>,
    /// Accounts found but not swept, with why (suspended, excluded).
    pub left_out: Vec<LeftOut>,
    pub totals: OrgTotals,
    /// What to act on first across the accounts.
    #[serde(default)]
    pub act_first: Vec<super::ActFirst>,
    /// Every account's findings, each carrying its account.
    pub findings: Vec<Finding>,
    /// Requests sent to AWS over all accounts: the hub's (listing the
    /// accounts, AssumeRole) and every account's own.
    pub api_calls: BTreeMap<String, u64>,
    /// Who hears about what: one digest per recipient across the accounts
    /// (empty without email settings).
    #[serde(default)]
    pub digests: Vec<DigestSummary>,
    /// What went wrong telling them.
    #[serde(default)]
    pub email_errors: Vec<String>,
    /// Where the guardrails were reconciled; `None` when skipped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guardrails: Option<OrgGuardrails>,
}

/// The organization's guardrails: in each account (each account's report
/// has them), or once in the payer account (here).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct OrgGuardrails {
    pub scope: crate::config::guardrails::Scope,
    /// Under `scope: payer`: the management account they were reconciled in.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payer_account: Option<String>,
    pub changes: Vec<GuardrailLine>,
    pub errors: Vec<String>,
}

/// One guardrail reconciled in the payer account.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct GuardrailLine {
    pub kind: crate::guardrails::GuardrailKind,
    pub name: String,
    pub change: String,
    pub status: crate::outcome::Status,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl OrgGuardrails {
    /// A guardrail that failed, or could not be read.
    pub fn failed(&self) -> usize {
        self.errors.len() + self.changes.iter().filter(|c| c.status == crate::outcome::Status::Failed).count()
    }

    /// One line saying where they are.
    pub fn line(&self) -> String {
        use crate::config::guardrails::Scope;
        match (self.scope, &self.payer_account) {
            (Scope::Account, _) => "reconciled in each swept account (see each account's report)".to_string(),
            (Scope::Payer, Some(payer)) => {
                let budgets = self.changes.iter().filter(|c| c.kind == crate::guardrails::GuardrailKind::Budget).count();
                format!("reconciled once in the payer account {payer}: {budgets} budgets (the organization's and one per member account and budget), billing alarms and anomaly detection")
            }
            (Scope::Payer, None) => "scope: payer, reconciled by shard 0 (or not at all: see the errors)".to_string(),
        }
    }
}

/// One recipient's digest across the accounts, and what became of it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DigestSummary {
    pub recipient: String,
    pub accounts: Vec<String>,
    pub findings: usize,
    pub monthly_saving_usd: f64,
    /// `sent`, `queued` (kept for the next sweep) or `failed`.
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LeftOut {
    pub account_id: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ou: Option<String>,
    pub why: String,
}

/// The run itself: its id, mode, hub and times.
pub struct OrgRun {
    pub run_id: String,
    pub dry_run: bool,
    pub hub_account: String,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
}

/// One account's outcome: its report, or why it could not be swept.
pub enum AccountOutcome {
    /// Folded as soon as its sweep ended ([`AccountOutcome::swept`]).
    Swept {
        summary: Box<AccountSummary>,
        findings: Vec<Finding>,
        api_calls: BTreeMap<String, u64>,
    },
    Failed {
        account_id: String,
        name: String,
        ou: Option<String>,
        error: String,
    },
}

/// The findings of each account the organization's report lists, most at
/// stake first; the account's own report has every one. What keeps an
/// organization's memory to a few summaries per account.
pub const FINDINGS_PER_ACCOUNT: usize = 20;

impl AccountOutcome {
    /// An account's sweep, folded the moment it ends: its line, its
    /// findings most at stake (at most [`FINDINGS_PER_ACCOUNT`]) and its
    /// calls; the rest of its report (written to its own folder) leaves
    /// memory here.
    pub fn swept(name: String, ou: Option<String>, report: Report, path: &Path) -> Self {
        let count = |s: crate::outcome::Status| report.findings.iter().filter(|f| f.status == s).count();
        let summary = AccountSummary {
            account_id: report.account_id.clone(),
            name,
            ou,
            status: AccountStatus::Ok,
            error: None,
            findings: report.findings.len(),
            monthly_cost_usd: report.totals.monthly_cost_usd,
            unpriced: report.totals.unpriced,
            monthly_saving_usd: report.totals.monthly_saving_usd,
            saving_usd: report.totals.saving_usd.clone(),
            done: count(crate::outcome::Status::Done),
            failed: report.totals.failed,
            saved: report.saved.clone().unwrap_or_default(),
            report: Some(path.display().to_string()),
        };
        let mut findings = report.findings;
        let at_stake = |f: &Finding| (f.monthly_saving_usd.unwrap_or(0.0), f.monthly_cost_usd.unwrap_or(0.0));
        // Stable: equal stakes keep the account's own order.
        findings.sort_by(|a, b| {
            let ((sa, ca), (sb, cb)) = (at_stake(a), at_stake(b));
            sb.total_cmp(&sa).then(cb.total_cmp(&ca))
        });
        findings.truncate(FINDINGS_PER_ACCOUNT);
        findings.shrink_to_fit();
        AccountOutcome::Swept { summary: Box::new(summary), findings, api_calls: report.api_calls }
    }
}

impl OrgReport {
    /// Folds the accounts' outcomes into one report; each account's
    /// findings most at stake are listed, every one stays in its own
    /// report.
    pub fn build(run: OrgRun, outcomes: Vec<AccountOutcome>, left_out: Vec<LeftOut>, api_calls: BTreeMap<String, u64>) -> Self {
        let mut accounts = Vec::new();
        let mut findings = Vec::new();
        let mut api_calls = api_calls;
        for outcome in outcomes {
            match outcome {
                AccountOutcome::Swept { summary, findings: mine, api_calls: calls } => {
                    accounts.push(*summary);
                    for (op, n) in calls {
                        *api_calls.entry(op).or_default() += n;
                    }
                    findings.extend(mine);
                }
                AccountOutcome::Failed { account_id, name, ou, error } => accounts.push(AccountSummary {
                    account_id,
                    name,
                    ou,
                    status: AccountStatus::Failed,
                    error: Some(error),
                    findings: 0,
                    monthly_cost_usd: 0.0,
                    unpriced: 0,
                    monthly_saving_usd: 0.0,
                    saving_usd: super::SavingSplit::default(),
                    done: 0,
                    failed: 0,
                    saved: SavingsTotal::default(),
                    report: None,
                }),
            }
        }
        let OrgRun { run_id, dry_run, hub_account, started_at, finished_at } = run;
        let mut report = OrgReport {
            run_id,
            dry_run,
            started_at,
            finished_at,
            hub_account,
            accounts,
            left_out,
            totals: OrgTotals::default(),
            act_first: Vec::new(),
            findings,
            api_calls,
            digests: Vec::new(),
            email_errors: Vec::new(),
            guardrails: None,
        };
        report.settle();
        report
    }

    /// Accounts most at stake first, findings by account, and the totals
    /// recomputed from them.
    fn settle(&mut self) {
        let accounts = &mut self.accounts;
        accounts.sort_by(|a, b| {
            b.monthly_saving_usd.total_cmp(&a.monthly_saving_usd).then(b.monthly_cost_usd.total_cmp(&a.monthly_cost_usd)).then(a.account_id.cmp(&b.account_id))
        });
        // Stable: each account's findings keep their order.
        self.findings.sort_by(|a, b| a.account_id.cmp(&b.account_id));
        self.totals = OrgTotals {
            accounts: accounts.len(),
            accounts_failed: accounts.iter().filter(|a| a.status == AccountStatus::Failed).count(),
            findings: accounts.iter().map(|a| a.findings).sum(),
            monthly_cost_usd: total(accounts.iter().map(|a| a.monthly_cost_usd)),
            unpriced: accounts.iter().map(|a| a.unpriced).sum(),
            monthly_saving_usd: total(accounts.iter().map(|a| a.monthly_saving_usd)),
            saving_usd: accounts.iter().map(|a| &a.saving_usd).fold(super::SavingSplit::default(), |sum, a| sum.plus(a)),
            done: accounts.iter().map(|a| a.done).sum(),
            failed: accounts.iter().map(|a| a.failed).sum(),
            api_calls: self.api_calls.values().sum(),
            saved: accounts.iter().fold(SavingsTotal::default(), |sum, a| sum.plus(&a.saved)),
        };
        self.act_first = super::act_first(&super::once_per_resource(&self.findings));
    }

    /// Whether some account could not be swept, a change failed, or the
    /// payer's guardrails failed: the run exits 3 and its metrics say `errors`.
    pub fn has_errors(&self) -> bool {
        let t = &self.totals;
        t.accounts_failed > 0 || t.failed > 0 || self.guardrails.as_ref().is_some_and(|g| g.failed() > 0)
    }

    /// Shards' reports as one: what one process sweeping every shard's
    /// accounts would have written (its run id and times aside). Refused
    /// when they disagree on the hub or the mode, or share an account.
    pub fn merge(shards: Vec<OrgReport>) -> Result<OrgReport, MergeError> {
        let mut shards = shards.into_iter();
        let Some(mut merged) = shards.next() else { return Err(MergeError::Nothing) };
        for shard in shards {
            if shard.hub_account != merged.hub_account || shard.dry_run != merged.dry_run {
                return Err(MergeError::Mismatch { run: shard.run_id, first: merged.run_id });
            }
            if let Some(twice) = shard.accounts.iter().find(|a| merged.accounts.iter().any(|m| m.account_id == a.account_id)) {
                return Err(MergeError::Overlap(twice.account_id.clone()));
            }
            merged.started_at = merged.started_at.min(shard.started_at);
            merged.finished_at = merged.finished_at.max(shard.finished_at);
            merged.accounts.extend(shard.accounts);
            merged.findings.extend(shard.findings);
            merged.left_out.extend(shard.left_out);
            // Each shard told its own accounts' people.
            merged.digests.extend(shard.digests);
            merged.email_errors.extend(shard.email_errors);
            // Under scope: payer only one shard reconciled them: its lines win.
            if shard.guardrails.as_ref().is_some_and(|g| g.payer_account.is_some() || !g.errors.is_empty()) || merged.guardrails.is_none() {
                merged.guardrails = shard.guardrails;
            }
            for (op, n) in shard.api_calls {
                *merged.api_calls.entry(op).or_default() += n;
            }
        }
        merged.left_out.sort_by(|a, b| a.account_id.cmp(&b.account_id));
        merged.left_out.dedup_by(|a, b| a.account_id == b.account_id);
        merged.run_id = uuid::Uuid::new_v4().to_string();
        merged.settle();
        Ok(merged)
    }

    /// The link to an account's own `report.html`: relative when it is
    /// under `dir` (one process's report), else its path (a merged one).
    pub(super) fn account_page(&self, dir: &Path, account: &str) -> Option<String> {
        let json = PathBuf::from(self.accounts.iter().find(|a| a.account_id == account)?.report.as_ref()?);
        let page = json.with_file_name("report.html");
        let dir = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
        let page = page.canonicalize().unwrap_or(page);
        Some(page.strip_prefix(&dir).unwrap_or(&page).display().to_string())
    }
}
/// Why shards' reports cannot be merged into one.
#[derive(Debug, thiserror::Error)]
pub enum MergeError {
    #[error("no report to merge")]
    Nothing,
    #[error("run {run} was made by another hub account or in another mode than run {first}")]
    Mismatch { run: String, first: String },
    #[error("account {0} is in two of the reports: shards overlap")]
    Overlap(String),
}
