//! indicatif progress for builds: one spinner line per recipe, its phase as the message.

use std::sync::Mutex;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressStyle};

use crate::build::{BuildOutcome, BuildReporter};

/// Spinners on stderr; silent when progress is off.
pub struct BuildBars {
    multi: Option<MultiProgress>,
    current: Mutex<Option<ProgressBar>>,
}

impl BuildBars {
    /// Bars when `enabled`, nothing otherwise.
    pub fn new(enabled: bool) -> Self {
        Self {
            multi: enabled.then(MultiProgress::new),
            current: Mutex::new(None),
        }
    }
}

impl BuildReporter for BuildBars {
    fn phase(&self, package: &str, phase: &str) {
        tracing::info!("{package}: {phase}");
        let Some(multi) = &self.multi else { return };
        let Ok(mut current) = self.current.lock() else {
            return;
        };
        let bar = current.get_or_insert_with(|| {
            let bar = multi.add(ProgressBar::new_spinner());
            bar.set_style(
                ProgressStyle::with_template("{spinner} {prefix:.bold} {msg} {elapsed}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        });
        bar.set_prefix(package.to_string());
        bar.set_message(phase.to_string());
    }

    fn finished(&self, outcome: &BuildOutcome) {
        if let Ok(mut current) = self.current.lock() {
            if let Some(bar) = current.take() {
                bar.finish_and_clear();
            }
        }
        let line = format!(
            "{:>9} {} ({:.1}s)",
            outcome.status, outcome.file, outcome.seconds
        );
        match &self.multi {
            Some(multi) => {
                let _ = multi.println(line);
            }
            None => tracing::info!("{line}"),
        }
    }
}

/// A byte-counting bar per download on stderr (weights); silent when progress is off.
pub struct DownloadBar {
    enabled: bool,
    bar: Mutex<Option<ProgressBar>>,
}

impl DownloadBar {
    /// A bar when `enabled`.
    pub fn new(enabled: bool) -> Self {
        Self {
            enabled,
            bar: Mutex::new(None),
        }
    }
}

impl crate::weights::FetchReporter for DownloadBar {
    fn start(&self, name: &str, total: Option<u64>, done: u64) {
        tracing::info!("downloading {name}");
        if !self.enabled {
            return;
        }
        let bar = match total {
            Some(n) => ProgressBar::new(n),
            None => ProgressBar::new_spinner(),
        };
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} {prefix:.bold} {bytes}/{total_bytes} {bytes_per_sec} {eta}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar.set_prefix(name.to_string());
        bar.set_position(done);
        bar.enable_steady_tick(Duration::from_millis(120));
        if let Ok(mut slot) = self.bar.lock() {
            *slot = Some(bar);
        }
    }

    fn advance(&self, n: u64) {
        if let Some(bar) = self.bar.lock().ok().as_ref().and_then(|b| b.as_ref()) {
            bar.inc(n);
        }
    }

    fn finish(&self, _name: &str) {
        if let Some(bar) = self.bar.lock().ok().and_then(|mut b| b.take()) {
            bar.finish_and_clear();
        }
    }
}
