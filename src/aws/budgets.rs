//! AWS Budgets: the account's budgets, their notifications and subscribers,
//! and the calls that create and change them.
//!
//! Budgets is a global service (its endpoint is in us-east-1) and every call
//! names the account, which [`super::Aws::account_id`] finds with one
//! sts:GetCallerIdentity per sweep.

use std::collections::BTreeMap;

use aws_sdk_budgets::types::{
    Budget as SdkBudget, BudgetType, ComparisonOperator, Notification as SdkNotification, NotificationType, NotificationWithSubscribers, Spend, Subscriber,
    SubscriptionType, ThresholdType as SdkThresholdType, TimeUnit as SdkTimeUnit,
};

use serde::Deserialize;

use super::AwsError;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Deserialize, serde::Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TimeUnit {
    Daily,
    Monthly,
    Quarterly,
    Annually,
}

impl TimeUnit {
    pub fn as_str(self) -> &'static str {
        match self {
            TimeUnit::Daily => "DAILY",
            TimeUnit::Monthly => "MONTHLY",
            TimeUnit::Quarterly => "QUARTERLY",
            TimeUnit::Annually => "ANNUALLY",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Deserialize, serde::Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum NotificationKind {
    Actual,
    Forecasted,
}

impl NotificationKind {
    pub fn as_str(self) -> &'static str {
        match self {
            NotificationKind::Actual => "ACTUAL",
            NotificationKind::Forecasted => "FORECASTED",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Deserialize, serde::Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ThresholdType {
    Percentage,
    AbsoluteValue,
}

impl ThresholdType {
    pub fn as_str(self) -> &'static str {
        match self {
            ThresholdType::Percentage => "PERCENTAGE",
            ThresholdType::AbsoluteValue => "ABSOLUTE_VALUE",
        }
    }
}

/// A monthly (or other period) cost budget in USD, as declared.
#[derive(Clone, Debug, PartialEq)]
pub struct Budget {
    pub name: String,
    pub amount_usd: f64,
    pub time_unit: TimeUnit,
    pub cost_filters: BTreeMap<String, Vec<String>>,
    pub notifications: Vec<Notification>,
}

/// One alert: "when ACTUAL spend is greater than 100% of the amount".
/// AWS identifies a notification by kind, comparison, threshold and type.
#[derive(Clone, Debug, PartialEq)]
pub struct Notification {
    pub kind: NotificationKind,
    pub threshold: f64,
    pub threshold_type: ThresholdType,
    /// Sorted and unique.
    pub emails: Vec<String>,
    pub sns_topic: Option<String>,
}

impl Notification {
    /// AWS identifies a notification by these fields; subscribers hang off it.
    pub fn same_alert(&self, other: &Notification) -> bool {
        self.kind == other.kind && self.threshold_type == other.threshold_type && (self.threshold - other.threshold).abs() < 1e-9
    }

    pub fn describe(&self) -> String {
        let unit = match self.threshold_type {
            ThresholdType::Percentage => "%",
            ThresholdType::AbsoluteValue => " USD",
        };
        format!("{} > {}{unit}", self.kind.as_str(), self.threshold)
    }
}

const SERVICE: &str = "budgets";
const NOT_FOUND: &[&str] = &["NotFoundException"];

macro_rules! sdk_err {
    ($op:literal) => {
        |e| AwsError::from_sdk(SERVICE, $op, NOT_FOUND, e)
    };
}

/// A budget as AWS holds it: the fields costguard declares.
#[derive(Clone, Debug, PartialEq)]
pub struct ObservedBudget {
    pub name: String,
    pub amount: Option<f64>,
    pub unit: Option<String>,
    pub time_unit: String,
    pub budget_type: String,
    pub cost_filters: BTreeMap<String, Vec<String>>,
    /// What AWS has counted against the budget this period, and forecasts.
    pub actual_usd: Option<f64>,
    pub forecast_usd: Option<f64>,
}

/// A notification with its subscribers, as AWS holds it.
#[derive(Clone, Debug, PartialEq)]
pub struct ObservedNotification {
    pub kind: String,
    pub comparison: String,
    pub threshold: f64,
    pub threshold_type: String,
    /// Sorted.
    pub emails: Vec<String>,
    pub sns_topic: Option<String>,
}

impl ObservedNotification {
    /// Whether AWS's notification is the declared alert (subscribers aside).
    pub fn is(&self, n: &Notification) -> bool {
        self.kind == n.kind.as_str()
            && self.comparison == "GREATER_THAN"
            && self.threshold_type == n.threshold_type.as_str()
            && (self.threshold - n.threshold).abs() < 1e-9
    }
}

#[derive(Clone, Debug)]
pub struct BudgetsClient {
    client: aws_sdk_budgets::Client,
    account_id: String,
}

fn invalid(operation: &'static str, e: impl std::fmt::Display) -> AwsError {
    AwsError::invalid_request(SERVICE, operation, e)
}

fn sdk_notification(n: &Notification) -> Result<SdkNotification, AwsError> {
    SdkNotification::builder()
        .notification_type(NotificationType::from(n.kind.as_str()))
        .comparison_operator(ComparisonOperator::GreaterThan)
        .threshold(n.threshold)
        .threshold_type(SdkThresholdType::from(n.threshold_type.as_str()))
        .build()
        .map_err(|e| invalid("CreateNotification", e))
}

fn sdk_observed_notification(n: &ObservedNotification) -> Result<SdkNotification, AwsError> {
    SdkNotification::builder()
        .notification_type(NotificationType::from(n.kind.as_str()))
        .comparison_operator(ComparisonOperator::from(n.comparison.as_str()))
        .threshold(n.threshold)
        .threshold_type(SdkThresholdType::from(n.threshold_type.as_str()))
        .build()
        .map_err(|e| invalid("DeleteNotification", e))
}

fn subscriber(kind: SubscriptionType, address: &str) -> Result<Subscriber, AwsError> {
    Subscriber::builder().subscription_type(kind).address(address).build().map_err(|e| invalid("CreateSubscriber", e))
}

fn subscribers(emails: &[String], sns_topic: Option<&str>) -> Result<Vec<Subscriber>, AwsError> {
    let mut out: Vec<Subscriber> = emails.iter().map(|e| subscriber(SubscriptionType::Email, e)).collect::<Result<_, _>>()?;
    if let Some(topic) = sns_topic {
        out.push(subscriber(SubscriptionType::Sns, topic)?);
    }
    Ok(out)
}

fn sdk_budget(b: &Budget) -> Result<SdkBudget, AwsError> {
    let limit = Spend::builder().amount(format_amount(b.amount_usd)).unit("USD").build().map_err(|e| invalid("CreateBudget", e))?;
    let mut builder =
        SdkBudget::builder().budget_name(&b.name).budget_limit(limit).time_unit(SdkTimeUnit::from(b.time_unit.as_str())).budget_type(BudgetType::Cost);
    // CostFilters is deprecated for FilterExpression but still served by
    // AWS, simpler to declare, and what moto understands.
    #[allow(deprecated)]
    for (k, v) in &b.cost_filters {
        builder = builder.cost_filters(k, v.clone());
    }
    builder.build().map_err(|e| invalid("CreateBudget", e))
}

/// AWS keeps amounts as decimal strings ("500.0"); two decimals is what it echoes.
fn format_amount(usd: f64) -> String {
    format!("{usd:.2}")
}

impl BudgetsClient {
    pub fn new(client: aws_sdk_budgets::Client, account_id: &str) -> Self {
        Self { client, account_id: account_id.to_string() }
    }

    pub async fn list_budgets(&self) -> Result<Vec<ObservedBudget>, AwsError> {
        let mut pages = self.client.describe_budgets().account_id(&self.account_id).max_results(100).into_paginator().send();
        let mut out = Vec::new();
        while let Some(page) = pages.next().await {
            // AWS answers an account without budgets with NotFoundException.
            let page = match page.map_err(sdk_err!("DescribeBudgets")) {
                Ok(page) => page,
                Err(e) if e.is_not_found() => break,
                Err(e) => return Err(e),
            };
            for b in page.budgets() {
                #[allow(deprecated)] // CostFilters: see `sdk_budget`.
                out.push(ObservedBudget {
                    name: b.budget_name().to_string(),
                    amount: b.budget_limit().and_then(|s| s.amount().parse().ok()),
                    unit: b.budget_limit().map(|s| s.unit().to_string()),
                    time_unit: b.time_unit().as_str().to_string(),
                    budget_type: b.budget_type().as_str().to_string(),
                    cost_filters: b.cost_filters().map(|f| f.iter().map(|(k, v)| (k.clone(), v.clone())).collect()).unwrap_or_default(),
                    actual_usd: b.calculated_spend().and_then(|c| c.actual_spend()).and_then(|a| a.amount().parse().ok()),
                    forecast_usd: b.calculated_spend().and_then(|c| c.forecasted_spend()).and_then(|f| f.amount().parse().ok()),
                });
            }
        }
        Ok(out)
    }

    /// A budget's notifications, each with its subscribers.
    pub async fn notifications(&self, budget: &str) -> Result<Vec<ObservedNotification>, AwsError> {
        let mut pages =
            self.client.describe_notifications_for_budget().account_id(&self.account_id).budget_name(budget).max_results(100).into_paginator().send();
        let mut out = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(sdk_err!("DescribeNotificationsForBudget"))?;
            for n in page.notifications() {
                let mut observed = ObservedNotification {
                    kind: n.notification_type().as_str().to_string(),
                    comparison: n.comparison_operator().as_str().to_string(),
                    threshold: n.threshold(),
                    threshold_type: n.threshold_type().map_or("PERCENTAGE", |t| t.as_str()).to_string(),
                    emails: Vec::new(),
                    sns_topic: None,
                };
                let mut subs = self
                    .client
                    .describe_subscribers_for_notification()
                    .account_id(&self.account_id)
                    .budget_name(budget)
                    .notification(n.clone())
                    .max_results(100)
                    .into_paginator()
                    .send();
                while let Some(page) = subs.next().await {
                    let page = page.map_err(sdk_err!("DescribeSubscribersForNotification"))?;
                    for s in page.subscribers() {
                        match s.subscription_type() {
                            SubscriptionType::Sns => observed.sns_topic = Some(s.address().to_string()),
                            _ => observed.emails.push(s.address().to_string()),
                        }
                    }
                }
                observed.emails.sort();
                out.push(observed);
            }
        }
        Ok(out)
    }

    pub async fn create_budget(&self, b: &Budget) -> Result<(), AwsError> {
        let mut request = self.client.create_budget().account_id(&self.account_id).budget(sdk_budget(b)?);
        for n in &b.notifications {
            let with = NotificationWithSubscribers::builder()
                .notification(sdk_notification(n)?)
                .set_subscribers(Some(subscribers(&n.emails, n.sns_topic.as_deref())?))
                .build()
                .map_err(|e| invalid("CreateBudget", e))?;
            request = request.notifications_with_subscribers(with);
        }
        request.send().await.map_err(sdk_err!("CreateBudget"))?;
        Ok(())
    }

    pub async fn update_budget(&self, b: &Budget) -> Result<(), AwsError> {
        self.client.update_budget().account_id(&self.account_id).new_budget(sdk_budget(b)?).send().await.map_err(sdk_err!("UpdateBudget"))?;
        Ok(())
    }

    pub async fn create_notification(&self, budget: &str, n: &Notification) -> Result<(), AwsError> {
        self.client
            .create_notification()
            .account_id(&self.account_id)
            .budget_name(budget)
            .notification(sdk_notification(n)?)
            .set_subscribers(Some(subscribers(&n.emails, n.sns_topic.as_deref())?))
            .send()
            .await
            .map_err(sdk_err!("CreateNotification"))?;
        Ok(())
    }

    pub async fn delete_notification(&self, budget: &str, n: &ObservedNotification) -> Result<(), AwsError> {
        self.client
            .delete_notification()
            .account_id(&self.account_id)
            .budget_name(budget)
            .notification(sdk_observed_notification(n)?)
            .send()
            .await
            .map_err(sdk_err!("DeleteNotification"))?;
        Ok(())
    }

    /// Adds (`add`) or removes one subscriber of a declared notification.
    pub async fn change_subscriber(&self, budget: &str, n: &Notification, kind: SubscriberKind, address: &str, add: bool) -> Result<(), AwsError> {
        let kind = match kind {
            SubscriberKind::Email => SubscriptionType::Email,
            SubscriberKind::Sns => SubscriptionType::Sns,
        };
        let sub = subscriber(kind, address)?;
        if add {
            self.client
                .create_subscriber()
                .account_id(&self.account_id)
                .budget_name(budget)
                .notification(sdk_notification(n)?)
                .subscriber(sub)
                .send()
                .await
                .map_err(sdk_err!("CreateSubscriber"))?;
        } else {
            self.client
                .delete_subscriber()
                .account_id(&self.account_id)
                .budget_name(budget)
                .notification(sdk_notification(n)?)
                .subscriber(sub)
                .send()
                .await
                .map_err(sdk_err!("DeleteSubscriber"))?;
        }
        Ok(())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SubscriberKind {
    Email,
    Sns,
}
