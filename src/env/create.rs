//! The `env create` workflow: solve (or take a lock), check `--locked` drift in both halves,
//! install atomically unless the prefix already matches, register a Jupyter kernel. Options in,
//! an outcome out; the CLI presents it and tests call it too.

use std::path::{Path, PathBuf};
use std::time::Instant;

use rattler_conda_types::{RepoDataRecord, Subdir};

use super::{CreateStatus, EnvError, Envs, PypiReport, Request, Solution, LOCK_FILE};
use crate::channel::DeprecatedPick;

/// What to do besides solving and installing `request`.
#[derive(Debug, Clone, Default)]
pub struct CreateOptions {
    /// Solve (and resolve the PyPI half), change nothing.
    pub dry_run: bool,
    /// Register a Jupyter kernel for the environment there (the request holds ipykernel).
    pub kernel: Option<crate::kernel::Kernels>,
    /// Install exactly a lock, without solving: `Some(None)` the environment's own,
    /// `Some(Some(file))` another one.
    pub frozen: Option<Option<PathBuf>>,
    /// Fail if the solve (either half) drifted from the environment's lock.
    pub locked: bool,
    /// Fetch the model's weight files after the install (`--weights`).
    pub weights: Option<crate::weights::FetchOptions>,
    /// With a variant lock: install this variant, whatever this host has (`--variant`).
    pub variant: Option<String>,
}

/// Where a create keeps and finds things: the package cache, scivision's cache root (uv's
/// below it) and home (kernels point their weight caches below it).
pub type CreateDirs = crate::config::Dirs;

/// Progress of a create, for the CLI to present.
pub trait CreateReporter: Send + Sync {
    /// The conda solve starts.
    fn solving(&self) {}
    /// The conda solve ended (either way).
    fn solved(&self) {}
    /// Configures rattler's installer (its progress bars).
    fn installer(&self, installer: rattler::install::Installer) -> rattler::install::Installer {
        installer
    }
    /// Where the weight downloads report their progress.
    fn weights(&self) -> &dyn crate::weights::FetchReporter {
        &crate::weights::Silent
    }
}

/// A reporter that shows nothing.
pub struct Quiet;

impl CreateReporter for Quiet {}

/// What a create did.
#[derive(Debug, Clone)]
pub struct CreateOutcome {
    /// The environment's prefix.
    pub prefix: PathBuf,
    /// `None` for a dry run.
    pub status: Option<CreateStatus>,
    /// The conda records.
    pub records: Vec<RepoDataRecord>,
    /// The PyPI half installed (or, in a dry run, resolved).
    pub pypi: PypiReport,
    /// Deprecated builds the solve picked (asked for by version), with their reasons.
    pub deprecated: Vec<DeprecatedPick>,
    /// The Jupyter kernel spec registered.
    pub kernel_spec: Option<PathBuf>,
    /// The model's weight files after `--weights` fetched them.
    pub weights: Vec<crate::weights::FileStatus>,
    /// The variant installed from a variant lock, and why this host got it.
    pub variant: Option<crate::variant::Choice>,
    /// Seconds the whole create took.
    pub seconds: f64,
}

/// Creates (or brings up to date, or with `dry_run` only solves) the environment of `request`.
pub async fn create(
    envs: &Envs,
    request: &Request,
    options: &CreateOptions,
    dirs: &CreateDirs,
    reporter: &dyn CreateReporter,
) -> Result<CreateOutcome, EnvError> {
    let started = Instant::now();
    let host = Subdir::current().unwrap_or(Subdir::Linux64);
    if !options.dry_run && request.platform != host && request.platform != Subdir::NoArch {
        return Err(EnvError::ForeignPlatform {
            platform: request.platform.to_string(),
            host: host.to_string(),
        });
    }
    // One create of a model at a time; others wait here.
    let _guard = if options.dry_run {
        None
    } else {
        Some(envs.lock(&request.model).await?)
    };
    let prefix = envs.prefix(&request.model);
    let own_lock = prefix.join(LOCK_FILE);
    let solution = solution_for(envs, request, options, dirs, reporter, &own_lock).await?;
    tracing::debug!("create: solved at {:?}", started.elapsed());
    // A deprecated build is only picked when asked for by version: the caller warns with it.
    let deprecated =
        crate::channel::deprecated_picks(&solution.records, request.offline.is_some()).await;
    let mut pypi = PypiReport::default();
    let status = if options.dry_run {
        pypi.packages = dry_run_pypi(envs, request, &solution, dirs).await?;
        None
    } else if envs.matches(request, &solution) {
        Some(CreateStatus::UpToDate)
    } else {
        let (status, report) = envs
            .install(request, &solution, dirs, |i| reporter.installer(i))
            .await?;
        pypi = report;
        Some(status)
    };
    let (kernel_spec, weights) = if options.dry_run {
        (None, Vec::new())
    } else {
        after_install(request, options, dirs, &prefix, reporter).await?
    };
    Ok(CreateOutcome {
        variant: solution.variant.as_ref().map(|c| c.choice.clone()),
        weights,
        prefix,
        status,
        records: solution.records,
        pypi,
        deprecated,
        kernel_spec,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// The solution to install: the lock's with `--frozen`, else a fresh solve, its PyPI half
/// checked against the environment's lock with `--locked`.
async fn solution_for(
    envs: &Envs,
    request: &Request,
    options: &CreateOptions,
    dirs: &CreateDirs,
    reporter: &dyn CreateReporter,
    own_lock: &Path,
) -> Result<Solution, EnvError> {
    let mut solution = match &options.frozen {
        Some(file) => frozen(
            request,
            file.as_deref().unwrap_or(own_lock),
            options.variant.as_deref(),
        )?,
        None => {
            reporter.solving();
            let solution = envs.solve(request).await;
            reporter.solved();
            solution?
        }
    };
    if options.locked {
        solution.pypi = Some(check_drift(envs, request, &solution, own_lock, dirs).await?);
    }
    Ok(solution)
}

/// A dry run's PyPI packages (`name==version`): the lock's, else resolved now.
async fn dry_run_pypi(
    envs: &Envs,
    request: &Request,
    solution: &Solution,
    dirs: &CreateDirs,
) -> Result<Vec<String>, EnvError> {
    let half = match &solution.pypi {
        Some(locked) => locked.clone(),
        None => {
            envs.resolve_pypi(request, solution, &dirs.packages, &dirs.cache)
                .await?
        }
    };
    Ok(half
        .packages
        .iter()
        .map(|w| format!("{}=={}", w.name, w.version))
        .collect())
}

/// What a create does once the prefix is in place: registers the kernel and fetches the weights,
/// when asked.
async fn after_install(
    request: &Request,
    options: &CreateOptions,
    dirs: &CreateDirs,
    prefix: &Path,
    reporter: &dyn CreateReporter,
) -> Result<(Option<PathBuf>, Vec<crate::weights::FileStatus>), EnvError> {
    let kernel_spec = match &options.kernel {
        Some(kernels) => {
            let dir_name = super::dir_name(&request.model);
            Some(
                kernels
                    .install(&request.model, &dir_name, prefix, &dirs.home)
                    .map_err(|source| EnvError::Io {
                        path: kernels.spec_dir(&dir_name),
                        source,
                    })?,
            )
        }
        None => None,
    };
    let weights = match &options.weights {
        Some(fetch) => {
            let files = Envs::info_at(prefix).map(|i| i.weights).unwrap_or_default();
            crate::weights::Weights::new(&dirs.home)
                .fetch(
                    &request.model,
                    &files,
                    fetch,
                    &crate::http::client_for(fetch.offline),
                    reporter.weights(),
                )
                .await?
        }
        None => Vec::new(),
    };
    Ok((kernel_spec, weights))
}

/// Exactly the lock at `path` (of a variant lock, the variant this host runs, or `variant`): no
/// repodata, no solve. Offline, every locked package must be in the package cache (or a local
/// channel).
fn frozen(request: &Request, path: &Path, variant: Option<&str>) -> Result<Solution, EnvError> {
    let solution = match super::variants::choose(
        path,
        request.platform,
        &request.virtual_packages,
        variant,
        None,
    )? {
        Some((_, solution)) => solution,
        None => {
            let crate::lock::Locked { records, pypi } = crate::lock::read(path, request.platform)?;
            Solution {
                records,
                pypi: Some(pypi),
                variant: None,
            }
        }
    };
    if let Some(cache) = &request.offline {
        let missing: Vec<String> = solution
            .records
            .iter()
            .filter(|r| r.url.scheme() != "file" && !crate::prefix::is_cached(r, cache))
            .map(|r| r.url.to_string())
            .collect();
        if !missing.is_empty() {
            return Err(EnvError::NotCachedOffline { missing });
        }
    }
    Ok(solution)
}

/// `--locked`: the solve and the PyPI half resolved again must equal the environment's lock,
/// whose PyPI half is then the one installed.
async fn check_drift(
    envs: &Envs,
    request: &Request,
    solution: &Solution,
    own_lock: &Path,
    dirs: &CreateDirs,
) -> Result<crate::lock::PypiHalf, EnvError> {
    let own = crate::lock::read(own_lock, request.platform)?;
    let key = |r: &RepoDataRecord| crate::redact::for_file(&r.url).to_string();
    if let Some((added, gone)) = drift(
        solution.records.iter().map(key).collect(),
        own.records.iter().map(key).collect(),
    ) {
        return Err(EnvError::Drifted {
            lock: own_lock.to_path_buf(),
            half: "spec",
            added,
            gone,
        });
    }
    let resolved = envs
        .resolve_pypi(request, solution, &dirs.packages, &dirs.cache)
        .await?;
    let key = |w: &crate::pypi::LockedWheel| format!("{}=={} ({})", w.name, w.version, w.location);
    if let Some((added, gone)) = drift(
        resolved.packages.iter().map(key).collect(),
        own.pypi.packages.iter().map(key).collect(),
    ) {
        return Err(EnvError::Drifted {
            lock: own_lock.to_path_buf(),
            half: "PyPI requirements",
            added,
            gone,
        });
    }
    Ok(own.pypi)
}

/// What `want` adds to `have` and what it drops, as sets; `None` when they are equal.
fn drift(mut want: Vec<String>, mut have: Vec<String>) -> Option<(Vec<String>, Vec<String>)> {
    want.sort();
    have.sort();
    if want == have {
        return None;
    }
    let added = want.iter().filter(|u| !have.contains(u)).cloned().collect();
    let gone = have.iter().filter(|u| !want.contains(u)).cloned().collect();
    Some((added, gone))
}

#[cfg(test)]
mod tests {
    use super::drift;

    #[test]
    fn drift_lists_what_is_added_and_what_is_gone() {
        let v = |s: &[&str]| s.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert_eq!(drift(v(&["a", "b"]), v(&["b", "a"])), None);
        assert_eq!(
            drift(v(&["a", "c"]), v(&["a", "b"])),
            Some((v(&["c"]), v(&["b"])))
        );
    }
}
