//! The daemon's HTTP listener: `/healthz` (the process is alive),
//! `/readyz` (config loaded, last sweep did not fail, AWS answered, no
//! sweep past its time limit), `/metrics` (Prometheus text) and `/report`
//! (the latest report page).
//!
//! # Guarantees
//! - A client that connects and sends nothing, or too slowly, is dropped
//!   after [`HEADER_READ`]; no connection lives longer than [`CONNECTION`].
//! - At most [`MAX_CONNECTIONS`] at once; past that a new connection is
//!   closed at once, so half-open clients cannot queue the health check
//!   behind them for longer than the header limit.
//! - Stopping waits at most [`SHUTDOWN_GRACE`] for open connections.
//! - With a bearer token set (`http-token-env` or `http-token-file`),
//!   `/report` and `/metrics` answer 401 without it, and `/readyz` gives
//!   its reason only to a request that carries it (AWS error text and
//!   ARNs are for operators).

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
pub const MAX_CONNECTIONS: usize = 256;
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

pub fn router(shared: Arc<Shared>) -> Router {
    let private =
        Router::new().route("/metrics", get(metrics)).route("/report", get(report)).route_layer(middleware::from_fn_with_state(shared.clone(), require_token));
    Router::new().route("/healthz", get(|| async { "ok\n" })).route("/readyz", get(readyz)).merge(private).with_state(shared)
}

/// Serves until `cancel` fires, then waits at most [`SHUTDOWN_GRACE`].
pub async fn serve(listener: tokio::net::TcpListener, shared: Arc<Shared>, cancel: CancellationToken) -> std::io::Result<()> {
    let router = router(shared);
    let mut connections = JoinSet::new();
    loop {
        let accepted = tokio::select! {
            _ = cancel.cancelled() => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => continue,
            accepted = listener.accept() => accepted,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(e) => {
                // Out of file descriptors and the like: pause, do not spin.
                tracing::warn!(error = %e, "cannot accept an HTTP connection");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        if connections.len() >= MAX_CONNECTIONS {
            drop(stream);
            continue;
        }
        let service = TowerToHyperService::new(router.clone());
        let cancel = cancel.clone();
        connections.spawn(async move {
            let mut http = hyper::server::conn::http1::Builder::new();
            http.timer(TokioTimer::new()).header_read_timeout(HEADER_READ);
            let connection = http.serve_connection(TokioIo::new(stream), service);
            tokio::pin!(connection);
            tokio::select! {
                _ = connection.as_mut() => {}
                _ = tokio::time::sleep(CONNECTION) => {}
                _ = cancel.cancelled() => {
                    connection.as_mut().graceful_shutdown();
                    let _ = tokio::time::timeout(SHUTDOWN_GRACE, connection).await;
                }
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(SHUTDOWN_GRACE, async { while connections.join_next().await.is_some() {} }).await.is_err() {
        connections.abort_all();
    }
    Ok(())
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
