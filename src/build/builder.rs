//! One recipe output from rendered recipe to a tested `.conda` in the channel: what scivision
//! adds around rattler-build's engine (input hash and build cache, a test in a fresh prefix
//! before the package is placed, atomic placement, retiring the output's previous build).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use rattler_build_core::render::resolved_dependencies::FinalizedDependencies;
use rattler_build_core::types::Output;
use sha2::{Digest, Sha256};

use super::engine::Engine;
use super::plan::Planned;
use super::{BuildConfig, BuildError, BuildOutcome, BuildReporter};
use crate::channel;
use crate::package;

/// The version of scivision's build logic, part of every input hash: bump it when the produced
/// files would change for the same recipe.
const BUILD_LOGIC_VERSION: &str = "scivision-build-5-rattler-build";

/// The same, for outputs that inherit from a staging output only, so that a change to how those
/// are built leaves every other cached build valid. 2: the staging output's run requirements
/// and run exports reach the package. 3: the staging output's environments are inputs.
const STAGING_LOGIC_VERSION: &str = "scivision-staging-3";

/// One planned output into the channel: from the build cache when its inputs were built before,
/// else built, tested and placed.
pub(super) async fn build_one(
    planned: &Planned,
    engine: &Engine,
    config: &BuildConfig,
    reporter: &dyn BuildReporter,
) -> Result<BuildOutcome, BuildError> {
    let started = Instant::now();
    let name = planned.display_name();

    // The engine's build and output folders are named by the build name (the package, or the
    // recipe for outputs of a staging output) and the fixed timestamp, so that the same inputs
    // give the same bytes; one build of that name at a time uses them.
    let folder_lock = config
        .cache_dir
        .join("rattler-build")
        .join(format!("{}.lock", engine_folder_name(planned)));
    let _folder_lock = crate::atomic::lock_async(&folder_lock)
        .await
        .map_err(BuildError::io(&folder_lock))?;

    // The build and host environments are solved first: their exact records are inputs, and
    // so are those of the staging output this one inherits from.
    reporter.phase(&name, "solve");
    let mut output = engine.resolve(planned.output.clone()).await?;
    let staging = engine.resolve_staging(&output).await?;
    let input_hash = input_hash(planned, &output, staging.as_ref())?;

    // One build of these inputs at a time: a second process waits, then finds it cached.
    let builds = config.cache_dir.join("builds");
    let cache_dir = builds.join(&input_hash);
    let lock_path = builds.join(format!("{input_hash}.lock"));
    let _build_lock = crate::atomic::lock_async(&lock_path)
        .await
        .map_err(BuildError::io(&lock_path))?;
    if !config.force {
        if let Some(file) = cached_artifact(&cache_dir)? {
            let outcome = place_cached(planned, &file, config).await?;
            // Only a channel that changed must be read again by the next solve: forgetting it
            // after every unchanged recipe made a rebuild of n recipes read it n times.
            if outcome.status != "unchanged" {
                engine.forget_channel(&config.output_dir)?;
            }
            return Ok(BuildOutcome {
                seconds: started.elapsed().as_secs_f64(),
                ..outcome
            });
        }
    }

    if let Some(staging) = &staging {
        // The engine keeps a built staging output by its requirements as written, not by the
        // records they resolve to: a folder per set of records keeps it from restoring one
        // built against packages the channel has since replaced. Chosen only for a build that
        // runs, so an unchanged rebuild neither marks nor prunes these folders.
        let dirs = &mut output.build_configuration.directories;
        dirs.cache_dir = staging_folder(&dirs.cache_dir, &records_digest(staging))?;
    }
    let built = build_and_test(engine, config, reporter, &name, output, &input_hash).await?;
    publish(planned, engine, config, &built, &cache_dir).await?;
    let Built {
        subdir, file_name, ..
    } = built;
    Ok(BuildOutcome {
        package: file_name.trim_end_matches(".conda").to_string(),
        file: format!("{subdir}/{file_name}"),
        status: "built",
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// How many staging builds the engine keeps per build name, one per set of solved records (each
/// variant of a recipe has its own); the least recently used beyond them are removed.
const STAGING_BUILDS_KEPT: usize = 4;

/// The engine's staging cache folder for the records with `digest`, under `base`: marked as
/// used now, with the least recently used others beyond [`STAGING_BUILDS_KEPT`] removed (and
/// what the engine kept there before scivision gave it these folders). The caller holds the
/// build name's folder lock, so no build of this name is using them.
fn staging_folder(base: &Path, digest: &str) -> Result<PathBuf, BuildError> {
    const USED: &str = ".scivision-last-used";
    let dir = base.join(&digest[..16]);
    fs_err::create_dir_all(&dir).map_err(BuildError::io(&dir))?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let used = dir.join(USED);
    crate::atomic::write(&used, now.to_string().as_bytes()).map_err(BuildError::io(&used))?;
    let mut others: Vec<(u128, PathBuf)> = fs_err::read_dir(base)
        .map_err(BuildError::io(base))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_dir() && *p != dir)
        .map(|p| {
            let last = fs_err::read_to_string(p.join(USED))
                .ok()
                .and_then(|t| t.trim().parse().ok())
                .unwrap_or(0);
            (last, p)
        })
        .collect();
    others.sort_by_key(|o| std::cmp::Reverse(o.0));
    for (_, old) in others.into_iter().skip(STAGING_BUILDS_KEPT - 1) {
        fs_err::remove_dir_all(&old).map_err(BuildError::io(&old))?;
    }
    Ok(dir)
}

/// The name of the engine's folders for `planned`: its output folder's name.
fn engine_folder_name(planned: &Planned) -> String {
    let out = &planned.output.build_configuration.directories.output_dir;
    out.file_name().map_or_else(
        || planned.output.name().as_normalized().to_string(),
        |n| n.to_string_lossy().to_string(),
    )
}

/// A package the engine built and scivision tested, not yet in the build cache or channel.
struct Built {
    /// The package, in `work/<subdir>/`.
    untested: PathBuf,
    /// The build's own scratch folder (the package and its test prefix).
    work: PathBuf,
    subdir: String,
    file_name: String,
}

/// Fetches the sources, builds the package, takes it out of the engine's folder and tests it.
async fn build_and_test(
    engine: &Engine,
    config: &BuildConfig,
    reporter: &dyn BuildReporter,
    name: &str,
    output: Output,
    input_hash: &str,
) -> Result<Built, BuildError> {
    // Sources are fetched only for a build that runs, and after hashing: the recipe's
    // sha256 is the input, not where the cached copy lives.
    reporter.phase(name, "source");
    let mut output = output;
    let sources = super::source::SourceCache::new(config.cache_dir.join("sources"));
    super::source::mirror_url_sources(&mut output, &sources, &crate::http::client()).await?;
    reporter.phase(name, "build");
    let (output, staged) = engine.build(output).await?;
    let subdir = output.build_configuration.target_platform.to_string();
    let file_name = staged
        .file_name()
        .map(|s| s.to_string_lossy().to_string())
        .unwrap_or_default();

    // The engine leaves the package in its own output folder; take it out of there at once
    // so that nothing but a tested package is ever listed anywhere.
    let work = config.cache_dir.join("work").join(&input_hash[..16]);
    if work.exists() {
        fs_err::remove_dir_all(&work).map_err(BuildError::io(&work))?;
    }
    let untested = work.join(&subdir).join(&file_name);
    fs_err::create_dir_all(work.join(&subdir)).map_err(BuildError::io(&work))?;
    fs_err::rename(&staged, &untested).map_err(BuildError::io(&staged))?;

    if config.test && !output.recipe.tests().is_empty() {
        reporter.phase(name, "test");
        engine.test(&output, &untested, &work.join("test")).await?;
    }
    if config.test {
        reporter.phase(name, "check");
        check_installable(&untested, config).await?;
    }
    Ok(Built {
        untested,
        work,
        subdir,
        file_name,
    })
}

/// Into the build cache (`cache_dir`), then into the channel: both by rename of a complete
/// file; the output's previous build retired and the subdir re-indexed under the channel lock.
async fn publish(
    planned: &Planned,
    engine: &Engine,
    config: &BuildConfig,
    built: &Built,
    cache_dir: &Path,
) -> Result<(), BuildError> {
    let (subdir, file_name) = (&built.subdir, &built.file_name);
    let cached = cache_dir.join(subdir).join(file_name);
    place(&built.untested, &cached)?;
    let target = config.output_dir.join(subdir).join(file_name);
    let channel_lock = channel::lock(&config.output_dir).await?;
    let replaced = target.exists();
    place(&cached, &target)?;
    retire_previous_output(planned, config, &target)?;
    channel::index_locked(&config.output_dir, Some(subdir), replaced).await?;
    drop(channel_lock);
    engine.forget_channel(&config.output_dir)?;
    if !config.keep_work {
        let _ = fs_err::remove_dir_all(&built.work);
    }
    Ok(())
}

/// The package's run requirements solve from the extra channels and then the output channel
/// (the order users give: conda-forge before scivision's channel), on a host with a CUDA driver
/// (a CUDA build must be installable somewhere): a package that nothing can install never enters
/// the channel. A recipe's own tests may not install it at all (`package_contents`).
async fn check_installable(package: &Path, config: &BuildConfig) -> Result<(), BuildError> {
    use rattler_conda_types::{package::IndexJson, MatchSpec, ParseStrictness};
    let index: IndexJson =
        rattler_package_streaming::seek::read_package_file(package).map_err(|e| {
            BuildError::Io {
                path: package.to_path_buf(),
                source: std::io::Error::other(e.to_string()),
            }
        })?;
    let solve_error = |source| BuildError::NotInstallable {
        package: format!(
            "{}-{}-{}",
            index.name.as_normalized(),
            index.version,
            index.build
        ),
        channels: config
            .channels
            .iter()
            .cloned()
            .chain([config.output_dir.display().to_string()])
            .collect::<Vec<_>>()
            .join(", "),
        source,
    };
    let specs = index
        .depends
        .iter()
        .map(|d| {
            MatchSpec::from_str(d, ParseStrictness::Lenient).map_err(|e| {
                crate::solve::SolveError::Unsolvable {
                    specs: d.clone(),
                    explanation: e.to_string(),
                }
            })
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(solve_error)?;
    let mut names = config.channels.clone();
    names.push(std::path::absolute(&config.output_dir).map_or_else(
        |_| config.output_dir.display().to_string(),
        |p| p.display().to_string(),
    ));
    let cwd = std::env::current_dir().unwrap_or_default();
    let channels = crate::solve::parse_channels(&names, cwd).map_err(solve_error)?;
    let host = crate::system::virtual_packages(
        config.target_platform,
        &crate::system::CudaChoice::Version("12.4".into()),
        &config.virtual_packages,
        Some(&crate::system::detection_cache(&config.cache_dir)),
    )
    .map_err(solve_error)?;
    crate::solve::solve(
        &crate::prefix::gateway(),
        &channels,
        config.target_platform,
        specs,
        host,
    )
    .await
    .map(drop)
    .map_err(solve_error)
}

/// The build cache has this exact build: the channel gets it unless it already lists it.
async fn place_cached(
    planned: &Planned,
    file: &Path,
    config: &BuildConfig,
) -> Result<BuildOutcome, BuildError> {
    let sub = file
        .parent()
        .and_then(Path::file_name)
        .map(|s| s.to_string_lossy().to_string())
        .unwrap_or_default();
    let file_name = file
        .file_name()
        .map(|s| s.to_string_lossy().to_string())
        .unwrap_or_default();
    let target = config.output_dir.join(&sub).join(&file_name);
    // Unchanged only when the channel also lists it and records it as this output: a build
    // killed after placing the file left it unlisted or unrecorded.
    let status = if target.is_file()
        && same_bytes(&target, file)
        && channel::lists(&config.output_dir, &sub, &file_name)
        && is_recorded_output(planned, config, &target)
    {
        "unchanged"
    } else {
        let _channel = channel::lock(&config.output_dir).await?;
        let same = target.is_file() && same_bytes(&target, file);
        let replaced = target.exists() && !same;
        if !same {
            place(file, &target)?;
        }
        retire_previous_output(planned, config, &target)?;
        channel::index_locked(&config.output_dir, Some(&sub), replaced).await?;
        "cached"
    };
    Ok(BuildOutcome {
        package: file_name.trim_end_matches(".conda").to_string(),
        file: format!("{sub}/{file_name}"),
        status,
        seconds: 0.0,
    })
}

/// Everything the package's bytes depend on: the rendered recipe (context, variant, selectors
/// resolved), the recipe folder, local sources, and the exact build and host records.
fn input_hash(
    planned: &Planned,
    output: &Output,
    staging: Option<&FinalizedDependencies>,
) -> Result<String, BuildError> {
    let mut h = Sha256::new();
    h.update(BUILD_LOGIC_VERSION);
    if output.recipe.inherits_from.is_some() {
        h.update(STAGING_LOGIC_VERSION);
    }
    h.update(output.build_configuration.target_platform.as_str());
    h.update(format!("{:?}", output.build_configuration.variant));
    h.update(serde_json::to_string(&output.recipe).unwrap_or_default());
    h.update(output.build_configuration.timestamp.to_string());
    let recipe_dir = planned.recipe_dir();
    hash_tree(&mut h, recipe_dir)?;
    for source in &output.recipe.source {
        if let rattler_build_recipe::stage1::Source::Path(p) = source {
            let path = if p.path.is_absolute() {
                p.path.clone()
            } else {
                recipe_dir.join(&p.path)
            };
            h.update(path.to_string_lossy().as_bytes());
            if path.is_dir() {
                hash_tree(&mut h, &path)?;
            } else {
                h.update(package::sha256_file(&path).map_err(BuildError::io(&path))?);
            }
        }
    }
    if let Some(deps) = &output.finalized_dependencies {
        hash_records(&mut h, deps);
    }
    if let Some(staging) = staging {
        h.update("staging");
        hash_records(&mut h, staging);
    }
    Ok(hex::encode(h.finalize()))
}

/// Hashes the exact build and host records of solved environments.
fn hash_records(h: &mut Sha256, deps: &FinalizedDependencies) {
    let envs = [deps.build.as_ref(), deps.host.as_ref()];
    for env in envs.into_iter().flatten() {
        for rec in &env.resolved {
            h.update(rec.identifier.to_string());
            if let Some(sha) = rec.package_record.sha256 {
                h.update(sha);
            }
        }
    }
}

/// [`hash_records`] alone, in hex.
fn records_digest(deps: &FinalizedDependencies) -> String {
    let mut h = Sha256::new();
    hash_records(&mut h, deps);
    hex::encode(h.finalize())
}

fn hash_tree(h: &mut Sha256, dir: &Path) -> Result<(), BuildError> {
    for entry in walkdir::WalkDir::new(dir)
        .sort_by_file_name()
        .follow_links(false)
    {
        let entry = entry.map_err(|e| BuildError::Io {
            path: dir.to_path_buf(),
            source: e.into(),
        })?;
        if entry
            .path()
            .components()
            .any(|c| c.as_os_str() == ".git" || c.as_os_str() == "__pycache__")
        {
            continue;
        }
        let rel = entry.path().strip_prefix(dir).unwrap_or(entry.path());
        h.update(rel.to_string_lossy().as_bytes());
        if entry.file_type().is_file() {
            let bytes = fs_err::read(entry.path()).map_err(BuildError::io(entry.path()))?;
            h.update(&bytes);
        } else if entry.file_type().is_symlink() {
            if let Ok(t) = fs_err::read_link(entry.path()) {
                h.update(t.to_string_lossy().as_bytes());
            }
        }
    }
    Ok(())
}

fn cached_artifact(dir: &Path) -> Result<Option<PathBuf>, BuildError> {
    if !dir.is_dir() {
        return Ok(None);
    }
    for entry in walkdir::WalkDir::new(dir).min_depth(2).max_depth(2) {
        let entry = entry.map_err(|e| BuildError::Io {
            path: dir.to_path_buf(),
            source: e.into(),
        })?;
        if entry.file_name().to_string_lossy().ends_with(".conda") {
            return Ok(Some(entry.path().to_path_buf()));
        }
    }
    Ok(None)
}

/// Whether two files hold the same bytes (false when either cannot be read).
fn same_bytes(a: &Path, b: &Path) -> bool {
    matches!(
        (package::sha256_file(a), package::sha256_file(b)),
        (Ok(x), Ok(y)) if x == y
    )
}

/// The channel's `.scivision/outputs.json`, the key of the output in it, and `target`
/// relative to the channel.
fn output_key(planned: &Planned, config: &BuildConfig, target: &Path) -> (PathBuf, String, String) {
    let state = config.output_dir.join(".scivision/outputs.json");
    let rel = target
        .strip_prefix(&config.output_dir)
        .unwrap_or(target)
        .display()
        .to_string();
    (state, planned.key(), rel)
}

fn read_outputs(state: &Path) -> BTreeMap<String, String> {
    fs_err::read_to_string(state)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default()
}

/// Whether the channel records `target` as the output of `planned`.
fn is_recorded_output(planned: &Planned, config: &BuildConfig, target: &Path) -> bool {
    let (state, key, rel) = output_key(planned, config, target);
    read_outputs(&state).get(&key) == Some(&rel)
}

/// An output replaces what it produced before: a rebuild with other inputs may have a new file
/// name, and the old build would otherwise stay in the channel beside it. The channel
/// remembers each output's last file in `.scivision/outputs.json`.
fn retire_previous_output(
    planned: &Planned,
    config: &BuildConfig,
    target: &Path,
) -> Result<(), BuildError> {
    let (state, key, rel) = output_key(planned, config, target);
    let mut outputs = read_outputs(&state);
    if let Some(previous) = outputs.get(&key).filter(|p| **p != rel) {
        let old = config.output_dir.join(previous);
        if old.is_file() {
            fs_err::remove_file(&old).map_err(BuildError::io(&old))?;
        }
    }
    outputs.insert(key, rel);
    let text = serde_json::to_string_pretty(&outputs).unwrap_or_default();
    crate::atomic::write(&state, text.as_bytes()).map_err(BuildError::io(&state))
}

/// Copies `from` to `to` atomically: readers never see a partial file.
fn place(from: &Path, to: &Path) -> Result<(), BuildError> {
    crate::atomic::copy(from, to).map_err(BuildError::io(to))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn staging_folders_are_kept_for_the_most_recently_used_records_only() {
        let base = tempfile::tempdir().unwrap();
        // What the engine kept before scivision gave it a folder per set of records.
        fs_err::create_dir_all(base.path().join("staging_0123/work")).unwrap();
        let digest = |i: usize| format!("{i:02x}{:062}", 0);
        let folder = |i: usize| base.path().join(&digest(i)[..16]);
        for i in 0..STAGING_BUILDS_KEPT {
            fs_err::write(
                staging_folder(base.path(), &digest(i)).unwrap().join("f"),
                "x",
            )
            .unwrap();
        }
        assert!(!base.path().join("staging_0123").exists());
        // Used again, the first is the newest; the next new one displaces the second.
        staging_folder(base.path(), &digest(0)).unwrap();
        staging_folder(base.path(), &digest(STAGING_BUILDS_KEPT)).unwrap();
        assert!(
            folder(0).join("f").is_file(),
            "a folder used again keeps its build"
        );
        assert!(!folder(1).exists());
        for i in 2..=STAGING_BUILDS_KEPT {
            assert!(folder(i).is_dir(), "{i}");
        }
        assert_eq!(
            fs_err::read_dir(base.path()).unwrap().count(),
            STAGING_BUILDS_KEPT
        );
    }
}
