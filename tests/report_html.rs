//! `report.html` in a real headless browser (Debian's chromium, installed by
//! `scripts/setup-test-deps.sh`): it renders without console errors, fetches
//! nothing, and shows the totals of the `report.json` written beside it.

mod support;

use support::browser::render;

use std::path::Path;

use costguard::config::compile_text;
use costguard::progress::Progress;
use costguard::report::html::escape;
use costguard::sweep;
use tokio_util::sync::CancellationToken;

#[test]
fn a_page_with_a_script_error_is_caught() {
    // The check below must be able to fail: a page that throws is seen.
    let dir = tempfile::tempdir().expect("temp dir");
    let page = dir.path().join("broken.html");
    std::fs::write(&page, "<!DOCTYPE html><html><body><p>x</p><script>undefinedFunction();</script></body></html>").expect("write");
    let (_, console) = render(&page);
    assert!(console.iter().any(|l| l.contains("undefinedFunction")), "{console:?}");
}

#[tokio::test]
async fn the_report_renders_without_errors_and_shows_the_totals_of_report_json() {
    let moto = support::moto().await;
    support::seed_endpoint(&moto, "idle-one", &[("AllTraffic", "ml.m5.xlarge", 2)], &[], 30.0).await;
    support::seed_endpoint(&moto, "idle-two", &[("AllTraffic", "ml.m5.large", 1)], &[], 30.0).await;
    support::seed_log_groups(&moto, &[("/app/<script>alert(1)</script>", None, &[]), ("/app/<b>bold</b>", None, &[])]).await;
    let policies = compile_text(
        Path::new("test.yaml"),
        &format!(
            "policies:
{}  - name: never-expire
    resource: log-group
    filters:
      - type: value
        key: retentionInDays
        value: absent
",
            support::DELETE_IDLE_ENDPOINTS
        ),
    )
    .expect("valid");
    let dir = tempfile::tempdir().expect("temp dir");
    let options = support::sweep_options(dir.path(), true);
    let result =
        sweep::run(&moto.aws().await, &policies, &options, &support::wall_clock(), &Progress::hidden(), &CancellationToken::new()).await.expect("sweep");
    let page = result.report_json.with_file_name("report.html");
    let html = std::fs::read_to_string(&page).expect("report.html");
    assert!(!html.contains(" src=") && !html.contains("<link") && !html.contains("url("), "self-contained: nothing to fetch");

    let (dom, console) = render(&page);
    assert!(console.is_empty(), "console messages: {console:?}");
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(&result.report_json).expect("report.json")).expect("JSON");
    let totals = &json["totals"];
    let split = &totals["saving_usd"];
    assert!(split["will_change"].as_f64().expect("saving") > 0.0);
    // The figure in a summary card, as the browser has it.
    let card = |id: &str| -> String {
        let at = dom.find(&format!("id=\"{id}\"")).unwrap_or_else(|| panic!("no {id} in the page"));
        let rest = &dom[at..];
        let start = rest.find("<b>").map(|i| i + 3).unwrap_or_else(|| panic!("{id} has no figure"));
        rest[start..].split("</b>").next().unwrap_or_default().to_string()
    };
    // The saving in its three parts, never one sum.
    for (id, part) in [("total-will-change", "will_change"), ("total-needs-decision", "needs_decision"), ("total-left-alone", "left_alone")] {
        assert_eq!(card(id), costguard::text::usd(split[part].as_f64()), "{id}");
    }
    assert!(!dom.contains("id=\"total-saving\""));
    assert_eq!(card("total-findings"), totals["findings"].to_string());
    assert_eq!(card("total-api-calls"), totals["api_calls"].to_string());
    // Clicking a column header sorts by it: cost, ascending, then descending.
    let clicks = "<script>var th=document.querySelectorAll('table.findings')[0].tHead.rows[0].cells[5];var order=function(){return Array.prototype.map.call(th.closest('table').tBodies[0].rows,function(r){return r.cells[0].textContent;}).join(',');};th.click();document.body.dataset.up=order();th.click();document.body.dataset.down=order();</script>";
    let clicked = page.with_file_name("clicked.html");
    std::fs::write(&clicked, html.replace("</body>", &format!("{clicks}</body>"))).expect("write");
    let (sorted, console) = render(&clicked);
    assert!(console.is_empty(), "{console:?}");
    assert!(sorted.contains("data-up=\"idle-two,idle-one\"") && sorted.contains("data-down=\"idle-one,idle-two\""), "{sorted}");

    // The markup in AWS names stayed text.
    assert!(dom.contains(&escape("/app/<b>bold</b>")) && !dom.contains("<b>bold</b>"));
    assert!(!dom.contains("<script>alert(1)"), "a name cannot add a script");
}

#[tokio::test]
async fn ai_spend_comes_first_and_a_model_id_with_markup_stays_text() {
    let moto = support::moto().await;
    let now = chrono::Utc::now();
    let hostile = "acme.<img src=x onerror=alert(1)>-v1";
    let points: Vec<(&str, chrono::DateTime<chrono::Utc>, f64, f64)> = (1..6)
        .flat_map(|k| {
            [
                ("anthropic.claude-3-haiku-20240307-v1:0", now - chrono::Duration::minutes(k * 10), 400_000.0, 40_000.0),
                (hostile, now - chrono::Duration::minutes(k * 10), 1000.0, 10.0),
            ]
        })
        .collect();
    support::put_tokens(&moto, &points).await;
    let mut options = support::sweep_options(tempfile::tempdir().expect("temp dir").keep().as_path(), true);
    options.features.guardrails = costguard::config::compile_guardrails_text(
        Path::new("g.yaml"),
        "guardrails:\n  email: [a@example.com]\n  billing-alarms: {enabled: false}\n  anomaly-detection: {enabled: false}\n  spend: {enabled: false}\n  spend-velocity:\n    total: {max-usd-per-hour: 0.01}\n",
    )
    .expect("valid");
    let result = sweep::run(&moto.aws().await, &[], &options, &support::wall_clock(), &Progress::hidden(), &CancellationToken::new()).await.expect("sweep");
    let page = result.report_json.with_file_name("report.html");
    let (dom, console) = render(&page);
    assert!(console.is_empty(), "console messages: {console:?}");
    let (ai, first_other) = (dom.find("id=\"ai-spend\""), dom.find("<p>Run <code>"));
    assert!(ai.is_some() && ai < first_other, "AI spend opens the page");
    assert!(dom.contains("<b>Alert</b> (max-usd-per-hour): all models"), "the total's alert is shown");
    assert!(dom.contains(&escape("<img src=x onerror=alert(1)>")) && !dom.contains("<img"), "markup in a model id stays text");
    assert_eq!(dom.matches("<svg class=\"spark\"").count(), 1, "a chart for the priced model only");
}

/// An organization of 1,000 accounts, each with 20 findings (a real
/// finding from a sweep on the emulator, copied under each account): the
/// page loads in the headless browser without a console message (its
/// time from navigation printed: the README's figure), charts the 20
/// accounts most at stake and one bar for the rest, and its filters narrow
/// the accounts table.
#[tokio::test]
async fn an_organization_of_a_thousand_accounts_loads_fast_and_filters() {
    use costguard::report::organization::{AccountOutcome, AccountSummary, OrgReport, OrgRun};
    let moto = support::moto().await;
    support::seed_log_groups(&moto, &[("/app/forever", None, &[])]).await;
    let policies = compile_text(Path::new("t.yaml"), support::NEVER_EXPIRE).expect("valid");
    let dir = tempfile::tempdir().expect("temp dir");
    let result = sweep::run(
        &moto.aws().await,
        &policies,
        &support::sweep_options(dir.path(), true),
        &support::wall_clock(),
        &Progress::hidden(),
        &CancellationToken::new(),
    )
    .await
    .expect("sweep");
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(&result.report_json).expect("report.json")).expect("JSON");
    let template = json["findings"][0].clone();
    let outcomes: Vec<AccountOutcome> = (0..1000u64)
        .map(|i| {
            let id = format!("{:012}", 100_000_000_000 + i);
            let saving = (i % 97) as f64 * 10.0 + 1.0;
            let findings = (0..20)
                .map(|k| {
                    let mut f = template.clone();
                    f["account_id"] = serde_json::json!(id);
                    f["resource_id"] = serde_json::json!(format!("/app/group-{k}"));
                    f["monthly_saving_usd"] = serde_json::json!(saving / 20.0);
                    serde_json::from_value(f).expect("a finding")
                })
                .collect();
            let summary: AccountSummary = serde_json::from_value(serde_json::json!({
                "account_id": id, "name": format!("team-{i:04}"), "status": if i % 50 == 7 { "failed" } else { "ok" },
                "ou": if i % 20 == 13 { "Root / unit-3 / ml".to_string() } else { format!("Root / unit-{}", i % 10) },
                "findings": 20, "monthly_cost_usd": saving * 3.0, "unpriced": 0, "monthly_saving_usd": saving, "done": 0, "failed": 0
            }))
            .expect("a summary");
            AccountOutcome::Swept { summary: Box::new(summary), findings, api_calls: Default::default() }
        })
        .collect();
    let now = support::wall_clock().now();
    let run = OrgRun { run_id: "r".into(), dry_run: true, hub_account: "123456789012".into(), started_at: now, finished_at: now };
    let report = OrgReport::build(run, outcomes, Vec::new(), Default::default());
    let out = dir.path().join("org");
    report.write(&out).expect("written");
    let page = out.join("report.html");
    let html = std::fs::read_to_string(&page).expect("report.html");
    assert_eq!(html.matches("class=\"bar\"").count(), 21, "20 accounts and the rest");
    // report.md: the 50 accounts most at stake, and their findings.
    let md = std::fs::read_to_string(out.join("report.md")).expect("report.md");
    let top = report.accounts.iter().take(50).map(|a| a.account_id.as_str()).collect::<Vec<_>>();
    assert!(md.contains("And 950 more accounts"), "{}", &md[..2000.min(md.len())]);
    let rows = md.lines().filter(|l| l.starts_with("| 1000000") || l.starts_with("| [1000000")).count();
    assert_eq!(rows, 50 + 50 * 20, "50 account rows and their 20 findings each");
    assert!(top.iter().all(|id| md.contains(&format!("| {id} |"))), "each listed account's findings");
    assert!(html.contains("the other 980 accounts"), "one bar for the rest");

    // The probe: the page's time at the end of the document, and the
    // filters driven as a person would.
    let probe = r#"<script>(function(){var t=performance.now();
var q=document.getElementById('account-filter'),st=document.getElementById('status-filter');
q.value='team-00';q.dispatchEvent(new Event('input'));var byName=document.querySelectorAll('#by-account tbody tr:not([hidden])').length;
q.value='';q.dispatchEvent(new Event('input'));st.value='failed';st.dispatchEvent(new Event('change'));
var failed=document.querySelectorAll('#by-account tbody tr:not([hidden])').length;
var count=document.getElementById('account-count').textContent;st.value='';st.dispatchEvent(new Event('change'));
var ou=document.getElementById('ou-filter');ou.value='Root / unit-3';ou.dispatchEvent(new Event('change'));
var unit3=document.querySelectorAll('#by-account tbody tr:not([hidden])').length;
ou.value='Root / unit-3 / ml';ou.dispatchEvent(new Event('change'));var ml=document.querySelectorAll('#by-account tbody tr:not([hidden])').length;
ou.value='';ou.dispatchEvent(new Event('change'));var sv=document.getElementById('saving-filter');sv.value='900';sv.dispatchEvent(new Event('input'));
var rich=document.querySelectorAll('#by-account tbody tr:not([hidden])').length;
document.body.setAttribute('data-probe',JSON.stringify({ms:t,by_name:byName,failed:failed,count:count,unit3:unit3,ml:ml,rich:rich}));})();</script>"#;
    let probed = page.with_file_name("probed.html");
    std::fs::write(&probed, html.replace("</body>", &format!("{probe}</body>"))).expect("probed page");
    let (dom, console) = render(&probed);
    assert!(console.is_empty(), "console messages: {console:?}");
    let at = dom.find("data-probe=\"").expect("the probe ran");
    let raw = &dom[at + 12..];
    let probe: serde_json::Value = serde_json::from_str(&raw[..raw.find('"').expect("end")].replace("&quot;", "\"")).expect("JSON");
    let ms = probe["ms"].as_f64().expect("a time");
    println!("1,000 accounts, 20,000 findings: report.html {} KB, parsed and scripted in {ms:.0} ms", html.len() / 1024);
    // The figure is measured, not asserted (a loaded machine must not fail
    // the suite): the README gives it, from this command with --nocapture.
    assert!(ms > 0.0, "the page's clock ran: {probe}");
    assert_eq!(probe["by_name"], 100, "team-0000 to team-0099: {probe}");
    assert_eq!(probe["failed"], 20, "every 50th account failed: {probe}");
    assert_eq!(probe["count"], "20 of 1000 accounts");
    // An OU keeps the OUs below it: unit-3's 50 accounts and ml's 50 under it.
    assert_eq!(probe["unit3"], 100, "{probe}");
    assert_eq!(probe["ml"], 50, "{probe}");
    // At least $900 a month at stake: saving = (i % 97) x 10 + 1, so i % 97
    // from 90 to 96, 7 of every 97 accounts.
    let rich = (0..1000u64).filter(|i| (i % 97) as f64 * 10.0 + 1.0 >= 900.0).count();
    assert_eq!(probe["rich"], rich, "{probe}");
}
