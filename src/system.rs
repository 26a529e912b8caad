//! Host facts as conda sees them: virtual packages (detected, overridden by `CONDA_OVERRIDE_*`
//! and by scivision's flags, or assumed for another platform), and the words that explain an
//! unsolvable request against them.

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
/// on a GPU host is slow), until a reboot, a driver or GPU change, or a day.
pub fn virtual_packages(
    platform: Subdir,
    cuda: &CudaChoice,
    overrides: &VirtualPackageOverrides,
    cache: Option<&std::path::Path>,
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
    let detected = VirtualPackages::detect_for_platform(platform, &overrides, cache)
        .map_err(SolveError::VirtualPackages)?;
    Ok(detected.into_generic_virtual_packages().collect())
}

/// Where a command keeps the host's CUDA detection, below scivision's cache root.
pub fn detection_cache(cache_root: &std::path::Path) -> std::path::PathBuf {
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
