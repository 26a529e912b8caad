//! Installing locked PyPI distributions into a conda prefix: uv prepares each (download, or
//! build an sdist / git source, verify its sha256, unzip into the uv cache) and links it into
//! site-packages. The prefix is a staging copy, so scripts point at the final prefix's python.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use uv_distribution::DistributionDatabase;
use uv_distribution_types::{CachedDist, Dist, Name, Resolution};
use uv_installer::Preparer;

use super::verify;
use uv_pypi_types::{HashAlgorithm, HashDigest, Scheme};
use uv_types::HashStrategy;

use super::builds::{BuildParts, Builds};
use super::{LockedWheel, PypiError, PypiRequirement, Target, UvContext};

/// What scivision writes to the INSTALLER file of the distributions it installs: conda's own
/// python packages carry `conda`, so the two halves stay apart.
pub const INSTALLER: &str = "scivision";

/// Where a conda prefix keeps python files, by the target's conventions.
fn prefix_scheme(prefix: &Path, target: &Target) -> (Scheme, PathBuf) {
    let windows = matches!(
        target.subdir,
        rattler_conda_types::Subdir::Win64 | rattler_conda_types::Subdir::WinArm64
    );
    let release = target.python.release();
    let py = format!(
        "python{}.{}",
        release.first().copied().unwrap_or(3),
        release.get(1).copied().unwrap_or(0)
    );
    let (site, scripts, include, exe) = if windows {
        (
            prefix.join("Lib").join("site-packages"),
            prefix.join("Scripts"),
            prefix.join("include"),
            prefix.join("python.exe"),
        )
    } else {
        (
            prefix.join("lib").join(&py).join("site-packages"),
            prefix.join("bin"),
            prefix.join("include").join(&py),
            prefix.join("bin").join("python"),
        )
    };
    (
        Scheme {
            purelib: site.clone(),
            platlib: site,
            scripts,
            data: prefix.to_path_buf(),
            include,
        },
        exe,
    )
}

/// The site-packages folder of a conda prefix for `target`.
pub fn site_packages(prefix: &Path, target: &Target) -> PathBuf {
    prefix_scheme(prefix, target).0.purelib
}

/// Whether a location is a VCS URL or a source tree, which have no file to hash.
fn is_source_tree(location: &str) -> bool {
    location.starts_with("git+")
        || url::Url::parse(location)
            .ok()
            .and_then(|u| u.to_file_path().ok())
            .is_some_and(|p| p.is_dir())
}

/// A locked entry as the distribution uv fetches: its file (or VCS) URL under its name. A file
/// without a sha256 is refused: every archive scivision installs is checked.
fn dist_of(wheel: &LockedWheel) -> Result<Dist, PypiError> {
    if wheel.sha256.is_none() && !is_source_tree(&wheel.location) {
        return Err(PypiError::Install {
            name: wheel.name.to_string(),
            source: format!("the lock gives no sha256 for {}", wheel.location).into(),
            help: "re-create the environment without --frozen to write a lock with hashes".into(),
        });
    }
    let text = format!("{} @ {}", wheel.name, wheel.location);
    let parsed = PypiRequirement::requirement(&text, "the lock")?;
    let Some(uv_pep508::VersionOrUrl::Url(url)) = parsed.version_or_url else {
        return Err(PypiError::Install {
            name: wheel.name.to_string(),
            source: format!("`{}` is not a URL", wheel.location).into(),
            help: "re-create the environment without --frozen to write a fresh lock".into(),
        });
    };
    Dist::from_url(wheel.name.clone(), url).map_err(|e| PypiError::Install {
        name: wheel.name.to_string(),
        source: e.into(),
        help: "re-create the environment without --frozen to write a fresh lock".into(),
    })
}

fn hostile(wheel: &CachedDist, r: verify::Refusal) -> PypiError {
    PypiError::HostileWheel {
        wheel: wheel.filename().to_string(),
        entry: r.entry,
        reason: r.reason,
    }
}

/// Refuses a wheel file on this machine (a find-links folder, a path) whose entries would leave
/// the prefix, before uv unzips it. Remote wheels are streamed by uv, which skips such entries.
fn refuse_hostile_files(wheels: &[LockedWheel]) -> Result<(), PypiError> {
    for w in wheels {
        let Ok(url) = url::Url::parse(&w.location) else {
            continue;
        };
        let Ok(path) = url.to_file_path() else {
            continue;
        };
        if url.scheme() != "file" || path.extension().is_none_or(|e| e != "whl") {
            continue;
        }
        let found = verify::hostile_entry(&path).map_err(|e| PypiError::HostileWheel {
            wheel: path.display().to_string(),
            entry: "(the archive)".into(),
            reason: format!("not a readable zip archive: {e}"),
        })?;
        if let Some(r) = found {
            return Err(PypiError::HostileWheel {
                wheel: path.display().to_string(),
                entry: r.entry,
                reason: r.reason,
            });
        }
    }
    Ok(())
}

/// Installs `wheels` into `staging`, which becomes `final_prefix`; returns warnings (wheels
/// that replace files conda installed). Every file is checked against the lock's sha256.
pub async fn install(
    ctx: &UvContext,
    target: &Target,
    staging: &Path,
    final_prefix: &Path,
    wheels: &[LockedWheel],
    builds: &Builds,
) -> Result<Vec<String>, PypiError> {
    if wheels.is_empty() {
        return Ok(Vec::new());
    }
    let tags = target.tags()?;
    let (dists, hasher) = distributions(wheels)?;
    refuse_hostile_files(wheels)?;
    let parts = BuildParts::default();
    // Only builds (sdists, git) look at --find-links here; a lock's files are fetched by URL, so
    // an unreachable find-links location must not fail an install that does not need it.
    let flat_index = match ctx.flat_index(&tags, &hasher, &parts.build_options).await {
        Ok(f) => f,
        Err(e) => {
            tracing::warn!(
                "{}; installing without the --find-links locations",
                crate::message::error_chain(&e)
            );
            uv_resolver::FlatIndex::default()
        }
    };
    let state = uv_dispatch::SharedState::default();
    let dispatch = parts.dispatch(ctx, builds, &flat_index, &hasher, state.clone());
    let preparer = Preparer::new(
        &ctx.cache,
        &tags,
        &hasher,
        &parts.build_options,
        DistributionDatabase::new(
            &ctx.client,
            &dispatch,
            parts.concurrency.downloads_semaphore.clone(),
        ),
    );
    let prepare_error = |e: uv_installer::PrepareError| {
        let name = match &e {
            uv_installer::PrepareError::Dist(_, dist, _, _) => dist.to_string(),
            uv_installer::PrepareError::NoBuild(n) | uv_installer::PrepareError::NoBinary(n) => {
                n.to_string()
            }
            _ => "(the PyPI half)".into(),
        };
        PypiError::Install {
            name,
            source: e.into(),
            help: if ctx.offline {
                "offline: the wheel must be in the uv cache (run once online) or a local --find-links folder".into()
            } else {
                "check the index or file is reachable; an sdist that fails to build needs its build requirements on the index and a working compiler".into()
            },
        }
    };
    let cached = builds
        .guard(async {
            preparer
                .prepare(dists.clone(), state.in_flight(), &Resolution::default())
                .await
                .map_err(prepare_error)
        })
        .await?;
    let (cached, redo) = verified(ctx, cached, &dists)?;
    let mut cached = cached;
    if !redo.is_empty() {
        // A fresh in-flight map: the first one remembers the evicted paths.
        let fresh = uv_dispatch::SharedState::default();
        let again = builds
            .guard(async {
                preparer
                    .prepare(redo, fresh.in_flight(), &Resolution::default())
                    .await
                    .map_err(prepare_error)
            })
            .await?;
        cached.extend(accepted(ctx, again)?);
    }
    // By name, so the order does not depend on which wheels were unzipped again.
    cached.sort_by(|a, b| a.name().cmp(b.name()));
    link(&cached, wheels, &layout(staging, final_prefix, target))
}

/// The distributions of `wheels`, and the hashes they must have.
fn distributions(wheels: &[LockedWheel]) -> Result<(Vec<Arc<Dist>>, HashStrategy), PypiError> {
    let mut dists = Vec::new();
    let mut hashes = rustc_hash::FxHashMap::default();
    for w in wheels {
        let dist = dist_of(w)?;
        if let Some(sha) = &w.sha256 {
            use uv_distribution_types::DistributionMetadata;
            hashes.insert(
                dist.version_id(),
                vec![HashDigest {
                    algorithm: HashAlgorithm::Sha256,
                    digest: sha.as_str().into(),
                }],
            );
        }
        dists.push(Arc::new(dist));
    }
    Ok((dists, HashStrategy::Verify(Arc::new(hashes))))
}

/// uv's unzipped wheels are hardlinked into prefixes, so an edit in one environment changes them
/// for the next: each is compared with its RECORD. Returns the good ones, and the distributions
/// to unzip again (their changed entries evicted).
fn verified(
    ctx: &UvContext,
    cached: Vec<CachedDist>,
    dists: &[Arc<Dist>],
) -> Result<(Vec<CachedDist>, Vec<Arc<Dist>>), PypiError> {
    let stamps = ctx.cache.root().join("scivision-verified");
    let mut redo = Vec::new();
    let mut keep = Vec::new();
    for wheel in cached {
        match verify::check_unzipped(wheel.path(), &stamps, ctx.verify_fully) {
            Ok(()) => keep.push(wheel),
            Err(r) if r.hostile => return Err(hostile(&wheel, r)),
            Err(r) => {
                tracing::warn!(
                    "uv's cache entry {} of {} does not match ({}: {}): unzipping it again",
                    wheel.path().display(),
                    wheel.filename(),
                    r.entry,
                    r.reason
                );
                redo.extend(dists.iter().filter(|d| d.name() == wheel.name()).cloned());
                if let Err(e) = verify::evict(wheel.path(), ctx.cache.root()) {
                    tracing::warn!("cannot remove {}: {e}", wheel.path().display());
                }
            }
        }
    }
    Ok((keep, redo))
}

/// Wheels unzipped again: a difference now is the wheel's own stale RECORD, which pip and uv
/// install anyway (warned about); a hostile one is refused.
fn accepted(ctx: &UvContext, again: Vec<CachedDist>) -> Result<Vec<CachedDist>, PypiError> {
    let stamps = ctx.cache.root().join("scivision-verified");
    for wheel in &again {
        match verify::accept_unzipped(wheel.path(), &stamps) {
            Err(r) => return Err(hostile(wheel, r)),
            Ok(Some(r)) => tracing::warn!(
                "{}: its RECORD disagrees with its files ({}: {}); installed as unzipped",
                wheel.filename(),
                r.entry,
                r.reason
            ),
            Ok(None) => {}
        }
    }
    Ok(again)
}

/// The install layout of `staging`, whose scripts name `final_prefix`'s python.
fn layout(staging: &Path, final_prefix: &Path, target: &Target) -> uv_install_wheel::Layout {
    let (scheme, _) = prefix_scheme(staging, target);
    let (_, final_python) = prefix_scheme(final_prefix, target);
    let release = target.python.release();
    uv_install_wheel::Layout {
        sys_executable: final_python,
        python_version: (
            u8::try_from(release.first().copied().unwrap_or(3)).unwrap_or(3),
            u8::try_from(release.get(1).copied().unwrap_or(0)).unwrap_or(0),
        ),
        os_name: if matches!(
            target.subdir,
            rattler_conda_types::Subdir::Win64 | rattler_conda_types::Subdir::WinArm64
        ) {
            "nt".into()
        } else {
            "posix".into()
        },
        scheme,
    }
}

/// Links the unzipped wheels into the layout; returns warnings (files conda installed that a
/// wheel replaces).
fn link(
    cached: &[CachedDist],
    wheels: &[LockedWheel],
    layout: &uv_install_wheel::Layout,
) -> Result<Vec<String>, PypiError> {
    // VCS and source-tree requirements get a direct_url.json (PEP 610), files from an index or
    // a find-links folder do not, as pip and uv do.
    let direct: BTreeSet<&str> = wheels
        .iter()
        .filter(|w| is_source_tree(&w.location))
        .map(|w| w.name.as_ref())
        .collect();
    let mut warnings = Vec::new();
    let state = uv_install_wheel::InstallState::default();
    for wheel in cached {
        let name = wheel.filename().name.to_string();
        warnings.extend(conda_files_replaced(wheel, &layout.scheme.purelib));
        let direct_url = if direct.contains(name.as_str()) {
            wheel.parsed_url().map(uv_pypi_types::DirectUrl::from)
        } else {
            None
        };
        uv_install_wheel::install_wheel(
            layout,
            false,
            wheel.path(),
            wheel.filename(),
            direct_url.as_ref(),
            if wheel.cache_info().is_empty() {
                None
            } else {
                Some(wheel.cache_info())
            },
            wheel.build_info(),
            Some(INSTALLER),
            true,
            uv_install_wheel::LinkMode::Hardlink,
            &state,
        )
        .map_err(|e| PypiError::Install {
            name: name.clone(),
            source: e.into(),
            help: "check free disk space; a wheel whose files escape the prefix is refused".into(),
        })?;
    }
    Ok(warnings)
}

/// Files of `wheel` (unzipped in the uv cache) that already exist in `site_packages`, that is
/// files conda installed and the wheel will replace.
fn conda_files_replaced(wheel: &CachedDist, site_packages: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        let Ok(entries) = fs_err::read_dir(wheel.path().join(&rel)) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let name_str = name.to_string_lossy();
            if rel.as_os_str().is_empty()
                && (name_str.ends_with(".dist-info") || name_str.ends_with(".data"))
            {
                continue;
            }
            let child = rel.join(&name);
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                stack.push(child);
            } else if site_packages.join(&child).exists() {
                out.push(format!(
                    "PyPI {} replaces conda's file {}",
                    wheel.filename(),
                    site_packages.join(&child).display()
                ));
            }
        }
    }
    out.sort();
    out
}
