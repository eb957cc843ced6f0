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

use super::inventory::Inventory;
use super::journal::{Journal, JournalError};
use crate::resources::ResourceType;

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

/// Ledger rows of deleted resources that `inventory` lists again, in the
/// regions whose listing succeeded: recreated by their owners.
pub fn recreated(rows: &[LedgerRow], inventory: &Inventory) -> Vec<LedgerRow> {
    rows.iter()
        .filter(|r| r.state == SavingState::Saved && r.saving.action.split('+').any(|a| a == "delete"))
        .filter(|r| !inventory.failed_regions(r.saving.resource_type).contains(&r.saving.region))
        .filter(|r| inventory.of(r.saving.resource_type).iter().any(|listed| *listed.region == r.saving.region && listed.id == r.saving.resource_id))
        .cloned()
        .collect()
}

/// The ledger summed: what counts now, by policy, and since when.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct SavingsTotal {
    pub monthly_usd: f64,
    pub changes: usize,
    /// The first change that still counts.
    pub since: Option<DateTime<Utc>>,
    pub by_policy: BTreeMap<String, f64>,
}

pub fn total(rows: &[LedgerRow]) -> SavingsTotal {
    let mut t = SavingsTotal::default();
    for r in rows.iter().filter(|r| r.state == SavingState::Saved) {
        t.monthly_usd += r.saving.monthly_usd;
        t.changes += 1;
        t.since = Some(t.since.map_or(r.done_at, |s| s.min(r.done_at)));
        *t.by_policy.entry(r.saving.policy.clone()).or_default() += r.saving.monthly_usd;
    }
    t
}

/// Records the recreated rows a sweep noticed. (Savings themselves are
/// written by the journal, with the change: [`Journal::settle`].)
pub fn record_recreated(journal: &Journal, recreated: &[LedgerRow], at: DateTime<Utc>) -> Result<(), JournalError> {
    for r in recreated {
        journal.set_saving_state(r.saving.resource_type, &r.saving.region, &r.saving.resource_id, SavingState::Recreated, at)?;
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
pub fn render(rows: &[LedgerRow], format: Format) -> String {
    match format {
        Format::Json => {
            let doc = serde_json::json!({ "total": total(rows), "rows": rows });
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
            out
        }
    }
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
        let csv = render(&rows, Format::Csv);
        assert!(csv.lines().nth(1).is_some_and(|l| l.contains(",'=cmd,") && l.ends_with(",1.50,saved")), "{csv}");
        assert!(csv.lines().nth(1).is_some_and(|l| l.split(',').nth(1) == Some("123456789012")), "the account is the second column: {csv}");
        let table = render(&rows, Format::Table);
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
