//! Creation time: CloudTrail events of the calls that create or start
//! something that costs money reach costguard through an EventBridge rule
//! and an SQS queue; each is read through its resource type's module,
//! priced, tagged with its creator when it has no owner, and told to its
//! owner or creator within seconds.
//!
//! # Delivery
//! SQS delivers at least once. An event is settled (its `eventID` in the
//! state database, [`seen`]) only after its notice went out or was queued
//! in the outbox, and its message deleted only after that: a restart
//! mid-batch re-reads what was not deleted and tells only what was not
//! settled. A message that fails (AWS unreachable, a message that cannot
//! be read) is not deleted: it comes back after `retry-seconds`, doubled at
//! each receive, and the queue's redrive policy moves it to the
//! dead-letter queue after its last receive. A message is kept hidden from
//! other readers while it is handled (its visibility extended every half
//! `visibility-seconds`). What a call created that is gone already is
//! settled quietly.
//!
//! Readers sharing one state database (an ECS deployment's old and new
//! task over EFS) claim an event before telling it ([`seen`]): a copy that
//! reaches the other is held back until the event is settled.
//!
//! # Caveats
//! - Settling is per state database: two daemons with separate state
//!   folders reading one queue can each tell an event SQS delivered twice
//!   (rare: SQS hides a message while one reader holds it).
//! - A crash between a notice leaving and its event being settled tells
//!   that event again after the restart (at least once, never lost), once
//!   the dead reader's claim runs out (`visibility-seconds`).

pub mod cloudtrail;
pub mod on_create;
pub mod seen;

use std::collections::{BTreeMap, HashSet};
use std::sync::{Mutex, OnceLock, PoisonError};
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use serde::Serialize;
use tokio_util::sync::CancellationToken;

use crate::actions::notify::is_email_address;
use crate::aws::sqs::{Message, SqsClient};
use crate::aws::{Aws, AwsError};
use crate::clock::Clock;
use crate::config::events::EventsSettings;
use crate::engine::journal::Journal;
use crate::notify::channel::{Payload, PayloadKind};
use crate::notify::created::{CreatedNotice, CreatedTemplates, How, RuleLine};
use crate::notify::digest::owner_address;
use crate::notify::{EmailSetup, Outlets};
use crate::pricing::PriceBook;
use crate::resources::Tags;
use cloudtrail::{Event, Target};
use seen::{Claim, Seen, Settled};

pub use crate::resources::created::CREATED_BY_TAG;
/// How long a drain waits for a message before it counts the queue empty.
const DRAIN_WAIT_SECS: i32 = 1;
/// The daemon's long poll: SQS's longest.
const LISTEN_WAIT_SECS: i32 = 20;
/// The longest a failed message is held back (SQS's own limit is 12 hours).
const MAX_BACKOFF_SECS: i64 = 43_200;

/// What handling events needs, for as long as it runs.
pub struct Consumer<'a> {
    pub setup: &'a Setup,
    pub aws: &'a Aws,
    pub settings: &'a EventsSettings,
    /// `None`: nobody can be emailed; notices are counted as errors.
    pub email: Option<&'a EmailSetup>,
    /// The policies loaded: the `on-create` ones are judged on each
    /// created resource.
    pub policies: &'a [crate::config::Policy],
    /// Change nothing (the config's `dry-run`, or `approval: required`):
    /// `on-create` policies report what they would do.
    pub dry_run: bool,
    pub clock: &'a Clock,
    pub cancel: &'a CancellationToken,
}

/// What handling events reads besides the queue, opened once per drain
/// (or daemon turn): the state database, the notice's templates, the
/// prices, who owns what, and which policies judge creations.
pub struct Setup {
    pub journal: Journal,
    pub templates: CreatedTemplates,
    pub prices: PriceBook,
    pub owner_tags: Vec<String>,
    pub plan_settings: crate::engine::plan::PlanSettings,
}

/// Why events cannot be handled at all: nothing was received.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("cannot create the state folder {path}: {source}")]
    StateDir { path: std::path::PathBuf, source: std::io::Error },
    #[error("state database: {0}")]
    State(#[from] crate::engine::db::JournalError),
    #[error(transparent)]
    Templates(#[from] crate::notify::template::TemplateError),
}

impl Setup {
    /// Opens the state folder's database (creating the folder, private),
    /// loads the templates `email` names, and the prices (Price List API
    /// answers cached in the state folder when `pricing` is given).
    pub fn open(
        state_dir: &std::path::Path,
        email: Option<&crate::config::daemon::EmailSettings>,
        pricing: Option<crate::aws::pricing::PricingClient>,
        protect_tag: &str,
    ) -> Result<Self, SetupError> {
        use crate::config::daemon::{DEFAULT_OWNER_TAGS, JOURNAL_FILE, PRICE_CACHE_FILE};
        crate::files::create_private_dir(state_dir).map_err(|source| SetupError::StateDir { path: state_dir.to_path_buf(), source })?;
        Ok(Setup {
            journal: Journal::open(&state_dir.join(JOURNAL_FILE))?,
            templates: CreatedTemplates::load(email.and_then(|e| e.templates.as_deref()))?,
            prices: PriceBook::new(pricing, Some(state_dir.join(PRICE_CACHE_FILE))),
            owner_tags: email.map_or_else(|| DEFAULT_OWNER_TAGS.iter().map(|t| t.to_string()).collect(), |e| e.owner_tags.clone()),
            plan_settings: crate::engine::plan::PlanSettings { protect_tag: protect_tag.to_string() },
        })
    }
}

/// One resource told of.
#[derive(Clone, Debug, Serialize)]
pub struct Told {
    pub event_id: String,
    pub event_name: String,
    pub resource_type: String,
    pub resource_id: String,
    pub region: String,
    pub monthly_cost_usd: Option<f64>,
    pub creator: Option<String>,
    pub owner: Option<String>,
    pub tagged_creator: bool,
    pub missing_tags: Vec<String>,
    /// The `on-create` policies it matched, and what they did.
    pub rules: Vec<on_create::Ruled>,
    pub to: Vec<String>,
}

/// A message left in the queue to come back later (and, after its last
/// receive, to go to the dead-letter queue).
#[derive(Clone, Debug, Serialize)]
pub struct Held {
    pub message_id: String,
    pub event_id: Option<String>,
    pub receive_count: u32,
    /// Seconds until it is handed out again.
    pub back_in_secs: i64,
    pub why: String,
}

/// What one drain (or one daemon's turn) did.
#[derive(Clone, Debug, Default, Serialize)]
pub struct DrainReport {
    pub received: usize,
    pub told: Vec<Told>,
    /// Events settled before: deleted without a word.
    pub duplicates: Vec<String>,
    /// Events that created nothing costguard knows, or what is gone already.
    pub settled_quietly: Vec<String>,
    /// Messages that failed and were left to come back.
    pub retried: Vec<Held>,
    /// Messages that are no CloudTrail event costguard can read (left to
    /// reach the dead-letter queue), by message id.
    pub unreadable: Vec<Held>,
    /// What went wrong that did not hold a message back (a tag that could
    /// not be written, a notice nobody could be sent).
    pub errors: Vec<String>,
    pub api_calls: BTreeMap<String, u64>,
}

/// How one message ended.
enum Outcome {
    Told(Vec<Told>, Vec<String>),
    Duplicate(String),
    Quiet(String),
    Retry { event_id: Option<String>, why: String },
    Unreadable { event_id: Option<String>, why: String },
}

impl Consumer<'_> {
    fn queue(&self) -> SqsClient {
        let region = self.settings.queue_region().map(str::to_string).or_else(|| self.aws.default_region()).unwrap_or_else(|| "us-east-1".to_string());
        self.aws.sqs(&region)
    }

    /// Handles what the queue holds, `max-in-flight` messages at a time,
    /// until a receive finds nothing (or the stop signal); then returns.
    pub async fn drain(&self) -> Result<DrainReport, AwsError> {
        let sqs = self.queue();
        let mut report = DrainReport::default();
        while !self.cancel.is_cancelled() && self.turn(&sqs, DRAIN_WAIT_SECS, &mut report).await? > 0 {}
        report.api_calls = self.aws.counter().snapshot();
        Ok(report)
    }

    /// One long poll (up to 20 s) and what it brought, handled: the
    /// daemon's loop, one turn at a time, each with its own AWS handle.
    /// Returns what was done, with the handle's calls.
    pub async fn listen_once(&self) -> Result<DrainReport, AwsError> {
        let mut report = DrainReport::default();
        self.turn(&self.queue(), LISTEN_WAIT_SECS, &mut report).await?;
        report.api_calls = self.aws.counter().snapshot();
        Ok(report)
    }

    /// One receive and its messages handled and settled; returns how many
    /// messages it received.
    async fn turn(&self, sqs: &SqsClient, wait_secs: i32, report: &mut DrainReport) -> Result<usize, AwsError> {
        // A stop ends the wait at once; what was received is handled to the end.
        let batch = tokio::select! {
            batch = sqs.receive(&self.settings.queue, 10, wait_secs, self.settings.visibility_secs) => batch?,
            _ = self.cancel.cancelled() => return Ok(0),
        };
        let received = batch.len();
        report.received += received;
        // Events being handled: a copy in the same batch is a duplicate
        // before either is settled (across batches, the state database says).
        let claimed = Mutex::new(HashSet::new());
        let outcomes: Vec<(Message, Outcome)> = futures_util::stream::iter(batch)
            .map(|m| async {
                // The event this message carries, once claimed: its claim is renewed with the message's visibility.
                let mine = OnceLock::new();
                let outcome = self.with_heartbeat(sqs, &m, &mine, self.handle(&m, &claimed, &mine)).await;
                (m, outcome)
            })
            .buffer_unordered(self.settings.max_in_flight)
            .collect()
            .await;
        for (message, outcome) in outcomes {
            self.settle(sqs, message, outcome, report).await;
        }
        Ok(received)
    }

    /// Deletes a message that is done with, or holds back one that failed.
    async fn settle(&self, sqs: &SqsClient, message: Message, outcome: Outcome, report: &mut DrainReport) {
        let queue = &self.settings.queue;
        let hold = |event_id: Option<String>, why: String| {
            let back_in_secs = backoff(self.settings.retry_secs, message.receive_count);
            Held { message_id: message.id.clone(), event_id, receive_count: message.receive_count, back_in_secs, why }
        };
        let (done, held) = match outcome {
            Outcome::Told(told, errors) => {
                report.told.extend(told);
                report.errors.extend(errors);
                (true, None)
            }
            Outcome::Duplicate(id) => {
                report.duplicates.push(id);
                (true, None)
            }
            Outcome::Quiet(id) => {
                report.settled_quietly.push(id);
                (true, None)
            }
            Outcome::Retry { event_id, why } => {
                let held = hold(event_id, why);
                tracing::warn!(message = %held.message_id, event = ?held.event_id, receive_count = held.receive_count, why = %held.why, "event failed; it comes back later");
                report.retried.push(held.clone());
                (false, Some(held))
            }
            Outcome::Unreadable { event_id, why } => {
                let held = hold(event_id, why);
                tracing::error!(message = %held.message_id, event = ?held.event_id, why = %held.why, "message is no CloudTrail event costguard can read");
                report.unreadable.push(held.clone());
                (false, Some(held))
            }
        };
        let result = match (done, held) {
            (true, _) => sqs.delete(queue, &message.receipt).await,
            (false, Some(h)) => sqs.set_visibility(queue, &message.receipt, i32::try_from(h.back_in_secs).unwrap_or(i32::MAX)).await,
            (false, None) => Ok(()),
        };
        if let Err(e) = result {
            // A message not deleted comes back and is found settled; one
            // not held back comes back after its visibility timeout.
            report.errors.push(format!("message {}: {e}", message.id));
        }
    }

    /// How long a claim on an event holds without being renewed: as long
    /// as the message stays hidden.
    fn lease(&self) -> chrono::Duration {
        chrono::Duration::seconds(i64::from(self.settings.visibility_secs))
    }

    /// Runs `handling`, keeping the message hidden from other readers, and
    /// its event (`mine`, once claimed) claimed, for as long as it takes.
    async fn with_heartbeat(
        &self,
        sqs: &SqsClient,
        message: &Message,
        mine: &OnceLock<String>,
        handling: impl std::future::Future<Output = Outcome>,
    ) -> Outcome {
        let every = Duration::from_secs(u64::try_from(self.settings.visibility_secs / 2).unwrap_or(5).max(1));
        let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        tokio::pin!(handling);
        loop {
            tokio::select! {
                outcome = &mut handling => return outcome,
                _ = tick.tick() => {
                    if let Err(e) = sqs.set_visibility(&self.settings.queue, &message.receipt, self.settings.visibility_secs).await {
                        tracing::warn!(message = %message.id, error = %e, "could not keep the message hidden while it is handled");
                    }
                    if let Some(event_id) = mine.get() {
                        if let Err(e) = Seen::of(&self.setup.journal).renew(event_id, self.clock.now(), self.lease()) {
                            tracing::warn!(event = %event_id, error = %e, "could not renew the claim on the event while it is handled");
                        }
                    }
                }
            }
        }
    }

    async fn handle(&self, message: &Message, claimed: &Mutex<HashSet<String>>, mine: &OnceLock<String>) -> Outcome {
        let event = match cloudtrail::parse(&message.body) {
            Ok(event) => event,
            Err(u) => return Outcome::Unreadable { event_id: u.event_id, why: u.why },
        };
        if !claimed.lock().unwrap_or_else(PoisonError::into_inner).insert(event.id.clone()) {
            return Outcome::Duplicate(event.id);
        }
        let seen = Seen::of(&self.setup.journal);
        match seen.claim(&event.id, &event.name, self.clock.now(), self.lease()) {
            Ok(Claim::Mine) => {
                let _ = mine.set(event.id.clone());
            }
            Ok(Claim::Settled) => return Outcome::Duplicate(event.id),
            Ok(Claim::Held { until }) => {
                return Outcome::Retry { event_id: Some(event.id), why: format!("another costguard is telling it (its claim holds until {until})") }
            }
            Err(e) => return Outcome::Retry { event_id: Some(event.id), why: format!("state database: {e}") },
        }
        let outcome = self.tell_all(&event, &seen).await;
        if let Outcome::Retry { .. } = &outcome {
            // Failed for now: whoever gets it next may tell it at once.
            if let Err(e) = seen.release(&event.id) {
                tracing::warn!(event = %event.id, error = %e, "could not release the claim; it runs out by itself");
            }
        }
        outcome
    }

    /// Tells what a claimed event created, and settles it.
    async fn tell_all(&self, event: &Event, seen: &Seen<'_>) -> Outcome {
        let now = self.clock.now();
        let mut told = Vec::new();
        let mut errors = Vec::new();
        if event.failed.is_none() {
            for target in &event.targets {
                match self.tell(event, target, now, &mut errors).await {
                    Ok(Some(t)) => told.push(t),
                    Ok(None) => {}
                    Err(e) => return Outcome::Retry { event_id: Some(event.id.clone()), why: e.to_string() },
                }
            }
        }
        let settled = if told.is_empty() { Settled::Nothing } else { Settled::Told };
        if let Err(e) = seen.record(&event.id, &event.name, settled, now) {
            // Told but not settled: a redelivery tells it again.
            errors.push(format!("event {}: could not record it settled: {e}", event.id));
        }
        match settled {
            Settled::Told => Outcome::Told(told, errors),
            Settled::Nothing => Outcome::Quiet(event.id.clone()),
        }
    }

    /// Reads, prices, tags and tells one resource the event created;
    /// `None` when it is gone already.
    async fn tell(&self, event: &Event, target: &Target, now: DateTime<Utc>, errors: &mut Vec<String>) -> Result<Option<Told>, EventError> {
        let t = target.resource_type;
        let Some(mut resource) = t.reread(self.aws, &event.region, &target.id, now).await? else { return Ok(None) };
        t.price(&mut resource, &self.setup.prices, now).await;
        let owner = owner_of(&resource.tags, &self.setup.owner_tags);
        let owner_recipient = owner_address(&resource.tags, &self.setup.owner_tags, &self.channel_names());
        let creator = event.creator.name().map(cloudtrail::tag_value).filter(|c| !c.is_empty());
        let mut tagged_creator = false;
        if let (None, Some(name), false) = (&owner, &creator, resource.tags.contains_key(CREATED_BY_TAG)) {
            let tags: Tags = [(CREATED_BY_TAG.to_string(), name.clone())].into_iter().collect();
            match t.set_tags(self.aws, &resource, &tags).await {
                Ok(()) => tagged_creator = true,
                Err(e) => errors.push(format!("{t} {}: could not tag its creator: {e}", target.id)),
            }
        }
        let rules = self.judge_on_create(&resource, &event.account, now).await?;
        let missing_tags: Vec<String> = self.settings.require_tags.iter().filter(|k| !resource.tags.contains_key(k.as_str())).cloned().collect();
        let to = self.recipients(owner_recipient, creator.as_deref());
        let notice = CreatedNotice {
            how: if target.started { How::Started } else { How::Created },
            noun: t.noun(),
            resource_id: target.id.clone(),
            region: event.region.clone(),
            account: event.account.clone(),
            event_name: event.name.clone(),
            event_id: event.id.clone(),
            at: crate::text::utc(event.time.unwrap_or(now)),
            creator: creator.clone(),
            owner: owner.clone(),
            monthly_cost_usd: resource.monthly_cost_usd,
            cost_basis: resource.cost_basis.as_deref().unwrap_or("not priced").to_string(),
            missing_tags: missing_tags.clone(),
            tagged_creator,
            rules: rules
                .iter()
                .map(|r| RuleLine { policy: r.policy.clone(), description: r.description.clone(), reason: r.reason.clone(), outcome: r.outcome.clone() })
                .collect(),
        };
        self.send(&notice, &to, now, errors).await;
        tracing::info!(event = %event.id, resource_type = %t, id = %target.id, cost = ?resource.monthly_cost_usd, to = ?to, "creation told");
        Ok(Some(Told {
            event_id: event.id.clone(),
            event_name: event.name.clone(),
            resource_type: t.name().to_string(),
            resource_id: target.id.clone(),
            region: event.region.clone(),
            monthly_cost_usd: resource.monthly_cost_usd,
            creator,
            owner,
            tagged_creator,
            missing_tags,
            rules,
            to,
        }))
    }

    /// The owner if an owner tag names an address or a channel, else the
    /// creator if their name is an address, else `events.notify`.
    fn recipients(&self, owner: Option<String>, creator: Option<&str>) -> Vec<String> {
        match owner.or_else(|| creator.filter(|c| is_email_address(c)).map(str::to_string)) {
            Some(recipient) => vec![recipient],
            None => self.settings.notify.clone(),
        }
    }

    /// The channels `email.channels` sets up, by name.
    fn channel_names(&self) -> Vec<String> {
        self.email.map(|e| e.settings.channels.keys().cloned().collect()).unwrap_or_default()
    }

    async fn send(&self, notice: &CreatedNotice, to: &[String], now: DateTime<Utc>, errors: &mut Vec<String>) {
        let what = format!("{} {}", notice.noun, notice.resource_id);
        if to.is_empty() {
            return errors.push(format!("{what}: nobody to tell (no owner or creator address, and events.notify is empty)"));
        }
        let Some(email) = self.email else {
            return errors.push(format!("{what}: email is not set up (the config's `email:`); not told"));
        };
        let rendered = match self.setup.templates.render(notice) {
            Ok(r) => r,
            Err(e) => return errors.push(format!("{what}: {e}")),
        };
        let payload = Payload { report_url: None, kind: PayloadKind::Created, data: CreatedTemplates::data(notice) };
        let outlets = Outlets::new(email, self.aws, self.clock);
        let (_, send_errors, _) = outlets.mailer(Some(&self.setup.journal), self.cancel).deliver_alert(to, &rendered, &payload, now).await;
        errors.extend(send_errors);
    }
}

/// Why an event could not be handled now: its message comes back later.
#[derive(Debug, thiserror::Error)]
pub enum EventError {
    #[error(transparent)]
    Aws(#[from] AwsError),
    #[error("state database: {0}")]
    State(#[from] crate::engine::db::JournalError),
}

/// The first owner tag with a value, as the notice names the owner.
fn owner_of(tags: &Tags, owner_tags: &[String]) -> Option<String> {
    owner_tags.iter().filter_map(|k| tags.get(k.as_str())).map(|v| v.trim()).find(|v| !v.is_empty()).map(str::to_string)
}

/// Seconds a failed message is held back: `base` doubled for each receive
/// before this one, at most SQS's 12 hours.
fn backoff(base: i32, receive_count: u32) -> i64 {
    let doublings = receive_count.saturating_sub(1).min(20);
    (i64::from(base.max(0)) << doublings).min(MAX_BACKOFF_SECS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_message_is_held_back_longer_each_time_within_sqs_limits() {
        assert_eq!(backoff(30, 1), 30);
        assert_eq!(backoff(30, 3), 120);
        assert_eq!(backoff(30, 40), MAX_BACKOFF_SECS);
        assert_eq!(backoff(0, 5), 0, "retry-seconds 0: at once");
    }

    #[test]
    fn the_owner_is_the_first_owner_tag_set() {
        let tags: Tags = [("contact".to_string(), "bo@example.com".to_string()), ("owner".to_string(), " ".to_string())].into_iter().collect();
        assert_eq!(owner_of(&tags, &["owner".into(), "contact".into()]).as_deref(), Some("bo@example.com"));
        assert_eq!(owner_of(&Tags::new(), &["owner".into()]), None);
    }
}
