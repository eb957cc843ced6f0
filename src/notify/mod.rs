//! Email: every finding a policy routes to `notify` reaches its people once,
//! in one digest per recipient per sweep.
//!
//! - [`digest`]: routing and the quiet period (pure).
//! - [`template`]: MiniJinja templates, shipped or overridden, and what they see.
//! - [`message`]: the MIME message (plain text and HTML parts).
//! - [`transport`]: SMTP or SES, retries, failure classes.
//! - [`state`]: what was told to whom, and the outbox, in the state database.
//!
//! # Guarantees
//! - Nothing is silently dropped: a message that cannot be sent after its
//!   retries is kept in the outbox and retried by the next sweeps (for
//!   `keep-unsent-hours`); every outcome is in the report.
//! - A finding is told to a person again within the quiet period only when
//!   its state changed (newly marked, due soon, acted on, failed).
//! - Findings covered by a queued message count as told, so a delivery
//!   failure never turns into duplicates once the relay is back.

pub mod ai_alert;
pub mod channel;
pub mod created;
pub mod digest;
pub mod message;
pub mod state;
pub mod template;
pub mod transport;

use std::collections::HashMap;

use channel::Channels;
use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio_util::sync::CancellationToken;

use crate::config::daemon::EmailSettings;
use crate::config::Policy;
use crate::engine::findings::Finding;
use crate::engine::journal::Journal;
use crate::engine::plan::Plan;
use digest::Routing;
use template::{Context, Meta, Templates};
use transport::Transport;

/// Email settings with their templates, loaded (and checked) once.
#[derive(Debug)]
pub struct EmailSetup {
    pub settings: EmailSettings,
    pub templates: Templates,
}

impl EmailSetup {
    /// Loads the templates the settings name (or the shipped ones).
    pub fn load(settings: &EmailSettings) -> Result<std::sync::Arc<Self>, template::TemplateError> {
        let templates = Templates::load(settings.templates.as_deref())?;
        Ok(std::sync::Arc::new(EmailSetup { settings: settings.clone(), templates }))
    }
}

/// Problems with the channels the policies and settings name: a `#name`
/// no channel answers to, a channel whose URL or secret cannot be read or
/// whose URL is not https. What `validate --config` and start-up report.
pub fn channel_problems(policies: &[Policy], settings: &EmailSettings) -> Vec<String> {
    let mut problems: Vec<String> = settings.channels.values().filter_map(|c| c.check().err()).collect();
    let mut unknown: Vec<String> = policies
        .iter()
        .flat_map(|p| {
            p.actions.iter().filter_map(move |a| match a {
                crate::actions::Action::Notify(n) => Some((p, n)),
                _ => None,
            })
        })
        .flat_map(|(p, n)| n.to.iter().map(move |to| (p, to)))
        .filter(|(_, to)| crate::config::channels::channel_of(to).is_some_and(|name| !settings.channels.contains_key(name)))
        .map(|(p, to)| format!("{}: policy {}: notify names {to}, which is not in the config's email.channels", p.source.display(), p.name))
        .collect();
    unknown.dedup();
    problems.extend(unknown);
    problems
}

/// What happened to email in one sweep; a section of the report.
#[derive(Clone, Debug, Default, Serialize)]
pub struct EmailReport {
    pub transport: String,
    /// Digests delivered in this sweep.
    pub sent: usize,
    /// Could not be sent; kept in the outbox for the next sweep.
    pub queued: usize,
    /// Refused for good (an unknown recipient, a rejected sender).
    pub failed: usize,
    /// Outbox messages from earlier sweeps delivered now.
    pub outbox_sent: usize,
    /// Outbox messages older than `keep-unsent-hours`, given up.
    pub outbox_expired: usize,
    /// Still waiting in the outbox after this sweep.
    pub outbox_waiting: usize,
    /// Findings not repeated to someone told within the quiet period.
    pub held_back: usize,
    pub unroutable: Vec<digest::Unroutable>,
    pub messages: Vec<MessageOutcome>,
}

impl EmailReport {
    /// Adds another delivery's outcomes (the AI spend alert's) to these.
    pub fn absorb(&mut self, other: EmailReport) {
        self.sent += other.sent;
        self.queued += other.queued;
        self.failed += other.failed;
        self.messages.extend(other.messages);
    }
}

/// What one delivery run keeps as it goes: the routes that failed a
/// message (later ones for them wait), the outcomes, the errors.
struct Tally<'a> {
    down: &'a mut HashMap<String, String>,
    report: &'a mut EmailReport,
    errors: &'a mut Vec<String>,
}

/// What became of one message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Delivery {
    Sent,
    /// Not delivered yet: in the outbox for the next sweeps.
    Queued,
    Failed,
    /// Sent from the outbox (an earlier sweep's message).
    OutboxSent,
    /// Given up: too old in the outbox.
    OutboxExpired,
}

impl Delivery {
    pub fn as_str(self) -> &'static str {
        match self {
            Delivery::Sent => "sent",
            Delivery::Queued => "queued",
            Delivery::Failed => "failed",
            Delivery::OutboxSent => "outbox-sent",
            Delivery::OutboxExpired => "outbox-expired",
        }
    }

    /// An earlier sweep's message, not this one's.
    pub fn from_outbox(self) -> bool {
        matches!(self, Delivery::OutboxSent | Delivery::OutboxExpired)
    }
}

impl std::fmt::Display for Delivery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct MessageOutcome {
    pub to: Vec<String>,
    pub subject: String,
    pub findings: usize,
    pub status: Delivery,
    pub attempts: u32,
    pub error: Option<String>,
}

/// Where one sweep's messages go out: the mail transport (or why it could
/// not be set up) and the chat channels, built once.
pub struct Outlets<'a> {
    setup: &'a EmailSetup,
    transport: Result<Transport, String>,
    channels: Channels<'a>,
}

impl<'a> Outlets<'a> {
    pub fn new(setup: &'a EmailSetup, aws: &'a crate::aws::Aws, clock: &'a crate::clock::Clock) -> Self {
        let transport = Transport::build(&setup.settings.transport, aws).map_err(|e| e.to_string());
        let channels = Channels::new(&setup.settings.channels, aws, setup.settings.message_limit(), clock);
        Outlets { setup, transport, channels }
    }

    /// A mailer through these outlets, keeping what it told in `journal`.
    pub fn mailer<'b>(&'b self, journal: Option<&'b Journal>, cancel: &'b CancellationToken) -> Mailer<'b> {
        Mailer {
            settings: &self.setup.settings,
            templates: &self.setup.templates,
            transport: self.transport.as_ref().map_err(Clone::clone),
            channels: &self.channels,
            journal,
            cancel,
        }
    }
}

/// Everything `deliver` needs besides the sweep's results.
pub struct Mailer<'a> {
    pub settings: &'a EmailSettings,
    pub templates: &'a Templates,
    /// `Err`: the transport could not be set up; messages go to the outbox.
    pub transport: Result<&'a Transport, String>,
    /// The `#name` recipients' channels.
    pub channels: &'a channel::Channels<'a>,
    pub journal: Option<&'a Journal>,
    pub cancel: &'a CancellationToken,
}

/// Findings of one sweep, as `deliver` reads them.
pub struct Sweep<'a> {
    pub plan: &'a Plan,
    pub findings: &'a [Finding],
    pub policies: &'a [Policy],
    pub run_id: &'a str,
    pub dry_run: bool,
    pub protect_tag: &'a str,
    pub now: DateTime<Utc>,
    /// The plan this dry run saved for review, if any.
    pub review_plan: Option<&'a str>,
}

/// A sweep's digests, routed and without what each recipient was already
/// told within the quiet period, not yet sent: one account's sweep in an
/// organization hands them over, and the organization sends one digest
/// per recipient across its accounts.
#[derive(Debug, Default)]
pub struct Routed {
    pub digests: Vec<digest::Digest>,
    pub unroutable: Vec<digest::Unroutable>,
    pub held_back: usize,
    pub errors: Vec<String>,
}

/// Routes a sweep's findings to their recipients (see [`digest::route`]),
/// leaving out repeats `journal` remembers.
pub fn route(settings: &EmailSettings, journal: Option<&Journal>, sweep: &Sweep<'_>) -> Routed {
    let routing = Routing {
        default_to: settings.to.clone(),
        owner_tags: settings.owner_tags.clone(),
        quiet_period: settings.quiet_period,
        channels: settings.channels.keys().cloned().collect(),
        owner_domains: settings.owner_domains.clone(),
    };
    let (digests, unroutable) = digest::route(sweep.plan, sweep.findings, sweep.policies, &routing, sweep.dry_run);
    let mut errors: Vec<String> = unroutable
        .iter()
        .map(|u| format!("email: policy {}: {} findings have no recipient (no `to`, no owner tag, no email.to)", u.policy, u.findings))
        .collect();
    let Some(journal) = journal else { return Routed { digests, unroutable, held_back: 0, errors } };
    let recipients: Vec<String> = digests.iter().map(|d| d.recipient.clone()).collect();
    match state::Notices::of(journal).last(&recipients) {
        Ok(previous) => {
            let (digests, held_back) = digest::without_repeats(digests, &previous, sweep.now, settings.quiet_period);
            Routed { digests, unroutable, held_back, errors }
        }
        Err(e) => {
            // Better a repeat than silence.
            errors.push(format!("email: cannot read what was already sent ({e}); sending everything"));
            Routed { digests, unroutable, held_back: 0, errors }
        }
    }
}

impl Mailer<'_> {
    /// Retries the outbox, then sends this sweep's digests. Errors worth the
    /// report's error list come back as strings, besides the counts.
    pub async fn deliver(&self, sweep: &Sweep<'_>) -> (EmailReport, Vec<String>) {
        let routed = route(self.settings, self.journal, sweep);
        let meta = self.meta(sweep.run_id, sweep.dry_run, sweep.now, sweep.protect_tag, sweep.review_plan);
        let journal = self.journal;
        let remember = |d: &digest::Digest| journal.map_or(Ok(()), |j| state::Notices::of(j).record(d.items().map(|i| (&i.key, &i.state)), sweep.now));
        self.send_digests(routed, &meta, remember).await
    }

    /// What every digest of a run shares.
    pub fn meta<'m>(&'m self, run_id: &'m str, dry_run: bool, now: DateTime<Utc>, protect_tag: &'m str, review_plan: Option<&'m str>) -> Meta<'m> {
        Meta {
            dry_run,
            run_id,
            now,
            quiet_period: self.settings.quiet_period,
            protect_tag,
            report_url: self.settings.report_url.as_deref(),
            review_plan,
            max_items: self.settings.max_items,
        }
    }

    /// Retries the outbox, then sends routed digests; `remember` records
    /// what each recipient was told (or queued to be told), where the
    /// quiet period will read it.
    pub async fn send_digests(
        &self,
        routed: Routed,
        meta: &Meta<'_>,
        remember: impl Fn(&digest::Digest) -> Result<(), crate::engine::journal::JournalError>,
    ) -> (EmailReport, Vec<String>) {
        let Routed { digests, unroutable, held_back, mut errors } = routed;
        let mut report =
            EmailReport { transport: self.transport.as_ref().map_or("unavailable", |t| t.name()).to_string(), unroutable, held_back, ..Default::default() };
        if let Err(e) = &self.transport {
            errors.push(format!("email: {e}; messages are kept for the next sweep"));
        }
        // Once the relay (or a channel) fails a message for now (refused,
        // or at its time limit), the rest for it are kept without trying: a
        // relay that never answers costs one message's attempts, not every
        // message's, and holds back no other channel.
        let mut down = self.retry_outbox(meta.now, &mut report, &mut errors).await;
        for digest in &digests {
            let findings = digest.items().count();
            let context = Context::of(digest, meta);
            let built = self.templates.render(&context).map_err(|e| e.to_string()).and_then(|rendered| {
                if !Channels::is_channel(&digest.recipient) {
                    return message::build(&self.settings.from, &digest.recipient, &rendered).map_err(|e| e.to_string());
                }
                match self.channels.get(&digest.recipient) {
                    Some(ch) => Ok(channel::build(ch, &digest.recipient, &rendered, &channel::Payload::digest(&context))),
                    None => Err("no such channel in email.channels".to_string()),
                }
            });
            let message = match built {
                Ok(m) => m,
                Err(e) => {
                    errors.push(format!("email to {}: {e}", digest.recipient));
                    report.failed += 1;
                    report.messages.push(MessageOutcome {
                        to: vec![digest.recipient.clone()],
                        subject: String::new(),
                        findings,
                        status: Delivery::Failed,
                        attempts: 0,
                        error: Some(e),
                    });
                    continue;
                }
            };
            let told = self.send_or_keep(message, findings, meta.now, &mut Tally { down: &mut down, report: &mut report, errors: &mut errors }).await;
            if told {
                if let Err(e) = remember(digest) {
                    errors.push(format!("email to {}: sent, but not remembered ({e}); it may be repeated", digest.recipient));
                }
            }
        }
        report.outbox_waiting = self.journal.and_then(|j| state::Outbox::of(j).waiting().ok()).unwrap_or(0);
        (report, errors)
    }

    /// An alert (an AI spend alert, a creation notice) to each recipient,
    /// an address or a `#channel`, at once (no quiet period: its caller
    /// decides what is told again). Returns the outcomes, the errors, and
    /// whether every recipient was told (sent, or queued).
    pub async fn deliver_alert(
        &self,
        recipients: &[String],
        rendered: &template::Rendered,
        payload: &channel::Payload<'_>,
        now: DateTime<Utc>,
    ) -> (EmailReport, Vec<String>, bool) {
        let mut report = EmailReport { transport: self.transport.as_ref().map_or("unavailable", |t| t.name()).to_string(), ..Default::default() };
        let mut errors = Vec::new();
        let mut down = HashMap::new();
        let mut all_told = true;
        for to in recipients {
            let built = if Channels::is_channel(to) {
                self.channels.get(to).map(|ch| channel::build(ch, to, rendered, payload)).ok_or_else(|| "no such channel in email.channels".to_string())
            } else {
                message::build(&self.settings.from, to, rendered).map_err(|e| e.to_string())
            };
            let told = match built {
                Ok(m) => self.send_or_keep(m, 0, now, &mut Tally { down: &mut down, report: &mut report, errors: &mut errors }).await,
                Err(e) => {
                    errors.push(format!("{} to {to}: {e}", payload.kind.noun()));
                    report.failed += 1;
                    false
                }
            };
            all_told &= told;
        }
        (report, errors, all_told)
    }

    /// Sends one message (unless its route failed a message before in this
    /// sweep), or keeps it in the outbox when it fails for now; the outcome
    /// goes into the report. Returns whether its recipients count as told
    /// (sent, or queued to be).
    async fn send_or_keep(&self, message: message::OutgoingMessage, findings: usize, now: DateTime<Utc>, tally: &mut Tally<'_>) -> bool {
        let Tally { down, report, errors } = tally;
        let to = message.recipients.join(", ");
        let route = route_of(&message);
        let (result, attempts) = match down.get(&route) {
            _ if self.cancel.is_cancelled() => (Err(transport::SendFailure { permanent: false, message: "shutting down".into() }), 0),
            Some(why) => (Err(transport::SendFailure { permanent: false, message: format!("not tried: {route} failed a message before ({why})") }), 0),
            None => self.send(&message).await,
        };
        if let (Err(f), true) = (&result, attempts > 0) {
            if !f.permanent {
                down.insert(route, f.message.clone());
            }
        }
        let mut outcome =
            MessageOutcome { to: message.recipients.clone(), subject: message.subject.clone(), findings, status: Delivery::Sent, attempts, error: None };
        let told = match result {
            Ok(()) => {
                report.sent += 1;
                tracing::info!(to = %to, findings, subject = %message.subject, "email sent");
                true
            }
            Err(f) if f.permanent => {
                report.failed += 1;
                errors.push(format!("email to {} refused: {}", to, f.message));
                outcome.status = Delivery::Failed;
                outcome.error = Some(f.message);
                false
            }
            Err(f) => {
                outcome.error = Some(f.message.clone());
                match self.journal.map(|j| state::Outbox::of(j).enqueue(&message, attempts, &f.message, now)) {
                    Some(Ok(_)) => {
                        report.queued += 1;
                        outcome.status = Delivery::Queued;
                        errors.push(format!("email to {} not sent ({}); kept for the next sweep", to, f.message));
                        true
                    }
                    Some(Err(e)) => {
                        report.failed += 1;
                        outcome.status = Delivery::Failed;
                        errors.push(format!("email to {} not sent ({}) and cannot be kept: {e}", to, f.message));
                        false
                    }
                    None => {
                        report.failed += 1;
                        outcome.status = Delivery::Failed;
                        errors.push(format!("email to {} not sent ({}); no state database to keep it", to, f.message));
                        false
                    }
                }
            }
        };
        report.messages.push(outcome);
        told
    }

    /// One message, with retries: by email, or to its channel.
    async fn send(&self, message: &message::OutgoingMessage) -> (Result<(), transport::SendFailure>, u32) {
        let (attempts, pause) = (self.settings.attempts, self.settings.retry_pause);
        if message.recipients.first().is_some_and(|r| Channels::is_channel(r)) {
            return transport::with_retries(attempts, pause, self.cancel, &message.recipients, || self.channels.send_once(message)).await;
        }
        match &self.transport {
            Ok(t) => t.send(message, attempts, pause, self.cancel).await,
            Err(e) => (Err(transport::SendFailure { permanent: false, message: e.clone() }), 0),
        }
    }

    /// Messages kept by earlier sweeps: sent, given up when too old, or kept.
    /// Returns the routes (the relay, channels) that failed for now, and why.
    async fn retry_outbox(&self, now: DateTime<Utc>, report: &mut EmailReport, errors: &mut Vec<String>) -> HashMap<String, String> {
        let mut down = HashMap::new();
        let Some(journal) = self.journal else { return down };
        let queued = match state::Outbox::of(journal).queued(now) {
            Ok(q) => q,
            Err(e) => {
                errors.push(format!("email: cannot read the outbox: {e}"));
                return down;
            }
        };
        for q in queued {
            let outcome = |status, attempts, error| MessageOutcome {
                to: q.message.recipients.clone(),
                subject: q.message.subject.clone(),
                findings: 0,
                status,
                attempts,
                error,
            };
            if now - q.created_at > self.settings.keep_unsent {
                report.outbox_expired += 1;
                errors.push(format!(
                    "email to {} ({}) could not be delivered since {}; given up",
                    q.message.recipients.join(", "),
                    q.message.subject,
                    crate::text::utc(q.created_at)
                ));
                report.messages.push(outcome(Delivery::OutboxExpired, q.attempts, None));
                if let Err(e) = state::Outbox::of(journal).dequeue(q.id) {
                    errors.push(format!("email: outbox: {e}"));
                }
                continue;
            }
            // The relay (or channel) refused the last one for now: the rest
            // for it wait too; without a transport, email waits.
            let route = route_of(&q.message);
            if self.cancel.is_cancelled() || down.contains_key(&route) || (route == EMAIL_ROUTE && self.transport.is_err()) {
                continue;
            }
            let (result, tried) = self.send(&q.message).await;
            let attempts = q.attempts.saturating_add(tried);
            let done = match result {
                Ok(()) => {
                    report.outbox_sent += 1;
                    report.messages.push(outcome(Delivery::OutboxSent, attempts, None));
                    state::Outbox::of(journal).dequeue(q.id)
                }
                Err(f) if f.permanent => {
                    report.failed += 1;
                    errors.push(format!("email to {} refused: {}", q.message.recipients.join(", "), f.message));
                    report.messages.push(outcome(Delivery::Failed, attempts, Some(f.message)));
                    state::Outbox::of(journal).dequeue(q.id)
                }
                Err(f) => {
                    errors.push(format!("email to {} still not sent ({}); kept", q.message.recipients.join(", "), f.message));
                    down.insert(route, f.message.clone());
                    state::Outbox::of(journal).retry_failed(q.id, attempts, &f.message)
                }
            };
            if let Err(e) = done {
                errors.push(format!("email: outbox: {e}"));
            }
        }
        down
    }
}

const EMAIL_ROUTE: &str = "the relay";

/// What a message goes through: the email relay, or its channel.
fn route_of(message: &message::OutgoingMessage) -> String {
    match message.recipients.first() {
        Some(r) if Channels::is_channel(r) => r.clone(),
        _ => EMAIL_ROUTE.to_string(),
    }
}
