//! The `env lock` workflow: a lock written without installing anything, for this host or
//! another platform, with one environment, or one per variant for hosts with and without a GPU.

use std::path::PathBuf;

use crate::env::variants::LockedVariant;
use crate::env::{CreateDirs, CreateReporter, EnvError, Envs, Request};
use crate::request::on_default_channels;
use crate::variant::Variant;

/// How to lock a request.
#[derive(Debug, Clone, Default)]
pub struct LockOptions {
    /// The variants to lock (`--variants`); `None`: the model's default ones, if any.
    pub variants: Option<Vec<Variant>>,
    /// The host's CUDA driver was given (`--cuda`): no default variants.
    pub cuda_pinned: bool,
    /// Channels were given (`-c`): a channel's failure is not a default channel's.
    pub channels_given: bool,
    /// Where to write the lock; `None`: the caller shows it.
    pub output: Option<PathBuf>,
}

/// What a lock holds.
#[derive(Debug)]
pub enum Locked {
    /// One environment per variant.
    Variants(Vec<LockedVariant>),
    /// One environment with this many conda packages.
    Packages(usize),
}

/// A lock made.
#[derive(Debug)]
pub struct LockOutcome {
    /// The lock (already written when an output was given).
    pub lock: rattler_lock::LockFile,
    /// What it holds.
    pub locked: Locked,
}

/// Solves `request` (once, or once per variant), resolves the PyPI half against the solution,
/// and writes the lock to `options.output` (`settings` name the default channels a failure
/// explains). The reporter hears when solving starts and ends.
pub async fn lock(
    envs: &Envs,
    request: &Request,
    options: &LockOptions,
    dirs: &CreateDirs,
    reporter: &dyn CreateReporter,
    settings: &crate::config::Settings,
) -> Result<LockOutcome, EnvError> {
    let target = options.output.clone().unwrap_or_else(|| PathBuf::from("-"));
    let given = options.channels_given;
    reporter.solving();
    let variants = match &options.variants {
        Some(list) => Some(list.clone()),
        None => {
            let found = crate::env::variants::default_variants(request, options.cuda_pinned).await;
            if found.is_err() {
                reporter.solved();
            }
            found.map_err(|e| on_default_channels(e, given, settings))?
        }
    };
    let (lock, locked) = match &variants {
        Some(variants) => {
            let locked = crate::env::variants::lock(
                envs,
                request,
                variants,
                (&dirs.packages, &dirs.cache),
                &target,
            )
            .await
            .map_err(|e| on_default_channels(e, given, settings));
            reporter.solved();
            let locked = locked?;
            (locked.lock, Locked::Variants(locked.variants))
        }
        None => {
            let solution = envs.solve(request).await;
            reporter.solved();
            let solution = solution.map_err(|e| on_default_channels(e, given, settings))?;
            let pypi = envs
                .resolve_pypi(request, &solution, &dirs.packages, &dirs.cache)
                .await?;
            let lock = crate::lock::build(
                &request.channels,
                request.platform,
                &request.virtual_packages,
                &solution.records,
                &pypi,
                &target,
            )?;
            (lock, Locked::Packages(solution.records.len()))
        }
    };
    if let Some(path) = &options.output {
        crate::lock::write(&lock, path)?;
    }
    Ok(LockOutcome { lock, locked })
}
