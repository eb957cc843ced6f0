//! Who is told what: findings of policies with a `notify` action, routed to
//! their recipients, one digest per recipient, minus what each was already
//! told within the quiet period. Pure: no I/O, tested with plain structs.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::actions::notify::{is_email_address, RESOURCE_OWNER};
use crate::actions::{self, Action};
use crate::config::Policy;
use crate::engine::findings::Finding;
use crate::engine::plan::{Decision, EntryId, Plan};
use crate::outcome::Status;
use crate::resources::Tags;

/// One finding as one recipient knows it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct NoticeKey {
    pub recipient: String,
    pub policy: String,
    pub resource_type: String,
    pub region: String,
    pub resource_id: String,
}

#[derive(Clone, Debug, PartialEq)]
pub struct PreviousNotice {
    pub state: String,
    pub sent_at: DateTime<Utc>,
}

/// Routing settings, from the daemon config's `email:` section.
#[derive(Clone, Debug)]
pub struct Routing {
    /// For `notify` without `to`, and the last fallback of `resource-owner`.
    pub default_to: Vec<String>,
    /// Tag keys that may hold the owner's address, in order.
    pub owner_tags: Vec<String>,
    pub quiet_period: chrono::Duration,
    /// Channel names an owner tag may hold, with or without the `#`.
    pub channels: Vec<String>,
    /// The mail domains an owner tag may name (lower case); empty: any.
    /// Anyone who may tag a resource may write an outside address in it.
    pub owner_domains: Vec<String>,
}

impl Routing {
    /// Whether an owner tag's address (or channel) may hear about a resource.
    fn allows_owner(&self, owner: &str) -> bool {
        match owner.rsplit_once('@') {
            Some((_, domain)) => self.owner_domains.is_empty() || self.owner_domains.iter().any(|d| domain.eq_ignore_ascii_case(d)),
            // A configured channel.
            None => true,
        }
    }
}

/// Where a finding stands for the person told about it; stored and shown
/// as `matched`, `marked`, `due-soon`, `due`, `done:<action>`, `failed`,
/// `skipped`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NoticeState {
    Matched,
    Marked,
    DueSoon,
    Due,
    /// Done: the policy's actions, joined with `+`.
    Done(String),
    Failed,
    Skipped,
}

impl std::fmt::Display for NoticeState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NoticeState::Matched => f.write_str("matched"),
            NoticeState::Marked => f.write_str("marked"),
            NoticeState::DueSoon => f.write_str("due-soon"),
            NoticeState::Due => f.write_str("due"),
            NoticeState::Done(action) => write!(f, "done:{action}"),
            NoticeState::Failed => f.write_str("failed"),
            NoticeState::Skipped => f.write_str("skipped"),
        }
    }
}

impl NoticeState {
    /// A stored state; `None` for one this version does not write.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "matched" => NoticeState::Matched,
            "marked" => NoticeState::Marked,
            "due-soon" => NoticeState::DueSoon,
            "due" => NoticeState::Due,
            "failed" => NoticeState::Failed,
            "skipped" => NoticeState::Skipped,
            other => NoticeState::Done(other.strip_prefix("done:")?.to_string()),
        })
    }
}

impl Serialize for NoticeState {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for NoticeState {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        NoticeState::parse(&text).ok_or_else(|| serde::de::Error::custom(format!("not a notice state: {text:?}")))
    }
}

/// As stored and printed (tests compare with the text).
impl PartialEq<&str> for NoticeState {
    fn eq(&self, other: &&str) -> bool {
        NoticeState::parse(other).as_ref() == Some(self)
    }
}

/// One line of a digest. Strings from AWS are kept as they came; the
/// templates' context cleans them (see `template.rs`). Serialized whole
/// (its key too) where a shard leaves its digests for `report merge`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DigestItem {
    pub key: NoticeKey,
    /// What changed for the reader. A new state is news, even within the
    /// quiet period.
    pub state: NoticeState,
    pub resource_id: String,
    pub region: String,
    pub arn: String,
    pub reason: String,
    pub status: Status,
    /// What costguard will do or did, and when.
    pub planned: String,
    /// When the planned change runs, for grace periods.
    pub due_at: Option<DateTime<Utc>>,
    pub monthly_cost_usd: Option<f64>,
    pub monthly_saving_usd: Option<f64>,
    /// The rightsizing summary, where there is one.
    pub recommendation: Option<String>,
}

/// An account as a digest names it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountRef {
    pub id: String,
    pub name: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PolicyGroup {
    /// The account the findings are in, in an organization's digest
    /// (one per recipient across accounts); `None` in one account's.
    pub account: Option<AccountRef>,
    pub policy: String,
    pub description: Option<String>,
    pub resource_type: crate::resources::ResourceType,
    pub items: Vec<DigestItem>,
}

/// Everything one person is told in one sweep.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Digest {
    pub recipient: String,
    pub policies: Vec<PolicyGroup>,
}

impl Digest {
    pub fn items(&self) -> impl Iterator<Item = &DigestItem> {
        self.policies.iter().flat_map(|p| p.items.iter())
    }
}

/// Findings whose policy has `notify` but that reach nobody.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Unroutable {
    pub policy: String,
    pub findings: usize,
}

/// The owner's address: the first owner tag that holds exactly one address.
pub fn owner_address(tags: &Tags, owner_tags: &[String], channels: &[String]) -> Option<String> {
    let channel = |v: &str| {
        let name = v.strip_prefix(crate::config::channels::PREFIX).unwrap_or(v);
        channels.iter().any(|c| c == name).then(|| format!("{}{name}", crate::config::channels::PREFIX))
    };
    owner_tags.iter().filter_map(|k| tags.get(k)).map(|v| v.trim()).find_map(|v| if is_email_address(v) { Some(v.to_string()) } else { channel(v) })
}

/// Who hears about one finding of a policy whose notify action says `to`,
/// and the owner tag's address left out for its domain, if one was.
fn recipients(to: &[String], tags: &Tags, routing: &Routing) -> (Vec<String>, Option<String>) {
    let explicit: Vec<String> = to.iter().filter(|t| t.as_str() != RESOURCE_OWNER).cloned().collect();
    let fallback = if explicit.is_empty() { routing.default_to.clone() } else { explicit.clone() };
    let mut out = if to.is_empty() { routing.default_to.clone() } else { explicit };
    let mut refused = None;
    if to.iter().any(|t| t == RESOURCE_OWNER) {
        match owner_address(tags, &routing.owner_tags, &routing.channels) {
            Some(owner) if routing.allows_owner(&owner) => out.push(owner),
            // Outside the allowed domains: never mailed; the fallback hears, told so.
            Some(outside) => {
                out.extend(fallback);
                refused = Some(outside);
            }
            // No usable owner tag: the policy's own list (or the default) hears instead.
            None => out.extend(fallback),
        }
    }
    // One digest per person however they were named.
    let mut seen = std::collections::HashSet::new();
    out.retain(|a| seen.insert(a.to_ascii_lowercase()));
    (out, refused)
}

/// The notice state of a finding (see [`DigestItem::state`]).
fn notice_state(status: Status, decision: &Decision, action: &str, now: DateTime<Utc>, quiet: chrono::Duration) -> NoticeState {
    match (status, decision) {
        (Status::Failed, _) => NoticeState::Failed,
        (Status::Skipped, _) | (_, Decision::Skip(..)) => NoticeState::Skipped,
        // Marking is done now; the change itself waits for the grace period.
        (_, Decision::Mark { .. }) => NoticeState::Marked,
        // The last chance to object: the change runs before the next reminder.
        (_, Decision::Wait { due }) if *due - now <= quiet => NoticeState::DueSoon,
        (_, Decision::Wait { .. }) => NoticeState::Marked,
        (Status::Done, _) => NoticeState::Done(action.to_string()),
        (Status::Planned, Decision::Act) => NoticeState::Due,
        (Status::Planned, Decision::Report) => NoticeState::Matched,
    }
}

fn planned(status: Status, decision: &Decision, detail: Option<&str>, gated: &str, all: &str, dry_run: bool) -> String {
    let detail = detail.unwrap_or("");
    match (status, decision) {
        (Status::Failed, _) => format!("failed: {detail}"),
        (Status::Skipped, _) | (_, Decision::Skip(..)) => format!("not changed: {detail}"),
        (_, Decision::Mark { due } | Decision::Wait { due }) => format!("{gated} after {}", crate::text::utc(*due)),
        (Status::Done, _) => format!("done: {detail}"),
        (_, Decision::Act) if dry_run => format!("{all} (dry run: not done)"),
        (_, Decision::Act) => all.to_string(),
        (_, Decision::Report) => "no change: report only".to_string(),
    }
}

/// Routes the findings of every policy with a `notify` action. `findings`
/// are the report's (one per plan entry, found by its id).
pub fn route(plan: &Plan, findings: &[Finding], policies: &[Policy], routing: &Routing, dry_run: bool) -> (Vec<Digest>, Vec<Unroutable>) {
    let descriptions: HashMap<&str, Option<&String>> = policies.iter().map(|p| (p.name.as_str(), p.description.as_ref())).collect();
    let mut by_recipient: BTreeMap<String, BTreeMap<String, PolicyGroup>> = BTreeMap::new();
    let mut unroutable = Vec::new();
    let by_entry: HashMap<EntryId, &Finding> = findings.iter().map(|f| (f.entry, f)).collect();
    let owner_only = vec![RESOURCE_OWNER.to_string()];
    for policy in &plan.policies {
        let mut entries: Vec<_> = policy.entries.iter().filter_map(|e| Some((e, *by_entry.get(&e.id)?))).collect();
        let notify_to = policy.actions.iter().find_map(|a| match a {
            Action::Notify(n) => Some(&n.to),
            _ => None,
        });
        // An off-hours policy that notifies nobody still tells the owner
        // of a schedule tag it cannot read, and of what it keeps up because
        // it is in use: nothing else will.
        let off_hours = policies.iter().find(|p| p.name == policy.policy).and_then(Policy::off_hours);
        let to = match (notify_to, off_hours) {
            (Some(to), _) => to,
            (None, Some(off_hours)) => {
                entries.retain(|(e, _)| {
                    matches!(e.decision, Decision::Skip(crate::engine::plan::Hold::InUse, _))
                        || matches!(off_hours.status(&e.resource, plan.now), crate::filters::offhours::Status::Invalid(_))
                });
                &owner_only
            }
            (None, None) => continue,
        };
        let gated = actions::gated_names(&policy.actions);
        let all: Vec<&str> = policy.actions.iter().filter(|a| a.is_mutating()).map(Action::name).collect();
        let all = if all.is_empty() { "notify".to_string() } else { all.join("+") };
        let mut lost = 0;
        for (entry, finding) in entries {
            let (people, refused) = recipients(to, &entry.resource.tags, routing);
            let note = refused.map(|outside| format!(" (its owner tag names {outside}, outside email.owner-domains: not mailed there)")).unwrap_or_default();
            if people.is_empty() {
                lost += 1;
                continue;
            }
            for recipient in people {
                let item = DigestItem {
                    key: NoticeKey {
                        recipient: recipient.clone(),
                        policy: policy.policy.clone(),
                        resource_type: policy.resource_type.name().to_string(),
                        region: finding.region.to_string(),
                        resource_id: finding.resource_id.clone(),
                    },
                    state: notice_state(finding.status, &entry.decision, &all, plan.now, routing.quiet_period),
                    resource_id: finding.resource_id.clone(),
                    region: finding.region.to_string(),
                    arn: finding.arn.clone(),
                    reason: format!("{}{note}", finding.reason),
                    status: finding.status,
                    planned: planned(finding.status, &entry.decision, finding.detail.as_deref(), &gated, &all, dry_run),
                    due_at: match entry.decision {
                        Decision::Mark { due } | Decision::Wait { due } => Some(due),
                        _ => None,
                    },
                    monthly_cost_usd: finding.monthly_cost_usd,
                    monthly_saving_usd: finding.monthly_saving_usd,
                    recommendation: finding.recommendation.as_ref().map(|r| r.summary.clone()),
                };
                by_recipient
                    .entry(recipient)
                    .or_default()
                    .entry(policy.policy.clone())
                    .or_insert_with(|| PolicyGroup {
                        account: None,
                        policy: policy.policy.clone(),
                        description: descriptions.get(policy.policy.as_str()).copied().flatten().cloned(),
                        resource_type: policy.resource_type,
                        items: Vec::new(),
                    })
                    .items
                    .push(item);
            }
        }
        if lost > 0 {
            unroutable.push(Unroutable { policy: policy.policy.clone(), findings: lost });
        }
    }
    let digests = by_recipient
        .into_iter()
        .map(|(recipient, groups)| {
            let mut policies: Vec<PolicyGroup> = groups.into_values().collect();
            for group in &mut policies {
                // The most expensive first: what the reader should look at.
                group
                    .items
                    .sort_by(|a, b| b.monthly_cost_usd.unwrap_or(0.0).total_cmp(&a.monthly_cost_usd.unwrap_or(0.0)).then(a.resource_id.cmp(&b.resource_id)));
            }
            Digest { recipient, policies }
        })
        .collect();
    (digests, unroutable)
}

/// One digest per recipient across an organization's accounts, given each
/// account's in the order they should be read (most at stake first): every
/// group names its account. A person named with different capitals in two
/// accounts gets one digest.
pub fn across_accounts(by_account: Vec<(AccountRef, Vec<Digest>)>) -> Vec<Digest> {
    let mut merged: BTreeMap<String, Digest> = BTreeMap::new();
    for (account, digests) in by_account {
        for digest in digests {
            let mine =
                merged.entry(digest.recipient.to_ascii_lowercase()).or_insert_with(|| Digest { recipient: digest.recipient.clone(), policies: Vec::new() });
            mine.policies.extend(digest.policies.into_iter().map(|g| PolicyGroup { account: Some(account.clone()), ..g }));
        }
    }
    merged.into_values().collect()
}

/// Drops what each recipient was already told, in the same state, within
/// the quiet period; returns what is left and how many were held back.
pub fn without_repeats(
    digests: Vec<Digest>,
    previous: &HashMap<NoticeKey, PreviousNotice>,
    now: DateTime<Utc>,
    quiet: chrono::Duration,
) -> (Vec<Digest>, usize) {
    let mut held = 0;
    let digests = digests
        .into_iter()
        .filter_map(|mut digest| {
            for group in &mut digest.policies {
                group.items.retain(|item| {
                    let repeat = previous
                        .get(&item.key)
                        .is_some_and(|p| NoticeState::parse(&p.state).as_ref() == Some(&item.state) && now - p.sent_at < quiet && p.sent_at <= now);
                    held += usize::from(repeat);
                    !repeat
                });
            }
            digest.policies.retain(|g| !g.items.is_empty());
            (!digest.policies.is_empty()).then_some(digest)
        })
        .collect();
    (digests, held)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn routing() -> Routing {
        Routing {
            default_to: vec!["ops@example.com".into()],
            owner_tags: vec!["owner".into(), "contact".into()],
            quiet_period: chrono::Duration::hours(24),
            channels: vec!["ml-team".into()],
            owner_domains: Vec::new(),
        }
    }

    /// The recipients alone.
    fn who(to: &[String], tags: &Tags, routing: &Routing) -> Vec<String> {
        recipients(to, tags, routing).0
    }

    fn tags(pairs: &[(&str, &str)]) -> Tags {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn resource_owner_is_the_first_owner_tag_holding_an_address() {
        let to = vec!["team@example.com".to_string(), RESOURCE_OWNER.to_string()];
        assert_eq!(who(&to, &tags(&[("owner", "ana@example.com")]), &routing()), ["team@example.com", "ana@example.com"]);
        assert_eq!(who(&to, &tags(&[("owner", "Ana"), ("contact", "bo@example.com")]), &routing()), ["team@example.com", "bo@example.com"]);
    }

    #[test]
    fn an_unusable_owner_tag_falls_back_to_the_policy_list() {
        let only_owner = vec![RESOURCE_OWNER.to_string()];
        let forged = tags(&[("owner", "a@example.com\r\nBcc: evil@example.net")]);
        assert_eq!(who(&only_owner, &forged, &routing()), ["ops@example.com"], "no explicit list: the default recipients");
        let to = vec!["team@example.com".to_string(), RESOURCE_OWNER.to_string()];
        assert_eq!(who(&to, &tags(&[("owner", "a@b.com,c@d.com")]), &routing()), ["team@example.com"], "team named once");
        assert_eq!(who(&to, &Tags::new(), &routing()), ["team@example.com"]);
    }

    #[test]
    fn an_owner_tag_may_name_a_configured_channel() {
        let only_owner = vec![RESOURCE_OWNER.to_string()];
        assert_eq!(who(&only_owner, &tags(&[("owner", "#ml-team")]), &routing()), ["#ml-team"]);
        assert_eq!(who(&only_owner, &tags(&[("owner", "ml-team")]), &routing()), ["#ml-team"], "the bare name of a configured channel");
        assert_eq!(who(&only_owner, &tags(&[("owner", "#random")]), &routing()), ["ops@example.com"], "an unknown channel is not a recipient");
    }

    #[test]
    fn an_owner_outside_the_allowed_domains_is_never_mailed() {
        let only_owner = vec![RESOURCE_OWNER.to_string()];
        let ours = Routing { owner_domains: vec!["example.com".into()], ..routing() };
        assert_eq!(recipients(&only_owner, &tags(&[("owner", "ana@Example.COM")]), &ours), (vec!["ana@Example.COM".to_string()], None));
        let outside = tags(&[("owner", "me@attacker.test")]);
        assert_eq!(
            recipients(&only_owner, &outside, &ours),
            (vec!["ops@example.com".to_string()], Some("me@attacker.test".to_string())),
            "the fallback hears, told why"
        );
        assert_eq!(who(&only_owner, &tags(&[("owner", "me@sub.example.com.attacker.test")]), &ours), ["ops@example.com"]);
        assert_eq!(who(&only_owner, &tags(&[("owner", "#ml-team")]), &ours), ["#ml-team"], "a configured channel is ours");
        assert_eq!(who(&only_owner, &outside, &routing()), ["me@attacker.test"], "without owner-domains, any address");
    }

    #[test]
    fn notify_without_to_uses_the_default_recipients() {
        assert_eq!(who(&[], &Tags::new(), &routing()), ["ops@example.com"]);
        let nobody = Routing { default_to: vec![], ..routing() };
        assert!(who(&[], &Tags::new(), &nobody).is_empty());
    }

    #[test]
    fn the_state_says_what_changed_for_the_reader() {
        let now = crate::clock::test_now();
        let q = chrono::Duration::hours(24);
        assert_eq!(notice_state(Status::Planned, &Decision::Mark { due: now + chrono::Duration::days(7) }, "delete", now, q), "marked");
        assert_eq!(notice_state(Status::Planned, &Decision::Wait { due: now + chrono::Duration::days(3) }, "delete", now, q), "marked");
        assert_eq!(notice_state(Status::Planned, &Decision::Wait { due: now + chrono::Duration::hours(5) }, "delete", now, q), "due-soon");
        assert_eq!(notice_state(Status::Done, &Decision::Act, "delete", now, q), "done:delete");
        assert_eq!(
            notice_state(Status::Done, &Decision::Mark { due: now + chrono::Duration::days(7) }, "delete", now, q),
            "marked",
            "the mark is done, the change is not"
        );
    }

    fn item(recipient: &str, id: &str, state: &str) -> DigestItem {
        DigestItem {
            key: NoticeKey { recipient: recipient.into(), policy: "p".into(), resource_type: "log-group".into(), region: "r".into(), resource_id: id.into() },
            // "" where only the key is wanted.
            state: NoticeState::parse(state).unwrap_or(NoticeState::Matched),
            resource_id: id.into(),
            region: "r".into(),
            arn: String::new(),
            reason: String::new(),
            status: Status::Planned,
            planned: String::new(),
            due_at: None,
            monthly_cost_usd: None,
            monthly_saving_usd: None,
            recommendation: None,
        }
    }

    fn group(account: Option<&str>, items: Vec<DigestItem>) -> PolicyGroup {
        PolicyGroup {
            account: account.map(|id| AccountRef { id: id.into(), name: format!("team-{id}") }),
            policy: "p".into(),
            description: None,
            resource_type: crate::resources::ResourceType::LogGroup,
            items,
        }
    }

    #[test]
    fn an_off_hours_policy_tells_the_owner_of_a_schedule_tag_it_cannot_read_and_nobody_else() {
        use crate::resources::log_group::fixture;
        let text = "schedules:\n  office:\n    tz: UTC\n    on: Mon-Fri 07:00\n    off: Mon-Fri 19:00\npolicies:\n  - name: sleep\n    resource: log-group\n    filters:\n      - type: off-hours\n";
        let policies = crate::config::compile_text(std::path::Path::new("p.yaml"), text).expect("compiles");
        let mut bad = fixture("/bad", None);
        bad.tags.insert("costguard:schedule".into(), "nowhere".into());
        bad.tags.insert("owner".into(), "ana@example.com".into());
        let mut good = fixture("/good", None);
        good.tags.insert("costguard:schedule".into(), "office".into());
        good.tags.insert("owner".into(), "bo@example.com".into());
        let inventory = crate::engine::inventory::Inventory::from_resources([bad, good]);
        // Monday 2026-12-07, 20:00 UTC: the office is off.
        let now = chrono::DateTime::parse_from_rfc3339("2026-12-07T20:00:00Z").expect("a time").with_timezone(&chrono::Utc);
        let mut plan = crate::engine::plan::plan(&policies, &inventory, &Default::default(), now, &Default::default());
        assert_eq!(plan.policies[0].entries.len(), 2, "both match: one sleeps, one cannot be read");
        let outcomes = crate::engine::apply::dry_run(&plan);
        let ctx = crate::engine::findings::FindingsContext { account_id: "1", owner_tags: &[], protect_tag: "costguard:protect", held_for_review: false };
        let found = crate::engine::findings::findings(&mut plan, outcomes, &ctx);
        let (digests, _) = route(&plan, &found, &policies, &routing(), true);
        assert_eq!(digests.len(), 1, "{digests:?}");
        assert_eq!(digests[0].recipient, "ana@example.com");
        let items: Vec<&DigestItem> = digests[0].items().collect();
        assert_eq!(items.len(), 1);
        assert!(items[0].reason.contains("names no schedule"), "{}", items[0].reason);
    }

    #[test]
    fn an_off_hours_policy_tells_the_owner_of_what_it_keeps_up_because_in_use() {
        use crate::resources::log_group::fixture;
        // `idle`: no retention set stands for "not in use" here.
        let text = "schedules:\n  office:\n    tz: UTC\n    on: Mon-Fri 07:00\n    off: Mon-Fri 19:00\npolicies:\n  - name: sleep\n    resource: log-group\n    filters:\n      - type: off-hours\n      - idle:\n          - type: value\n            key: retentionInDays\n            value: absent\n";
        let policies = crate::config::compile_text(std::path::Path::new("p.yaml"), text).expect("compiles");
        let tagged = |name: &str, retention: Option<i32>, owner: &str| {
            let mut r = fixture(name, retention);
            r.tags.insert("costguard:schedule".into(), "office".into());
            r.tags.insert("owner".into(), owner.into());
            r
        };
        let inventory =
            crate::engine::inventory::Inventory::from_resources([tagged("/idle", None, "bo@example.com"), tagged("/busy", Some(7), "cy@example.com")]);
        let now = chrono::DateTime::parse_from_rfc3339("2026-12-07T20:00:00Z").expect("a time").with_timezone(&chrono::Utc);
        let mut plan = crate::engine::plan::plan(&policies, &inventory, &Default::default(), now, &Default::default());
        assert_eq!(plan.policies[0].matched, 1, "only the idle one matches");
        let busy = plan.policies[0].entries.iter().find(|e| e.resource.id == "/busy").expect("the busy one is held");
        assert!(
            matches!(&busy.decision, Decision::Skip(crate::engine::plan::Hold::InUse, why) if why.starts_with("in use (not idle: retentionInDays")),
            "{:?}",
            busy.decision
        );
        let outcomes = crate::engine::apply::dry_run(&plan);
        let ctx = crate::engine::findings::FindingsContext { account_id: "1", owner_tags: &[], protect_tag: "costguard:protect", held_for_review: false };
        let found = crate::engine::findings::findings(&mut plan, outcomes, &ctx);
        let (digests, _) = route(&plan, &found, &policies, &routing(), true);
        let recipients: Vec<&str> = digests.iter().map(|d| d.recipient.as_str()).collect();
        assert_eq!(recipients, ["cy@example.com"], "the policy notifies nobody else: {digests:?}");
    }

    #[test]
    fn an_organization_sends_one_digest_per_recipient_grouped_by_account() {
        let account = |id: &str| AccountRef { id: id.into(), name: format!("team-{id}") };
        let digest = |to: &str, id: &str| Digest { recipient: to.into(), policies: vec![group(None, vec![item(to, id, "marked")])] };
        let merged = across_accounts(vec![
            (account("222"), vec![digest("ana@example.com", "big"), digest("ops@example.com", "big")]),
            (account("111"), vec![digest("Ana@Example.com", "small")]),
        ]);
        assert_eq!(merged.len(), 2, "ana once, ops once");
        let ana = &merged[0];
        assert_eq!(ana.recipient, "ana@example.com");
        let accounts: Vec<&str> = ana.policies.iter().filter_map(|g| g.account.as_ref()).map(|a| a.id.as_str()).collect();
        assert_eq!(accounts, ["222", "111"], "in the order given: most at stake first");
        assert_eq!(ana.items().map(|i| i.resource_id.as_str()).collect::<Vec<_>>(), ["big", "small"]);
        assert_eq!(merged[1].policies.len(), 1);
    }

    #[test]
    fn the_same_finding_is_not_repeated_within_the_quiet_period_unless_its_state_changed() {
        let now = crate::clock::test_now();
        let q = chrono::Duration::hours(24);
        let digest = Digest {
            recipient: "a@example.com".into(),
            policies: vec![group(
                None,
                vec![
                    item("a@example.com", "told", "marked"),
                    item("a@example.com", "changed", "due-soon"),
                    item("a@example.com", "old", "marked"),
                    item("a@example.com", "new", "marked"),
                ],
            )],
        };
        let previous: HashMap<NoticeKey, PreviousNotice> = [
            (item("a@example.com", "told", "").key, PreviousNotice { state: "marked".into(), sent_at: now - chrono::Duration::hours(2) }),
            (item("a@example.com", "changed", "").key, PreviousNotice { state: "marked".into(), sent_at: now - chrono::Duration::hours(2) }),
            (item("a@example.com", "old", "").key, PreviousNotice { state: "marked".into(), sent_at: now - chrono::Duration::hours(25) }),
        ]
        .into_iter()
        .collect();
        let (left, held) = without_repeats(vec![digest], &previous, now, q);
        let ids: Vec<&str> = left[0].items().map(|i| i.resource_id.as_str()).collect();
        assert_eq!(ids, ["changed", "old", "new"]);
        assert_eq!(held, 1);
        let (left, held) = without_repeats(left, &previous, now, q);
        assert_eq!((left.len(), held), (1, 0), "filtering is stateless");
    }
}
