//! Recipe sources: downloads checked against their sha256 and kept in a cache keyed by it, local
//! paths, and git repositories, each laid out in the build's work directory.
//!
//! A file already in the cache under its sha256 is never downloaded again; a file whose bytes do
//! not match the recipe's hash never enters the cache.

use std::path::{Path, PathBuf};
use std::process::Command;

use url::Url;

use super::package::sha256_file;
use super::BuildError;
use crate::recipe::Source;

/// The source cache: `<dir>/<sha256>/<file name>`.
#[derive(Debug, Clone)]
pub struct SourceCache {
    dir: PathBuf,
}

impl SourceCache {
    /// A cache rooted at `dir` (created on first use).
    pub fn new(dir: PathBuf) -> Self {
        Self { dir }
    }

    /// The cache's folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where a file with this hash and name lives in the cache.
    pub fn entry(&self, sha256: &str, file_name: &str) -> PathBuf {
        self.dir.join(sha256).join(file_name)
    }

    /// Puts a local file into the cache after checking its hash (used to seed the cache from a
    /// mirror, e.g. Debian's copy of a tarball).
    pub fn seed(&self, file: &Path, sha256: &str, file_name: &str) -> Result<PathBuf, BuildError> {
        let actual = sha256_file(file).map_err(|source| BuildError::Io {
            path: file.to_path_buf(),
            source,
        })?;
        if actual != sha256 {
            return Err(BuildError::HashMismatch {
                what: file.display().to_string(),
                expected: sha256.to_string(),
                actual,
            });
        }
        let target = self.entry(sha256, file_name);
        crate::atomic::copy(file, &target).map_err(|source| BuildError::Io {
            path: target.clone(),
            source,
        })?;
        Ok(target)
    }

    /// Returns the cached file for `url`, downloading it when it is not cached yet.
    pub async fn fetch(
        &self,
        client: &reqwest_middleware::ClientWithMiddleware,
        url: &str,
        sha256: &str,
        file_name: &str,
    ) -> Result<PathBuf, BuildError> {
        let sha256 = sha256.to_ascii_lowercase();
        let target = self.entry(&sha256, file_name);
        if target.is_file() {
            let actual = sha256_file(&target).map_err(|source| BuildError::Io {
                path: target.clone(),
                source,
            })?;
            if actual == sha256 {
                tracing::debug!("source cache hit: {}", target.display());
                return Ok(target);
            }
            // Someone changed the cached bytes: drop them and fetch again.
            tracing::warn!(
                "{} does not match its hash; downloading again",
                target.display()
            );
            fs_err::remove_file(&target).map_err(|source| BuildError::Io {
                path: target.clone(),
                source,
            })?;
        }
        let parsed = Url::parse(url).map_err(|e| BuildError::Source {
            source_desc: url.to_string(),
            reason: format!("not a URL: {e}"),
        })?;
        let tmp = crate::atomic::temp_beside(&target).map_err(|source| BuildError::Io {
            path: target.clone(),
            source,
        })?;
        if parsed.scheme() == "file" {
            let path = parsed.to_file_path().map_err(|()| BuildError::Source {
                source_desc: url.to_string(),
                reason: "not a local file path".into(),
            })?;
            fs_err::copy(&path, tmp.path()).map_err(|source| BuildError::Io { path, source })?;
        } else {
            download(client, parsed, tmp.path()).await?;
        }
        let actual = sha256_file(tmp.path()).map_err(|source| BuildError::Io {
            path: tmp.path().to_path_buf(),
            source,
        })?;
        if actual != sha256 {
            return Err(BuildError::HashMismatch {
                what: url.to_string(),
                expected: sha256,
                actual,
            });
        }
        crate::atomic::persist(tmp, &target).map_err(|source| BuildError::Io {
            path: target.clone(),
            source,
        })?;
        Ok(target)
    }
}

async fn download(
    client: &reqwest_middleware::ClientWithMiddleware,
    url: Url,
    to: &Path,
) -> Result<(), BuildError> {
    use futures::StreamExt;
    use tokio::io::AsyncWriteExt;
    let shown = url.to_string();
    let failed = |reason: String| BuildError::Source {
        source_desc: shown.clone(),
        reason,
    };
    let response = client
        .get(url.clone())
        .send()
        .await
        .map_err(|e| failed(e.to_string()))?
        .error_for_status()
        .map_err(|e| failed(e.to_string()))?;
    let mut file = tokio::fs::File::create(to)
        .await
        .map_err(|source| BuildError::Io {
            path: to.to_path_buf(),
            source,
        })?;
    let mut stream = response.bytes_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| failed(e.to_string()))?;
        file.write_all(&chunk)
            .await
            .map_err(|source| BuildError::Io {
                path: to.to_path_buf(),
                source,
            })?;
    }
    file.flush().await.map_err(|source| BuildError::Io {
        path: to.to_path_buf(),
        source,
    })?;
    Ok(())
}

/// What a source resolved to before it is laid out.
#[derive(Debug, Clone)]
pub enum Resolved {
    /// A file from the cache (archive or single file).
    File(PathBuf),
    /// A local directory.
    Dir(PathBuf),
    /// A git repository and the revision to check out.
    Git {
        /// Repository path or URL.
        repo: String,
        /// Revision.
        rev: String,
    },
}

/// The wheel a recipe is converted from: its first source that resolved to a `.whl` file.
pub fn wheel_of<'a>(resolved: impl IntoIterator<Item = &'a Resolved>) -> Option<PathBuf> {
    resolved.into_iter().find_map(|res| match res {
        Resolved::File(f) if f.extension().is_some_and(|e| e == "whl") => Some(f.clone()),
        _ => None,
    })
}

/// Finds (downloading if needed) one source of a recipe in `recipe_dir`.
pub async fn resolve(
    cache: &SourceCache,
    client: &reqwest_middleware::ClientWithMiddleware,
    recipe_dir: &Path,
    source: &Source,
) -> Result<Resolved, BuildError> {
    if let Some(url) = &source.url {
        let sha = source.sha256.as_deref().unwrap_or_default();
        let name = source
            .file_name
            .clone()
            .or_else(|| {
                Url::parse(url).ok().and_then(|u| {
                    u.path_segments()
                        .and_then(|mut s| s.next_back().map(str::to_string))
                })
            })
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| "source".into());
        return Ok(Resolved::File(cache.fetch(client, url, sha, &name).await?));
    }
    if let Some(path) = &source.path {
        let full = recipe_dir.join(path);
        let full = full.canonicalize().map_err(|e| BuildError::Source {
            source_desc: full.display().to_string(),
            reason: format!("local source path: {e}"),
        })?;
        if let Some(expected) = &source.sha256 {
            let actual = sha256_file(&full).map_err(|source| BuildError::Io {
                path: full.clone(),
                source,
            })?;
            if &actual != expected {
                return Err(BuildError::HashMismatch {
                    what: full.display().to_string(),
                    expected: expected.clone(),
                    actual,
                });
            }
        }
        return Ok(if full.is_dir() {
            Resolved::Dir(full)
        } else {
            Resolved::File(full)
        });
    }
    if let Some(git) = &source.git {
        let local = recipe_dir.join(git);
        let repo = if !git.contains("://") && local.exists() {
            local
                .canonicalize()
                .map_err(|source| BuildError::Io {
                    path: local.clone(),
                    source,
                })?
                .display()
                .to_string()
        } else {
            git.clone()
        };
        return Ok(Resolved::Git {
            repo,
            rev: source.rev.clone().unwrap_or_else(|| "HEAD".into()),
        });
    }
    Err(BuildError::Source {
        source_desc: recipe_dir.display().to_string(),
        reason: "a source needs `url`, `path` or `git`".into(),
    })
}

/// Lays out a resolved source in `dest` (archives extracted, one top-level folder stripped).
pub fn lay_out(resolved: &Resolved, dest: &Path) -> Result<(), BuildError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source: std::io::Error| BuildError::Io { path, source }
    };
    fs_err::create_dir_all(dest).map_err(io(dest))?;
    match resolved {
        Resolved::Dir(dir) => copy_dir(dir, dest),
        Resolved::File(file) => {
            let name = file
                .file_name()
                .map(|n| n.to_string_lossy().to_string())
                .unwrap_or_default();
            let archive = [".tar.gz", ".tgz", ".tar.xz", ".tar.bz2", ".tar", ".zip"]
                .iter()
                .any(|ext| name.ends_with(ext));
            if archive {
                extract(file, dest)
            } else {
                fs_err::copy(file, dest.join(&name)).map_err(io(file))?;
                Ok(())
            }
        }
        Resolved::Git { repo, rev } => {
            run(
                Command::new("git")
                    .args(["clone", "--quiet", "--no-checkout", repo])
                    .arg(dest),
                repo,
            )?;
            run(
                Command::new("git").arg("-C").arg(dest).args([
                    "-c",
                    "advice.detachedHead=false",
                    "checkout",
                    "--quiet",
                    rev,
                ]),
                &format!("{repo}@{rev}"),
            )?;
            Ok(())
        }
    }
}

fn run(cmd: &mut Command, what: &str) -> Result<(), BuildError> {
    let out = cmd.output().map_err(|e| BuildError::Source {
        source_desc: what.to_string(),
        reason: format!("cannot run git: {e}"),
    })?;
    if !out.status.success() {
        return Err(BuildError::Source {
            source_desc: what.to_string(),
            reason: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(())
}

fn extract(file: &Path, dest: &Path) -> Result<(), BuildError> {
    let tmp = tempfile::Builder::new()
        .prefix(".extract-")
        .tempdir_in(dest)
        .map_err(|source| BuildError::Io {
            path: dest.to_path_buf(),
            source,
        })?;
    let name = file.to_string_lossy();
    let what = file.display().to_string();
    if name.ends_with(".zip") {
        let f = fs_err::File::open(file).map_err(|source| BuildError::Io {
            path: file.to_path_buf(),
            source,
        })?;
        let mut zip = zip::ZipArchive::new(f).map_err(|e| BuildError::Source {
            source_desc: what.clone(),
            reason: e.to_string(),
        })?;
        // `ZipArchive::extract` refuses entries that escape the target.
        zip.extract(tmp.path()).map_err(|e| BuildError::Source {
            source_desc: what.clone(),
            reason: e.to_string(),
        })?;
    } else {
        // GNU tar refuses `..` members and strips leading `/` by default.
        run_tar(file, tmp.path())?;
    }
    let entries: Vec<PathBuf> = fs_err::read_dir(tmp.path())
        .map_err(|source| BuildError::Io {
            path: tmp.path().to_path_buf(),
            source,
        })?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .collect();
    let root = match entries.as_slice() {
        [single] if single.is_dir() => single.clone(),
        _ => tmp.path().to_path_buf(),
    };
    for entry in fs_err::read_dir(&root).map_err(|source| BuildError::Io {
        path: root.clone(),
        source,
    })? {
        let entry = entry.map_err(|source| BuildError::Io {
            path: root.clone(),
            source,
        })?;
        let target = dest.join(entry.file_name());
        fs_err::rename(entry.path(), &target).map_err(|source| BuildError::Io {
            path: target,
            source,
        })?;
    }
    Ok(())
}

fn run_tar(file: &Path, dest: &Path) -> Result<(), BuildError> {
    let out = Command::new("tar")
        .arg("-xf")
        .arg(file)
        .arg("-C")
        .arg(dest)
        .arg("--no-same-owner")
        .output()
        .map_err(|e| BuildError::Source {
            source_desc: file.display().to_string(),
            reason: format!("cannot run tar: {e}"),
        })?;
    if !out.status.success() {
        return Err(BuildError::Source {
            source_desc: file.display().to_string(),
            reason: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(())
}

/// Copies a directory tree (files, symlinks as links), skipping `.git`.
pub fn copy_dir(from: &Path, to: &Path) -> Result<(), BuildError> {
    for entry in walkdir::WalkDir::new(from).follow_links(false) {
        let entry = entry.map_err(|e| BuildError::Io {
            path: from.to_path_buf(),
            source: e.into(),
        })?;
        let Ok(rel) = entry.path().strip_prefix(from) else {
            continue;
        };
        if rel.components().any(|c| c.as_os_str() == ".git") {
            continue;
        }
        let target = to.join(rel);
        let io = |source| BuildError::Io {
            path: target.clone(),
            source,
        };
        if entry.file_type().is_dir() {
            fs_err::create_dir_all(&target).map_err(io)?;
        } else if entry.file_type().is_symlink() {
            let link = fs_err::read_link(entry.path()).map_err(io)?;
            std::os::unix::fs::symlink(link, &target).map_err(io)?;
        } else {
            fs_err::copy(entry.path(), &target).map_err(io)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client() -> reqwest_middleware::ClientWithMiddleware {
        reqwest_middleware::ClientBuilder::new(reqwest::Client::new()).build()
    }

    #[tokio::test]
    async fn file_url_lands_in_cache_and_wrong_hash_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("data.txt");
        fs_err::write(&file, "hello").unwrap();
        let sha = sha256_file(&file).unwrap();
        let cache = SourceCache::new(dir.path().join("cache"));
        let url = Url::from_file_path(&file).unwrap().to_string();
        let cached = cache
            .fetch(&client(), &url, &sha, "data.txt")
            .await
            .unwrap();
        assert_eq!(cached, cache.entry(&sha, "data.txt"));
        // Cached: works even when the original is gone.
        fs_err::remove_file(&file).unwrap();
        assert!(cache.fetch(&client(), &url, &sha, "data.txt").await.is_ok());

        fs_err::write(&file, "other").unwrap();
        let wrong = "0".repeat(64);
        let err = cache
            .fetch(&client(), &url, &wrong, "data.txt")
            .await
            .unwrap_err();
        assert!(matches!(err, BuildError::HashMismatch { .. }), "{err}");
        assert!(!cache.entry(&wrong, "data.txt").exists());
    }
}
