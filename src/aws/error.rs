//! The AWS layer's one error type: which call failed, AWS's code and message,
//! and whether trying again later can help.

use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::display::DisplayErrorContext;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

/// What the caller should do about a failed call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ErrorKind {
    /// The resource is gone; for a delete or an update this means "already done".
    NotFound,
    /// AWS asked us to slow down and the SDK's retries ran out.
    Throttled,
    /// Missing permission: say which, do not retry.
    AccessDenied,
    /// Network, timeout or a 5xx: the next sweep may succeed.
    Transient,
    /// AWS rejected the request as it is.
    Final,
}

#[derive(Debug, thiserror::Error)]
#[error("{service} {operation} failed: {code}: {message}")]
pub struct AwsError {
    pub service: &'static str,
    pub operation: &'static str,
    pub code: String,
    pub message: String,
    pub kind: ErrorKind,
}

impl AwsError {
    /// A request costguard could not even build (a required field missing):
    /// never sent, never worth retrying.
    pub fn invalid_request(service: &'static str, operation: &'static str, why: impl std::fmt::Display) -> Self {
        AwsError { service, operation, code: "InvalidRequest".to_string(), message: why.to_string(), kind: ErrorKind::Final }
    }

    pub fn is_not_found(&self) -> bool {
        self.kind == ErrorKind::NotFound
    }

    pub fn is_retryable(&self) -> bool {
        matches!(self.kind, ErrorKind::Throttled | ErrorKind::Transient)
    }

    /// Classifies an SDK error. `not_found_codes` are the service's own names
    /// for "no such resource".
    pub fn from_sdk<E, R>(
        service: &'static str,
        operation: &'static str,
        not_found_codes: &[&str],
        err: SdkError<E, R>,
    ) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
        R: std::fmt::Debug + Send + Sync + 'static,
    {
        match &err {
            SdkError::ServiceError(service_err) => {
                let inner = service_err.err();
                let code = inner.code().unwrap_or("Unknown").to_string();
                let message = inner.message().unwrap_or("").to_string();
                let kind = classify_code(&code, not_found_codes);
                AwsError { service, operation, code, message, kind }
            }
            SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
                AwsError {
                    service,
                    operation,
                    code: "Transport".to_string(),
                    message: DisplayErrorContext(&err).to_string(),
                    kind: ErrorKind::Transient,
                }
            }
            _ => AwsError {
                service,
                operation,
                code: "Client".to_string(),
                message: DisplayErrorContext(&err).to_string(),
                kind: ErrorKind::Final,
            },
        }
    }
}

fn classify_code(code: &str, not_found_codes: &[&str]) -> ErrorKind {
    if not_found_codes.contains(&code) {
        ErrorKind::NotFound
    } else if code.contains("Throttl") || code == "TooManyRequestsException" || code == "RequestLimitExceeded" {
        ErrorKind::Throttled
    } else if code.contains("AccessDenied") || code == "UnauthorizedOperation" || code == "UnrecognizedClientException" {
        ErrorKind::AccessDenied
    } else if code == "ServiceUnavailableException" || code == "InternalFailure" || code == "ServiceUnavailable" {
        ErrorKind::Transient
    } else {
        ErrorKind::Final
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_classified() {
        assert_eq!(classify_code("ResourceNotFoundException", &["ResourceNotFoundException"]), ErrorKind::NotFound);
        assert_eq!(classify_code("ThrottlingException", &[]), ErrorKind::Throttled);
        assert_eq!(classify_code("AccessDeniedException", &[]), ErrorKind::AccessDenied);
        assert_eq!(classify_code("ServiceUnavailableException", &[]), ErrorKind::Transient);
        assert_eq!(classify_code("InvalidParameterException", &[]), ErrorKind::Final);
    }
}
