//! Shutdown, in one place for the whole process. `main` makes one
//! [`Shutdown`] before anything else and listens for signals at once: the
//! first SIGTERM or Ctrl-C cancels the token (a sweep finishes the resource
//! it is changing, starts nothing new, and writes its report; the daemon
//! stops scheduling and waits for the sweep in flight); the second exits
//! the process at once, in every state, start-up included. Long-lived
//! tasks are spawned on the tracker, so stopping can wait for them.
//! A leaf, like the clock.

use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// The exit code of a process a second signal stopped (128 + SIGINT).
pub const INTERRUPTED: i32 = 130;

#[derive(Clone, Debug, Default)]
pub struct Shutdown {
    token: CancellationToken,
    tracker: TaskTracker,
}

impl Shutdown {
    pub fn new() -> Self {
        Self::default()
    }

    /// Cancelled by the first signal (or by [`Shutdown::begin`]).
    pub fn token(&self) -> &CancellationToken {
        &self.token
    }

    /// Where long-lived tasks are spawned, so stopping can wait for them.
    pub fn tracker(&self) -> &TaskTracker {
        &self.tracker
    }

    /// Starts stopping, as the first signal does.
    pub fn begin(&self) {
        self.token.cancel();
    }

    /// Waits at most `grace` for the tracked tasks; whether they all ended.
    pub async fn wait(&self, grace: Duration) -> bool {
        self.tracker.close();
        tokio::time::timeout(grace, self.tracker.wait()).await.is_ok()
    }

    /// Listens for SIGTERM and SIGINT (Ctrl-C) for the rest of the
    /// process's life: the first cancels the token, the second exits the
    /// process at once with [`INTERRUPTED`].
    pub fn listen_for_signals(&self) {
        let token = self.token.clone();
        tokio::spawn(async move {
            let Some(mut signals) = Signals::install() else {
                tracing::error!("cannot listen for signals; stop costguard with SIGKILL");
                return;
            };
            signals.next().await;
            tracing::warn!("signal received: finishing the resource being changed, then stopping (a second signal exits at once)");
            token.cancel();
            signals.next().await;
            tracing::warn!("second signal: exiting now");
            std::process::exit(INTERRUPTED);
        });
    }
}

/// SIGTERM and SIGINT as one stream.
struct Signals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
}

impl Signals {
    fn install() -> Option<Self> {
        use tokio::signal::unix::{signal, SignalKind};
        Some(Signals { term: signal(SignalKind::terminate()).ok()?, int: signal(SignalKind::interrupt()).ok()? })
    }

    async fn next(&mut self) {
        tokio::select! {
            _ = self.term.recv() => {}
            _ = self.int.recv() => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn stopping_waits_for_tracked_work_but_not_for_ever() {
        let shutdown = Shutdown::new();
        let token = shutdown.token().clone();
        shutdown.tracker().spawn(async move { token.cancelled().await });
        shutdown.begin();
        assert!(shutdown.wait(Duration::from_secs(5)).await, "the task ends once cancelled");
        let stuck = Shutdown::new();
        stuck.tracker().spawn(std::future::pending::<()>());
        assert!(!stuck.wait(Duration::from_millis(50)).await, "a task that never ends is left after the grace period");
    }
}
