//! `env create`: the library's create workflow with progress bars, and how its outcome reads.

use std::path::PathBuf;

use miette::IntoDiagnostic;
use rattler_conda_types::{MatchSpec, ParseStrictness};

use super::{on_default_channels, request, spinner, SolveArgs, Ui};
use crate::config::Dirs;
use crate::env::{CreateStatus, Envs, Request};
use crate::system;

/// `env create`'s arguments.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// A catalog name, optionally narrowed as a match spec (`NAME==1.0`, `NAME[build=cuda*]`).
    model: String,
    #[command(flatten)]
    solve: SolveArgs,
    /// Solve and show what would be installed, change nothing.
    #[arg(long)]
    dry_run: bool,
    /// Also install ipykernel and register a Jupyter kernel for the env (removed by `env remove`).
    #[arg(long)]
    kernel: bool,
    /// Install exactly the lock (the env's own, or --lock FILE) without solving.
    #[arg(long, conflicts_with = "locked")]
    frozen: bool,
    /// Fail if the solve no longer matches the env's lock.
    #[arg(long)]
    locked: bool,
    /// The lock to install with --frozen (default: the environment's own). Of a variant lock
    /// (`env lock --variants`), the best variant this host can run is installed.
    #[arg(long, requires = "frozen", value_name = "FILE")]
    lock: Option<PathBuf>,
    /// With a variant lock: install this variant (`cpu`, `cuda12`) whatever this host has.
    #[arg(long, requires = "frozen", value_name = "NAME")]
    variant: Option<String>,
    /// Also fetch the model's weight files (as `scivision weights fetch`).
    #[arg(long)]
    weights: bool,
    /// JSON output.
    #[arg(long)]
    json: bool,
}

/// Creates the environment and prints the outcome.
pub(super) async fn run(envs: &Envs, dirs: &Dirs, ui: Ui, args: Args) -> miette::Result<()> {
    let Args {
        model,
        solve,
        dry_run,
        kernel,
        frozen,
        locked,
        lock,
        variant,
        weights,
        json,
    } = args;
    let mut request = request(&model, &solve).await?;
    if kernel {
        request
            .specs
            .push(MatchSpec::from_str("ipykernel", ParseStrictness::Lenient).into_diagnostic()?);
    }
    let options = crate::env::CreateOptions {
        dry_run,
        kernel: kernel.then(|| crate::cli::settings().kernels.clone()),
        frozen: frozen.then_some(lock),
        locked,
        weights: weights.then(|| weight_options(solve.offline)).transpose()?,
        variant,
    };
    let reporter = Progress::new(ui.progress && !json);
    let outcome = crate::env::create(envs, &request, &options, dirs, &reporter)
        .await
        .map_err(|e| on_default_channels(e, &solve))?;
    for d in &outcome.deprecated {
        crate::cli::print_warning(&format!(
            "{} {} is deprecated: {}",
            d.name,
            d.version,
            d.reason.as_deref().unwrap_or("its channel gives no reason")
        ));
    }
    print_created(&request, &outcome, json);
    Ok(())
}

/// The records as `--json` lists them, each with the PyPI names it provides and what named them.
pub(super) fn records_json(
    records: &[rattler_conda_types::RepoDataRecord],
    mapping: &crate::mapping::PypiMapping,
) -> serde_json::Value {
    serde_json::Value::Array(
        crate::lock::sorted(records)
            .iter()
            .map(|r| {
                let provided = mapping.provides(r);
                serde_json::json!({
                    "name": r.package_record.name.as_normalized(),
                    "version": r.package_record.version.to_string(),
                    "build": r.package_record.build,
                    "subdir": r.package_record.subdir,
                    "channel": r.channel,
                    "url": r.url.to_string(),
                    "pypi": (!provided.names.is_empty()).then_some(&provided),
                })
            })
            .collect(),
    )
}

/// How the model reached the prefix: its conda package (from which channel, where a channel
/// publishes the catalog model), or its card's source (git or URL, with the PyPI half).
fn install_path(request: &Request) -> (serde_json::Value, String) {
    match (&request.package, &request.published_by) {
        (Some(p), Some(ch)) => (
            serde_json::json!({"from": "package", "package": p, "channel": ch}),
            format!("from its package {p} ({ch})"),
        ),
        (Some(p), None) => (
            serde_json::json!({"from": "package", "package": p, "channel": null}),
            format!("from its package {p}"),
        ),
        (None, _) => (
            serde_json::json!({"from": "card", "package": null, "channel": null}),
            "from its card's source".to_string(),
        ),
    }
}

/// `env create --json`'s outcome.
fn print_created_json(request: &Request, outcome: &crate::env::CreateOutcome) {
    let (path, _) = install_path(request);
    crate::cli::print_json(&serde_json::json!({
        "model": request.model,
        "installed": path,
        "prefix": outcome.prefix,
        "kernel_spec": outcome.kernel_spec,
        "platform": request.platform.to_string(),
        "dry_run": outcome.status.is_none(),
        "status": outcome.status,
        "virtual_packages": system::describe(&request.virtual_packages),
        "packages": records_json(&outcome.records, &request.mapping),
        "pypi": outcome.pypi,
        "deprecated": outcome.deprecated,
        "weights": outcome.weights,
        "variant": outcome.variant,
        "seconds": outcome.seconds,
    }));
}

/// `env create`'s outcome, as JSON or for a person.
fn print_created(request: &Request, outcome: &crate::env::CreateOutcome, json: bool) {
    let records = &outcome.records;
    let (_, path_text) = install_path(request);
    if json {
        print_created_json(request, outcome);
        return;
    }
    if let Some(v) = &outcome.variant {
        crate::cli::print_line(&format!("variant {}: {}", v.name, v.reason));
    }
    match &outcome.status {
        None => {
            print_records(records);
            for p in &outcome.pypi.packages {
                crate::cli::print_line(&format!("  {p:<43} (PyPI)"));
            }
            crate::cli::print_line(&format!(
                "dry run: {} packages for {} ({}, {path_text}); nothing installed",
                records.len(),
                request.model,
                request.platform
            ));
        }
        Some(CreateStatus::UpToDate) => crate::cli::print_line(&format!(
            "{} is up to date ({}), nothing to do",
            request.model,
            outcome.prefix.display()
        )),
        Some(s) => crate::cli::print_line(&format!(
            "{} {} {path_text} with {} packages{} in {:.1}s: {}",
            if *s == CreateStatus::Created {
                "created"
            } else {
                "updated"
            },
            request.model,
            records.len(),
            if outcome.pypi.packages.is_empty() {
                String::new()
            } else {
                format!(" and {} from PyPI", outcome.pypi.packages.len())
            },
            outcome.seconds,
            outcome.prefix.display()
        )),
    }
    if !outcome.weights.is_empty() {
        crate::cli::print_line(&format!(
            "{} weight files in place under {}",
            outcome.weights.len(),
            crate::weights::Weights::new(&crate::cli::settings().dirs.clone().home)
                .root()
                .display()
        ));
    }
    if let Some(spec) = &outcome.kernel_spec {
        crate::cli::print_line(&format!(
            "Jupyter kernel \"Python (scivision: {})\": {}",
            request.model,
            spec.display()
        ));
    }
}

/// A create's (or a lock's) progress: a spinner while solving, rattler's bars while installing.
pub(super) struct Progress {
    enabled: bool,
    spinner: std::sync::Mutex<Option<indicatif::ProgressBar>>,
    downloads: crate::cli::reporter::DownloadBar,
}

impl Progress {
    pub(super) fn new(enabled: bool) -> Self {
        Self {
            enabled,
            spinner: std::sync::Mutex::new(None),
            downloads: crate::cli::reporter::DownloadBar::new(enabled),
        }
    }
}

/// How `--weights` fetches: the config file's mirror, no network when offline.
pub(super) fn weight_options(offline: bool) -> miette::Result<crate::weights::FetchOptions> {
    let mirror = crate::cli::weights_mirror(None)?;
    Ok(crate::weights::FetchOptions { mirror, offline })
}

impl crate::env::CreateReporter for Progress {
    fn solving(&self) {
        if let Ok(mut s) = self.spinner.lock() {
            *s = spinner(self.enabled, "solving");
        }
    }

    fn solved(&self) {
        if let Some(bar) = self.spinner.lock().ok().and_then(|mut s| s.take()) {
            bar.finish_and_clear();
        }
    }

    fn installer(&self, installer: rattler::install::Installer) -> rattler::install::Installer {
        install_progress(self.enabled)(installer)
    }

    fn weights(&self) -> &dyn crate::weights::FetchReporter {
        &self.downloads
    }
}

/// rattler's per-phase progress bars on the installer, when progress is shown.
pub(super) fn install_progress(
    progress: bool,
) -> impl FnOnce(rattler::install::Installer) -> rattler::install::Installer {
    move |installer| {
        if progress {
            installer.with_reporter(
                rattler::install::IndicatifReporter::builder()
                    .clear_when_done(true)
                    .finish(),
            )
        } else {
            installer
        }
    }
}

/// One line per record, sorted by name.
pub(super) fn print_records(records: &[rattler_conda_types::RepoDataRecord]) {
    for r in crate::lock::sorted(records) {
        crate::cli::print_line(&format!(
            "  {:<28} {:<14} {}",
            r.package_record.name.as_normalized(),
            r.package_record.version,
            r.package_record.build
        ));
    }
}
