//! The least-privilege IAM policy for a set of policies and a config: only
//! the actions they use, built from what each resource type, filter, action
//! and guardrail declares (never kept by hand). Every change is scoped to
//! resource ARNs, or where IAM cannot scope it (a create) conditioned on
//! the tag costguard puts on what it creates; `"*"` only for reads that
//! IAM cannot scope (lists, metrics, prices).

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Value};

use crate::config::{Guardrails, Policy};
use crate::filters::Filter;
use crate::resources::Permission;

/// What the generated policy must cover besides the policies.
#[derive(Clone, Debug, Default)]
pub struct Needs<'a> {
    pub guardrails: Option<&'a Guardrails>,
    /// The Price List API is asked (`prices: api`).
    pub price_list_api: bool,
    /// Email goes through SES, from this address: sending is allowed from
    /// its identity (the address or its domain) only.
    pub ses: Option<String>,
    /// SNS topics the `sns` channels publish to.
    pub sns_topics: Vec<String>,
    /// Mutations only on resources carrying this tag key.
    pub require_tag: Option<&'a str>,
    /// The protection tag (`None`: the default), which costguard may never write.
    pub protect_tag: Option<&'a str>,
    /// `costguard events` reads this queue (the config's `events:`).
    pub events: Option<&'a crate::config::events::EventsSettings>,
}

/// The tag costguard puts on what it creates (anomaly monitors and
/// subscriptions), so IAM can allow the creates only with it.
pub use crate::aws::costexplorer::MANAGED_TAG;

/// One statement's worth: an action, where, and under which condition.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Grant {
    pub action: String,
    /// ARN patterns; empty means `*`.
    pub resources: Vec<String>,
    /// An IAM condition block, as JSON text (kept as text to be ordered).
    pub condition: Option<String>,
    /// A change to a resource costguard sweeps: `--require-tag` applies.
    pub swept: bool,
}

impl Grant {
    fn read(action: &str) -> Self {
        Grant { action: action.to_string(), resources: Vec::new(), condition: None, swept: false }
    }

    fn scoped(action: &str, resources: Vec<String>) -> Self {
        Grant { action: action.to_string(), resources, condition: None, swept: false }
    }

    fn swept(p: Permission) -> Self {
        Grant { action: p.action, resources: p.resources, condition: None, swept: true }
    }

    fn with_condition(mut self, condition: Value) -> Self {
        self.condition = Some(condition.to_string());
        self
    }

    /// Reads are `Describe*`, `List*`, `Get*`, `BatchGet*`, Budgets'
    /// `ViewBudget` and SageMaker's `Search`; known by name, not by who declared them, so a
    /// change declared among a type's reads is still caught.
    pub fn is_read(&self) -> bool {
        let verb = self.action.split_once(':').map_or(self.action.as_str(), |(_, v)| v);
        ["Describe", "List", "Get", "BatchGet", "View", "Search"].iter().any(|r| verb.starts_with(r))
    }
}

/// The IAM action an API call needs. Most are `service:Operation`; AWS
/// Budgets groups its operations under two actions, and S3 names some
/// differently.
pub fn iam_action(call: &str) -> String {
    match call.split_once(':') {
        Some(("budgets", op)) if op.starts_with("Describe") => "budgets:ViewBudget".to_string(),
        Some(("budgets", _)) => "budgets:ModifyBudget".to_string(),
        Some(("s3", "ListBuckets")) => "s3:ListAllMyBuckets".to_string(),
        Some(("s3", "GetBucketLifecycleConfiguration")) => "s3:GetLifecycleConfiguration".to_string(),
        Some(("s3", "PutBucketLifecycleConfiguration" | "DeleteBucketLifecycle")) => "s3:PutLifecycleConfiguration".to_string(),
        Some(("s3", "DeleteBucketTagging")) => "s3:PutBucketTagging".to_string(),
        _ => call.to_string(),
    }
}

fn uses_metrics(filters: &[Filter]) -> bool {
    filters.iter().any(|f| match f {
        Filter::Metrics(_) | Filter::Rightsizing(_) => true,
        Filter::And(list) | Filter::Idle(list) | Filter::Or(list) | Filter::Not(list) => uses_metrics(list),
        Filter::Value(_) | Filter::Tag(_) | Filter::Age(_) | Filter::Expires(_) | Filter::OffHours(_) => false,
    })
}

/// Every grant the enabled policies and `needs` call for.
pub fn grants(policies: &[Policy], needs: &Needs) -> Vec<Grant> {
    // The access check before every sweep (and the budgets' account id).
    let mut all = vec![Grant::read("sts:GetCallerIdentity")];
    for p in policies.iter().filter(|p| p.enabled) {
        let rt = p.resource_type;
        all.extend(rt.read_permissions().iter().map(|a| Grant::read(a)));
        if p.is_mutating() {
            all.extend(rt.reread_permissions().iter().map(|a| Grant::read(a)));
        }
        if uses_metrics(&p.filters) {
            all.push(Grant::read("cloudwatch:GetMetricData"));
            // Its series found in bulk before any describe.
            if rt.series_by().is_some() {
                all.push(Grant::read("cloudwatch:ListMetrics"));
            }
        }
        for a in &p.actions {
            let granted = a.permissions(rt).into_iter().map(Grant::swept);
            match a {
                // Only costguard's own tag may be written or removed: never
                // the protection tag, nor anyone else's. (S3 writes a
                // bucket's whole tag set at once; IAM has no tag-key
                // condition for it.)
                crate::actions::Action::Mark(_) => all.extend(granted.map(|g| {
                    if g.action.starts_with("s3:") {
                        g
                    } else {
                        g.with_condition(json!({"ForAllValues:StringEquals": {"aws:TagKeys": [crate::resources::MARK_TAG]}}))
                    }
                })),
                _ => all.extend(granted),
            }
            // What an off-hours policy puts to sleep, its sweeps wake.
            if let (Some(change), Some(_)) = (a.change(), p.off_hours()) {
                // Re-created with its own tags (an endpoint deleted for the
                // night): any tag but the protection tag.
                let protect = needs.protect_tag.unwrap_or(crate::engine::plan::DEFAULT_PROTECT_TAG);
                all.extend(crate::resources::ResourceAction::restore_permissions(change).into_iter().map(Grant::swept).map(|g| {
                    if g.action.ends_with(":AddTags") || g.action.ends_with(":CreateTags") {
                        g.with_condition(json!({"ForAllValues:StringNotEquals": {"aws:TagKeys": [protect]}}))
                    } else {
                        g
                    }
                }));
            }
        }
    }
    if needs.price_list_api && policies.iter().any(|p| p.enabled) {
        all.push(Grant::read("pricing:GetProducts"));
    }
    if let Some(from) = &needs.ses {
        // SES checks the sender's identity: the address, or its domain.
        let mut identities = vec![format!("arn:aws:ses:*:*:identity/{from}")];
        if let Some((_, domain)) = from.rsplit_once('@') {
            identities.push(format!("arn:aws:ses:*:*:identity/{domain}"));
        }
        identities.push("arn:aws:ses:*:*:configuration-set/*".into());
        all.push(Grant::scoped("ses:SendEmail", identities));
    }
    if !needs.sns_topics.is_empty() {
        all.push(Grant::scoped("sns:Publish", needs.sns_topics.clone()));
    }
    if let Some(g) = needs.guardrails {
        all.extend(guardrail_grants(g));
    }
    if let Some(events) = needs.events {
        all.extend(event_grants(events));
    }
    all.sort();
    all.dedup();
    all
}

/// What handling creation events calls: the queue (its ARN, from its URL),
/// the re-read of every type a CloudTrail call creates, and its creator's
/// tag, which is the only tag it may write.
fn event_grants(events: &crate::config::events::EventsSettings) -> Vec<Grant> {
    let queue = queue_arn(&events.queue);
    let mut grants: Vec<Grant> =
        ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility"].iter().map(|a| Grant::scoped(a, vec![queue.clone()])).collect();
    for t in crate::resources::ResourceType::ALL.iter().filter(|t| !t.created_by().is_empty()) {
        grants.extend(t.reread_permissions().iter().map(|a| Grant::read(a)));
        // The writes, not the removals (Untag*, Delete*, Remove*).
        let writes = t.tag_permissions().iter().filter(|a| !["Untag", "Delete", "Remove"].iter().any(|r| a.contains(r)));
        grants.extend(writes.map(|a| {
            Grant::scoped(a, vec![t.arn_pattern().to_string()])
                .with_condition(json!({"ForAllValues:StringEquals": {"aws:TagKeys": [crate::resources::created::CREATED_BY_TAG]}}))
        }));
    }
    grants
}

/// `https://sqs.REGION.amazonaws.com/ACCOUNT/NAME` as an ARN; parts a URL
/// does not say (an emulator's) are `*`.
fn queue_arn(url: &str) -> String {
    let path: Vec<&str> = url.split("://").nth(1).unwrap_or(url).split('/').collect();
    let region = path.first().and_then(|host| host.split('.').nth(1)).filter(|r| r.contains('-')).unwrap_or("*");
    let (account, name) = match path.as_slice() {
        [_, account, name, ..] => (*account, *name),
        _ => ("*", "*"),
    };
    format!("arn:aws:sqs:{region}:{account}:{name}")
}

/// What reconciling the guardrails calls, each scoped to what costguard
/// owns: its name prefix (budgets, alarms) or its tag (anomaly detection).
fn guardrail_grants(g: &Guardrails) -> Vec<Grant> {
    let prefix = &g.name_prefix;
    let mut all = Vec::new();
    if !g.budgets.is_empty() {
        all.push(Grant::scoped("budgets:ViewBudget", vec!["arn:aws:budgets::*:budget/*".into()]));
        all.push(Grant::scoped("budgets:ModifyBudget", vec![format!("arn:aws:budgets::*:budget/{prefix}*")]));
    }
    if !g.billing_alarm_thresholds.is_empty() {
        all.push(Grant::read("cloudwatch:DescribeAlarms"));
        all.push(Grant::scoped("cloudwatch:PutMetricAlarm", vec![format!("arn:aws:cloudwatch:us-east-1:*:alarm:{prefix}billing-*")]));
    }
    if g.spend.is_some() {
        all.extend(["ce:GetCostAndUsage", "ce:GetCostForecast"].map(Grant::read));
    }
    if let Some(v) = &g.spend_velocity {
        all.extend(["cloudwatch:ListMetrics", "cloudwatch:GetMetricData"].map(Grant::read));
        if let Some(topic) = &v.sns_topic {
            all.push(Grant::scoped("sns:Publish", vec![topic.clone()]));
        }
    }
    if g.anomaly_detection.is_some() {
        all.extend(["ce:GetAnomalyMonitors", "ce:GetAnomalySubscriptions"].map(Grant::read));
        // Creates cannot be scoped to an ARN that does not exist yet: they
        // are allowed only with costguard's tag on what they create.
        let creating = json!({"StringEquals": {format!("aws:RequestTag/{MANAGED_TAG}"): "true"}});
        all.push(Grant::scoped("ce:CreateAnomalyMonitor", vec!["arn:aws:ce::*:anomalymonitor/*".into()]).with_condition(creating.clone()));
        all.push(Grant::scoped("ce:CreateAnomalySubscription", vec!["arn:aws:ce::*:anomalysubscription/*".into()]).with_condition(creating));
        all.push(
            Grant::scoped("ce:UpdateAnomalySubscription", vec!["arn:aws:ce::*:anomalysubscription/*".into()])
                .with_condition(json!({"StringEquals": {format!("aws:ResourceTag/{MANAGED_TAG}"): "true"}})),
        );
    }
    if g.studio_idle_shutdown.is_some() {
        all.extend(["sagemaker:ListDomains", "sagemaker:DescribeDomain"].map(Grant::read));
        // Only a domain's settings; costguard never creates or deletes one.
        all.push(Grant::scoped("sagemaker:UpdateDomain", vec!["arn:aws:sagemaker:*:*:domain/*".into()]));
    }
    all
}

/// Every IAM action the enabled policies and `needs` use.
pub fn actions(policies: &[Policy], needs: &Needs) -> BTreeSet<String> {
    grants(policies, needs).into_iter().map(|g| g.action).collect()
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

/// The IAM policy document (JSON): one statement per service and scope.
pub fn document(policies: &[Policy], needs: &Needs) -> Value {
    // (service, resources, condition) -> actions
    let mut statements: BTreeMap<(String, Vec<String>, Option<String>), BTreeSet<String>> = BTreeMap::new();
    for g in grants(policies, needs) {
        let service = g.action.split(':').next().unwrap_or_default().to_string();
        let condition = match (g.swept, needs.require_tag) {
            // Both hold: the required tag and the grant's own condition.
            (true, Some(tag)) => {
                let mut both = g.condition.as_deref().and_then(|c| serde_json::from_str::<Value>(c).ok()).unwrap_or_else(|| json!({}));
                both[String::from("Null")] = json!({format!("aws:ResourceTag/{tag}"): "false"});
                Some(both.to_string())
            }
            _ => g.condition.clone(),
        };
        statements.entry((service, g.resources.clone(), condition)).or_default().insert(g.action);
    }
    // Statements that differ only by their resources become one: the same
    // permissions, in fewer characters (IAM allows a role 10,240 of inline
    // policy). `*` is never merged with ARNs.
    // (service, scoped, actions, condition) -> resources
    type Merged = BTreeMap<(String, bool, BTreeSet<String>, Option<String>), BTreeSet<String>>;
    let mut merged = Merged::new();
    for ((service, resources, condition), actions) in statements {
        merged.entry((service, !resources.is_empty(), actions, condition)).or_default().extend(resources);
    }
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    let statements: Vec<Value> = merged
        .into_iter()
        .map(|((service, _, actions, condition), resources)| {
            let (sid, resource) = if resources.is_empty() {
                (sid(&service, "AnyResource"), json!("*"))
            } else {
                let n = seen.entry(service.clone()).or_insert(0);
                *n += 1;
                (sid(&service, &format!("Scoped{n}")), json!(resources))
            };
            let mut statement = json!({"Sid": sid, "Effect": "Allow", "Action": actions, "Resource": resource});
            if let Some(condition) = condition.and_then(|c| serde_json::from_str::<Value>(&c).ok()) {
                statement["Condition"] = condition;
            }
            statement
        })
        .collect();
    json!({"Version": "2012-10-17", "Statement": statements})
}

/// The hub's own policy, for an organization's sweep: list the accounts
/// and assume the member role in each (nothing else: every other call is
/// made as the member role). The role may be assumed only in the hub's
/// own organization (`aws:ResourceOrgID`), or, given `accounts` (an
/// accounts file's), only in those.
pub fn hub_document(member_role: &str, accounts: Option<&[String]>) -> Value {
    let mut assume = json!({"Sid": "AssumeTheMemberRole", "Effect": "Allow", "Action": "sts:AssumeRole"});
    match accounts {
        Some(ids) => assume["Resource"] = json!(ids.iter().map(|id| format!("arn:aws:iam::{id}:role/{member_role}")).collect::<Vec<_>>()),
        None => {
            assume["Resource"] = json!(format!("arn:aws:iam::*:role/{member_role}"));
            assume["Condition"] = json!({"StringEquals": {"aws:ResourceOrgID": "${aws:PrincipalOrgID}"}});
        }
    }
    json!({"Version": "2012-10-17", "Statement": [
        {"Sid": "ListTheOrganization", "Effect": "Allow", "Resource": "*",
         "Action": ["organizations:ListRoots", "organizations:ListAccounts", "organizations:ListAccountsForParent", "organizations:ListOrganizationalUnitsForParent", "organizations:ListTagsForResource", "organizations:DescribeOrganization"]},
        assume,
        {"Sid": "CheckAccess", "Effect": "Allow", "Action": "sts:GetCallerIdentity", "Resource": "*"}
    ]})
}

/// The member role's trust policy: only the hub's role may assume it, and
/// only with the external id when one is given.
pub fn member_trust(hub_role_arn: &str, external_id: Option<&str>) -> Value {
    let mut statement = json!({"Sid": "TheCostguardHub", "Effect": "Allow", "Principal": {"AWS": hub_role_arn}, "Action": "sts:AssumeRole"});
    if let Some(id) = external_id {
        statement["Condition"] = json!({"StringEquals": {"sts:ExternalId": id}});
    }
    json!({"Version": "2012-10-17", "Statement": [statement]})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_read_their_queue_only_and_write_only_the_creators_tag() {
        assert_eq!(queue_arn("https://sqs.eu-west-1.amazonaws.com/123456789012/costguard-events"), "arn:aws:sqs:eu-west-1:123456789012:costguard-events");
        assert_eq!(queue_arn("http://127.0.0.1:5000/123456789012/q"), "arn:aws:sqs:*:123456789012:q");
        let grants = event_grants(&crate::config::events::EventsSettings::for_queue("https://sqs.us-east-1.amazonaws.com/123456789012/q"));
        let receive = grants.iter().find(|g| g.action == "sqs:ReceiveMessage").expect("receive");
        assert_eq!(receive.resources, ["arn:aws:sqs:us-east-1:123456789012:q"]);
        let add = grants.iter().find(|g| g.action == "sagemaker:AddTags").expect("tags its creator");
        assert!(add.condition.as_deref().is_some_and(|c| c.contains(crate::resources::created::CREATED_BY_TAG)), "{add:?}");
        assert!(grants.iter().all(|g| !g.action.contains("Delete") || g.action == "sqs:DeleteMessage"), "{grants:?}");
        assert!(grants.iter().filter(|g| g.action.starts_with("sqs:")).all(|g| !g.resources.is_empty()));
    }

    #[test]
    fn the_hub_assumes_only_the_member_role_and_the_member_trusts_only_the_hub() {
        let hub = hub_document("CostguardMember", None);
        assert_eq!(hub["Statement"][1]["Resource"], "arn:aws:iam::*:role/CostguardMember");
        let trust = member_trust("arn:aws:iam::111111111111:role/costguard-hub", Some("x-1"));
        assert_eq!(trust["Statement"][0]["Principal"]["AWS"], "arn:aws:iam::111111111111:role/costguard-hub");
        assert_eq!(trust["Statement"][0]["Condition"]["StringEquals"]["sts:ExternalId"], "x-1");
        assert!(member_trust("arn:aws:iam::111111111111:role/h", None)["Statement"][0].get("Condition").is_none());
    }

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
        let put =
            statements.iter().find(|s| s["Action"].as_array().is_some_and(|a| a.iter().any(|x| x == "logs:PutRetentionPolicy"))).ok_or("no put statement")?;
        assert_eq!(put["Resource"], json!(["arn:aws:logs:*:*:log-group:*"]));
        assert_eq!(put["Condition"], json!({"Null": {"aws:ResourceTag/team": "false"}}));
        assert!(statements
            .iter()
            .all(|s| s["Resource"] != "*" || s["Action"].as_array().is_some_and(|a| a.iter().all(|x| !x.as_str().unwrap_or("").contains("Put")))));
        Ok(())
    }
}
