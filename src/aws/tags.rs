//! Writing and reading tags one resource at a time, per service: EC2 by
//! resource id, SageMaker by ARN. (Reading many at once is `tagging`.)

use aws_sdk_sagemaker::types::Tag as SageMakerTag;

use super::tagging::Tags;
use super::AwsError;

/// The ids EC2 does not know answer with these codes.
pub const EC2_NOT_FOUND: &[&str] =
    &["InvalidInstanceID.NotFound", "InvalidInstanceID.Malformed", "InvalidVolume.NotFound", "InvalidVolume.Malformed", "InvalidSnapshot.NotFound"];

#[derive(Clone, Debug)]
pub struct Ec2Tags {
    client: aws_sdk_ec2::Client,
}

impl Ec2Tags {
    pub fn new(client: aws_sdk_ec2::Client) -> Self {
        Self { client }
    }

    pub async fn create(&self, id: &str, tags: &Tags) -> Result<(), AwsError> {
        let tags = tags.iter().map(|(k, v)| aws_sdk_ec2::types::Tag::builder().key(k).value(v).build()).collect();
        self.client.create_tags().resources(id).set_tags(Some(tags)).send().await.map_err(|e| AwsError::from_sdk("ec2", "CreateTags", EC2_NOT_FOUND, e))?;
        Ok(())
    }

    /// Removes `keys` from the resource `arn` names (EC2 tags by id, the
    /// ARN's last part: `arn:aws:ec2:...:instance/i-0abc` -> `i-0abc`).
    pub async fn delete(&self, arn: &str, keys: &[&str]) -> Result<(), AwsError> {
        let id = arn.rsplit('/').next().unwrap_or(arn);
        let tags = keys.iter().map(|k| aws_sdk_ec2::types::Tag::builder().key(*k).build()).collect();
        self.client.delete_tags().resources(id).set_tags(Some(tags)).send().await.map_err(|e| AwsError::from_sdk("ec2", "DeleteTags", EC2_NOT_FOUND, e))?;
        Ok(())
    }
}

/// EC2 tags as a map.
pub fn ec2_tags(tags: &[aws_sdk_ec2::types::Tag]) -> Tags {
    tags.iter().map(|t| (t.key().unwrap_or_default().to_string(), t.value().unwrap_or_default().to_string())).collect()
}

#[derive(Clone, Debug)]
pub struct SageMakerTags {
    client: aws_sdk_sagemaker::Client,
}

/// A failed EC2 call, classified (for `map_err`).
pub fn ec2_error<E: super::error::ServiceError, R: super::error::RawResponse>(
    operation: &'static str,
) -> impl FnOnce(aws_smithy_runtime_api::client::result::SdkError<E, R>) -> AwsError {
    AwsError::of("ec2", operation, EC2_NOT_FOUND)
}

/// A failed SageMaker call. SageMaker answers "no such thing" with a
/// ValidationException whose message says so: that becomes `NotFound`, so
/// that what is gone is "already done".
pub fn sagemaker_error<E: super::error::ServiceError, R: super::error::RawResponse>(
    operation: &'static str,
    e: aws_smithy_runtime_api::client::result::SdkError<E, R>,
) -> AwsError {
    // `ResourceNotFound` is how the newer operations (Studio apps and
    // spaces, inference components) say it.
    let mut e = AwsError::from_sdk("sagemaker", operation, &["ResourceNotFound"], e);
    if e.code == "ValidationException" && ["Could not find", "RecordNotFound", "does not exist"].iter().any(|m| e.message.contains(m)) {
        e.kind = super::ErrorKind::NotFound;
    }
    e
}

impl SageMakerTags {
    pub fn new(client: aws_sdk_sagemaker::Client) -> Self {
        Self { client }
    }

    pub async fn list(&self, arn: &str) -> Result<Tags, AwsError> {
        let mut pages = self.client.list_tags().resource_arn(arn).max_results(100).into_paginator().send();
        let mut tags = Tags::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| sagemaker_error("ListTags", e))?;
            tags.extend(page.tags().iter().map(|t| (t.key().unwrap_or_default().to_string(), t.value().unwrap_or_default().to_string())));
        }
        Ok(tags)
    }

    /// [`Self::list`], or `None` when the resource no longer exists.
    pub async fn list_unless_gone(&self, arn: &str) -> Result<Option<Tags>, AwsError> {
        match self.list(arn).await {
            Ok(tags) => Ok(Some(tags)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    pub async fn add(&self, arn: &str, tags: &Tags) -> Result<(), AwsError> {
        self.client.add_tags().resource_arn(arn).set_tags(Some(sagemaker_tags(tags))).send().await.map_err(|e| sagemaker_error("AddTags", e))?;
        Ok(())
    }

    pub async fn delete(&self, arn: &str, keys: &[&str]) -> Result<(), AwsError> {
        self.client
            .delete_tags()
            .resource_arn(arn)
            .set_tag_keys(Some(keys.iter().map(|k| k.to_string()).collect()))
            .send()
            .await
            .map_err(|e| sagemaker_error("DeleteTags", e))?;
        Ok(())
    }
}

/// Tags as SageMaker's create calls take them.
pub fn sagemaker_tags(tags: &Tags) -> Vec<SageMakerTag> {
    tags.iter().map(|(k, v)| SageMakerTag::builder().key(k).value(v).build()).collect()
}

/// An SDK timestamp as a chrono time.
pub fn time(t: Option<&aws_smithy_types::DateTime>) -> Option<chrono::DateTime<chrono::Utc>> {
    t.and_then(|t| chrono::DateTime::from_timestamp(t.secs(), t.subsec_nanos()))
}
