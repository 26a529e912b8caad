//! `check`: whether a model solves on this host, and which variant of it the host would get,
//! without installing anything.

use super::{EnvError, Envs, Request, Solution};
use crate::variant::{Choice, Offered};

/// Whether the model solves here.
#[derive(Debug)]
pub enum Verdict {
    /// It solves: the packages an environment would hold.
    Runs(Box<Solution>),
    /// It does not solve on this host; the error says what it needs and what the host has
    /// ([`EnvError::Unsolvable`]).
    Unmet(Box<EnvError>),
}

/// What `check` found.
#[derive(Debug)]
pub struct Check {
    /// Whether the model solves here.
    pub verdict: Verdict,
    /// For a model with CUDA builds: the variant this host gets (as `--frozen` would choose
    /// from a variant lock) and why, with every variant's needs.
    pub variant: Option<(Choice, Vec<Offered>)>,
}

/// Solves `request` without installing and, when the model has variants, chooses the one this
/// host gets (`cuda_pinned`: `--cuda` was given, so there are no default variants). A model
/// that does not solve here is a [`Verdict::Unmet`], not an error; other failures are errors.
pub async fn check(envs: &Envs, request: &Request, cuda_pinned: bool) -> Result<Check, EnvError> {
    let verdict = match envs.solve(request).await {
        Ok(solution) => Verdict::Runs(Box::new(solution)),
        Err(e @ EnvError::Unsolvable { .. }) => Verdict::Unmet(Box::new(e)),
        Err(e) => return Err(e),
    };
    let variant = match super::variants::default_variants(request, cuda_pinned).await? {
        Some(variants) => {
            let offered = super::variants::needs_of(envs, request, &variants).await?;
            crate::variant::choose(&offered, &request.virtual_packages, None)
                .ok()
                .map(|c| (c, offered))
        }
        None => None,
    };
    Ok(Check { verdict, variant })
}

impl Request {
    /// A request for bare match specs (`scivision solve`), named `label` in messages: no
    /// model, no PyPI half.
    pub fn for_specs(
        label: String,
        specs: Vec<rattler_conda_types::MatchSpec>,
        channels: Vec<rattler_conda_types::Channel>,
        platform: rattler_conda_types::Subdir,
        virtual_packages: Vec<rattler_conda_types::GenericVirtualPackage>,
        verify_cache_fully: bool,
    ) -> Self {
        Self {
            model: label,
            specs,
            channels,
            platform,
            virtual_packages,
            offline: None,
            pypi: Vec::new(),
            index: crate::pypi::IndexOptions::default(),
            entry: None,
            weights: Vec::new(),
            pypi_overrides: Vec::new(),
            pypi_no_build_isolation: Vec::new(),
            verify_cache_fully,
            mapping: crate::mapping::PypiMapping::default(),
            package: None,
            published_by: None,
            cpu_only: false,
        }
    }
}
