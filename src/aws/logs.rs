//! CloudWatch Logs: list log groups, set retention.

use chrono::{DateTime, TimeZone, Utc};
use serde::{Deserialize, Serialize};

use super::AwsError;

const SERVICE: &str = "logs";
const NOT_FOUND: &[&str] = &["ResourceNotFoundException"];
/// The largest page DescribeLogGroups serves.
const PAGE_SIZE: i32 = 50;

/// A log group as costguard needs it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LogGroup {
    pub name: String,
    /// Without the `:*` suffix that DescribeLogGroups' `arn` carries, so it
    /// joins with the Tagging API's ARNs.
    pub arn: String,
    pub created_at: Option<DateTime<Utc>>,
    /// `None` means the group never expires.
    pub retention_days: Option<i32>,
    pub stored_bytes: Option<i64>,
    pub class: Option<String>,
    pub kms_key_id: Option<String>,
    pub metric_filter_count: Option<i32>,
    pub deletion_protection: Option<bool>,
}

#[derive(Clone, Debug)]
pub struct LogsClient {
    client: aws_sdk_cloudwatchlogs::Client,
}

impl LogsClient {
    pub fn new(client: aws_sdk_cloudwatchlogs::Client) -> Self {
        Self { client }
    }

    /// Every log group in the region, one request per 50 groups.
    /// `on_page` receives the running total, for progress display.
    pub async fn list_log_groups(&self, mut on_page: impl FnMut(usize)) -> Result<Vec<LogGroup>, AwsError> {
        let mut pages = self.client.describe_log_groups().limit(PAGE_SIZE).into_paginator().send();
        let mut groups = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| AwsError::from_sdk(SERVICE, "DescribeLogGroups", NOT_FOUND, e))?;
            groups.extend(page.log_groups().iter().filter_map(log_group_from_sdk));
            on_page(groups.len());
        }
        Ok(groups)
    }

    pub async fn put_retention(&self, name: &str, days: i32) -> Result<(), AwsError> {
        self.client
            .put_retention_policy()
            .log_group_name(name)
            .retention_in_days(days)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk(SERVICE, "PutRetentionPolicy", NOT_FOUND, e))?;
        Ok(())
    }
}

fn log_group_from_sdk(g: &aws_sdk_cloudwatchlogs::types::LogGroup) -> Option<LogGroup> {
    // A group without a name cannot be acted on or reported; AWS always sends one.
    let name = g.log_group_name()?.to_string();
    let arn = g
        .log_group_arn()
        .map(str::to_string)
        .or_else(|| g.arn().map(|a| a.trim_end_matches(":*").to_string()))
        .unwrap_or_default();
    Some(LogGroup {
        name,
        arn,
        created_at: g.creation_time().and_then(|ms| Utc.timestamp_millis_opt(ms).single()),
        retention_days: g.retention_in_days(),
        stored_bytes: g.stored_bytes(),
        class: g.log_group_class().map(|c| c.as_str().to_string()),
        kms_key_id: g.kms_key_id().map(str::to_string),
        metric_filter_count: g.metric_filter_count(),
        deletion_protection: g.deletion_protection_enabled(),
    })
}
