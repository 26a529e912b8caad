//! Lock files: rattler_lock's format (the one pixi reads), one `default` environment holding the
//! solved conda records per platform, with the channels they came from, and the PyPI half (each
//! distribution's URL and sha256, and the indexes it was resolved from).

use std::path::Path;

use rattler_conda_types::{Channel, GenericVirtualPackage, RepoDataRecord, Subdir};
use rattler_lock::{LockFile, PlatformData};

/// Lock errors.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum LockError {
    /// The file is not a lock file.
    #[error("{} is not a valid lock file", path.display())]
    #[diagnostic(help(
        "make the lock again: `scivision env lock MODEL -o FILE` for a lock file, `scivision env create NAME` for an environment's own"
    ))]
    Malformed {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        #[source]
        source: crate::message::Cause,
    },
    /// The lock has nothing for this platform.
    #[error("{} has no packages for {platform}", path.display())]
    #[diagnostic(help(
        "lock for this platform with `scivision env lock NAME --platform {platform}`"
    ))]
    NoPlatform {
        /// The file.
        path: std::path::PathBuf,
        /// The platform.
        platform: String,
    },
    /// Building or writing failed.
    #[error("cannot write lock {}", path.display())]
    Write {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        #[source]
        source: crate::message::Cause,
    },
}

/// The environment name inside scivision's lock files.
pub const ENVIRONMENT: &str = "default";

/// The PyPI half of a lock.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PypiHalf {
    /// The resolved distributions.
    pub packages: Vec<crate::pypi::LockedWheel>,
    /// The indexes and find-links they were resolved from.
    pub indexes: Option<rattler_lock::PypiIndexes>,
}

/// One environment of a lock: a variant's name (or [`ENVIRONMENT`]), its records and PyPI half.
#[derive(Debug, Clone, Copy)]
pub struct LockedEnv<'a> {
    /// The environment's name.
    pub name: &'a str,
    /// The conda records.
    pub records: &'a [RepoDataRecord],
    /// The PyPI half.
    pub pypi: &'a PypiHalf,
}

/// A lock holding `records` and the PyPI half for `platform`.
pub fn build(
    channels: &[Channel],
    platform: Subdir,
    virtual_packages: &[GenericVirtualPackage],
    records: &[RepoDataRecord],
    pypi: &PypiHalf,
    path_for_errors: &Path,
) -> Result<LockFile, LockError> {
    let env = LockedEnv {
        name: ENVIRONMENT,
        records,
        pypi,
    };
    build_envs(
        channels,
        platform,
        virtual_packages,
        &[env],
        path_for_errors,
    )
}

/// A lock with one environment per entry of `envs` (a variant lock), for `platform`. Packages
/// that several environments share are written once (rattler_lock's format refers to them).
pub fn build_envs(
    channels: &[Channel],
    platform: Subdir,
    virtual_packages: &[GenericVirtualPackage],
    envs: &[LockedEnv<'_>],
    path_for_errors: &Path,
) -> Result<LockFile, LockError> {
    let write_err = |cause: crate::message::Cause| LockError::Write {
        path: path_for_errors.to_path_buf(),
        source: cause,
    };
    let platform_data = PlatformData {
        name: (&platform).into(),
        subdir: platform,
        virtual_packages: virtual_packages
            .iter()
            .map(|v| {
                format!(
                    "{}={}={}",
                    v.name.as_normalized(),
                    v.version,
                    v.build_string
                )
            })
            .collect(),
    };
    let mut builder = LockFile::builder()
        .with_platforms(vec![platform_data])
        .map_err(|e| write_err(e.into()))?;
    for env in envs {
        builder = builder.with_channels(
            env.name,
            channels.iter().map(|c| {
                rattler_lock::Channel::from(crate::redact::for_file(c.base_url.url()).to_string())
            }),
        );
        for r in sorted(env.records) {
            // Credentials in a channel URL stay out of the lock; installing it finds them again
            // in the authentication storage.
            let mut r = r.clone();
            r.url = crate::redact::for_file(&r.url);
            r.channel = r.channel.as_deref().map(crate::redact::for_file_str);
            builder
                .add_conda_package(env.name, platform.as_str(), r.into())
                .map_err(|e| write_err(e.into()))?;
        }
        if let Some(indexes) = &env.pypi.indexes {
            builder.set_pypi_indexes(env.name, indexes.clone());
        }
        for w in &env.pypi.packages {
            builder
                .add_pypi_package(
                    env.name,
                    platform.as_str(),
                    pypi_entry(w).map_err(|e| write_err(e.into()))?,
                )
                .map_err(|e| write_err(e.into()))?;
        }
    }
    Ok(builder.finish())
}

fn pypi_entry(w: &crate::pypi::LockedWheel) -> Result<rattler_lock::PypiPackageData, String> {
    use std::str::FromStr;
    let bad = |what: &str, e: &dyn std::fmt::Display| format!("PyPI {} {what}: {e}", w.name);
    let location = url::Url::parse(&w.location).map_err(|e| bad("location", &e))?;
    let hash = match &w.sha256 {
        None => None,
        Some(hex) => Some(rattler_lock::PackageHashes::Sha256(
            rattler_digest::parse_digest_from_hex::<rattler_digest::Sha256>(hex)
                .ok_or_else(|| bad("sha256", &hex))?,
        )),
    };
    Ok(rattler_lock::PypiPackageData::Distribution(Box::new(
        rattler_lock::PypiDistributionData {
            name: pep508_rs::PackageName::from_str(w.name.as_ref()).map_err(|e| bad("name", &e))?,
            version: pep440_rs::Version::from_str(&w.version.to_string())
                .map_err(|e| bad("version", &e))?,
            location: rattler_lock::UrlOrPath::Url(location).into(),
            index_url: w
                .index
                .as_deref()
                .map(url::Url::parse)
                .transpose()
                .map_err(|e| bad("index", &e))?,
            hash,
            requires_dist: Vec::new(),
            requires_python: w
                .requires_python
                .as_deref()
                .map(pep440_rs::VersionSpecifiers::from_str)
                .transpose()
                .map_err(|e| bad("requires-python", &e))?,
        },
    )))
}

/// Writes a lock file atomically.
pub fn write(lock: &LockFile, path: &Path) -> Result<(), LockError> {
    let text = lock.render_to_string().map_err(|e| LockError::Write {
        path: path.to_path_buf(),
        source: e.into(),
    })?;
    crate::atomic::write(path, text.as_bytes()).map_err(|e| LockError::Write {
        path: path.to_path_buf(),
        source: e.into(),
    })
}

/// What a lock holds for one platform: both halves, read with one parse.
#[derive(Debug, Clone)]
pub struct Locked {
    /// The conda records.
    pub records: Vec<RepoDataRecord>,
    /// The PyPI half (empty when there is none).
    pub pypi: PypiHalf,
}

/// Reads both halves a lock holds for `platform` (its `default` environment).
pub fn read(path: &Path, platform: Subdir) -> Result<Locked, LockError> {
    read_env(path, platform, ENVIRONMENT)
}

/// The names of a lock's environments: `default`, or a variant lock's variants.
pub fn environments(path: &Path) -> Result<Vec<String>, LockError> {
    let lock = LockFile::from_path(path).map_err(|e| LockError::Malformed {
        path: path.to_path_buf(),
        source: e.into(),
    })?;
    // Sorted: the format keeps environments in a map whose order is no promise.
    let mut names: Vec<String> = lock
        .environments()
        .map(|(name, _)| name.to_string())
        .collect();
    names.sort();
    Ok(names)
}

/// Each variant of a lock with both halves for `platform`; empty for a lock that has only its
/// `default` environment.
pub fn variants(path: &Path, platform: Subdir) -> Result<Vec<(String, Locked)>, LockError> {
    let mut out = Vec::new();
    for name in environments(path)? {
        if name != ENVIRONMENT {
            let locked = read_env(path, platform, &name)?;
            out.push((name, locked));
        }
    }
    Ok(out)
}

/// Reads both halves the environment `env_name` of a lock holds for `platform`.
pub fn read_env(path: &Path, platform: Subdir, env_name: &str) -> Result<Locked, LockError> {
    use std::str::FromStr;
    let malformed = |cause: crate::message::Cause| LockError::Malformed {
        path: path.to_path_buf(),
        source: cause,
    };
    let no_platform = || LockError::NoPlatform {
        path: path.to_path_buf(),
        platform: platform.to_string(),
    };
    let lock = LockFile::from_path(path).map_err(|e| malformed(e.into()))?;
    let env = lock.environment(env_name).ok_or_else(|| {
        let names: Vec<String> = lock.environments().map(|(n, _)| n.to_string()).collect();
        malformed(format!("no `{env_name}` environment (it has: {})", names.join(", ")).into())
    })?;
    let name = rattler_lock::PlatformName::from(&platform);
    let lock_platform = lock
        .platforms()
        .find(|p| p.name() == &name)
        .ok_or_else(no_platform)?;
    let records = env
        .conda_repodata_records(lock_platform)
        .map_err(|e| malformed(e.into()))?
        .ok_or_else(no_platform)?;
    let mut packages = Vec::new();
    for p in env.pypi_packages(lock_platform).into_iter().flatten() {
        let rattler_lock::PypiPackageData::Distribution(d) = p else {
            return Err(malformed(
                format!("PyPI `{}` has no version", p.name()).into(),
            ));
        };
        let location = match &*d.location {
            rattler_lock::UrlOrPath::Url(u) => u.to_string(),
            rattler_lock::UrlOrPath::Path(p) => url::Url::from_file_path(p.to_string())
                .map_err(|()| {
                    malformed(format!("PyPI `{}`: path {p} is not absolute", d.name).into())
                })?
                .to_string(),
        };
        packages.push(crate::pypi::LockedWheel {
            name: uv_normalize::PackageName::from_str(d.name.as_ref())
                .map_err(|e| malformed(e.into()))?,
            version: uv_pep440::Version::from_str(&d.version.to_string())
                .map_err(|e| malformed(e.into()))?,
            location,
            sha256: d.hash.as_ref().and_then(|h| h.sha256()).map(hex::encode),
            index: d.index_url.as_ref().map(ToString::to_string),
            requires_python: d.requires_python.as_ref().map(ToString::to_string),
        });
    }
    Ok(Locked {
        records,
        pypi: PypiHalf {
            packages,
            indexes: env.pypi_indexes().cloned(),
        },
    })
}

/// The conda records a lock holds for `platform`.
pub fn read_records(path: &Path, platform: Subdir) -> Result<Vec<RepoDataRecord>, LockError> {
    read(path, platform).map(|l| l.records)
}

/// conda's explicit spec format: `@EXPLICIT` and one URL per package, with its sha256 as conda
/// reads it (`#sha256:<hex>`; conda refuses `#sha256=`).
pub fn explicit(records: &[RepoDataRecord], platform: Subdir) -> String {
    let mut out = format!("# platform: {platform}\n@EXPLICIT\n");
    for r in sorted(records) {
        match r.package_record.sha256 {
            Some(sha) => out.push_str(&format!("{}#sha256:{}\n", r.url, hex::encode(sha))),
            None => out.push_str(&format!("{}\n", r.url)),
        }
    }
    out
}

/// An environment.yml pinning every package to its version and build.
pub fn environment_yml(name: &str, records: &[RepoDataRecord]) -> String {
    let mut channels: Vec<String> = Vec::new();
    for r in records {
        if let Some(c) = &r.channel {
            if !channels.contains(c) {
                channels.push(c.clone());
            }
        }
    }
    let mut out = format!("name: {name}\nchannels:\n");
    for c in channels {
        out.push_str(&format!("  - {c}\n"));
    }
    out.push_str("dependencies:\n");
    for r in sorted(records) {
        out.push_str(&format!(
            "  - {}={}={}\n",
            r.package_record.name.as_normalized(),
            r.package_record.version,
            r.package_record.build
        ));
    }
    out
}

/// Records sorted by package name.
pub fn sorted(records: &[RepoDataRecord]) -> Vec<&RepoDataRecord> {
    let mut v: Vec<&RepoDataRecord> = records.iter().collect();
    v.sort_by(|a, b| a.package_record.name.cmp(&b.package_record.name));
    v
}

impl LockError {
    /// What kind of failure this is.
    pub fn class(&self) -> crate::message::ErrorClass {
        use crate::message::ErrorClass;
        match self {
            Self::Malformed { .. } | Self::NoPlatform { .. } => ErrorClass::Input,
            Self::Write { .. } => ErrorClass::Failed,
        }
    }
}
