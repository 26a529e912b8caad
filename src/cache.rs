//! The caches scivision fills: rattler's package cache (shared with pixi), the repodata cache,
//! and scivision's own sources, builds and weights. `clean` never removes a package that a live
//! environment's lock needs, unless asked to remove everything.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use crate::config::Dirs;
use crate::env::{Envs, LOCK_FILE};

/// One cache folder and its size.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Usage {
    /// What it holds.
    pub name: &'static str,
    /// Where.
    pub path: PathBuf,
    /// Bytes on disk (hardlinked files counted once per folder).
    pub bytes: u64,
    /// Top-level entries.
    pub entries: usize,
}

/// Sizes of every cache.
pub fn info(dirs: &Dirs) -> Vec<Usage> {
    let rattler_root = dirs
        .packages
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    [
        ("packages (rattler, shared)", dirs.packages.clone()),
        ("repodata (rattler, shared)", rattler_root.join("repodata")),
        ("sources", dirs.cache.join("sources")),
        ("builds", dirs.cache.join("builds")),
        (
            "build folders (rattler-build)",
            dirs.cache.join("rattler-build"),
        ),
        (
            "pypi (uv: wheels, built sdists, git)",
            dirs.cache.join("uv"),
        ),
        ("weights", dirs.home.join("weights")),
    ]
    .into_iter()
    .map(|(name, path)| Usage {
        name,
        bytes: size(&path),
        entries: count(&path),
        path,
    })
    .collect()
}

/// Bytes of the files under `path`.
pub fn size(path: &Path) -> u64 {
    walkdir::WalkDir::new(path)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .filter_map(|e| e.metadata().ok())
        .map(|m| m.len())
        .sum()
}

fn count(path: &Path) -> usize {
    fs_err::read_dir(path)
        .map(|rd| {
            rd.filter_map(Result::ok)
                .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
                .count()
        })
        .unwrap_or(0)
}

/// Package cache folders (`name-version-build`) that the locks of live environments need.
pub fn needed(envs: &Envs) -> BTreeSet<String> {
    let platform =
        rattler_conda_types::Subdir::current().unwrap_or(rattler_conda_types::Subdir::Linux64);
    let mut out = BTreeSet::new();
    for (_, prefix, _) in envs.list().unwrap_or_default() {
        if let Ok(records) = crate::lock::read_records(&prefix.join(LOCK_FILE), platform) {
            out.extend(records.iter().map(crate::prefix::cache_dir_name));
        }
    }
    out
}

/// What `clean` removed or kept.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Cleaned {
    /// Removed package folders.
    pub removed: Vec<String>,
    /// Kept because a live environment needs them.
    pub kept_for_envs: usize,
    /// Weight files kept because a live environment's model loads them.
    pub weights_kept: usize,
    /// Bytes freed.
    pub bytes: u64,
}

/// Removes package cache entries no live environment needs (`all`: every entry, and uv's PyPI
/// cache), only those untouched for `older_than` when given.
pub fn clean(
    dirs: &Dirs,
    envs: &Envs,
    all: bool,
    older_than: Option<Duration>,
) -> std::io::Result<Cleaned> {
    let needed = if all { BTreeSet::new() } else { needed(envs) };
    let mut out = Cleaned::default();
    let Ok(rd) = fs_err::read_dir(&dirs.packages) else {
        return Ok(out);
    };
    // rattler's global cache lock: installs and scivision's cache checks hold it, so nothing
    // is removed under a running create.
    let _lock = crate::atomic::lock(&dirs.packages.join(".cache.lock"))?;
    let now = SystemTime::now();
    for entry in rd.filter_map(Result::ok) {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().to_string();
        // What an eviction or an extraction killed midway left.
        if name.starts_with(".trash-") && path.is_dir() {
            out.bytes += size(&path);
            fs_err::remove_dir_all(&path)?;
            continue;
        }
        if !path.join("info/index.json").is_file() {
            continue;
        }
        if needed.contains(&name) {
            out.kept_for_envs += 1;
            continue;
        }
        if !untouched_for(&path, older_than, now, false)? {
            continue;
        }
        out.bytes += size(&path);
        // The sidecar first: without it the folder is no longer trusted, so a crash between the
        // two removals leaves nothing an installer would use.
        let sidecar = dirs.packages.join(format!("{name}.lock"));
        if sidecar.exists() {
            fs_err::remove_file(&sidecar)?;
        }
        fs_err::remove_dir_all(&path)?;
        out.removed.push(name);
    }
    // uv's cache holds the PyPI wheels envs were hardlinked from; envs keep working without it,
    // but an offline re-create needs it, so only `--all` removes it.
    let uv = dirs.cache.join("uv");
    if all && uv.is_dir() {
        out.bytes += size(&uv);
        fs_err::remove_dir_all(&uv)?;
        out.removed.push("uv (the PyPI cache)".into());
    }
    clean_weights(dirs, envs, all, older_than, &mut out)?;
    out.removed.sort();
    Ok(out)
}

/// Whether `path` was last changed at least `age` ago (always, when no age is given); `deep`:
/// the newest of everything in the folder (what scivision wrote there), else the path's own time
/// (an extracted package's files keep their archive's times; its folder is the extraction's).
fn untouched_for(
    path: &Path,
    age: Option<Duration>,
    now: SystemTime,
    deep: bool,
) -> std::io::Result<bool> {
    let Some(age) = age else {
        return Ok(true);
    };
    let mut newest = fs_err::metadata(path)?.modified()?;
    if deep {
        for entry in walkdir::WalkDir::new(path)
            .into_iter()
            .filter_map(Result::ok)
        {
            newest = newest.max(entry.metadata().map_err(std::io::Error::from)?.modified()?);
        }
    }
    Ok(now.duration_since(newest).unwrap_or_default() >= age)
}

/// What `cache clean` removes of the weights folder as one piece: a Hub repository's cache
/// folder and scivision's records of it (blobs, links and refs only make sense together), else
/// the file itself.
fn weight_unit(rel: &Path) -> PathBuf {
    let parts: Vec<_> = rel.components().collect();
    let depth = match parts.first().map(|c| c.as_os_str().to_string_lossy()) {
        Some(first) if first == "huggingface" && parts.len() > 3 => 3,
        Some(first) if first == "scivision-hub" && parts.len() > 2 => 2,
        _ => parts.len(),
    };
    parts[..depth].iter().collect()
}

/// Removes weight files no live environment's model loads (`all`: every one, and interrupted
/// downloads, which are otherwise kept to resume). A live environment's work folder is kept
/// whole: its model may keep what it derived from its weights there (an unzipped archive).
fn clean_weights(
    dirs: &Dirs,
    envs: &Envs,
    all: bool,
    older_than: Option<Duration>,
    out: &mut Cleaned,
) -> std::io::Result<()> {
    let root = crate::weights::Weights::new(&dirs.home)
        .root()
        .to_path_buf();
    if !root.is_dir() {
        return Ok(());
    }
    let mut keep = BTreeSet::new();
    if !all {
        for (name, _, info) in envs.list().unwrap_or_default() {
            keep.insert(Path::new("work").join(crate::names::dir_name(&name)));
            for w in info.map(|i| i.weights).unwrap_or_default() {
                keep.extend(w.owned_paths(&name));
            }
        }
    }
    let now = SystemTime::now();
    // Files and the links of Hub snapshots, by the piece they are removed with.
    let mut units = std::collections::BTreeMap::<PathBuf, usize>::new();
    for entry in walkdir::WalkDir::new(&root)
        .into_iter()
        .filter_map(Result::ok)
    {
        if entry.file_type().is_dir() {
            continue;
        }
        let Ok(rel) = entry.path().strip_prefix(&root) else {
            continue;
        };
        let name = rel.to_string_lossy();
        // Bookkeeping: the hashes recorded at first fetch, and the fetches' lock files.
        if name == "recorded.json" || name.ends_with(".lock") {
            continue;
        }
        if name.ends_with(".part") && !all {
            continue;
        }
        // Links (a snapshot's) go with their unit but are not counted as files.
        *units.entry(weight_unit(rel)).or_default() += usize::from(entry.file_type().is_file());
    }
    for (unit, files) in units {
        if unit.ancestors().any(|a| keep.contains(a)) {
            out.weights_kept += files;
            continue;
        }
        let path = root.join(&unit);
        if !untouched_for(&path, older_than, now, true)? {
            continue;
        }
        out.bytes += size(&path);
        if path.is_dir() {
            fs_err::remove_dir_all(&path)?;
        } else {
            fs_err::remove_file(&path)?;
        }
        out.removed.push(format!("weights/{}", unit.display()));
    }
    Ok(())
}
