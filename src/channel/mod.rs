//! Channels on disk: indexing (repodata.json, .zst, shards, channeldata.json, notices) and
//! deprecations.
//!
//! A deprecation is recorded in `deprecations.json` at the channel root, which stays the source
//! of truth. Indexing turns it into what conda clients honour: a repodata patch package that
//! gives deprecated builds a `track_features` entry (every solver ranks such builds last, so they
//! are picked only when asked for by version) and a CEP-6 channel notice carrying the reason.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use rattler_conda_types::{
    package::{AboutJson, IndexJson},
    ChannelNotice, ChannelNoticeLevel, PackageName, Subdir, Version,
};
use rattler_index::{ChannelMetadata, IndexFsConfig};
use serde::{Deserialize, Serialize};
use serde_json::json;

mod patch;
mod published;
pub use published::{
    channeldata, deprecated_picks, published_deprecations, published_in, published_models,
    reason_for, DeprecatedPick, PublishedModel,
};

/// Channel errors.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum ChannelError {
    /// File system trouble.
    #[error("I/O error at {}", path.display())]
    Io {
        /// The path involved.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// A deprecation request is invalid.
    #[error("cannot deprecate `{spec}`: {message}")]
    #[diagnostic(help("give NAME or NAME==VERSION of a package in the channel, and a --reason"))]
    Deprecation {
        /// As given.
        spec: String,
        /// What is wrong.
        message: String,
    },
    /// Indexing the channel failed.
    #[error("cannot index {}", dir.display())]
    Index {
        /// The channel (or the file that stopped it).
        dir: PathBuf,
        /// Why: the indexer's error, or what is wrong with the file.
        #[source]
        source: crate::message::Cause,
    },
    /// Writing the patch package failed.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Package(#[from] crate::package::PackageError),
}

/// The name of the repodata patch package scivision maintains in `noarch/`.
pub const PATCH_PACKAGE: &str = "scivision-repodata-patches";
/// The track feature that marks deprecated builds.
pub const DEPRECATED_FEATURE: &str = "scivision-deprecated";
const DEPRECATIONS_FILE: &str = "deprecations.json";

/// One deprecation.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Deprecation {
    /// Package name.
    pub name: String,
    /// Exact version, or every version when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Why, shown to whoever installs it.
    pub reason: String,
}

impl Deprecation {
    /// Parses `name` or `name==version`.
    pub fn parse(spec: &str, reason: &str) -> Result<Self, ChannelError> {
        let (name, version) = match spec.split_once("==") {
            Some((n, v)) => (n.trim(), Some(v.trim().to_string())),
            None => (spec.trim(), None),
        };
        let bad = |message: String| ChannelError::Deprecation {
            spec: spec.to_string(),
            message,
        };
        PackageName::from_str(name).map_err(|e| bad(format!("not a package name: {e}")))?;
        if let Some(v) = &version {
            Version::from_str(v).map_err(|e| bad(format!("not a version: {e}")))?;
        }
        if reason.trim().is_empty() {
            return Err(bad("a deprecation needs a reason (--reason)".into()));
        }
        Ok(Self {
            name: name.to_string(),
            version,
            reason: reason.trim().to_string(),
        })
    }

    fn matches(&self, index: &IndexJson) -> bool {
        index.name.as_normalized() == self.name
            && self
                .version
                .as_ref()
                .is_none_or(|v| Version::from_str(v).is_ok_and(|v| v == *index.version.version()))
    }

    /// The spec this deprecation covers, for messages.
    pub fn spec(&self) -> String {
        match &self.version {
            Some(v) => format!("{}=={v}", self.name),
            None => self.name.clone(),
        }
    }
}

/// Whether a record carries the deprecation mark the channel's repodata patch gives it.
pub fn is_deprecated(record: &rattler_conda_types::PackageRecord) -> bool {
    record
        .track_features
        .iter()
        .any(|f| f == DEPRECATED_FEATURE)
}

/// Reads `deprecations.json` (empty when absent).
pub fn read_deprecations(dir: &Path) -> Result<Vec<Deprecation>, ChannelError> {
    let path = dir.join(DEPRECATIONS_FILE);
    if !path.exists() {
        return Ok(Vec::new());
    }
    let text = fs_err::read_to_string(&path).map_err(|source| ChannelError::Io {
        path: path.clone(),
        source,
    })?;
    serde_json::from_str(&text).map_err(|e| ChannelError::Index {
        dir: path,
        source: format!("not a list of deprecations: {e}").into(),
    })
}

/// Adds a deprecation and re-indexes. Returns the package files it covers.
pub async fn deprecate(dir: &Path, deprecation: Deprecation) -> Result<Vec<String>, ChannelError> {
    // A mistyped folder is an error below, not a new channel with a lock in it.
    if !dir.join("noarch").is_dir() {
        return Err(ChannelError::Deprecation {
            spec: deprecation.spec(),
            message: format!("{} is not a channel (it has no noarch/)", dir.display()),
        });
    }
    let _lock = lock(dir).await?;
    let covered: Vec<String> = packages(dir)?
        .into_iter()
        .filter(|(_, index)| deprecation.matches(index))
        .map(|(p, _)| p.strip_prefix(dir).unwrap_or(&p).display().to_string())
        .collect();
    if covered.is_empty() {
        return Err(ChannelError::Deprecation {
            spec: deprecation.spec(),
            message: format!(
                "no package in the channel {} matches `{}`",
                dir.display(),
                deprecation.spec()
            ),
        });
    }
    let mut all = read_deprecations(dir)?;
    all.retain(|d| !(d.name == deprecation.name && d.version == deprecation.version));
    all.push(deprecation);
    let path = dir.join(DEPRECATIONS_FILE);
    let text = serde_json::to_string_pretty(&all).unwrap_or_default() + "\n";
    atomic_write(&path, text.as_bytes())?;
    index_locked(dir, None, false).await?;
    Ok(covered)
}

/// Every package archive in the channel with its index.json (the patch package excluded).
fn packages(dir: &Path) -> Result<Vec<(PathBuf, IndexJson)>, ChannelError> {
    let mut out = Vec::new();
    for entry in walkdir::WalkDir::new(dir)
        .min_depth(2)
        .max_depth(2)
        .sort_by_file_name()
    {
        let entry = entry.map_err(|e| ChannelError::Io {
            path: dir.to_path_buf(),
            source: e.into(),
        })?;
        let name = entry.file_name().to_string_lossy().to_string();
        let in_subdir = entry
            .path()
            .parent()
            .and_then(Path::file_name)
            .is_some_and(|s| Subdir::from_str(&s.to_string_lossy()).is_ok());
        if !in_subdir
            || !(name.ends_with(".conda") || name.ends_with(".tar.bz2"))
            || name.starts_with(PATCH_PACKAGE)
        {
            continue;
        }
        let index: IndexJson = rattler_package_streaming::seek::read_package_file(entry.path())
            .map_err(|e| ChannelError::Index {
                dir: entry.path().to_path_buf(),
                source: format!("cannot read info/index.json: {e}").into(),
            })?;
        out.push((entry.path().to_path_buf(), index));
    }
    Ok(out)
}

/// Indexes the channel at `dir` (only `subdir` when given, plus noarch): repodata.json,
/// repodata.json.zst, sharded repodata, channeldata.json and notices.
///
/// The indexer knows packages by file name; `force` re-reads every archive, which is needed
/// after a file was replaced by one with the same name and other contents.
pub async fn index(dir: &Path, subdir: Option<&str>, force: bool) -> Result<(), ChannelError> {
    let _lock = lock(dir).await?;
    index_locked(dir, subdir, force).await
}

/// Whether the channel's `subdir` index is complete and lists the package file `file_name`:
/// its `repodata.json` names it, and the sharded index, which the indexer writes after
/// `repodata.json`, is no older (an index killed between the two is not complete).
pub fn lists(dir: &Path, subdir: &str, file_name: &str) -> bool {
    let repodata = dir.join(subdir).join("repodata.json");
    let modified = |p: &Path| fs_err::metadata(p).and_then(|m| m.modified()).ok();
    match (
        modified(&repodata),
        modified(&dir.join(subdir).join("repodata_shards.msgpack.zst")),
    ) {
        (Some(plain), Some(shards)) if shards >= plain => {}
        _ => return false,
    }
    // Only the file names: a rebuild asks this once per recipe of a growing channel.
    #[derive(serde::Deserialize)]
    struct Names {
        #[serde(default)]
        packages: std::collections::HashMap<String, serde::de::IgnoredAny>,
        #[serde(default, rename = "packages.conda")]
        conda: std::collections::HashMap<String, serde::de::IgnoredAny>,
    }
    let Ok(text) = fs_err::read(&repodata) else {
        return false;
    };
    serde_json::from_slice::<Names>(&text)
        .is_ok_and(|n| n.conda.contains_key(file_name) || n.packages.contains_key(file_name))
}

/// The channel's writer lock (`.scivision/lock`), held while a package is placed and the index
/// rewritten: two builds, converts or indexes into one channel take turns, so the last index
/// sees every package and `.scivision/outputs.json` loses no update.
pub struct ChannelLock(#[allow(dead_code)] std::fs::File);

/// Takes the channel's writer lock, waiting for another writer to finish.
pub async fn lock(dir: &Path) -> Result<ChannelLock, ChannelError> {
    let path = dir.join(".scivision/lock");
    crate::atomic::lock_async(&path)
        .await
        .map(ChannelLock)
        .map_err(|source| ChannelError::Io { path, source })
}

/// [`index`] for a caller that holds the channel's [`lock`]. Also sweeps the `.partial-*` files
/// a killed writer left: under the lock nobody else is writing one.
pub async fn index_locked(
    dir: &Path,
    subdir: Option<&str>,
    force: bool,
) -> Result<(), ChannelError> {
    let err = |cause: crate::message::Cause| ChannelError::Index {
        dir: dir.to_path_buf(),
        source: cause,
    };
    fs_err::create_dir_all(dir.join("noarch")).map_err(|source| ChannelError::Io {
        path: dir.join("noarch"),
        source,
    })?;
    sweep(dir)?;
    let deprecations = read_deprecations(dir)?;
    let all = packages(dir)?;
    let patch = patch::write_patch_package(dir, &all, &deprecations)?;
    let notices = deprecations
        .iter()
        .map(|d| ChannelNotice {
            id: format!("deprecated-{}", d.spec()),
            message: format!("{} is deprecated: {}", d.spec(), d.reason),
            level: ChannelNoticeLevel::Warning,
            created_at: None,
            expires_at: None,
            interval: None,
        })
        .collect();
    let target_platform = subdir
        .map(Subdir::from_str)
        .transpose()
        .map_err(|e| err(e.into()))?;
    let config = IndexFsConfig {
        channel: dir.to_path_buf(),
        target_platform,
        repodata_patch: patch,
        write_zst: true,
        write_shards: true,
        repodata_revisions: Vec::new(),
        package_revision_assignment: Default::default(),
        force,
        max_parallel: 4,
        multi_progress: None,
    };
    let metadata = ChannelMetadata {
        notices: Some(notices),
        ..ChannelMetadata::default()
    };
    // channeldata.json first: the index is what a rerun checks (`lists`: repodata.json, then the
    // sharded index the indexer writes last) to call a package published, so a kill before the
    // index is complete leaves the package unlisted and indexed again (with channeldata.json)
    // by the next build.
    write_channeldata(dir, &all, &deprecations)?;
    rattler_index::index_fs_with_channel_metadata(config, metadata)
        .await
        .map_err(|e| err(e.into()))?;
    // A subdir-only index leaves noarch as it was; make sure it exists in any case.
    if target_platform.is_some_and(|t| t != Subdir::NoArch)
        && !dir.join("noarch/repodata.json").exists()
    {
        Box::pin(index_locked(dir, Some("noarch"), false)).await?;
    }
    Ok(())
}

/// Removes `.partial-*` files from the channel's root, its subdirs and `.scivision`, and what
/// a killed indexer left in its write folder (`.tmp`).
fn sweep(dir: &Path) -> Result<(), ChannelError> {
    let tmp = dir.join(".tmp");
    crate::atomic::sweep_files(&tmp, |_| true)
        .map_err(|source| ChannelError::Io { path: tmp, source })?;
    let mut dirs = vec![dir.to_path_buf(), dir.join(".scivision")];
    if let Ok(entries) = std::fs::read_dir(dir) {
        dirs.extend(
            entries
                .filter_map(Result::ok)
                .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                .map(|e| e.path()),
        );
    }
    for d in dirs {
        crate::atomic::sweep_partials(&d).map_err(|source| ChannelError::Io { path: d, source })?;
    }
    Ok(())
}

/// channeldata.json: one entry per package name with its newest version, subdirs and about
/// fields (scivision's model metadata included, under `scivision`).
fn write_channeldata(
    dir: &Path,
    all: &[(PathBuf, IndexJson)],
    deprecations: &[Deprecation],
) -> Result<(), ChannelError> {
    let mut packages: BTreeMap<String, serde_json::Map<String, serde_json::Value>> =
        BTreeMap::new();
    let mut newest: BTreeMap<String, (rattler_conda_types::VersionWithSource, PathBuf)> =
        BTreeMap::new();
    let mut subdirs_all: BTreeSet<String> = BTreeSet::new();
    let mut subdirs_of: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (path, index) in all {
        let name = index.name.as_normalized().to_string();
        let subdir = path
            .parent()
            .and_then(Path::file_name)
            .map(|s| s.to_string_lossy().to_string())
            .unwrap_or_default();
        subdirs_all.insert(subdir.clone());
        subdirs_of.entry(name.clone()).or_default().insert(subdir);
        let replace = newest.get(&name).is_none_or(|(v, _)| index.version > *v);
        if replace {
            newest.insert(name, (index.version.clone(), path.clone()));
        }
    }
    for (name, (version, path)) in &newest {
        let mut entry = serde_json::Map::new();
        entry.insert("version".into(), json!(version.to_string()));
        entry.insert(
            "subdirs".into(),
            json!(subdirs_of.get(name).cloned().unwrap_or_default()),
        );
        if let Ok(about) = rattler_package_streaming::seek::read_package_file::<AboutJson>(path) {
            if let Some(s) = about.summary {
                entry.insert("summary".into(), json!(s));
            }
            if let Some(l) = about.license {
                entry.insert("license".into(), json!(l));
            }
            if let Some(h) = about.home.first() {
                entry.insert("home".into(), json!(h.to_string()));
            }
            if let Some(sv) = about.extra.get("scivision") {
                entry.insert("scivision".into(), sv.clone());
            }
        }
        let reasons: Vec<_> = deprecations
            .iter()
            .filter(|d| &d.name == name)
            .map(|d| json!({"version": d.version, "reason": d.reason}))
            .collect();
        if !reasons.is_empty() {
            entry.insert("deprecated".into(), json!(reasons));
        }
        packages.insert(name.clone(), entry);
    }
    let data = json!({"channeldata_version": 1, "packages": packages, "subdirs": subdirs_all});
    atomic_write(
        &dir.join("channeldata.json"),
        (serde_json::to_string_pretty(&data).unwrap_or_default() + "\n").as_bytes(),
    )
}

fn atomic_write(path: &Path, bytes: &[u8]) -> Result<(), ChannelError> {
    crate::atomic::write(path, bytes).map_err(|source| ChannelError::Io {
        path: path.to_path_buf(),
        source,
    })
}
