//! The savings ledger: what costguard's changes took off the monthly bill.
//!
//! Every change that was done (a delete, a stop, a resize, a retention set;
//! not a mark, not a report) adds its monthly saving as apply priced it on
//! the resource re-read right before (the rightsizing saving, or the whole
//! cost of what was deleted or stopped), in the transaction that records
//! the change as done: a crash cannot lose it or count it twice. A `restore` takes it back; a deleted resource that a later
//! sweep finds listed again (its owner recreated it) shows as recreated and
//! no longer counts. Rows live in the state database (`savings`), beside
//! the journal of the changes themselves.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;

use rusqlite::{params, Connection};

use super::db::{parse_time, parse_type, Db, History, JournalError, Table};
use super::inventory::Inventory;
use super::sleeps::ScheduledSaving;
use crate::resources::sizes::Assessment;
use crate::resources::{Effect, Resource, ResourceType};

const SCHEMA: &str = "
-- The savings ledger (engine::ledger): each change done, with what it took
-- off the monthly bill; `state` says whether it still counts.
CREATE TABLE IF NOT EXISTS savings (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id        TEXT NOT NULL,
    policy        TEXT NOT NULL,
    resource_type TEXT NOT NULL,
    region        TEXT NOT NULL,
    resource_id   TEXT NOT NULL,
    action        TEXT NOT NULL,
    monthly_usd   REAL NOT NULL,
    done_at       TEXT NOT NULL,
    state         TEXT NOT NULL,
    changed_at    TEXT,
    account_id    TEXT NOT NULL DEFAULT '',
    -- The journaled change (actions.id) it came from: at most one row each.
    action_id     INTEGER
);
CREATE INDEX IF NOT EXISTS savings_by_resource ON savings (resource_type, region, resource_id, state);
";

/// The ledger's table: kept whole, whatever `state-keep-days` says.
pub static TABLE: Table = Table {
    name: "savings",
    schema: SCHEMA,
    added: &[("account_id", "TEXT NOT NULL DEFAULT ''"), ("action_id", "INTEGER")],
    // On a column an older ledger has only now.
    then: "CREATE UNIQUE INDEX IF NOT EXISTS savings_by_action ON savings (action_id) WHERE action_id IS NOT NULL;",
    history: History::Kept,
};

/// What follows from the journaled action `action_id` being done, written
/// in the caller's transaction (the one that settles it): its saving enters
/// the ledger (once, however often it is settled), or, for a restore, the
/// savings of what it brought back stop counting.
pub(crate) fn on_done(tx: &Connection, action_id: i64, at: DateTime<Utc>) -> rusqlite::Result<()> {
    tx.execute(
        "INSERT INTO savings (run_id, policy, resource_type, region, resource_id, action, monthly_usd, done_at, state, account_id, action_id)
         SELECT run_id, policy, resource_type, region, resource_id, saving_action, saving_usd, ?2, ?3, COALESCE(account_id, ''), id
         FROM actions WHERE id = ?1 AND saving_usd > 0 AND saving_action IS NOT NULL
         AND NOT EXISTS (SELECT 1 FROM savings WHERE action_id = ?1)",
        params![action_id, at.to_rfc3339(), SavingState::Saved.as_str()],
    )?;
    // A restore takes back the saving of the change it undoes, and no
    // other: waking an instance an off-hours policy stopped leaves the
    // saving of its earlier resize counted. (A row from before savings
    // named their change goes with any restore of its resource.)
    tx.execute(
        "UPDATE savings SET state = ?2, changed_at = ?3
         WHERE state = ?4 AND EXISTS (SELECT 1 FROM actions a WHERE a.id = ?1 AND a.undoes IS NOT NULL
            AND (savings.action_id = a.undoes OR (savings.action_id IS NULL
                AND a.resource_type = savings.resource_type AND a.region = savings.region AND a.resource_id = savings.resource_id)))",
        params![action_id, SavingState::Restored.as_str(), at.to_rfc3339(), SavingState::Saved.as_str()],
    )?;
    Ok(())
}

/// The savings ledger's store.
pub struct Savings<'a>(pub &'a Db);

impl Savings<'_> {
    /// Moves the resource's savings that still count to `state` (a
    /// recreation). Returns how many rows moved.
    pub fn set_state(
        &self,
        resource_type: ResourceType,
        region: &str,
        resource_id: &str,
        state: SavingState,
        at: DateTime<Utc>,
    ) -> Result<usize, JournalError> {
        self.0.with(&TABLE, |c| {
            c.execute(
                "UPDATE savings SET state = ?4, changed_at = ?5 WHERE resource_type = ?1 AND region = ?2 AND resource_id = ?3 AND state = ?6",
                params![resource_type.name(), region, resource_id, state.as_str(), at.to_rfc3339(), SavingState::Saved.as_str()],
            )
        })
    }

    /// Rows done at or after `since` (all when `None`), oldest first.
    /// Rows this version cannot read (a newer type) are left out.
    pub fn rows(&self, since: Option<DateTime<Utc>>) -> Result<Vec<LedgerRow>, JournalError> {
        type Raw = (String, String, String, String, String, String, f64, String, String, String);
        let rows: Vec<Raw> = self.0.with(&TABLE, |c| {
            let mut stmt = c.prepare(
                "SELECT run_id, policy, resource_type, region, resource_id, action, monthly_usd, done_at, state, account_id FROM savings ORDER BY id",
            )?;
            let rows =
                stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?, r.get(7)?, r.get(8)?, r.get(9)?)))?;
            rows.collect()
        })?;
        Ok(rows
            .into_iter()
            .filter_map(|(run_id, policy, rt, region, resource_id, action, monthly_usd, done_at, state, account_id)| {
                let row = LedgerRow {
                    saving: Saving { account_id, policy, resource_type: parse_type(&rt)?, region, resource_id, action, monthly_usd },
                    run_id,
                    done_at: parse_time(&done_at)?,
                    state: SavingState::parse(&state)?,
                };
                since.is_none_or(|s| row.done_at >= s).then_some(row)
            })
            .collect())
    }
}

/// One change's saving, as it enters the ledger.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Saving {
    /// The AWS account the change was made in.
    pub account_id: String,
    pub policy: String,
    pub resource_type: ResourceType,
    pub region: String,
    pub resource_id: String,
    pub action: String,
    pub monthly_usd: f64,
}

/// Where a ledger row stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SavingState {
    /// Counts.
    Saved,
    /// Taken back by `costguard restore`.
    Restored,
    /// Deleted by costguard, then listed again: someone recreated it.
    Recreated,
}

impl SavingState {
    pub fn as_str(self) -> &'static str {
        match self {
            SavingState::Saved => "saved",
            SavingState::Restored => "restored",
            SavingState::Recreated => "recreated",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [SavingState::Saved, SavingState::Restored, SavingState::Recreated].into_iter().find(|st| st.as_str() == s)
    }
}

/// A ledger row as read back.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LedgerRow {
    #[serde(flatten)]
    pub saving: Saving,
    pub run_id: String,
    pub done_at: DateTime<Utc>,
    pub state: SavingState,
}

/// What acting on one finding saves a month: a rightsizing assessment's
/// saving; else what the policy's actions say they save (the whole cost of
/// what is deleted or stopped, the storage a retention frees), counted for
/// findings held back too (what would be saved, were it allowed to act);
/// else what its type says the way it runs wastes (training on demand).
/// Apply asks the same of the resource it re-read, for the savings ledger.
pub fn saving(actions: &[crate::actions::Action], resource: &Resource, assessment: Option<&Assessment>, now: DateTime<Utc>) -> Option<f64> {
    if let Some(a) = assessment {
        return a.monthly_saving_usd;
    }
    actions.iter().filter_map(|a| a.monthly_saving(resource, now)).reduce(f64::max).or_else(|| resource.avoidable_cost())
}

/// Ledger rows of deleted resources that `inventory` lists again, in the
/// regions whose listing succeeded: recreated by their owners.
pub fn recreated(rows: &[LedgerRow], inventory: &Inventory) -> Vec<LedgerRow> {
    rows.iter()
        // The ledger stores the policy's actions joined with `+`; a removing one among them means the resource was gone.
        .filter(|r| r.state == SavingState::Saved && r.saving.action.split('+').any(|a| r.saving.resource_type.effect_of(a) == Some(Effect::Removes)))
        .filter(|r| !inventory.failed_regions(r.saving.resource_type).contains(&r.saving.region))
        .filter(|r| inventory.of(r.saving.resource_type).iter().any(|listed| *listed.region == r.saving.region && listed.id == r.saving.resource_id))
        .cloned()
        .collect()
}

/// The ledger summed: what counts now, by policy, account, resource type
/// and month, and since when.
#[derive(Clone, Debug, Default, PartialEq, Serialize, serde::Deserialize)]
pub struct SavingsTotal {
    pub monthly_usd: f64,
    pub changes: usize,
    /// The first change that still counts.
    pub since: Option<DateTime<Utc>>,
    pub by_policy: BTreeMap<String, f64>,
    #[serde(default)]
    pub by_account: BTreeMap<String, f64>,
    #[serde(default)]
    pub by_resource_type: BTreeMap<String, f64>,
    /// By the month of the change (YYYY-MM).
    #[serde(default)]
    pub by_month: BTreeMap<String, f64>,
}

pub fn total(rows: &[LedgerRow]) -> SavingsTotal {
    let mut t = SavingsTotal::default();
    for r in rows.iter().filter(|r| r.state == SavingState::Saved) {
        let usd = r.saving.monthly_usd;
        t.monthly_usd += usd;
        t.changes += 1;
        t.since = Some(t.since.map_or(r.done_at, |s| s.min(r.done_at)));
        *t.by_policy.entry(r.saving.policy.clone()).or_default() += usd;
        *t.by_account.entry(r.saving.account_id.clone()).or_default() += usd;
        *t.by_resource_type.entry(r.saving.resource_type.name().to_string()).or_default() += usd;
        *t.by_month.entry(r.done_at.format("%Y-%m").to_string()).or_default() += usd;
    }
    t
}

impl SavingsTotal {
    /// Two ledgers' totals as one (an organization's accounts).
    pub fn plus(mut self, other: &SavingsTotal) -> SavingsTotal {
        self.monthly_usd += other.monthly_usd;
        self.changes += other.changes;
        self.since = match (self.since, other.since) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let add = |mine: &mut BTreeMap<String, f64>, theirs: &BTreeMap<String, f64>| {
            for (k, v) in theirs {
                *mine.entry(k.clone()).or_default() += v;
            }
        };
        add(&mut self.by_policy, &other.by_policy);
        add(&mut self.by_account, &other.by_account);
        add(&mut self.by_resource_type, &other.by_resource_type);
        add(&mut self.by_month, &other.by_month);
        self
    }
}

/// Records the recreated rows a sweep noticed. (Savings themselves are
/// written by the journal, with the change: `Journal::settle`.)
pub fn record_recreated(db: &Db, recreated: &[LedgerRow], at: DateTime<Utc>) -> Result<(), JournalError> {
    for r in recreated {
        Savings(db).set_state(r.saving.resource_type, &r.saving.region, &r.saving.resource_id, SavingState::Recreated, at)?;
    }
    Ok(())
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Table,
    Json,
    Csv,
}

/// The ledger for people (a table by month, policy and type), for
/// programs (JSON: the total and every row) or for spreadsheets (CSV: every
/// row; cells from AWS quoted and never read as formulas).
pub fn render(rows: &[LedgerRow], scheduled: &[ScheduledSaving], format: Format) -> String {
    match format {
        Format::Json => {
            let doc = serde_json::json!({ "total": total(rows), "rows": rows, "scheduled": scheduled });
            serde_json::to_string_pretty(&doc).map(|s| s + "\n").unwrap_or_default()
        }
        Format::Csv => {
            let mut out = String::from("done_at,account_id,policy,resource_type,region,resource_id,action,monthly_usd,state\n");
            for r in rows {
                let s = &r.saving;
                let cells = [
                    r.done_at.to_rfc3339(),
                    csv_cell(&s.account_id),
                    csv_cell(&s.policy),
                    s.resource_type.name().to_string(),
                    csv_cell(&s.region),
                    csv_cell(&s.resource_id),
                    csv_cell(&s.action),
                    format!("{:.2}", s.monthly_usd),
                    r.state.as_str().to_string(),
                ];
                out.push_str(&cells.join(","));
                out.push('\n');
            }
            out
        }
        Format::Table => {
            let t = total(rows);
            let mut out = format!("Saved so far: {}\n", crate::text::saved_so_far(t.monthly_usd, t.changes, t.since));
            let mut groups: BTreeMap<(String, String, String, &'static str), (usize, f64)> = BTreeMap::new();
            for r in rows.iter().filter(|r| r.state == SavingState::Saved) {
                let account = if r.saving.account_id.is_empty() { "-".to_string() } else { crate::text::clean(&r.saving.account_id, 12) };
                let key = (r.done_at.format("%Y-%m").to_string(), account, crate::text::clean(&r.saving.policy, 60), r.saving.resource_type.name());
                let g = groups.entry(key).or_default();
                g.0 += 1;
                g.1 += r.saving.monthly_usd;
            }
            if !groups.is_empty() {
                out.push_str(&format!("\n{:<8} {:<12} {:<32} {:<24} {:>7} {:>14}\n", "month", "account", "policy", "resource type", "changes", "per month"));
                for ((month, account, policy, rt), (n, usd)) in &groups {
                    out.push_str(&format!("{month:<8} {account:<12} {policy:<32} {rt:<24} {n:>7} {:>14}\n", crate::text::usd(Some(*usd))));
                }
            }
            let taken_back = |state| rows.iter().filter(|r| r.state == state).fold((0, 0.0), |(n, usd), r| (n + 1, usd + r.saving.monthly_usd));
            let (restored, restored_usd) = taken_back(SavingState::Restored);
            let (recreated, recreated_usd) = taken_back(SavingState::Recreated);
            if restored + recreated > 0 {
                out.push_str(&format!(
                    "\nNo longer counted: {restored} restored ({}/month), {recreated} recreated by their owners ({}/month)\n",
                    crate::text::usd(Some(restored_usd)),
                    crate::text::usd(Some(recreated_usd))
                ));
            }
            out.push_str(&scheduled_table(scheduled));
            out
        }
    }
}

/// The sleeps of off-hours policies, by the month they ended, account,
/// policy and type: hours asleep and their price.
fn scheduled_table(scheduled: &[ScheduledSaving]) -> String {
    if scheduled.is_empty() {
        return String::new();
    }
    // (month, account, policy, type) -> (sleeps, hours, dollars)
    type Key = (String, String, String, &'static str);
    let mut groups: BTreeMap<Key, (usize, f64, f64)> = BTreeMap::new();
    for s in scheduled {
        let account = if s.account_id.is_empty() { "-".to_string() } else { crate::text::clean(&s.account_id, 12) };
        let g = groups.entry((s.ended_at.format("%Y-%m").to_string(), account, crate::text::clean(&s.policy, 60), s.resource_type.name())).or_default();
        g.0 += 1;
        g.1 += s.hours;
        g.2 += s.usd.unwrap_or(0.0);
    }
    let total: f64 = scheduled.iter().filter_map(|s| s.usd).sum();
    let mut out = format!("\nScheduled (off hours asleep): {} in {} sleeps\n", crate::text::usd(Some(total)), scheduled.len());
    out.push_str(&format!("{:<8} {:<12} {:<32} {:<24} {:>7} {:>9} {:>14}\n", "month", "account", "policy", "resource type", "sleeps", "hours", "saved"));
    for ((month, account, policy, rt), (n, hours, usd)) in &groups {
        out.push_str(&format!("{month:<8} {account:<12} {policy:<32} {rt:<24} {n:>7} {hours:>9.1} {:>14}\n", crate::text::usd(Some(*usd))));
    }
    out
}

/// One CSV cell: quoted when it holds a separator, a quote or a line
/// break, and never starting like a formula (`=`, `+`, `-`, `@`, a tab or
/// a carriage return, as OWASP lists them), since
/// names and ids come from AWS.
fn csv_cell(value: &str) -> String {
    let value = if value.starts_with(['=', '+', '-', '@', '\t', '\r']) { format!("'{value}") } else { value.to_string() };
    if value.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(policy: &str, id: &str, usd: f64, state: SavingState, day: u32) -> LedgerRow {
        LedgerRow {
            saving: Saving {
                account_id: "123456789012".into(),
                policy: policy.into(),
                resource_type: ResourceType::SagemakerEndpoint,
                region: "us-east-1".into(),
                resource_id: id.into(),
                action: "mark+delete".into(),
                monthly_usd: usd,
            },
            run_id: "r".into(),
            done_at: DateTime::parse_from_rfc3339(&format!("2026-11-{day:02}T10:00:00Z")).map(|t| t.with_timezone(&Utc)).unwrap_or_default(),
            state,
        }
    }

    #[test]
    fn only_what_still_counts_is_summed_since_its_first_change() {
        let rows = [
            row("idle", "a", 167.9, SavingState::Saved, 5),
            row("idle", "b", 84.0, SavingState::Restored, 3),
            row("big", "c", 100.0, SavingState::Saved, 9),
            row("idle", "d", 50.0, SavingState::Recreated, 1),
        ];
        let t = total(&rows);
        assert!((t.monthly_usd - 267.9).abs() < 1e-9, "{t:?}");
        assert_eq!(t.changes, 2);
        assert_eq!(t.since, Some(rows[0].done_at));
        assert_eq!(t.by_policy.len(), 2);
    }

    #[test]
    fn csv_cells_from_aws_are_quoted_and_never_formulas() {
        assert_eq!(csv_cell("plain-id"), "plain-id");
        assert_eq!(csv_cell("a,b"), "\"a,b\"");
        assert_eq!(csv_cell("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_cell("=HYPERLINK(1)"), "'=HYPERLINK(1)");
        assert_eq!(csv_cell("\t=1+1"), "'\t=1+1", "a leading tab");
        assert_eq!(csv_cell("\r=1+1"), "\"'\r=1+1\"", "a leading carriage return, quoted as a line break");
        let rows = [row("idle", "=cmd", 1.5, SavingState::Saved, 5)];
        let csv = render(&rows, &[], Format::Csv);
        assert!(csv.lines().nth(1).is_some_and(|l| l.contains(",'=cmd,") && l.ends_with(",1.50,saved")), "{csv}");
        assert!(csv.lines().nth(1).is_some_and(|l| l.split(',').nth(1) == Some("123456789012")), "the account is the second column: {csv}");
        let table = render(&rows, &[], Format::Table);
        assert!(table.starts_with("Saved so far: $1.50/month from 1 change since 2026-11-05"), "{table}");
        assert!(table.contains("2026-11  123456789012 idle"), "by month and account: {table}");
    }

    #[test]
    fn a_deleted_resource_listed_again_is_recreated() {
        let rows = [row("idle", "back", 10.0, SavingState::Saved, 5), row("idle", "gone", 10.0, SavingState::Saved, 5)];
        let mut listed = crate::resources::sagemaker_endpoint::fixture("back", "InService", &[("AllTraffic", "ml.m5.large", 1)]);
        listed.region = "us-east-1".into();
        let inventory = Inventory::from_resources([listed]);
        let found = recreated(&rows, &inventory);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].saving.resource_id, "back");
    }
}
