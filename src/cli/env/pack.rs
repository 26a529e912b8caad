//! `env pack` and `env unpack`: an environment (with its weights, or every variant of its
//! variant lock) in one archive for an air-gapped host.

use std::path::Path;

use miette::IntoDiagnostic;
use rattler_conda_types::Subdir;

use super::create::install_progress;
use super::Ui;
use crate::config::Dirs;
use crate::env::{Envs, Request};
use crate::system::{self, CudaChoice};

/// `env pack`.
pub(super) async fn pack(
    envs: &Envs,
    dirs: &Dirs,
    name: &str,
    output: &Path,
    weights: bool,
    variants: Option<String>,
) -> miette::Result<()> {
    let prefix = envs.existing(name)?;
    let platform = Subdir::current().unwrap_or(Subdir::Linux64);
    let (records, wheels_locked) = match &variants {
        None => {
            let crate::lock::Locked { records, pypi } =
                crate::lock::read(&prefix.join(crate::env::LOCK_FILE), platform)?;
            (records, pypi.packages)
        }
        Some(list) => {
            let lock = prefix.join(crate::env::variants::VARIANTS_FILE);
            if !lock.is_file() {
                return Err(crate::cli::bad_input!(
                        help = "lock its variants (`scivision env lock MODEL --variants cpu,cuda12 -o FILE`) and create it from that lock (`env create MODEL --frozen --lock FILE`)",
                        "{name} was not created from a variant lock"
                    ));
            }
            let names: Option<Vec<String>> =
                (list != "all").then(|| list.split(',').map(|n| n.trim().to_string()).collect());
            crate::env::variants::for_pack(&lock, platform, names.as_deref(), &dirs.packages)
                .await?
        }
    };
    let downloads = tempfile::tempdir().into_diagnostic()?;
    let wheels =
        crate::pack::wheel_files(&wheels_locked, downloads.path(), &crate::http::client()).await?;
    let store = crate::weights::Weights::new(&dirs.home);
    let weight_files = if weights {
        let files = Envs::info_at(&prefix)
            .map(|i| i.weights)
            .unwrap_or_default();
        store.present(name, &files)?
    } else {
        Vec::new()
    };
    let bytes = crate::pack::pack(
        &prefix,
        &records,
        &dirs.packages,
        &wheels,
        (store.root(), &weight_files),
        variants.is_some(),
        output,
    )?;
    crate::cli::print_line(&format!(
        "packed {name} ({} packages{}{}, {:.1} MB) into {}",
        records.len(),
        if wheels.is_empty() {
            String::new()
        } else {
            format!(" and {} PyPI wheels", wheels.len())
        },
        if weight_files.is_empty() {
            String::new()
        } else {
            format!(" and {} weight files", weight_files.len())
        },
        bytes as f64 / 1e6,
        output.display()
    ));
    Ok(())
}

/// `env unpack`.
pub(super) async fn unpack(
    envs: &Envs,
    dirs: &Dirs,
    ui: Ui,
    file: &Path,
    name: Option<String>,
    variant: Option<String>,
) -> miette::Result<()> {
    let started = std::time::Instant::now();
    // Wheels go beside the other caches, so that a later --frozen or --offline create finds
    // them too.
    let wheel_dir = dirs.cache.join("wheels");
    let store = crate::weights::Weights::new(&dirs.home);
    let unpacked = crate::pack::unpack(
        file,
        &dirs.packages,
        &wheel_dir,
        (store.root(), name.as_deref()),
    )?;
    let platform = Subdir::current().unwrap_or(Subdir::Linux64);
    if unpacked.info.platform != platform.as_str() {
        return Err(crate::cli::bad_input!(help = "unpack it on a machine of that platform, or lock for this one with `scivision env lock --platform`", "the pack is for {}, this machine is {platform}", unpacked.info.platform));
    }
    let host = system::virtual_packages(
        platform,
        &CudaChoice::Auto,
        &crate::cli::settings().overrides,
    )?;
    let (records, pypi, chosen) = match &unpacked.variants {
        Some(lock) => {
            let Some((_, solution)) = crate::env::variants::choose(
                lock,
                platform,
                &host,
                variant.as_deref(),
                // Only what the pack carried (now in the package cache) can be installed.
                Some(&|r| crate::prefix::is_cached(r, &dirs.packages)),
            )?
            else {
                return Err(miette::miette!("the pack's variant lock has no variants"));
            };
            let mut pypi = solution.pypi.unwrap_or_default();
            unpacked.local_wheels(&mut pypi);
            (solution.records, pypi, solution.variant)
        }
        None if variant.is_some() => {
            return Err(crate::cli::bad_input!(
                help = "pack several variants with `env pack NAME --variants all`",
                "{} carries one environment, no variants",
                file.display()
            ))
        }
        None => {
            let crate::lock::Locked { records, pypi } = unpacked.locked(platform)?;
            (records, pypi, None)
        }
    };
    if let Some(chosen) = &chosen {
        crate::cli::print_line(&format!(
            "variant {}: {}",
            chosen.choice.name, chosen.choice.reason
        ));
    }
    let cwd = std::env::current_dir().into_diagnostic()?;
    let request = Request {
        model: name.unwrap_or_else(|| unpacked.info.model.clone()),
        specs: crate::solve::parse_specs(&unpacked.info.specs)?,
        channels: crate::solve::parse_channels(&unpacked.info.channels, cwd)?,
        platform,
        virtual_packages: host,
        // Everything comes from the pack: no network at all.
        offline: Some(dirs.packages.clone()),
        pypi: Vec::new(),
        index: crate::pypi::IndexOptions::default(),
        entry: unpacked.info.model_entry.clone(),
        weights: unpacked.info.weights.clone(),
        pypi_overrides: Vec::new(),
        pypi_no_build_isolation: Vec::new(),
        verify_cache_fully: crate::cli::settings().verify_cache_fully,
        mapping: crate::mapping::PypiMapping::default(),
        package: None,
        published_by: None,
        cpu_only: false,
    };
    let _guard = envs.lock(&request.model).await?;
    let solution = crate::env::Solution {
        records,
        pypi: Some(pypi),
        variant: chosen,
    };
    let progress = ui.progress;
    envs.install(&request, &solution, dirs, install_progress(progress))
        .await?;
    // Files upstream pins no hash for keep the one they were packed with.
    store.adopt(&request.model, &request.weights)?;
    crate::cli::print_line(&format!(
        "unpacked {} ({} packages{}) in {:.1}s: {}",
        request.model,
        solution.records.len(),
        if unpacked.weights.is_empty() {
            String::new()
        } else {
            format!(", {} weight files", unpacked.weights.len())
        },
        started.elapsed().as_secs_f64(),
        envs.prefix(&request.model).display()
    ));
    Ok(())
}
