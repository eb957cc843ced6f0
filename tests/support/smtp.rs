//! A real SMTP server on loopback (aiosmtpd, `smtp_sink.py`), one per test,
//! that keeps what it receives and reads it back with Python's email parser.

use serde::Deserialize;

use super::ScriptProcess;

pub struct SmtpSink {
    pub port: u16,
    process: ScriptProcess,
}

/// A received message, parsed by Python's `email` package.
#[derive(Clone, Debug, Deserialize)]
pub struct Received {
    pub mail_from: Option<String>,
    pub rcpt_tos: Vec<String>,
    pub headers: Vec<(String, String)>,
    pub subject: String,
    pub content_type: String,
    pub text: Option<String>,
    pub html: Option<String>,
}

impl Received {
    pub fn header(&self, name: &str) -> Vec<&str> {
        self.headers.iter().filter(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str()).collect()
    }

    pub fn text(&self) -> &str {
        self.text.as_deref().unwrap_or_default()
    }

    pub fn html(&self) -> &str {
        self.html.as_deref().unwrap_or_default()
    }
}

impl SmtpSink {
    /// Starts a sink; with `auth`, AUTH with that user and password is required.
    pub fn start(auth: Option<(&str, &str)>) -> Self {
        let credentials = auth.map(|(u, p)| format!("{u}:{p}"));
        let args: Vec<&str> = match &credentials {
            Some(c) => vec!["--auth", c.as_str()],
            None => vec![],
        };
        let (process, port) = ScriptProcess::start("smtp_sink.py", &args);
        SmtpSink { port, process }
    }

    pub fn messages(&self) -> Vec<Received> {
        let lines = self.process.exchange(r#"{"op":"messages"}"#, 1);
        serde_json::from_str(lines.first().map_or("", String::as_str)).expect("the sink answers JSON")
    }

    pub fn clear(&self) {
        self.process.exchange(r#"{"op":"clear"}"#, 0);
    }

    /// After `count` more messages, every next one hangs unanswered until
    /// [`SmtpSink::release`], then is stored and answered if its client is
    /// still connected (a killed client's never is).
    pub fn hang_after(&self, count: usize) {
        self.process.exchange(&format!(r#"{{"op":"hang_after","count":{count}}}"#), 0);
    }

    /// How many messages were held so far.
    pub fn hanging(&self) -> usize {
        let lines = self.process.exchange(r#"{"op":"hanging"}"#, 1);
        lines.first().and_then(|l| l.trim().parse().ok()).expect("the sink answers a count")
    }

    /// Messages are answered again.
    pub fn release(&self) {
        self.process.exchange(r#"{"op":"release"}"#, 0);
    }

    /// The next `count` messages are answered with `code` (4xx: later; 5xx: never).
    pub fn fail_next(&self, count: usize, code: u16) {
        self.process.exchange(&format!(r#"{{"op":"fail","count":{count},"code":{code}}}"#), 0);
    }
}

/// Email settings (a daemon config's `email:` section) loaded with their
/// templates, as the daemon loads them.
pub fn email(config: &str) -> std::sync::Arc<costguard::notify::EmailSetup> {
    let daemon = costguard::config::daemon::compile_text(std::path::Path::new("costguard.yaml"), config).expect("valid daemon config");
    let settings = daemon.email.expect("an email section");
    let templates = costguard::notify::template::Templates::load(settings.templates.as_deref()).expect("the shipped templates load");
    std::sync::Arc::new(costguard::notify::EmailSetup { settings, templates })
}

/// An `email:` section sending to `sink` (two quick attempts), and `extra`.
pub fn smtp_config(sink: &SmtpSink, extra: &str) -> String {
    format!(
        "email:\n  from: costguard@example.com\n  smtp: {{host: 127.0.0.1, port: {}, security: none}}\n  attempts: 2\n  retry-seconds: 0.05\n{extra}",
        sink.port
    )
}
