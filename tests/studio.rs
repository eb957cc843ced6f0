//! `sagemaker-app`: SageMaker Studio apps. moto has Studio domains but no
//! apps, so ListApps, DescribeApp, DeleteApp and ListTags, and the Tagging
//! API's GetResources for `sagemaker:app`, are answered by the fake under
//! the real SDK clients (`support::fake_aws`), from one shared table of
//! apps that DeleteApp changes as AWS does (the app stays listed,
//! `Deleted`); every other call (the access check, other types' tags) goes
//! to the moto server.

mod support;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, Utc};
use costguard::clock::Clock;
use costguard::config::{compile_text, Policy};
use costguard::outcome::Status;
use costguard::progress::Progress;
use costguard::sweep::{self, SweepResult};
use serde_json::{json, Value};
use support::fake_aws::{Answer, FakeAws};
use tokio_util::sync::CancellationToken;

const ACCOUNT: &str = "123456789012";
const DOMAIN: &str = "d-studio0test";

#[derive(Clone)]
struct StudioApp {
    /// `("SpaceName" | "UserProfileName", name)`.
    owner: (&'static str, &'static str),
    app_type: &'static str,
    name: &'static str,
    instance_type: &'static str,
    status: &'static str,
    created: DateTime<Utc>,
    last_activity: Option<DateTime<Utc>>,
    tags: Vec<(&'static str, &'static str)>,
}

impl StudioApp {
    fn arn(&self) -> String {
        // AWS spells the app type in ARNs as it likes; costguard must not care.
        format!("arn:aws:sagemaker:us-east-1:{ACCOUNT}:app/{DOMAIN}/{}/{}/{}", self.owner.1, self.app_type.to_ascii_lowercase(), self.name)
    }

    fn id(&self) -> String {
        let kind = if self.owner.0 == "SpaceName" { "space" } else { "user-profile" };
        format!("{DOMAIN}/{kind}/{}/{}/{}", self.owner.1, self.app_type, self.name)
    }

    fn is(&self, request: &Value) -> bool {
        request["AppName"] == self.name && request["AppType"] == self.app_type && request[self.owner.0] == self.owner.1 && request["DomainId"] == DOMAIN
    }

    fn listed(&self) -> Value {
        let mut a = json!({
            "DomainId": DOMAIN,
            "AppType": self.app_type,
            "AppName": self.name,
            "Status": self.status,
            "CreationTime": self.created.timestamp(),
            "ResourceSpec": {"InstanceType": self.instance_type},
        });
        a[self.owner.0] = self.owner.1.into();
        a
    }

    fn described(&self) -> Value {
        let mut a = self.listed();
        a["AppArn"] = self.arn().into();
        if let Some(t) = self.last_activity {
            a["LastUserActivityTimestamp"] = t.timestamp().into();
        }
        a
    }
}

fn tag_list(tags: &[(&str, &str)], key: &str, value: &str) -> Value {
    tags.iter().map(|(k, v)| json!({key: k, value: v})).collect()
}

/// A Studio domain's apps, served through the fake; DeleteApp marks an app
/// `Deleted`, as AWS does.
#[derive(Clone)]
struct Studio(Arc<Mutex<Vec<StudioApp>>>);

impl Studio {
    fn new(apps: Vec<StudioApp>) -> Self {
        Studio(Arc::new(Mutex::new(apps)))
    }

    fn apps(&self) -> Vec<StudioApp> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn set(&self, apps: Vec<StudioApp>) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = apps;
    }

    fn serve(&self, moto: &support::Moto) -> FakeAws {
        let fake = FakeAws::forwarding_to(&moto.endpoint);
        let s = self.clone();
        // Pages of two, so that the listing must follow NextToken.
        fake.on("ListApps", move |request| {
            let apps = s.apps();
            let from: usize = request["NextToken"].as_str().and_then(|t| t.parse().ok()).unwrap_or(0);
            let page: Vec<Value> = apps.iter().skip(from).take(2).map(StudioApp::listed).collect();
            let mut answer = json!({ "Apps": page });
            if from + 2 < apps.len() {
                answer["NextToken"] = (from + 2).to_string().into();
            }
            Answer::Ok(answer)
        });
        let s = self.clone();
        fake.on("DescribeApp", move |request| match s.apps().iter().find(|a| a.is(request)) {
            Some(a) => Answer::Ok(a.described()),
            None => Answer::Error(400, "ResourceNotFound", "App does not exist"),
        });
        let s = self.clone();
        fake.on("DeleteApp", move |request| {
            let mut apps = s.0.lock().unwrap_or_else(|e| e.into_inner());
            match apps.iter_mut().find(|a| a.is(request)) {
                Some(a) if a.status == "InService" => {
                    a.status = "Deleted";
                    Answer::Ok(json!({}))
                }
                _ => Answer::Error(400, "ResourceNotFound", "App does not exist"),
            }
        });
        let s = self.clone();
        fake.on("ListTags", move |request| match s.apps().iter().find(|a| request["ResourceArn"] == a.arn()) {
            Some(a) => Answer::Ok(json!({"Tags": tag_list(&a.tags, "Key", "Value")})),
            None => Answer::Forward,
        });
        // The mark: tags written (and later removed) on the app.
        for op in ["AddTags", "DeleteTags"] {
            let s = self.clone();
            fake.on(op, move |request| match s.apps().iter().any(|a| request["ResourceArn"] == a.arn()) {
                true => Answer::Ok(json!({})),
                false => Answer::Error(400, "ValidationException", "Could not find resource"),
            });
        }
        let s = self.clone();
        fake.on("GetResources", move |request| {
            if request["ResourceTypeFilters"] != json!(["sagemaker:app"]) {
                return Answer::Forward;
            }
            let mappings: Vec<Value> =
                s.apps().iter().filter(|a| !a.tags.is_empty()).map(|a| json!({"ResourceARN": a.arn(), "Tags": tag_list(&a.tags, "Key", "Value")})).collect();
            Answer::Ok(json!({"ResourceTagMappingList": mappings}))
        });
        fake
    }
}

fn shipped(file: &str) -> Vec<Policy> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("policies").join(file);
    let text = std::fs::read_to_string(&path).expect("shipped policies");
    compile_text(&path, &text).expect("shipped policies are valid").into_iter().filter(|p| p.resource_type.name() == "sagemaker-app").collect()
}

async fn sweep_at(fake: &FakeAws, policies: &[Policy], state: &Path, dry_run: bool, now: DateTime<Utc>) -> SweepResult {
    let aws = costguard::aws::Aws::from_config(fake.sdk_config(true).await, costguard::aws::ApiCallCounter::new());
    let options = support::sweep_options(state, dry_run);
    sweep::run(&aws, policies, &options, &Clock::fixed(now), &Progress::hidden(), &CancellationToken::new()).await.expect("sweep runs")
}

fn app(
    owner: (&'static str, &'static str),
    app_type: &'static str,
    name: &'static str,
    instance_type: &'static str,
    now: DateTime<Utc>,
    idle_hours: Option<i64>,
) -> StudioApp {
    StudioApp {
        owner,
        app_type,
        name,
        instance_type,
        status: "InService",
        created: now - Duration::days(10),
        last_activity: idle_hours.map(|h| now - Duration::hours(h)),
        tags: vec![("owner", "ana@example.com")],
    }
}

#[tokio::test]
async fn idle_studio_apps_are_priced_marked_then_deleted_and_busy_or_free_ones_left_alone() {
    let moto = support::moto().await;
    let now = support::at("2026-12-07T12:00:00Z");
    let mut protected = app(("SpaceName", "shared"), "CodeEditor", "default", "ml.m5.xlarge", now, Some(72));
    protected.tags.push(("costguard:protect", "true"));
    let studio = Studio::new(vec![
        app(("SpaceName", "gpu-lab"), "JupyterLab", "default", "ml.g5.xlarge", now, Some(30)),
        app(("UserProfileName", "bob"), "KernelGateway", "datascience-ml-t3-medium", "ml.t3.medium", now, Some(1)),
        app(("UserProfileName", "carol"), "Canvas", "default", "system", now, Some(50)),
        app(("UserProfileName", "dave"), "JupyterServer", "default", "system", now, Some(200)),
        // Never used since it was created ten days ago.
        app(("SpaceName", "forgotten"), "JupyterLab", "default", "ml.t3.large", now, None),
        protected,
    ]);
    let fake = studio.serve(&moto);
    let policies = shipped("studio.yaml");
    let dir = tempfile::tempdir().expect("temp dir");

    let first = sweep_at(&fake, &policies, dir.path(), false, now).await;
    let found: BTreeMap<&str, &costguard::engine::findings::Finding> = first.report.findings.iter().map(|f| (f.resource_id.as_str(), f)).collect();
    let gpu = format!("{DOMAIN}/space/gpu-lab/JupyterLab/default");
    let canvas = format!("{DOMAIN}/user-profile/carol/Canvas/default");
    let forgotten = format!("{DOMAIN}/space/forgotten/JupyterLab/default");
    let shared = format!("{DOMAIN}/space/shared/CodeEditor/default");
    let ids: Vec<&str> = found.keys().copied().collect();
    let mut expected = vec![canvas.as_str(), gpu.as_str(), forgotten.as_str(), shared.as_str()];
    expected.sort_unstable();
    assert_eq!(ids, expected, "idle a day or more and billed: {found:#?}");
    // ml.g5.xlarge at $1.408 an hour; a Canvas session at $1.90; ml.t3.large at $0.10.
    for (id, hourly) in [(&gpu, 1.408), (&canvas, 1.90), (&forgotten, 0.10)] {
        let cost = found[id.as_str()].monthly_cost_usd;
        assert!(cost.is_some_and(|c| (c - hourly * 730.0).abs() < 1e-6), "{id}: {cost:?}");
    }
    assert_eq!(found[shared.as_str()].status, Status::Skipped, "protected");
    assert!(fake.calls("DeleteApp").is_empty(), "marked first, deleted only after its grace period");
    // ListApps in pages of two (six apps), and one DescribeApp per app the
    // policy could still match: the free JupyterServer is never described.
    assert_eq!(fake.calls("ListApps").len(), 3);
    let described: Vec<String> = fake.calls("DescribeApp").iter().map(|r| r["AppType"].as_str().unwrap_or_default().to_string()).collect();
    assert!(!described.contains(&"JupyterServer".to_string()), "{described:?}");
    // Tags came in bulk; ListTags only in the re-read before each of the three marks.
    assert_eq!(fake.calls("ListTags").len(), 3);
    assert!(
        fake.calls("AddTags").iter().any(|t| t["ResourceArn"].as_str().is_some_and(|a| a.ends_with("/gpu-lab/jupyterlab/default"))),
        "marked: {:?} {:#?}",
        fake.calls("AddTags"),
        found[gpu.as_str()]
    );

    // A day and a bit later: bob is still busy; the GPU lab's user came back.
    let later = now + Duration::hours(26);
    let mut apps = studio.apps();
    for a in apps.iter_mut() {
        match a.owner.1 {
            "bob" => a.last_activity = Some(later - Duration::minutes(5)),
            "gpu-lab" => a.last_activity = Some(later - Duration::hours(3)),
            _ => {}
        }
    }
    studio.set(apps);
    let second = sweep_at(&fake, &policies, dir.path(), false, later).await;
    let statuses: BTreeMap<String, &str> = studio.apps().iter().map(|a| (a.id(), a.status)).collect();
    assert_eq!(statuses[&gpu], "InService", "used since its mark: kept");
    assert_eq!(statuses[&canvas], "Deleted");
    assert_eq!(statuses[&forgotten], "Deleted");
    assert_eq!(statuses[&shared], "InService", "protected");
    assert_eq!(statuses[&format!("{DOMAIN}/user-profile/bob/KernelGateway/datascience-ml-t3-medium")], "InService");
    assert_eq!(statuses[&format!("{DOMAIN}/user-profile/dave/JupyterServer/default")], "InService", "bills nothing");
    let done: Vec<&str> = second.report.findings.iter().filter(|f| f.status == Status::Done).map(|f| f.resource_id.as_str()).collect();
    assert_eq!(done.len(), 2, "{done:?}");

    // A third sweep: the deleted apps are no longer listed, nothing to do.
    let third = sweep_at(&fake, &policies, dir.path(), false, later + Duration::hours(1)).await;
    assert!(third.report.findings.iter().all(|f| f.status != Status::Done), "{:#?}", third.report.findings);
    assert_eq!(fake.calls("DeleteApp").len(), 2);
}

// Monday 2026-12-07; Berlin is UTC+1 in December.
const MONDAY_1905_BERLIN: &str = "2026-12-07T18:05:00Z";
const TUESDAY_0720_BERLIN: &str = "2026-12-08T06:20:00Z";

#[tokio::test]
async fn studio_apps_sleep_by_being_deleted_and_nothing_is_woken_in_the_morning() {
    let moto = support::moto().await;
    let evening = support::at(MONDAY_1905_BERLIN);
    let scheduled = |mut a: StudioApp| {
        a.tags.push(("costguard:schedule", "berlin-office"));
        a
    };
    let studio = Studio::new(vec![
        scheduled(app(("SpaceName", "night-gpu"), "JupyterLab", "default", "ml.g5.xlarge", evening, Some(2))),
        // Its user is still at it: postponed, looked at again next sweep.
        scheduled(app(("SpaceName", "late-worker"), "JupyterLab", "default", "ml.t3.medium", evening, Some(0))),
        // No schedule tag: never put to sleep.
        app(("SpaceName", "unscheduled"), "JupyterLab", "default", "ml.t3.medium", evening, Some(5)),
    ]);
    let fake = studio.serve(&moto);
    let policies = shipped("offhours.yaml");
    assert_eq!(policies.len(), 1, "offhours-studio-apps");
    let dir = tempfile::tempdir().expect("temp dir");
    let night_gpu = format!("{DOMAIN}/space/night-gpu/JupyterLab/default");
    let late = format!("{DOMAIN}/space/late-worker/JupyterLab/default");

    let night = sweep_at(&fake, &policies, dir.path(), false, evening).await;
    let statuses = |s: &Studio| -> BTreeMap<String, &'static str> { s.apps().iter().map(|a| (a.id(), a.status)).collect() };
    let now = statuses(&studio);
    assert_eq!(now[&night_gpu], "Deleted", "put to sleep");
    assert_eq!(now[&late], "InService", "in use within the hour: postponed");
    assert_eq!(now[&format!("{DOMAIN}/space/unscheduled/JupyterLab/default")], "InService");
    let line = night.report.sleeping.iter().find(|s| s.resource_id == night_gpu).expect("a sleeping line");
    assert_eq!(line.status.as_str(), "put-to-sleep", "{line:?}");
    let kept = night.report.sleeping.iter().find(|s| s.resource_id == late).expect("the app in use is said to be kept up");
    assert_eq!(kept.status.as_str(), "in-use", "{kept:?}");
    assert!(kept.detail.contains("IdleSince"), "{kept:?}");

    // The next morning: nothing to wake, no call to re-create the app; the
    // sleep ends with the hours it was down as the scheduled saving.
    let morning = support::at(TUESDAY_0720_BERLIN);
    let woken = sweep_at(&fake, &policies, dir.path(), false, morning).await;
    let line = woken.report.sleeping.iter().find(|s| s.resource_id == night_gpu).expect("its sleep ends");
    assert_eq!(line.status.as_str(), "left-to-its-user", "{line:?}");
    assert!(line.detail.contains("opens it again"), "{line:?}");
    let hours = (morning - evening).num_minutes() as f64 / 60.0;
    assert!(line.saved_usd.is_some_and(|s| (s - 1.408 * hours).abs() < 1e-6), "{line:?}");
    assert!(fake.calls("CreateApp").is_empty(), "nothing is re-created");
    assert!(woken.report.errors.is_empty(), "{:?}", woken.report.errors);

    // Settled once: the next sweep has no line for it.
    let after = sweep_at(&fake, &policies, dir.path(), false, morning + Duration::minutes(5)).await;
    assert!(after.report.sleeping.iter().all(|s| s.resource_id != night_gpu), "{:?}", after.report.sleeping);
}

mod idle_shutdown {
    //! The `studio-idle-shutdown` guardrail: Studio domains are moto's
    //! (CreateDomain, ListDomains, DescribeDomain); moto lacks UpdateDomain,
    //! so the fake answers it and applies it to moto's domain (the
    //! `update_domain` command), so that the next read sees it.

    use super::*;
    use aws_sdk_sagemaker::types::{AppLifecycleManagement, AuthMode, IdleSettings, JupyterLabAppSettings, LifecycleManagement, UserSettings};
    use costguard::config::compile_guardrails_text;

    const GUARDRAILS: &str =
        "guardrails:\n  anomaly-detection: {enabled: false}\n  spend: {enabled: false}\n  studio-idle-shutdown: {minutes: 60, max-minutes: 240}\n";

    async fn create_domain(moto: &support::Moto, name: &str, jupyter: Option<(i32, i32)>) -> String {
        let mut settings = UserSettings::builder().execution_role("arn:aws:iam::123456789012:role/studio");
        if let Some((idle, max)) = jupyter {
            let idle = IdleSettings::builder()
                .lifecycle_management(LifecycleManagement::Enabled)
                .idle_timeout_in_minutes(idle)
                .max_idle_timeout_in_minutes(max)
                .build();
            let lab = JupyterLabAppSettings::builder().app_lifecycle_management(AppLifecycleManagement::builder().idle_settings(idle).build()).build();
            settings = settings.jupyter_lab_app_settings(lab);
        }
        let out = moto
            .sagemaker()
            .await
            .create_domain()
            .domain_name(name)
            .auth_mode(AuthMode::Iam)
            .default_user_settings(settings.build())
            .subnet_ids("subnet-1")
            .vpc_id("vpc-1")
            .send()
            .await
            .expect("create domain");
        out.domain_arn().and_then(|a| a.rsplit('/').next()).expect("a domain arn").to_string()
    }

    /// JupyterLab's (enabled, idle, max) and Code Editor's, as moto has them now.
    async fn idle_of(moto: &support::Moto, id: &str) -> [(bool, Option<i32>, Option<i32>); 2] {
        let d = moto.sagemaker().await.describe_domain().domain_id(id).send().await.expect("describe domain");
        let settings = d.default_user_settings().expect("settings");
        let read = |m: Option<&AppLifecycleManagement>| {
            let s = m.and_then(|m| m.idle_settings());
            (
                s.and_then(|s| s.lifecycle_management()) == Some(&LifecycleManagement::Enabled),
                s.and_then(|s| s.idle_timeout_in_minutes()),
                s.and_then(|s| s.max_idle_timeout_in_minutes()),
            )
        };
        [
            read(settings.jupyter_lab_app_settings().and_then(|s| s.app_lifecycle_management())),
            read(settings.code_editor_app_settings().and_then(|s| s.app_lifecycle_management())),
        ]
    }

    async fn reconcile(fake: &FakeAws, state: &Path, dry_run: bool) -> Vec<costguard::guardrails::GuardrailChange> {
        let aws = costguard::aws::Aws::from_config(fake.sdk_config(true).await, costguard::aws::ApiCallCounter::new());
        let mut options = support::sweep_options(state, dry_run);
        options.features.guardrails = compile_guardrails_text(Path::new("guardrails.yaml"), GUARDRAILS).expect("valid guardrails");
        let result = sweep::run(&aws, &[], &options, &support::wall_clock(), &Progress::hidden(), &CancellationToken::new()).await.expect("sweep runs");
        assert!(result.report.errors.is_empty(), "{:?}", result.report.errors);
        result.report.guardrails
    }

    #[tokio::test]
    async fn idle_shutdown_is_set_where_missing_or_looser_kept_where_stricter_and_a_second_run_changes_nothing() {
        let moto = support::moto().await;
        let bare = create_domain(&moto, "bare", None).await;
        let loose = create_domain(&moto, "loose", Some((480, 1440))).await;
        let strict = create_domain(&moto, "strict", Some((60, 120))).await;
        let fake = FakeAws::forwarding_to(&moto.endpoint);
        let emulator: &'static support::Moto = moto.moto;
        fake.on("UpdateDomain", move |request| {
            let cmd = json!({"op": "update_domain", "region": "us-east-1", "domain": request["DomainId"], "settings": request["DefaultUserSettings"]});
            emulator.command(&cmd.to_string());
            Answer::Ok(json!({"DomainArn": format!("arn:aws:sagemaker:us-east-1:{ACCOUNT}:domain/{}", request["DomainId"].as_str().unwrap_or_default())}))
        });
        let dir = tempfile::tempdir().expect("temp dir");

        // A dry run shows each difference and changes nothing.
        let planned = reconcile(&fake, dir.path(), true).await;
        let by_domain = |changes: &[costguard::guardrails::GuardrailChange], id: &str| {
            changes.iter().find(|c| c.kind == "studio-idle-shutdown" && c.name.contains(id)).cloned().expect("a line per domain")
        };
        let b = by_domain(&planned, &bare);
        assert_eq!(b.change, costguard::guardrails::Change::Update);
        assert!(b.differences.contains(&"JupyterLab idle shutdown: off -> on".to_string()), "{:?}", b.differences);
        assert!(b.differences.contains(&"CodeEditor idle timeout: none -> 60 min".to_string()), "{:?}", b.differences);
        let l = by_domain(&planned, &loose);
        assert!(l.differences.contains(&"JupyterLab idle timeout: 480 min -> 60 min".to_string()), "{:?}", l.differences);
        assert!(l.differences.contains(&"JupyterLab most a user may choose: 1440 min -> 240 min".to_string()), "{:?}", l.differences);
        let s = by_domain(&planned, &strict);
        assert!(s.differences.iter().all(|d| d.starts_with("CodeEditor")), "JupyterLab is stricter already: {:?}", s.differences);
        assert!(fake.calls("UpdateDomain").is_empty(), "a dry run changes nothing");

        let applied = reconcile(&fake, dir.path(), false).await;
        assert_eq!(fake.calls("UpdateDomain").len(), 3);
        assert_eq!(by_domain(&applied, &bare).status, Status::Done);
        let on = (true, Some(60), Some(240));
        assert_eq!(idle_of(&moto, &bare).await, [on, on]);
        assert_eq!(idle_of(&moto, &loose).await, [on, on]);
        assert_eq!(idle_of(&moto, &strict).await, [(true, Some(60), Some(120)), on], "the stricter most is kept");
        // Everything else of the domain is as it was.
        let d = moto.sagemaker().await.describe_domain().domain_id(&loose).send().await.expect("describe");
        assert_eq!(d.default_user_settings().and_then(|s| s.execution_role()), Some("arn:aws:iam::123456789012:role/studio"));

        let again = reconcile(&fake, dir.path(), false).await;
        assert!(again.iter().filter(|c| c.kind == "studio-idle-shutdown").all(|c| c.change == costguard::guardrails::Change::Unchanged), "{again:?}");
        assert_eq!(fake.calls("UpdateDomain").len(), 3, "a second run has nothing to do");
    }
}

mod spaces {
    //! `sagemaker-space`: moto has no spaces, so ListSpaces, DescribeSpace
    //! and GetResources for `sagemaker:space` are answered by the fake.

    use super::*;

    fn space(name: &str, instance: &str) -> (Value, Value) {
        let listed = json!({
            "DomainId": DOMAIN, "SpaceName": name, "Status": "InService", "CreationTime": 1_700_000_000,
            "SpaceSettingsSummary": {"AppType": "JupyterLab", "SpaceStorageSettings": {"EbsStorageSettings": {"EbsVolumeSizeInGb": 50}}},
            "SpaceSharingSettingsSummary": {"SharingType": "Private"},
            "OwnershipSettingsSummary": {"OwnerUserProfileName": "ana"},
        });
        let described = json!({
            "DomainId": DOMAIN, "SpaceName": name, "Status": "InService",
            "SpaceArn": format!("arn:aws:sagemaker:us-east-1:{ACCOUNT}:space/{DOMAIN}/{name}"),
            "SpaceSettings": {"AppType": "JupyterLab", "JupyterLabAppSettings": {"DefaultResourceSpec": {"InstanceType": instance}}},
            "OwnershipSettings": {"OwnerUserProfileName": "ana"},
        });
        (listed, described)
    }

    #[tokio::test]
    async fn spaces_that_start_on_gpus_by_default_are_reported_to_their_owner_and_never_changed() {
        let moto = support::moto().await;
        let fleet = [space("gpu-lab", "ml.g5.xlarge"), space("notes", "ml.t3.medium")];
        let fake = FakeAws::forwarding_to(&moto.endpoint);
        fake.answer("ListSpaces", json!({"Spaces": fleet.iter().map(|(l, _)| l.clone()).collect::<Vec<_>>()}));
        let described: Vec<Value> = fleet.iter().map(|(_, d)| d.clone()).collect();
        fake.on("DescribeSpace", move |request| match described.iter().find(|d| d["SpaceName"] == request["SpaceName"]) {
            Some(d) => Answer::Ok(d.clone()),
            None => Answer::Error(400, "ResourceNotFound", "Space does not exist"),
        });
        fake.on("GetResources", |request| match request["ResourceTypeFilters"] == json!(["sagemaker:space"]) {
            true => Answer::Ok(json!({"ResourceTagMappingList": [{
                // Spelled as AWS pleases: matched without regard to case.
                "ResourceARN": format!("arn:aws:sagemaker:us-east-1:{ACCOUNT}:space/{DOMAIN}/GPU-LAB"),
                "Tags": [{"Key": "owner", "Value": "ana@example.com"}]
            }]})),
            false => Answer::Forward,
        });
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("policies/studio.yaml");
        let policies: Vec<Policy> = compile_text(&path, &std::fs::read_to_string(&path).expect("shipped"))
            .expect("valid")
            .into_iter()
            .filter(|p| p.name == "studio-gpu-spaces")
            .collect();
        let dir = tempfile::tempdir().expect("temp dir");
        let result = sweep_at(&fake, &policies, dir.path(), false, support::at("2026-12-07T12:00:00Z")).await;
        let found: Vec<(&str, Option<&str>)> = result.report.findings.iter().map(|f| (f.resource_id.as_str(), f.owner.as_deref())).collect();
        assert_eq!(found, [(format!("{DOMAIN}/gpu-lab").as_str(), Some("ana@example.com"))]);
        assert_eq!(fake.calls("DescribeSpace").len(), 2, "the default instance is read only by a describe");
        assert!(fake.calls("UpdateSpace").is_empty() && fake.calls("DeleteSpace").is_empty());
    }
}
