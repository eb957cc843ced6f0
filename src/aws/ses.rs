//! Amazon SES (v2): sends a raw MIME message, as built for SMTP.

use aws_sdk_sesv2::primitives::Blob;
use aws_sdk_sesv2::types::{Destination, EmailContent, RawMessage};

use super::AwsError;

#[derive(Clone, Debug)]
pub struct SesClient {
    client: aws_sdk_sesv2::Client,
}

impl SesClient {
    pub fn new(client: aws_sdk_sesv2::Client) -> Self {
        Self { client }
    }

    /// Sends `raw` to `recipients`; returns SES's message id.
    pub async fn send_raw(&self, from: &str, recipients: &[String], raw: &[u8], configuration_set: Option<&str>) -> Result<String, AwsError> {
        let content = EmailContent::builder()
            .raw(RawMessage::builder().data(Blob::new(raw.to_vec())).build().map_err(|e| AwsError::invalid_request("ses", "SendEmail", e))?);
        let out = self
            .client
            .send_email()
            .from_email_address(from)
            .destination(Destination::builder().set_to_addresses(Some(recipients.to_vec())).build())
            .content(content.build())
            .set_configuration_set_name(configuration_set.map(str::to_string))
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("ses", "SendEmail", &[], e))?;
        Ok(out.message_id().unwrap_or_default().to_string())
    }
}
