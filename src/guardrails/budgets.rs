//! Budgets, reconciled: `diff` (pure) says what to change; `plan` reads AWS
//! and diffs; `apply` makes the calls.
//!
//! # Guarantees
//! - Only budgets declared in `guardrails.budgets` (whose names carry the
//!   prefix) are created or changed; any other budget is never read beyond
//!   its listing, changed or deleted.
//! - A budget that exists is never re-created (CreateBudget fails on a
//!   duplicate name); differences become UpdateBudget and notification and
//!   subscriber calls.
//! - A second reconcile after a real one changes nothing.

use super::{BudgetSpend, Change, Fix, GuardrailChange, GuardrailKind, Planned};
use crate::aws::budgets::{BudgetsClient, ObservedBudget, ObservedNotification, SubscriberKind};
use crate::aws::{Aws, AwsError};
use crate::config::guardrails::{Budget, Guardrails, Notification};
use crate::outcome::Status;

/// One call that brings a budget to its declaration.
#[derive(Clone, Debug, PartialEq)]
pub enum Step {
    CreateBudget,
    UpdateBudget,
    /// Index into the declared notifications.
    CreateNotification(usize),
    DeleteNotification(ObservedNotification),
    AddSubscriber(usize, SubscriberKind, String),
    RemoveSubscriber(usize, SubscriberKind, String),
}

#[derive(Clone, Debug, PartialEq)]
pub struct BudgetDiff {
    pub change: Change,
    pub differences: Vec<String>,
    pub steps: Vec<Step>,
}

/// What it takes to make `observed` (with its notifications) into `declared`.
pub fn diff(declared: &Budget, observed: Option<(&ObservedBudget, &[ObservedNotification])>) -> BudgetDiff {
    let Some((budget, notifications)) = observed else {
        let mut differences = vec![format!("amount: {} USD {}", declared.amount_usd, declared.time_unit.as_str())];
        differences.extend(
            declared.notifications.iter().map(|n| format!("notification: {} to {}", n.describe(), subscribers_text(&n.emails, n.sns_topic.as_deref()))),
        );
        return BudgetDiff { change: Change::Create, differences, steps: vec![Step::CreateBudget] };
    };
    let mut differences = Vec::new();
    let mut steps = Vec::new();
    let amount_differs = budget.amount.is_none_or(|a| (a - declared.amount_usd).abs() >= 0.005) || budget.unit.as_deref() != Some("USD");
    if amount_differs {
        let now = budget.amount.map_or("none".to_string(), |a| format!("{a} {}", budget.unit.as_deref().unwrap_or("")));
        differences.push(format!("amount: {now} -> {} USD", declared.amount_usd));
    }
    if budget.time_unit != declared.time_unit.as_str() {
        differences.push(format!("time-unit: {} -> {}", budget.time_unit, declared.time_unit.as_str()));
    }
    if budget.budget_type != "COST" {
        differences.push(format!("type: {} -> COST", budget.budget_type));
    }
    if budget.cost_filters != declared.cost_filters {
        differences.push(format!("cost-filters: {:?} -> {:?}", budget.cost_filters, declared.cost_filters));
    }
    if !differences.is_empty() {
        steps.push(Step::UpdateBudget);
    }
    for (i, n) in declared.notifications.iter().enumerate() {
        let Some(found) = notifications.iter().find(|o| o.is(n)) else {
            differences.push(format!("notification {}: add, to {}", n.describe(), subscribers_text(&n.emails, n.sns_topic.as_deref())));
            steps.push(Step::CreateNotification(i));
            continue;
        };
        let wanted = subscriber_set(&n.emails, n.sns_topic.as_deref());
        let have = subscriber_set(&found.emails, found.sns_topic.as_deref());
        for (kind, address) in wanted.iter().filter(|s| !have.contains(s)) {
            differences.push(format!("notification {}: add subscriber {address}", n.describe()));
            steps.push(Step::AddSubscriber(i, *kind, address.clone()));
        }
        for (kind, address) in have.iter().filter(|s| !wanted.contains(s)) {
            differences.push(format!("notification {}: remove subscriber {address}", n.describe()));
            steps.push(Step::RemoveSubscriber(i, *kind, address.clone()));
        }
    }
    for o in notifications.iter().filter(|o| !declared.notifications.iter().any(|n| o.is(n))) {
        differences.push(format!("notification {} > {} ({}): remove, not declared", o.kind, o.threshold, o.threshold_type));
        steps.push(Step::DeleteNotification(o.clone()));
    }
    let change = if steps.is_empty() { Change::Unchanged } else { Change::Update };
    BudgetDiff { change, differences, steps }
}

fn subscriber_set(emails: &[String], sns: Option<&str>) -> Vec<(SubscriberKind, String)> {
    let mut set: Vec<(SubscriberKind, String)> = emails.iter().map(|e| (SubscriberKind::Email, e.clone())).collect();
    set.extend(sns.map(|t| (SubscriberKind::Sns, t.to_string())));
    set
}

fn subscribers_text(emails: &[String], sns: Option<&str>) -> String {
    let mut all: Vec<&str> = emails.iter().map(String::as_str).collect();
    all.extend(sns);
    all.join(", ")
}

/// Reads the account's budgets and diffs each declared one; changes nothing.
pub async fn plan(aws: &Aws, guardrails: &Guardrails) -> Result<Vec<Planned>, AwsError> {
    if guardrails.budgets.is_empty() {
        return Ok(Vec::new());
    }
    let account = aws.account_id().await?;
    plan_with(&aws.budgets(&account), guardrails).await
}

/// [`plan`] with a given client (tests hand in one on a fake endpoint).
pub async fn plan_with(client: &BudgetsClient, guardrails: &Guardrails) -> Result<Vec<Planned>, AwsError> {
    let existing = client.list_budgets().await?;
    let mut planned = Vec::new();
    for declared in &guardrails.budgets {
        let observed = existing.iter().find(|b| b.name == declared.name);
        let notifications = match observed {
            Some(b) => match client.notifications(&b.name).await {
                Ok(n) => n,
                Err(e) => {
                    let entry = change(declared, Change::Unchanged, Vec::new(), Status::Failed, Some(format!("could not read its notifications: {e}")));
                    planned.push(Planned { change: entry, fix: Fix::Nothing });
                    continue;
                }
            },
            None => Vec::new(),
        };
        let d = diff(declared, observed.map(|b| (b, notifications.as_slice())));
        let mut entry = change(declared, d.change, d.differences, Status::Planned, None);
        entry.spend = observed.map(|b| BudgetSpend { limit_usd: declared.amount_usd, actual_usd: b.actual_usd, forecast_usd: b.forecast_usd });
        let fix = if d.steps.is_empty() { Fix::Nothing } else { Fix::Budget { budget: declared.clone(), steps: d.steps } };
        planned.push(Planned { change: entry, fix });
    }
    for stale in existing.iter().filter(|b| b.name.starts_with(&guardrails.name_prefix) && !guardrails.budgets.iter().any(|d| d.name == b.name)) {
        planned.push(Planned { change: GuardrailChange::not_declared(GuardrailKind::Budget, stale.name.clone()), fix: Fix::Nothing });
    }
    Ok(planned)
}

fn change(b: &Budget, change: Change, differences: Vec<String>, status: Status, detail: Option<String>) -> GuardrailChange {
    GuardrailChange::new(GuardrailKind::Budget, b.name.clone(), change, differences, status, detail)
}

/// Makes the calls `steps` list; returns how many were made.
pub async fn apply(aws: &Aws, b: &Budget, steps: &[Step]) -> Result<usize, AwsError> {
    let account = aws.account_id().await?;
    apply_with(&aws.budgets(&account), b, steps).await
}

/// [`apply`] with a given client.
pub async fn apply_with(client: &BudgetsClient, b: &Budget, steps: &[Step]) -> Result<usize, AwsError> {
    let declared = |i: usize| -> &Notification { &b.notifications[i] };
    for step in steps {
        match step {
            Step::CreateBudget => client.create_budget(b).await?,
            Step::UpdateBudget => client.update_budget(b).await?,
            Step::CreateNotification(i) => client.create_notification(&b.name, declared(*i)).await?,
            Step::DeleteNotification(o) => client.delete_notification(&b.name, o).await?,
            Step::AddSubscriber(i, kind, address) => client.change_subscriber(&b.name, declared(*i), *kind, address, true).await?,
            Step::RemoveSubscriber(i, kind, address) => client.change_subscriber(&b.name, declared(*i), *kind, address, false).await?,
        }
        tracing::info!(budget = %b.name, step = ?step, "budget changed");
    }
    Ok(steps.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::compile_guardrails_text;

    fn declared() -> Guardrails {
        let text = "guardrails:\n  email: [b@example.com, a@example.com]\n  budgets:\n    - name: costguard-500\n      amount: 500\n      notifications:\n        - {type: ACTUAL, threshold: 100}\n        - {type: FORECASTED, threshold: 100}\n";
        compile_guardrails_text(std::path::Path::new("g.yaml"), text).ok().flatten().expect("valid guardrails")
    }

    fn observed(amount: f64) -> ObservedBudget {
        ObservedBudget {
            name: "costguard-500".into(),
            amount: Some(amount),
            unit: Some("USD".into()),
            time_unit: "MONTHLY".into(),
            budget_type: "COST".into(),
            cost_filters: Default::default(),
            actual_usd: None,
            forecast_usd: None,
        }
    }

    fn alert(kind: &str, emails: &[&str]) -> ObservedNotification {
        ObservedNotification {
            kind: kind.into(),
            comparison: "GREATER_THAN".into(),
            threshold: 100.0,
            threshold_type: "PERCENTAGE".into(),
            emails: emails.iter().map(|e| e.to_string()).collect(),
            sns_topic: None,
        }
    }

    #[test]
    fn a_missing_budget_is_created_with_its_notifications() {
        let d = diff(&declared().budgets[0], None);
        assert_eq!((d.change, d.steps.clone()), (Change::Create, vec![Step::CreateBudget]));
        assert!(d.differences.iter().any(|x| x.contains("ACTUAL > 100%") && x.contains("a@example.com, b@example.com")), "{:?}", d.differences);
    }

    #[test]
    fn a_budget_as_declared_is_left_alone() {
        let both = [alert("ACTUAL", &["a@example.com", "b@example.com"]), alert("FORECASTED", &["a@example.com", "b@example.com"])];
        let d = diff(&declared().budgets[0], Some((&observed(500.0), &both)));
        assert_eq!(d.change, Change::Unchanged, "{:?}", d.differences);
        assert!(d.steps.is_empty());
    }

    #[test]
    fn differences_become_updates_field_by_field() {
        let some = [alert("ACTUAL", &["a@example.com", "old@example.com"]), alert("ACTUAL", &[]).clone()];
        let mut extra = some[1].clone();
        extra.threshold = 80.0;
        let d = diff(&declared().budgets[0], Some((&observed(400.0), &[some[0].clone(), extra.clone()])));
        assert_eq!(d.change, Change::Update);
        assert!(d.differences[0].contains("amount: 400 USD -> 500 USD"), "{:?}", d.differences);
        assert_eq!(
            d.steps,
            vec![
                Step::UpdateBudget,
                Step::AddSubscriber(0, SubscriberKind::Email, "b@example.com".into()),
                Step::RemoveSubscriber(0, SubscriberKind::Email, "old@example.com".into()),
                Step::CreateNotification(1),
                Step::DeleteNotification(extra),
            ]
        );
    }
}
