//! Guardrails: account-level spend controls costguard declares and keeps
//! true, reconciled like a controller: [`plan`] reads what exists and diffs
//! it against the declaration (pure diffs, no change), [`apply`] makes only
//! the differences, and the sweep decides, in one place, whether to apply.
//! What costguard does not own is never touched.

pub mod anomaly;
pub mod billing_alarms;
pub mod budgets;
pub mod changes;
pub mod scope;
pub mod spend;
pub mod studio_idle;
pub mod velocity;

use serde::Serialize;

use crate::aws::cloudwatch::MetricAlarm;
use crate::aws::costexplorer::AnomalyAlerts;
use crate::aws::{Aws, AwsError};
use crate::clock::Clock;
use crate::config::guardrails::Budget;
use crate::config::Guardrails;
use crate::engine::actions::ActionState;
use crate::engine::journal::Journal;
use crate::outcome::Status;
use changes::GuardrailIntent;

/// What reconciling the guardrails would do: one item per declared
/// guardrail (and per foreign one carrying costguard's prefix), and the
/// kinds that could not be read.
#[derive(Debug, Default)]
pub struct GuardrailPlan {
    pub items: Vec<Planned>,
    pub errors: Vec<AwsError>,
}

/// One guardrail: what differs, and the calls that would make it as declared.
#[derive(Clone, Debug)]
pub struct Planned {
    /// Its report entry, `planned` (or `failed` when it could not be read).
    pub change: GuardrailChange,
    pub fix: Fix,
}

/// The calls that bring one guardrail to its declaration.
#[derive(Clone, Debug, PartialEq)]
pub enum Fix {
    /// Already as declared, not costguard's, or not readable.
    Nothing,
    Budget {
        budget: Budget,
        steps: Vec<budgets::Step>,
    },
    Alarm(MetricAlarm),
    /// Create the per-service anomaly monitor of this name.
    Monitor(String),
    /// Create (`arn: None`) or update the alert subscription; a `None`
    /// monitor is the one a `Monitor` fix before it creates.
    Subscription {
        arn: Option<String>,
        alerts: AnomalyAlerts,
        monitor: Option<String>,
    },
    /// Set a Studio domain's idle shutdown where it is missing or looser
    /// (decided again on the domain as re-read).
    StudioIdle {
        region: String,
        domain: String,
        declared: crate::config::guardrails::StudioIdleShutdown,
    },
}

/// Reads every kind of guardrail and diffs it; changes nothing. A kind
/// that cannot be read is an error and the others are still planned.
/// Regional guardrails (Studio domains) are read in `regions`.
pub async fn plan(aws: &Aws, g: &Guardrails, regions: &[String]) -> GuardrailPlan {
    let mut plan = GuardrailPlan::default();
    let studio = match &g.studio_idle_shutdown {
        Some(declared) => studio_idle::plan(aws, declared, regions).await,
        None => Ok(Vec::new()),
    };
    let results = [
        budgets::plan(aws, g).await,
        billing_alarms::plan(&aws.cloudwatch(billing_alarms::BILLING_REGION), g).await,
        anomaly::plan(&aws.cost_explorer(), g).await,
        studio,
    ];
    for result in results {
        match result {
            Ok(items) => plan.items.extend(items),
            Err(e) => plan.errors.push(e),
        }
    }
    plan
}

/// Where a real reconciliation journals its changes.
pub struct JournalContext<'a> {
    pub journal: &'a Journal,
    pub run_id: &'a str,
    pub clock: &'a Clock,
}

/// Makes each planned difference, each journaled before its calls and
/// settled after (no journal, no change: nothing unrecorded). One
/// guardrail's failure never stops the others. Returns every guardrail's
/// report entry.
pub async fn apply(aws: &Aws, plan: GuardrailPlan, ctx: &JournalContext<'_>) -> (Vec<GuardrailChange>, Vec<AwsError>) {
    let mut changes = Vec::new();
    let mut errors = plan.errors;
    match changes::Changes(ctx.journal.db()).supersede_intents(ctx.run_id, ctx.clock.now()) {
        Ok(0) => {}
        Ok(n) => tracing::warn!(interrupted = n, "guardrail changes a crash interrupted are planned again from what AWS has"),
        Err(e) => errors.push(AwsError::invalid_request("costguard", "journal", e.to_string())),
    }
    let mut created_monitor: Option<String> = None;
    for Planned { mut change, fix } in plan.items {
        if fix == Fix::Nothing {
            changes.push(change);
            continue;
        }
        let intent = GuardrailIntent {
            run_id: ctx.run_id,
            kind: change.kind.as_str(),
            name: &change.name,
            change: change.change.name(),
            differences: &change.differences,
        };
        let id = match changes::Changes(ctx.journal.db()).record_intent(&intent, ctx.clock.now()) {
            Ok(id) => id,
            Err(e) => {
                (change.status, change.detail) = (Status::Failed, Some(format!("not changed: {e}")));
                changes.push(change);
                continue;
            }
        };
        let result = match fix {
            Fix::Nothing => Ok(None),
            Fix::Budget { budget, steps } => budgets::apply(aws, &budget, &steps).await.map(|n| Some(format!("{n} call(s)"))),
            Fix::Alarm(alarm) => aws.cloudwatch(billing_alarms::BILLING_REGION).put_alarm(&alarm).await.map(|()| None),
            Fix::StudioIdle { region, domain, declared } => studio_idle::apply(&aws.studio(&region), &domain, &declared).await,
            Fix::Monitor(name) => aws.cost_explorer().create_service_monitor(&name).await.map(|arn| {
                created_monitor = Some(arn);
                None
            }),
            Fix::Subscription { arn, mut alerts, monitor } => match monitor.or_else(|| created_monitor.clone()) {
                None => Err(AwsError::invalid_request("ce", "CreateAnomalySubscription", "no monitor to subscribe to")),
                Some(monitor) => {
                    alerts.monitors = vec![monitor];
                    let ce = aws.cost_explorer();
                    match &arn {
                        Some(arn) => ce.update_subscription(arn, &alerts).await,
                        None => ce.create_subscription(&alerts).await,
                    }
                    .map(|()| None)
                }
            },
        };
        let (state, detail) = match result {
            Ok(detail) => {
                (change.status, change.detail) = (Status::Done, detail);
                (ActionState::Done, change.detail.clone().unwrap_or_else(|| change.change.name().to_string()))
            }
            Err(e) => {
                (change.status, change.detail) = (Status::Failed, Some(e.to_string()));
                (ActionState::Failed, e.to_string())
            }
        };
        if let Err(e) = changes::Changes(ctx.journal.db()).settle(id, state, &detail, ctx.clock.now()) {
            tracing::error!(error = %e, "could not settle a journaled guardrail change; the next run supersedes it");
        }
        tracing::info!(kind = change.kind.as_str(), name = %change.name, status = ?change.status, "guardrail reconciled");
        changes.push(change);
    }
    (changes, errors)
}

/// What a dry run reports: the plan, applied to nothing.
pub fn dry_run(plan: GuardrailPlan) -> (Vec<GuardrailChange>, Vec<AwsError>) {
    (plan.items.into_iter().map(|i| i.change).collect(), plan.errors)
}

/// What kind of guardrail a change is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum GuardrailKind {
    Budget,
    BillingAlarm,
    AnomalyMonitor,
    AnomalySubscription,
    StudioIdleShutdown,
}

impl GuardrailKind {
    pub fn as_str(self) -> &'static str {
        match self {
            GuardrailKind::Budget => "budget",
            GuardrailKind::BillingAlarm => "billing-alarm",
            GuardrailKind::AnomalyMonitor => "anomaly-monitor",
            GuardrailKind::AnomalySubscription => "anomaly-subscription",
            GuardrailKind::StudioIdleShutdown => "studio-idle-shutdown",
        }
    }
}

impl std::fmt::Display for GuardrailKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// As written in the report (tests compare with the text).
impl PartialEq<&str> for GuardrailKind {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

/// One declared guardrail's reconciliation, for the report.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct GuardrailChange {
    pub kind: GuardrailKind,
    pub name: String,
    pub change: Change,
    /// Field by field: what differs, as `field: now -> declared`.
    pub differences: Vec<String>,
    pub status: Status,
    pub detail: Option<String>,
    /// For a budget that exists: spend counted against it this period, and
    /// AWS's forecast for the period, so the report shows how close it is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub spend: Option<BudgetSpend>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct BudgetSpend {
    pub limit_usd: f64,
    pub actual_usd: Option<f64>,
    pub forecast_usd: Option<f64>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Change {
    Create,
    Update,
    Unchanged,
    /// Owned by costguard (name prefix) but no longer declared: reported,
    /// never deleted by costguard.
    NotDeclared,
}

impl GuardrailChange {
    pub fn new(kind: GuardrailKind, name: impl Into<String>, change: Change, differences: Vec<String>, status: Status, detail: Option<String>) -> Self {
        Self { kind, name: name.into(), change, differences, status, detail, spend: None }
    }

    /// Carries costguard's prefix but is no longer declared: reported, and
    /// left alone (deleting what a person may rely on is theirs to decide).
    pub fn not_declared(kind: GuardrailKind, name: impl Into<String>) -> Self {
        let why = "carries costguard's prefix but is no longer declared; left alone (delete it by hand if it should go)";
        Self::new(kind, name, Change::NotDeclared, Vec::new(), Status::Skipped, Some(why.to_string()))
    }
}

impl Change {
    pub fn name(self) -> &'static str {
        match self {
            Change::Create => "create",
            Change::Update => "update",
            Change::Unchanged => "unchanged",
            Change::NotDeclared => "not-declared",
        }
    }
}
