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
    /// the subject line), made a line SNS takes; returns SNS's message id.
    pub async fn publish(&self, topic_arn: &str, subject: &str, message: &str) -> Result<String, AwsError> {
        let out = self
            .client
            .publish()
            .topic_arn(topic_arn)
            .subject(subject_line(subject))
            .message(message)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("sns", "Publish", &[], e))?;
        Ok(out.message_id().unwrap_or_default().to_string())
    }
}

/// SNS takes a subject of printable ASCII, one line, under 100 characters.
pub fn subject_line(subject: &str) -> String {
    let ascii: String = subject.chars().map(|c| if c.is_ascii() && !c.is_ascii_control() { c } else { '?' }).collect();
    ascii.trim().chars().take(99).collect::<String>().trim_end().to_string()
}

#[cfg(test)]
mod tests {
    #[test]
    fn subjects_are_one_ascii_line_under_100() {
        let s = super::subject_line(&format!("costguard: {} \u{2014} \u{20ac}\nBcc: x", "x".repeat(200)));
        assert!(s.len() <= 99 && s.is_ascii() && !s.contains('\n'), "{s}");
        assert_eq!(super::subject_line("costguard: AI spend $4.50/hour now"), "costguard: AI spend $4.50/hour now");
    }
}
