//! The daemon's HTTP listener: `/healthz` (the process is alive),
//! `/readyz` (config loaded, last sweep did not fail, AWS answered, no
//! sweep past its time limit), `/metrics` (Prometheus text) and `/report`
//! (the latest report page).
//!
//! # Guarantees
//! - A client that connects and sends nothing, or too slowly, is dropped
//!   after [`HEADER_READ`]; no connection lives longer than [`CONNECTION`].
//! - At most [`MAX_CONNECTIONS`] at once. A new connection past that (or
//!   past the file descriptor limit) closes the oldest one that has not
//!   sent a complete request (else the oldest idle keep-alive one) to make
//!   room: a flood of idle or slow clients cannot keep a health check out.
//! - Stopping waits at most [`SHUTDOWN_GRACE`] for open connections.
//! - With a bearer token set (`http-token-env` or `http-token-file`),
//!   `/report` and `/metrics` answer 401 without it, and `/readyz` gives
//!   its reason only to a request that carries it (AWS error text and
//!   ARNs are for operators).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::Shared;

/// The whole request head must arrive within this.
pub const HEADER_READ: Duration = Duration::from_secs(5);
/// Any connection, idle keep-alive included, is closed after this.
pub const CONNECTION: Duration = Duration::from_secs(30);
/// The deployment files give the process 8,192 file descriptors: room for
/// these, AWS connections, the journal and the logs.
pub const MAX_CONNECTIONS: usize = 1024;
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

pub fn router(shared: Arc<Shared>) -> Router {
    let private =
        Router::new().route("/metrics", get(metrics)).route("/report", get(report)).route_layer(middleware::from_fn_with_state(shared.clone(), require_token));
    Router::new().route("/healthz", get(|| async { "ok\n" })).route("/readyz", get(readyz)).merge(private).with_state(shared)
}

/// Connections the kernel queues before they are accepted (it caps this at
/// `net.core.somaxconn`): a burst of clients waits there, not in SYN retries.
const BACKLOG: u32 = 4096;

/// The listening socket (address reuse, as `TcpListener::bind` sets it).
pub fn listen(address: std::net::SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    let socket = if address.is_ipv4() { tokio::net::TcpSocket::new_v4()? } else { tokio::net::TcpSocket::new_v6()? };
    socket.set_reuseaddr(true)?;
    socket.bind(address)?;
    socket.listen(BACKLOG)
}

/// Serves until `cancel` fires, then waits at most [`SHUTDOWN_GRACE`].
pub async fn serve(listener: tokio::net::TcpListener, shared: Arc<Shared>, cancel: CancellationToken) -> std::io::Result<()> {
    let router = router(shared);
    let mut connections = JoinSet::new();
    let mut open = Open::default();
    loop {
        let accepted = tokio::select! {
            _ = cancel.cancelled() => break,
            Some(done) = connections.join_next(), if !connections.is_empty() => {
                if let Ok(id) = done {
                    open.remove(id);
                }
                continue;
            }
            accepted = listener.accept() => accepted,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(e) if is_out_of_descriptors(&e) => {
                // The file descriptor limit is reached before the connection
                // limit: make room the same way, or pause if nothing can go.
                if open.evict_one().is_some() {
                    tokio::task::yield_now().await;
                } else {
                    tracing::warn!(error = %e, "cannot accept an HTTP connection");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                continue;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot accept an HTTP connection");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        if open.len() >= MAX_CONNECTIONS && open.evict_one().is_none() {
            // Every connection is in the middle of a request: they finish fast.
            drop(stream);
            continue;
        }
        let (id, state) = open.add();
        let service = Tracked { inner: TowerToHyperService::new(router.clone()), state: Arc::clone(&state) };
        let cancel = cancel.clone();
        connections.spawn(async move {
            let mut http = hyper::server::conn::http1::Builder::new();
            http.timer(TokioTimer::new()).header_read_timeout(HEADER_READ);
            let connection = http.serve_connection(TokioIo::new(stream), service);
            tokio::pin!(connection);
            tokio::select! {
                _ = connection.as_mut() => {}
                _ = tokio::time::sleep(CONNECTION) => {}
                // Made room for a newer client: closed at once.
                _ = state.evicted.cancelled() => {}
                _ = cancel.cancelled() => {
                    connection.as_mut().graceful_shutdown();
                    let _ = tokio::time::timeout(SHUTDOWN_GRACE, connection).await;
                }
            }
            id
        });
    }
    drop(listener);
    if tokio::time::timeout(SHUTDOWN_GRACE, async { while connections.join_next().await.is_some() {} }).await.is_err() {
        connections.abort_all();
    }
    Ok(())
}

fn is_out_of_descriptors(e: &std::io::Error) -> bool {
    // EMFILE (the process's limit) and ENFILE (the system's).
    matches!(e.raw_os_error(), Some(24) | Some(23))
}

/// What the listener knows of one open connection.
#[derive(Default)]
struct Connection {
    /// A complete request is being answered.
    busy: AtomicBool,
    /// At least one request was answered (a keep-alive client).
    answered: AtomicBool,
    evicted: CancellationToken,
}

/// The open connections, oldest first (ids grow).
#[derive(Default)]
struct Open {
    next: u64,
    by_id: BTreeMap<u64, Arc<Connection>>,
}

impl Open {
    fn len(&self) -> usize {
        self.by_id.len()
    }

    fn add(&mut self) -> (u64, Arc<Connection>) {
        let id = self.next;
        self.next += 1;
        let state = Arc::new(Connection::default());
        self.by_id.insert(id, Arc::clone(&state));
        (id, state)
    }

    fn remove(&mut self, id: u64) {
        self.by_id.remove(&id);
    }

    /// Closes the connection that matters least: the oldest that never
    /// sent a complete request, else the oldest idle keep-alive one; never
    /// one whose request is being answered. Returns its id.
    fn evict_one(&mut self) -> Option<u64> {
        let idle = |c: &Arc<Connection>| !c.busy.load(Ordering::Acquire);
        let victim = self
            .by_id
            .iter()
            .find(|(_, c)| idle(c) && !c.answered.load(Ordering::Acquire))
            .or_else(|| self.by_id.iter().find(|(_, c)| idle(c)))
            .map(|(id, _)| *id)?;
        if let Some(c) = self.by_id.remove(&victim) {
            c.evicted.cancel();
        }
        Some(victim)
    }
}

/// A connection's service, telling its [`Connection`] while a request is
/// being answered.
#[derive(Clone)]
struct Tracked<S> {
    inner: S,
    state: Arc<Connection>,
}

impl<S, R> hyper::service::Service<R> for Tracked<S>
where
    S: hyper::service::Service<R>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = std::pin::Pin<Box<dyn std::future::Future<Output = Result<S::Response, S::Error>> + Send>>;

    fn call(&self, request: R) -> Self::Future {
        let busy = Busy::start(Arc::clone(&self.state));
        let answer = self.inner.call(request);
        Box::pin(async move {
            let answer = answer.await;
            drop(busy);
            answer
        })
    }
}

/// Marks a connection busy until dropped (answered, or the connection gone).
struct Busy(Arc<Connection>);

impl Busy {
    fn start(state: Arc<Connection>) -> Self {
        state.busy.store(true, Ordering::Release);
        Busy(state)
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.busy.store(false, Ordering::Release);
        self.0.answered.store(true, Ordering::Release);
    }
}

/// Whether the request carries the configured token (true when none is).
fn authorized(shared: &Shared, headers: &HeaderMap) -> bool {
    let Some(token) = shared.http_token() else { return true };
    let given = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer ")).unwrap_or_default();
    same_secret(given.as_bytes(), token.as_bytes())
}

/// Compares the SHA-256 digests without stopping at the first
/// difference: the time taken tells neither how much of a guess was right
/// nor how long the token is.
fn same_secret(a: &[u8], b: &[u8]) -> bool {
    use sha2::Digest;
    let (a, b) = (sha2::Sha256::digest(a), sha2::Sha256::digest(b));
    a.iter().zip(b.iter()).fold(0u8, |diff, (x, y)| diff | (x ^ y)) == 0
}

async fn require_token(State(shared): State<Arc<Shared>>, request: Request, next: Next) -> Response {
    if authorized(&shared, request.headers()) {
        next.run(request).await
    } else {
        (StatusCode::UNAUTHORIZED, [(header::WWW_AUTHENTICATE, "Bearer")], "a bearer token is required\n").into_response()
    }
}

async fn readyz(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    match shared.not_ready() {
        None => (StatusCode::OK, "ready\n").into_response(),
        Some(why) if authorized(&shared, &headers) => (StatusCode::SERVICE_UNAVAILABLE, format!("not ready: {why}\n")).into_response(),
        Some(_) => (StatusCode::SERVICE_UNAVAILABLE, "not ready\n").into_response(),
    }
}

async fn metrics(State(shared): State<Arc<Shared>>) -> Response {
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], shared.metrics.render()).into_response()
}

/// The latest `report.html` (self-contained: no further requests).
async fn report(State(shared): State<Arc<Shared>>) -> Response {
    let path = shared.report_dir().join("report.html");
    match tokio::fs::read(&path).await {
        Ok(body) => ([(header::CONTENT_TYPE, "text/html; charset=utf-8"), (header::CACHE_CONTROL, "no-store")], body).into_response(),
        Err(_) => (StatusCode::NOT_FOUND, "no report yet: the first sweep has not finished\n").into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::same_secret;

    #[test]
    fn secrets_match_only_whole() {
        assert!(same_secret(b"s3cret", b"s3cret"));
        assert!(!same_secret(b"s3cre", b"s3cret"));
        assert!(!same_secret(b"s3creT", b"s3cret"));
        assert!(!same_secret(b"", b"s3cret"));
    }
}
