//! One email as bytes: a MIME message (plain text and HTML alternatives)
//! built by lettre, which encodes headers and bodies, so nothing a template
//! renders can add a header or a recipient.

use lettre::message::header::{self, HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart};
use lettre::Message;

use super::template::{Rendered, MAX_SUBJECT_CHARS};
use crate::text::clean;

/// What a transport sends and the outbox keeps.
#[derive(Clone, Debug, PartialEq)]
pub struct OutgoingMessage {
    pub sender: String,
    pub recipients: Vec<String>,
    pub subject: String,
    /// The whole RFC 5322 message.
    pub raw: Vec<u8>,
}

#[derive(Debug, thiserror::Error)]
pub enum MessageError {
    #[error("not a usable email address: {0:?}")]
    Address(String),
    #[error("cannot build the message: {0}")]
    Build(#[from] lettre::error::Error),
}

/// `Auto-Submitted: auto-generated` (RFC 3834): out-of-office replies and
/// mail loops stay away from a robot's messages.
#[derive(Clone)]
struct AutoSubmitted;

impl header::Header for AutoSubmitted {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("Auto-Submitted")
    }

    fn parse(_: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(AutoSubmitted)
    }

    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), "auto-generated".to_string())
    }
}

fn mailbox(address: &str) -> Result<Mailbox, MessageError> {
    address.parse::<Mailbox>().map_err(|_| MessageError::Address(address.to_string()))
}

/// One message from `from` to `to` with the rendered parts.
pub fn build(from: &str, to: &str, rendered: &Rendered) -> Result<OutgoingMessage, MessageError> {
    // Rendering cleaned it already; a subject is one line whoever built it.
    let subject = clean(&rendered.subject, MAX_SUBJECT_CHARS);
    let message = Message::builder()
        .from(mailbox(from)?)
        .to(mailbox(to)?)
        .subject(subject.clone())
        .header(AutoSubmitted)
        .multipart(MultiPart::alternative_plain_html(rendered.text.clone(), rendered.html.clone()))?;
    Ok(OutgoingMessage { sender: from.to_string(), recipients: vec![to.to_string()], subject, raw: message.formatted() })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rendered(subject: &str) -> Rendered {
        Rendered { subject: subject.to_string(), text: "text\r\nBcc: evil@example.net\r\n".into(), html: "<p>html</p>".into() }
    }

    #[test]
    fn a_message_has_both_parts_and_no_forged_headers() -> Result<(), MessageError> {
        let m = build("cg@example.com", "ana@example.com", &rendered("costguard: 2 findings\r\nBcc: evil@example.net"))?;
        let raw = String::from_utf8_lossy(&m.raw);
        let headers = raw.split("\r\n\r\n").next().unwrap_or_default();
        assert!(!headers.lines().any(|l| l.to_ascii_lowercase().starts_with("bcc:")), "{headers}");
        assert!(headers.contains("Auto-Submitted: auto-generated"), "{headers}");
        assert!(raw.contains("multipart/alternative") && raw.contains("text/plain") && raw.contains("text/html"), "{raw}");
        Ok(())
    }

    #[test]
    fn a_bad_address_is_an_error_not_a_panic() {
        assert!(matches!(build("cg@example.com", "not an address", &rendered("s")), Err(MessageError::Address(_))));
    }
}
