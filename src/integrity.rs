//! Tampered package caches are found before they are linked into a prefix.
//!
//! Validation mode, and why: rattler's package cache trusts an extracted package whose
//! `info/index.json` exists (`ValidationMode::Skip`); hashing every file on every create
//! (`Full`) would cost more than the whole warm create (the CPython package alone is 3,000
//! files). scivision hashes each cache entry once, against its `paths.json`, and stamps it with
//! a digest of every file's size and modification time; later creates compare only that
//! signature (a `stat` per file) and hash again when it changed. An edit through any hardlink
//! (a prefix shares inodes with the cache) changes the signature. What it cannot see is a
//! rewrite that restores size and mtime on purpose: `SCIVISION_VERIFY_CACHE=full` hashes every
//! file on every create for that threat.

use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use rattler_conda_types::package::{PackageFile, PathType, PathsJson};
use rattler_conda_types::RepoDataRecord;
use sha2::{Digest, Sha256};

/// The stamp inside a verified cache entry.
const STAMP: &str = "info/scivision-verified";

/// A cache entry whose files do not match its `paths.json`, or whose paths would leave the
/// prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Corrupt {
    /// The cache entry (`pkgs/name-version-build`).
    pub entry: PathBuf,
    /// The first file that differs, relative to the entry.
    pub file: String,
    /// How it differs.
    pub reason: String,
    /// The package itself is hostile (a path leaving the prefix, a file written through a
    /// symlink): fetching it again cannot help.
    pub hostile: bool,
}

/// Checks the cache entries of `records` that exist (absent ones are fetched fresh by the
/// installer) and returns the corrupt ones; `full` hashes every file (`SCIVISION_VERIFY_CACHE=full`)
/// instead of comparing sizes. Valid entries get their stamp.
pub fn check<'a>(
    records: impl IntoIterator<Item = &'a RepoDataRecord>,
    package_cache: &Path,
    full: bool,
) -> Vec<Corrupt> {
    use rayon::prelude::*;
    let entries: Vec<PathBuf> = records
        .into_iter()
        .filter(|r| crate::prefix::is_cached(r, package_cache))
        .map(|r| package_cache.join(crate::prefix::cache_dir_name(r)))
        .collect();
    // Entries are independent: checked side by side (python's and numpy's dominate).
    entries
        .par_iter()
        .filter_map(|entry| check_entry(entry, full).err())
        .collect()
}

fn check_entry(entry: &Path, full: bool) -> Result<(), Corrupt> {
    let corrupt = |file: &str, reason: String| Corrupt {
        entry: entry.to_path_buf(),
        file: file.to_string(),
        reason,
        hostile: false,
    };
    let paths = PathsJson::from_package_directory(entry)
        .map_err(|e| corrupt("info/paths.json", e.to_string()))?;
    check_paths(entry, &paths)?;
    let files: Vec<_> = paths
        .paths
        .iter()
        .filter(|p| p.path_type == PathType::HardLink)
        .collect();
    let rels: Vec<String> = files
        .iter()
        .map(|p| p.relative_path.to_string_lossy().into_owned())
        .collect();
    let signature = signature(entry, &rels).map_err(|(rel, _)| corrupt(&rel, "missing".into()))?;
    if !full && fs_err::read_to_string(entry.join(STAMP)).is_ok_and(|s| s.trim() == signature) {
        return Ok(());
    }
    for p in &files {
        let rel = p.relative_path.to_string_lossy();
        let path = entry.join(&p.relative_path);
        if let Some(size) = p.size_in_bytes {
            let len = fs_err::metadata(&path).map(|m| m.len()).unwrap_or(u64::MAX);
            if len != size {
                return Err(corrupt(
                    &rel,
                    format!("{len} bytes, paths.json says {size}"),
                ));
            }
        }
        // A symlink on disk where paths.json has a file could read from anywhere.
        if fs_err::symlink_metadata(&path).is_ok_and(|m| m.file_type().is_symlink()) {
            return Err(Corrupt {
                hostile: true,
                ..corrupt(&rel, "a symlink where paths.json lists a file".into())
            });
        }
        if let Some(expected) = p.sha256 {
            let bytes = fs_err::read(&path).map_err(|e| corrupt(&rel, e.to_string()))?;
            let actual = Sha256::digest(&bytes);
            if actual.as_slice() != expected.as_slice() {
                return Err(corrupt(
                    &rel,
                    format!(
                        "sha256 {} does not match paths.json's {}",
                        hex::encode(actual),
                        hex::encode(expected)
                    ),
                ));
            }
        }
    }
    // A stamp that cannot be written only means hashing again next time.
    let _ = crate::atomic::write(&entry.join(STAMP), signature.as_bytes());
    Ok(())
}

/// Every path must stay inside the prefix: relative, without `..`, not beneath one of the
/// package's own symlinks (a file written through it lands wherever the link points), and
/// symlinks must point inside the prefix.
fn check_paths(entry: &Path, paths: &PathsJson) -> Result<(), Corrupt> {
    let hostile = |file: &Path, reason: String| Corrupt {
        entry: entry.to_path_buf(),
        file: file.to_string_lossy().to_string(),
        reason,
        hostile: true,
    };
    let links: Vec<&Path> = paths
        .paths
        .iter()
        .filter(|p| p.path_type == PathType::SoftLink)
        .map(|p| p.relative_path.as_path())
        .collect();
    for p in &paths.paths {
        let rel = p.relative_path.as_path();
        if rel.as_os_str().is_empty()
            || rel
                .components()
                .any(|c| !matches!(c, std::path::Component::Normal(_)))
        {
            return Err(hostile(
                rel,
                "the path leaves the prefix (absolute or with `..`)".into(),
            ));
        }
        if let Some(link) = links.iter().find(|l| rel != **l && rel.starts_with(l)) {
            return Err(hostile(
                rel,
                format!(
                    "the file would be written through the package's symlink {}",
                    link.display()
                ),
            ));
        }
        if p.path_type == PathType::SoftLink {
            let target =
                fs_err::read_link(entry.join(rel)).map_err(|e| hostile(rel, e.to_string()))?;
            if !stays_inside(rel, &target) {
                return Err(hostile(
                    rel,
                    format!(
                        "the symlink points outside the prefix, to {}",
                        target.display()
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// Whether a symlink at `link` (relative to the prefix) pointing to `target` stays inside it.
fn stays_inside(link: &Path, target: &Path) -> bool {
    if target.is_absolute() {
        return false;
    }
    let mut depth: i64 = link.components().count() as i64 - 1;
    for c in target.components() {
        match c {
            std::path::Component::ParentDir => depth -= 1,
            std::path::Component::Normal(_) => depth += 1,
            std::path::Component::CurDir => {}
            _ => return false,
        }
        if depth < 0 {
            return false;
        }
    }
    true
}

/// A digest of the path, size and mtime of each of `rels` under `root`: what a cache check
/// compares with its stamp, one `stat` per file. `Err` names the file that cannot be read.
pub fn signature(root: &Path, rels: &[String]) -> Result<String, (String, std::io::Error)> {
    use rayon::prelude::*;
    use std::io::Write as _;
    // The stats run side by side (one package, CPython's, holds most of a create's files); the
    // digest takes them in order, so it does not depend on how they were scheduled.
    let stats: Vec<std::io::Result<(u64, u128)>> = rels
        .par_iter()
        .map(|rel| {
            let meta = fs_err::metadata(root.join(rel))?;
            let mtime = meta
                .modified()
                .ok()
                .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_nanos());
            Ok((meta.len(), mtime))
        })
        .collect();
    let mut signature = Sha256::new();
    for (rel, stat) in rels.iter().zip(stats) {
        let (len, mtime) = stat.map_err(|e| (rel.clone(), e))?;
        // Writing into a digest cannot fail.
        let _ = writeln!(signature, "{rel}\0{len}\0{mtime}");
    }
    Ok(hex::encode(signature.finalize()))
}

/// Moves a corrupt entry out of the way (so the installer fetches the package again) and
/// removes it.
pub fn evict(corrupt: &Corrupt) -> std::io::Result<()> {
    crate::atomic::discard(&corrupt.entry)
}

#[cfg(test)]
mod tests {
    use super::stays_inside;
    use std::path::Path;

    #[test]
    fn symlink_targets_must_stay_inside_the_prefix() {
        assert!(stays_inside(
            Path::new("lib/libz.so"),
            Path::new("libz.so.1")
        ));
        assert!(stays_inside(
            Path::new("bin/python"),
            Path::new("../lib/python3.11")
        ));
        assert!(!stays_inside(
            Path::new("bin/python"),
            Path::new("../../etc/passwd")
        ));
        assert!(!stays_inside(Path::new("a"), Path::new("/etc")));
        assert!(!stays_inside(Path::new("a"), Path::new("..")));
    }

    /// The stamps already in users' caches stay valid: the digest is of the same lines, in the
    /// order of `rels`, however the stats were scheduled; a missing file is named.
    #[test]
    fn the_signature_digests_each_file_in_order() {
        use sha2::{Digest, Sha256};
        let dir = tempfile::tempdir().unwrap();
        let rels: Vec<String> = (0..500).map(|i| format!("d{}/f{i}", i % 7)).collect();
        let mut expected = Sha256::new();
        for (i, rel) in rels.iter().enumerate() {
            let path = dir.path().join(rel);
            fs_err::create_dir_all(path.parent().unwrap()).unwrap();
            fs_err::write(&path, "x".repeat(i)).unwrap();
            let meta = fs_err::metadata(&path).unwrap();
            let mtime = meta
                .modified()
                .unwrap()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos();
            expected.update(format!("{rel}\0{i}\0{mtime}\n").as_bytes());
        }
        assert_eq!(
            super::signature(dir.path(), &rels).unwrap(),
            hex::encode(expected.finalize())
        );
        fs_err::remove_file(dir.path().join(&rels[321])).unwrap();
        let (missing, _) = super::signature(dir.path(), &rels).unwrap_err();
        assert_eq!(missing, rels[321]);
    }
}
