//! From what a command asks for to a [`Request`]: the catalog entry, channels, virtual
//! packages, PyPI options and the conda → PyPI mapping; and what a default channel's failure
//! tells the user.

use std::path::{Path, PathBuf};

use rattler_conda_types::{MatchSpec, ParseStrictness, Subdir};

use crate::catalog::{Catalog, CatalogError, Model};
use crate::config::{ConfigError, ConfigFile, Settings};
use crate::env::{EnvError, Request};
use crate::mapping::PypiMapping;
use crate::solve::SolveError;
use crate::system::{self, CudaChoice};

/// What a command asks of an environment (the flags shared by the commands that solve).
#[derive(Debug, Clone, Default)]
pub struct RequestOptions {
    /// A catalog name, optionally narrowed as a match spec.
    pub model: String,
    /// Channels given (`-c`); empty: the config file's, else the defaults.
    pub channels: Vec<String>,
    /// `--python`: a version (`3.11` means `python 3.11.*`) or a version spec.
    pub python: Option<String>,
    /// The CUDA driver to solve for.
    pub cuda: CudaChoice,
    /// `--platform`: the target conda subdir (default: this machine's).
    pub platform: Option<String>,
    /// More conda specs (`--with`).
    pub with: Vec<String>,
    /// Leave out `scivision-runner`.
    pub no_runner: bool,
    /// No network.
    pub offline: bool,
    /// More PyPI requirements (`--pypi`).
    pub pypi: Vec<String>,
    /// More PyPI names built without isolation.
    pub no_build_isolation_package: Vec<String>,
    /// The PyPI indexes given; what is not given comes from the config file.
    pub index: crate::pypi::IndexOptions,
}

/// Why a request could not be made.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum RequestError {
    /// The catalog could not be read, or has no such model.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Catalog(#[from] CatalogError),
    /// The config file is malformed.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Config(#[from] ConfigError),
    /// A channel, spec or the host's virtual packages could not be read.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Solve(#[from] SolveError),
    /// A PyPI requirement is malformed.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Pypi(#[from] crate::pypi::PypiError),
    /// The working folder, against which relative channel paths resolve, cannot be read.
    #[error(transparent)]
    WorkingDir(std::io::Error),
    /// The runner's own spec did not parse.
    #[error(transparent)]
    Spec(#[from] rattler_conda_types::ParseMatchSpecError),
    /// The model's source needs a tool the host lacks.
    #[error(
        "`{model}` installs from a git repository, which needs `{tool}` on PATH, and there is none"
    )]
    #[diagnostic(help(
        "install it with the system's package manager (apt-get install git, brew install git), or use a channel that publishes the model as a package, then run the command again"
    ))]
    MissingTool {
        /// The model.
        model: String,
        /// The tool.
        tool: &'static str,
    },
    /// `--platform` is no conda subdir.
    #[error("--platform `{given}`: {reason}")]
    #[diagnostic(help(
        "platforms are conda subdirs: linux-64, linux-aarch64, osx-64, osx-arm64, win-64"
    ))]
    Platform {
        /// What was given.
        given: String,
        /// Why it is wrong.
        reason: String,
    },
    /// `--python` is no version.
    #[error("--python `{given}`: {reason}")]
    #[diagnostic(help("give a version such as 3.11"))]
    Python {
        /// What was given.
        given: String,
        /// Why it is wrong.
        reason: String,
    },
    /// `--with` is no match spec.
    #[error("--with `{given}`: {reason}")]
    #[diagnostic(help("match specs look like `numpy >=1.26,<2`"))]
    With {
        /// What was given.
        given: String,
        /// Why it is wrong.
        reason: String,
    },
    /// The config file's `conda-forge-mirrors` are no channels.
    #[error("conda-forge-mirrors in {}", config.display())]
    #[diagnostic(help(
        "conda-forge-mirrors lists channels (URLs or paths) that mirror conda-forge"
    ))]
    Mirrors {
        /// The config file.
        config: PathBuf,
        /// The entry that is no channel.
        #[source]
        source: SolveError,
    },
    /// The conda → PyPI mapping's location is malformed or cannot be read.
    #[error("{field} `{location}` cannot be read")]
    #[diagnostic(help(
        "give the URL of a parselmouth-style mapping (https://…), a JSON file, or `embedded`"
    ))]
    Mapping {
        /// Where the location was given.
        field: String,
        /// The location.
        location: String,
        /// Why: the location's parse error, or the read's.
        #[source]
        source: crate::message::Cause,
    },
    /// The conda → PyPI mapping is not one.
    #[error("{field} `{location}` is not a conda → PyPI mapping")]
    #[diagnostic(help(
        "the file maps conda names to lists of PyPI names: {{\"pytorch\": [\"torch\"], \"libzlib\": null}}"
    ))]
    NotAMapping {
        /// Where the location was given.
        field: String,
        /// The location.
        location: String,
        /// The JSON error.
        #[source]
        source: serde_json::Error,
    },
}

impl RequestError {
    /// What kind of failure this is.
    pub fn class(&self) -> crate::message::ErrorClass {
        use crate::message::ErrorClass;
        match self {
            Self::Catalog(e) => e.class(),
            Self::Solve(e) => e.class(),
            Self::Pypi(e) => e.class(),
            Self::Config(_)
            | Self::Platform { .. }
            | Self::Python { .. }
            | Self::With { .. }
            | Self::Mirrors { .. }
            | Self::NotAMapping { .. } => ErrorClass::Input,
            Self::WorkingDir(_)
            | Self::Spec(_)
            | Self::MissingTool { .. }
            | Self::Mapping { .. } => ErrorClass::Failed,
        }
    }
}

/// The request for `options`: the model from the catalog (or the channel publishing it), its
/// channels, specs and virtual packages, and its PyPI half.
pub async fn request(
    options: &RequestOptions,
    settings: &Settings,
) -> Result<Request, RequestError> {
    let started = std::time::Instant::now();
    let mut catalog = Catalog::load(&settings.catalogs)?;
    tracing::debug!("request: catalog loaded in {:?}", started.elapsed());
    let config = ConfigFile::load_from(&settings.config_file)?;
    let channel_strings = if options.channels.is_empty() {
        crate::config::default_channels(&config, settings.scivision_channel.as_deref())
    } else {
        options.channels.clone()
    };
    let cwd = std::env::current_dir().map_err(RequestError::WorkingDir)?;
    let channels = crate::solve::parse_channels(&channel_strings, cwd)?;
    let mapping = pypi_mapping(&config, &channels, options, settings).await?;
    tracing::debug!("request: mapping ready at {:?}", started.elapsed());
    // A model a channel publishes installs from its package: conda alone.
    catalog.use_published(
        &crate::channel::published_in(&channels, |url| mapping.applies_to(url), options.offline)
            .await,
    );
    tracing::debug!("request: published models read at {:?}", started.elapsed());
    let spec = catalog.resolve(&options.model)?;
    host_tools(&spec.model)?;
    let platform = target_platform(options.platform.as_deref())?;
    let specs = conda_specs(spec.conda, options)?;
    // A card whose code runs on the CPU only gets CPU builds, unless --cuda says otherwise.
    let cuda = match &options.cuda {
        CudaChoice::Auto if spec.model.cpu_only => CudaChoice::None,
        other => other.clone(),
    };
    let virtual_packages = system::virtual_packages(
        platform,
        &cuda,
        &settings.overrides,
        Some(&system::detection_cache(&settings.dirs.cache)),
    )?;
    tracing::debug!("request: virtual packages at {:?}", started.elapsed());
    let mut pypi = spec.pypi;
    for text in &options.pypi {
        pypi.push(crate::pypi::PypiRequirement::parse(text, "--pypi")?);
    }
    let index = options
        .index
        .clone()
        .over(&config.pypi.clone().unwrap_or_default());
    let model = spec.model;
    Ok(Request {
        entry: model.entry,
        weights: model.card.map(|c| c.weights).unwrap_or_default(),
        model: model.name,
        specs,
        platform,
        virtual_packages,
        offline: options.offline.then(|| settings.dirs.packages.clone()),
        pypi,
        index,
        pypi_overrides: model.pypi_overrides,
        pypi_no_build_isolation: model
            .pypi_no_build_isolation
            .into_iter()
            .chain(options.no_build_isolation_package.iter().cloned())
            .collect(),
        verify_cache_fully: settings.verify_cache_fully,
        mapping,
        package: model.conda_package,
        published_by: model.published_by,
        cpu_only: model.cpu_only,
        channels,
    })
}

/// Checked before anything is solved or written: uv clones git sources with the git CLI.
fn host_tools(model: &Model) -> Result<(), RequestError> {
    if let (Some(card), None) = (&model.card, &model.published_by) {
        if let Some(tool) = card.missing_host_tools().first() {
            return Err(RequestError::MissingTool {
                model: model.name.clone(),
                tool,
            });
        }
    }
    Ok(())
}

/// The model's conda specs with `--python`, `--with` and the runner.
fn conda_specs(
    mut specs: Vec<MatchSpec>,
    options: &RequestOptions,
) -> Result<Vec<MatchSpec>, RequestError> {
    if let Some(py) = &options.python {
        let text = if py.chars().all(|c| c.is_ascii_digit() || c == '.') {
            format!("python {py}.*")
        } else {
            format!("python {py}")
        };
        specs.push(
            crate::solve::match_spec(&text, ParseStrictness::Lenient).map_err(|reason| {
                RequestError::Python {
                    given: py.clone(),
                    reason: reason.to_string(),
                }
            })?,
        );
    }
    for extra in &options.with {
        specs.push(
            crate::solve::match_spec(extra, ParseStrictness::Lenient).map_err(|reason| {
                RequestError::With {
                    given: extra.clone(),
                    reason: reason.to_string(),
                }
            })?,
        );
    }
    if !options.no_runner {
        // The runner lets `predict` and the Python client talk to the model in its prefix.
        specs.push(MatchSpec::from_str(
            "scivision-runner",
            ParseStrictness::Lenient,
        )?);
    }
    Ok(specs)
}

/// `--platform SUBDIR`, or this machine's platform when not given.
pub fn target_platform(given: Option<&str>) -> Result<Subdir, RequestError> {
    match given {
        None => Ok(Subdir::current().unwrap_or(Subdir::Linux64)),
        Some(p) => p.parse::<Subdir>().map_err(|e| RequestError::Platform {
            given: p.to_string(),
            reason: e.to_string(),
        }),
    }
}

/// The conda → PyPI mapping for this command: conda-forge's (from `SCIVISION_CONDA_PYPI_MAPPING`
/// or the config's `conda-pypi-mapping`: a URL refreshed into the cache, a file, or `embedded`;
/// by default the public parselmouth file, refreshed when online), applied to conda-forge and to
/// the config's `conda-forge-mirrors`.
async fn pypi_mapping(
    config: &ConfigFile,
    channels: &[rattler_conda_types::Channel],
    options: &RequestOptions,
    settings: &Settings,
) -> Result<PypiMapping, RequestError> {
    use crate::mapping::{MappingError, MappingLocation, CONDA_FORGE_MAPPING_URL};
    let cache = settings.dirs.cache.as_path();
    // Paths in the config file are relative to its folder.
    let config_path = settings.config_file.clone();
    let config_dir = config_path
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    let mirrors = mirrors(config, &config_path, &config_dir)?;
    // Only records of conda-forge and its mirrors are named by the map: without such a channel
    // there is nothing to load or refresh.
    let probe = PypiMapping::embedded(mirrors.clone());
    if !channels
        .iter()
        .any(|c| probe.applies_to(c.base_url.as_str()))
    {
        return Ok(probe);
    }
    // `SCIVISION_CONDA_PYPI_MAPPING` wins over the config file's `conda-pypi-mapping`.
    let (location, field, base) = match &settings.conda_pypi_mapping {
        Some(v) => (
            v.clone(),
            "SCIVISION_CONDA_PYPI_MAPPING".to_string(),
            PathBuf::from("."),
        ),
        None => (
            config
                .conda_pypi_mapping
                .clone()
                .unwrap_or_else(|| CONDA_FORGE_MAPPING_URL.to_string()),
            format!("conda-pypi-mapping in {}", config_path.display()),
            config_dir,
        ),
    };
    let unreadable = |cause: crate::message::Cause| RequestError::Mapping {
        field: field.clone(),
        location: location.clone(),
        source: cause,
    };
    let parsed = MappingLocation::parse(&location, &base).map_err(|e| unreadable(e.into()))?;
    let map = crate::mapping::load(&parsed, &cache.join("conda-pypi-mapping"), options.offline)
        .await
        .map_err(|e| match e {
            MappingError::Unreadable(e) => unreadable(e.into()),
            MappingError::NotAMapping(e) => RequestError::NotAMapping {
                field: field.clone(),
                location: location.clone(),
                source: e,
            },
        })?;
    Ok(PypiMapping::new(map, mirrors))
}

/// The config file's `conda-forge-mirrors`, as channel URLs.
fn mirrors(
    config: &ConfigFile,
    config_path: &Path,
    config_dir: &Path,
) -> Result<Vec<url::Url>, RequestError> {
    Ok(crate::solve::parse_channels(
        config.conda_forge_mirrors.as_deref().unwrap_or_default(),
        config_dir.to_path_buf(),
    )
    .map_err(|e| RequestError::Mirrors {
        config: config_path.to_path_buf(),
        source: e,
    })?
    .iter()
    .filter_map(|c| url::Url::parse(c.base_url.as_str()).ok())
    .collect())
}

/// A repodata failure of a default channel (no `-c` given: conda-forge, most often, on a machine
/// that cannot reach it) says which channel failed and how to name the local one instead.
pub fn on_default_channels(e: EnvError, channels_given: bool, settings: &Settings) -> EnvError {
    match e {
        EnvError::Solve(SolveError::Gateway {
            channel: Some(channel),
            source,
            ..
        }) if !channels_given => {
            let defaults = ConfigFile::load_from(&settings.config_file)
                .map(|c| crate::config::default_channels(&c, settings.scivision_channel.as_deref()))
                .unwrap_or_default();
            // Still a gateway error: its class (network, exit 6) stays.
            EnvError::Solve(SolveError::Gateway {
                channel: Some(format!("{channel}, a default channel")),
                source,
                help: format!(
                    "without -c, scivision uses its default channels ({}); to work from the channel built from recipes/ alone, name it: `-c ./channel` (or set `channels = [\"/path/to/channel\"]` in {}); `--offline` uses what is cached",
                    defaults.join(", "),
                    settings.config_file.display()
                ),
            })
        }
        other => other,
    }
}
