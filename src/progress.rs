//! Progress on a terminal: what is being listed and how far along it is.
//! Invisible when stderr is not a terminal or logs are JSON.

use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

#[derive(Clone)]
pub struct Progress {
    bars: Option<MultiProgress>,
}

impl std::fmt::Debug for Progress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Progress").field("visible", &self.bars.is_some()).finish()
    }
}

impl Progress {
    pub fn hidden() -> Self {
        Self { bars: None }
    }

    /// Visible only on a terminal.
    pub fn on_terminal() -> Self {
        use std::io::IsTerminal;
        if std::io::stderr().is_terminal() {
            Self { bars: Some(MultiProgress::with_draw_target(ProgressDrawTarget::stderr())) }
        } else {
            Self::hidden()
        }
    }

    /// A spinner with a running count; it clears when dropped or finished.
    pub fn task(&self, message: &str) -> Task {
        let bar = self.bars.as_ref().map(|bars| {
            let bar = bars.add(ProgressBar::new_spinner());
            bar.set_style(ProgressStyle::with_template("{spinner} {msg} {pos}").unwrap_or_else(|_| ProgressStyle::default_spinner()));
            bar.set_message(message.to_string());
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        });
        Task { bar }
    }
}

pub struct Task {
    bar: Option<ProgressBar>,
}

impl Task {
    pub fn set(&self, n: usize) {
        if let Some(bar) = &self.bar {
            bar.set_position(n as u64);
        }
    }

    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

impl Drop for Task {
    fn drop(&mut self) {
        self.finish();
    }
}
