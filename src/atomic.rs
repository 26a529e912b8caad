//! Atomic file placement: write or copy beside the target, then rename over it, so a reader (an
//! installer, an HTTP server, a second scivision) never sees a partial file, and a crash leaves
//! at most a `.partial-*` temp file that nothing reads.

use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// A temp file beside `target`, in a folder that is created if needed.
pub fn temp_beside(target: &Path) -> io::Result<tempfile::NamedTempFile> {
    let dir = target.parent().unwrap_or(Path::new("."));
    fs_err::create_dir_all(dir)?;
    tempfile::Builder::new()
        .prefix(".partial-")
        .tempfile_in(dir)
}

/// Renames a finished temp file onto `target`, world-readable like any published file.
pub fn persist(tmp: tempfile::NamedTempFile, target: &Path) -> io::Result<()> {
    fs_err::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o644))?;
    tmp.persist(target).map_err(|e| e.error)?;
    Ok(())
}

/// Writes `bytes` to `target` atomically.
pub fn write(target: &Path, bytes: &[u8]) -> io::Result<()> {
    let tmp = temp_beside(target)?;
    fs_err::write(tmp.path(), bytes)?;
    persist(tmp, target)
}

/// Copies `from` to `target` atomically.
pub fn copy(from: &Path, target: &Path) -> io::Result<()> {
    let tmp = temp_beside(target)?;
    fs_err::copy(from, tmp.path())?;
    persist(tmp, target)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_and_copy_leave_only_complete_readable_files() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("sub/a.txt");
        write(&a, b"hello").unwrap();
        let b = dir.path().join("other/b.txt");
        copy(&a, &b).unwrap();
        assert_eq!(fs_err::read(&b).unwrap(), b"hello");
        let mode = fs_err::metadata(&b).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o644);
        let leftovers: Vec<_> = walkdir::WalkDir::new(dir.path())
            .into_iter()
            .filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().starts_with(".partial-"))
            .collect();
        assert!(leftovers.is_empty());
    }
}
