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
}
