//! The email templates (MiniJinja, Jinja syntax): the shipped ones in
//! `src/notify/templates/`, each replaceable by a file of the same name in
//! the folder `email.templates` names.
//!
//! Everything that came from AWS is cleaned before a template sees it:
//! control characters (line breaks included) become spaces and long values
//! are cut, so a tag value cannot add lines to the text part or a header;
//! the HTML part is auto-escaped on top of that.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use minijinja::{AutoEscape, Environment, UndefinedBehavior};
use serde::Serialize;

use super::digest::{Digest, NoticeState};
use crate::text::{clean, total, usd, usd0};

pub const SUBJECT: &str = "subject.txt.j2";
pub const TEXT: &str = "digest.txt.j2";
pub const HTML: &str = "digest.html.j2";
/// Every template, by the file name that overrides it.
pub const NAMES: [&str; 3] = [SUBJECT, TEXT, HTML];

const SHIPPED: [(&str, &str); 3] =
    [(SUBJECT, include_str!("templates/subject.txt.j2")), (TEXT, include_str!("templates/digest.txt.j2")), (HTML, include_str!("templates/digest.html.j2"))];

/// Longest value from AWS shown (tags may be 256 characters, reasons longer).
const MAX_VALUE_CHARS: usize = 300;
/// Subjects stay on one short line whatever the template makes of them.
pub const MAX_SUBJECT_CHARS: usize = 200;
/// Instructions one render may run. The shipped templates need about 34
/// per listed finding (measured: 340,120 for 10,000, `max-items`' ceiling,
/// 46 ms in release), so an override may do 14 times as much; one with
/// loops in loops runs out in a fraction of a second instead of holding
/// the sweep.
const FUEL: u64 = 5_000_000;
/// A template file is a page of text.
const MAX_TEMPLATE_BYTES: u64 = 256 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    #[error("email template {path}: cannot read: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("email template {name}: {source:#}")]
    Invalid { name: String, source: minijinja::Error },
}

pub struct Templates {
    env: Environment<'static>,
}

impl std::fmt::Debug for Templates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Templates")
    }
}

/// The rendered parts of one message.
#[derive(Clone, Debug, PartialEq)]
pub struct Rendered {
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// What a template sees.
#[derive(Clone, Debug, Serialize)]
pub struct Context {
    pub dry_run: bool,
    pub run_id: String,
    pub generated_at: String,
    pub recipient: String,
    /// Findings in this digest, listed or not.
    pub count: usize,
    /// Findings left out of the lists (over `max-items`).
    pub more: usize,
    pub acted: usize,
    pub due_soon: usize,
    pub failed: usize,
    pub total_cost: f64,
    pub total_saving: f64,
    pub quiet_hours: i64,
    pub protect_tag: String,
    pub report_url: Option<String>,
    /// The saved plan awaiting review (`approval: required`), if any:
    /// nothing changes until someone applies it.
    pub review_plan: Option<String>,
    /// What to act on first: at most [`ACT_FIRST`] of its findings with a
    /// saving, largest first, each resource once (its largest saving).
    pub act_first: Vec<ItemView>,
    pub policies: Vec<PolicyView>,
    /// How many accounts the findings are in: 0 in one account's digest.
    pub accounts: usize,
    /// Filled in for the HTML part's title.
    pub subject: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct PolicyView {
    /// The account, as "name (id)", in an organization's digest.
    pub account: Option<String>,
    pub name: String,
    pub description: Option<String>,
    pub noun: &'static str,
    pub count: usize,
    pub saving: f64,
    pub items: Vec<ItemView>,
}

#[derive(Clone, Debug, Serialize)]
pub struct ItemView {
    pub resource_id: String,
    pub region: String,
    pub reason: String,
    pub recommendation: Option<String>,
    pub planned: String,
    pub state: String,
    pub monthly_cost_usd: Option<f64>,
    pub monthly_saving_usd: Option<f64>,
}

impl Templates {
    /// The shipped templates, with any of them replaced by a file of the
    /// same name in `overrides`. Each template is tried on a sample digest,
    /// so a mistake shows at start-up, not at 3 a.m.
    pub fn load(overrides: Option<&Path>) -> Result<Self, TemplateError> {
        let templates = Templates { env: environment(&SHIPPED, overrides)? };
        templates.render(&Context::sample())?;
        Ok(templates)
    }

    pub fn render(&self, ctx: &Context) -> Result<Rendered, TemplateError> {
        let render = |name: &str, ctx: &Context| {
            self.env.get_template(name).and_then(|t| t.render(ctx)).map_err(|source| TemplateError::Invalid { name: name.to_string(), source })
        };
        let subject = clean(&render(SUBJECT, ctx)?, MAX_SUBJECT_CHARS);
        let with_subject = Context { subject: subject.clone(), ..ctx.clone() };
        Ok(Rendered { subject, text: render(TEXT, &with_subject)?, html: render(HTML, &with_subject)? })
    }
}

/// A template environment of `shipped` templates (name, source), each
/// replaced by a file of the same name in `overrides`: strict about
/// undefined values, fuelled, HTML auto-escaped in `.html.j2` files, with
/// the `usd` and `usd0` filters.
pub fn environment(shipped: &[(&'static str, &'static str)], overrides: Option<&Path>) -> Result<Environment<'static>, TemplateError> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_fuel(Some(FUEL));
    env.set_auto_escape_callback(|name| if name.ends_with(".html.j2") || name.ends_with(".html") { AutoEscape::Html } else { AutoEscape::None });
    env.add_filter("usd", usd);
    env.add_filter("usd0", usd0);
    for (name, shipped) in shipped {
        let source = match overrides.map(|dir| dir.join(name)).filter(|p| p.exists()) {
            Some(path) => crate::files::read_text_bounded(&path, MAX_TEMPLATE_BYTES).map_err(|source| TemplateError::Read { path, source })?,
            None => shipped.to_string(),
        };
        env.add_template_owned(*name, source).map_err(|source| TemplateError::Invalid { name: name.to_string(), source })?;
    }
    Ok(env)
}

/// How many findings a digest puts first.
pub const ACT_FIRST: usize = 5;

impl ItemView {
    fn of(i: &super::digest::DigestItem) -> Self {
        ItemView {
            resource_id: clean(&i.resource_id, MAX_VALUE_CHARS),
            region: clean(&i.region, 40),
            reason: clean(&i.reason, MAX_VALUE_CHARS),
            recommendation: i.recommendation.as_deref().map(|r| clean(r, MAX_VALUE_CHARS)),
            planned: clean(&i.planned, MAX_VALUE_CHARS),
            state: i.state.to_string(),
            monthly_cost_usd: i.monthly_cost_usd,
            monthly_saving_usd: i.monthly_saving_usd,
        }
    }
}

/// Per-message facts the digest itself does not carry.
pub struct Meta<'a> {
    pub dry_run: bool,
    pub run_id: &'a str,
    pub now: DateTime<Utc>,
    pub quiet_period: chrono::Duration,
    pub protect_tag: &'a str,
    pub report_url: Option<&'a str>,
    pub review_plan: Option<&'a str>,
    pub max_items: usize,
}

impl Context {
    /// The template context of a digest: cleaned strings, totals over all
    /// of its findings, at most `max_items` of them listed.
    pub fn of(digest: &Digest, meta: &Meta) -> Self {
        let items: Vec<_> = digest.items().collect();
        let count = |state: &dyn Fn(&NoticeState) -> bool| items.iter().filter(|i| state(&i.state)).count();
        let mut budget = meta.max_items;
        let policies = digest
            .policies
            .iter()
            .map(|group| {
                let listed = group.items.len().min(budget);
                budget -= listed;
                PolicyView {
                    account: group.account.as_ref().map(|a| clean(&crate::text::account_label(&a.id, &a.name), 80)),
                    name: clean(&group.policy, MAX_VALUE_CHARS),
                    description: group.description.as_deref().map(|d| clean(d, MAX_VALUE_CHARS)),
                    noun: group.resource_type.noun(),
                    count: group.items.len(),
                    saving: total(group.items.iter().filter_map(|i| i.monthly_saving_usd)),
                    items: group.items.iter().take(listed).map(ItemView::of).collect(),
                }
            })
            .collect::<Vec<_>>();
        let listed: usize = policies.iter().map(|p| p.items.len()).sum();
        let mut best: std::collections::HashMap<(&str, &str), &super::digest::DigestItem> = std::collections::HashMap::new();
        for i in items.iter().filter(|i| i.monthly_saving_usd.is_some_and(|usd| usd > 0.0)) {
            let slot = best.entry((i.region.as_str(), i.arn.as_str())).or_insert(i);
            if i.monthly_saving_usd > slot.monthly_saving_usd {
                *slot = i;
            }
        }
        let mut first: Vec<&super::digest::DigestItem> = best.into_values().collect();
        first.sort_by(|a, b| {
            b.monthly_saving_usd.unwrap_or(0.0).total_cmp(&a.monthly_saving_usd.unwrap_or(0.0)).then_with(|| a.resource_id.cmp(&b.resource_id))
        });
        let accounts = digest.policies.iter().filter_map(|g| g.account.as_ref().map(|a| &a.id)).collect::<std::collections::BTreeSet<_>>().len();
        Context {
            dry_run: meta.dry_run,
            run_id: meta.run_id.to_string(),
            generated_at: crate::text::utc(meta.now),
            recipient: digest.recipient.clone(),
            count: items.len(),
            more: items.len() - listed,
            acted: count(&|s| matches!(s, NoticeState::Done(_))),
            due_soon: count(&|s| *s == NoticeState::DueSoon),
            failed: count(&|s| *s == NoticeState::Failed),
            total_cost: total(items.iter().filter_map(|i| i.monthly_cost_usd)),
            total_saving: total(items.iter().filter_map(|i| i.monthly_saving_usd)),
            quiet_hours: meta.quiet_period.num_hours(),
            protect_tag: meta.protect_tag.to_string(),
            report_url: meta.report_url.map(str::to_string),
            review_plan: meta.review_plan.map(|p| clean(p, MAX_VALUE_CHARS)),
            act_first: first.into_iter().take(ACT_FIRST).map(ItemView::of).collect(),
            policies,
            accounts,
            subject: String::new(),
        }
    }

    /// Exercises every field, so a template that names a missing one fails at load.
    pub(crate) fn sample() -> Self {
        let item = ItemView {
            resource_id: "endpoint-1".into(),
            region: "us-east-1".into(),
            reason: "no invocations in 14 days".into(),
            recommendation: Some("move to ml.m5.large".into()),
            planned: "delete after 2026-12-02 10:00:00 UTC".into(),
            state: "marked".into(),
            monthly_cost_usd: Some(168.0),
            monthly_saving_usd: None,
        };
        Context {
            dry_run: true,
            run_id: "sample".into(),
            generated_at: "2026-11-25 10:00:00 UTC".into(),
            recipient: "owner@example.com".into(),
            count: 2,
            more: 1,
            acted: 1,
            due_soon: 1,
            failed: 1,
            total_cost: 168.0,
            total_saving: 168.0,
            quiet_hours: 24,
            protect_tag: "costguard:protect".into(),
            report_url: Some("https://costguard.example.com/report".into()),
            review_plan: Some("/var/lib/costguard/plans/plan-20261125T100000Z.json".into()),
            act_first: vec![item.clone()],
            policies: vec![PolicyView {
                account: Some("ml-dev (111111111111)".into()),
                name: "idle".into(),
                description: Some("Idle endpoints".into()),
                noun: "SageMaker endpoint",
                count: 2,
                saving: 168.0,
                items: vec![item],
            }],
            accounts: 1,
            subject: String::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_templates_load_and_escape_html() -> Result<(), TemplateError> {
        let templates = Templates::load(None)?;
        let mut ctx = Context::sample();
        ctx.policies[0].items[0].resource_id = "<script>alert(1)</script>".into();
        let out = templates.render(&ctx)?;
        assert!(out.html.contains("&lt;script&gt;") && !out.html.contains("<script>"), "{}", out.html);
        assert!(out.text.contains("<script>"), "the text part shows it as it is");
        assert!(out.subject.starts_with("[for review] costguard:"), "{}", out.subject);
        assert!(out.text.contains("costguard apply /var/lib/costguard/plans/"), "the plan to apply is named: {}", out.text);
        ctx.review_plan = None;
        assert!(templates.render(&ctx)?.subject.starts_with("[dry run] costguard:"));
        Ok(())
    }

    #[test]
    fn a_broken_override_is_refused_at_load_with_its_name() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        std::fs::write(dir.path().join(SUBJECT), "{{ count }} {{ no_such_field }}")?;
        let err = Templates::load(Some(dir.path())).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(err.contains(SUBJECT) && err.contains("no_such_field"), "{err}");
        std::fs::write(dir.path().join(SUBJECT), "{% if %}")?;
        assert!(Templates::load(Some(dir.path())).is_err());
        std::fs::write(dir.path().join(SUBJECT), "cost alert: {{ count }}")?;
        let templates = Templates::load(Some(dir.path()))?;
        assert_eq!(templates.render(&Context::sample())?.subject, "cost alert: 2");
        Ok(())
    }

    #[test]
    fn a_template_with_loops_in_loops_runs_out_of_fuel_at_load() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        std::fs::write(dir.path().join(TEXT), "{% for a in range(100000) %}{% for b in range(100000) %}x{% endfor %}{% endfor %}")?;
        let started = std::time::Instant::now();
        let err = Templates::load(Some(dir.path())).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(err.contains(TEXT) && err.contains("fuel"), "{err}");
        assert!(started.elapsed() < std::time::Duration::from_secs(10), "{:?}", started.elapsed());
        Ok(())
    }

    #[test]
    fn the_shipped_templates_render_the_largest_digest_within_their_fuel() -> Result<(), TemplateError> {
        let mut ctx = Context::sample();
        let item = ctx.policies[0].items[0].clone();
        ctx.policies[0].items = vec![item; 10_000];
        let out = Templates::load(None)?.render(&ctx)?;
        assert!(out.html.matches("endpoint-1").count() >= 10_000);
        Ok(())
    }
}
