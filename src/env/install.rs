//! Installing a solution into an environment: whether the prefix already holds it, and the
//! atomic install (staging prefix, cache checks, both halves, lock and info, one swap).

use std::collections::BTreeSet;

use rattler_conda_types::RepoDataRecord;

use super::{
    dir_name, invocation, io, model_about, variants, CreateStatus, EnvError, EnvInfo, Envs,
    PypiReport, Request, Solution, INFO_FILE, LOCK_FILE,
};
use crate::{lock, prefix};

impl Envs {
    /// Whether the prefix of `name` holds exactly the solution: the conda records (by its lock
    /// and conda-meta) and the PyPI half (the locked one when the solution carries it, else one
    /// resolved for the same requirements).
    pub fn matches(&self, request: &Request, solution: &Solution) -> bool {
        let records = &solution.records;
        let (name, platform) = (request.model.as_str(), request.platform);
        let prefix = self.prefix(name);
        let Some(info) = Self::info_at(&prefix) else {
            return false;
        };
        let Ok(own) = lock::read(&prefix.join(LOCK_FILE), platform) else {
            return false;
        };
        // A variant install keeps its variant lock and says which variant it is: the same
        // packages from another (or a changed) variant lock still need both written.
        if let Some(chosen) = &solution.variant {
            let kept = fs_err::read(prefix.join(variants::VARIANTS_FILE)).ok();
            if info.variant.as_ref() != Some(&chosen.choice)
                || kept.is_none()
                || kept != fs_err::read(&chosen.lock).ok()
            {
                return false;
            }
        }
        match &solution.pypi {
            Some(locked) => {
                if own.pypi.packages != locked.packages {
                    return false;
                }
            }
            None => {
                let requested: Vec<String> = request.pypi.iter().map(|r| r.text.clone()).collect();
                if info.pypi_frozen || info.pypi_requested != requested {
                    return false;
                }
            }
        }
        // The lock holds URLs without credentials: compare them that way.
        let key = |r: &RepoDataRecord| {
            (
                crate::redact::for_file(&r.url).to_string(),
                r.package_record.sha256.map(hex::encode),
            )
        };
        let want: BTreeSet<_> = records.iter().map(key).collect();
        let have: BTreeSet<_> = own.records.iter().map(key).collect();
        if want != have {
            return false;
        }
        // The lock matches; the prefix must hold the same packages (a half-removed env does not).
        let installed: BTreeSet<String> = fs_err::read_dir(prefix.join("conda-meta"))
            .map(|rd| {
                rd.filter_map(Result::ok)
                    .map(|e| e.file_name().to_string_lossy().to_string())
                    .filter(|n| n.ends_with(".json"))
                    .collect()
            })
            .unwrap_or_default();
        let expected: BTreeSet<String> = records
            .iter()
            .map(|r| {
                format!(
                    "{}-{}-{}.json",
                    r.package_record.name.as_normalized(),
                    r.package_record.version,
                    r.package_record.build
                )
            })
            .collect();
        installed == expected
    }

    /// Installs `solution` as the environment `request.model`, atomically. The caller holds the
    /// model's lock ([`Envs::lock`]).
    pub async fn install(
        &self,
        request: &Request,
        solution: &Solution,
        dirs: &super::CreateDirs,
        configure: impl FnOnce(rattler::install::Installer) -> rattler::install::Installer,
    ) -> Result<(CreateStatus, PypiReport), EnvError> {
        let name = dir_name(&request.model);
        let target = self.prefix(&request.model);
        fs_err::create_dir_all(&self.root).map_err(io(&self.root))?;
        self.clean_leftovers(&name)?;
        let staging = self
            .root
            .join(format!(".staging-{name}-{}", std::process::id()));
        // Everything before the swap happens in the staging prefix: any failure removes it and
        // leaves the environment as it was.
        let report = match self
            .stage(request, solution, dirs, &staging, &target, configure)
            .await
        {
            Ok(r) => r,
            Err(e) => {
                let _ = fs_err::remove_dir_all(&staging);
                return Err(e);
            }
        };
        let status = swap_in(&staging, &target)?;
        tracing::debug!("install: swapped in");
        Ok((status, report))
    }

    /// Installs both halves, the lock and the info into `staging`, whose files name `target`.
    async fn stage(
        &self,
        request: &Request,
        solution: &Solution,
        dirs: &super::CreateDirs,
        staging: &std::path::Path,
        target: &std::path::Path,
        configure: impl FnOnce(rattler::install::Installer) -> rattler::install::Installer,
    ) -> Result<PypiReport, EnvError> {
        let started = std::time::Instant::now();
        let package_cache = dirs.packages.as_path();
        let client = crate::http::client_for(request.offline.is_some());
        let absolute_target = std::path::absolute(target).map_err(io(target))?;
        // uv's context is made in the background, beside the cache check and the link.
        let context = Self::pypi_context(request, solution, dirs);
        prepare_cache(request, solution, package_cache, &client).await?;
        tracing::debug!("stage: package cache checked at {:?}", started.elapsed());
        let plan = self.pypi_plan(request, solution, dirs, context).await?;
        tracing::debug!("stage: pypi half planned at {:?}", started.elapsed());
        prefix::install_with(
            staging,
            solution.records.clone(),
            package_cache,
            &client,
            |i| configure(i.with_alternative_target_prefix(absolute_target.clone())),
        )
        .await?;
        prefix::write_history(staging, target, &solution.records, &invocation())
            .map_err(io(staging))?;
        tracing::debug!("stage: conda half linked at {:?}", started.elapsed());
        // The PyPI half goes into the same staging prefix: a failure leaves the env as it was.
        let pypi_started = std::time::Instant::now();
        let pypi = self
            .install_pypi(request, solution, staging, &absolute_target, plan)
            .await?;
        let lock = lock::build(
            &request.channels,
            request.platform,
            &request.virtual_packages,
            &solution.records,
            &pypi,
            &staging.join(LOCK_FILE),
        )?;
        lock::write(&lock, &staging.join(LOCK_FILE))?;
        tracing::debug!("stage: lock written at {:?}", started.elapsed());
        if let Some(chosen) = &solution.variant {
            let kept = staging.join(variants::VARIANTS_FILE);
            fs_err::copy(&chosen.lock, &kept).map_err(io(&kept))?;
        }
        let info = info(request, solution, &pypi, package_cache);
        crate::atomic::write(
            &staging.join(INFO_FILE),
            serde_json::to_string_pretty(&info)
                .unwrap_or_default()
                .as_bytes(),
        )
        .map_err(io(staging))?;
        Ok(PypiReport {
            packages: info.pypi_installed.clone(),
            seconds: pypi_started.elapsed().as_secs_f64(),
        })
    }
}

/// Checks every package of `solution` in the cache before anything is linked, and fetches the
/// missing ones: an entry changed on disk is fetched again (online, or from a local channel), a
/// hostile one refused. Other processes' installs and fetches wait meanwhile.
async fn prepare_cache(
    request: &Request,
    solution: &Solution,
    package_cache: &std::path::Path,
    client: &reqwest_middleware::ClientWithMiddleware,
) -> Result<(), EnvError> {
    let full = request.verify_cache_fully;
    let _cache_lock = prefix::lock_package_cache(package_cache).await?;
    for bad in crate::integrity::check(&solution.records, package_cache, full) {
        let remote = solution
            .records
            .iter()
            .any(|r| bad.entry.ends_with(prefix::cache_dir_name(r)) && r.url.scheme() != "file");
        if bad.hostile {
            return Err(EnvError::HostilePackage {
                entry: bad.entry,
                file: bad.file,
                reason: bad.reason,
            });
        }
        if request.offline.is_some() && remote {
            return Err(EnvError::CorruptCache {
                entry: bad.entry,
                file: bad.file,
                reason: bad.reason,
            });
        }
        tracing::warn!(
            "the package cache's {} was corrupt ({}: {}): fetching it again",
            bad.entry.display(),
            bad.file,
            bad.reason
        );
        crate::integrity::evict(&bad).map_err(io(&bad.entry))?;
    }
    let missing: Vec<&RepoDataRecord> = solution
        .records
        .iter()
        .filter(|r| !prefix::is_cached(r, package_cache))
        .collect();
    // Every download runs to its end even when one fails: dropping the others midway would
    // leave their half-extracted temporary folders in the package cache.
    futures::future::join_all(
        missing
            .iter()
            .map(|r| prefix::fetch_to_cache(r, package_cache, client)),
    )
    .await
    .into_iter()
    .collect::<Result<Vec<_>, _>>()?;
    // Fresh from the channel: a mismatch now is the package's own paths.json disagreeing with
    // its archive. (The others passed the check above.)
    if let Some(bad) = crate::integrity::check(missing, package_cache, full)
        .into_iter()
        .next()
    {
        return Err(EnvError::HostilePackage {
            entry: bad.entry,
            file: bad.file,
            reason: bad.reason,
        });
    }
    Ok(())
}

/// `scivision.json` of an install.
fn info(
    request: &Request,
    solution: &Solution,
    pypi: &lock::PypiHalf,
    package_cache: &std::path::Path,
) -> EnvInfo {
    let about = model_about(request, solution, package_cache);
    EnvInfo {
        model: request.model.clone(),
        specs: request.specs.iter().map(ToString::to_string).collect(),
        channels: request
            .channels
            .iter()
            .map(|c| crate::redact::for_file(c.base_url.url()).to_string())
            .collect(),
        platform: request.platform.to_string(),
        model_entry: about
            .as_ref()
            .and_then(crate::runner::ModelEntry::from_about)
            .or(request.entry.clone()),
        weights: about
            .as_ref()
            .and_then(|a| a.get("weights"))
            .and_then(|w| serde_json::from_value(w.clone()).ok())
            .unwrap_or_else(|| request.weights.clone()),
        pypi_requested: request.pypi.iter().map(|r| r.text.clone()).collect(),
        pypi_frozen: solution.pypi.is_some(),
        pypi_installed: pypi
            .packages
            .iter()
            .map(|w| format!("{}=={}", w.name, w.version))
            .collect(),
        variant: solution.variant.as_ref().map(|c| c.choice.clone()),
    }
}

/// Puts the staged prefix in place of `target`: one atomic swap where an environment exists
/// (readers see the old one or the new one, never neither), then the old one is removed.
fn swap_in(staging: &std::path::Path, target: &std::path::Path) -> Result<CreateStatus, EnvError> {
    if !target.exists() {
        fs_err::rename(staging, target).map_err(io(target))?;
        return Ok(CreateStatus::Created);
    }
    rustix::fs::renameat_with(
        rustix::fs::CWD,
        staging,
        rustix::fs::CWD,
        target,
        rustix::fs::RenameFlags::EXCHANGE,
    )
    .map_err(|e| EnvError::Io {
        path: target.to_path_buf(),
        source: e.into(),
    })?;
    // `staging` now holds the old environment.
    fs_err::remove_dir_all(staging).map_err(io(staging))?;
    Ok(CreateStatus::Updated)
}
