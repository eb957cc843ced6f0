//! A real headless browser (Debian's chromium, installed by
//! `scripts/setup-test-deps.sh`) loading a report page.

use std::path::{Path, PathBuf};
use std::process::Command;

fn chromium() -> PathBuf {
    let path = std::env::var_os("COSTGUARD_TEST_CHROMIUM").map_or_else(|| PathBuf::from("/usr/bin/chromium"), PathBuf::from);
    assert!(path.exists(), "{} is missing: run `scripts/test.sh` (it installs Debian's chromium) or set COSTGUARD_TEST_CHROMIUM", path.display());
    path
}

/// Loads `page` headless in a phone-sized window; returns (the DOM after
/// scripts ran, console lines).
pub fn render(page: &Path) -> (String, Vec<String>) {
    render_at(page, (390, 844), None)
}

/// Loads `page` headless in a window of `size`, and saves a screenshot of
/// it to `screenshot` if given; returns (the DOM after scripts ran,
/// console lines).
pub fn render_at(page: &Path, size: (u32, u32), screenshot: Option<&Path>) -> (String, Vec<String>) {
    if let Some(png) = screenshot {
        run(page, size, &[format!("--screenshot={}", png.display()), "--hide-scrollbars".to_string()]);
    }
    run(page, size, &["--dump-dom".to_string()])
}

fn run(page: &Path, (width, height): (u32, u32), extra: &[String]) -> (String, Vec<String>) {
    let profile = tempfile::tempdir().expect("temp dir");
    let out = Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!("--window-size={width},{height}"))
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(extra)
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("run chromium");
    assert!(out.status.success(), "chromium failed: {}", String::from_utf8_lossy(&out.stderr));
    let console = String::from_utf8_lossy(&out.stderr).lines().filter(|l| l.contains("CONSOLE")).map(str::to_string).collect();
    (String::from_utf8_lossy(&out.stdout).into_owned(), console)
}

/// What a page's layout check found: ID cells whose text wraps onto a
/// second line, rows taller than their tallest cell's content needs, and
/// summary cards outside a row of cards.
pub struct Layout {
    pub wrapped_ids: Vec<String>,
    pub tall_rows: Vec<String>,
    pub stray_cards: Vec<String>,
    /// The height of each row of the tables of `class`, over the page's line height.
    pub lines_per_row: Vec<f64>,
    pub console: Vec<String>,
}

/// The layout of `page` in a window `width` wide, measured by a script
/// added to a copy of it (the page itself is not changed).
pub fn layout(page: &Path, width: u32, class: &str) -> Layout {
    let html = std::fs::read_to_string(page).expect("read the page");
    let probe = format!(
        r#"<script>(function(){{
var wrapped=[],tall=[],rows=[];
function content(td){{var r=document.createRange();r.selectNodeContents(td);return r;}}
document.querySelectorAll('td.id').forEach(function(td){{
  var tops={{}};Array.prototype.forEach.call(content(td).getClientRects(),function(x){{if(x.width>0)tops[Math.round(x.top)]=1;}});
  if(Object.keys(tops).length>1)wrapped.push(td.textContent);}});
document.querySelectorAll('tbody tr').forEach(function(tr){{
  var need=0;Array.prototype.forEach.call(tr.cells,function(td){{var cs=getComputedStyle(td),tops={{}},n;
    Array.prototype.forEach.call(content(td).getClientRects(),function(x){{if(x.width>0)tops[Math.round(x.top)]=1;}});
    n=Math.max(1,Object.keys(tops).length);
    need=Math.max(need,n*parseFloat(cs.lineHeight)+parseFloat(cs.paddingTop)+parseFloat(cs.paddingBottom)+parseFloat(cs.borderTopWidth)+parseFloat(cs.borderBottomWidth));}});
  var h=tr.getBoundingClientRect().height;if(h>need+2)tall.push((tr.cells[0]||tr).textContent+': '+h+' > '+need);}});
var stray=[];document.querySelectorAll('.card').forEach(function(c){{if(!c.parentElement.classList.contains('cards'))stray.push(c.id||c.textContent);}});
document.body.setAttribute('data-stray',JSON.stringify(stray));
var line=parseFloat(getComputedStyle(document.body).lineHeight);
document.querySelectorAll('table.{class} tbody tr').forEach(function(tr){{rows.push(tr.getBoundingClientRect().height/line);}});
document.body.setAttribute('data-wrapped',JSON.stringify(wrapped));document.body.setAttribute('data-tall',JSON.stringify(tall));
document.body.setAttribute('data-rows',JSON.stringify(rows));}})();</script>"#
    );
    let probed = page.with_file_name("layout-probe.html");
    std::fs::write(&probed, html.replace("</body>", &format!("{probe}</body>"))).expect("write the probed page");
    let (dom, console) = render_at(&probed, (width, 900), None);
    let attribute = |name: &str| -> String {
        let at = dom.find(&format!("{name}=\"")).unwrap_or_else(|| panic!("the probe did not run: no {name}"));
        let rest = &dom[at + name.len() + 2..];
        rest[..rest.find('"').expect("attribute end")].replace("&quot;", "\"").replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">")
    };
    let strings = |name: &str| -> Vec<String> { serde_json::from_str(&attribute(name)).expect("JSON") };
    Layout {
        wrapped_ids: strings("data-wrapped"),
        tall_rows: strings("data-tall"),
        stray_cards: strings("data-stray"),
        lines_per_row: serde_json::from_str(&attribute("data-rows")).expect("JSON"),
        console,
    }
}
