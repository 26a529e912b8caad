//! The repodata patch package (`noarch/scivision-repodata-patches-*.conda`): conda's way to give
//! deprecated builds a `track_features` entry without touching the builds themselves.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use rattler_conda_types::package::IndexJson;
use serde_json::json;

use super::{ChannelError, Deprecation, DEPRECATED_FEATURE, PATCH_PACKAGE};
use crate::package::{self, PackageMeta};

/// Per subdir, per key (`packages` or `packages.conda`), the patch of each deprecated file.
type Patches = BTreeMap<String, serde_json::Map<String, serde_json::Value>>;

/// Writes (or removes) the patch package; returns its file name for the indexer.
pub(super) fn write_patch_package(
    dir: &Path,
    all: &[(PathBuf, IndexJson)],
    deprecations: &[Deprecation],
) -> Result<Option<String>, ChannelError> {
    let noarch = dir.join("noarch");
    // Old patch packages go: only the current one may be in the channel.
    let old = old_patch_packages(&noarch)?;
    if deprecations.is_empty() {
        for p in old {
            fs_err::remove_file(&p).map_err(|source| ChannelError::Io {
                path: p.clone(),
                source,
            })?;
        }
        return Ok(None);
    }
    let per_subdir = patches(all, deprecations);
    let work = tempfile::tempdir().map_err(|source| ChannelError::Io {
        path: std::env::temp_dir(),
        source,
    })?;
    let root = work.path().join("pkg");
    write_instructions(&root, all, &per_subdir)?;
    let meta = patch_meta(deprecations, &per_subdir);
    let file_name = meta.file_name();
    if noarch.join(&file_name).exists() {
        return Ok(Some(file_name));
    }
    package::write_package(&root, &meta, &noarch)?;
    for p in old {
        let _ = fs_err::remove_file(&p);
    }
    Ok(Some(file_name))
}

/// The patch packages now in `noarch`.
fn old_patch_packages(noarch: &Path) -> Result<Vec<PathBuf>, ChannelError> {
    Ok(fs_err::read_dir(noarch)
        .map_err(|source| ChannelError::Io {
            path: noarch.to_path_buf(),
            source,
        })?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with(PATCH_PACKAGE))
        })
        .collect())
}

/// The deprecated feature added to the track features of every file a deprecation matches.
fn patches(all: &[(PathBuf, IndexJson)], deprecations: &[Deprecation]) -> Patches {
    let mut per_subdir = Patches::new();
    for (path, index) in all {
        if deprecations.iter().any(|d| d.matches(index)) {
            let subdir = path
                .parent()
                .and_then(Path::file_name)
                .map(|s| s.to_string_lossy().to_string())
                .unwrap_or_default();
            let file = path
                .file_name()
                .map(|s| s.to_string_lossy().to_string())
                .unwrap_or_default();
            let mut features: BTreeSet<String> = index.track_features.iter().cloned().collect();
            features.insert(DEPRECATED_FEATURE.to_string());
            let key = if file.ends_with(".conda") {
                "packages.conda"
            } else {
                "packages"
            };
            per_subdir
                .entry(subdir)
                .or_default()
                .entry(key)
                .or_insert_with(|| json!({}))
                .as_object_mut()
                .map(|m| m.insert(file, json!({"track_features": features.into_iter().collect::<Vec<_>>().join(" ")})));
        }
    }
    per_subdir
}

/// One `patch_instructions.json` under `root` for every subdir of the channel (and noarch).
fn write_instructions(
    root: &Path,
    all: &[(PathBuf, IndexJson)],
    per_subdir: &Patches,
) -> Result<(), ChannelError> {
    let mut subdirs: BTreeSet<String> = all
        .iter()
        .filter_map(|(p, _)| {
            p.parent()
                .and_then(Path::file_name)
                .map(|s| s.to_string_lossy().to_string())
        })
        .collect();
    subdirs.insert("noarch".into());
    for s in &subdirs {
        let instructions = json!({
            "patch_instructions_version": 1,
            "packages": per_subdir.get(s).and_then(|m| m.get("packages")).cloned().unwrap_or(json!({})),
            "packages.conda": per_subdir.get(s).and_then(|m| m.get("packages.conda")).cloned().unwrap_or(json!({})),
            "remove": [],
            "revoke": [],
        });
        let file = root.join(s).join("patch_instructions.json");
        fs_err::create_dir_all(file.parent().unwrap_or(root)).map_err(|source| {
            ChannelError::Io {
                path: file.clone(),
                source,
            }
        })?;
        fs_err::write(
            &file,
            serde_json::to_string_pretty(&instructions).unwrap_or_default(),
        )
        .map_err(|source| ChannelError::Io {
            path: file.clone(),
            source,
        })?;
    }
    Ok(())
}

/// The patch package's metadata: the version counts deprecations; the build hash identifies
/// the exact content.
fn patch_meta(deprecations: &[Deprecation], per_subdir: &Patches) -> PackageMeta {
    let content =
        serde_json::to_string(&deprecations).unwrap_or_default() + &format!("{per_subdir:?}");
    PackageMeta {
        name: PATCH_PACKAGE.into(),
        version: format!("0.{}", deprecations.len()),
        build: format!("h{}_0", crate::package::short_hash(&content)),
        subdir: "noarch".into(),
        noarch: Some("generic".into()),
        about: json!({"summary": "repodata patches that mark deprecated scivision packages"}),
        ..PackageMeta::default()
    }
}
