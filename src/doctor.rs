//! What this host looks like to scivision: its platform and virtual packages (CUDA above all:
//! why there is none, when there is none), the caches' sizes, and whether the default channels
//! answer.

use std::path::PathBuf;
use std::time::Duration;

use rattler_virtual_packages::{VirtualPackageOverrides, VirtualPackages};
use serde::Serialize;

/// The virtual packages could not be detected.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
#[error("cannot detect virtual packages: {reason}")]
pub struct DetectError {
    /// Why.
    pub reason: String,
}

/// What to look at.
#[derive(Debug, Clone)]
pub struct DoctorOptions {
    /// The caches to size (and scivision's home).
    pub dirs: crate::config::Dirs,
    /// The default channels, to try.
    pub channels: Vec<String>,
    /// `CONDA_OVERRIDE_*`.
    pub overrides: VirtualPackageOverrides,
    /// `CONDA_OVERRIDE_CUDA` is set (empty: no CUDA, whatever the driver).
    pub cuda_overridden: bool,
}

/// The host, as `doctor --json` shows it (field order is the JSON's).
#[derive(Debug, Clone, Serialize)]
pub struct HostReport {
    /// The conda subdir, or `unknown`.
    pub platform: String,
    /// The virtual packages, described.
    pub virtual_packages: String,
    /// glibc's version.
    pub glibc: Option<String>,
    /// The Linux kernel's version.
    pub linux: Option<String>,
    /// The CUDA driver.
    pub cuda: Cuda,
    /// The caches and their sizes.
    pub caches: Vec<CacheSize>,
    /// The default channels and whether they answer.
    pub channels: Vec<ChannelState>,
}

/// The CUDA driver, or why there is none (`found` is the JSON's discriminant).
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum Cuda {
    /// A driver (or an override) gives `__cuda`.
    Found {
        /// Always `true`.
        found: bool,
        /// The CUDA version the driver supports.
        version: String,
        /// The first GPU's compute capability, when one answered.
        compute_capability: Option<String>,
        /// `CONDA_OVERRIDE_CUDA` gave it.
        overridden: bool,
    },
    /// No `__cuda`.
    Missing {
        /// Always `false`.
        found: bool,
        /// Why not.
        why: &'static str,
    },
}

/// A cache folder's size.
#[derive(Debug, Clone, Serialize)]
pub struct CacheSize {
    /// `home`, `cache` or `packages`.
    pub name: &'static str,
    /// The folder.
    pub path: PathBuf,
    /// Its size in bytes.
    pub bytes: u64,
}

/// Whether a channel answers.
#[derive(Debug, Clone, Serialize)]
pub struct ChannelState {
    /// The channel as configured.
    pub channel: String,
    /// Its `noarch/repodata.json` is there.
    pub reachable: bool,
    /// Why not.
    pub detail: Option<String>,
}

/// Looks at the host: its virtual packages, caches and default channels.
pub async fn examine(options: &DoctorOptions) -> Result<HostReport, DetectError> {
    let vps = VirtualPackages::detect(&options.overrides, None).map_err(|e| DetectError {
        reason: e.to_string(),
    })?;
    let platform = crate::system::this_build();
    let cuda = match (&vps.cuda, &vps.cuda_arch) {
        (Some(c), arch) => Cuda::Found {
            found: true,
            version: c.version.to_string(),
            compute_capability: arch.as_ref().map(|a| a.version.to_string()),
            overridden: options.cuda_overridden,
        },
        (None, _) => Cuda::Missing {
            found: false,
            why: if options.cuda_overridden {
                "CONDA_OVERRIDE_CUDA is set to an empty value"
            } else {
                "no NVIDIA driver library (libcuda.so.1) could be loaded, so there is no __cuda"
            },
        },
    };
    let client = crate::http::client();
    let mut channels = Vec::new();
    for c in &options.channels {
        let reachable = reachable(&client, c).await;
        channels.push(ChannelState {
            channel: c.clone(),
            reachable: reachable.is_ok(),
            detail: reachable.err(),
        });
    }
    let dirs = &options.dirs;
    let caches = [
        ("home", &dirs.home),
        ("cache", &dirs.cache),
        ("packages", &dirs.packages),
    ]
    .into_iter()
    .map(|(name, path)| CacheSize {
        name,
        path: path.clone(),
        bytes: crate::cache::size(path),
    })
    .collect();
    Ok(HostReport {
        platform,
        virtual_packages: crate::system::describe(
            &vps.clone()
                .into_generic_virtual_packages()
                .collect::<Vec<_>>(),
        ),
        glibc: vps.libc.as_ref().map(|l| l.version.to_string()),
        linux: vps.linux.as_ref().map(|l| l.version.to_string()),
        cuda,
        caches,
        channels,
    })
}

/// Whether `channel`'s `noarch/repodata.json` is there (a HEAD request, 5 s at most).
async fn reachable(
    client: &reqwest_middleware::ClientWithMiddleware,
    channel: &str,
) -> Result<(), String> {
    let cwd = std::env::current_dir().map_err(|e| e.to_string())?;
    let parsed = crate::solve::parse_channels(&[channel.to_string()], cwd)
        .map_err(|e| crate::message::error_chain(&e))?;
    let url = parsed[0]
        .base_url
        .url()
        .join("noarch/repodata.json")
        .map_err(|e| e.to_string())?;
    if url.scheme() == "file" {
        let path = url
            .to_file_path()
            .map_err(|()| "not a local path".to_string())?;
        return if path.is_file() {
            Ok(())
        } else {
            Err(format!("{} is missing", path.display()))
        };
    }
    let response = tokio::time::timeout(Duration::from_secs(5), client.head(url.clone()).send())
        .await
        .map_err(|_| format!("no answer from {url} within 5s"))?
        .map_err(|e| e.to_string())?;
    if response.status().is_success() {
        Ok(())
    } else {
        Err(format!("{url}: HTTP {}", response.status()))
    }
}
