//! Checks of the wheels the PyPI half installs, beyond uv's hash check of what it downloads:
//! a wheel file whose entries would leave the prefix is refused before uv unzips it (uv would
//! skip those entries with a warning and install the rest, where pip refuses the wheel), and an
//! unzipped wheel in uv's cache is compared with its RECORD before it is linked (prefixes
//! hardlink that cache, so an edit in one environment would reach every other).

use std::io::Read;
use std::path::{Component, Path, PathBuf};

use base64::Engine;
use sha2::{Digest, Sha256};

/// Why a wheel, or its unzipped copy, cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The entry (path inside the wheel).
    pub entry: String,
    /// Why.
    pub reason: String,
    /// The wheel itself is hostile (a path leaving the prefix): unzipping it again cannot help.
    pub hostile: bool,
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
                hostile: true,
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
    // A RECORD that does not parse cannot be checked, and uv's installer (the same CSV reader)
    // would fail on it anyway: refused here, before anything is unzipped.
    let rows = match crate::record::parse(record.as_deref().unwrap_or_default()) {
        Ok(rows) => rows,
        Err(e) => {
            return Ok(Some(Refusal {
                entry: "RECORD".into(),
                reason: format!("does not parse: {e}"),
                hostile: true,
            }))
        }
    };
    Ok(rows.into_iter().find_map(|row| {
        escapes(&row.path).map(|reason| Refusal {
            entry: row.path,
            reason: format!("RECORD lists it: {reason}"),
            hostile: true,
        })
    }))
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

/// What scivision saw of an unzipped wheel the first time: a digest of every file's size and
/// mtime (cheap to recompute) and every file's sha256 (to name the file that changed).
#[derive(serde::Serialize, serde::Deserialize)]
struct Stamp {
    signature: String,
    files: std::collections::BTreeMap<String, String>,
}

/// Checks the unzipped wheel at `dir` (in uv's cache) before it is linked: every path its
/// RECORD lists stays inside the prefix and is a plain file, and no file changed since
/// scivision first saw it. The first time, the files are compared with RECORD's hashes; then a
/// stamp in `stamps` keeps their size+mtime digest (later checks only `stat`, as the conda
/// package cache check does) and their hashes; `full` hashes every time.
///
/// `Err` with `hostile` set is a wheel to refuse; otherwise the entry should be unzipped again
/// (and then [`accept_unzipped`]).
pub fn check_unzipped(dir: &Path, stamps: &Path, full: bool) -> Result<(), Refusal> {
    let files = listed_files(dir)?;
    let signature = signature(dir, &files)?;
    let stamp_file = stamp_path(dir, stamps);
    let stamp: Option<Stamp> = fs_err::read_to_string(&stamp_file)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok());
    if !full && stamp.as_ref().is_some_and(|s| s.signature == signature) {
        return Ok(());
    }
    let actual = hashes(dir, &files)?;
    for (path, record_digest) in &files {
        let now = &actual[path];
        let expected = match &stamp {
            Some(s) => s.files.get(path).cloned(),
            None => record_digest.clone(),
        };
        if let Some(expected) = expected.filter(|e| e.trim_end_matches('=') != now) {
            let against = if stamp.is_some() {
                "when first unzipped"
            } else {
                "in RECORD"
            };
            return Err(Refusal {
                entry: path.clone(),
                reason: format!("sha256 {now}, {expected} {against}"),
                hostile: false,
            });
        }
    }
    write_stamp(&stamp_file, signature, actual);
    Ok(())
}

/// Takes a freshly unzipped wheel as it is and stamps it, returning where its RECORD disagrees
/// with its files (a wheel published with a stale RECORD, which pip and uv install anyway).
/// Paths that leave the prefix are still refused.
pub fn accept_unzipped(dir: &Path, stamps: &Path) -> Result<Option<Refusal>, Refusal> {
    let files = listed_files(dir)?;
    let signature = signature(dir, &files)?;
    let actual = hashes(dir, &files)?;
    let disagreement = files.iter().find_map(|(path, digest)| {
        let digest = digest.as_deref()?.trim_end_matches('=');
        (digest != actual[path]).then(|| Refusal {
            entry: path.clone(),
            reason: format!("sha256 {}, {digest} in RECORD", actual[path]),
            hostile: false,
        })
    });
    write_stamp(&stamp_path(dir, stamps), signature, actual);
    Ok(disagreement)
}

/// Every file RECORD lists with its sha256 (`None` for files listed without one, RECORD
/// itself), refusing paths that leave the prefix and anything but plain files.
fn listed_files(dir: &Path) -> Result<Vec<(String, Option<String>)>, Refusal> {
    let refuse = |entry: &str, reason: String, hostile: bool| Refusal {
        entry: entry.to_string(),
        reason,
        hostile,
    };
    let record = record_of(dir).ok_or_else(|| refuse("RECORD", "missing".into(), false))?;
    let text =
        fs_err::read_to_string(&record).map_err(|e| refuse("RECORD", e.to_string(), false))?;
    // Unzipping again cannot mend a RECORD that does not parse.
    let rows = crate::record::parse(&text)
        .map_err(|e| refuse("RECORD", format!("does not parse: {e}"), true))?;
    let mut files = Vec::new();
    for row in &rows {
        let path = row.path.as_str();
        if let Some(reason) = escapes(path) {
            return Err(refuse(path, format!("RECORD lists it: {reason}"), true));
        }
        let digest = crate::record::sha256(row).map(str::to_string);
        let meta = fs_err::symlink_metadata(dir.join(path));
        match meta {
            Ok(m) if m.file_type().is_file() => files.push((path.to_string(), digest)),
            Ok(_) => return Err(refuse(path, "not a plain file".into(), true)),
            // Listed without a hash and absent (RECORD's own line in some wheels): nothing to
            // check.
            Err(_) if digest.is_none() => {}
            Err(_) => return Err(refuse(path, "missing".into(), false)),
        }
    }
    Ok(files)
}

/// [`crate::integrity::signature`] of every listed file.
fn signature(dir: &Path, files: &[(String, Option<String>)]) -> Result<String, Refusal> {
    let rels: Vec<String> = files.iter().map(|(path, _)| path.clone()).collect();
    crate::integrity::signature(dir, &rels).map_err(|(entry, e)| Refusal {
        entry,
        reason: e.to_string(),
        hostile: false,
    })
}

/// Every listed file's sha256 as RECORD writes it (urlsafe base64 without padding), read in
/// chunks: a wheel may hold files of gigabytes.
fn hashes(
    dir: &Path,
    files: &[(String, Option<String>)],
) -> Result<std::collections::BTreeMap<String, String>, Refusal> {
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let mut out = std::collections::BTreeMap::new();
    let mut buffer = vec![0u8; 1 << 16];
    for (path, _) in files {
        let failed = |e: std::io::Error| Refusal {
            entry: path.clone(),
            reason: e.to_string(),
            hostile: false,
        };
        let mut file = fs_err::File::open(dir.join(path)).map_err(failed)?;
        let mut hasher = Sha256::new();
        loop {
            let n = file.read(&mut buffer).map_err(failed)?;
            if n == 0 {
                break;
            }
            hasher.update(&buffer[..n]);
        }
        out.insert(path.clone(), b64.encode(hasher.finalize()));
    }
    Ok(out)
}

fn stamp_path(dir: &Path, stamps: &Path) -> PathBuf {
    stamps.join(hex::encode(Sha256::digest(
        dir.to_string_lossy().as_bytes(),
    )))
}

/// A stamp that cannot be written only means hashing again next time.
fn write_stamp(path: &Path, signature: String, files: std::collections::BTreeMap<String, String>) {
    if let Ok(text) = serde_json::to_string(&Stamp { signature, files }) {
        let _ = crate::atomic::write(path, text.as_bytes());
    }
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
        crate::atomic::discard(dir)?;
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

    /// An unzipped wheel `pkg` with one module and a RECORD giving `record_text` for it.
    fn unzipped(root: &Path, content: &[u8], record_digest_of: &[u8]) -> PathBuf {
        let wheel = root.join("w");
        fs_err::create_dir_all(wheel.join("pkg-1.0.dist-info")).unwrap();
        fs_err::create_dir_all(wheel.join("pkg")).unwrap();
        fs_err::write(wheel.join("pkg/mod.py"), content).unwrap();
        let digest = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(Sha256::digest(record_digest_of));
        fs_err::write(
            wheel.join("pkg-1.0.dist-info/RECORD"),
            format!("pkg/mod.py,sha256={digest},6\npkg-1.0.dist-info/RECORD,,\n"),
        )
        .unwrap();
        wheel
    }

    #[test]
    fn an_edited_file_is_found_and_a_clean_one_stamped() {
        let dir = tempfile::tempdir().unwrap();
        let stamps = tempfile::tempdir().unwrap();
        let wheel = unzipped(dir.path(), b"x = 1\n", b"x = 1\n");
        assert_eq!(check_unzipped(&wheel, stamps.path(), false), Ok(()));
        assert_eq!(fs_err::read_dir(stamps.path()).unwrap().count(), 1);
        fs_err::write(wheel.join("pkg/mod.py"), b"x = 2\n").unwrap();
        let refused = check_unzipped(&wheel, stamps.path(), false).unwrap_err();
        assert_eq!(refused.entry, "pkg/mod.py");
        assert!(
            refused.reason.contains("first unzipped") && !refused.hostile,
            "{refused:?}"
        );
    }

    #[test]
    fn a_stale_record_is_accepted_once_unzipped_again_and_then_guarded() {
        let dir = tempfile::tempdir().unwrap();
        let stamps = tempfile::tempdir().unwrap();
        let wheel = unzipped(dir.path(), b"x = 1\n", b"stale\n");
        let first = check_unzipped(&wheel, stamps.path(), false).unwrap_err();
        assert!(first.reason.contains("in RECORD"), "{first:?}");
        let disagreement = accept_unzipped(&wheel, stamps.path()).unwrap();
        assert_eq!(disagreement.map(|d| d.entry), Some("pkg/mod.py".into()));
        assert_eq!(check_unzipped(&wheel, stamps.path(), true), Ok(()));
        fs_err::write(wheel.join("pkg/mod.py"), b"x = 3\n").unwrap();
        assert!(check_unzipped(&wheel, stamps.path(), false).is_err());
    }

    #[test]
    fn record_paths_outside_the_wheel_or_not_plain_files_are_hostile() {
        let dir = tempfile::tempdir().unwrap();
        let stamps = tempfile::tempdir().unwrap();
        let wheel = unzipped(dir.path(), b"x = 1\n", b"x = 1\n");
        let record = wheel.join("pkg-1.0.dist-info/RECORD");
        let text = fs_err::read_to_string(&record).unwrap();
        fs_err::write(&record, format!("{text}../../etc/passwd,sha256=x,0\n")).unwrap();
        let refused = check_unzipped(&wheel, stamps.path(), false).unwrap_err();
        assert!(
            refused.hostile && refused.entry == "../../etc/passwd",
            "{refused:?}"
        );
        fs_err::write(&record, format!("{text}pkg/zero,sha256=x,0\n")).unwrap();
        std::os::unix::fs::symlink("/dev/zero", wheel.join("pkg/zero")).unwrap();
        let refused = check_unzipped(&wheel, stamps.path(), false).unwrap_err();
        assert!(
            refused.hostile && refused.entry == "pkg/zero",
            "{refused:?}"
        );
        // A row that does not parse leaves the RECORD unchecked: refused, not unzipped again.
        fs_err::write(&record, format!("{text}a-row-without-its-fields\n")).unwrap();
        let refused = check_unzipped(&wheel, stamps.path(), false).unwrap_err();
        assert!(refused.hostile && refused.entry == "RECORD", "{refused:?}");
    }

    /// A wheel file with safe entries whose RECORD ends with `rows`.
    fn wheel_file(dir: &Path, rows: &str) -> PathBuf {
        use std::io::Write;
        let path = dir.join("pkg-1.0-py3-none-any.whl");
        let mut zip = zip::ZipWriter::new(fs_err::File::create(&path).unwrap());
        let options = zip::write::SimpleFileOptions::default();
        zip.start_file("pkg/__init__.py", options).unwrap();
        zip.write_all(b"x = 1\n").unwrap();
        zip.start_file("pkg-1.0.dist-info/RECORD", options).unwrap();
        zip.write_all(format!("pkg/__init__.py,,\n{rows}").as_bytes())
            .unwrap();
        zip.finish().unwrap();
        path
    }

    #[test]
    fn a_wheel_whose_record_leaves_the_prefix_or_does_not_parse_is_refused_before_unzipping() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(
            hostile_entry(&wheel_file(dir.path(), "pkg-1.0.dist-info/RECORD,,\n")).unwrap(),
            None
        );
        let refused = hostile_entry(&wheel_file(dir.path(), "../../x.py,sha256=AA,1\n"))
            .unwrap()
            .unwrap();
        assert!(
            refused.hostile && refused.entry == "../../x.py",
            "{refused:?}"
        );
        // The escaping row beside one that does not parse: the whole RECORD is refused.
        let refused = hostile_entry(&wheel_file(
            dir.path(),
            "../../x.py,sha256=AA,1\na-row-without-its-fields\n",
        ))
        .unwrap()
        .unwrap();
        assert!(refused.hostile && refused.entry == "RECORD", "{refused:?}");
    }
}
