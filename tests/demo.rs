//! `scripts/demo.py`, the newcomer's first ten minutes, run with this
//! build: every headline finding appears with dollars, and an email digest
//! arrives as a .eml file.

mod support;

use std::process::Command;

#[test]
fn the_demo_shows_every_headline_feature_with_dollars() {
    let root = env!("CARGO_MANIFEST_DIR");
    let out_dir = tempfile::tempdir().expect("temp dir");
    let python = std::path::Path::new(root).join(".venv/bin/python");
    assert!(python.exists(), "the test dependencies are not installed: run scripts/test.sh");
    let out = Command::new(python)
        .arg(format!("{root}/scripts/demo.py"))
        .env("COSTGUARD_BIN", env!("CARGO_BIN_EXE_costguard"))
        .env("COSTGUARD_DEMO_OUT", out_dir.path())
        .output()
        .expect("run the demo");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    let line = |what: &str| stdout.lines().find(|l| l.trim_start().starts_with(what)).unwrap_or_else(|| panic!("no {what:?} line in:\n{stdout}")).to_string();
    assert!(line("Idle SageMaker endpoint").contains("fraud-detector-v1") && line("Idle SageMaker endpoint").contains("$167.90/mo"), "{stdout}");
    assert!(line("Idle SageMaker endpoint").contains("would mark; delete due"), "its delete date: {stdout}");
    assert!(line("Busy SageMaker endpoint").contains("left alone"), "{stdout}");
    assert!(line("Over-provisioned EC2").contains("m5.2xlarge -> m5.xlarge") && line("Over-provisioned EC2").contains("saves $"), "{stdout}");
    assert!(line("Over-provisioned endpoint").contains("saves $"), "{stdout}");
    assert!(line("Idle EC2 instance").contains("legacy-api") && line("Idle EC2 instance").contains("$124.10/mo"), "{stdout}");
    assert!(line("Notebook left running").contains("$146.00/mo"), "{stdout}");
    let idle_gpu = line("Idle GPU instance");
    assert!(idle_gpu.contains("idle-gpu") && idle_gpu.contains("$884.76/mo") && idle_gpu.contains("suggest stop"), "{stdout}");
    assert!(line("Busy GPU box at 3% CPU").contains("train-box") && line("Busy GPU box").contains("left alone"), "{stdout}");
    let dark = line("Not judged");
    assert!(dark.contains("render-gpu") && dark.contains("$383.98/mo") && dark.contains("no GPU metrics"), "{stdout}");
    let logs = line("Log groups never expire");
    assert!(logs.contains("saves $") && !logs.contains("saves $0.00"), "log storage is priced: {logs}");
    assert!(line("Budgets (would create)").contains("500, 1000, 2500, 5000"), "{stdout}");
    assert!(line("Billing alarms (would create)").contains("4 on EstimatedCharges"), "{stdout}");
    assert!(!stdout.contains("$-0.00") && !stdout.contains("-0.0"), "{stdout}");
    let emails: Vec<_> = std::fs::read_dir(out_dir.path())
        .expect("the demo's folder")
        .filter_map(|e| e.ok())
        .filter(|e| e.path().extension().is_some_and(|x| x == "eml"))
        .collect();
    assert_eq!(emails.len(), 2, "a digest each to ana and ops: {stdout}");
    let eml = std::fs::read_to_string(emails[0].path()).expect("read .eml");
    assert!(eml.contains("Subject: [dry run] costguard:") && eml.contains("Content-Type: multipart/alternative"), "{eml}");
    assert!(stdout.contains("report.md") && stdout.contains("report.html"), "the reports are named: {stdout}");

    // The demo's page in a real browser, on a laptop and on a phone: no
    // console error, no ID broken across lines, no row taller than its
    // content, what to act on first one line a row; a screenshot is kept.
    let page = out_dir.path().join("report.html");
    let shot = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("demo-report.png");
    let (dom, console) = support::browser::render_at(&page, (1280, 2400), Some(&shot));
    assert!(console.is_empty(), "{console:?}");
    assert!(std::fs::metadata(&shot).is_ok_and(|m| m.len() > 10_000), "a screenshot at {}", shot.display());
    for id in [
        "total-will-change",
        "total-needs-decision",
        "total-left-alone",
        "act-first",
        "since",
        "spend",
        "daily-spend",
        "guardrails",
        "email",
        "not-judged",
        "nothing-found",
    ] {
        assert!(dom.contains(&format!("id=\"{id}\"")), "the page has #{id}");
    }
    assert!(dom.contains("No Bedrock use seen"), "no AI spend cards without data");
    assert_eq!(dom.matches("<svg class=\"chart\"").count(), 1, "the daily spend chart");
    // The check can fail: the same page with IDs allowed to break, and
    // rows padded out, is caught.
    let html = std::fs::read_to_string(&page).expect("report.html");
    assert!(html.contains("td.id{white-space:nowrap;"), "the rule the control breaks");
    let broken = out_dir.path().join("broken.html");
    std::fs::write(
        &broken,
        html.replace("td.id{white-space:nowrap;", "td.id{word-break:break-all;width:4em;").replace("</style>", "tbody tr{height:120px}</style>"),
    )
    .expect("write");
    let caught = support::browser::layout(&broken, 390, "compact");
    assert!(!caught.wrapped_ids.is_empty() && !caught.tall_rows.is_empty(), "the control is caught");
    let stray = out_dir.path().join("stray.html");
    std::fs::write(&stray, html.replacen("<div class=\"cards\" id=\"totals\">", "<div class=\"cards\" id=\"totals\"></div><div>", 1)).expect("write");
    assert!(!support::browser::layout(&stray, 1280, "compact").stray_cards.is_empty(), "a card out of its row is caught");
    for width in [1280, 390] {
        let layout = support::browser::layout(&page, width, "compact");
        assert!(layout.console.is_empty(), "{width}px: {:?}", layout.console);
        assert!(layout.wrapped_ids.is_empty(), "{width}px: IDs wrapped: {:?}", layout.wrapped_ids);
        assert!(layout.tall_rows.is_empty(), "{width}px: rows taller than their content: {:?}", layout.tall_rows);
        assert!(layout.stray_cards.is_empty(), "{width}px: cards outside a row of cards: {:?}", layout.stray_cards);
        assert!(
            !layout.lines_per_row.is_empty() && layout.lines_per_row.iter().all(|l| *l < 2.0),
            "{width}px: act first, one line a row: {:?}",
            layout.lines_per_row
        );
    }
}
