//! The least-privilege IAM policy for a set of policies and a config: only
//! the actions they use, built from what each resource type, filter, action
//! and guardrail declares (never kept by hand). Mutations are scoped to
//! resource ARNs; `"*"` only for list, describe and metric reads that IAM
//! cannot scope.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Value};

use crate::config::{Guardrails, Policy};
use crate::filters::Filter;

/// What the generated policy must cover besides the policies.
#[derive(Clone, Debug, Default)]
pub struct Needs<'a> {
    pub guardrails: Option<&'a Guardrails>,
    /// The Price List API is asked (`prices: api`).
    pub price_list_api: bool,
    /// Email goes through SES.
    pub ses: bool,
    /// Mutations only on resources carrying this tag key.
    pub require_tag: Option<&'a str>,
}

/// The IAM action an API call needs. Most are `service:Operation`; AWS
/// Budgets groups its operations under two actions.
pub fn iam_action(call: &str) -> String {
    match call.split_once(':') {
        Some(("budgets", op)) if op.starts_with("Describe") => "budgets:ViewBudget".to_string(),
        Some(("budgets", _)) => "budgets:ModifyBudget".to_string(),
        _ => call.to_string(),
    }
}

fn uses_metrics(filters: &[Filter]) -> bool {
    filters.iter().any(|f| match f {
        Filter::Metrics(_) | Filter::Rightsizing(_) => true,
        Filter::And(list) | Filter::Or(list) | Filter::Not(list) => uses_metrics(list),
        Filter::Value(_) | Filter::Tag(_) | Filter::Age(_) => false,
    })
}

/// Every IAM action the enabled policies and `needs` use.
pub fn actions(policies: &[Policy], needs: &Needs) -> BTreeSet<String> {
    // The service's readiness probe (and the budgets' account id). AWS needs
    // no permission for it; listed so the policy names every call.
    let mut all = BTreeSet::from(["sts:GetCallerIdentity".to_string()]);
    for p in policies.iter().filter(|p| p.enabled) {
        all.extend(p.resource_type.read_permissions().iter().map(|a| a.to_string()));
        if uses_metrics(&p.filters) {
            all.insert("cloudwatch:GetMetricData".to_string());
        }
        for a in &p.actions {
            all.extend(a.permissions(p.resource_type).iter().map(|a| a.to_string()));
        }
    }
    if needs.price_list_api && policies.iter().any(|p| p.enabled) {
        all.insert("pricing:GetProducts".to_string());
    }
    if needs.ses {
        all.insert("ses:SendEmail".to_string());
    }
    if let Some(g) = needs.guardrails {
        if !g.budgets.is_empty() {
            all.extend(["budgets:ViewBudget", "budgets:ModifyBudget"].map(str::to_string));
        }
        if !g.billing_alarm_thresholds.is_empty() {
            all.extend(["cloudwatch:DescribeAlarms", "cloudwatch:PutMetricAlarm"].map(str::to_string));
        }
        if g.spend.is_some() {
            all.extend(["ce:GetCostAndUsage", "ce:GetCostForecast"].map(str::to_string));
        }
        if g.anomaly_detection.is_some() {
            all.extend(
                ["ce:GetAnomalyMonitors", "ce:CreateAnomalyMonitor", "ce:GetAnomalySubscriptions", "ce:CreateAnomalySubscription", "ce:UpdateAnomalySubscription"]
                    .map(str::to_string),
            );
        }
    }
    all
}

/// The ARNs an action can be limited to, where IAM supports it.
fn scope(action: &str, guardrails: Option<&Guardrails>) -> Option<Vec<String>> {
    let prefix = guardrails.map_or(crate::config::guardrails::DEFAULT_PREFIX, |g| g.name_prefix.as_str());
    let arns: &[&str] = match action {
        "sagemaker:DeleteEndpoint" => &["arn:aws:sagemaker:*:*:endpoint/*"],
        "sagemaker:DeleteEndpointConfig" => &["arn:aws:sagemaker:*:*:endpoint-config/*"],
        "sagemaker:StopNotebookInstance" => &["arn:aws:sagemaker:*:*:notebook-instance/*"],
        "sagemaker:AddTags" | "sagemaker:DeleteTags" => &["arn:aws:sagemaker:*:*:endpoint/*", "arn:aws:sagemaker:*:*:notebook-instance/*"],
        "logs:PutRetentionPolicy" => &["arn:aws:logs:*:*:log-group:*"],
        "ec2:StopInstances" | "ec2:StartInstances" | "ec2:ModifyInstanceAttribute" | "ec2:CreateTags" | "ec2:DeleteTags" => &["arn:aws:ec2:*:*:instance/*"],
        "budgets:ModifyBudget" => return Some(vec![format!("arn:aws:budgets::*:budget/{prefix}*")]),
        "budgets:ViewBudget" => &["arn:aws:budgets::*:budget/*"],
        "cloudwatch:PutMetricAlarm" => return Some(vec![format!("arn:aws:cloudwatch:us-east-1:*:alarm:{prefix}billing-*")]),
        "ses:SendEmail" => &["arn:aws:ses:*:*:identity/*", "arn:aws:ses:*:*:configuration-set/*"],
        _ => return None,
    };
    Some(arns.iter().map(|a| a.to_string()).collect())
}

/// Actions that change resources costguard sweeps (not its own guardrails):
/// these take the `require_tag` condition.
fn changes_swept_resources(action: &str) -> bool {
    matches!(action.split_once(':'), Some(("sagemaker" | "ec2" | "logs", _))) && !action.contains(":Describe") && !action.contains(":List")
}

fn sid(service: &str, what: &str) -> String {
    let mut s = String::new();
    for part in service.split(|c: char| !c.is_ascii_alphanumeric()).chain([what]) {
        let mut chars = part.chars();
        if let Some(first) = chars.next() {
            s.push(first.to_ascii_uppercase());
            s.extend(chars);
        }
    }
    s
}

/// The IAM policy document (JSON).
pub fn document(policies: &[Policy], needs: &Needs) -> Value {
    let all = actions(policies, needs);
    let mut unscoped: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut scoped: BTreeMap<(String, Vec<String>, bool), Vec<String>> = BTreeMap::new();
    for action in &all {
        let service = action.split(':').next().unwrap_or_default().to_string();
        match scope(action, needs.guardrails) {
            Some(arns) => scoped.entry((service, arns, changes_swept_resources(action))).or_default().push(action.clone()),
            None => unscoped.entry(service).or_default().push(action.clone()),
        }
    }
    let mut statements = Vec::new();
    for (service, actions) in unscoped {
        statements.push(json!({"Sid": sid(&service, "AnyResource"), "Effect": "Allow", "Action": actions, "Resource": "*"}));
    }
    let mut seen = BTreeMap::new();
    for ((service, arns, tagged), actions) in scoped {
        let n = seen.entry(service.clone()).or_insert(0);
        *n += 1;
        let mut statement = json!({"Sid": sid(&service, &format!("Scoped{n}")), "Effect": "Allow", "Action": actions, "Resource": arns});
        if let (true, Some(tag)) = (tagged, needs.require_tag) {
            statement["Condition"] = json!({"Null": {format!("aws:ResourceTag/{tag}"): "false"}});
        }
        statements.push(statement);
    }
    json!({"Version": "2012-10-17", "Statement": statements})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budgets_operations_map_to_their_two_actions() {
        assert_eq!(iam_action("budgets:DescribeBudgets"), "budgets:ViewBudget");
        assert_eq!(iam_action("budgets:CreateNotification"), "budgets:ModifyBudget");
        assert_eq!(iam_action("logs:DescribeLogGroups"), "logs:DescribeLogGroups");
    }

    #[test]
    fn mutations_are_scoped_and_reads_are_not() -> Result<(), Box<dyn std::error::Error>> {
        let policies = crate::config::compile_text(
            std::path::Path::new("p.yaml"),
            "policies:\n  - name: p\n    resource: log-group\n    actions:\n      - type: set-retention\n        days: 30\n",
        )?;
        let doc = document(&policies, &Needs { require_tag: Some("team"), ..Default::default() });
        let statements = doc["Statement"].as_array().cloned().unwrap_or_default();
        let put = statements.iter().find(|s| s["Action"].as_array().is_some_and(|a| a.iter().any(|x| x == "logs:PutRetentionPolicy"))).ok_or("no put statement")?;
        assert_eq!(put["Resource"], json!(["arn:aws:logs:*:*:log-group:*"]));
        assert_eq!(put["Condition"], json!({"Null": {"aws:ResourceTag/team": "false"}}));
        assert!(statements.iter().all(|s| s["Resource"] != "*" || s["Action"].as_array().is_some_and(|a| a.iter().all(|x| !x.as_str().unwrap_or("").contains("Put")))));
        Ok(())
    }
}
