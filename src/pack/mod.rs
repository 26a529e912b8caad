//! Packs for air-gapped hosts: one `.tar.zst` holding an environment's lock, its request, the
//! extracted packages from the package cache and the PyPI half's wheel files, so that
//! `env unpack` on another machine of the same platform re-creates the environment with no
//! network (the installer finds every package in the package cache it was seeded into, and every
//! wheel in the unpacked wheel folder, checked against the lock's sha256).
//!
//! The `env pack` and `env unpack` workflows live here (options in, an outcome out); the
//! archive's format in [`archive`], the PyPI half's wheel files in [`wheels`].

mod archive;
mod wheels;

use std::path::{Path, PathBuf};
use std::time::Instant;

use rattler_conda_types::{RepoDataRecord, Subdir};

pub use archive::{extract, write, Unpacked};
pub use wheels::{wheel_file_name, wheel_files};

use crate::config::{Dirs, Settings};
use crate::env::{EnvError, Envs, Request, Solution};
use crate::system::{self, CudaChoice};
use crate::weights::Weights;

/// Pack errors.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum PackError {
    /// File system trouble.
    #[error("I/O error at {}", path.display())]
    Io {
        /// The path.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// A package of the lock is not in the package cache.
    #[error("{package} is not in the package cache {}", cache.display())]
    #[diagnostic(help("re-create the environment (`scivision env create`) so that its packages are cached, then pack again"))]
    NotCached {
        /// The package.
        package: String,
        /// The cache.
        cache: PathBuf,
    },
    /// A PyPI distribution of the lock cannot be packed.
    #[error("cannot pack PyPI {name}")]
    #[diagnostic(help("packs carry wheel files (from an index, a URL or a --find-links folder); an sdist, git or source-tree requirement must be built into a wheel first (`pip wheel`), then named by URL or --find-links"))]
    Wheel {
        /// The distribution.
        name: String,
        /// Why: the download's error, or what is wrong with the location.
        #[source]
        source: crate::message::Cause,
    },
    /// The file is not a scivision pack.
    #[error("{} is not a scivision pack", path.display())]
    #[diagnostic(help("packs are made by `scivision env pack NAME -o FILE`"))]
    NotAPack {
        /// The file.
        path: PathBuf,
        /// Why: the archive's error, or what the manifest lacks.
        #[source]
        source: crate::message::Cause,
    },
    /// The environment could not be read, locked or installed.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Env(#[from] EnvError),
    /// The lock could not be read.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Lock(#[from] crate::lock::LockError),
    /// The weight files could not be read or adopted.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Weights(#[from] crate::weights::WeightsError),
    /// The packed request's specs or channels, or the host's virtual packages, could not be read.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Solve(#[from] crate::solve::SolveError),
    /// A scratch folder or the working folder could not be used.
    #[error(transparent)]
    Local(std::io::Error),
    /// `--variants`, and the environment was created from a plain lock.
    #[error("{name} was not created from a variant lock")]
    #[diagnostic(help(
        "lock its variants (`scivision env lock MODEL --variants cpu,cuda12 -o FILE`) and create it from that lock (`env create MODEL --frozen --lock FILE`)"
    ))]
    NotVariantLocked {
        /// The environment.
        name: String,
    },
    /// The pack is for another platform than this host's.
    #[error("the pack is for {pack}, this machine is {host}")]
    #[diagnostic(help(
        "unpack it on a machine of that platform, or lock for this one with `scivision env lock --platform`"
    ))]
    ForeignPack {
        /// The pack's platform.
        pack: String,
        /// This host's.
        host: String,
    },
    /// The pack's variant lock offers nothing this host can install.
    #[error("the pack's variant lock has no variants")]
    NoVariants,
    /// `--variant`, and the pack carries one environment.
    #[error("{} carries one environment, no variants", file.display())]
    #[diagnostic(help("pack several variants with `env pack NAME --variants all`"))]
    OneEnvironment {
        /// The pack.
        file: PathBuf,
    },
}

impl PackError {
    /// What kind of failure this is.
    pub fn class(&self) -> crate::message::ErrorClass {
        use crate::message::ErrorClass;
        match self {
            Self::Env(e) => e.class(),
            Self::Lock(e) => e.class(),
            Self::Weights(e) => e.class(),
            Self::Solve(e) => e.class(),
            Self::NotAPack { .. }
            | Self::NotVariantLocked { .. }
            | Self::ForeignPack { .. }
            | Self::OneEnvironment { .. } => ErrorClass::Input,
            Self::Io { .. }
            | Self::NotCached { .. }
            | Self::Wheel { .. }
            | Self::Local(_)
            | Self::NoVariants => ErrorClass::Failed,
        }
    }
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> PackError + '_ {
    move |source| PackError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// What `env pack` packs.
#[derive(Debug, Clone)]
pub struct PackOptions {
    /// The environment (model name).
    pub name: String,
    /// The archive to write.
    pub output: PathBuf,
    /// Also carry the model's weight files (those already fetched).
    pub weights: bool,
    /// Carry these variants of the environment's variant lock (`all`, or `cpu,cuda12`).
    pub variants: Option<String>,
}

/// What a pack holds.
#[derive(Debug, Clone)]
pub struct PackOutcome {
    /// Conda packages.
    pub packages: usize,
    /// PyPI wheel files.
    pub wheels: usize,
    /// Weight files.
    pub weight_files: usize,
    /// The archive's size.
    pub bytes: u64,
}

/// Writes the pack of an environment: its packages (of every variant asked for), its PyPI
/// half's wheel files and, when asked, its weight files.
pub async fn pack(
    envs: &Envs,
    dirs: &Dirs,
    options: &PackOptions,
) -> Result<PackOutcome, PackError> {
    let prefix = envs.existing(&options.name)?;
    let platform = Subdir::current().unwrap_or(Subdir::Linux64);
    let (records, wheels_locked) =
        packed_records(&prefix, platform, options, &dirs.packages).await?;
    let downloads = tempfile::tempdir().map_err(PackError::Local)?;
    let wheels = wheel_files(&wheels_locked, downloads.path(), &crate::http::client()).await?;
    let store = Weights::new(&dirs.home);
    let weight_files = if options.weights {
        let files = Envs::info_at(&prefix)
            .map(|i| i.weights)
            .unwrap_or_default();
        store.present(&options.name, &files)?
    } else {
        Vec::new()
    };
    let bytes = write(
        &prefix,
        &records,
        &dirs.packages,
        &wheels,
        (store.root(), &weight_files),
        options.variants.is_some(),
        &options.output,
    )?;
    Ok(PackOutcome {
        packages: records.len(),
        wheels: wheels.len(),
        weight_files: weight_files.len(),
        bytes,
    })
}

/// The records and PyPI distributions to pack: the environment's lock, or the variants asked
/// for of its variant lock.
async fn packed_records(
    prefix: &Path,
    platform: Subdir,
    options: &PackOptions,
    package_cache: &Path,
) -> Result<(Vec<RepoDataRecord>, Vec<crate::pypi::LockedWheel>), PackError> {
    let Some(list) = &options.variants else {
        let crate::lock::Locked { records, pypi } =
            crate::lock::read(&prefix.join(crate::env::LOCK_FILE), platform)?;
        return Ok((records, pypi.packages));
    };
    let lock = prefix.join(crate::env::variants::VARIANTS_FILE);
    if !lock.is_file() {
        return Err(PackError::NotVariantLocked {
            name: options.name.clone(),
        });
    }
    let names: Option<Vec<String>> =
        (list != "all").then(|| list.split(',').map(|n| n.trim().to_string()).collect());
    Ok(crate::env::variants::for_pack(&lock, platform, names.as_deref(), package_cache).await?)
}

/// What `env unpack` unpacks.
#[derive(Debug, Clone)]
pub struct UnpackOptions {
    /// The archive made by `env pack`.
    pub file: PathBuf,
    /// The new environment's name (default: the packed model's).
    pub name: Option<String>,
    /// Of a pack with several variants: install this one, whatever this host has.
    pub variant: Option<String>,
}

/// What an unpack installed.
#[derive(Debug, Clone)]
pub struct UnpackOutcome {
    /// The environment's name.
    pub model: String,
    /// Conda packages installed.
    pub packages: usize,
    /// Weight files restored.
    pub weight_files: usize,
    /// Seconds the unpack took.
    pub seconds: f64,
    /// The environment's prefix.
    pub prefix: PathBuf,
}

/// Progress of an unpack, for the CLI to present.
pub trait UnpackReporter {
    /// The variant chosen for this host, before it is installed.
    fn variant(&self, _choice: &crate::variant::Choice) {}
    /// Configures rattler's installer (its progress bars).
    fn installer(&self, installer: rattler::install::Installer) -> rattler::install::Installer {
        installer
    }
}

/// Creates an environment from a pack with no network: seeds the caches with what it carries,
/// chooses the variant this host can run (of a pack of several), and installs it.
pub async fn unpack(
    envs: &Envs,
    settings: &Settings,
    options: &UnpackOptions,
    reporter: &dyn UnpackReporter,
) -> Result<UnpackOutcome, PackError> {
    let started = Instant::now();
    let dirs = &settings.dirs;
    // Wheels go beside the other caches, so that a later --frozen or --offline create finds
    // them too.
    let wheel_dir = dirs.cache.join("wheels");
    let store = Weights::new(&dirs.home);
    let unpacked = extract(
        &options.file,
        &dirs.packages,
        &wheel_dir,
        (store.root(), options.name.as_deref()),
    )?;
    let platform = Subdir::current().unwrap_or(Subdir::Linux64);
    if unpacked.info.platform != platform.as_str() {
        return Err(PackError::ForeignPack {
            pack: unpacked.info.platform.clone(),
            host: platform.to_string(),
        });
    }
    let host = system::virtual_packages(
        platform,
        &CudaChoice::Auto,
        &settings.overrides,
        Some(&system::detection_cache(&settings.dirs.cache)),
    )?;
    let solution = unpacked_solution(&unpacked, platform, &host, options, &dirs.packages)?;
    if let Some(chosen) = &solution.variant {
        reporter.variant(&chosen.choice);
    }
    let request = unpacked_request(&unpacked, options, (platform, host), settings)?;
    let _guard = envs.lock(&request.model).await?;
    envs.install(&request, &solution, dirs, |i| reporter.installer(i))
        .await?;
    // Files upstream pins no hash for keep the one they were packed with.
    store.adopt(&request.model, &request.weights)?;
    Ok(UnpackOutcome {
        packages: solution.records.len(),
        weight_files: unpacked.weights.len(),
        seconds: started.elapsed().as_secs_f64(),
        prefix: envs.prefix(&request.model),
        model: request.model,
    })
}

/// What to install from an unpacked pack: its lock, or the variant of its variant lock this
/// host gets (or `--variant` names), with the PyPI half pointing at the unpacked wheels.
fn unpacked_solution(
    unpacked: &Unpacked,
    platform: Subdir,
    host: &[rattler_conda_types::GenericVirtualPackage],
    options: &UnpackOptions,
    package_cache: &Path,
) -> Result<Solution, PackError> {
    let Some(lock) = &unpacked.variants else {
        if options.variant.is_some() {
            return Err(PackError::OneEnvironment {
                file: options.file.clone(),
            });
        }
        let crate::lock::Locked { records, pypi } = unpacked.locked(platform)?;
        return Ok(Solution {
            records,
            pypi: Some(pypi),
            variant: None,
        });
    };
    let Some((_, solution)) = crate::env::variants::choose(
        lock,
        platform,
        host,
        options.variant.as_deref(),
        // Only what the pack carried (now in the package cache) can be installed.
        Some(&|r| crate::prefix::is_cached(r, package_cache)),
    )?
    else {
        return Err(PackError::NoVariants);
    };
    let mut pypi = solution.pypi.unwrap_or_default();
    unpacked.local_wheels(&mut pypi);
    Ok(Solution {
        records: solution.records,
        pypi: Some(pypi),
        variant: solution.variant,
    })
}

/// The packed environment's request, for this host, with no network at all.
fn unpacked_request(
    unpacked: &Unpacked,
    options: &UnpackOptions,
    (platform, host): (Subdir, Vec<rattler_conda_types::GenericVirtualPackage>),
    settings: &Settings,
) -> Result<Request, PackError> {
    let cwd = std::env::current_dir().map_err(PackError::Local)?;
    Ok(Request {
        model: options
            .name
            .clone()
            .unwrap_or_else(|| unpacked.info.model.clone()),
        specs: crate::solve::parse_specs(&unpacked.info.specs)?,
        channels: crate::solve::parse_channels(&unpacked.info.channels, cwd)?,
        platform,
        virtual_packages: host,
        // Everything comes from the pack: no network at all.
        offline: Some(settings.dirs.packages.clone()),
        pypi: Vec::new(),
        index: crate::pypi::IndexOptions::default(),
        entry: unpacked.info.model_entry.clone(),
        weights: unpacked.info.weights.clone(),
        pypi_overrides: Vec::new(),
        pypi_no_build_isolation: Vec::new(),
        verify_cache_fully: settings.verify_cache_fully,
        mapping: crate::mapping::PypiMapping::default(),
        package: None,
        published_by: None,
        cpu_only: false,
    })
}
