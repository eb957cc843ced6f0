//! Apply: the only code that changes AWS. It runs the plan's `Act` entries
//! one resource at a time; one failure never stops the others, and a
//! cancellation stops between resources, never inside one.

use tokio_util::sync::CancellationToken;

use super::plan::{Decision, Plan};
use crate::actions::ActionResult;
use crate::aws::Aws;

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Would run (dry run), or reported without an action.
    Planned,
    Done,
    Skipped,
    Failed,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Outcome {
    pub status: Status,
    pub detail: Option<String>,
}

impl Outcome {
    fn new(status: Status, detail: impl Into<Option<String>>) -> Self {
        Self { status, detail: detail.into() }
    }
}

/// The outcome of every plan entry, in `Plan::entries` order, without
/// touching AWS: what a dry run reports.
pub fn dry_run(plan: &Plan) -> Vec<Outcome> {
    plan.entries()
        .map(|(_, entry)| match &entry.decision {
            Decision::Act | Decision::Report => Outcome::new(Status::Planned, None),
            Decision::Skip(why) => Outcome::new(Status::Skipped, why.clone()),
        })
        .collect()
}

pub async fn apply(plan: &Plan, aws: &Aws, cancel: &CancellationToken) -> Vec<Outcome> {
    let mut outcomes = dry_run(plan);
    for (i, (policy, entry)) in plan.entries().enumerate() {
        if entry.decision != Decision::Act {
            continue;
        }
        if cancel.is_cancelled() {
            outcomes[i] = Outcome::new(Status::Skipped, "interrupted before this resource".to_string());
            continue;
        }
        let mut details = Vec::new();
        let mut status = Status::Done;
        for action in policy.actions.iter().filter(|a| a.is_mutating()) {
            match action.apply(aws, &entry.resource).await {
                Ok(ActionResult::Done(what)) => details.push(what),
                Ok(ActionResult::AlreadyDone(why)) => {
                    status = Status::Skipped;
                    details.push(why);
                }
                Err(e) => {
                    status = Status::Failed;
                    details.push(e.to_string());
                    break;
                }
            }
        }
        tracing::info!(
            policy = %policy.policy,
            resource = %entry.resource.id,
            region = %entry.resource.region,
            status = ?status,
            detail = %details.join("; "),
            "action applied"
        );
        outcomes[i] = Outcome::new(status, details.join("; "));
    }
    outcomes
}
