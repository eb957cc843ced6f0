//! Resource Groups Tagging API: every tag of a kind of resource, in bulk.
//!
//! One GetResources page carries 100 resources' tags; per-resource tag calls
//! are limited to a few a second by AWS, so tags are never read one by one.

use std::collections::HashMap;

use crate::small_map::SmallMap;

use super::AwsError;

const SERVICE: &str = "tag";
const PAGE_SIZE: i32 = 100;

/// A resource's tags: a map in key order, as a vector (see [`SmallMap`]).
pub type Tags = SmallMap<String>;

#[derive(Clone, Debug)]
pub struct TaggingClient {
    client: aws_sdk_resourcegroupstagging::Client,
}

impl TaggingClient {
    pub fn new(client: aws_sdk_resourcegroupstagging::Client) -> Self {
        Self { client }
    }

    /// Tags of every tagged resource matching `type_filter` (e.g. `logs`,
    /// `sagemaker:endpoint`), keyed by ARN. Untagged resources do not appear.
    pub async fn tags_by_arn(&self, type_filter: &str) -> Result<HashMap<String, Tags>, AwsError> {
        let mut pages = self.client.get_resources().resource_type_filters(type_filter).resources_per_page(PAGE_SIZE).into_paginator().send();
        let mut by_arn = HashMap::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| AwsError::from_sdk(SERVICE, "GetResources", &[], e))?;
            for mapping in page.resource_tag_mapping_list() {
                let Some(arn) = mapping.resource_arn() else { continue };
                let tags: Tags = mapping.tags().iter().map(|t| (t.key().to_string(), t.value().to_string())).collect();
                by_arn.insert(arn.to_string(), tags);
            }
        }
        Ok(by_arn)
    }

    /// [`Self::tags_by_arn`], or `None` when the Tagging API cannot be read
    /// (an IAM policy from before a type read its tags in bulk lacks
    /// `tag:GetResources`): the caller then reads tags one by one, as before.
    pub async fn tags_by_arn_or_fall_back(&self, type_filter: &str) -> Option<HashMap<String, Tags>> {
        match self.tags_by_arn(type_filter).await {
            Ok(tags) => Some(tags),
            Err(e) => {
                tracing::warn!(resource_type = type_filter, error = %e, "tags cannot be read in bulk; reading them one resource at a time");
                None
            }
        }
    }

    /// The tags of one listing's resources, read in bulk when there is any
    /// resource to read them for; with `fold_case`, matched to ARNs without
    /// regard to case (AWS spells parts of some ARNs as it likes: a Studio
    /// app's type).
    pub async fn bulk(&self, type_filter: &str, any: bool, fold_case: bool) -> BulkTags {
        if !any {
            return BulkTags { by_arn: None, fold_case };
        }
        let by_arn = self.tags_by_arn_or_fall_back(type_filter).await;
        let by_arn = match fold_case {
            true => by_arn.map(|t| t.into_iter().map(|(arn, tags)| (arn.to_ascii_lowercase(), tags)).collect()),
            false => by_arn,
        };
        BulkTags { by_arn, fold_case }
    }
}

/// One listing's tags read in bulk: [`TaggingClient::bulk`].
#[derive(Debug, Default)]
pub struct BulkTags {
    /// `None` when they could not be read (or there was nothing to read them for).
    by_arn: Option<HashMap<String, Tags>>,
    fold_case: bool,
}

impl BulkTags {
    /// The tags of `arn` (none, when it is untagged); `None` when the bulk
    /// read failed, so they must be read one by one.
    pub fn take(&mut self, arn: &str) -> Option<Tags> {
        let by_arn = self.by_arn.as_mut()?;
        let found = match self.fold_case {
            true => by_arn.remove(&arn.to_ascii_lowercase()),
            false => by_arn.remove(arn),
        };
        Some(found.unwrap_or_default())
    }
}
