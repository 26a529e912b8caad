//! Variants: one model solved for several kinds of host (`cpu`: no CUDA driver; `cuda12`: a
//! CUDA 12 driver), each an environment of one lock file, and the choice an installing host
//! makes among them by its virtual packages.
//!
//! What a variant needs is read from its own records (their dependencies on virtual packages,
//! `__cuda >=12.4`), so a lock made anywhere tells each host what it must have; the lock carries
//! no other metadata and stays readable by pixi's tools.

use std::collections::BTreeSet;
use std::str::FromStr;

use rattler_conda_types::{
    GenericVirtualPackage, MatchSpec, PackageName, ParseStrictness, RepoDataRecord, Version,
};
use serde::{Deserialize, Serialize};

/// A kind of host to solve for.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Variant {
    /// No CUDA driver.
    Cpu,
    /// A CUDA driver of this major version.
    Cuda(u32),
}

impl FromStr for Variant {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "cpu" => Ok(Self::Cpu),
            _ => s
                .strip_prefix("cuda")
                .and_then(|m| m.parse::<u32>().ok())
                .filter(|m| (7..=99).contains(m))
                .map(Self::Cuda)
                .ok_or_else(|| {
                    format!("`{s}` is no variant: cpu, or cuda and a major version (cuda12)")
                }),
        }
    }
}

impl std::fmt::Display for Variant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Cpu => f.write_str("cpu"),
            Self::Cuda(major) => write!(f, "cuda{major}"),
        }
    }
}

impl Variant {
    /// The virtual packages to solve this variant with: the host's, without its `__cuda`, and
    /// for `cudaN` a `__cuda` of that major at any minor (what the solve then needs is read from
    /// its records, see [`needs`]).
    pub fn virtual_packages(&self, host: &[GenericVirtualPackage]) -> Vec<GenericVirtualPackage> {
        let mut out: Vec<GenericVirtualPackage> = host
            .iter()
            .filter(|v| v.name.as_normalized() != "__cuda")
            .cloned()
            .collect();
        if let Self::Cuda(major) = self {
            if let (Ok(name), Ok(version)) = (
                PackageName::from_str("__cuda"),
                Version::from_str(&format!("{major}.999")),
            ) {
                out.push(GenericVirtualPackage {
                    name,
                    version,
                    build_string: rattler_conda_types::package::BuildString::new_unchecked("0"),
                });
            }
        }
        out
    }

    /// Parses `cpu,cuda12`.
    pub fn parse_list(text: &str) -> Result<Vec<Self>, String> {
        let mut out: Vec<Self> = Vec::new();
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let v: Self = part.parse()?;
            if !out.contains(&v) {
                out.push(v);
            }
        }
        if out.is_empty() {
            return Err("no variant given: cpu, cuda12, ...".into());
        }
        Ok(out)
    }
}

/// What the records of a variant need of a host: their dependencies on virtual packages
/// (`__cuda >=12`, `__glibc >=2.17`), each once, sorted.
pub fn needs(records: &[RepoDataRecord]) -> Vec<String> {
    let mut out = BTreeSet::new();
    for r in records {
        for dep in &r.package_record.depends {
            if dep.trim_start().starts_with("__") {
                out.insert(dep.split_whitespace().collect::<Vec<_>>().join(" "));
            }
        }
    }
    out.into_iter().collect()
}

/// The CUDA major versions records ask for (`__cuda >=12.4` → 12): what a channel offers.
pub fn cuda_majors<'a>(records: impl IntoIterator<Item = &'a RepoDataRecord>) -> BTreeSet<u32> {
    records
        .into_iter()
        .flat_map(|r| r.package_record.depends.iter())
        .filter_map(|dep| dep.trim_start().strip_prefix("__cuda"))
        .filter_map(|rest| {
            let digits: String = rest
                .chars()
                .skip_while(|c| !c.is_ascii_digit())
                .take_while(char::is_ascii_digit)
                .collect();
            digits.parse().ok()
        })
        .collect()
}

/// Whether the host's virtual packages satisfy one need (`__cuda >=12`); a need that does not
/// parse is not met.
pub fn met(need: &str, host: &[GenericVirtualPackage]) -> bool {
    let Ok(spec) = MatchSpec::from_str(need, ParseStrictness::Lenient) else {
        return false;
    };
    let Some(name) = spec.name.as_exact() else {
        return false;
    };
    host.iter().any(|v| {
        &v.name == name
            && spec
                .version
                .as_ref()
                .is_none_or(|vs| vs.matches(&v.version))
            && spec
                .build
                .as_ref()
                .is_none_or(|b| b.matches(v.build_string.as_str()))
    })
}

/// A variant of a lock and what it needs.
#[derive(Debug, Clone, Serialize)]
pub struct Offered {
    /// Its name (the lock's environment).
    pub name: String,
    /// Its records' needs (see [`needs`]).
    pub needs: Vec<String>,
}

/// The variant a host gets, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Choice {
    /// The variant's name.
    pub name: String,
    /// Why: what the host has against what each better variant needs.
    pub reason: String,
}

/// No variant of a lock can run on this host.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum ChoiceError {
    /// The host meets no variant's needs.
    #[error("no variant of the lock runs on this host ({host}):\n{listing}")]
    #[diagnostic(help(
        "install on a host that has what one variant needs, or lock a variant for this one (`env lock --variants cpu`)"
    ))]
    NoneRuns {
        /// The host's virtual packages.
        host: String,
        /// Each variant and what it needs.
        listing: String,
    },
    /// `--variant` names none of the lock's.
    #[error("the lock has no variant `{name}`; it has: {offered}")]
    #[diagnostic(help(
        "pass one of them to --variant, or leave --variant out to choose by this host"
    ))]
    Unknown {
        /// As given.
        name: String,
        /// The lock's variants.
        offered: String,
    },
}

/// How good a variant is where it runs: the CUDA ones by major, then the others in lock order.
fn rank(name: &str) -> u32 {
    match name.parse::<Variant>() {
        Ok(Variant::Cuda(major)) => 1 + major,
        _ => 0,
    }
}

/// The best of `offered` whose needs the host meets (`forced`: that one, whatever it needs).
pub fn choose(
    offered: &[Offered],
    host: &[GenericVirtualPackage],
    forced: Option<&str>,
) -> Result<Choice, ChoiceError> {
    let names = || {
        offered
            .iter()
            .map(|o| o.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    if let Some(name) = forced {
        return offered
            .iter()
            .find(|o| o.name == name)
            .map(|o| Choice {
                name: o.name.clone(),
                reason: format!(
                    "forced with --variant (it needs {})",
                    describe_needs(&o.needs)
                ),
            })
            .ok_or_else(|| ChoiceError::Unknown {
                name: name.to_string(),
                offered: names(),
            });
    }
    let mut order: Vec<&Offered> = offered.iter().collect();
    order.sort_by_key(|o| std::cmp::Reverse(rank(&o.name)));
    let unmet = |o: &Offered| -> Vec<String> {
        o.needs.iter().filter(|n| !met(n, host)).cloned().collect()
    };
    let mut reason = format!("this host has {}", host_cuda(host));
    for o in order {
        let missing = unmet(o);
        if missing.is_empty() {
            reason.push_str(&format!("; {} needs {}", o.name, describe_needs(&o.needs)));
            return Ok(Choice {
                name: o.name.clone(),
                reason,
            });
        }
        reason.push_str(&format!("; {} needs {}", o.name, missing.join(", ")));
    }
    Err(ChoiceError::NoneRuns {
        host: crate::system::describe(host),
        listing: offered
            .iter()
            .map(|o| format!("  {}: needs {}", o.name, describe_needs(&o.needs)))
            .collect::<Vec<_>>()
            .join("\n"),
    })
}

fn describe_needs(needs: &[String]) -> String {
    if needs.is_empty() {
        "nothing of the host".to_string()
    } else {
        needs.join(", ")
    }
}

fn host_cuda(host: &[GenericVirtualPackage]) -> String {
    host.iter()
        .find(|v| v.name.as_normalized() == "__cuda")
        .map_or_else(
            || "no CUDA driver".to_string(),
            |v| format!("__cuda={}", v.version),
        )
}

impl ChoiceError {
    /// What kind of failure this is.
    pub fn class(&self) -> crate::message::ErrorClass {
        use crate::message::ErrorClass;
        match self {
            Self::NoneRuns { .. } => ErrorClass::Unsolvable,
            Self::Unknown { .. } => ErrorClass::Input,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vp(name: &str, version: &str) -> GenericVirtualPackage {
        GenericVirtualPackage {
            name: PackageName::from_str(name).unwrap(),
            version: Version::from_str(version).unwrap(),
            build_string: rattler_conda_types::package::BuildString::new_unchecked("0"),
        }
    }

    fn offered(name: &str, needs: &[&str]) -> Offered {
        Offered {
            name: name.into(),
            needs: needs.iter().map(|n| n.to_string()).collect(),
        }
    }

    #[test]
    fn variants_parse_and_print() {
        assert_eq!(
            Variant::parse_list("cpu, cuda12,cpu").unwrap(),
            [Variant::Cpu, Variant::Cuda(12)]
        );
        assert_eq!(Variant::Cuda(11).to_string(), "cuda11");
        assert!("gpu".parse::<Variant>().is_err());
        assert!("cuda".parse::<Variant>().is_err());
        assert!(Variant::parse_list(" , ").is_err());
    }

    #[test]
    fn a_cuda_variant_solves_with_its_major_and_cpu_without() {
        let host = [vp("__glibc", "2.36"), vp("__cuda", "11.8")];
        let cpu = Variant::Cpu.virtual_packages(&host);
        assert!(cpu.iter().all(|v| v.name.as_normalized() != "__cuda"));
        let cuda = Variant::Cuda(12).virtual_packages(&host);
        assert!(met("__cuda >=12.4", &cuda) && !met("__cuda >=13", &cuda));
        assert!(met("__glibc >=2.17", &cuda));
    }

    #[test]
    fn the_best_variant_the_host_can_run_is_chosen_with_its_reason() {
        let lock = [offered("cpu", &[]), offered("cuda12", &["__cuda >=12"])];
        let gpu = choose(&lock, &[vp("__cuda", "12.4")], None).unwrap();
        assert_eq!(gpu.name, "cuda12");
        let old = choose(&lock, &[vp("__cuda", "11.8")], None).unwrap();
        assert_eq!(old.name, "cpu");
        assert!(
            old.reason
                == "this host has __cuda=11.8; cuda12 needs __cuda >=12; cpu needs nothing of the host",
            "{}",
            old.reason
        );
        assert_eq!(choose(&lock, &[], None).unwrap().name, "cpu");
        assert_eq!(choose(&lock, &[], Some("cuda12")).unwrap().name, "cuda12");
        assert!(matches!(
            choose(&lock, &[], Some("cuda11")),
            Err(ChoiceError::Unknown { .. })
        ));
        let only_gpu = [offered("cuda12", &["__cuda >=12"])];
        let err = choose(&only_gpu, &[vp("__glibc", "2.36")], None).unwrap_err();
        assert!(
            err.to_string().contains("cuda12: needs __cuda >=12"),
            "{err}"
        );
    }
}
