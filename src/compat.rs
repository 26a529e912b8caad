//! Whether model cards solve, alone and in pairs: `catalog lint --channel` and
//! `catalog conflicts`, the figures behind "one prefix per model".
//!
//! Repodata is fetched once ([`Loaded`]); every check after that is an in-memory resolvo run.
//! Adding a spec can only remove solutions, so the first failing requirement of a list is found by
//! bisection over its prefixes, and the first conflicting pair of two cards by two bisections.

use rattler_conda_types::{Channel, GenericVirtualPackage, MatchSpec, RepoDataRecord, Subdir};
use serde::Serialize;

use crate::card::Card;
use crate::solve::{Loaded, SolveError};
use crate::system::{self, CudaChoice};

/// One card's solve against the channels.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(tag = "result", rename_all = "kebab-case")]
pub enum SolveReport {
    /// It solves.
    Solves {
        /// The CPython picked.
        python: String,
        /// How many conda packages.
        packages: usize,
        /// The framework builds picked (`name=version=build` of `cpu*`/`cuda*` builds).
        variants: Vec<String>,
    },
    /// It does not.
    Fails {
        /// The first requirement (in card order) after which no solution exists.
        requirement: String,
        /// resolvo's explanation for the card's requirements up to that one.
        explanation: String,
    },
}

/// Two cards that cannot share one environment.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Conflict {
    /// First card's name.
    pub a: String,
    /// Second card's name.
    pub b: String,
    /// The requirement of `a` in the first conflicting pair.
    pub a_requirement: String,
    /// The requirement of `b` in the first conflicting pair.
    pub b_requirement: String,
    /// resolvo's explanation for the two cards' requirements up to that pair.
    pub explanation: String,
}

/// The conda specs of a card, parsed (cards are validated before they get here).
/// A card's conda specs, or its published package's name where a channel publishes the model
/// (`published`: catalog name → package): as `env create` installs it.
fn specs(
    card: &Card,
    published: &[crate::channel::PublishedModel],
) -> Result<Vec<MatchSpec>, SolveError> {
    let wanted = crate::catalog::normalized_name(&card.name);
    match published
        .iter()
        .find(|p| crate::catalog::normalized_name(&p.catalog) == wanted)
    {
        Some(p) => crate::solve::parse_specs(std::slice::from_ref(&p.package)),
        None => crate::solve::parse_specs(&card.conda_specs()),
    }
}

/// The runner `env create` adds to every model's prefix.
const RUNNER: &str = "scivision-runner";

/// Solves cards against fixed channels for one platform.
pub struct Checker {
    loaded: Loaded,
    /// `scivision-runner`, when the channels publish it: every environment gets it, so every
    /// check includes it (last, so that a card's own requirements are blamed first).
    runner: Option<MatchSpec>,
    published: Vec<crate::channel::PublishedModel>,
    with_cuda: Vec<GenericVirtualPackage>,
    without_cuda: Vec<GenericVirtualPackage>,
}

impl Checker {
    /// [`Checker::new`] with the models `channels` publish: those are solved as their packages,
    /// as `env create` installs them.
    pub async fn for_channels(
        cards: &[Card],
        channels: &[Channel],
        platform: Subdir,
        cuda: &CudaChoice,
        overrides: &rattler_virtual_packages::VirtualPackageOverrides,
    ) -> Result<Self, SolveError> {
        let conda_forge = crate::mapping::PypiMapping::default();
        let published =
            crate::channel::published_in(channels, |url| conda_forge.applies_to(url), false).await;
        Self::new(cards, channels, platform, cuda, overrides, published).await
    }

    /// Fetches the repodata every card can reach, once. A card whose model the channels
    /// publish (`published`) is solved as its package, as `env create` installs it.
    pub async fn new(
        cards: &[Card],
        channels: &[Channel],
        platform: Subdir,
        cuda: &CudaChoice,
        overrides: &rattler_virtual_packages::VirtualPackageOverrides,
        published: Vec<crate::channel::PublishedModel>,
    ) -> Result<Self, SolveError> {
        let runner = crate::solve::parse_specs(&[RUNNER.to_string()])?;
        let mut all = runner.clone();
        for card in cards {
            all.extend(specs(card, &published)?);
        }
        let gateway = crate::prefix::gateway();
        let loaded = Loaded::query(&gateway, channels, platform, all).await?;
        Ok(Self {
            runner: loaded
                .has(RUNNER)
                .then(|| runner.into_iter().next())
                .flatten(),
            loaded,
            published,
            with_cuda: system::virtual_packages(platform, cuda, overrides, None)?,
            without_cuda: system::virtual_packages(platform, &CudaChoice::None, overrides, None)?,
        })
    }

    fn vps(&self, cpu_only: bool) -> &[GenericVirtualPackage] {
        if cpu_only {
            &self.without_cuda
        } else {
            &self.with_cuda
        }
    }

    fn solve(&self, specs: &[MatchSpec], cpu_only: bool) -> Result<Vec<RepoDataRecord>, String> {
        self.loaded
            .solve(specs, self.vps(cpu_only))
            .map_err(|e| match e {
                SolveError::Unsolvable { explanation, .. } => explanation,
                other => other.to_string(),
            })
    }

    /// A card's specs as `env create` solves them: the card's, then the runner.
    fn card_specs(&self, card: &Card) -> Result<Vec<MatchSpec>, SolveError> {
        let mut out = specs(card, &self.published)?;
        out.extend(self.runner.clone());
        Ok(out)
    }

    /// The smallest `k` such that `base ++ extra[..k]` has no solution (`None`: all of it solves;
    /// `Some(0)`: `base` alone has none).
    fn first_failing(
        &self,
        base: &[MatchSpec],
        extra: &[MatchSpec],
        cpu_only: bool,
    ) -> Option<(usize, String)> {
        let with = |k: usize| {
            let mut s = base.to_vec();
            s.extend_from_slice(&extra[..k]);
            s
        };
        let Err(mut explanation) = self.solve(&with(extra.len()), cpu_only) else {
            return None;
        };
        if let Err(e) = self.solve(base, cpu_only) {
            return Some((0, e));
        }
        // Invariant: `with(lo)` solves (or lo == 0 and base alone fails), `with(hi)` does not.
        let (mut lo, mut hi) = (0, extra.len());
        while hi - lo > 1 {
            let mid = (lo + hi) / 2;
            match self.solve(&with(mid), cpu_only) {
                Ok(_) => lo = mid,
                Err(e) => {
                    hi = mid;
                    explanation = e;
                }
            }
        }
        Some((hi, explanation))
    }

    /// Solves one card.
    pub fn check(&self, card: &Card) -> Result<SolveReport, SolveError> {
        let specs = self.card_specs(card)?;
        let cpu_only = card.system.cuda == "none";
        Ok(match self.solve(&specs, cpu_only) {
            Ok(records) => SolveReport::Solves {
                python: records
                    .iter()
                    .find(|r| r.package_record.name.as_normalized() == "python")
                    .map(|r| r.package_record.version.to_string())
                    .unwrap_or_default(),
                packages: records.len(),
                variants: variants(&records),
            },
            Err(_) => {
                let (k, explanation) = self
                    .first_failing(&[], &specs, cpu_only)
                    .unwrap_or((specs.len(), String::new()));
                SolveReport::Fails {
                    requirement: specs[k.saturating_sub(1)].to_string(),
                    explanation,
                }
            }
        })
    }

    /// Whether two cards (each solvable alone) share an environment; the first conflicting pair
    /// of requirements when they do not.
    pub fn conflict(&self, a: &Card, b: &Card) -> Result<Option<Conflict>, SolveError> {
        let (sa, sb) = (self.card_specs(a)?, specs(b, &self.published)?);
        let cpu_only = a.system.cuda == "none" || b.system.cuda == "none";
        // One shared prefix gets CPU builds when either card runs on the CPU only; a card that
        // needs CUDA then conflicts with that, whatever the other requirements.
        for (cpu_card, other) in [(a, &sb), (b, &sa)] {
            if cpu_card.system.cuda != "none" {
                continue;
            }
            if let Some((k, explanation)) = self.first_failing(&[], other, true) {
                let cuda = "cuda: none (CPU builds only)".to_string();
                let needs = other[k.max(1) - 1].to_string();
                let (a_requirement, b_requirement) = if std::ptr::eq(cpu_card, a) {
                    (cuda, needs)
                } else {
                    (needs, cuda)
                };
                return Ok(Some(Conflict {
                    a: a.name.clone(),
                    b: b.name.clone(),
                    a_requirement,
                    b_requirement,
                    explanation,
                }));
            }
        }
        let Some((kb, _)) = self.first_failing(&sa, &sb, cpu_only) else {
            return Ok(None);
        };
        let kb = kb.max(1);
        let b_req = &sb[kb - 1];
        let base: Vec<MatchSpec> = sb[..kb].to_vec();
        let (ka, explanation) = self
            .first_failing(&base, &sa, cpu_only)
            .unwrap_or((sa.len(), String::new()));
        Ok(Some(Conflict {
            a: a.name.clone(),
            b: b.name.clone(),
            a_requirement: sa[ka.saturating_sub(1)].to_string(),
            b_requirement: b_req.to_string(),
            explanation,
        }))
    }
}

/// `name=version=build` of the records built per variant (conda-forge's `cpu_*`/`cuda*` builds).
fn variants(records: &[RepoDataRecord]) -> Vec<String> {
    let mut out: Vec<String> = records
        .iter()
        .map(|r| &r.package_record)
        .filter(|p| p.build.as_str().starts_with("cpu_") || p.build.as_str().starts_with("cuda"))
        .map(|p| format!("{}={}={}", p.name.as_normalized(), p.version, p.build))
        .collect();
    out.sort();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(name: &str, version: &str, depends: &[&str]) -> (String, serde_json::Value) {
        let fn_ = format!("{name}-{version}-0.conda");
        let value = serde_json::json!({
            "name": name, "version": version, "build": "0", "build_number": 0,
            "depends": depends, "subdir": "noarch",
        });
        (fn_, value)
    }

    fn card(name: &str, conda: &[&str], cuda: &str) -> Card {
        Card {
            name: name.into(),
            package: name.into(),
            version: "1".into(),
            python: ">=3.11".into(),
            conda: conda.iter().map(ToString::to_string).collect(),
            system: crate::card::CardSystem {
                cuda: cuda.into(),
                ..Default::default()
            },
            ..Default::default()
        }
    }

    /// A channel where `b` needs `a 1`, `c` needs `a 2`, and `g` needs a CUDA driver.
    fn checker(cards: &[Card]) -> Checker {
        let dir = tempfile::tempdir().unwrap().keep();
        let packages: serde_json::Map<_, _> = [
            record("python", "3.11.9", &[]),
            record("a", "1", &[]),
            record("a", "2", &[]),
            record("b", "1", &["a 1.*"]),
            record("c", "1", &["a 2.*"]),
            record("g", "1", &["__cuda >=12"]),
        ]
        .into_iter()
        .collect();
        for subdir in ["noarch", "linux-64"] {
            let body = serde_json::json!({"info": {"subdir": subdir}, "packages": {},
                "packages.conda": if subdir == "noarch" { serde_json::Value::Object(packages.clone()) } else { serde_json::json!({}) }});
            std::fs::create_dir_all(dir.join(subdir)).unwrap();
            std::fs::write(dir.join(subdir).join("repodata.json"), body.to_string()).unwrap();
        }
        let channels =
            crate::solve::parse_channels(&[dir.display().to_string()], dir.clone()).unwrap();
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(Checker::new(
            cards,
            &channels,
            Subdir::Linux64,
            &CudaChoice::Version("12.4".into()),
            &rattler_virtual_packages::VirtualPackageOverrides::default(),
            Vec::new(),
        ))
        .unwrap()
    }

    #[test]
    fn the_first_failing_requirement_is_named() {
        let bad = card("bad", &["b", "c", "a"], "optional");
        let check = checker(std::slice::from_ref(&bad));
        match check.check(&bad).unwrap() {
            SolveReport::Fails {
                requirement,
                explanation,
            } => {
                assert_eq!(requirement, "c");
                assert!(explanation.contains('a'), "{explanation}");
            }
            other => panic!("{other:?}"),
        }
        let good = card("good", &["b"], "optional");
        assert!(matches!(
            check.check(&good).unwrap(),
            SolveReport::Solves { packages: 3, .. }
        ));
    }

    #[test]
    fn a_conflict_names_one_requirement_of_each_side() {
        let (x, y) = (
            card("x", &["a", "b"], "optional"),
            card("y", &["a", "c"], "optional"),
        );
        let check = checker(&[x.clone(), y.clone()]);
        let c = check.conflict(&x, &y).unwrap().unwrap();
        // y's `c` is the first of y's that breaks x; x's `b` the first of x's against y's prefix.
        assert_eq!(
            (c.a_requirement.as_str(), c.b_requirement.as_str()),
            ("b", "c")
        );
        assert!(check
            .conflict(&x, &card("z", &["a"], "optional"))
            .unwrap()
            .is_none());
    }

    #[test]
    fn a_cpu_only_card_conflicts_with_one_that_needs_cuda() {
        let (cpu, gpu) = (card("cpu", &["b"], "none"), card("gpu", &["g"], ">=12"));
        let check = checker(&[cpu.clone(), gpu.clone()]);
        assert!(matches!(
            check.check(&gpu).unwrap(),
            SolveReport::Solves { .. }
        ));
        let c = check.conflict(&cpu, &gpu).unwrap().unwrap();
        assert_eq!(c.a_requirement, "cuda: none (CPU builds only)");
        assert_eq!(c.b_requirement, "g");
        let c = check.conflict(&gpu, &cpu).unwrap().unwrap();
        assert_eq!(
            (c.a_requirement.as_str(), c.b_requirement.as_str()),
            ("g", "cuda: none (CPU builds only)")
        );
    }
}
