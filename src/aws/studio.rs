//! SageMaker Studio domains: their default idle shutdown for JupyterLab
//! and Code Editor apps (`AppLifecycleManagement.IdleSettings`), read and
//! changed without touching any other setting of the domain.

use aws_sdk_sagemaker::types::{AppLifecycleManagement, CodeEditorAppSettings, JupyterLabAppSettings, LifecycleManagement, UserSettings};

use super::tags::sagemaker_error;
use super::AwsError;

/// The Studio apps whose idle shutdown a domain sets for its users.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StudioApp {
    JupyterLab,
    CodeEditor,
}

impl StudioApp {
    pub const ALL: [StudioApp; 2] = [StudioApp::JupyterLab, StudioApp::CodeEditor];

    pub fn as_str(self) -> &'static str {
        match self {
            StudioApp::JupyterLab => "JupyterLab",
            StudioApp::CodeEditor => "CodeEditor",
        }
    }
}

/// An app type's idle shutdown as a domain sets it by default.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IdleSettings {
    pub enabled: bool,
    /// Minutes idle before the app shuts down.
    pub idle_minutes: Option<i32>,
    /// The least and most a user may choose instead.
    pub min_minutes: Option<i32>,
    pub max_minutes: Option<i32>,
}

/// One domain, with the idle shutdown of each app type.
#[derive(Clone, Debug, PartialEq)]
pub struct Domain {
    pub id: String,
    pub name: String,
    pub status: String,
    pub idle: Vec<(StudioApp, IdleSettings)>,
}

pub struct StudioClient {
    client: aws_sdk_sagemaker::Client,
}

impl StudioClient {
    pub fn new(client: aws_sdk_sagemaker::Client) -> Self {
        Self { client }
    }

    /// Every domain's id.
    pub async fn domain_ids(&self) -> Result<Vec<String>, AwsError> {
        let mut pages = self.client.list_domains().max_results(100).into_paginator().send();
        let mut ids = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| sagemaker_error("ListDomains", e))?;
            ids.extend(page.domains().iter().filter_map(|d| d.domain_id()).map(str::to_string));
        }
        Ok(ids)
    }

    /// The domain as it is now; `None` when gone.
    pub async fn domain(&self, id: &str) -> Result<Option<Domain>, AwsError> {
        Ok(self.describe(id).await?.map(|(d, _)| d))
    }

    async fn describe(&self, id: &str) -> Result<Option<(Domain, UserSettings)>, AwsError> {
        let out = match self.client.describe_domain().domain_id(id).send().await.map_err(|e| sagemaker_error("DescribeDomain", e)) {
            Ok(out) => out,
            Err(e) if e.is_not_found() => return Ok(None),
            Err(e) => return Err(e),
        };
        let settings = out.default_user_settings().cloned().unwrap_or_else(|| UserSettings::builder().build());
        let idle = StudioApp::ALL.iter().map(|&app| (app, read(lifecycle(&settings, app)))).collect();
        let domain = Domain {
            id: id.to_string(),
            name: out.domain_name().unwrap_or(id).to_string(),
            status: out.status().map(|s| s.as_str().to_string()).unwrap_or_default(),
            idle,
        };
        Ok(Some((domain, settings)))
    }

    /// Re-reads the domain and sets, for each app type, what `decide`
    /// makes of its idle shutdown as it is now (`None`: leave it), keeping
    /// every other setting as read. Returns the domain as it was read and
    /// the settings written (none: nothing called), or `None` when gone.
    pub async fn set_idle(
        &self,
        id: &str,
        decide: impl Fn(StudioApp, &IdleSettings) -> Option<IdleSettings>,
    ) -> Result<Option<(Domain, Vec<(StudioApp, IdleSettings)>)>, AwsError> {
        let Some((domain, mut settings)) = self.describe(id).await? else { return Ok(None) };
        let mut written = Vec::new();
        for (app, now) in &domain.idle {
            let Some(want) = decide(*app, now) else { continue };
            let management = Some(AppLifecycleManagement::builder().idle_settings(write(&want)).build());
            match app {
                StudioApp::JupyterLab => {
                    let mut s = settings.jupyter_lab_app_settings.take().unwrap_or_else(|| JupyterLabAppSettings::builder().build());
                    s.app_lifecycle_management = management;
                    settings.jupyter_lab_app_settings = Some(s);
                }
                StudioApp::CodeEditor => {
                    let mut s = settings.code_editor_app_settings.take().unwrap_or_else(|| CodeEditorAppSettings::builder().build());
                    s.app_lifecycle_management = management;
                    settings.code_editor_app_settings = Some(s);
                }
            }
            written.push((*app, want));
        }
        if !written.is_empty() {
            // Only the two app types' settings are sent: UpdateDomain leaves
            // what a request does not name as it is.
            let update = UserSettings::builder()
                .set_jupyter_lab_app_settings(settings.jupyter_lab_app_settings)
                .set_code_editor_app_settings(settings.code_editor_app_settings)
                .build();
            self.client.update_domain().domain_id(id).default_user_settings(update).send().await.map_err(|e| sagemaker_error("UpdateDomain", e))?;
        }
        Ok(Some((domain, written)))
    }
}

fn lifecycle(settings: &UserSettings, app: StudioApp) -> Option<&AppLifecycleManagement> {
    match app {
        StudioApp::JupyterLab => settings.jupyter_lab_app_settings().and_then(|s| s.app_lifecycle_management()),
        StudioApp::CodeEditor => settings.code_editor_app_settings().and_then(|s| s.app_lifecycle_management()),
    }
}

fn read(management: Option<&AppLifecycleManagement>) -> IdleSettings {
    let Some(s) = management.and_then(|m| m.idle_settings()) else { return IdleSettings::default() };
    IdleSettings {
        enabled: s.lifecycle_management() == Some(&LifecycleManagement::Enabled),
        idle_minutes: s.idle_timeout_in_minutes(),
        min_minutes: s.min_idle_timeout_in_minutes(),
        max_minutes: s.max_idle_timeout_in_minutes(),
    }
}

fn write(s: &IdleSettings) -> aws_sdk_sagemaker::types::IdleSettings {
    aws_sdk_sagemaker::types::IdleSettings::builder()
        .lifecycle_management(if s.enabled { LifecycleManagement::Enabled } else { LifecycleManagement::Disabled })
        .set_idle_timeout_in_minutes(s.idle_minutes)
        .set_min_idle_timeout_in_minutes(s.min_minutes)
        .set_max_idle_timeout_in_minutes(s.max_minutes)
        .build()
}
