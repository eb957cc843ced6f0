//! Amazon SQS: the queue CloudTrail events reach costguard on (an
//! EventBridge rule's target), read with long polling.

use super::AwsError;

/// One message as received.
#[derive(Clone, Debug)]
pub struct Message {
    pub id: String,
    /// What deletes it or changes its visibility (this receipt only).
    pub receipt: String,
    pub body: String,
    /// How many times SQS has handed it out, this time included.
    pub receive_count: u32,
}

#[derive(Clone, Debug)]
pub struct SqsClient {
    client: aws_sdk_sqs::Client,
}

/// What SQS answers for a queue that does not exist.
const NOT_FOUND: &[&str] = &["AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist"];

fn err<E: crate::aws::error::ServiceError, R: crate::aws::error::RawResponse>(
    operation: &'static str,
) -> impl FnOnce(aws_smithy_runtime_api::client::result::SdkError<E, R>) -> AwsError {
    AwsError::of("sqs", operation, NOT_FOUND)
}

impl SqsClient {
    pub fn new(client: aws_sdk_sqs::Client) -> Self {
        Self { client }
    }

    /// Up to `max` (1-10) messages, waiting up to `wait_secs` (0-20) for
    /// the first; each hidden from other readers for `visibility_secs`.
    pub async fn receive(&self, queue: &str, max: i32, wait_secs: i32, visibility_secs: i32) -> Result<Vec<Message>, AwsError> {
        let out = self
            .client
            .receive_message()
            .queue_url(queue)
            .max_number_of_messages(max.clamp(1, 10))
            .wait_time_seconds(wait_secs.clamp(0, 20))
            .visibility_timeout(visibility_secs)
            .message_system_attribute_names(aws_sdk_sqs::types::MessageSystemAttributeName::ApproximateReceiveCount)
            .send()
            .await
            .map_err(err("ReceiveMessage"))?;
        Ok(out
            .messages()
            .iter()
            .filter_map(|m| {
                let receive_count = m
                    .attributes()
                    .and_then(|a| a.get(&aws_sdk_sqs::types::MessageSystemAttributeName::ApproximateReceiveCount))
                    .and_then(|n| n.parse().ok())
                    .unwrap_or(1);
                Some(Message {
                    id: m.message_id()?.to_string(),
                    receipt: m.receipt_handle()?.to_string(),
                    body: m.body().unwrap_or_default().to_string(),
                    receive_count,
                })
            })
            .collect())
    }

    /// Done with: it will not be handed out again.
    pub async fn delete(&self, queue: &str, receipt: &str) -> Result<(), AwsError> {
        self.client.delete_message().queue_url(queue).receipt_handle(receipt).send().await.map_err(err("DeleteMessage"))?;
        Ok(())
    }

    /// Hidden for `secs` more from now: 0 hands it out again at once, more
    /// keeps it while it is being handled (or backs off a retry).
    pub async fn set_visibility(&self, queue: &str, receipt: &str, secs: i32) -> Result<(), AwsError> {
        self.client
            .change_message_visibility()
            .queue_url(queue)
            .receipt_handle(receipt)
            .visibility_timeout(secs.clamp(0, 43_200))
            .send()
            .await
            .map_err(err("ChangeMessageVisibility"))?;
        Ok(())
    }
}
