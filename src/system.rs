//! Host facts as conda sees them: virtual packages (detected, overridden by `CONDA_OVERRIDE_*`
//! and by scivision's flags, or assumed for another platform), and the words that explain an
//! unsolvable request against them.

use std::path::{Path, PathBuf};

use rattler_boot_id::BootId;
use rattler_conda_types::{GenericVirtualPackage, Subdir};
use rattler_virtual_packages::{Override, VirtualPackageOverrides, VirtualPackages};

use crate::solve::SolveError;

/// `--cuda auto|none|X.Y`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum CudaChoice {
    /// Detect the driver (or take `CONDA_OVERRIDE_CUDA`).
    #[default]
    Auto,
    /// Behave as a host without a CUDA driver.
    None,
    /// Behave as a host whose driver supports this CUDA version.
    Version(String),
}

impl std::str::FromStr for CudaChoice {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "auto" => Ok(Self::Auto),
            "none" => Ok(Self::None),
            v if !v.is_empty()
                && v.split('.')
                    .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit())) =>
            {
                Ok(Self::Version(v.to_string()))
            }
            other => Err(format!(
                "`{other}` is not auto, none or a version like 12.4"
            )),
        }
    }
}

/// The virtual packages to solve with for `platform`: detected, with `overrides` (the
/// `CONDA_OVERRIDE_*` the settings read) and then `cuda` applied. With `cache`, the CUDA
/// driver's detection is kept on disk there (rattler's cache, as pixi keeps it: starting NVML
/// on a GPU host is slow), until a reboot, a driver or GPU change, or a day; so is this host's
/// `__archspec`, until a reboot (see [`HostArchspec`]).
pub fn virtual_packages(
    platform: Subdir,
    cuda: &CudaChoice,
    overrides: &VirtualPackageOverrides,
    cache: Option<&Path>,
) -> Result<Vec<GenericVirtualPackage>, SolveError> {
    let mut overrides = overrides.clone();
    match cuda {
        CudaChoice::Auto => {}
        // An empty override means "no such package", as CONDA_OVERRIDE_CUDA= does in conda.
        CudaChoice::None => {
            overrides.cuda = Some(Override::String(String::new()));
            // No CUDA, so no compute capability either: NVML is not even loaded.
            overrides.cuda_arch = Some(Override::String(String::new()));
        }
        CudaChoice::Version(v) => overrides.cuda = Some(Override::String(v.clone())),
    }
    // Only this host's own detection is kept: an override or another platform's assumed
    // baseline is not a fact about this machine.
    let archspec_cache = cache
        .filter(|_| overrides.archspec.is_none() && Subdir::current() == Some(platform))
        .and_then(|dir| Some((HostArchspec::path(dir), BootId::current()?)));
    let cached = archspec_cache
        .as_ref()
        .and_then(|(path, boot)| HostArchspec::read(path, boot));
    if cached.is_some() {
        // Empty: rattler neither detects nor looks the name up in archspec's database.
        overrides.archspec = Some(Override::String(String::new()));
    }
    let detected = VirtualPackages::detect_for_platform(platform, &overrides, cache)
        .map_err(SolveError::VirtualPackages)?;
    let mut vps: Vec<GenericVirtualPackage> = detected.into_generic_virtual_packages().collect();
    match (cached, archspec_cache) {
        (Some(hit), _) => vps.extend(hit.package()),
        (None, Some((path, boot))) => HostArchspec::from_detected(&vps, boot).write(&path),
        (None, None) => {}
    }
    Ok(vps)
}

/// This host's `__archspec` as detected once per boot. Finding it means parsing archspec's
/// database of microarchitectures: about 0.6 ms, most of what a detection costs, paid by every
/// solve. A processor does not change under a running kernel, so the answer is kept until a
/// reboot (or another scivision, whose database may name it differently).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
struct HostArchspec {
    boot_id: BootId,
    scivision: String,
    /// The platform of the binary that detected it: an osx-64 build under Rosetta and an
    /// osx-arm64 one share a cache and a boot, and see different processors.
    subdir: String,
    /// The microarchitecture (`__archspec`'s build string), or none where archspec knows none.
    microarchitecture: Option<String>,
}

impl HostArchspec {
    fn path(cache: &Path) -> PathBuf {
        cache.join("host-archspec.json")
    }

    fn from_detected(vps: &[GenericVirtualPackage], boot_id: BootId) -> Self {
        Self {
            boot_id,
            scivision: env!("CARGO_PKG_VERSION").to_string(),
            subdir: this_build(),
            microarchitecture: vps
                .iter()
                .find(|v| v.name.as_normalized() == "__archspec")
                .map(|v| v.build_string.to_string()),
        }
    }

    /// The entry at `path` if it was written during this boot by this scivision; anything
    /// else (missing, unreadable, stale) means "detect again".
    fn read(path: &Path, boot: &BootId) -> Option<Self> {
        let entry: Self = serde_json::from_slice(&std::fs::read(path).ok()?).ok()?;
        (entry.boot_id.matches(boot)
            && entry.scivision == env!("CARGO_PKG_VERSION")
            && entry.subdir == this_build())
        .then_some(entry)
    }

    /// Best effort: a cache that cannot be written only means the next solve detects again.
    fn write(&self, path: &Path) {
        // atomic::write creates the folder.
        let written = serde_json::to_vec(self)
            .map_err(std::io::Error::other)
            .and_then(|bytes| crate::atomic::write(path, &bytes));
        if let Err(e) = written {
            tracing::debug!("not caching the host's archspec at {}: {e}", path.display());
        }
    }

    fn package(&self) -> Option<GenericVirtualPackage> {
        let name = self.microarchitecture.as_deref()?;
        Some(GenericVirtualPackage {
            name: rattler_conda_types::PackageName::new_unchecked("__archspec"),
            version: rattler_conda_types::Version::major(1),
            build_string: name.parse().ok()?,
        })
    }
}

/// The platform this binary was built for (`unknown` where conda names none).
pub fn this_build() -> String {
    Subdir::current().map_or_else(|| "unknown".to_string(), |s| s.to_string())
}

/// Where a command keeps the host's CUDA detection, below scivision's cache root.
pub fn detection_cache(cache_root: &Path) -> PathBuf {
    cache_root.join("virtual-packages")
}

/// `__glibc=2.36, __linux=6.1, …`
pub fn describe(vps: &[GenericVirtualPackage]) -> String {
    vps.iter()
        .map(|v| {
            // archspec carries the microarchitecture in its build string (`1=x86_64_v3`).
            if v.name.as_normalized() == "__archspec" {
                format!("__archspec={}", v.build_string)
            } else {
                format!("{}={}", v.name.as_normalized(), v.version)
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// For each virtual package a solver explanation mentions, what the host has against it:
/// "scivision-demo-gpu needs __cuda >=12; this host has no CUDA driver".
pub fn explain_unmet(explanation: &str, vps: &[GenericVirtualPackage]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for token in explanation.split(|c: char| c.is_whitespace() || c == ',' || c == '(' || c == ')')
    {
        let Some(name) = token.strip_prefix("__").map(|n| {
            format!(
                "__{}",
                n.trim_matches(|c: char| !c.is_ascii_alphanumeric() && c != '_')
            )
        }) else {
            continue;
        };
        if out.iter().any(|l| l.starts_with(&format!("{name}:"))) {
            continue;
        }
        let has = vps.iter().find(|v| v.name.as_normalized() == name);
        let what = match (name.as_str(), has) {
            ("__cuda", None) => "this host has no CUDA driver (or CONDA_OVERRIDE_CUDA is empty); to solve for another machine set CONDA_OVERRIDE_CUDA or pass --cuda X.Y".to_string(),
            (_, None) => format!("this host has no {name}; to solve for another machine set CONDA_OVERRIDE_{}", name.trim_start_matches("__").to_uppercase()),
            (_, Some(v)) => format!("this host has {name}={}", v.version),
        };
        out.push(format!("{name}: {what}"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cuda_choice_parses() {
        assert_eq!("auto".parse::<CudaChoice>(), Ok(CudaChoice::Auto));
        assert_eq!("none".parse::<CudaChoice>(), Ok(CudaChoice::None));
        assert_eq!(
            "12.4".parse::<CudaChoice>(),
            Ok(CudaChoice::Version("12.4".into()))
        );
        assert!("12.x".parse::<CudaChoice>().is_err());
    }

    #[test]
    fn flags_override_cuda() {
        let none = virtual_packages(
            Subdir::Linux64,
            &CudaChoice::None,
            &VirtualPackageOverrides::default(),
            None,
        )
        .unwrap();
        assert!(none.iter().all(|v| v.name.as_normalized() != "__cuda"));
        let some = virtual_packages(
            Subdir::Linux64,
            &CudaChoice::Version("12.4".into()),
            &VirtualPackageOverrides::default(),
            None,
        )
        .unwrap();
        let cuda = some
            .iter()
            .find(|v| v.name.as_normalized() == "__cuda")
            .unwrap();
        assert_eq!(cuda.version.to_string(), "12.4");
        let mac = virtual_packages(
            Subdir::OsxArm64,
            &CudaChoice::Auto,
            &VirtualPackageOverrides::default(),
            None,
        )
        .unwrap();
        assert!(
            mac.iter().any(|v| v.name.as_normalized() == "__osx"),
            "{}",
            describe(&mac)
        );
    }

    /// A second solve takes `__archspec` from the cache, and what it gets is what rattler
    /// detects; an entry from another boot is not trusted.
    #[test]
    fn the_hosts_archspec_is_kept_for_the_boot() {
        let here = Subdir::current().expect("a platform conda knows");
        let solve = |cache: Option<&Path>| {
            virtual_packages(
                here,
                &CudaChoice::None,
                &VirtualPackageOverrides::default(),
                cache,
            )
            .unwrap()
        };
        let dir = tempfile::tempdir().unwrap();
        let path = HostArchspec::path(dir.path());
        let live = solve(None);
        assert_eq!(describe(&solve(Some(dir.path()))), describe(&live));
        let boot = BootId::current().unwrap();
        let entry = HostArchspec::read(&path, &boot).expect("the first solve wrote the entry");

        // Planted: the cache is what the second solve believes (a name this host is not).
        let other = if entry.microarchitecture.as_deref() == Some("zen") {
            "haswell"
        } else {
            "zen"
        };
        let planted = HostArchspec {
            microarchitecture: Some(other.into()),
            ..entry.clone()
        };
        crate::atomic::write(&path, &serde_json::to_vec(&planted).unwrap()).unwrap();
        assert_eq!(archspecs(&solve(Some(dir.path()))), [other]);

        // From another boot: detected again, and the entry rewritten.
        let stale = HostArchspec {
            boot_id: BootId::Uuid("another-boot".into()),
            ..planted
        };
        crate::atomic::write(&path, &serde_json::to_vec(&stale).unwrap()).unwrap();
        assert_eq!(describe(&solve(Some(dir.path()))), describe(&live));
        assert_eq!(HostArchspec::read(&path, &boot), Some(entry));
    }

    fn archspecs(vps: &[GenericVirtualPackage]) -> Vec<&str> {
        vps.iter()
            .filter(|v| v.name.as_normalized() == "__archspec")
            .map(|v| v.build_string.as_str())
            .collect()
    }

    /// An override of `__archspec` is not this host's fact: it is not written to the cache,
    /// and it wins over what the cache holds.
    #[test]
    fn an_archspec_override_bypasses_the_cache() {
        let here = Subdir::current().expect("a platform conda knows");
        let dir = tempfile::tempdir().unwrap();
        let path = HostArchspec::path(dir.path());
        let mut overrides = VirtualPackageOverrides::default();
        overrides.archspec = Some(Override::String("x86_64".into()));
        virtual_packages(here, &CudaChoice::None, &overrides, Some(dir.path())).unwrap();
        assert!(!path.exists());

        let mut held = HostArchspec::from_detected(&[], BootId::current().unwrap());
        held.microarchitecture = Some("zen".into());
        held.write(&path);
        let vps = virtual_packages(here, &CudaChoice::None, &overrides, Some(dir.path())).unwrap();
        assert_eq!(archspecs(&vps), ["x86_64"]);
    }

    /// An entry another build of scivision wrote (another platform's, under emulation) is
    /// not this one's.
    #[test]
    fn an_entry_from_another_platforms_build_is_not_trusted() {
        let dir = tempfile::tempdir().unwrap();
        let path = HostArchspec::path(dir.path());
        let boot = BootId::current().unwrap();
        let mut entry = HostArchspec::from_detected(&[], boot.clone());
        entry.write(&path);
        assert!(HostArchspec::read(&path, &boot).is_some());
        entry.subdir = "osx-64".into();
        entry.write(&path);
        assert_eq!(HostArchspec::read(&path, &boot), None);
    }

    #[test]
    fn explains_missing_cuda() {
        let vps = virtual_packages(
            Subdir::Linux64,
            &CudaChoice::None,
            &VirtualPackageOverrides::default(),
            None,
        )
        .unwrap();
        let lines = explain_unmet(
            "scivision-demo-gpu cuda_pyh_200 would require __cuda >=12, which cannot be installed",
            &vps,
        );
        assert_eq!(lines.len(), 1, "{lines:?}");
        assert!(lines[0].contains("no CUDA driver"), "{lines:?}");
    }
}
