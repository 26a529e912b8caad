//! From a command line to a library [`Request`]: the catalog entry, channels, virtual packages,
//! PyPI options and the conda → PyPI mapping, and what a default channel's failure tells the user.

use std::path::PathBuf;

use miette::IntoDiagnostic;
use rattler_conda_types::{MatchSpec, ParseStrictness};

use super::SolveArgs;
use crate::catalog::Catalog;
use crate::config::ConfigFile;
use crate::env::Request;
use crate::system::{self, CudaChoice};

pub(super) async fn request(model: &str, args: &SolveArgs) -> miette::Result<Request> {
    let mut catalog = Catalog::load(&crate::cli::settings().catalogs)?;
    let config = ConfigFile::load()?;
    let channel_strings = if args.channels.is_empty() {
        crate::config::default_channels(&config)
    } else {
        args.channels.clone()
    };
    let cwd = std::env::current_dir().into_diagnostic()?;
    let channels = crate::solve::parse_channels(&channel_strings, cwd)?;
    let mapping = pypi_mapping(&config, &channels, args.offline).await?;
    // A model a channel publishes installs from its package: conda alone.
    catalog.use_published(
        &crate::channel::published_in(&channels, |url| mapping.applies_to(url), args.offline).await,
    );
    let spec = catalog.resolve(model)?;
    if let (Some(card), None) = (&spec.model.card, &spec.model.published_by) {
        // Checked before anything is solved or written: uv clones git sources with the git CLI.
        if let Some(tool) = card.missing_host_tools().first() {
            return Err(miette::miette!(
                help = "install it with the system's package manager (apt-get install git, brew install git), or use a channel that publishes the model as a package, then run the command again",
                "`{}` installs from a git repository, which needs `{tool}` on PATH, and there is none",
                spec.model.name
            ));
        }
    }
    let platform = crate::cli::target_platform(args.platform.as_ref())?;
    let mut specs = spec.conda;
    if let Some(py) = &args.python {
        let text = if py.chars().all(|c| c.is_ascii_digit() || c == '.') {
            format!("python {py}.*")
        } else {
            format!("python {py}")
        };
        specs.push(
            crate::solve::match_spec(&text, ParseStrictness::Lenient).map_err(|e| {
                crate::cli::bad_input!(help = "give a version such as 3.11", "--python `{py}`: {e}")
            })?,
        );
    }
    for extra in &args.with {
        specs.push(
            crate::solve::match_spec(extra, ParseStrictness::Lenient).map_err(|e| {
                crate::cli::bad_input!(
                    help = "match specs look like `numpy >=1.26,<2`",
                    "--with `{extra}`: {e}"
                )
            })?,
        );
    }
    if !args.no_runner {
        // The runner lets `predict` and the Python client talk to the model in its prefix.
        specs.push(
            MatchSpec::from_str("scivision-runner", ParseStrictness::Lenient).into_diagnostic()?,
        );
    }
    // A card whose code runs on the CPU only gets CPU builds, unless --cuda says otherwise.
    let cuda = match &args.cuda {
        CudaChoice::Auto if spec.model.cpu_only => CudaChoice::None,
        other => other.clone(),
    };
    let virtual_packages =
        system::virtual_packages(platform, &cuda, &crate::cli::settings().overrides)?;
    let mut pypi = spec.pypi;
    for text in &args.pypi {
        pypi.push(crate::pypi::PypiRequirement::parse(text, "--pypi")?);
    }
    let index = crate::pypi::IndexOptions {
        index_url: args.index_url.clone(),
        extra_index_url: args.extra_index_url.clone(),
        find_links: args.find_links.clone(),
        no_index: args.no_index,
    }
    .over(&config.pypi.clone().unwrap_or_default());
    Ok(Request {
        entry: spec.model.entry.clone(),
        weights: spec
            .model
            .card
            .as_ref()
            .map(|c| c.weights.clone())
            .unwrap_or_default(),
        model: spec.model.name,
        specs,
        platform,
        virtual_packages,
        offline: args
            .offline
            .then(|| crate::cli::settings().dirs.clone().packages),
        pypi,
        index,
        pypi_overrides: spec.model.pypi_overrides.clone(),
        pypi_no_build_isolation: spec
            .model
            .pypi_no_build_isolation
            .iter()
            .chain(&args.no_build_isolation_package)
            .cloned()
            .collect(),
        verify_cache_fully: crate::cli::settings().verify_cache_fully,
        mapping,
        package: spec.model.conda_package.clone(),
        published_by: spec.model.published_by.clone(),
        cpu_only: spec.model.cpu_only,
        channels,
    })
}

/// The conda → PyPI mapping for this command: conda-forge's (from `SCIVISION_CONDA_PYPI_MAPPING`
/// or the config's `conda-pypi-mapping`: a URL refreshed into the cache, a file, or `embedded`;
/// by default the public parselmouth file, refreshed when online), applied to conda-forge and to
/// the config's `conda-forge-mirrors`.
async fn pypi_mapping(
    config: &ConfigFile,
    channels: &[rattler_conda_types::Channel],
    offline: bool,
) -> miette::Result<crate::mapping::PypiMapping> {
    use crate::mapping::{
        MappingError, MappingLocation, NameMap, PypiMapping, CONDA_FORGE_MAPPING_URL,
    };
    // Paths in the config file are relative to its folder.
    let config_path = ConfigFile::path();
    let config_dir = config_path
        .parent()
        .map_or_else(|| PathBuf::from("."), std::path::Path::to_path_buf);
    let mirrors: Vec<url::Url> = crate::solve::parse_channels(
        config.conda_forge_mirrors.as_deref().unwrap_or_default(),
        config_dir.clone(),
    )
    .map_err(|e| {
        crate::cli::bad_input!(
            help = "conda-forge-mirrors lists channels (URLs or paths) that mirror conda-forge",
            "conda-forge-mirrors in {}: {e}",
            config_path.display()
        )
    })?
    .iter()
    .filter_map(|c| url::Url::parse(c.base_url.as_str()).ok())
    .collect();
    // Only records of conda-forge and its mirrors are named by the map: without such a channel
    // there is nothing to load or refresh.
    let probe = PypiMapping::new(NameMap::embedded(), mirrors.clone());
    if !channels
        .iter()
        .any(|c| probe.applies_to(c.base_url.as_str()))
    {
        return Ok(probe);
    }
    let (location, field, base) = match std::env::var("SCIVISION_CONDA_PYPI_MAPPING") {
        Ok(v) if !v.is_empty() => (
            v,
            "SCIVISION_CONDA_PYPI_MAPPING".to_string(),
            PathBuf::from("."),
        ),
        _ => (
            config
                .conda_pypi_mapping
                .clone()
                .unwrap_or_else(|| CONDA_FORGE_MAPPING_URL.to_string()),
            format!("conda-pypi-mapping in {}", config_path.display()),
            config_dir,
        ),
    };
    let help =
        "give the URL of a parselmouth-style mapping (https://…), a JSON file, or `embedded`";
    let parsed = MappingLocation::parse(&location, &base)
        .map_err(|e| miette::miette!(help = help, "{field} `{location}`: {e}"))?;
    let cache_dir = crate::cli::settings()
        .dirs
        .clone()
        .cache
        .join("conda-pypi-mapping");
    let map = crate::mapping::load(&parsed, &cache_dir, offline)
        .await
        .map_err(|e| match e {
            MappingError::Unreadable(e) => {
                miette::miette!(help = help, "{field} `{location}`: {e}")
            }
            MappingError::NotAMapping(e) => crate::cli::bad_input!(
                help = "the file maps conda names to lists of PyPI names: {\"pytorch\": [\"torch\"], \"libzlib\": null}",
                "{field} `{location}` is not a conda → PyPI mapping: {e}"
            ),
        })?;
    Ok(PypiMapping::new(map, mirrors))
}

/// A repodata failure of a default channel (no `-c` given: conda-forge, most often, on a machine
/// that cannot reach it) says which channel failed and how to name the local one instead.
pub(super) fn on_default_channels(e: crate::env::EnvError, args: &SolveArgs) -> miette::Report {
    use crate::env::EnvError;
    use crate::solve::SolveError;
    match e {
        EnvError::Solve(SolveError::Gateway {
            channel: Some(channel),
            reason,
            ..
        }) if args.channels.is_empty() => {
            let defaults = ConfigFile::load()
                .map(|c| crate::config::default_channels(&c))
                .unwrap_or_default();
            // Still a gateway error: its class (network, exit 6) stays.
            EnvError::Solve(SolveError::Gateway {
                channel: Some(format!("{channel}, a default channel")),
                reason,
                help: format!(
                    "without -c, scivision uses its default channels ({}); to work from the channel built from recipes/ alone, name it: `-c ./channel` (or set `channels = [\"/path/to/channel\"]` in {}); `--offline` uses what is cached",
                    defaults.join(", "),
                    ConfigFile::path().display()
                ),
            })
            .into()
        }
        other => other.into(),
    }
}
