//! The source cache: downloads checked against their sha256 and kept under it, handed to
//! rattler-build's engine as the first mirror of each URL source.
//!
//! A file already in the cache under its sha256 is never downloaded again; a file whose bytes do
//! not match the recipe's hash never enters the cache.

use std::path::{Path, PathBuf};

use url::Url;

use super::BuildError;
use crate::package::sha256_file;

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
        let actual = sha256_file(file).map_err(BuildError::io(file))?;
        if actual != sha256 {
            return Err(BuildError::HashMismatch {
                what: file.display().to_string(),
                expected: sha256.to_string(),
                actual,
            });
        }
        let target = self.entry(sha256, file_name);
        crate::atomic::copy(file, &target).map_err(BuildError::io(&target))?;
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
            let actual = sha256_file(&target).map_err(BuildError::io(&target))?;
            if actual == sha256 {
                tracing::debug!("source cache hit: {}", target.display());
                return Ok(target);
            }
            // Someone changed the cached bytes: drop them and fetch again.
            tracing::warn!(
                "{} does not match its hash; downloading again",
                target.display()
            );
            fs_err::remove_file(&target).map_err(BuildError::io(&target))?;
        }
        let parsed = Url::parse(url).map_err(|e| BuildError::Source {
            source_desc: url.to_string(),
            source: format!("not a URL: {e}").into(),
        })?;
        let tmp = crate::atomic::temp_beside(&target).map_err(BuildError::io(&target))?;
        if parsed.scheme() == "file" {
            let path = parsed.to_file_path().map_err(|()| BuildError::Source {
                source_desc: url.to_string(),
                source: "not a local file path".into(),
            })?;
            fs_err::copy(&path, tmp.path()).map_err(BuildError::io(&path))?;
        } else {
            download(client, parsed, tmp.path()).await?;
        }
        let actual = sha256_file(tmp.path()).map_err(BuildError::io(tmp.path()))?;
        if actual != sha256 {
            return Err(BuildError::HashMismatch {
                what: url.to_string(),
                expected: sha256,
                actual,
            });
        }
        crate::atomic::persist(tmp, &target).map_err(BuildError::io(&target))?;
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
    let failed = |e: reqwest_middleware::Error| BuildError::Source {
        source_desc: shown.clone(),
        source: e.into(),
    };
    let response = client
        .get(url.clone())
        .send()
        .await
        .map_err(failed)?
        .error_for_status()
        .map_err(|e| failed(e.into()))?;
    let mut file = tokio::fs::File::create(to)
        .await
        .map_err(BuildError::io(to))?;
    let mut stream = response.bytes_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| failed(e.into()))?;
        file.write_all(&chunk).await.map_err(BuildError::io(to))?;
    }
    file.flush().await.map_err(BuildError::io(to))?;
    Ok(())
}

/// Puts every downloadable source of `output` that has a sha256 into the source cache and
/// lists the cached file first among the source's URLs, the way rattler-build tries mirrors:
/// a tarball seeded from another archive (Debian's copy of CPython), or fetched once, is then
/// built from offline, and the engine still checks it against the recipe's sha256.
pub async fn mirror_url_sources(
    output: &mut rattler_build_core::types::Output,
    cache: &SourceCache,
    client: &reqwest_middleware::ClientWithMiddleware,
) -> Result<(), BuildError> {
    use rattler_build_recipe::stage1::Source;
    for source in &mut output.recipe.source {
        let Source::Url(url_source) = source else {
            continue;
        };
        let Some(sha) = url_source.sha256 else {
            continue;
        };
        let sha = hex::encode(sha);
        let Some(first) = url_source.url.first().cloned() else {
            continue;
        };
        let file_name = url_source.file_name.clone().unwrap_or_else(|| {
            first
                .path_segments()
                .and_then(|mut s| s.next_back())
                .filter(|s| !s.is_empty())
                .unwrap_or("source")
                .to_string()
        });
        let mut last_error = None;
        let mut cached = None;
        for url in &url_source.url {
            match cache.fetch(client, url.as_str(), &sha, &file_name).await {
                Ok(path) => {
                    cached = Some(path);
                    break;
                }
                Err(e) => last_error = Some(e),
            }
        }
        let Some(path) = cached else {
            return Err(last_error.unwrap_or_else(|| BuildError::Source {
                source_desc: first.to_string(),
                source: "no URL".into(),
            }));
        };
        let file_url = Url::from_file_path(&path).map_err(|()| BuildError::Source {
            source_desc: path.display().to_string(),
            source: "not an absolute path".into(),
        })?;
        // The cache keeps the file's name, so the engine sees the same name (and extracts an
        // archive as it would from the original URL).
        url_source.url.insert(0, file_url);
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
