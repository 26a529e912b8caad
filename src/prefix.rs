//! Conda prefixes: installing solved records with rattler's installer and shared package cache,
//! and the repodata gateway (over [`crate::http`]'s client) every solve uses.

use std::path::Path;

use rattler::install::Installer;
use rattler::package_cache::PackageCache;
use rattler_conda_types::RepoDataRecord;
use rattler_repodata_gateway::Gateway;

/// An installation failure.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum InstallError {
    /// A package could not be fetched into the package cache (nothing of it is kept there).
    #[error("cannot download {package} from {url}")]
    Download {
        /// The package's file name.
        package: String,
        /// Where from (credentials masked).
        url: String,
        /// Why.
        #[source]
        source: rattler_cache::package_cache::PackageCacheError,
        /// What to do, judged from the failure.
        #[help]
        help: String,
    },
    /// The package cache's lock could not be taken.
    #[error("cannot lock the package cache {}", dir.display())]
    #[diagnostic(help("check that the package cache (RATTLER_CACHE_DIR) is writable"))]
    CacheLock {
        /// The package cache.
        dir: std::path::PathBuf,
        /// Why.
        #[source]
        source: rattler_cache::package_cache::PackageCacheError,
    },
    /// Linking into the prefix failed.
    #[error("cannot install into {}", prefix.display())]
    #[diagnostic(help("check free disk space and that the package cache is writable"))]
    Link {
        /// The prefix.
        prefix: std::path::PathBuf,
        /// The installer's failure.
        #[source]
        source: rattler::install::InstallerError,
    },
    /// Preparing the prefix, or tidying its records after the install, failed.
    #[error("cannot install into {}", prefix.display())]
    #[diagnostic(help("check free disk space and that the prefix's folder is writable"))]
    Prefix {
        /// The prefix.
        prefix: std::path::PathBuf,
        /// The file operation that failed.
        #[source]
        source: std::io::Error,
    },
}

/// A repodata gateway with scivision's client and rattler's default repodata cache.
pub fn gateway() -> Gateway {
    gateway_for(false)
}

/// A gateway; with `offline`, repodata comes from the cache only (missing shards count as empty).
pub fn gateway_for(offline: bool) -> Gateway {
    let mut builder = Gateway::builder().with_client(crate::http::client_for(offline));
    // The repodata cache beside the package cache (RATTLER_CACHE_DIR/repodata, where pixi keeps
    // it); the gateway's own default ignores RATTLER_CACHE_DIR.
    if let Ok(dir) = rattler_cache::default_cache_dir() {
        builder = builder.with_cache_dir(dir.join(rattler_cache::REPODATA_CACHE_DIR));
    }
    if offline {
        builder = builder.with_channel_config(rattler_repodata_gateway::ChannelConfig {
            default: rattler_repodata_gateway::SourceConfig {
                cache_action: rattler_repodata_gateway::fetch::CacheAction::ForceCacheOnly,
                // A package whose shard was never fetched has no candidates offline.
                missing_shards_are_empty: true,
                ..Default::default()
            },
            ..Default::default()
        });
    }
    builder.finish()
}

/// The package cache folder of a record (`name-version-build`), as rattler's cache lays it out.
pub fn cache_dir_name(record: &RepoDataRecord) -> String {
    let p = &record.package_record;
    format!("{}-{}-{}", p.name.as_normalized(), p.version, p.build)
}

/// Whether the package of `record` is in the package cache (extracted by an earlier install).
pub fn is_cached(record: &RepoDataRecord, package_cache_dir: &Path) -> bool {
    package_cache_dir
        .join(cache_dir_name(record))
        .join("info/index.json")
        .is_file()
}

/// Makes sure the package of `record` is extracted in the package cache (downloading it if
/// needed) and returns its folder there: for reading a package's `info/` without installing it.
pub async fn fetch_to_cache(
    record: &RepoDataRecord,
    package_cache_dir: &Path,
    client: &reqwest_middleware::ClientWithMiddleware,
) -> Result<std::path::PathBuf, InstallError> {
    let cache = PackageCache::new(package_cache_dir);
    let lock = cache
        .get_or_fetch_from_url_with_retry(
            &record.package_record,
            record.url.clone(),
            client.clone().into(),
            // A body cut off mid-stream is retried here; statuses by the client's middleware.
            crate::http::retry_policy(),
            None,
            None,
        )
        .await
        .map_err(|e| InstallError::Download {
            package: record.identifier.to_string(),
            url: crate::redact::text(record.url.as_str()).into_owned(),
            help: crate::http::help_for(&e).unwrap_or_else(|| {
                if crate::message::error_chain(&e).contains("failed to unpack") {
                    // The tar reader refuses entries that leave the package (a hardlink to a
                    // file outside) as well as broken ones.
                    "the package's archive holds an entry that cannot be unpacked inside the \
                     package (malformed, or a link to a file outside it): nothing of it was \
                     kept; report it to the channel's maintainers"
                        .into()
                } else {
                    "check free disk space and that the package cache is writable".into()
                }
            }),
            source: e,
        })?;
    Ok(lock.path().to_path_buf())
}

/// The package cache's global lock, the one rattler's installer holds while it installs: held
/// while scivision checks, evicts or fetches cache entries, so two processes never extract one
/// package into the same place or read an entry another is replacing. Drop it before
/// [`install`], which takes it again.
pub async fn lock_package_cache(
    package_cache_dir: &Path,
) -> Result<rattler_cache::package_cache::CacheGlobalLock, InstallError> {
    PackageCache::new(package_cache_dir)
        .acquire_global_lock()
        .await
        .map_err(|e| InstallError::CacheLock {
            dir: package_cache_dir.to_path_buf(),
            source: e,
        })
}

/// Installs `records` into `prefix` (created if needed), linking from the package cache.
pub async fn install(
    prefix: &Path,
    records: Vec<RepoDataRecord>,
    package_cache_dir: &Path,
    client: &reqwest_middleware::ClientWithMiddleware,
) -> Result<(), InstallError> {
    install_with(prefix, records, package_cache_dir, client, |i| i).await
}

/// As [`install`], letting the caller configure the installer first (a progress reporter, an
/// alternative target prefix for installing into a staging folder).
pub async fn install_with(
    prefix: &Path,
    records: Vec<RepoDataRecord>,
    package_cache_dir: &Path,
    client: &reqwest_middleware::ClientWithMiddleware,
    configure: impl FnOnce(Installer) -> Installer,
) -> Result<(), InstallError> {
    // The installer writes absolute paths into shebangs and prefix records.
    let prefix = std::path::absolute(prefix).map_err(|e| InstallError::Prefix {
        prefix: prefix.to_path_buf(),
        source: e,
    })?;
    if records.is_empty() {
        fs_err::create_dir_all(prefix.join("conda-meta")).map_err(|e| InstallError::Prefix {
            prefix: prefix.clone(),
            source: e,
        })?;
        return Ok(());
    }
    // The installer copies each record's `url` and `channel` into `conda-meta`: only a record
    // carrying credentials there needs the files rewritten (reading them back costs a parse of
    // every file list, CPython's 3,000 paths included).
    let has_credentials = records.iter().any(|r| {
        without_credentials(r.url.as_str()).is_some()
            || r.channel.as_deref().and_then(without_credentials).is_some()
    });
    let installer = Installer::new()
        .with_package_cache(PackageCache::new(package_cache_dir))
        .with_download_client(client.clone());
    configure(installer)
        .install(&prefix, records)
        .await
        .map_err(|e| InstallError::Link {
            prefix: prefix.clone(),
            source: e,
        })?;
    let stripped = if has_credentials {
        strip_credentials(&prefix)
    } else {
        Ok(())
    };
    stripped
        .and_then(|()| readable_records(&prefix))
        .map_err(|e| InstallError::Prefix {
            prefix: prefix.clone(),
            source: e,
        })
}

/// Makes `conda-meta/*.json` readable by all (0644, as conda writes them): the installer's
/// temporary files are owner-only, so another user's conda, pixi or `conda list` could not read
/// a shared environment.
fn readable_records(prefix: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    for entry in fs_err::read_dir(prefix.join("conda-meta"))?.filter_map(Result::ok) {
        let path = entry.path();
        if path.extension().is_some_and(|x| x == "json") {
            fs_err::set_permissions(&path, std::fs::Permissions::from_mode(0o644))?;
        }
    }
    Ok(())
}

/// Appends a revision to `conda-meta/history` of `staging` (the new prefix), as conda writes it:
/// the previous prefix's history, then `==> date <==`, the command, and a `+`/`-` line for each
/// package added or removed against the previous prefix's `conda-meta`. `conda list
/// --revisions` reads it.
pub fn write_history(
    staging: &Path,
    previous: &Path,
    records: &[RepoDataRecord],
    command: &str,
) -> std::io::Result<()> {
    use std::collections::{BTreeMap, BTreeSet};
    use std::os::unix::fs::PermissionsExt;
    let key = |r: &RepoDataRecord| {
        let p = &r.package_record;
        format!("{}-{}-{}", p.name.as_normalized(), p.version, p.build)
    };
    let dist = |r: &RepoDataRecord| {
        let channel = r.channel.as_deref().map_or_else(
            || {
                let mut url = r.url.clone();
                if let Ok(mut segments) = url.path_segments_mut() {
                    segments.pop().pop();
                }
                crate::redact::for_file(&url).to_string()
            },
            crate::redact::for_file_str,
        );
        format!("{}::{}", channel.trim_end_matches('/'), key(r))
    };
    let old_history =
        fs_err::read_to_string(previous.join("conda-meta/history")).unwrap_or_default();
    // The previous prefix's packages, by their record files (`name-version-build.json`).
    let old: BTreeSet<String> = fs_err::read_dir(previous.join("conda-meta"))
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .filter_map(|e| {
            e.file_name()
                .to_str()?
                .strip_suffix(".json")
                .map(str::to_string)
        })
        .collect();
    // A removed package is named as the old history added it, else by its bare name.
    let added_before: BTreeMap<String, String> = old_history
        .lines()
        .filter_map(|l| l.strip_prefix('+'))
        .filter_map(|d| Some((d.rsplit("::").next()?.to_string(), d.to_string())))
        .collect();
    let new: BTreeMap<String, String> = records.iter().map(|r| (key(r), dist(r))).collect();
    let mut text = old_history;
    let now = jiff::Zoned::now().strftime("%Y-%m-%d %H:%M:%S");
    text.push_str(&format!(
        "==> {now} <==\n# cmd: {command}\n# scivision version: {}\n",
        env!("CARGO_PKG_VERSION")
    ));
    for gone in old.iter().filter(|d| !new.contains_key(*d)) {
        text.push_str(&format!("-{}\n", added_before.get(gone).unwrap_or(gone)));
    }
    for (k, added) in &new {
        if !old.contains(k) {
            text.push_str(&format!("+{added}\n"));
        }
    }
    let path = staging.join("conda-meta/history");
    crate::atomic::write(&path, text.as_bytes())?;
    fs_err::set_permissions(&path, std::fs::Permissions::from_mode(0o644))
}

/// Removes credentials from the package URLs the installer records in `conda-meta/*.json`
/// (`url`, `channel`): the prefix outlives the command, and conda, pixi and `env export` read
/// those files.
fn strip_credentials(prefix: &Path) -> std::io::Result<()> {
    let meta = prefix.join("conda-meta");
    for entry in fs_err::read_dir(&meta)?.filter_map(Result::ok) {
        let path = entry.path();
        if path.extension().is_none_or(|x| x != "json") {
            continue;
        }
        let text = fs_err::read_to_string(&path)?;
        let Ok(mut record) = serde_json::from_str::<serde_json::Value>(&text) else {
            continue;
        };
        let mut changed = false;
        for key in ["url", "channel"] {
            let clean = record
                .get(key)
                .and_then(|v| v.as_str())
                .and_then(without_credentials);
            if let Some(clean) = clean {
                record[key] = serde_json::Value::String(clean);
                changed = true;
            }
        }
        if changed {
            let text = serde_json::to_string_pretty(&record).map_err(std::io::Error::other)?;
            crate::atomic::write(&path, text.as_bytes())?;
        }
    }
    Ok(())
}

/// `text` (a record's `url` or `channel`) as a prefix keeps it, if that differs: the one rule
/// both the installer's check and [`strip_credentials`] apply.
fn without_credentials(text: &str) -> Option<String> {
    let clean = crate::redact::for_file_str(text);
    (clean != text).then_some(clean)
}

impl InstallError {
    /// What kind of failure this is.
    pub fn class(&self) -> crate::message::ErrorClass {
        use crate::message::ErrorClass;
        match self {
            // From a server, a failed or damaged download is the server's (or the network's);
            // from a local channel, the package's own.
            Self::Download { url, .. } if url.starts_with("http") => ErrorClass::Network,
            Self::Download { .. } => ErrorClass::Failed,
            Self::CacheLock { .. } | Self::Link { .. } | Self::Prefix { .. } => ErrorClass::Failed,
        }
    }
}
