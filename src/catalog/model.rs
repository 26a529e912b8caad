//! The catalog's entries: models (upstream's schema plus the install fields a card fills) and
//! datasources, and what a resolved model installs.

use rattler_conda_types::MatchSpec;
use serde::{Deserialize, Serialize};

/// One model of the catalog (upstream's schema plus `conda_package`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Model {
    /// Catalog name.
    pub name: String,
    /// One paragraph.
    #[serde(default)]
    pub description: String,
    /// Tasks (classification, segmentation, …).
    #[serde(default)]
    pub tasks: Vec<String>,
    /// Home page or repository.
    #[serde(default)]
    pub url: String,
    /// Upstream's pip install string.
    #[serde(default)]
    pub pkg_url: String,
    /// Whether upstream marks it usable.
    #[serde(default)]
    pub scivision_usable: bool,
    /// Institutions.
    #[serde(default)]
    pub institution: Vec<String>,
    /// Tags.
    #[serde(default)]
    pub tags: Vec<String>,
    /// The conda package that installs the model, when one is published.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conda_package: Option<String>,
    /// Conda match specs installed beside the conda package, or instead of one (python, the
    /// framework, system libraries) when the model itself comes from PyPI.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conda_dependencies: Vec<String>,
    /// PEP 508 requirements only PyPI (or a git, URL or path source) provides; for a model that
    /// is no conda package, the model's own package among them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pypi_dependencies: Vec<String>,
    /// model.yml's fields for a model that is no conda package (a conda package carries them in
    /// its `about.json`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entry: Option<crate::runner::ModelEntry>,
    /// PyPI names whose requirements (anywhere in the PyPI graph) the conda packages satisfy.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pypi_overrides: Vec<String>,
    /// PyPI names built without isolation, inside the environment's prefix (they build against
    /// the conda packages).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pypi_no_build_isolation: Vec<String>,
    /// The card's code runs on the CPU only: solve as a host without CUDA (CPU builds).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub cpu_only: bool,
    /// The card (catalog/<model>/card.yaml) this entry's install fields come from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub card: Option<crate::card::Card>,
    /// Where the entry comes from (`upstream`, `scivision-demo`, a file or channel).
    #[serde(default)]
    pub source: String,
    /// The channel that publishes the model as its `conda_package`, where one does: installed
    /// from there (conda alone) instead of through its card.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub published_by: Option<String>,
}

/// One datasource of the catalog.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Datasource {
    /// Catalog name.
    pub name: String,
    /// One paragraph.
    #[serde(default)]
    pub description: String,
    /// Tasks.
    #[serde(default)]
    pub tasks: Vec<String>,
    /// Domains.
    #[serde(default)]
    pub domains: Vec<String>,
    /// Where the data is.
    #[serde(default)]
    pub url: String,
    /// Tags.
    #[serde(default)]
    pub tags: Vec<String>,
}

/// What installs a model: conda specs, then PyPI requirements resolved against them.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelSpec {
    /// The catalog entry.
    pub model: Model,
    /// Conda match specs to solve.
    pub conda: Vec<MatchSpec>,
    /// PEP 508 requirements with where each came from, checked for syntax.
    pub pypi: Vec<crate::pypi::PypiRequirement>,
}

impl Model {
    /// Fills the entry's install fields from its card.
    pub fn fill_from(&mut self, card: &crate::card::Card) {
        self.conda_package = card.source.conda.as_ref().map(|_| card.package.clone());
        self.conda_dependencies = card.conda_specs();
        self.pypi_dependencies = card.pypi_requirements();
        self.entry = card.model.as_ref().map(|m| crate::runner::ModelEntry {
            import: m.import.clone(),
            model: m.model.clone(),
            call: m
                .prediction_fn
                .as_ref()
                .map_or_else(|| "predict".to_string(), |p| p.call.clone()),
            arg: "X".into(),
        });
        self.pypi_overrides = card.pypi_overrides.clone();
        self.pypi_no_build_isolation = card.pypi_no_build_isolation.clone();
        self.cpu_only = card.system.cuda == "none";
        self.card = Some(card.clone());
    }
}
