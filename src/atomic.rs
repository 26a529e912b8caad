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

/// An exclusive lock on `path` (created with its folder if needed), held until the file is
/// dropped: the kernel releases it when the process dies, so a killed holder blocks nobody.
pub fn lock(path: &Path) -> io::Result<std::fs::File> {
    if let Some(dir) = path.parent() {
        fs_err::create_dir_all(dir)?;
    }
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)?;
    file.lock()?;
    Ok(file)
}

/// [`lock`] from async code, waiting on a blocking thread.
pub async fn lock_async(path: &Path) -> io::Result<std::fs::File> {
    let owned = path.to_path_buf();
    tokio::task::spawn_blocking(move || lock(&owned))
        .await
        .map_err(io::Error::other)?
}

/// Renames the folder `dir` to `.trash-NAME-PID` beside it (one step: nothing sees it half
/// removed), then removes it. What a killed process leaves is swept by name (environments'
/// `clean_leftovers`, `cache clean`).
pub fn discard(dir: &Path) -> io::Result<()> {
    let Some(name) = dir.file_name() else {
        return Ok(());
    };
    let trash = dir.with_file_name(format!(
        ".trash-{}-{}",
        name.to_string_lossy(),
        std::process::id()
    ));
    fs_err::rename(dir, &trash)?;
    fs_err::remove_dir_all(&trash)
}

/// Removes the `.partial-*` files a killed writer left in `dir`. Only safe while holding the
/// lock every writer into `dir` takes.
pub fn sweep_partials(dir: &Path) -> io::Result<()> {
    sweep_files(dir, |name| name.starts_with(".partial-"))
}

/// Removes the files (not folders) directly in `dir` whose name `leftover` picks; a missing
/// `dir` has none.
pub fn sweep_files(dir: &Path, leftover: impl Fn(&str) -> bool) -> io::Result<()> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(());
    };
    for entry in entries.filter_map(Result::ok) {
        if leftover(&entry.file_name().to_string_lossy())
            && entry.file_type().is_ok_and(|t| t.is_file())
        {
            fs_err::remove_file(entry.path())?;
        }
    }
    Ok(())
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

    #[test]
    fn sweep_removes_only_partial_files() {
        let dir = tempfile::tempdir().unwrap();
        fs_err::write(dir.path().join(".partial-abc"), b"half").unwrap();
        fs_err::write(dir.path().join("pkg.conda"), b"whole").unwrap();
        sweep_partials(dir.path()).unwrap();
        let left: Vec<_> = fs_err::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(left, ["pkg.conda"]);
    }

    #[test]
    fn a_lock_is_exclusive_across_open_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/x.lock");
        let held = lock(&path).unwrap();
        let other = std::fs::File::open(&path).unwrap();
        assert!(other.try_lock().is_err(), "a second lock must wait");
        drop(held);
        assert!(other.try_lock().is_ok());
    }
}
