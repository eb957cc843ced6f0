//! `sagemaker-app`: SageMaker Studio apps of every type (JupyterLab, Code
//! Editor, KernelGateway, JupyterServer, RStudio, Canvas), each owned by a
//! user profile or a space of a Studio domain.
//!
//! Listing costs one ListApps per 100 apps across every domain, and
//! carries the instance type; tags come in bulk from the Tagging API. An
//! app's last user activity is read (one DescribeApp each) only when a
//! policy reads it, and only for the apps that policy could still match.
//! Apps that are deleted or being deleted are not listed: they bill
//! nothing and nothing can be done to them. Its id is
//! `DOMAIN/user-profile|space/OWNER/APPTYPE/APPNAME`.
//!
//! # Cost
//! A running app bills its instance by the hour; Studio instances are
//! priced at SageMaker's notebook rates. A Canvas app bills its workspace
//! session ([`CANVAS_SESSION_USD`] an hour in us-east-1) while logged in.
//! An app on the free `system` instance (Studio Classic's JupyterServer)
//! bills nothing.
//!
//! # Actions
//! `delete`: delete the app. Its space (or user profile) and the storage
//! on it stay; the user gets it back by opening it again in Studio (a new
//! app, on the same storage). costguard has nothing to restore.
//!
//! ```yaml
//! actions:
//!   - type: notify
//!     to: [resource-owner]
//!   - delete
//! ```
//!
//! ## Guarantees
//! - Runs only after the app is re-read (still running, still matching,
//!   not protected) and journaled; one already deleted is "already done".
//!
//! ## Caveats
//! - Running kernels and anything unsaved in their memory are lost;
//!   files saved in the space's storage are kept.
//! - AWS publishes each app's last user activity, not its kernels'
//!   activity: a KernelGateway app running a long job with nobody at the
//!   keyboard reads as idle. Give such apps a longer idle window, or tag
//!   them `costguard:protect`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::sagemaker::{self as sm_prices, Use};
use super::sizes::{Assessment, Sizing};
use super::{ActionInfo, AttrKind, AttrValue, Attribute, CostKind, Dimensions, Effect, Effort, Kind, Permission, Registered, Resource, ResourceAction, RestoreError, Tags};
use crate::aws::tags::{sagemaker_error, time};
use crate::aws::{sdk_client, Aws, AwsError};
use crate::outcome::ActionResult;
use crate::pricing::{PriceBook, HOURS_PER_MONTH};
use crate::yaml::{self, DecodeError, Node};

pub struct Apps;

/// The largest page ListApps serves.
const PAGE_SIZE: i32 = 100;

/// What a Canvas workspace session costs an hour in us-east-1, as the
/// SageMaker pricing page listed it on [`sm_prices::BUILTIN_TAKEN`].
pub const CANVAS_SESSION_USD: f64 = 1.90;

/// The app type of a Canvas session.
const CANVAS: &str = "Canvas";

/// The instance type of apps that run on Studio's own free instance.
const SYSTEM: &str = "system";

/// Who an app belongs to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "kind", content = "name")]
pub enum Owner {
    UserProfile(String),
    Space(String),
}

impl Owner {
    fn kind(&self) -> &'static str {
        match self {
            Owner::UserProfile(_) => "user-profile",
            Owner::Space(_) => "space",
        }
    }

    fn name(&self) -> &str {
        match self {
            Owner::UserProfile(n) | Owner::Space(n) => n,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct App {
    pub domain: String,
    pub owner: Owner,
    /// `JupyterLab`, `CodeEditor`, `KernelGateway`, `Canvas`, ...
    pub app_type: String,
    pub name: String,
    pub status: String,
    pub instance_type: Option<String>,
    pub image_arn: Option<String>,
    pub created_at: Option<DateTime<Utc>>,
    /// From DescribeApp: when its user last did something in it.
    #[serde(default)]
    pub last_user_activity: Option<DateTime<Utc>>,
}

impl App {
    pub fn id(&self) -> String {
        format!("{}/{}/{}/{}/{}", self.domain, self.owner.kind(), self.owner.name(), self.app_type, self.name)
    }

    /// Parses [`App::id`]: (domain, owner, app type, app name).
    fn parse_id(id: &str) -> Option<(String, Owner, String, String)> {
        let mut parts = id.splitn(5, '/');
        let (domain, kind, owner, app_type, name) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?, parts.next()?);
        let owner = match kind {
            "user-profile" => Owner::UserProfile(owner.to_string()),
            "space" => Owner::Space(owner.to_string()),
            _ => return None,
        };
        Some((domain.to_string(), owner, app_type.to_string(), name.to_string()))
    }

    fn arn(&self, region: &str, account: &str) -> String {
        format!("arn:aws:sagemaker:{region}:{account}:app/{}/{}/{}/{}", self.domain, self.owner.name(), self.app_type, self.name)
    }

    /// Since when nobody has used it: its last user activity, or its
    /// creation when AWS has recorded none.
    fn idle_since(&self) -> Option<DateTime<Utc>> {
        self.last_user_activity.or(self.created_at)
    }

    /// Whether running bills anything: not on Studio's free system
    /// instance (a Canvas session bills whatever its instance says).
    fn billed(&self) -> bool {
        self.app_type == CANVAS || self.instance_type.as_deref() != Some(SYSTEM)
    }

    /// Whether it still runs (and bills): not deleted, not failed.
    fn running(&self) -> bool {
        matches!(self.status.as_str(), "InService" | "Pending")
    }
}

/// Whether a listed app is there at all: deleted ones stay in the listing
/// for a while.
fn present(status: &str) -> bool {
    !matches!(status, "Deleted" | "Deleting")
}

impl Kind for Apps {
    type Details = App;
    type Action = Action;

    const NOUN: &'static str = "SageMaker Studio app";
    const ALIASES: &'static [&'static str] = &["aws.sagemaker-app", "studio-app"];
    const ATTRIBUTES: &'static [Attribute] = &[
        Attribute::listed("DomainId", AttrKind::String),
        Attribute::listed("UserProfileName", AttrKind::String),
        Attribute::listed("SpaceName", AttrKind::String),
        Attribute::listed("AppType", AttrKind::String),
        Attribute::listed("AppName", AttrKind::String),
        Attribute::listed("Status", AttrKind::String),
        Attribute::listed("InstanceType", AttrKind::String),
        Attribute::listed("SageMakerImageArn", AttrKind::String),
        Attribute::listed("CreationTime", AttrKind::Time),
        Attribute::listed("Accelerated", AttrKind::Bool),
        Attribute::listed("Billed", AttrKind::Bool),
        Attribute::described("LastUserActivityTimestamp", AttrKind::Time),
        Attribute::described("IdleSince", AttrKind::Time),
    ];
    /// Studio apps publish no usage metrics.
    const METRIC_NAMESPACE: Option<&'static str> = None;
    const READ_PERMISSIONS: &'static [&'static str] = &["sagemaker:ListApps", "sagemaker:DescribeApp", "tag:GetResources", "sagemaker:ListTags"];
    const REREAD_PERMISSIONS: &'static [&'static str] = &["sagemaker:DescribeApp", "sagemaker:ListTags"];
    const ARN_PATTERN: &'static str = "arn:aws:sagemaker:*:*:app/*";
    const TAG_PERMISSIONS: &'static [&'static str] = &["sagemaker:AddTags", "sagemaker:DeleteTags"];
    const ACTIONS: &'static [ActionInfo] = &[ActionInfo {
        name: "delete",
        effect: Effect::Removes,
        effort: Effort::Medium,
        restart: true,
        restores: None,
        reopens: Some("its user opens it again in Studio, on the storage its space kept"),
    }];
    const SIZABLE: bool = false;
    const CREATED_BY: &'static [super::created::CreatedBy] = &[
        super::created::CreatedBy::request("sagemaker.amazonaws.com", "CreateApp", "appName"),
    ];

    /// A Studio app's id is made of its domain, owner, type and name.
    fn created_ids(by: &super::created::CreatedBy, record: &serde_json::Value) -> Vec<String> {
        use super::created::{field, Part};
        let get = |key| field(record, Part::Request, key);
        let owner = match (get("spaceName"), get("userProfileName")) {
            (Some(space), _) => Owner::Space(space.to_string()),
            (None, Some(user)) => Owner::UserProfile(user.to_string()),
            (None, None) => return Vec::new(),
        };
        match (get("domainId"), get("appType"), by.ids(record).first()) {
            (Some(domain), Some(app_type), Some(name)) => vec![format!("{domain}/{}/{}/{app_type}/{name}", owner.kind(), owner.name())],
            _ => Vec::new(),
        }
    }

    fn attribute<'a>(_: &'a Resource, a: &'a App, name: &str) -> Option<AttrValue<'a>> {
        match name {
            "DomainId" => Some(AttrValue::Str(&a.domain)),
            "UserProfileName" => match &a.owner {
                Owner::UserProfile(n) => Some(AttrValue::Str(n)),
                Owner::Space(_) => None,
            },
            "SpaceName" => match &a.owner {
                Owner::Space(n) => Some(AttrValue::Str(n)),
                Owner::UserProfile(_) => None,
            },
            "AppType" => Some(AttrValue::Str(&a.app_type)),
            "AppName" => Some(AttrValue::Str(&a.name)),
            "Status" => Some(AttrValue::Str(&a.status)),
            "InstanceType" => a.instance_type.as_deref().map(AttrValue::Str),
            "SageMakerImageArn" => a.image_arn.as_deref().map(AttrValue::Str),
            "CreationTime" => a.created_at.map(AttrValue::Time),
            "Accelerated" => a.instance_type.as_deref().map(|t| AttrValue::Bool(super::sizes::is_accelerated(t))),
            "Billed" => Some(AttrValue::Bool(a.billed())),
            "LastUserActivityTimestamp" => a.last_user_activity.map(AttrValue::Time),
            "IdleSince" => a.idle_since().map(AttrValue::Time),
            _ => None,
        }
    }

    fn metric_series(_: &Resource, _: &App) -> Option<Vec<Dimensions>> {
        Some(Vec::new())
    }

    fn sizing(_: &Resource, _: &App) -> Option<Sizing> {
        None
    }

    async fn list(aws: &Aws, region: &str, _: bool, _: DateTime<Utc>, on_progress: &(dyn Fn(usize) + Sync)) -> Result<Vec<Resource>, AwsError> {
        let apps = Api::new(aws, region).list(on_progress).await?;
        if apps.is_empty() {
            return Ok(Vec::new());
        }
        let account = aws.account_id().await?;
        // Tags in bulk, matched without regard to case: AWS's app ARNs
        // spell the app type as it likes.
        let mut tags = aws.tagging(region).bulk("sagemaker:app", true, true).await;
        Ok(apps
            .into_iter()
            .map(|a| {
                let arn = a.arn(region, &account);
                let mut resource = to_resource(a, arn, region);
                resource.take_listed_tags(&mut tags, false);
                resource
            })
            .collect())
    }

    /// Reads the last user activity (DescribeApp) when a policy reads it,
    /// and the tags when the listing could not bring them in bulk.
    async fn describe(aws: &Aws, resource: &mut Resource, wanted: &super::Wanted) -> Result<(), AwsError> {
        let Some(app) = Self::details_of(resource).cloned() else { return Ok(()) };
        if wanted.contains("LastUserActivityTimestamp") || wanted.contains("IdleSince") {
            // Deleted since the listing: stays undescribed, never acted on.
            let Some((described, arn)) = Api::new(aws, &resource.region).describe(&app).await? else { return Ok(()) };
            if let Some(arn) = arn {
                resource.arn = arn;
            }
            resource.details = Self::wrap(described);
        }
        if resource.tags_listed {
            resource.described = true;
            return Ok(());
        }
        super::sagemaker::read_tags(aws, resource).await.map(|_| ())
    }

    async fn reread(aws: &Aws, region: &str, id: &str, _: DateTime<Utc>) -> Result<Option<Resource>, AwsError> {
        let Some((domain, owner, app_type, name)) = App::parse_id(id) else { return Ok(None) };
        let listed = App { domain, owner, app_type, name, status: String::new(), instance_type: None, image_arn: None, created_at: None, last_user_activity: None };
        let Some((app, arn)) = Api::new(aws, region).describe(&listed).await? else { return Ok(None) };
        if !present(&app.status) {
            return Ok(None);
        }
        let arn = match arn {
            Some(arn) => arn,
            None => app.arn(region, &aws.account_id().await?),
        };
        super::sagemaker::with_tags(aws, to_resource(app, arn, region)).await
    }

    async fn price(resource: &mut Resource, prices: &PriceBook, now: DateTime<Utc>) {
        let Some(a) = Self::details_of(resource).cloned() else { return };
        if !a.running() {
            return resource.set_cost(Some(0.0), CostKind::InstanceHours, format!("status {}: no instance hours billed", a.status));
        }
        if a.app_type == CANVAS {
            let basis = format!("Canvas session ${CANVAS_SESSION_USD}/h (us-east-1, {}) x {HOURS_PER_MONTH} h", sm_prices::BUILTIN_TAKEN);
            return resource.set_cost(Some(CANVAS_SESSION_USD * HOURS_PER_MONTH), CostKind::InstanceHours, basis);
        }
        match a.instance_type.as_deref() {
            None => resource.set_cost(None, CostKind::InstanceHours, "instance type unknown"),
            Some(SYSTEM) => resource.set_cost(Some(0.0), CostKind::InstanceHours, "runs on Studio's free system instance"),
            Some(t) => match sm_prices::hourly(prices, Use::Notebook, &resource.region, t, now).await {
                Some(price) => resource.set_cost(Some(price.usd * HOURS_PER_MONTH), CostKind::InstanceHours, format!("{} x {HOURS_PER_MONTH} h", price.describe())),
                None => resource.set_cost(None, CostKind::InstanceHours, format!("unpriced: no price known for {t}")),
            },
        }
    }

    async fn prepare_sizes(_: &super::sizes::SizeContext<'_>, _: Vec<&mut Resource>) -> Result<(), AwsError> {
        Ok(())
    }

    async fn set_tags(aws: &Aws, resource: &Resource, tags: &Tags) -> Result<(), AwsError> {
        aws.sagemaker_tags(&resource.region).add(&resource.arn, tags).await
    }

    async fn remove_tags(aws: &Aws, region: &str, arn: &str, keys: &[&str]) -> Result<(), AwsError> {
        aws.sagemaker_tags(region).delete(arn, keys).await
    }

    fn compile_action(node: &Node, path: &str, errors: &mut Vec<DecodeError>) -> Option<Action> {
        match yaml::decode::<ActionSpec>(node, path) {
            Ok(ActionSpec::Delete(_)) => Some(Action::Delete),
            Err(e) => {
                errors.push(e);
                None
            }
        }
    }

    /// Nothing to restore: the app's user opens it again.
    async fn restore(_: &Aws, action: &str, before: &Resource, _: &str) -> Result<String, RestoreError> {
        Err(RestoreError::NotRestorable(format!(
            "{action} of Studio app {} cannot be undone by costguard: its user opens it again in Studio, on the storage its space kept",
            before.id
        )))
    }
}

pub fn to_resource(app: App, arn: String, region: &str) -> Resource {
    let (id, created_at) = (app.id(), app.created_at);
    Resource::new(id, arn, region, created_at, Apps::wrap(app))
}

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "kebab-case")]
enum ActionSpec {
    Delete(DeleteSpec),
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct DeleteSpec {}

#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    Delete,
}

impl ResourceAction for Action {
    fn name(&self) -> &'static str {
        "delete"
    }

    fn describe(&self) -> String {
        "delete the Studio app (its space and storage stay; its user opens it again)".to_string()
    }

    fn permissions(&self) -> Vec<Permission> {
        vec![Permission::on("sagemaker:DeleteApp", &[Apps::ARN_PATTERN])]
    }

    fn needs_rightsizing(&self) -> bool {
        false
    }

    fn already_satisfied(&self, resource: &Resource) -> bool {
        Apps::details_of(resource).is_some_and(|a| !present(&a.status))
    }

    fn refusal(&self, resource: &Resource) -> Option<String> {
        // An app still starting cannot be deleted; a failed one bills nothing.
        Apps::details_of(resource).filter(|a| a.status != "InService").map(|a| format!("the app is {}, not InService", a.status))
    }

    fn took_effect(&self, _: &Resource, now: Option<&Resource>) -> bool {
        now.is_none_or(|r| self.already_satisfied(r))
    }

    fn monthly_saving(&self, resource: &Resource, _: DateTime<Utc>) -> Option<f64> {
        resource.monthly_cost_usd
    }

    fn undoable(&self) -> bool {
        false
    }

    async fn apply(&self, aws: &Aws, resource: &Resource, _: Option<&Assessment>) -> Result<ActionResult, AwsError> {
        let Some(app) = Apps::details_of(resource) else { return Ok(ActionResult::AlreadyDone("not a Studio app".to_string())) };
        match Api::new(aws, &resource.region).delete(app).await {
            Ok(()) => Ok(ActionResult::Done("Studio app deleting (its space and storage stay)".to_string())),
            Err(e) if e.is_not_found() => Ok(ActionResult::AlreadyDone("Studio app no longer exists".to_string())),
            Err(e) => Err(e),
        }
    }

    async fn recover(&self, _: &Aws, _: &Resource, _: Option<&Resource>) -> Option<crate::outcome::Repair> {
        None
    }
}

/// The SageMaker calls this type makes.
struct Api {
    client: aws_sdk_sagemaker::Client,
}

impl Api {
    fn new(aws: &Aws, region: &str) -> Self {
        Api { client: sdk_client!(aws, aws_sdk_sagemaker, region) }
    }

    async fn list(&self, on_page: &(dyn Fn(usize) + Sync)) -> Result<Vec<App>, AwsError> {
        let mut pages = self.client.list_apps().max_results(PAGE_SIZE).into_paginator().send();
        let mut apps = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| sagemaker_error("ListApps", e))?;
            for a in page.apps() {
                let status = a.status().map(|s| s.as_str().to_string()).unwrap_or_default();
                let owner = match (a.space_name(), a.user_profile_name()) {
                    (Some(space), _) => Owner::Space(space.to_string()),
                    (None, Some(user)) => Owner::UserProfile(user.to_string()),
                    (None, None) => continue,
                };
                if !present(&status) {
                    continue;
                }
                let spec = a.resource_spec();
                apps.push(App {
                    domain: a.domain_id().unwrap_or_default().to_string(),
                    owner,
                    app_type: a.app_type().map(|t| t.as_str().to_string()).unwrap_or_default(),
                    name: a.app_name().unwrap_or_default().to_string(),
                    status,
                    instance_type: spec.and_then(|s| s.instance_type()).map(|t| t.as_str().to_string()),
                    image_arn: spec.and_then(|s| s.sage_maker_image_arn()).map(str::to_string),
                    created_at: time(a.creation_time()),
                    last_user_activity: None,
                });
            }
            on_page(apps.len());
        }
        Ok(apps)
    }

    /// The app as DescribeApp has it now, with its ARN; `None` when gone.
    async fn describe(&self, app: &App) -> Result<Option<(App, Option<String>)>, AwsError> {
        let request = self.client.describe_app().domain_id(&app.domain).app_type(aws_sdk_sagemaker::types::AppType::from(app.app_type.as_str())).app_name(&app.name);
        let request = match &app.owner {
            Owner::UserProfile(n) => request.user_profile_name(n),
            Owner::Space(n) => request.space_name(n),
        };
        match request.send().await.map_err(|e| sagemaker_error("DescribeApp", e)) {
            Ok(d) => {
                let spec = d.resource_spec();
                let described = App {
                    status: d.status().map(|s| s.as_str().to_string()).unwrap_or_default(),
                    instance_type: spec.and_then(|s| s.instance_type()).map(|t| t.as_str().to_string()).or_else(|| app.instance_type.clone()),
                    image_arn: spec.and_then(|s| s.sage_maker_image_arn()).map(str::to_string).or_else(|| app.image_arn.clone()),
                    created_at: time(d.creation_time()).or(app.created_at),
                    last_user_activity: time(d.last_user_activity_timestamp()),
                    ..app.clone()
                };
                Ok(Some((described, d.app_arn().map(str::to_string))))
            }
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn delete(&self, app: &App) -> Result<(), AwsError> {
        let request = self.client.delete_app().domain_id(&app.domain).app_type(aws_sdk_sagemaker::types::AppType::from(app.app_type.as_str())).app_name(&app.name);
        let request = match &app.owner {
            Owner::UserProfile(n) => request.user_profile_name(n),
            Owner::Space(n) => request.space_name(n),
        };
        request.send().await.map_err(|e| sagemaker_error("DeleteApp", e))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app(owner: Owner) -> App {
        App {
            domain: "d-abc".into(),
            owner,
            app_type: "JupyterLab".into(),
            name: "default".into(),
            status: "InService".into(),
            instance_type: Some("ml.g5.xlarge".into()),
            image_arn: None,
            created_at: None,
            last_user_activity: None,
        }
    }

    #[test]
    fn an_apps_id_names_its_owner_and_reads_back() {
        for owner in [Owner::Space("team-a".into()), Owner::UserProfile("alice".into())] {
            let a = app(owner.clone());
            let (domain, parsed, app_type, name) = App::parse_id(&a.id()).expect("its own id parses");
            assert_eq!((domain.as_str(), parsed, app_type.as_str(), name.as_str()), ("d-abc", owner, "JupyterLab", "default"));
        }
        assert_eq!(App::parse_id("d-abc/nobody/x/JupyterLab/default"), None);
    }
}
