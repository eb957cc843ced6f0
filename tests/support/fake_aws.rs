//! A fake AWS JSON endpoint for the operations moto does not implement:
//! Budgets' UpdateBudget and subscriber calls, Cost Explorer's anomaly
//! detection and GetCostForecast, the Price List API's GetProducts, and
//! Bedrock's control plane (provisioned throughput; REST, named by method
//! and path).
//!
//! It stands where the SDK's HTTP client would: the real client serializes
//! each request and parses the canned answer (awsJson 1.1, as AWS sends it),
//! so the code under test runs unchanged, and each request's operation and
//! JSON body are recorded for the test to check.
//!
//! Why not `aws-smithy-mocks`: its `test-util` features change the feature
//! set of the SDK's own runtime crates, so `cargo build` and `cargo test`
//! compiled the whole SDK twice (13 minutes on 2 cores).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use aws_config::retry::RetryConfig;
use aws_config::{Region, SdkConfig};
use aws_sdk_cloudwatchlogs::config::Credentials;
use aws_smithy_runtime_api::client::http::{http_client_fn, HttpConnector, HttpConnectorFuture, SharedHttpConnector};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::http::StatusCode;
use aws_smithy_types::body::SdkBody;
use serde_json::Value;

/// What the fake answers to one request.
pub enum Answer {
    Ok(Value),
    /// An AWS error: HTTP status, error code (`__type`), message.
    Error(u16, &'static str, &'static str),
    /// No answer, ever: a server that accepted the request and hangs.
    Never,
    /// What the server behind (moto) answers: for a fault on some calls only.
    Forward,
}

type Handler = Box<dyn Fn(&Value) -> Answer + Send + Sync>;

#[derive(Default)]
struct Inner {
    handlers: Mutex<HashMap<String, Handler>>,
    /// Every request: (operation, JSON body), in order.
    calls: Mutex<Vec<(String, Value)>>,
    /// Where operations without a handler go (moto), if anywhere.
    forward_to: Option<String>,
}

#[derive(Clone, Default)]
pub struct FakeAws(Arc<Inner>);

impl std::fmt::Debug for FakeAws {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FakeAws")
    }
}

impl FakeAws {
    pub fn new() -> Self {
        Self::default()
    }

    /// A fake that answers only the operations given handlers and sends
    /// every other request, unchanged, to `endpoint` (the moto server):
    /// for a test where moto lacks one call of many.
    pub fn forwarding_to(endpoint: &str) -> Self {
        FakeAws(Arc::new(Inner { forward_to: Some(endpoint.trim_start_matches("http://").to_string()), ..Inner::default() }))
    }

    /// Answers `operation` (as in `DescribeBudgets`) with `answer(request)`.
    pub fn on(&self, operation: &str, answer: impl Fn(&Value) -> Answer + Send + Sync + 'static) -> &Self {
        self.0.handlers.lock().unwrap_or_else(|e| e.into_inner()).insert(operation.to_string(), Box::new(answer));
        self
    }

    /// Answers `operation` with the same JSON every time.
    pub fn answer(&self, operation: &str, body: Value) -> &Self {
        self.on(operation, move |_| Answer::Ok(body.clone()))
    }

    /// The JSON bodies of the requests made for `operation`, in order.
    pub fn calls(&self, operation: &str) -> Vec<Value> {
        self.0.calls.lock().unwrap_or_else(|e| e.into_inner()).iter().filter(|(op, _)| op == operation).map(|(_, body)| body.clone()).collect()
    }

    /// The SDK configuration of a client that talks to this fake; without
    /// `retries`, a failed call is tried once.
    pub async fn sdk_config(&self, retries: bool) -> SdkConfig {
        let inner = self.0.clone();
        let client = http_client_fn(move |_, _| SharedHttpConnector::new(Connector(inner.clone())));
        let mut loader = costguard::aws::sdk_loader()
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new("testing", "testing", None, None, "fake"))
            .http_client(client);
        if !retries {
            loader = loader.retry_config(RetryConfig::disabled());
        }
        if let Some(addr) = &self.0.forward_to {
            loader = loader.endpoint_url(format!("http://{addr}"));
        }
        loader.load().await
    }
}

struct Connector(Arc<Inner>);

impl std::fmt::Debug for Connector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FakeAws::Connector")
    }
}

/// STS speaks awsQuery: GetCallerIdentity, costguard's access check, is
/// always answered, for account 123456789012.
fn caller_identity(request: &HttpRequest) -> Option<HttpResponse> {
    let body = request.body().bytes().map(String::from_utf8_lossy)?;
    body.contains("Action=GetCallerIdentity").then(|| {
        let xml = "<GetCallerIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><GetCallerIdentityResult>\
                   <Arn>arn:aws:iam::123456789012:user/test</Arn><UserId>AIDTEST</UserId><Account>123456789012</Account>\
                   </GetCallerIdentityResult></GetCallerIdentityResponse>";
        let mut response = HttpResponse::new(StatusCode::try_from(200).unwrap_or_else(|_| panic!("status 200")), SdkBody::from(xml));
        response.headers_mut().insert("content-type", "text/xml");
        response
    })
}

impl HttpConnector for Connector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        // Behind a fake that forwards, moto answers for the credentials used.
        if let Some(answer) = caller_identity(&request).filter(|_| self.0.forward_to.is_none()) {
            return HttpConnectorFuture::ready(Ok(answer));
        }
        // awsJson 1.1 names the operation in X-Amz-Target: `Service.Operation`;
        // the query protocols (EC2) in the form body's `Action=`.
        let target = request.headers().get("x-amz-target").unwrap_or_default();
        let query = query_action(&request);
        // REST protocols (Bedrock's control plane) name it by method and
        // path: `GET /provisioned-model-throughputs`.
        let rest = target.is_empty() && query.is_none();
        let operation = match &query {
            Some(action) => action.clone(),
            None if rest => format!("{} {}", request.method(), rest_path(&request)),
            None => target.rsplit('.').next().unwrap_or_default().to_string(),
        };
        // JSON bodies as they are; query-protocol forms as an object of their fields.
        let body: Value = match &query {
            Some(_) => form_fields(&request),
            None => request.body().bytes().and_then(|b| serde_json::from_slice(b).ok()).unwrap_or(Value::Null),
        };
        self.0.calls.lock().unwrap_or_else(|e| e.into_inner()).push((operation.clone(), body.clone()));
        let answer = match self.0.handlers.lock().unwrap_or_else(|e| e.into_inner()).get(&operation) {
            Some(handler) => handler(&body),
            None => Answer::Forward,
        };
        let answer = match answer {
            Answer::Forward => match &self.0.forward_to {
                Some(addr) => {
                    let (addr, raw) = (addr.clone(), raw_request(&request));
                    return HttpConnectorFuture::new(async move {
                        let forwarded = tokio::task::spawn_blocking(move || exchange(&addr, &raw)).await;
                        let (status, content_type, body) =
                            forwarded.unwrap_or_else(|e| panic!("forwarding thread: {e}")).unwrap_or_else(|e| panic!("forwarding to moto: {e}"));
                        let mut response = HttpResponse::new(StatusCode::try_from(status).unwrap_or_else(|_| panic!("status {status}")), SdkBody::from(body));
                        response.headers_mut().insert("content-type", content_type);
                        Ok(response)
                    });
                }
                None => Answer::Error(400, "UnknownOperationException", "the fake has no answer for this operation"),
            },
            other => other,
        };
        let (status, json) = match answer {
            Answer::Ok(json) => (200, json),
            // The query protocols: errors are XML, EC2's (API version
            // 2016-11-15) in its own shape, awsQuery's (STS) in another.
            Answer::Error(status, code, message) if query.is_some() => {
                let xml = if body["Version"] == "2016-11-15" {
                    format!("<Response><Errors><Error><Code>{code}</Code><Message>{message}</Message></Error></Errors><RequestID>fake</RequestID></Response>")
                } else {
                    format!("<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error><RequestId>fake</RequestId></ErrorResponse>")
                };
                let mut response = HttpResponse::new(StatusCode::try_from(status).unwrap_or_else(|_| panic!("status {status}")), SdkBody::from(xml));
                response.headers_mut().insert("content-type", "text/xml");
                return HttpConnectorFuture::ready(Ok(response));
            }
            Answer::Error(status, code, message) => (status, serde_json::json!({"__type": code, "message": message})),
            Answer::Never => return HttpConnectorFuture::new(std::future::pending()),
            Answer::Forward => unreachable!("forwarded above"),
        };
        let mut response = HttpResponse::new(StatusCode::try_from(status).unwrap_or_else(|_| panic!("status {status}")), SdkBody::from(json.to_string()));
        response.headers_mut().insert("content-type", if rest { "application/json" } else { "application/x-amz-json-1.1" });
        HttpConnectorFuture::ready(Ok(response))
    }
}

/// A query-protocol form body (`Action=AssumeRole&RoleArn=arn%3A...`) as a
/// JSON object of its decoded fields.
fn form_fields(request: &HttpRequest) -> Value {
    let body = request.body().bytes().map(String::from_utf8_lossy).unwrap_or_default();
    let decode = |s: &str| -> String {
        let bytes = s.replace('+', " ").into_bytes();
        let mut out = Vec::with_capacity(bytes.len());
        let mut i = 0;
        while i < bytes.len() {
            match (bytes[i], bytes.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok()).and_then(|h| u8::from_str_radix(h, 16).ok())) {
                (b'%', Some(b)) => {
                    out.push(b);
                    i += 3;
                }
                (c, _) => {
                    out.push(c);
                    i += 1;
                }
            }
        }
        String::from_utf8_lossy(&out).into_owned()
    };
    Value::Object(body.split('&').filter_map(|pair| pair.split_once('=')).map(|(k, v)| (decode(k), Value::String(decode(v)))).collect())
}

/// A REST request's path, without host or query.
fn rest_path(request: &HttpRequest) -> String {
    let uri = request.uri();
    let after_scheme = uri.split_once("://").map_or(uri, |(_, rest)| rest);
    let path = after_scheme.find('/').map_or("/", |i| &after_scheme[i..]);
    path.split('?').next().unwrap_or(path).to_string()
}

/// The operation of a query-protocol request (EC2): `Action=` in its form body.
fn query_action(request: &HttpRequest) -> Option<String> {
    let body = request.body().bytes().map(String::from_utf8_lossy)?;
    body.split('&').find_map(|pair| pair.strip_prefix("Action=")).map(str::to_string)
}

/// `request` as HTTP/1.1 bytes, asking the server to close afterwards.
fn raw_request(request: &HttpRequest) -> Vec<u8> {
    // `http://host:port/path?query`: what goes on the request line is the path on.
    let uri = request.uri();
    let after_scheme = uri.split_once("://").map_or(uri, |(_, rest)| rest);
    let (host, path) = after_scheme.find('/').map_or((after_scheme, "/"), |i| (&after_scheme[..i], &after_scheme[i..]));
    let body = request.body().bytes().unwrap_or_default();
    let mut head = format!("{} {path} HTTP/1.1\r\nHost: {host}\r\n", request.method());
    let skipped = ["connection", "content-length", "host"];
    for (name, value) in request.headers().iter().filter(|(n, _)| !skipped.iter().any(|s| n.eq_ignore_ascii_case(s))) {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str(&format!("Content-Length: {}\r\nConnection: close\r\n\r\n", body.len()));
    [head.as_bytes(), body].concat()
}

/// Sends `raw` to `addr`; the answer's status, content type and body.
fn exchange(addr: &str, raw: &[u8]) -> std::io::Result<(u16, String, Vec<u8>)> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(std::time::Duration::from_secs(30)))?;
    stream.write_all(raw)?;
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer)?;
    let split = answer.windows(4).position(|w| w == b"\r\n\r\n").ok_or_else(|| std::io::Error::other("no end of headers"))?;
    let head = String::from_utf8_lossy(&answer[..split]).to_string();
    let status = head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).ok_or_else(|| std::io::Error::other("no status"))?;
    let content_type = head
        .lines()
        .find_map(|l| l.split_once(':').filter(|(n, _)| n.eq_ignore_ascii_case("content-type")).map(|(_, v)| v.trim().to_string()))
        .unwrap_or_default();
    Ok((status, content_type, answer[split + 4..].to_vec()))
}
