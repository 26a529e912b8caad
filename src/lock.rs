//! Lock files: rattler_lock's format (the one pixi reads), one `default` environment holding the
//! solved conda records per platform, with the channels they came from.

use std::path::Path;

use rattler_conda_types::{Channel, GenericVirtualPackage, RepoDataRecord, Subdir};
use rattler_lock::{LockFile, PlatformData};

/// Lock errors.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum LockError {
    /// The file is not a lock file.
    #[error("{} is not a valid lock file: {reason}", path.display())]
    #[diagnostic(help(
        "re-create the environment (`scivision env create NAME --force`) to write a fresh lock"
    ))]
    Malformed {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        reason: String,
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
    #[error("cannot write lock {}: {reason}", path.display())]
    Write {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        reason: String,
    },
}

/// The environment name inside scivision's lock files.
pub const ENVIRONMENT: &str = "default";

/// A lock holding `records` for `platform`.
pub fn build(
    channels: &[Channel],
    platform: Subdir,
    virtual_packages: &[GenericVirtualPackage],
    records: &[RepoDataRecord],
    path_for_errors: &Path,
) -> Result<LockFile, LockError> {
    let write_err = |reason: String| LockError::Write {
        path: path_for_errors.to_path_buf(),
        reason,
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
        .map_err(|e| write_err(e.to_string()))?
        .with_channels(
            ENVIRONMENT,
            channels
                .iter()
                .map(|c| rattler_lock::Channel::from(c.base_url.to_string())),
        );
    for r in sorted(records) {
        builder
            .add_conda_package(ENVIRONMENT, platform.as_str(), r.clone().into())
            .map_err(|e| write_err(e.to_string()))?;
    }
    Ok(builder.finish())
}

/// Writes a lock file atomically.
pub fn write(lock: &LockFile, path: &Path) -> Result<(), LockError> {
    let text = lock.render_to_string().map_err(|e| LockError::Write {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    crate::atomic::write(path, text.as_bytes()).map_err(|e| LockError::Write {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })
}

/// The conda records a lock holds for `platform`.
pub fn read_records(path: &Path, platform: Subdir) -> Result<Vec<RepoDataRecord>, LockError> {
    let malformed = |reason: String| LockError::Malformed {
        path: path.to_path_buf(),
        reason,
    };
    let lock = LockFile::from_path(path).map_err(|e| malformed(e.to_string()))?;
    let env = lock
        .environment(ENVIRONMENT)
        .ok_or_else(|| malformed(format!("no `{ENVIRONMENT}` environment")))?;
    let name = rattler_lock::PlatformName::from(&platform);
    let lock_platform = lock
        .platforms()
        .find(|p| p.name() == &name)
        .ok_or_else(|| LockError::NoPlatform {
            path: path.to_path_buf(),
            platform: platform.to_string(),
        })?;
    let records = env
        .conda_repodata_records(lock_platform)
        .map_err(|e| malformed(e.to_string()))?
        .ok_or_else(|| LockError::NoPlatform {
            path: path.to_path_buf(),
            platform: platform.to_string(),
        })?;
    Ok(records)
}

/// conda's explicit spec format: `@EXPLICIT` and one URL per package, with its sha256.
pub fn explicit(records: &[RepoDataRecord], platform: Subdir) -> String {
    let mut out = format!("# platform: {platform}\n@EXPLICIT\n");
    for r in sorted(records) {
        match r.package_record.sha256 {
            Some(sha) => out.push_str(&format!("{}#sha256={}\n", r.url, hex::encode(sha))),
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
