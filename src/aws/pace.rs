//! Request rates: costguard keeps each account's calls to each AWS API
//! under a rate, on its side, before AWS has to throttle them.
//!
//! AWS throttles per account, per region and per API (EC2 documents a
//! token bucket per API action; CloudWatch, CloudWatch Logs and the others
//! publish per-API "transactions per second" quotas). The SDK's retries
//! only react: a throttled call is retried after a backoff, and adaptive
//! retry slows a client down after it was throttled. Sixteen accounts'
//! sweeps at once never share an account's quota, but one account's sweep
//! runs every resource type's listing at once, in every region, and a
//! big type pages as fast as AWS answers.
//!
//! What costguard does: a token bucket per (account handle, region,
//! service, operation). A request takes a token before it is sent (its
//! retries too, as AWS counts them); with none left it waits for the
//! next one. The bucket starts full, so a small sweep never waits. The
//! rates are [`rate_of`]: AWS's documented figure where there is one, and
//! otherwise [`DEFAULT`] or the config's `time-limits.aws-calls-per-second`
//! (AWS publishes no per-API figure for most of the APIs costguard calls;
//! each account's are in its Service Quotas console).
//!
//! The [`Pacer`] is an SDK interceptor (one per [`super::Aws`] handle, so
//! one per account): it hangs the request's bucket on the request, and the
//! process's HTTP client ([`super::http::client`]) waits on it before the
//! request goes out. An interceptor cannot wait; the connector can.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextMut;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;

use super::counter::iam_prefix;

/// A steady rate and the burst allowed on top of it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rate {
    /// Tokens added each second.
    pub per_second: f64,
    /// The most tokens the bucket holds (and starts with).
    pub burst: f64,
}

/// Where a rate comes from, said in the README's table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// AWS documents this bucket.
    Documented(&'static str),
    /// costguard's own figure: no per-API figure verified for this service.
    Costguard,
}

/// EC2's request token bucket for non-mutating actions (Describe*): 100
/// tokens, 20 a second.
const EC2_DESCRIBE: Rate = Rate { per_second: 20.0, burst: 100.0 };
const EC2_THROTTLING: &str = "https://docs.aws.amazon.com/ec2/latest/devguide/ec2-api-throttling.html";
/// Every other API, unless `time-limits.aws-calls-per-second` says
/// otherwise: 25 requests a second after a burst of 50. costguard's own
/// figure: it bounds what one account's fan-out (a describe per resource,
/// 8 at once for each type and region) sends, and leaves a paginated
/// listing (one page after another) its own pace.
pub const DEFAULT: Rate = Rate::per_second(25.0);

impl Rate {
    /// `per_second` with a burst of twice as many (at least one).
    pub const fn per_second(per_second: f64) -> Rate {
        Rate { per_second, burst: (per_second * 2.0).max(1.0) }
    }
}

/// The rate of one API (IAM service prefix, operation name) and where it
/// comes from; `otherwise` where AWS documents none.
pub fn rate_of(service: &str, operation: &str, otherwise: Rate) -> (Rate, Source) {
    match service {
        "ec2" if operation.starts_with("Describe") => (EC2_DESCRIBE, Source::Documented(EC2_THROTTLING)),
        _ => (otherwise, Source::Costguard),
    }
}

/// One API's tokens in one account and region.
#[derive(Debug)]
pub struct Bucket {
    rate: Rate,
    state: Mutex<State>,
    waits: AtomicU64,
}

#[derive(Debug)]
struct State {
    /// May go below zero: each caller reserves its token and waits for the
    /// debt it leaves, so waiters are served in order without polling.
    tokens: f64,
    at: Instant,
}

impl Bucket {
    pub fn new(rate: Rate, now: Instant) -> Self {
        Bucket { rate, state: Mutex::new(State { tokens: rate.burst, at: now }), waits: AtomicU64::new(0) }
    }

    /// Takes a token at `now`: how long to wait before using it (zero when
    /// one was there).
    pub fn reserve(&self, now: Instant) -> Duration {
        let mut s = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let elapsed = now.saturating_duration_since(s.at).as_secs_f64();
        s.tokens = (s.tokens + elapsed * self.rate.per_second).min(self.rate.burst);
        s.at = s.at.max(now);
        s.tokens -= 1.0;
        if s.tokens >= 0.0 || self.rate.per_second <= 0.0 {
            return Duration::ZERO;
        }
        self.waits.fetch_add(1, Ordering::Relaxed);
        Duration::from_secs_f64(-s.tokens / self.rate.per_second)
    }

    /// Takes a token, waiting for it.
    pub async fn take(&self) {
        let wait = self.reserve(Instant::now());
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
    }
}

/// What the HTTP client waits on before sending a request.
#[derive(Clone, Debug)]
pub struct Pace(pub Arc<Bucket>);

/// Which API a bucket paces: region, IAM service prefix, operation.
type Api = (String, String, String);

/// The buckets of one handle (one account), by region, service and
/// operation.
#[derive(Clone, Debug)]
pub struct Pacer {
    buckets: Arc<Mutex<HashMap<Api, Arc<Bucket>>>>,
    /// The rate of the APIs AWS documents none for.
    otherwise: Rate,
}

impl Pacer {
    pub fn new(otherwise: Rate) -> Self {
        Pacer { buckets: Default::default(), otherwise }
    }

    fn bucket(&self, region: &str, service: &str, operation: &str) -> Arc<Bucket> {
        let mut buckets = self.buckets.lock().unwrap_or_else(PoisonError::into_inner);
        buckets
            .entry((region.to_string(), service.to_string(), operation.to_string()))
            .or_insert_with(|| Arc::new(Bucket::new(rate_of(service, operation, self.otherwise).0, Instant::now())))
            .clone()
    }

    /// Requests that had to wait for a token, by `service:Operation`.
    pub fn waits(&self) -> std::collections::BTreeMap<String, u64> {
        let buckets = self.buckets.lock().unwrap_or_else(PoisonError::into_inner);
        let mut out = std::collections::BTreeMap::new();
        for ((_, service, operation), bucket) in buckets.iter() {
            let n = bucket.waits.load(Ordering::Relaxed);
            if n > 0 {
                *out.entry(format!("{service}:{operation}")).or_insert(0) += n;
            }
        }
        out
    }
}

impl Intercept for Pacer {
    fn name(&self) -> &'static str {
        "costguard::Pacer"
    }

    fn modify_before_transmit(
        &self,
        context: &mut BeforeTransmitInterceptorContextMut<'_>,
        _: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Some(metadata) = cfg.load::<Metadata>() else { return Ok(()) };
        let region = cfg.load::<aws_config::Region>().map(|r| r.to_string()).unwrap_or_default();
        let bucket = self.bucket(&region, &iam_prefix(metadata.service()), metadata.name());
        context.request_mut().add_extension(Pace(bucket));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(start: Instant, ms: u64) -> Instant {
        start + Duration::from_millis(ms)
    }

    #[test]
    fn a_full_bucket_lets_a_burst_through_then_paces_at_the_rate() {
        let start = Instant::now();
        let bucket = Bucket::new(Rate { per_second: 10.0, burst: 3.0 }, start);
        let waits: Vec<Duration> = (0..6).map(|_| bucket.reserve(start)).collect();
        assert_eq!(&waits[..3], &[Duration::ZERO; 3]);
        // The 4th, 5th and 6th wait 100, 200 and 300 ms: one token each tenth of a second.
        let ms: Vec<u128> = waits[3..].iter().map(|d| d.as_millis()).collect();
        assert_eq!(ms, vec![100, 200, 300]);
        assert_eq!(bucket.waits.load(Ordering::Relaxed), 3);
    }

    #[test]
    fn an_idle_bucket_refills_up_to_its_burst_only() {
        let start = Instant::now();
        let bucket = Bucket::new(Rate { per_second: 10.0, burst: 2.0 }, start);
        assert!(bucket.reserve(start).is_zero());
        assert!(bucket.reserve(start).is_zero());
        // An hour idle gives back 2 tokens, not 36,000.
        let later = at(start, 3_600_000);
        assert!(bucket.reserve(later).is_zero());
        assert!(bucket.reserve(later).is_zero());
        assert_eq!(bucket.reserve(later).as_millis(), 100);
    }

    #[test]
    fn the_steady_rate_is_the_documented_one() {
        // 1,000 Describe calls to EC2 at once: 100 at once, the other 900
        // at 20 a second, the last 45 s later.
        let start = Instant::now();
        let (rate, source) = rate_of("ec2", "DescribeInstances", DEFAULT);
        assert!(matches!(source, Source::Documented(url) if url.contains("ec2-api-throttling")));
        let bucket = Bucket::new(rate, start);
        let last = (0..1000).map(|_| bucket.reserve(start)).max().unwrap_or_default();
        assert_eq!(last, Duration::from_secs(45));
        assert_eq!(rate_of("sagemaker", "ListEndpoints", DEFAULT), (DEFAULT, Source::Costguard));
        assert_eq!(rate_of("sagemaker", "ListEndpoints", Rate::per_second(5.0)).0, Rate { per_second: 5.0, burst: 10.0 });
    }
}
