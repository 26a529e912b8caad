//! Building conda packages from recipes, in dependency order, into a channel.
//!
//! rattler-build's engine ([`engine`]) renders, builds and tests every recipe; scivision adds
//! the order of a recipes folder ([`plan`]), the build cache keyed by an input hash, a test in a
//! fresh prefix before a package is placed, the atomic move into the channel and the index
//! ([`builder`]). `scivision convert` turns a wheel into a package without any of that
//! ([`wheel`], [`package`]).

pub mod engine;
mod plan;
pub mod sandbox;
pub mod source;
pub mod wheel;

pub use engine::{Engine, EngineReport, EngineSettings};
pub use plan::{discover, order, plan, recipe_file, recipes_from, Planned};

use std::path::{Path, PathBuf};
use std::str::FromStr;

use rattler_conda_types::{PackageName, Subdir};

/// Everything that can fail while building.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum BuildError {
    /// File system trouble.
    #[error("I/O error at {}", path.display())]
    Io {
        /// The path involved.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// A source could not be fetched or laid out.
    #[error("source {source_desc}")]
    #[diagnostic(help("check the recipe's `source` entry (url, path or git and rev)"))]
    Source {
        /// The URL or path.
        source_desc: String,
        /// Why: the client's error, or what is wrong with the entry.
        #[source]
        source: crate::message::Cause,
    },
    /// Downloaded or local bytes differ from the recipe's sha256.
    #[error("sha256 mismatch for {what}: the recipe expects {expected}, the file has {actual}")]
    #[diagnostic(help("if the upstream file changed on purpose, update `source.sha256` in the recipe; otherwise the download is corrupt or tampered with"))]
    HashMismatch {
        /// What was hashed.
        what: String,
        /// From the recipe.
        expected: String,
        /// Computed.
        actual: String,
    },
    /// A wheel is malformed.
    #[error("wheel {}: {reason}", wheel.display())]
    #[diagnostic(help(
        "the wheel is broken or was tampered with; download it again from its index"
    ))]
    BadWheel {
        /// The wheel file.
        wheel: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// rattler-build's engine could not render, resolve or build a recipe.
    #[error("cannot {what}")]
    Engine {
        /// What scivision asked of the engine.
        what: String,
        /// rattler-build's own report (file, line, key and help where it has them).
        #[source]
        #[diagnostic_source]
        source: EngineReport,
    },
    /// The build script failed.
    #[error("the build script of {package} failed; last lines of {}:\n{tail}", log.display())]
    #[diagnostic(help("{}", if *outside_prefix { "the script wrote outside its build folder ($PREFIX, $SRC_DIR, $BUILD_PREFIX), which the build sandbox forbids: install into $PREFIX" } else { "fix the script in the recipe; the full log is kept at the path shown" }))]
    ScriptFailed {
        /// The package.
        package: String,
        /// The script's log (kept).
        log: PathBuf,
        /// The end of the log.
        tail: String,
        /// Whether the failure was a write outside the writable folders.
        outside_prefix: bool,
        /// rattler-build's report.
        #[source]
        source: EngineReport,
    },
    /// The recipe's own test failed.
    #[error("the tests of {package} failed")]
    #[diagnostic(help("the package was not added to the channel; fix the package or its test"))]
    TestFailed {
        /// The package.
        package: String,
        /// rattler-build's report of the failing test.
        #[source]
        #[diagnostic_source]
        source: EngineReport,
    },
    /// The package's run requirements cannot be solved from the channels.
    #[error("{package} cannot be installed from the channels ({channels}): its run requirements do not solve")]
    #[diagnostic(help("the package was not added to the channel; pass the channels its run requirements come from with -c (conda-forge), or fix `requirements.run`"))]
    NotInstallable {
        /// The package.
        package: String,
        /// The channels solved against.
        channels: String,
        /// The solver's explanation.
        #[source]
        #[diagnostic_source]
        source: crate::solve::SolveError,
    },
    /// Nothing to build.
    #[error("no recipes to build")]
    #[diagnostic(help(
        "run in a folder with recipes/<name>/recipe.yaml, or name recipes on the command line"
    ))]
    NoRecipes,
    /// Recipes depend on each other in a cycle.
    #[error("recipes depend on each other in a cycle: {0}")]
    #[diagnostic(help("break the cycle in the recipes' requirements"))]
    Cycle(String),
    /// The channel the packages go into.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Channel(#[from] crate::channel::ChannelError),
    /// Writing a package failed.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Package(#[from] crate::package::PackageError),
    /// A `-c` channel that does not parse.
    #[error("`{}` is not a channel name, URL or path", dir.display())]
    BadChannel {
        /// The channel as given.
        dir: PathBuf,
        /// The parser's error.
        #[source]
        source: rattler_conda_types::ParseChannelError,
    },
}

impl BuildError {
    /// A mapper from an I/O error to a [`BuildError::Io`] that names `path`.
    pub(crate) fn io(path: &Path) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.to_path_buf();
        move |source| Self::Io { path, source }
    }
}

/// Progress events from a build, for the CLI to present.
pub trait BuildReporter: Send + Sync {
    /// A recipe starts a phase (`source`, `host env`, `script`, `package`, `test`).
    fn phase(&self, package: &str, phase: &str);
    /// A recipe finished.
    fn finished(&self, outcome: &BuildOutcome);
}

/// A reporter that reports nothing.
pub struct NoReporter;

impl BuildReporter for NoReporter {
    fn phase(&self, _: &str, _: &str) {}
    fn finished(&self, _: &BuildOutcome) {}
}

/// What happened to one recipe variant.
#[derive(Debug, Clone, serde::Serialize)]
pub struct BuildOutcome {
    /// `name-version-build`.
    pub package: String,
    /// The file in the channel (`linux-64/x.conda`).
    pub file: String,
    /// `built`, `cached` (from the build cache) or `unchanged` (already in the channel).
    pub status: &'static str,
    /// Seconds spent.
    pub seconds: f64,
}

/// Build configuration.
#[derive(Debug, Clone)]
pub struct BuildConfig {
    /// The channel the packages go to (also a source of host dependencies).
    pub output_dir: PathBuf,
    /// Other channels for host and test dependencies.
    pub channels: Vec<String>,
    /// The subdir to build for.
    pub target_platform: Subdir,
    /// Root of scivision's caches (`sources/`, `builds/`, `work/`).
    pub cache_dir: PathBuf,
    /// Root of rattler's caches (`pkgs/`, repodata), shared with environments.
    pub rattler_cache_dir: PathBuf,
    /// Variant config files (`-m`), after each recipe's own `variants.yaml`.
    pub variant_configs: Vec<PathBuf>,
    /// The packages' timestamp: `SOURCE_DATE_EPOCH` when set, else [`default_timestamp`].
    pub timestamp: jiff::Timestamp,
    /// Virtual packages of the build machine (`CONDA_OVERRIDE_*` applied at the edge).
    pub virtual_packages: rattler_virtual_packages::VirtualPackageOverrides,
    /// Run build scripts in the sandbox (needs `rattler-sandbox` on `PATH`).
    pub sandbox: bool,
    /// rattler-build's experimental recipe features.
    pub experimental: bool,
    /// Rebuild even when the inputs are unchanged.
    pub force: bool,
    /// Run the recipes' tests.
    pub test: bool,
    /// Keep work directories after success.
    pub keep_work: bool,
}

impl BuildConfig {
    /// A configuration for `output_dir` with the default caches and no extra channels.
    pub fn new(output_dir: PathBuf, cache_dir: PathBuf, rattler_cache_dir: PathBuf) -> Self {
        Self {
            output_dir,
            channels: Vec::new(),
            target_platform: Subdir::current().unwrap_or(Subdir::Linux64),
            cache_dir,
            rattler_cache_dir,
            variant_configs: Vec::new(),
            timestamp: default_timestamp(),
            virtual_packages: rattler_virtual_packages::VirtualPackageOverrides::default(),
            sandbox: false,
            experimental: false,
            force: false,
            test: true,
            keep_work: false,
        }
    }

    /// Sets the channels for dependencies.
    #[must_use]
    pub fn with_channels(mut self, channels: Vec<String>) -> Self {
        self.channels = channels;
        self
    }

    /// Rebuild even when nothing changed.
    #[must_use]
    pub fn with_force(mut self, force: bool) -> Self {
        self.force = force;
        self
    }

    /// Whether to run recipe tests.
    #[must_use]
    pub fn with_tests(mut self, test: bool) -> Self {
        self.test = test;
        self
    }
}

/// The engine for `config`: the output channel first among the channels, rattler-build's
/// output folder (its source cache and build folders) under scivision's cache.
pub fn engine(
    config: &BuildConfig,
    client: reqwest_middleware::ClientWithMiddleware,
) -> Result<Engine, BuildError> {
    // Nothing is created here: a recipe that fails to render leaves no channel behind.
    let output_dir =
        std::path::absolute(&config.output_dir).map_err(BuildError::io(&config.output_dir))?;
    let cwd = std::env::current_dir().map_err(BuildError::io(Path::new(".")))?;
    let channel_config = rattler_conda_types::ChannelConfig::default_with_root_dir(cwd);
    let mut channels = vec![rattler_conda_types::ChannelUrl::from(
        url::Url::from_directory_path(&output_dir).map_err(|()| BuildError::Io {
            path: output_dir.clone(),
            source: std::io::Error::other("not an absolute path"),
        })?,
    )];
    for c in &config.channels {
        let channel = rattler_conda_types::Channel::from_str(c, &channel_config).map_err(|e| {
            BuildError::BadChannel {
                dir: PathBuf::from(c),
                source: e,
            }
        })?;
        channels.push(channel.base_url);
    }
    let staging_dir = std::path::absolute(config.cache_dir.join("rattler-build"))
        .map_err(BuildError::io(&config.cache_dir))?;
    let settings = EngineSettings {
        staging_dir,
        channels,
        target_platform: config.target_platform,
        variant_configs: config.variant_configs.clone(),
        rattler_cache_dir: config.rattler_cache_dir.clone(),
        timestamp: config.timestamp,
        keep_work: config.keep_work,
        virtual_packages: config.virtual_packages.clone(),
        sandbox: config.sandbox,
        experimental: config.experimental,
    };
    Engine::new(settings, client)
}

/// Builds `planned` outputs (in order) into the output channel, indexing after each package.
pub async fn build_all(
    planned: &[Planned],
    engine: &Engine,
    config: &BuildConfig,
    reporter: &dyn BuildReporter,
) -> Result<Vec<BuildOutcome>, BuildError> {
    fs_err::create_dir_all(&config.output_dir).map_err(BuildError::io(&config.output_dir))?;
    let output_dir = config
        .output_dir
        .canonicalize()
        .map_err(BuildError::io(&config.output_dir))?;
    let config = BuildConfig {
        output_dir,
        ..config.clone()
    };
    // The output channel is also where build, host and test dependencies come from: it must
    // have repodata. An indexed channel is left as it is until a package is added.
    if !config.output_dir.join("noarch/repodata.json").exists() {
        crate::channel::index(&config.output_dir, None, false).await?;
    }
    let mut outcomes = Vec::new();
    for p in planned {
        let outcome = builder::build_one(p, engine, &config, reporter).await?;
        reporter.finished(&outcome);
        outcomes.push(outcome);
    }
    Ok(outcomes)
}

mod builder;

/// The packages' timestamp when `SOURCE_DATE_EPOCH` is not set: fixed, so that the same inputs
/// give the same bytes, and 1980-01-02, since the zip container of a `.conda` cannot hold an
/// earlier date.
pub fn default_timestamp() -> jiff::Timestamp {
    jiff::Timestamp::from_second(315_619_200).unwrap_or(jiff::Timestamp::UNIX_EPOCH)
}

/// Whether `name` is a valid conda package name (used by `convert` for mapped names).
pub fn is_valid_name(name: &str) -> bool {
    PackageName::from_str(name).is_ok()
}
