//! The uv side's shared parts: its cache (under scivision's cache root), the registry client
//! with the index options, and the global settings uv's crates expect to be set once.

use std::path::{Path, PathBuf};
use std::time::Duration;

use uv_cache::Cache;
use uv_client::{BaseClientBuilder, Connectivity, RegistryClient, RegistryClientBuilder};
use uv_configuration::BuildOptions;
use uv_distribution_types::{Index, IndexLocations, IndexUrl};
use uv_platform_tags::Tags;
use uv_resolver::FlatIndex;
use uv_types::HashStrategy;

use super::PypiError;

/// Where PyPI packages come from: pip's and uv's options, from the command line or the config
/// file's `[pypi]` table.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct IndexOptions {
    /// The main index (default: PyPI).
    #[serde(default)]
    pub index_url: Option<String>,
    /// More indexes, searched after the main one.
    #[serde(default)]
    pub extra_index_url: Vec<String>,
    /// Folders or pages listing distributions (pip's flat `--find-links`).
    #[serde(default)]
    pub find_links: Vec<String>,
    /// Use no index, only `find-links` (and direct URLs).
    #[serde(default)]
    pub no_index: bool,
}

impl IndexOptions {
    /// The command line's options over the config file's: a list given on the command line
    /// replaces the file's, as uv does.
    pub fn over(self, config: &IndexOptions) -> IndexOptions {
        IndexOptions {
            index_url: self.index_url.or_else(|| config.index_url.clone()),
            extra_index_url: if self.extra_index_url.is_empty() {
                config.extra_index_url.clone()
            } else {
                self.extra_index_url
            },
            find_links: if self.find_links.is_empty() {
                config.find_links.clone()
            } else {
                self.find_links
            },
            no_index: self.no_index || config.no_index,
        }
    }

    /// uv's index locations; paths are taken relative to `cwd`.
    pub fn locations(&self, cwd: &Path) -> Result<IndexLocations, PypiError> {
        let parse = |flag: &str, text: &str| {
            IndexUrl::parse(text, Some(cwd)).map_err(|e| PypiError::Setup {
                what: format!("{flag} `{text}`"),
                source: e.into(),
                help: "give a URL (https://…/simple) or an existing folder".into(),
            })
        };
        let mut indexes = Vec::new();
        if let Some(url) = &self.index_url {
            indexes.push(Index::from_index_url(parse("--index-url", url)?));
        }
        for url in &self.extra_index_url {
            indexes.push(Index::from_extra_index_url(parse(
                "--extra-index-url",
                url,
            )?));
        }
        let flat = self
            .find_links
            .iter()
            .map(|f| parse("--find-links", f).map(Index::from_find_links))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(IndexLocations::new(indexes, flat, self.no_index))
    }

    /// The index URLs as the lock records them.
    pub fn lock_indexes(&self, cwd: &Path) -> rattler_lock::PypiIndexes {
        // Without credentials: the lock is shared and packed.
        let url = |text: &str| {
            IndexUrl::parse(text, Some(cwd))
                .ok()
                .and_then(|u| url::Url::parse(u.url().without_credentials().as_str()).ok())
        };
        let mut indexes: Vec<url::Url> = Vec::new();
        if !self.no_index {
            indexes.extend(
                self.index_url
                    .as_deref()
                    .map_or_else(|| url::Url::parse("https://pypi.org/simple").ok(), url),
            );
            indexes.extend(self.extra_index_url.iter().filter_map(|u| url(u)));
        }
        rattler_lock::PypiIndexes {
            indexes,
            find_links: self
                .find_links
                .iter()
                .filter_map(|f| url(f))
                .map(|u| match u.to_file_path() {
                    Ok(p) => rattler_lock::FindLinksUrlOrPath::Path(p),
                    Err(()) => rattler_lock::FindLinksUrlOrPath::Url(u),
                })
                .collect(),
        }
    }
}

/// The uv cache, client and index locations one operation uses.
pub struct UvContext {
    /// uv's cache (wheels, built sdists, git checkouts, interpreter queries).
    pub cache: Cache,
    /// The registry client.
    pub client: RegistryClient,
    /// Indexes and find-links.
    pub locations: IndexLocations,
    /// The options they came from (recorded in the lock).
    pub options: IndexOptions,
    /// No network.
    pub offline: bool,
    /// Hash every file of an unzipped wheel against its RECORD before linking it, not only
    /// the sizes (`SCIVISION_VERIFY_CACHE=full`).
    pub verify_fully: bool,
}

/// uv's crates read a process-wide preview setting that must be fixed before the first build.
fn init_preview() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // Both only fail when already set or finalized, which this Once rules out.
        let _ = uv_preview::set(uv_preview::Preview::default());
        let _ = uv_preview::finalize();
    });
}

impl UvContext {
    /// The uv cache under `cache_root/uv`, a client honouring `offline` and the same
    /// `SCIVISION_HTTP_TIMEOUT` as the conda side, and the index locations.
    pub async fn new(
        cache_root: &Path,
        options: IndexOptions,
        offline: bool,
    ) -> Result<Self, PypiError> {
        init_preview();
        let dir: PathBuf = cache_root.join("uv");
        let cache = Cache::from_path(&dir)
            .init()
            .await
            .map_err(|e| PypiError::Setup {
                what: format!("uv cache {}", dir.display()),
                source: e.into(),
                help: "check that SCIVISION_CACHE_DIR is writable".into(),
            })?;
        let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
        let locations = options.locations(&cwd)?;
        let timeout = crate::http::timeout_secs();
        let connectivity = if offline {
            Connectivity::Offline
        } else {
            Connectivity::Online
        };
        let mut base = BaseClientBuilder::new(
            connectivity,
            true,
            Vec::new(),
            uv_preview::Preview::default(),
            Duration::from_secs(timeout),
            Duration::from_secs(timeout.min(15)),
            3,
        );
        if let Some(certs) = uv_client::Certificates::from_env() {
            base = base.custom_certificates(certs);
        }
        let client = RegistryClientBuilder::new(base, cache.clone())
            .index_locations(locations.clone())
            .build()
            .map_err(|e| PypiError::Setup {
                what: "the PyPI client".into(),
                source: e.into(),
                help: "check SSL_CERT_FILE and the proxy settings".into(),
            })?;
        Ok(Self {
            cache,
            client,
            locations,
            options,
            offline,
            verify_fully: false,
        })
    }
}

impl UvContext {
    /// The `--find-links` listings, filtered to what `tags` can install.
    pub(crate) async fn flat_index(
        &self,
        tags: &Tags,
        hasher: &HashStrategy,
        build_options: &BuildOptions,
    ) -> Result<FlatIndex, PypiError> {
        let entries = uv_client::FlatIndexClient::new(
            self.client.cached_client(),
            self.client.connectivity(),
            &self.cache,
        )
        .fetch_all(self.locations.flat_indexes().map(Index::url))
        .await
        .map_err(|e| PypiError::Setup {
            what: "the --find-links locations".into(),
            source: e.into(),
            help:
                "a --find-links folder must exist and hold wheels or sdists; a URL must list them"
                    .into(),
        })?;
        Ok(FlatIndex::from_entries(
            entries,
            Some(tags),
            hasher,
            build_options,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_line_lists_replace_the_config_files() {
        let config = IndexOptions {
            index_url: Some("https://a/simple".into()),
            find_links: vec!["/w".into()],
            ..Default::default()
        };
        let cli = IndexOptions {
            find_links: vec!["/x".into()],
            no_index: true,
            ..Default::default()
        };
        let merged = cli.over(&config);
        assert_eq!(merged.index_url.as_deref(), Some("https://a/simple"));
        assert_eq!(merged.find_links, vec!["/x".to_string()]);
        assert!(merged.no_index);
    }

    #[test]
    fn bad_index_urls_name_the_flag() {
        let options = IndexOptions {
            find_links: vec!["https://exa mple/".into()],
            ..Default::default()
        };
        let e = options.locations(Path::new("/")).unwrap_err().to_string();
        assert!(e.contains("--find-links"), "{e}");
    }
}
