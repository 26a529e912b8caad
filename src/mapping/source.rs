//! Where conda-forge's conda → PyPI map comes from: embedded, a file, or a URL refreshed at
//! most once a day into the cache and revalidated with its ETag (a failed refresh never fails a
//! command).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use super::NameMap;

/// A fetched mapping is asked for again (conditionally) after this long.
const REFRESH_AFTER: Duration = Duration::from_secs(24 * 3600);
/// A failed refresh is not tried again for this long: an unreachable host costs once an hour.
const RETRY_AFTER: Duration = Duration::from_secs(3600);
/// A refresh that takes longer is given up (the cached or embedded copy serves).
const FETCH_TIMEOUT: Duration = Duration::from_secs(20);

/// Where conda-forge's mapping comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MappingLocation {
    /// The copy compiled in; never refreshed.
    Embedded,
    /// A URL, refreshed daily into the cache.
    Url(url::Url),
    /// A file, read as it is.
    File(PathBuf),
}

impl MappingLocation {
    /// `embedded`, an `http(s)://` URL, or a file (`file://…` or a path, relative to `base`).
    pub fn parse(text: &str, base: &Path) -> Result<Self, url::ParseError> {
        if text == "embedded" {
            Ok(Self::Embedded)
        } else if text.starts_with("https://") || text.starts_with("http://") {
            url::Url::parse(text).map(Self::Url)
        } else {
            Ok(Self::File(
                base.join(text.strip_prefix("file://").unwrap_or(text)),
            ))
        }
    }
}

/// A mapping file that cannot serve.
#[derive(Debug, thiserror::Error)]
pub enum MappingError {
    /// It cannot be read.
    #[error(transparent)]
    Unreadable(std::io::Error),
    /// It is not parselmouth's format.
    #[error("not a conda → PyPI mapping")]
    NotAMapping(#[source] serde_json::Error),
}

/// conda-forge's mapping from `location`: the embedded copy, a file, or a URL's copy as
/// [`conda_forge_map`] keeps it in `cache_dir`.
pub async fn load(
    location: &MappingLocation,
    cache_dir: &Path,
    offline: bool,
) -> Result<Arc<NameMap>, MappingError> {
    match location {
        MappingLocation::Embedded => Ok(NameMap::embedded()),
        MappingLocation::Url(url) => {
            let source = MappingSource {
                url: url.clone(),
                cache_dir: cache_dir.to_path_buf(),
                offline,
            };
            let client = crate::http::client_without_retries();
            Ok(conda_forge_map(&source, &client).await)
        }
        MappingLocation::File(path) => {
            let text = fs_err::read_to_string(path).map_err(MappingError::Unreadable)?;
            let origin = path.display().to_string();
            NameMap::parse(&text, origin)
                .map(Arc::new)
                .map_err(MappingError::NotAMapping)
        }
    }
}

/// Where the conda-forge mapping is refreshed from, and whether it may be.
#[derive(Debug, Clone)]
pub struct MappingSource {
    /// The mapping's URL.
    pub url: url::Url,
    /// The folder the fetched copy is kept in.
    pub cache_dir: PathBuf,
    /// Make no request at all.
    pub offline: bool,
}

/// Metadata of the cached copy.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
struct CacheMeta {
    url: String,
    etag: Option<String>,
    /// Unix seconds of the last successful fetch or revalidation; none before the first.
    checked: Option<u64>,
    /// Unix seconds of the last failed refresh.
    failed: Option<u64>,
}

/// The conda-forge mapping to use now: a fresh cached copy, a refreshed one, or, offline or
/// when the refresh fails, the cached or embedded copy. Never an error: names fall back to the
/// embedded copy, which is what an offline run gets anyway.
pub async fn conda_forge_map(
    source: &MappingSource,
    client: &reqwest_middleware::ClientWithMiddleware,
) -> Arc<NameMap> {
    // Kept as sorted lines (`super::lines`), so a run reads it without parsing JSON.
    let file = source.cache_dir.join("conda-forge.names");
    let meta_file = source.cache_dir.join("conda-forge.meta.json");
    let url = source.url.to_string();
    // What the cache knows of this URL; a copy fetched from another URL is not this one's.
    let meta = fs_err::read_to_string(&meta_file)
        .ok()
        .and_then(|t| serde_json::from_str::<CacheMeta>(&t).ok())
        .filter(|m| m.url == url)
        .unwrap_or_else(|| CacheMeta {
            url: url.clone(),
            ..CacheMeta::default()
        });
    let cached = |meta: &CacheMeta| -> Option<Arc<NameMap>> {
        let checked = meta.checked?;
        let text = fs_err::read_to_string(&file).ok()?;
        let origin = format!("fetched {}, checked {}", meta.url, day(checked));
        NameMap::from_lines(text, origin).ok().map(Arc::new)
    };
    let now = unix_now();
    let fresh = meta
        .checked
        .is_some_and(|c| now.saturating_sub(c) < REFRESH_AFTER.as_secs());
    let failed_lately = meta
        .failed
        .is_some_and(|f| now.saturating_sub(f) < RETRY_AFTER.as_secs());
    let have = cached(&meta);
    // A fresh check whose file is gone or damaged is no reason to wait a day.
    if source.offline || (fresh && have.is_some()) || failed_lately {
        return have.unwrap_or_else(NameMap::embedded);
    }
    let etag = have.as_ref().and(meta.etag.clone());
    let refreshed = |etag: Option<String>| CacheMeta {
        url: url.clone(),
        etag,
        checked: Some(now),
        failed: None,
    };
    let failure = |reason: String| {
        tracing::info!(
            "conda-pypi mapping not refreshed from {url}: {reason}; using the {} copy",
            if have.is_some() { "cached" } else { "embedded" }
        );
        write_meta(
            &meta_file,
            &CacheMeta {
                failed: Some(now),
                ..meta.clone()
            },
        );
        have.clone().unwrap_or_else(NameMap::embedded)
    };
    match fetch(client, &url, etag.as_deref(), &source.cache_dir).await {
        Ok(Fetched::NotModified) => {
            let meta = refreshed(etag);
            write_meta(&meta_file, &meta);
            cached(&meta).unwrap_or_else(NameMap::embedded)
        }
        Ok(Fetched::New { text, etag }) => {
            let origin = format!("fetched {url}, checked {}", day(now));
            match NameMap::parse(&text, origin) {
                Ok(map) => {
                    match crate::atomic::write(&file, map.lines().as_bytes()) {
                        Ok(()) => {
                            write_meta(&meta_file, &refreshed(etag));
                            // The JSON copy scivision kept before it kept lines.
                            let _ = fs_err::remove_file(source.cache_dir.join("conda-forge.json"));
                        }
                        Err(e) => tracing::info!(
                            "conda-pypi mapping: cannot cache {}: {e}",
                            file.display()
                        ),
                    }
                    Arc::new(map)
                }
                Err(e) => failure(format!("the file is not a mapping ({e})")),
            }
        }
        Err(reason) => failure(reason),
    }
}

enum Fetched {
    NotModified,
    New { text: String, etag: Option<String> },
}

async fn fetch(
    client: &reqwest_middleware::ClientWithMiddleware,
    url: &str,
    etag: Option<&str>,
    cache_dir: &Path,
) -> Result<Fetched, String> {
    fs_err::create_dir_all(cache_dir).map_err(|e| e.to_string())?;
    let mut request = client.get(url).timeout(FETCH_TIMEOUT);
    if let Some(etag) = etag {
        request = request.header(http::header::IF_NONE_MATCH, etag);
    }
    let response = request.send().await.map_err(|e| e.to_string())?;
    if response.status() == http::StatusCode::NOT_MODIFIED {
        return Ok(Fetched::NotModified);
    }
    let response = response.error_for_status().map_err(|e| e.to_string())?;
    let etag = response
        .headers()
        .get(http::header::ETAG)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let text = response.text().await.map_err(|e| e.to_string())?;
    Ok(Fetched::New { text, etag })
}

fn write_meta(path: &Path, meta: &CacheMeta) {
    let text = serde_json::to_string_pretty(meta).unwrap_or_default();
    if let Err(e) = crate::atomic::write(path, text.as_bytes()) {
        tracing::info!("conda-pypi mapping: cannot write {}: {e}", path.display());
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn day(unix: u64) -> String {
    jiff::Timestamp::from_second(i64::try_from(unix).unwrap_or(0))
        .map_or_else(|_| unix.to_string(), |t| t.strftime("%Y-%m-%d").to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_location_is_embedded_a_url_or_a_file_relative_to_its_base() {
        let base = Path::new("/etc/scivision");
        assert_eq!(
            MappingLocation::parse("embedded", base).unwrap(),
            MappingLocation::Embedded
        );
        assert_eq!(
            MappingLocation::parse("https://h/m.json", base).unwrap(),
            MappingLocation::Url("https://h/m.json".parse().unwrap())
        );
        assert_eq!(
            MappingLocation::parse("m.json", base).unwrap(),
            MappingLocation::File("/etc/scivision/m.json".into())
        );
        assert_eq!(
            MappingLocation::parse("file:///srv/m.json", base).unwrap(),
            MappingLocation::File("/srv/m.json".into())
        );
        assert!(MappingLocation::parse("https://[bad", base).is_err());
    }
}
