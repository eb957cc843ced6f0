//! Amazon SNS: publishes a digest to a topic (the `sns` channel).

use super::AwsError;

#[derive(Clone, Debug)]
pub struct SnsClient {
    client: aws_sdk_sns::Client,
}

impl SnsClient {
    pub fn new(client: aws_sdk_sns::Client) -> Self {
        Self { client }
    }

    /// Publishes `message` under `subject` (email subscribers see it as
    /// the subject line); returns SNS's message id.
    pub async fn publish(&self, topic_arn: &str, subject: &str, message: &str) -> Result<String, AwsError> {
        let out = self
            .client
            .publish()
            .topic_arn(topic_arn)
            .subject(subject)
            .message(message)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("sns", "Publish", &[], e))?;
        Ok(out.message_id().unwrap_or_default().to_string())
    }
}
