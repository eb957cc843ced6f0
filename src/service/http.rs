//! The daemon's HTTP listener: `/healthz` (the process is alive),
//! `/readyz` (config loaded, last sweep did not fail, AWS answered),
//! `/metrics` (Prometheus text) and `/report` (the latest report page).

use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use tokio_util::sync::CancellationToken;

use super::Shared;

pub fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/report", get(report))
        .with_state(shared)
}

/// Serves until `cancel` fires.
pub async fn serve(listener: tokio::net::TcpListener, shared: Arc<Shared>, cancel: CancellationToken) -> std::io::Result<()> {
    axum::serve(listener, router(shared)).with_graceful_shutdown(cancel.cancelled_owned()).await
}

async fn readyz(State(shared): State<Arc<Shared>>) -> Response {
    match shared.not_ready() {
        None => (StatusCode::OK, "ready\n").into_response(),
        Some(why) => (StatusCode::SERVICE_UNAVAILABLE, format!("not ready: {why}\n")).into_response(),
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
