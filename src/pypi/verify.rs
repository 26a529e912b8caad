//! Checks of the wheels the PyPI half installs, beyond uv's hash check of what it downloads:
//! a wheel file whose entries would leave the prefix is refused before uv unzips it (uv would
//! skip those entries with a warning and install the rest, where pip refuses the wheel), and an
//! unzipped wheel in uv's cache is compared with its RECORD before it is linked (prefixes
//! hardlink that cache, so an edit in one environment would reach every other).

use std::io::Read;
use std::path::{Component, Path, PathBuf};
use std::time::UNIX_EPOCH;

use base64::Engine;
use sha2::{Digest, Sha256};

/// Why a wheel, or its unzipped copy, cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The entry (path inside the wheel).
    pub entry: String,
    /// Why.
    pub reason: String,
}

/// An entry of a wheel that would land outside the prefix: absolute, with `..`, or a RECORD
/// line naming such a path. `None` when every entry stays inside.
pub fn hostile_entry(wheel: &Path) -> std::io::Result<Option<Refusal>> {
    let file = fs_err::File::open(wheel)?;
    let mut archive = zip::ZipArchive::new(file).map_err(std::io::Error::other)?;
    let mut record = None;
    for i in 0..archive.len() {
        let mut entry = archive.by_index(i).map_err(std::io::Error::other)?;
        let name = entry.name().to_string();
        if let Some(reason) = escapes(&name) {
            return Ok(Some(Refusal {
                entry: name,
                reason,
            }));
        }
        let is_record = name.ends_with(".dist-info/RECORD") && name.matches('/').count() == 1;
        if is_record {
            let mut text = String::new();
            // A RECORD over 64 MiB is not a RECORD.
            entry.by_ref().take(64 << 20).read_to_string(&mut text)?;
            record = Some(text);
        }
    }
    for line in record.as_deref().unwrap_or_default().lines() {
        let (path, _, _) = record_line(line);
        if let Some(reason) = escapes(path) {
            return Ok(Some(Refusal {
                entry: path.to_string(),
                reason: format!("RECORD lists it: {reason}"),
            }));
        }
    }
    Ok(None)
}

/// Why `path` (inside a wheel) would leave the prefix, if it would.
fn escapes(path: &str) -> Option<String> {
    let p = Path::new(path);
    if p.is_absolute() || path.starts_with('\\') || path.get(1..3) == Some(":\\") {
        return Some("an absolute path".into());
    }
    if p.components().any(|c| matches!(c, Component::ParentDir)) || path.contains("..\\") {
        return Some("a path with `..` that climbs out of the prefix".into());
    }
    None
}

/// A RECORD line as (path, hash, size); the path may hold commas, the other two cannot.
fn record_line(line: &str) -> (&str, &str, &str) {
    let mut parts = line.rsplitn(3, ',');
    let size = parts.next().unwrap_or_default();
    let hash = parts.next().unwrap_or_default();
    let path = parts.next().unwrap_or_default();
    (path.trim_matches('"'), hash, size)
}

/// Compares the unzipped wheel at `dir` (in uv's cache) with its RECORD: every listed file
/// present with its size and sha256. A digest of every file's size and mtime is kept in
/// `stamps` once it passed, so later checks only `stat` (as the conda package cache check
/// does); `full` hashes every file anyway.
pub fn check_unzipped(dir: &Path, stamps: &Path, full: bool) -> Result<(), Refusal> {
    let refuse = |entry: &str, reason: String| Refusal {
        entry: entry.to_string(),
        reason,
    };
    let record = record_of(dir).ok_or_else(|| refuse("RECORD", "missing".into()))?;
    let text = fs_err::read_to_string(&record).map_err(|e| refuse("RECORD", e.to_string()))?;
    let mut files = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let (path, hash, size) = record_line(line);
        let Some(digest) = hash.strip_prefix("sha256=") else {
            continue; // RECORD itself, and files listed without a hash
        };
        // Only what uv unzipped into the archive (scripts and data live there as well).
        files.push((
            path.to_string(),
            digest.to_string(),
            size.parse::<u64>().ok(),
        ));
    }
    let mut signature = Sha256::new();
    for (path, _, _) in &files {
        let meta = fs_err::metadata(dir.join(path)).map_err(|_| refuse(path, "missing".into()))?;
        let mtime = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_nanos());
        signature.update(format!("{path}\0{}\0{mtime}\n", meta.len()).as_bytes());
    }
    let signature = hex::encode(signature.finalize());
    let stamp = stamps.join(hex::encode(Sha256::digest(
        dir.to_string_lossy().as_bytes(),
    )));
    if !full && fs_err::read_to_string(&stamp).is_ok_and(|s| s.trim() == signature) {
        return Ok(());
    }
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    for (path, digest, size) in &files {
        let file = dir.join(path);
        let len = fs_err::metadata(&file).map(|m| m.len()).unwrap_or(u64::MAX);
        if let Some(size) = size.filter(|s| *s != len) {
            return Err(refuse(path, format!("{len} bytes, RECORD says {size}")));
        }
        let bytes = fs_err::read(&file).map_err(|e| refuse(path, e.to_string()))?;
        let actual = b64.encode(Sha256::digest(&bytes));
        if actual != digest.trim_end_matches('=') {
            return Err(refuse(
                path,
                format!("sha256 {actual} does not match RECORD's {digest}"),
            ));
        }
    }
    // A stamp that cannot be written only means hashing again next time.
    let _ = crate::atomic::write(&stamp, signature.as_bytes());
    Ok(())
}

/// The `*.dist-info/RECORD` at the top of an unzipped wheel.
fn record_of(dir: &Path) -> Option<PathBuf> {
    fs_err::read_dir(dir)
        .ok()?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|e| e == "dist-info"))
        .map(|p| p.join("RECORD"))
        .filter(|p| p.is_file())
}

/// Removes a tampered unzipped wheel from uv's cache (`root`), with the pointers to it that
/// uv keeps per wheel: uv trusts a pointer to a local wheel's archive without looking for the
/// archive, so both must go for it to unzip or fetch the wheel again.
pub fn evict(dir: &Path, root: &Path) -> std::io::Result<()> {
    let Some(id) = dir.file_name().map(|n| n.to_string_lossy().into_owned()) else {
        return Ok(());
    };
    if dir.exists() {
        let trash = dir.with_file_name(format!(".trash-{id}-{}", std::process::id()));
        fs_err::rename(dir, &trash)?;
        fs_err::remove_dir_all(&trash)?;
    }
    let pointers = fs_err::read_dir(root)?
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with("wheels-v"))
        .flat_map(|e| {
            walkdir::WalkDir::new(e.path())
                .into_iter()
                .filter_map(Result::ok)
        })
        .filter(|e| e.file_type().is_file())
        .filter(|e| e.metadata().is_ok_and(|m| m.len() < 1 << 20));
    for entry in pointers {
        let names_it = fs_err::read(entry.path())
            .is_ok_and(|b| b.windows(id.len()).any(|w| w == id.as_bytes()));
        if names_it {
            fs_err::remove_file(entry.path())?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_that_leave_the_prefix_are_named() {
        assert!(escapes("pkg/mod.py").is_none());
        assert!(escapes("pkg-1.0.data/scripts/tool").is_none());
        assert!(escapes("../../x.py").is_some());
        assert!(escapes("pkg-1.0.data/scripts/../../../../x").is_some());
        assert!(escapes("/etc/passwd").is_some());
        assert!(escapes("..\\x.py").is_some());
    }

    #[test]
    fn record_lines_keep_commas_in_paths() {
        assert_eq!(
            record_line("a,b.py,sha256=xyz,12"),
            ("a,b.py", "sha256=xyz", "12")
        );
        assert_eq!(
            record_line("x.dist-info/RECORD,,"),
            ("x.dist-info/RECORD", "", "")
        );
    }

    #[test]
    fn an_edited_file_is_found_and_a_clean_one_stamped() {
        let dir = tempfile::tempdir().unwrap();
        let stamps = tempfile::tempdir().unwrap();
        let wheel = dir.path().join("w");
        fs_err::create_dir_all(wheel.join("pkg-1.0.dist-info")).unwrap();
        fs_err::create_dir_all(wheel.join("pkg")).unwrap();
        fs_err::write(wheel.join("pkg/mod.py"), b"x = 1\n").unwrap();
        let digest =
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(b"x = 1\n"));
        fs_err::write(
            wheel.join("pkg-1.0.dist-info/RECORD"),
            format!("pkg/mod.py,sha256={digest},6\npkg-1.0.dist-info/RECORD,,\n"),
        )
        .unwrap();
        assert_eq!(check_unzipped(&wheel, stamps.path(), false), Ok(()));
        assert_eq!(fs_err::read_dir(stamps.path()).unwrap().count(), 1);
        fs_err::write(wheel.join("pkg/mod.py"), b"x = 2\n").unwrap();
        let refused = check_unzipped(&wheel, stamps.path(), false).unwrap_err();
        assert_eq!(refused.entry, "pkg/mod.py");
        assert!(refused.reason.contains("sha256"), "{refused:?}");
    }
}
