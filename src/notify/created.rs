//! The notice of a creation: what was just created or started, by whom,
//! what it costs a month, and which required tags it lacks, told to its
//! owner or creator within a minute of the CloudTrail event (`costguard
//! events`). Rendered from `templates/created*.j2`, each replaceable by a
//! file of the same name in the folder `email.templates` names; every
//! value that came from AWS is cleaned first, and HTML-escaped in the HTML.

use std::path::Path;

use minijinja::Environment;
use serde::Serialize;

use super::template::{environment, Rendered, TemplateError, MAX_SUBJECT_CHARS};
use crate::text::clean;

const SUBJECT: &str = "created-subject.txt.j2";
const TEXT: &str = "created.txt.j2";
const HTML: &str = "created.html.j2";
const SHIPPED: [(&str, &str); 3] = [
    (SUBJECT, include_str!("templates/created-subject.txt.j2")),
    (TEXT, include_str!("templates/created.txt.j2")),
    (HTML, include_str!("templates/created.html.j2")),
];
const MAX_VALUE_CHARS: usize = 300;

/// Whether the call made the resource or started it again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum How {
    Created,
    Started,
}

/// What a creation notice says.
#[derive(Clone, Debug)]
pub struct CreatedNotice {
    pub how: How,
    /// What people call the type: "SageMaker endpoint".
    pub noun: &'static str,
    pub resource_id: String,
    pub region: String,
    pub account: String,
    pub event_name: String,
    pub event_id: String,
    /// When the call was made, as people read it.
    pub at: String,
    pub creator: Option<String>,
    pub owner: Option<String>,
    pub monthly_cost_usd: Option<f64>,
    pub cost_basis: String,
    pub missing_tags: Vec<String>,
    /// costguard tagged it with its creator just now.
    pub tagged_creator: bool,
    /// The `on-create` policies it matched, and what each did or will do.
    pub rules: Vec<RuleLine>,
}

/// One `on-create` policy a created resource matched.
#[derive(Clone, Debug, Serialize)]
pub struct RuleLine {
    pub policy: String,
    pub description: Option<String>,
    /// Why it matched.
    pub reason: String,
    /// What was done or will be.
    pub outcome: String,
}

#[derive(Serialize)]
struct View {
    verb: &'static str,
    verb_past: &'static str,
    noun: &'static str,
    resource_id: String,
    region: String,
    account: String,
    event_name: String,
    event_id: String,
    at: String,
    creator: Option<String>,
    owner: Option<String>,
    monthly_cost_usd: Option<f64>,
    cost_basis: String,
    missing_tags: Vec<String>,
    tagged_creator: bool,
    rules: Vec<RuleLine>,
}

impl View {
    fn of(n: &CreatedNotice) -> Self {
        let c = |s: &str| clean(s, MAX_VALUE_CHARS);
        let (verb, verb_past) = match n.how {
            How::Created => ("created", "created"),
            How::Started => ("started", "started"),
        };
        View {
            verb,
            verb_past,
            noun: n.noun,
            resource_id: c(&n.resource_id),
            region: clean(&n.region, 40),
            account: clean(&n.account, 40),
            event_name: clean(&n.event_name, 80),
            event_id: clean(&n.event_id, 80),
            at: c(&n.at),
            creator: n.creator.as_deref().map(c),
            owner: n.owner.as_deref().map(c),
            monthly_cost_usd: n.monthly_cost_usd,
            cost_basis: c(&n.cost_basis),
            missing_tags: n.missing_tags.iter().map(|t| clean(t, 128)).collect(),
            tagged_creator: n.tagged_creator,
            rules: n
                .rules
                .iter()
                .map(|r| RuleLine { policy: clean(&r.policy, 128), description: r.description.as_deref().map(c), reason: c(&r.reason), outcome: c(&r.outcome) })
                .collect(),
        }
    }
}

/// The creation notice's templates, loaded once.
pub struct CreatedTemplates {
    env: Environment<'static>,
}

impl CreatedTemplates {
    /// The shipped templates, each replaced by a file of the same name in
    /// `overrides`; tried on a sample, so a mistake shows at start-up.
    pub fn load(overrides: Option<&Path>) -> Result<Self, TemplateError> {
        let templates = CreatedTemplates { env: environment(&SHIPPED, overrides)? };
        templates.render(&CreatedNotice::sample())?;
        Ok(templates)
    }

    /// What the templates see, as a webhook channel receives it.
    pub fn data(notice: &CreatedNotice) -> serde_json::Value {
        // The view is plain data: serializing it cannot fail.
        serde_json::to_value(View::of(notice)).unwrap_or_default()
    }

    pub fn render(&self, notice: &CreatedNotice) -> Result<Rendered, TemplateError> {
        let view = View::of(notice);
        let render =
            |name: &str| self.env.get_template(name).and_then(|t| t.render(&view)).map_err(|source| TemplateError::Invalid { name: name.to_string(), source });
        Ok(Rendered { subject: clean(&render(SUBJECT)?, MAX_SUBJECT_CHARS), text: render(TEXT)?, html: render(HTML)? })
    }
}

impl CreatedNotice {
    fn sample() -> Self {
        CreatedNotice {
            how: How::Created,
            noun: "SageMaker endpoint",
            resource_id: "llm-test".into(),
            region: "us-east-1".into(),
            account: "123456789012".into(),
            event_name: "CreateEndpoint".into(),
            event_id: "00000000-0000-0000-0000-000000000000".into(),
            at: "2026-12-04 09:00 UTC".into(),
            creator: Some("ana@example.com".into()),
            owner: None,
            monthly_cost_usd: Some(27_000.0),
            cost_basis: "ml.p4d.24xlarge x 1 at $37.69/h x 730 h".into(),
            missing_tags: vec!["costguard:expires".into()],
            tagged_creator: true,
            rules: vec![RuleLine {
                policy: "gpu-needs-project".into(),
                description: Some("GPU endpoints carry a project tag.".into()),
                reason: "tag project is absent".into(),
                outcome: "marked: delete at 2026-12-05 09:00 UTC unless it no longer matches".into(),
            }],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_notice_names_what_who_and_the_cost_with_aws_text_escaped_in_html() {
        let templates = CreatedTemplates::load(None).expect("shipped templates load");
        let mut notice = CreatedNotice::sample();
        notice.resource_id = "<script>x</script>\nBcc: evil@example.com".into();
        let r = templates.render(&notice).expect("renders");
        assert!(r.subject.starts_with("costguard: ana@example.com created SageMaker endpoint"), "{}", r.subject);
        assert!(r.subject.contains("$27,000 a month"), "{}", r.subject);
        assert!(!r.subject.contains('\n') && !r.text.contains("\nBcc:"), "one line per value: {}", r.text);
        assert!(r.html.contains("&lt;script&gt;") && !r.html.contains("<script>"), "{}", r.html);
        assert!(r.text.contains("Missing tags: costguard:expires"), "{}", r.text);
        assert!(r.text.contains("gpu-needs-project: tag project is absent") && r.text.contains("marked: delete at 2026-12-05"), "{}", r.text);
        assert!(r.html.contains("gpu-needs-project"), "{}", r.html);
        notice.monthly_cost_usd = None;
        notice.missing_tags.clear();
        notice.rules.clear();
        let unknown = templates.render(&notice).expect("renders");
        assert!(unknown.text.contains("Cost: unknown") && !unknown.text.contains("Missing tags") && !unknown.text.contains("Policies"), "{}", unknown.text);
    }
}
