//! `sagemaker-notebook`: SageMaker notebook instances.
//!
//! Listing costs one ListNotebookInstances per 100 notebooks and carries
//! everything but tags; tags (ListTags) are read only for notebooks some
//! policy could still match. A notebook bills its instance hourly while
//! `InService`; stopped, it bills only its storage volume.

use chrono::{DateTime, Utc};

use super::{AttrKind, AttrValue, Attribute, Details, Resource};
use crate::aws::pricing::Product;
use crate::aws::sagemaker::Notebook;
use crate::aws::{Aws, AwsError};
use crate::pricing::{PriceBook, HOURS_PER_MONTH};

pub const ATTRIBUTES: &[Attribute] = &[
    Attribute::listed("NotebookInstanceName", AttrKind::String),
    Attribute::listed("NotebookInstanceArn", AttrKind::String),
    Attribute::listed("NotebookInstanceStatus", AttrKind::String),
    Attribute::listed("InstanceType", AttrKind::String),
    Attribute::listed("CreationTime", AttrKind::Time),
    Attribute::listed("LastModifiedTime", AttrKind::Time),
];

/// The listing has all but tags. (`stop` re-reads one notebook with
/// DescribeNotebookInstance: its own permission.)
pub const READ_PERMISSIONS: &[&str] = &["sagemaker:ListNotebookInstances", "sagemaker:ListTags"];

pub fn attribute<'a>(n: &'a Notebook, name: &str) -> Option<AttrValue<'a>> {
    match name {
        "NotebookInstanceName" => Some(AttrValue::Str(&n.name)),
        "NotebookInstanceArn" => Some(AttrValue::Str(&n.arn)),
        "NotebookInstanceStatus" => Some(AttrValue::Str(&n.status)),
        "InstanceType" => n.instance_type.as_deref().map(AttrValue::Str),
        "CreationTime" => n.created_at.map(AttrValue::Time),
        "LastModifiedTime" => n.modified_at.map(AttrValue::Time),
        _ => None,
    }
}

pub async fn collect(aws: &Aws, region: &str, on_progress: &(dyn Fn(usize) + Sync)) -> Result<Vec<Resource>, AwsError> {
    let notebooks = aws.sagemaker(region).list_notebooks(on_progress).await?;
    Ok(notebooks.into_iter().map(|n| to_resource(n, region)).collect())
}

pub fn to_resource(notebook: Notebook, region: &str) -> Resource {
    let (id, arn, created_at) = (notebook.name.clone(), notebook.arn.clone(), notebook.created_at);
    Resource::new(id, arn, region, created_at, Details::SagemakerNotebook(notebook))
}

/// Adds the tags, the one thing the listing lacks.
pub async fn describe(aws: &Aws, resource: &mut Resource) -> Result<(), AwsError> {
    resource.tags = aws.sagemaker(&resource.region).list_tags(&resource.arn).await?;
    resource.described = true;
    Ok(())
}

pub async fn reread(aws: &Aws, region: &str, name: &str) -> Result<Option<Resource>, AwsError> {
    let client = aws.sagemaker(region);
    let Some(notebook) = client.describe_notebook(name).await? else { return Ok(None) };
    let mut resource = to_resource(notebook, region);
    resource.tags = client.list_tags(&resource.arn).await?;
    resource.described = true;
    Ok(Some(resource))
}

pub async fn price(resource: &mut Resource, prices: &PriceBook, now: DateTime<Utc>) {
    let Details::SagemakerNotebook(n) = &resource.details else { return };
    if n.status != "InService" && n.status != "Pending" {
        resource.monthly_cost_usd = Some(0.0);
        resource.cost_basis = Some(format!("status {}: no instance hours billed", n.status));
        return;
    }
    let Some(instance_type) = n.instance_type.clone() else {
        resource.cost_basis = Some("instance type unknown".to_string());
        return;
    };
    match prices.hourly(Product::SageMakerNotebook, &resource.region, &instance_type, now).await {
        Some(price) => {
            resource.monthly_cost_usd = Some(price.hourly_usd * HOURS_PER_MONTH);
            resource.cost_basis = Some(format!("{} x {HOURS_PER_MONTH} h", price.describe(&instance_type)));
        }
        None => resource.cost_basis = Some(format!("no price known for {instance_type}")),
    }
}
