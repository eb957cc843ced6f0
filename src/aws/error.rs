//! The AWS layer's one error type: which call failed, AWS's code and message,
//! and whether trying again later can help.
//!
//! What a person reads is one line: the operation, AWS's error code and
//! message (the HTTP status when AWS sent no message), and the request id
//! to quote to AWS support. Never a Rust `Debug` dump of the SDK's error.

use std::fmt;

use aws_smithy_runtime_api::client::interceptors::context::InterceptorContext;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_runtime_api::client::retries::classifiers::{ClassifyRetry, RetryAction, RetryClassifierPriority};
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

/// What an SDK operation's own error is (every generated `*Error`).
pub trait ServiceError: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static {}
impl<E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static> ServiceError for E {}

/// What an SDK error carries of the raw answer.
pub trait RawResponse: fmt::Debug + Send + Sync + 'static {}
impl<R: fmt::Debug + Send + Sync + 'static> RawResponse for R {}

/// What the caller should do about a failed call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ErrorKind {
    /// The resource is gone; for a delete or an update this means "already done".
    NotFound,
    /// AWS asked us to slow down and the SDK's retries ran out.
    Throttled,
    /// Missing permission or credentials: say which, do not retry.
    AccessDenied,
    /// Network, timeout or a 5xx: the next sweep may succeed.
    Transient,
    /// AWS rejected the request as it is.
    Final,
}

#[derive(Debug, thiserror::Error)]
pub struct AwsError {
    pub service: &'static str,
    pub operation: &'static str,
    pub code: String,
    pub message: String,
    pub kind: ErrorKind,
    /// The HTTP status of AWS's answer, when there was one.
    pub http_status: Option<u16>,
    /// AWS's request id, to quote to AWS support.
    pub request_id: Option<String>,
}

impl fmt::Display for AwsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} failed: ", self.service, self.operation)?;
        match (self.code.as_str(), self.message.is_empty(), self.http_status) {
            ("Unknown", true, Some(status)) if status < 300 => write!(f, "HTTP {status}, but the answer could not be read")?,
            ("Unknown", true, Some(status)) => write!(f, "HTTP {status} with no AWS error in the answer")?,
            (code, true, Some(status)) => write!(f, "{code} (HTTP {status})")?,
            (code, true, None) => f.write_str(code)?,
            (code, false, _) => write!(f, "{code}: {}", self.message)?,
        }
        if let Some(id) = &self.request_id {
            write!(f, " (request id {id})")?;
        }
        Ok(())
    }
}

/// Error codes AWS uses for "your credentials or permissions do not allow this".
const DENIED: &[&str] = &[
    "UnauthorizedOperation",
    "UnrecognizedClientException",
    "InvalidClientTokenId",
    "ExpiredToken",
    "ExpiredTokenException",
    "SignatureDoesNotMatch",
    "AuthFailure",
    "InvalidSignatureException",
    "MissingAuthenticationToken",
    "NoCredentials",
    "CredentialsUnusable",
];

impl AwsError {
    /// A request costguard could not even build (a required field missing):
    /// never sent, never worth retrying.
    pub fn invalid_request(service: &'static str, operation: &'static str, why: impl fmt::Display) -> Self {
        Self::new(service, operation, "InvalidRequest", why.to_string(), ErrorKind::Final)
    }

    pub fn new(service: &'static str, operation: &'static str, code: &str, message: String, kind: ErrorKind) -> Self {
        AwsError { service, operation, code: code.to_string(), message, kind, http_status: None, request_id: None }
    }

    pub fn is_not_found(&self) -> bool {
        self.kind == ErrorKind::NotFound
    }

    /// AWS (or an emulator) answered with success, but not in the shape
    /// the SDK expects.
    pub fn is_unreadable_answer(&self) -> bool {
        self.code == "Unknown" && self.http_status.is_some_and(|s| s < 300)
    }

    pub fn is_retryable(&self) -> bool {
        matches!(self.kind, ErrorKind::Throttled | ErrorKind::Transient)
    }

    /// [`AwsError::from_sdk`] as a closure for `map_err`:
    /// `.map_err(AwsError::of("ecr", "GetLifecyclePolicy", NOT_FOUND))`.
    pub fn of<E: ServiceError, R: RawResponse>(
        service: &'static str,
        operation: &'static str,
        not_found_codes: &'static [&'static str],
    ) -> impl FnOnce(SdkError<E, R>) -> Self {
        move |e| Self::from_sdk(service, operation, not_found_codes, e)
    }

    /// Classifies an SDK error. `not_found_codes` are the service's own names
    /// for "no such resource".
    pub fn from_sdk<E, R>(service: &'static str, operation: &'static str, not_found_codes: &[&str], err: SdkError<E, R>) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
        R: fmt::Debug + Send + Sync + 'static,
    {
        match &err {
            SdkError::ServiceError(service_err) => {
                let inner = service_err.err();
                let code = inner.code().unwrap_or("Unknown").to_string();
                let message = one_line(inner.message().unwrap_or(""));
                let kind = classify_code(&code, not_found_codes);
                let request_id = inner.meta().extra("aws_request_id").map(str::to_string);
                let http_status = http_status(service_err.raw());
                AwsError { service, operation, code, message, kind, http_status, request_id }
            }
            SdkError::TimeoutError(_) => Self::new(service, operation, "Timeout", causes(&err), ErrorKind::Transient),
            SdkError::DispatchFailure(_) if credentials_problem(&err).is_some() => {
                let code = credentials_problem(&err).unwrap_or("NoCredentials");
                Self::new(service, operation, code, causes(&err), ErrorKind::AccessDenied)
            }
            SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => Self::new(service, operation, "Transport", causes(&err), ErrorKind::Transient),
            _ => Self::new(service, operation, "Client", causes(&err), ErrorKind::Final),
        }
    }
}

/// The status of a raw HTTP response, when `R` is one (it is for every
/// SDK client; generic code cannot name the type, so it asks by Debug-free
/// downcast).
fn http_status<R: 'static>(raw: &R) -> Option<u16> {
    (raw as &dyn std::any::Any).downcast_ref::<aws_smithy_runtime_api::http::Response>().map(|r| r.status().as_u16())
}

/// Whether the failure is that no credentials could be found.
/// Why the request never left for want of credentials, if it did not:
/// `NoCredentials` when no provider of the chain had any (none loaded, or
/// the last one tried, instance metadata off EC2, failed), else
/// `CredentialsUnusable` (a profile that could not be loaded: an expired
/// SSO session, a role it cannot assume).
fn credentials_problem(err: &(dyn std::error::Error + 'static)) -> Option<&'static str> {
    use aws_credential_types::provider::error::CredentialsError;
    let mut next: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = next {
        match e.downcast_ref::<CredentialsError>() {
            Some(CredentialsError::CredentialsNotLoaded(_)) => return Some("NoCredentials"),
            Some(_) if causes(e).contains("IMDS") => return Some("NoCredentials"),
            Some(_) => return Some("CredentialsUnusable"),
            None => next = e.source(),
        }
    }
    None
}

/// An error and its causes as one line: each cause's own text once, joined
/// with ": " ("dispatch failure: io error: Connection refused (os error 111)").
pub fn causes(err: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut next: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = next {
        let text = one_line(&e.to_string());
        // Wrappers often repeat their cause's text, or say only "other".
        if !text.is_empty() && text != "other" && !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        next = e.source();
    }
    let joined = parts.join(": ");
    const MAX: usize = 400;
    if joined.len() > MAX {
        let cut = (0..=MAX).rev().find(|&i| joined.is_char_boundary(i)).unwrap_or(0);
        format!("{}...", &joined[..cut])
    } else {
        joined
    }
}

/// Line breaks and runs of spaces become one space.
fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn classify_code(code: &str, not_found_codes: &[&str]) -> ErrorKind {
    if not_found_codes.contains(&code) {
        ErrorKind::NotFound
    } else if code.contains("Throttl") || code == "TooManyRequestsException" || code == "RequestLimitExceeded" {
        ErrorKind::Throttled
    } else if code.contains("AccessDenied") || DENIED.contains(&code) {
        ErrorKind::AccessDenied
    } else if code == "ServiceUnavailableException" || code == "InternalFailure" || code == "ServiceUnavailable" {
        ErrorKind::Transient
    } else {
        ErrorKind::Final
    }
}

/// Forbids retrying an HTTP 500 or 501 whose body is not an AWS error
/// document: AWS always names its errors, so such an answer comes from
/// something else (an emulator without the operation, a proxy), and asking
/// again only repeats it. Every other answer keeps the SDK's standard
/// classification (throttling, 502-504, timeouts are retried).
#[derive(Debug, Default)]
pub struct NotAnAwsAnswer;

impl ClassifyRetry for NotAnAwsAnswer {
    fn classify_retry(&self, ctx: &InterceptorContext) -> RetryAction {
        let Some(response) = ctx.response() else { return RetryAction::NoActionIndicated };
        let status = response.status().as_u16();
        if status != 500 && status != 501 {
            return RetryAction::NoActionIndicated;
        }
        match response.body().bytes() {
            Some(body) if !looks_like_aws_error(body) => RetryAction::RetryForbidden,
            _ => RetryAction::NoActionIndicated,
        }
    }

    fn name(&self) -> &'static str {
        "costguard::NotAnAwsAnswer"
    }

    fn priority(&self) -> RetryClassifierPriority {
        RetryClassifierPriority::run_after(RetryClassifierPriority::transient_error_classifier())
    }
}

/// AWS error bodies are JSON (`__type`, `code`) or XML (`<Error>`,
/// `<ErrorResponse>`).
fn looks_like_aws_error(body: &[u8]) -> bool {
    let text = String::from_utf8_lossy(&body[..body.len().min(1024)]);
    let text = text.trim_start();
    (text.starts_with('{') && (text.contains("__type") || text.contains("\"code\"") || text.contains("\"Code\"")))
        || (text.starts_with('<') && (text.contains("<Error>") || text.contains("<ErrorResponse") || text.contains("<Code>")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_classified() {
        assert_eq!(classify_code("ResourceNotFoundException", &["ResourceNotFoundException"]), ErrorKind::NotFound);
        assert_eq!(classify_code("ThrottlingException", &[]), ErrorKind::Throttled);
        assert_eq!(classify_code("AccessDeniedException", &[]), ErrorKind::AccessDenied);
        assert_eq!(classify_code("ExpiredToken", &[]), ErrorKind::AccessDenied);
        assert_eq!(classify_code("ServiceUnavailableException", &[]), ErrorKind::Transient);
        assert_eq!(classify_code("InvalidParameterException", &[]), ErrorKind::Final);
    }

    #[test]
    fn a_person_reads_the_operation_the_code_and_the_request_id() {
        let mut e = AwsError::new("ce", "GetAnomalyMonitors", "Unknown", String::new(), ErrorKind::Final);
        e.http_status = Some(500);
        assert_eq!(e.to_string(), "ce GetAnomalyMonitors failed: HTTP 500 with no AWS error in the answer");
        let mut e = AwsError::new("logs", "DescribeLogGroups", "AccessDeniedException", "not authorized".into(), ErrorKind::AccessDenied);
        e.request_id = Some("abc-123".into());
        assert_eq!(e.to_string(), "logs DescribeLogGroups failed: AccessDeniedException: not authorized (request id abc-123)");
    }

    #[test]
    fn causes_are_one_line_each_said_once() {
        #[derive(Debug)]
        struct Outer(Inner);
        #[derive(Debug)]
        struct Inner;
        impl fmt::Display for Outer {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("dispatch failure")
            }
        }
        impl fmt::Display for Inner {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("io error:\n  Connection refused")
            }
        }
        impl std::error::Error for Inner {}
        impl std::error::Error for Outer {
            fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                Some(&self.0)
            }
        }
        assert_eq!(causes(&Outer(Inner)), "dispatch failure: io error: Connection refused");
    }

    #[test]
    fn html_is_not_an_aws_error_and_json_with_a_type_is() {
        assert!(!looks_like_aws_error(b"<!doctype html><title>500 Internal Server Error</title>"));
        assert!(looks_like_aws_error(br#"{"__type":"InternalFailure","message":"x"}"#));
        assert!(looks_like_aws_error(b"<?xml version=\"1.0\"?><ErrorResponse><Error><Code>InternalFailure</Code></Error></ErrorResponse>"));
    }
}
