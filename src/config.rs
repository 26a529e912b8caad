//! The settings layer: what the environment variables and the config file decide, read once at
//! the edge (the CLI) into [`Settings`] and passed down. No other library module reads the
//! environment (`tests/architecture.rs` checks it).
//!
//! Every location can be moved by an environment variable, so tests and users can isolate runs:
//! `SCIVISION_HOME`, `SCIVISION_CACHE_DIR`, `RATTLER_CACHE_DIR`.

use std::path::{Path, PathBuf};

/// Everything the environment decides.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Where things live.
    pub dirs: Dirs,
    /// `CONDA_OVERRIDE_*`: the virtual packages a host claims instead of the detected ones.
    pub overrides: rattler_virtual_packages::VirtualPackageOverrides,
    /// `SCIVISION_HTTP_RETRIES`, `SCIVISION_HTTP_TIMEOUT`.
    pub http: crate::http::HttpSettings,
    /// `SCIVISION_VERIFY_CACHE=full`: hash every file of a cached package (and every installed
    /// wheel's RECORD) before use, not only their sizes.
    pub verify_cache_fully: bool,
    /// `SCIVISION_CATALOG`: more catalog files or card folders, `:`-separated.
    pub catalogs: Vec<PathBuf>,
    /// `JUPYTER_DATA_DIR` and `PATH`, for kernel specs.
    pub kernels: crate::kernel::Kernels,
    /// The config file ([`ConfigFile::path`]): read by the workflows that need it, with
    /// [`ConfigFile::load_from`].
    pub config_file: PathBuf,
    /// `SCIVISION_CHANNEL`: the scivision channel, over the config file's.
    pub scivision_channel: Option<String>,
    /// `SCIVISION_CONDA_PYPI_MAPPING`: the conda → PyPI mapping, over the config file's.
    pub conda_pypi_mapping: Option<String>,
    /// `SCIVISION_WEIGHTS_MIRROR`: where weight files come from, over the config file's.
    pub weights_mirror: Option<String>,
    /// `SOURCE_DATE_EPOCH` as given: the timestamp of built packages (checked by `build`).
    pub source_date_epoch: Option<String>,
}

/// `CONDA_OVERRIDE_*` as set now: a set variable is that value (empty: "no such package", as
/// in conda), an unset one leaves its package to detection. Read here, not by rattler while it
/// detects (`VirtualPackageOverrides::from_env`), so that the library can tell which packages
/// are this host's own: only those are kept between runs (`system::virtual_packages`).
fn virtual_package_overrides() -> rattler_virtual_packages::VirtualPackageOverrides {
    use rattler_virtual_packages::{
        AmdGpu, AmdGpuArch, Android, Archspec, Cuda, CudaArch, EnvOverride, Ios, LibC, Linux, Osx,
        Override, Windows,
    };
    let set = |name: &str| match std::env::var(name) {
        Ok(value) => Some(Override::String(value)),
        Err(std::env::VarError::NotPresent) => None,
        // Left to rattler, which reports it as the error it is.
        Err(std::env::VarError::NotUnicode(_)) => Some(Override::DefaultEnvVar),
    };
    let mut overrides = rattler_virtual_packages::VirtualPackageOverrides::default();
    overrides.win = set(Windows::DEFAULT_ENV_NAME);
    overrides.osx = set(Osx::DEFAULT_ENV_NAME);
    overrides.ios = set(Ios::DEFAULT_ENV_NAME);
    overrides.android = set(Android::DEFAULT_ENV_NAME);
    overrides.linux = set(Linux::DEFAULT_ENV_NAME);
    overrides.libc = set(LibC::DEFAULT_ENV_NAME);
    overrides.cuda = set(Cuda::DEFAULT_ENV_NAME);
    overrides.cuda_arch = set(CudaArch::DEFAULT_ENV_NAME);
    overrides.amdgpu = set(AmdGpu::DEFAULT_ENV_NAME);
    overrides.amdgpu_arch = set(AmdGpuArch::DEFAULT_ENV_NAME);
    overrides.archspec = set(Archspec::DEFAULT_ENV_NAME);
    overrides
}

impl Settings {
    /// Reads the environment.
    pub fn from_env() -> Self {
        let number = |k: &str| std::env::var(k).ok().and_then(|v| v.parse::<u64>().ok());
        // Set and not empty: an empty variable is as good as none.
        let text = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        let defaults = crate::http::HttpSettings::default();
        Self {
            dirs: Dirs::from_env(),
            overrides: virtual_package_overrides(),
            http: crate::http::HttpSettings {
                retries: number("SCIVISION_HTTP_RETRIES")
                    .and_then(|n| u32::try_from(n).ok())
                    .unwrap_or(defaults.retries),
                timeout_secs: number("SCIVISION_HTTP_TIMEOUT")
                    .filter(|v| *v > 0)
                    .unwrap_or(defaults.timeout_secs),
            },
            verify_cache_fully: std::env::var("SCIVISION_VERIFY_CACHE").is_ok_and(|v| v == "full"),
            catalogs: std::env::var_os("SCIVISION_CATALOG")
                .map(|paths| std::env::split_paths(&paths).collect())
                .unwrap_or_default(),
            kernels: crate::kernel::Kernels {
                data_dir: std::env::var_os("JUPYTER_DATA_DIR")
                    .filter(|v| !v.is_empty())
                    .map(PathBuf::from)
                    .unwrap_or_else(|| {
                        dirs::data_dir()
                            .unwrap_or_else(std::env::temp_dir)
                            .join("jupyter")
                    }),
                path: std::env::var("PATH").unwrap_or_default(),
            },
            config_file: ConfigFile::path(),
            scivision_channel: text("SCIVISION_CHANNEL"),
            conda_pypi_mapping: text("SCIVISION_CONDA_PYPI_MAPPING"),
            weights_mirror: text("SCIVISION_WEIGHTS_MIRROR"),
            source_date_epoch: text("SOURCE_DATE_EPOCH"),
        }
    }
}

/// Resolved directories.
#[derive(Debug, Clone)]
pub struct Dirs {
    /// `SCIVISION_HOME` (default: the XDG data dir + `scivision`): environments live here.
    pub home: PathBuf,
    /// `SCIVISION_CACHE_DIR` (default: the XDG cache dir + `scivision`): sources, builds.
    pub cache: PathBuf,
    /// rattler's package cache (`RATTLER_CACHE_DIR/pkgs`), shared with pixi and rattler.
    pub packages: PathBuf,
}

impl Dirs {
    /// Reads the environment.
    pub fn from_env() -> Self {
        let env_path = |k: &str| {
            std::env::var_os(k)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        };
        let home = env_path("SCIVISION_HOME").unwrap_or_else(|| {
            dirs::data_dir()
                .unwrap_or_else(std::env::temp_dir)
                .join("scivision")
        });
        let cache = env_path("SCIVISION_CACHE_DIR").unwrap_or_else(|| {
            dirs::cache_dir()
                .unwrap_or_else(std::env::temp_dir)
                .join("scivision")
        });
        let rattler = rattler_cache::default_cache_dir().unwrap_or_else(|_| cache.join("rattler"));
        Self {
            home,
            cache,
            packages: rattler.join(rattler_cache::PACKAGE_CACHE_DIR),
        }
    }
}

/// The scivision channel: `SCIVISION_CHANNEL` (`from_env`), the config file's `scivision-channel`,
/// or the `channel/` built from this repository when it exists. Never an invented URL.
pub fn scivision_channel(config: &ConfigFile, from_env: Option<&str>) -> Option<String> {
    from_env
        .map(str::to_string)
        .or_else(|| config.scivision_channel.clone())
        .or_else(|| {
            let built = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("channel");
            built
                .join("noarch/repodata.json")
                .is_file()
                .then(|| built.display().to_string())
        })
}

/// The channels used when no `-c` is given: the config file's `channels`, else conda-forge
/// followed by the scivision channel (`from_env`: `SCIVISION_CHANNEL`, from [`Settings`]).
pub fn default_channels(config: &ConfigFile, from_env: Option<&str>) -> Vec<String> {
    if let Some(channels) = &config.channels {
        return channels.clone();
    }
    let mut channels = vec!["conda-forge".to_string()];
    channels.extend(scivision_channel(config, from_env));
    channels
}

/// `$XDG_CONFIG_HOME/scivision/config.toml` (or `SCIVISION_CONFIG`).
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ConfigFile {
    /// Default channels, in priority order.
    pub channels: Option<Vec<String>>,
    /// Where the scivision channel is (a path or URL).
    pub scivision_channel: Option<String>,
    /// PyPI index options (`index-url`, `extra-index-url`, `find-links`, `no-index`).
    pub pypi: Option<crate::pypi::IndexOptions>,
    /// Where conda-forge's conda → PyPI name mapping comes from: a URL (refreshed daily into
    /// the cache), a file, or `embedded`.
    pub conda_pypi_mapping: Option<String>,
    /// Channels that mirror conda-forge, whose packages are named by its mapping (channels
    /// whose last path segment is `conda-forge` are without saying).
    pub conda_forge_mirrors: Option<Vec<String>>,
    /// A site's copy of the models' weight files (`weights fetch --mirror`).
    pub weights_mirror: Option<String>,
}

/// A config file that could not be read.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
#[error("cannot read config {}", path.display())]
#[diagnostic(help(
    "the config file is TOML with `channels = [...]`, `scivision-channel = \"...\"`, `conda-pypi-mapping = \"URL|FILE|embedded\"`, `conda-forge-mirrors = [...]`, `weights-mirror = \"URL\"` and a `[pypi]` table (`index-url`, `extra-index-url`, `find-links`, `no-index`)"
))]
pub struct ConfigError {
    /// The file.
    pub path: PathBuf,
    /// Why.
    #[source]
    pub source: crate::message::Cause,
}

impl ConfigFile {
    /// Where the config file is read from: `SCIVISION_CONFIG`, else
    /// `$XDG_CONFIG_HOME/scivision/config.toml`.
    pub fn path() -> PathBuf {
        std::env::var_os("SCIVISION_CONFIG")
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                dirs::config_dir()
                    .unwrap_or_else(std::env::temp_dir)
                    .join("scivision")
                    .join("config.toml")
            })
    }

    /// Reads the config file; a missing file is an empty config.
    pub fn load() -> Result<Self, ConfigError> {
        Self::load_from(&Self::path())
    }

    /// Reads the config file at `path`; a missing file is an empty config.
    pub fn load_from(path: &Path) -> Result<Self, ConfigError> {
        let path = path.to_path_buf();
        if !path.is_file() {
            return Ok(Self::default());
        }
        let text = fs_err::read_to_string(&path).map_err(|e| ConfigError {
            path: path.clone(),
            source: e.into(),
        })?;
        toml::from_str(&text).map_err(|e| ConfigError {
            path,
            source: e.into(),
        })
    }
}
