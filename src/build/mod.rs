//! Building conda packages from recipes, in dependency order, into a channel.
//!
//! Each recipe variant goes through: render → resolve sources → solve and install the host
//! environment into a placeholder prefix → produce the files (script, PEP 517 wheel, or a
//! downloaded wheel) → write a `.conda` into a staging folder → test it in a fresh prefix →
//! move it into the channel and re-index. Inputs are hashed; an unchanged recipe is taken from
//! the build cache instead of being built again.

pub mod package;
mod plan;
pub mod script;
pub mod source;
pub mod wheel;

pub use plan::{discover, order, plan};

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::str::FromStr;

use rattler_conda_types::{PackageName, Subdir};
use sha2::{Digest, Sha256};

use crate::recipe::{NoArch, RecipeError, RenderedRecipe};

/// Everything that can fail while building.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum BuildError {
    /// A recipe is invalid.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Recipe(#[from] RecipeError),
    /// File system trouble.
    #[error("{}: {source}", path.display())]
    Io {
        /// The path involved.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// A source could not be fetched or laid out.
    #[error("source {source_desc}: {reason}")]
    #[diagnostic(help("check the recipe's `source` entry (url, path or git and rev)"))]
    Source {
        /// The URL or path.
        source_desc: String,
        /// Why.
        reason: String,
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
    /// The build script exited with an error.
    #[error("the build script of {package} failed (exit code {status}); last lines of {}:\n{tail}", log.display())]
    #[diagnostic(help("{}", if *outside_prefix { "the script wrote outside $PREFIX, $SRC_DIR and $TMPDIR, which the build sandbox forbids: install into $PREFIX" } else { "fix the script in the recipe; the full log is kept at the path shown" }))]
    ScriptFailed {
        /// The package.
        package: String,
        /// Exit code.
        status: i32,
        /// Log file.
        log: PathBuf,
        /// The end of the log.
        tail: String,
        /// Whether the failure was a write outside the writable folders.
        outside_prefix: bool,
    },
    /// The host or test environment could not be created.
    #[error("{package}: cannot create the {which} environment")]
    #[diagnostic(help("build the packages it needs first, or add their channel with -c"))]
    Environment {
        /// The package being built.
        package: String,
        /// `host`, `build` or `test`.
        which: &'static str,
        /// The solve or install error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The recipe's own test failed.
    #[error("test of {package} failed: {what}\n{output}")]
    #[diagnostic(help("the package was not added to the channel; fix the package or its test"))]
    TestFailed {
        /// The package.
        package: String,
        /// Which test.
        what: String,
        /// Its output.
        output: String,
    },
    /// The recipe and the wheel it converts disagree.
    #[error("{recipe}: {message}")]
    #[diagnostic(help(
        "make `package.name`/`package.version` match the wheel, or fix the source"
    ))]
    Mismatch {
        /// The recipe file.
        recipe: String,
        /// What differs.
        message: String,
    },
    /// A deprecation request is invalid.
    #[error("cannot deprecate `{spec}`: {message}")]
    #[diagnostic(help("give NAME or NAME==VERSION of a package in the channel, and a --reason"))]
    Deprecation {
        /// As given.
        spec: String,
        /// What is wrong.
        message: String,
    },
    /// Recipes depend on each other in a cycle.
    #[error("recipes depend on each other in a cycle: {0}")]
    #[diagnostic(help("break the cycle in the recipes' requirements"))]
    Cycle(String),
    /// A package without any file and not a metapackage.
    #[error("{package} has no files")]
    #[diagnostic(help("the build produced nothing in $PREFIX"))]
    EmptyPackage {
        /// The package.
        package: String,
    },
    /// Indexing the channel failed.
    #[error("cannot index {}: {reason}", dir.display())]
    Index {
        /// The channel.
        dir: PathBuf,
        /// Why.
        reason: String,
    },
    /// A PEP 517 build could not start.
    #[error("{package}: {message}")]
    #[diagnostic(help(
        "add the build backend (build-system.requires in pyproject.toml) to `requirements.host`"
    ))]
    Pep517 {
        /// The package.
        package: String,
        /// What is missing.
        message: String,
    },
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
    /// rattler's package cache.
    pub package_cache_dir: PathBuf,
    /// Rebuild even when the inputs are unchanged.
    pub force: bool,
    /// Run the recipes' tests.
    pub test: bool,
    /// Keep work directories after success.
    pub keep_work: bool,
}

impl BuildConfig {
    /// A configuration for `output_dir` with the default caches and no extra channels.
    pub fn new(output_dir: PathBuf, cache_dir: PathBuf, package_cache_dir: PathBuf) -> Self {
        Self {
            output_dir,
            channels: Vec::new(),
            target_platform: Subdir::current().unwrap_or(Subdir::Linux64),
            cache_dir,
            package_cache_dir,
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

/// Builds `recipes` (already planned) into the output channel, indexing after each package.
pub async fn build_all(
    recipes: &[RenderedRecipe],
    config: &BuildConfig,
    reporter: &dyn BuildReporter,
) -> Result<Vec<BuildOutcome>, BuildError> {
    fs_err::create_dir_all(&config.output_dir).map_err(|source| BuildError::Io {
        path: config.output_dir.clone(),
        source,
    })?;
    let output_dir = config
        .output_dir
        .canonicalize()
        .map_err(|source| BuildError::Io {
            path: config.output_dir.clone(),
            source,
        })?;
    let config = BuildConfig {
        output_dir,
        ..config.clone()
    };
    // The output channel is also where host dependencies come from: it must have repodata.
    // An indexed channel is left as it is until a package is added.
    if !config.output_dir.join("noarch/repodata.json").exists() {
        crate::channel::index(&config.output_dir, None, false).await?;
    }
    let mut outcomes = Vec::new();
    for recipe in recipes {
        let outcome = builder::build_one(recipe, &config, reporter).await?;
        reporter.finished(&outcome);
        outcomes.push(outcome);
    }
    Ok(outcomes)
}

mod builder;

/// A short hash for build strings.
pub(crate) fn short_hash(input: &str) -> String {
    hex::encode(Sha256::digest(input.as_bytes()))[..7].to_string()
}

/// Whether `name` is a valid conda package name (used by `convert` for mapped names).
pub fn is_valid_name(name: &str) -> bool {
    PackageName::from_str(name).is_ok()
}

/// The python `major.minor` among installed records, if python is one of them.
pub(crate) fn python_version_of(records: &[rattler_conda_types::RepoDataRecord]) -> Option<String> {
    records
        .iter()
        .find(|r| r.package_record.name.as_normalized() == "python")
        .map(|r| {
            let v = r.package_record.version.to_string();
            v.split('.').take(2).collect::<Vec<_>>().join(".")
        })
}

/// Entries of `extra.scivision` and about, as `about.json` holds them.
pub(crate) fn about_json(r: &RenderedRecipe) -> serde_json::Value {
    let a = &r.recipe.about;
    let mut map = serde_json::Map::new();
    let mut put = |k: &str, v: &Option<String>| {
        if let Some(v) = v {
            map.insert(k.into(), serde_json::Value::String(v.clone()));
        }
    };
    put("home", &a.homepage);
    put("dev_url", &a.repository);
    put("doc_url", &a.documentation);
    put("license", &a.license);
    put("license_family", &a.license_family);
    put("summary", &a.summary);
    put("description", &a.description);
    let extra: BTreeMap<String, serde_json::Value> = r
        .recipe
        .extra
        .iter()
        .filter_map(|(k, v)| serde_json::to_value(v).ok().map(|v| (k.clone(), v)))
        .collect();
    if !extra.is_empty() {
        map.insert("extra".into(), serde_json::json!(extra));
    }
    serde_json::Value::Object(map)
}

/// Whether the recipe is `noarch: python`.
pub(crate) fn is_noarch_python(r: &RenderedRecipe) -> bool {
    r.recipe.build.noarch == Some(NoArch::Python)
}
