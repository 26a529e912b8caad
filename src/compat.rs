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
fn specs(card: &Card) -> Result<Vec<MatchSpec>, SolveError> {
    crate::solve::parse_specs(&card.conda_specs())
}

/// Solves cards against fixed channels for one platform.
pub struct Checker {
    loaded: Loaded,
    with_cuda: Vec<GenericVirtualPackage>,
    without_cuda: Vec<GenericVirtualPackage>,
}

impl Checker {
    /// Fetches the repodata every card can reach, once.
    pub async fn new(
        cards: &[Card],
        channels: &[Channel],
        platform: Subdir,
        cuda: &CudaChoice,
    ) -> Result<Self, SolveError> {
        let mut all = Vec::new();
        for card in cards {
            all.extend(specs(card)?);
        }
        let gateway = crate::prefix::gateway();
        let loaded = Loaded::query(&gateway, channels, platform, all).await?;
        Ok(Self {
            loaded,
            with_cuda: system::virtual_packages(platform, cuda)?,
            without_cuda: system::virtual_packages(platform, &CudaChoice::None)?,
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

    /// The smallest `k` such that `base ++ extra[..k]` has no solution (`None`: all of it solves).
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
        let specs = specs(card)?;
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
        let (sa, sb) = (specs(a)?, specs(b)?);
        let cpu_only = a.system.cuda == "none" || b.system.cuda == "none";
        let Some((kb, _)) = self.first_failing(&sa, &sb, cpu_only) else {
            return Ok(None);
        };
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
