//! Variant locks as workflows: `env lock --variants` solves the request once per variant and
//! writes one lock with an environment each; `--frozen` and `env unpack` take the variant this
//! host can run ([`crate::variant::choose`]).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use rattler_conda_types::{GenericVirtualPackage, RepoDataRecord, Subdir};
use serde::Serialize;

use super::{EnvError, Envs, Request, Solution};
use crate::lock::{Locked, LockedEnv, PypiHalf};
use crate::variant::{Choice, Offered, Variant};

/// The variant lock inside a prefix created from one: kept so that `env pack --variants` can
/// carry every variant.
pub const VARIANTS_FILE: &str = "scivision.variants.lock";

/// The variant chosen from a variant lock, and the lock.
#[derive(Debug, Clone)]
pub struct Chosen {
    /// Which and why.
    pub choice: Choice,
    /// The variant lock.
    pub lock: PathBuf,
}

/// One variant as locked.
#[derive(Debug, Clone, Serialize)]
pub struct LockedVariant {
    /// Its name (`cpu`, `cuda12`): the lock's environment.
    pub name: String,
    /// How many conda packages it has.
    pub packages: usize,
    /// What it needs of a host (its records' virtual-package dependencies).
    pub needs: Vec<String>,
    /// The variant it solved to exactly (then the lock holds that one only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub same_as: Option<String>,
}

/// A variant lock, ready to write.
#[derive(Debug)]
pub struct VariantLock {
    /// The lock.
    pub lock: rattler_lock::LockFile,
    /// Each variant asked for.
    pub variants: Vec<LockedVariant>,
}

/// The variants a model is locked for when none are named: cpu and the newest CUDA major its
/// packages offer builds for. `None` (one plain environment) for a model whose card keeps it on
/// the CPU, one without CUDA builds, or a host pinned with `--cuda` (`cuda_pinned`).
pub async fn default_variants(
    request: &Request,
    cuda_pinned: bool,
) -> Result<Option<Vec<Variant>>, EnvError> {
    if cuda_pinned || request.cpu_only {
        return Ok(None);
    }
    let majors = offered_cuda(request).await?;
    Ok(majors.last().map(|m| vec![Variant::Cpu, Variant::Cuda(*m)]))
}

/// `request` solved as a host of `variant` would be, with the request it was solved as.
async fn solve_variant(
    envs: &Envs,
    request: &Request,
    variant: &Variant,
) -> Result<(Request, Solution), EnvError> {
    let mut one = request.clone();
    one.virtual_packages = variant.virtual_packages(&request.virtual_packages);
    let solution = envs.solve(&one).await?;
    Ok((one, solution))
}

/// The CUDA major versions the request's packages offer builds for (none: a CPU-only model),
/// newest last.
async fn offered_cuda(request: &Request) -> Result<BTreeSet<u32>, EnvError> {
    let gateway = crate::prefix::gateway_for(request.offline.is_some());
    let loaded = crate::solve::Loaded::query(
        &gateway,
        &request.channels,
        request.platform,
        request.specs.clone(),
    )
    .await?;
    Ok(crate::variant::cuda_majors(loaded.records()))
}

/// What each variant of `request` needs of a host (its conda half solved once per variant);
/// unsolvable variants are left out. For `check`: which variant would this host get?
pub async fn needs_of(
    envs: &Envs,
    request: &Request,
    variants: &[Variant],
) -> Result<Vec<Offered>, EnvError> {
    let mut out = Vec::new();
    for variant in variants {
        match solve_variant(envs, request, variant).await {
            Ok((_, solution)) => out.push(Offered {
                name: variant.to_string(),
                needs: crate::variant::needs(&solution.records),
            }),
            Err(EnvError::Unsolvable { .. }) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}

/// Solves `request` once per variant (and resolves each one's PyPI half against its own conda
/// packages) into one lock. A variant that solves to the same packages as an earlier one is
/// reported as such (its packages are stored once, as every package of the format is).
pub async fn lock(
    envs: &Envs,
    request: &Request,
    variants: &[Variant],
    (package_cache, cache): (&Path, &Path),
    path_for_errors: &Path,
) -> Result<VariantLock, EnvError> {
    let mut solved: Vec<(String, Vec<RepoDataRecord>, PypiHalf)> = Vec::new();
    let mut report = Vec::new();
    let key = |records: &[RepoDataRecord]| -> BTreeSet<String> {
        records.iter().map(|r| r.url.to_string()).collect()
    };
    for variant in variants {
        let (one, solution) = solve_variant(envs, request, variant).await?;
        let same = solved
            .iter()
            .find(|(_, records, _)| key(records) == key(&solution.records));
        report.push(LockedVariant {
            name: variant.to_string(),
            packages: solution.records.len(),
            needs: crate::variant::needs(&solution.records),
            same_as: same.map(|(name, _, _)| name.clone()),
        });
        // The same packages resolve to the same PyPI half; the environment is still written
        // under its own name (the lock's format stores each package once), so that
        // `--variant` and `pack --variants` know it.
        let pypi = match same {
            Some((_, _, pypi)) => pypi.clone(),
            None => {
                envs.resolve_pypi(&one, &solution, package_cache, cache)
                    .await?
            }
        };
        solved.push((variant.to_string(), solution.records, pypi));
    }
    let envs_to_write: Vec<LockedEnv<'_>> = solved
        .iter()
        .map(|(name, records, pypi)| LockedEnv {
            name,
            records,
            pypi,
        })
        .collect();
    // The platform's virtual packages are the host's without a CUDA driver: each variant's own
    // need of one is in its records.
    let base = Variant::Cpu.virtual_packages(&request.virtual_packages);
    let lock = crate::lock::build_envs(
        &request.channels,
        request.platform,
        &base,
        &envs_to_write,
        path_for_errors,
    )?;
    Ok(VariantLock {
        lock,
        variants: report,
    })
}

/// Each variant of a variant lock with what it needs; empty for a plain lock.
pub fn offered(path: &Path, platform: Subdir) -> Result<Vec<(Offered, Locked)>, EnvError> {
    Ok(crate::lock::variants(path, platform)?
        .into_iter()
        .map(|(name, locked)| {
            let needs = crate::variant::needs(&locked.records);
            (Offered { name, needs }, locked)
        })
        .collect())
}

/// The variant of the lock at `path` this host runs (`forced`: that one), as a solution that
/// remembers the lock; `None` for a plain lock.
///
/// `installable`: only variants whose every package it accepts are candidates (an unpack: the
/// packages the pack carried).
pub fn choose(
    path: &Path,
    platform: Subdir,
    host: &[GenericVirtualPackage],
    forced: Option<&str>,
    installable: Option<&dyn Fn(&RepoDataRecord) -> bool>,
) -> Result<Option<(Choice, Solution)>, EnvError> {
    let mut all = offered(path, platform)?;
    if let Some(ok) = installable {
        all.retain(|(_, locked)| locked.records.iter().all(ok));
    }
    if all.is_empty() {
        return match forced {
            Some(name) => Err(crate::variant::ChoiceError::Unknown {
                name: name.to_string(),
                offered: format!("none: {} is no variant lock", path.display()),
            }
            .into()),
            None => Ok(None),
        };
    }
    let list: Vec<Offered> = all.iter().map(|(o, _)| o.clone()).collect();
    let choice = crate::variant::choose(&list, host, forced)?;
    let Some((_, locked)) = all.into_iter().find(|(o, _)| o.name == choice.name) else {
        return Ok(None);
    };
    Ok(Some((
        choice.clone(),
        Solution {
            records: locked.records,
            pypi: Some(locked.pypi),
            variant: Some(Chosen {
                choice,
                lock: PathBuf::from(path),
            }),
        },
    )))
}

/// What a pack of several variants carries: the records of each variant named (`None`: all of
/// them), each once, fetched into the package cache where this host never installed them, and
/// their PyPI distributions, each once.
pub async fn for_pack(
    path: &Path,
    platform: Subdir,
    names: Option<&[String]>,
    package_cache: &Path,
) -> Result<(Vec<RepoDataRecord>, Vec<crate::pypi::LockedWheel>), EnvError> {
    let all = offered(path, platform)?;
    let offered_names = || {
        all.iter()
            .map(|(o, _)| o.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    if let Some(unknown) = names
        .unwrap_or_default()
        .iter()
        .find(|n| !all.iter().any(|(o, _)| &o.name == *n))
    {
        return Err(crate::variant::ChoiceError::Unknown {
            name: unknown.clone(),
            offered: offered_names(),
        }
        .into());
    }
    let mut records: Vec<RepoDataRecord> = Vec::new();
    let mut wheels: Vec<crate::pypi::LockedWheel> = Vec::new();
    for (o, locked) in all {
        if names.is_some_and(|n| !n.contains(&o.name)) {
            continue;
        }
        for r in locked.records {
            if !records.iter().any(|have| have.url == r.url) {
                records.push(r);
            }
        }
        for w in locked.pypi.packages {
            if !wheels.iter().any(|have| have.location == w.location) {
                wheels.push(w);
            }
        }
    }
    let missing: Vec<&RepoDataRecord> = records
        .iter()
        .filter(|r| !crate::prefix::is_cached(r, package_cache))
        .collect();
    if !missing.is_empty() {
        let client = crate::http::client();
        let _lock = crate::prefix::lock_package_cache(package_cache).await?;
        futures::future::join_all(
            missing
                .iter()
                .map(|r| crate::prefix::fetch_to_cache(r, package_cache, &client)),
        )
        .await
        .into_iter()
        .collect::<Result<Vec<_>, _>>()?;
    }
    Ok((records, wheels))
}
