//! Model environments: one conda prefix per model under `$SCIVISION_HOME/envs/<name>`, with its
//! lock (`scivision.lock`, rattler_lock's format) and a small `scivision.json` describing the
//! request, created atomically and serialized per model by a file lock.
//!
//! A create installs into a staging folder beside the final one (the installer writes the final
//! path into shebangs and text files), then swaps it in with one `renameat2(RENAME_EXCHANGE)`;
//! a kill at any moment leaves the previous environment, or none, intact.

mod activation;
mod check;
mod create;
mod install;
mod pypi;
pub mod variants;
pub use check::{check, Check, Verdict};
pub use create::{create, CreateDirs, CreateOptions, CreateOutcome, CreateReporter, Quiet};
pub use pypi::PypiWanted;
use std::path::{Path, PathBuf};

use rattler_conda_types::{Channel, GenericVirtualPackage, MatchSpec, RepoDataRecord, Subdir};
use serde::{Deserialize, Serialize};

use crate::lock::{self, LockError};
use crate::solve::{self, SolveError};
use crate::{prefix, system};

/// The lock file inside a prefix.
pub const LOCK_FILE: &str = "scivision.lock";
/// What was asked for, inside a prefix.
pub const INFO_FILE: &str = "scivision.json";

/// Environment errors.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum EnvError {
    /// Fetching the model's weights failed.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Weights(#[from] crate::weights::WeightsError),
    /// Solving failed.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Solve(#[from] SolveError),
    /// The model cannot be installed on this host (or the given platform).
    #[error("cannot solve an environment for {model}:\n{explanation}\n\nwhat this host has against what the model needs:\n{host}")]
    #[diagnostic(help("{hint}"))]
    Unsolvable {
        /// The model.
        model: String,
        /// resolvo's explanation.
        explanation: String,
        /// Host facts against the virtual packages mentioned.
        host: String,
        /// What to do.
        hint: String,
    },
    /// Installing failed.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Install(#[from] prefix::InstallError),
    /// No variant of a lock fits this host.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Variant(#[from] crate::variant::ChoiceError),
    /// The lock could not be read or written.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Lock(#[from] LockError),
    /// No such environment.
    #[error("no environment named `{name}` in {}", home.display())]
    #[diagnostic(help("`scivision env list` shows the environments; create one with `scivision env create {name}`"))]
    NotFound {
        /// The name.
        name: String,
        /// The envs folder.
        home: PathBuf,
    },
    /// File system trouble.
    #[error("I/O error at {}", path.display())]
    Io {
        /// The path.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// The PyPI half failed.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Pypi(Box<crate::pypi::PypiError>),
    /// A package would write outside the prefix, or its files disagree with its paths.json.
    #[error("refusing the package {}: {file}: {reason}", entry.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default())]
    #[diagnostic(help(
        "nothing was installed; the package is malformed or hostile: report it to its channel's maintainers, or leave it out of the environment"
    ))]
    HostilePackage {
        /// The cache entry.
        entry: PathBuf,
        /// The offending path.
        file: String,
        /// Why.
        reason: String,
    },
    /// A package in the cache was changed on disk, and offline it cannot be fetched again.
    #[error("the package cache's {} is corrupt: {file}: {reason}; offline, it cannot be fetched again", entry.display())]
    #[diagnostic(help(
        "run the command once online (the package is fetched again), or copy a good package cache (RATTLER_CACHE_DIR/pkgs) from another machine"
    ))]
    CorruptCache {
        /// The cache entry.
        entry: PathBuf,
        /// The first file that differs.
        file: String,
        /// How.
        reason: String,
    },
    /// A create for another platform than this host's.
    #[error("cannot install {platform} packages on this {host} host")]
    #[diagnostic(help(
        "`scivision env lock --platform {platform}` writes a lock for that machine; create it there"
    ))]
    ForeignPlatform {
        /// The platform asked for.
        platform: String,
        /// This host's.
        host: String,
    },
    /// `--frozen --offline` with locked packages missing from the package cache.
    #[error("offline, and {} locked packages are not in the local package cache:\n  {}", missing.len(), missing.join("\n  "))]
    #[diagnostic(help(
        "run the same command once online, or copy the package cache (RATTLER_CACHE_DIR) from a machine that has them"
    ))]
    NotCachedOffline {
        /// Their URLs.
        missing: Vec<String>,
    },
    /// `--locked`, and a half of the environment no longer matches its lock.
    #[error("{} no longer matches the model's {half}: the {} adds {added:?} and drops {gone:?}", lock.display(), if *half == "spec" { "solve" } else { "resolution" })]
    #[diagnostic(help("run without --locked to update the environment and its lock"))]
    Drifted {
        /// The lock file.
        lock: PathBuf,
        /// `spec` (conda) or `PyPI requirements`.
        half: &'static str,
        /// What the new solve adds.
        added: Vec<String>,
        /// What it drops.
        gone: Vec<String>,
    },
    /// Activation failed.
    #[error("cannot activate {}", prefix.display())]
    Activation {
        /// The prefix.
        prefix: PathBuf,
        /// Why (rattler_shell's error).
        source: crate::message::Cause,
    },
}

impl From<crate::pypi::PypiError> for EnvError {
    fn from(e: crate::pypi::PypiError) -> Self {
        // Boxed: the PyPI errors carry several strings, and EnvError is returned everywhere.
        Self::Pypi(Box::new(e))
    }
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> EnvError + '_ {
    move |source| EnvError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// `scivision.json`: what an environment was created from.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct EnvInfo {
    /// Catalog name.
    pub model: String,
    /// The specs that were solved.
    pub specs: Vec<String>,
    /// The channels.
    pub channels: Vec<String>,
    /// The platform.
    pub platform: String,
    /// The model.yml fields of the model package, when it declares them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_entry: Option<crate::runner::ModelEntry>,
    /// The PyPI requirements asked for (card and `--pypi`; the model package's own follow from
    /// its conda record), to tell whether a create is a no-op.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pypi_requested: Vec<String>,
    /// The PyPI distributions installed (`name==version`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pypi_installed: Vec<String>,
    /// The PyPI half was installed from a lock (`--frozen`, `unpack`), not resolved for
    /// `pypi_requested`: a later plain create must resolve again.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub pypi_frozen: bool,
    /// The weight files the model's code loads (its package's `extra.scivision.weights`, or
    /// its card's), for `scivision weights fetch`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub weights: Vec<crate::weights::WeightFile>,
    /// The variant of a variant lock that was installed (`cpu`, `cuda12`), and why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<crate::variant::Choice>,
}

/// Where environments live.
#[derive(Debug, Clone)]
pub struct Envs {
    root: PathBuf,
}

/// A request to solve (and maybe install) an environment.
#[derive(Debug, Clone)]
pub struct Request {
    /// Catalog name (the env's name).
    pub model: String,
    /// Conda specs.
    pub specs: Vec<MatchSpec>,
    /// Channels, in priority order.
    pub channels: Vec<Channel>,
    /// Target platform.
    pub platform: Subdir,
    /// Virtual packages to solve with.
    pub virtual_packages: Vec<GenericVirtualPackage>,
    /// No network: repodata from the cache, only cached packages (or local channels) installable.
    pub offline: Option<PathBuf>,
    /// PyPI requirements from the card and the command line (the model package adds its own).
    pub pypi: Vec<crate::pypi::PypiRequirement>,
    /// Where PyPI packages come from.
    pub index: crate::pypi::IndexOptions,
    /// model.yml fields from the card, for models that are no conda package.
    pub entry: Option<crate::runner::ModelEntry>,
    /// The weight files from the card, for models that are no conda package.
    pub weights: Vec<crate::weights::WeightFile>,
    /// PyPI names whose requirements conda's packages satisfy whatever the metadata asks (a
    /// card's `pypi_overrides`).
    pub pypi_overrides: Vec<String>,
    /// PyPI names built without isolation inside the environment's own prefix, so that the build
    /// sees the conda frameworks (a card's `pypi_no_build_isolation`, the command line's
    /// `--no-build-isolation-package`; the model package may add its own).
    pub pypi_no_build_isolation: Vec<String>,
    /// Hash every file of cached packages and wheels before use, not only their sizes
    /// (`SCIVISION_VERIFY_CACHE=full`).
    pub verify_cache_fully: bool,
    /// Which PyPI names conda's packages provide.
    pub mapping: crate::mapping::PypiMapping,
    /// The conda package that is the model, when it is one: its `info/about.json` may add PyPI
    /// requirements. A card's model from PyPI has none.
    pub package: Option<String>,
    /// The channel publishing `package` as the catalog model, when it replaced the card.
    pub published_by: Option<String>,
    /// The model's code runs on the CPU only (its card says so): no CUDA variants by default.
    pub cpu_only: bool,
}

/// The result of a solve.
#[derive(Debug, Clone)]
pub struct Solution {
    /// The records.
    pub records: Vec<RepoDataRecord>,
    /// The PyPI half when it is already known (from a lock, or resolved without installing);
    /// `None`: resolve it in the staging prefix during install.
    pub pypi: Option<lock::PypiHalf>,
    /// The variant of a variant lock the records are (that lock is kept in the prefix, see
    /// [`variants::VARIANTS_FILE`]).
    pub variant: Option<variants::Chosen>,
}

/// What the PyPI half of an install did.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct PypiReport {
    /// The distributions installed, `name==version`.
    pub packages: Vec<String>,
    /// Seconds spent resolving and installing them (the PyPI half alone, for benchmarks).
    pub seconds: f64,
}

/// What `create` did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CreateStatus {
    /// The prefix already matched the solve; nothing was touched.
    UpToDate,
    /// A new environment was installed.
    Created,
    /// An existing environment was replaced.
    Updated,
}

impl Envs {
    /// Environments under `home/envs`.
    pub fn new(home: &Path) -> Self {
        Self {
            root: home.join("envs"),
        }
    }

    /// The prefix of `name` (whether or not it exists).
    pub fn prefix(&self, name: &str) -> PathBuf {
        self.root.join(dir_name(name))
    }

    /// The prefix of an existing environment, or `NotFound`.
    pub fn existing(&self, name: &str) -> Result<PathBuf, EnvError> {
        let prefix = self.prefix(name);
        if prefix.join("conda-meta").is_dir() {
            Ok(prefix)
        } else {
            Err(EnvError::NotFound {
                name: name.to_string(),
                home: self.root.clone(),
            })
        }
    }

    /// What the environment at `prefix` was created from (`scivision.json`), if it says.
    pub fn info_at(prefix: &Path) -> Option<EnvInfo> {
        fs_err::read_to_string(prefix.join(INFO_FILE))
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok())
    }

    /// Names of the existing environments, with their info.
    pub fn list(&self) -> Result<Vec<(String, PathBuf, Option<EnvInfo>)>, EnvError> {
        let mut out = Vec::new();
        if !self.root.is_dir() {
            return Ok(out);
        }
        for entry in fs_err::read_dir(&self.root)
            .map_err(io(&self.root))?
            .filter_map(Result::ok)
        {
            let name = entry.file_name().to_string_lossy().to_string();
            let path = entry.path();
            if name.starts_with('.') || !path.join("conda-meta").is_dir() {
                continue;
            }
            let info = Self::info_at(&path);
            out.push((name, path, info));
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(out)
    }

    /// Takes the per-model lock (blocking until another create or remove of it is done).
    pub async fn lock(&self, name: &str) -> Result<std::fs::File, EnvError> {
        let dir = self.root.join(".locks");
        fs_err::create_dir_all(&dir).map_err(io(&dir))?;
        let path = dir.join(format!("{}.lock", dir_name(name)));
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(io(&path))?;
        tokio::task::spawn_blocking(move || file.lock().map(|()| file))
            .await
            .map_err(|e| EnvError::Io {
                path: path.clone(),
                source: std::io::Error::other(e),
            })?
            .map_err(|source| EnvError::Io { path, source })
    }

    /// Solves a request.
    pub async fn solve(&self, request: &Request) -> Result<Solution, EnvError> {
        let gateway = prefix::gateway_for(request.offline.is_some());
        let exclude = |r: &RepoDataRecord| match &request.offline {
            Some(cache) if r.url.scheme() != "file" && !prefix::is_cached(r, cache) => {
                Some("not in the local package cache (offline): run once online, or copy the cache")
            }
            _ => None,
        };
        match solve::solve_with(
            &gateway,
            &request.channels,
            request.platform,
            request.specs.clone(),
            request.virtual_packages.clone(),
            exclude,
        )
        .await
        {
            Ok(records) => Ok(Solution {
                records,
                pypi: None,
                variant: None,
            }),
            Err(SolveError::Unsolvable { explanation, .. }) => {
                let unmet = system::explain_unmet(&explanation, &request.virtual_packages);
                let mut host = format!(
                    "  detected: {}",
                    system::describe(&request.virtual_packages)
                );
                for line in &unmet {
                    host.push_str(&format!("\n  {}", line));
                }
                let hint = if request.offline.is_some() {
                    "offline, only packages whose repodata and archives are in the local caches (or in local channels) are candidates: run once online, or copy the caches".to_string()
                } else if unmet.iter().any(|l| l.starts_with("__")) {
                    "the model needs something this host does not have; `scivision check` lists it, CONDA_OVERRIDE_* or --cuda/--platform solve for another machine".to_string()
                } else {
                    "the requested packages conflict with each other or are missing from the channels (-c)".to_string()
                };
                Err(EnvError::Unsolvable {
                    model: request.model.clone(),
                    explanation,
                    host,
                    hint,
                })
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Removes staging and trash folders that an interrupted create or remove left behind.
    fn clean_leftovers(&self, name: &str) -> Result<(), EnvError> {
        for entry in fs_err::read_dir(&self.root)
            .map_err(io(&self.root))?
            .filter_map(Result::ok)
        {
            let file = entry.file_name().to_string_lossy().to_string();
            // Exactly this model's `.staging-NAME-PID` / `.trash-NAME-PID`, not those of a model
            // whose name merely starts with `NAME-` (its create may be running: other lock).
            let with_pid = |p: String| {
                file.strip_prefix(p.as_str()).is_some_and(|rest| {
                    !rest.is_empty() && rest.chars().all(|c| c.is_ascii_digit())
                })
            };
            let ours = with_pid(format!(".staging-{name}-")) || with_pid(format!(".trash-{name}-"));
            // A lock's scratch prefix is made without the model's lock: only a dead process's.
            let dead_scratch = file
                .strip_prefix(&format!(".resolve-{name}-"))
                .and_then(|pid| pid.parse::<i32>().ok())
                .and_then(rustix::process::Pid::from_raw)
                .is_some_and(|pid| {
                    rustix::process::test_kill_process(pid) == Err(rustix::io::Errno::SRCH)
                });
            if ours || dead_scratch {
                fs_err::remove_dir_all(entry.path()).map_err(io(&entry.path()))?;
            }
        }
        Ok(())
    }

    /// Removes the environment `name`: renamed away first (so it disappears at once), then deleted.
    pub async fn remove(&self, name: &str) -> Result<PathBuf, EnvError> {
        let target = self.existing(name)?;
        let _guard = self.lock(name).await?;
        // `.trash-<dir_name>-PID`: what `clean_leftovers` looks for after a killed remove.
        crate::atomic::discard(&target).map_err(io(&target))?;
        Ok(target)
    }
}

/// The model package's `extra.scivision` (model.yml fields, weights) from its
/// `info/about.json`, read from the package cache the installer just extracted it to.
fn model_about(
    request: &Request,
    solution: &Solution,
    package_cache: &Path,
) -> Option<serde_json::Value> {
    let name = request.specs.first()?.name.as_exact()?.clone();
    let record = solution
        .records
        .iter()
        .find(|r| r.package_record.name == name)?;
    let dir = package_cache.join(prefix::cache_dir_name(record));
    let mut about: serde_json::Value =
        serde_json::from_str(&fs_err::read_to_string(dir.join("info/about.json")).ok()?).ok()?;
    Some(about.get_mut("extra")?.get_mut("scivision")?.take())
}

/// The command line that runs this create or unpack, as conda's history records it (the
/// program by its file name, credentials in URLs masked).
fn invocation() -> String {
    let mut args = std::env::args();
    let program = args
        .next()
        .map(|a| {
            Path::new(&a)
                .file_name()
                .map_or(a.clone(), |n| n.to_string_lossy().into_owned())
        })
        .unwrap_or_else(|| "scivision".into());
    let line = std::iter::once(program)
        .chain(args)
        .collect::<Vec<_>>()
        .join(" ");
    crate::redact::text(&line).into_owned()
}

pub use crate::names::dir_name;

impl EnvError {
    /// What kind of failure this is.
    pub fn class(&self) -> crate::message::ErrorClass {
        use crate::message::ErrorClass;
        match self {
            Self::Weights(e) => e.class(),
            Self::Solve(e) => e.class(),
            Self::Install(e) => e.class(),
            Self::Variant(e) => e.class(),
            Self::Lock(e) => e.class(),
            Self::Pypi(e) => e.class(),
            Self::Unsolvable { .. } => ErrorClass::Unsolvable,
            Self::NotFound { .. } | Self::ForeignPlatform { .. } => ErrorClass::Input,
            Self::NotCachedOffline { .. } => ErrorClass::Network,
            Self::Io { .. }
            | Self::HostilePackage { .. }
            | Self::CorruptCache { .. }
            | Self::Drifted { .. }
            | Self::Activation { .. } => ErrorClass::Failed,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leftovers_of_one_model_spare_models_whose_names_extend_it() {
        let home = tempfile::tempdir().unwrap();
        let envs = Envs::new(home.path());
        let root = home.path().join("envs");
        for d in [
            ".staging-a-123",
            ".staging-a-b-456",
            ".trash-a-7",
            ".trash-a-b-8",
            "a",
        ] {
            fs_err::create_dir_all(root.join(d)).unwrap();
        }
        envs.clean_leftovers("a").unwrap();
        let mut left: Vec<String> = fs_err::read_dir(&root)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
            .collect();
        left.sort();
        assert_eq!(
            left,
            [".staging-a-b-456", ".trash-a-b-8", "a"].map(String::from)
        );
    }
}
