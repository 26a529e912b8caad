//! The model catalog: upstream Scivision's models and datasources plus scivision's demo models,
//! embedded in the binary, extended by catalog files (`SCIVISION_CATALOG`, a `:`-separated list
//! of paths) and by the models a local channel publishes in its `channeldata.json`.
//!
//! The catalog resolves a user's `<model>` argument to a [`ModelSpec`]: the conda specs that
//! install it. It never solves or installs.

use std::path::{Path, PathBuf};

use rattler_conda_types::{MatchSpec, ParseStrictness};
use serde::{Deserialize, Serialize};

const UPSTREAM_MODELS: &str = include_str!("../data/catalog/scivision-catalog-models.json");
const UPSTREAM_DATASOURCES: &str =
    include_str!("../data/catalog/scivision-catalog-datasources.json");
const DEMO_MODELS: &str = include_str!("../data/catalog/scivision-demo-models.json");

/// Catalog errors.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum CatalogError {
    /// No model by that name.
    #[error("no model named `{name}` in the catalog{}", suggestion(.close))]
    #[diagnostic(help(
        "`scivision catalog list` shows every model; `scivision catalog search WORD` searches them"
    ))]
    UnknownModel {
        /// As given.
        name: String,
        /// Close names.
        close: Vec<String>,
    },
    /// The argument is not a name or match spec.
    #[error("`{given}` is not a model name or match spec: {reason}")]
    #[diagnostic(help(
        "give a catalog name, optionally narrowed: `NAME==1.0`, `NAME[build=cuda*]`"
    ))]
    BadSpec {
        /// As given.
        given: String,
        /// Why.
        reason: String,
    },
    /// A card's conda or PyPI requirement does not parse.
    #[error("model `{name}`: {field} `{given}` is not valid: {reason}")]
    #[diagnostic(help("conda specs look like `numpy >=1.26,<2`; PyPI requirements are PEP 508: `exifread >=3,<4`, `pkg @ git+https://host/repo@REV`"))]
    BadRequirement {
        /// The model.
        name: String,
        /// Which card field (with the catalog file).
        field: String,
        /// The requirement.
        given: String,
        /// Why.
        reason: String,
    },
    /// The model exists but nothing installs it yet.
    #[error("`{name}` has no installable spec yet: it is published neither as a conda package nor with a card (upstream installs it with `pip install {pkg_url}`)")]
    #[diagnostic(help("a model installs through its conda package or a card (catalog/<model>/card.yaml, see catalog/README.md); `scivision catalog list` shows how each one installs"))]
    NotInstallable {
        /// The model.
        name: String,
        /// Upstream's install string.
        pkg_url: String,
    },
    /// A catalog file could not be read.
    #[error("cannot read catalog {}: {reason}", path.display())]
    #[diagnostic(help(
        "a catalog file is JSON with an `entries` list, as upstream's models.json"
    ))]
    File {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
}

fn suggestion(close: &[String]) -> String {
    if close.is_empty() {
        String::new()
    } else {
        format!(
            "; did you mean {}?",
            close
                .iter()
                .map(|c| format!("`{c}`"))
                .collect::<Vec<_>>()
                .join(" or ")
        )
    }
}

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

#[derive(Deserialize)]
struct File<T> {
    entries: Vec<T>,
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

/// The merged catalog.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    /// Models, in catalog order (later sources override earlier entries of the same name).
    pub models: Vec<Model>,
    /// Datasources.
    pub datasources: Vec<Datasource>,
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

impl Catalog {
    /// The embedded catalog: upstream's models and datasources, then the demo models.
    pub fn embedded() -> Self {
        let mut catalog = Self::default();
        // The embedded files are checked by a unit test; a parse failure is impossible at run time.
        if let Ok(f) = serde_json::from_str::<File<Model>>(UPSTREAM_MODELS) {
            catalog.add(f.entries, "upstream");
        }
        if let Ok(f) = serde_json::from_str::<File<Model>>(DEMO_MODELS) {
            catalog.add(f.entries, "scivision-demo");
        }
        if let Ok(f) = serde_json::from_str::<File<Datasource>>(UPSTREAM_DATASOURCES) {
            catalog.datasources = f.entries;
        }
        // Invalid embedded cards are caught by `catalog lint` and a unit test; here they are
        // skipped, so a broken card leaves its model uninstallable rather than half-pinned.
        for (path, card) in crate::card::Card::embedded() {
            if let Ok(card) = card {
                if card.problems(&path).is_empty() {
                    catalog.apply_card(&card);
                }
            }
        }
        catalog
    }

    /// The embedded catalog plus catalog files (`SCIVISION_CATALOG`'s, from the settings).
    pub fn load(files: &[PathBuf]) -> Result<Self, CatalogError> {
        let mut catalog = Self::embedded();
        for path in files.iter().filter(|p| !p.as_os_str().is_empty()) {
            catalog.add_file(path)?;
        }
        Ok(catalog)
    }

    fn add(&mut self, models: Vec<Model>, source: &str) {
        for mut m in models {
            m.source = source.to_string();
            self.models
                .retain(|o| !o.name.eq_ignore_ascii_case(&m.name));
            self.models.push(m);
        }
    }

    /// Adds a catalog file (upstream's schema).
    pub fn add_file(&mut self, path: &Path) -> Result<(), CatalogError> {
        let err = |reason: String| CatalogError::File {
            path: path.to_path_buf(),
            reason,
        };
        let text = fs_err::read_to_string(path).map_err(|e| err(e.to_string()))?;
        let file: File<Model> = serde_json::from_str(&text).map_err(|e| err(e.to_string()))?;
        self.add(file.entries, &path.display().to_string());
        Ok(())
    }

    /// Adds the models a local channel publishes (`channeldata.json` entries with a `scivision`
    /// section, written by `scivision channel index`). Channels without the file add nothing.
    pub fn add_channel_dir(&mut self, dir: &Path) -> Result<(), CatalogError> {
        let path = dir.join("channeldata.json");
        if !path.is_file() {
            return Ok(());
        }
        let err = |reason: String| CatalogError::File {
            path: path.clone(),
            reason,
        };
        let text = fs_err::read_to_string(&path).map_err(|e| err(e.to_string()))?;
        let data: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| err(e.to_string()))?;
        let mut models = Vec::new();
        if let Some(packages) = data.get("packages").and_then(|p| p.as_object()) {
            for (name, entry) in packages {
                let Some(sv) = entry.get("scivision") else {
                    continue;
                };
                // A catalog model published as a package (`scivision.catalog`) is installed from it.
                if sv.get("catalog").is_some() {
                    continue;
                }
                // An entry the catalog already knows keeps its description; the channel adds the package.
                if let Some(known) = self
                    .models
                    .iter_mut()
                    .find(|m| m.name.eq_ignore_ascii_case(name))
                {
                    known.conda_package.get_or_insert_with(|| name.clone());
                    continue;
                }
                let text = |k: &str| {
                    entry
                        .get(k)
                        .and_then(|v| v.as_str())
                        .unwrap_or_default()
                        .to_string()
                };
                models.push(Model {
                    name: name.clone(),
                    description: text("summary"),
                    tasks: sv
                        .get("tasks")
                        .and_then(|t| serde_json::from_value(t.clone()).ok())
                        .unwrap_or_default(),
                    url: text("home"),
                    pkg_url: String::new(),
                    scivision_usable: true,
                    institution: Vec::new(),
                    tags: Vec::new(),
                    conda_package: Some(name.clone()),
                    conda_dependencies: Vec::new(),
                    pypi_dependencies: Vec::new(),
                    entry: None,
                    pypi_overrides: Vec::new(),
                    pypi_no_build_isolation: Vec::new(),
                    cpu_only: false,
                    card: None,
                    source: String::new(),
                    published_by: None,
                });
            }
        }
        self.add(models, &dir.display().to_string());
        let base = url::Url::from_directory_path(std::path::absolute(dir).unwrap_or_default())
            .map_or_else(|()| dir.display().to_string(), |u| u.to_string());
        self.use_published(&crate::channel::published_models(&data, &base));
        Ok(())
    }

    /// Installs each catalog model that a channel publishes from its package there (conda
    /// alone: no git, no build, no PyPI resolution), instead of through its card. The first
    /// channel to publish a model wins, as in the solve's channel order.
    pub fn use_published(&mut self, published: &[crate::channel::PublishedModel]) {
        for p in published {
            let wanted = normalized_name(&p.catalog);
            let Some(model) = self
                .models
                .iter_mut()
                .find(|m| normalized_name(&m.name) == wanted && m.published_by.is_none())
            else {
                continue;
            };
            model.conda_package = Some(p.package.clone());
            // The package's run requirements carry the card's pins.
            model.conda_dependencies.clear();
            model.pypi_dependencies.clear();
            model.pypi_overrides.clear();
            model.pypi_no_build_isolation.clear();
            model.published_by = Some(p.channel.clone());
        }
    }

    /// Makes the card's model installable: fills its catalog entry (or adds one).
    pub fn apply_card(&mut self, card: &crate::card::Card) {
        if let Some(model) = self
            .models
            .iter_mut()
            .find(|m| m.name.eq_ignore_ascii_case(&card.name))
        {
            model.fill_from(card);
        }
    }

    /// Finds a model by name: exactly as listed, in any case, or in its normalized form (lower
    /// case, `-` for spaces and `_`), so `StarDist Seed`, `stardist seed` and `stardist-seed`
    /// are one model.
    pub fn get(&self, name: &str) -> Result<&Model, CatalogError> {
        self.find(name).ok_or_else(|| CatalogError::UnknownModel {
            name: name.to_string(),
            close: self.close_names(name),
        })
    }

    fn find(&self, name: &str) -> Option<&Model> {
        let name = name.trim();
        let wanted = normalized_name(name);
        self.models
            .iter()
            .find(|m| m.name == name)
            .or_else(|| {
                self.models
                    .iter()
                    .find(|m| m.name.eq_ignore_ascii_case(name))
            })
            .or_else(|| {
                self.models
                    .iter()
                    .find(|m| normalized_name(&m.name) == wanted)
            })
    }

    /// Splits `given` into a catalog name and the match-spec narrowing after it. The narrowing
    /// starts only at an explicit operator (`==1.0`, `>=1`, `[build=cuda*]`), so a name with
    /// spaces is never read as `NAME VERSION`.
    fn split_name<'a>(&self, given: &'a str) -> Option<(&Model, &'a str)> {
        if let Some(m) = self.find(given) {
            return Some((m, ""));
        }
        self.model_before(given, |c| "=<>!~[".contains(c))
    }

    /// The first model named by `given` up to a character `at` accepts, and the rest after it.
    fn model_before<'a>(
        &self,
        given: &'a str,
        at: impl Fn(char) -> bool,
    ) -> Option<(&Model, &'a str)> {
        given
            .char_indices()
            .filter(|(_, c)| at(*c))
            .find_map(|(i, _)| self.find(&given[..i]).map(|m| (m, given[i..].trim())))
    }

    /// Names within a small edit distance, or sharing a prefix.
    fn close_names(&self, name: &str) -> Vec<String> {
        let lower = name.to_lowercase();
        let mut scored: Vec<(usize, &str)> = self
            .models
            .iter()
            .map(|m| {
                let other = m.name.to_lowercase();
                let d = strsim::levenshtein(&lower, &other);
                let bonus = if other.contains(&lower) || lower.contains(&other) {
                    0
                } else {
                    d
                };
                (bonus.min(d), m.name.as_str())
            })
            .filter(|(d, _)| *d <= 3.max(lower.len() / 3))
            .collect();
        scored.sort();
        // Only the closest names: one clear suggestion beats three vague ones.
        let best = scored.first().map_or(0, |(d, _)| *d);
        scored
            .into_iter()
            .take_while(|(d, _)| *d <= best + 1)
            .take(3)
            .map(|(_, n)| n.to_string())
            .collect()
    }

    /// Models whose name, description, tasks, tags or institutions contain every word.
    pub fn search(&self, words: &[String]) -> Vec<&Model> {
        let words: Vec<String> = words.iter().map(|w| w.to_lowercase()).collect();
        self.models
            .iter()
            .filter(|m| {
                let hay = format!(
                    "{} {} {} {} {}",
                    m.name,
                    m.description,
                    m.tasks.join(" "),
                    m.tags.join(" "),
                    m.institution.join(" ")
                )
                .to_lowercase();
                words.iter().all(|w| hay.contains(w))
            })
            .collect()
    }

    /// Resolves `NAME` or a match spec narrowing it (`NAME==1.0`, `NAME[build=cuda*]`).
    pub fn resolve(&self, given: &str) -> Result<ModelSpec, CatalogError> {
        let bad = |reason: String| CatalogError::BadSpec {
            given: given.to_string(),
            reason,
        };
        let Some((model, narrowing)) = self.split_name(given) else {
            // `NAME 1.0`: a name, then a version after a space, which is no narrowing here.
            let spaced = self
                .model_before(given, char::is_whitespace)
                .filter(|(_, rest)| rest.starts_with(|c: char| c.is_ascii_digit()));
            if let Some((m, rest)) = spaced {
                return Err(bad(format!(
                    "a version after a space does not narrow a model; write `{}=={rest}`",
                    m.name
                )));
            }
            // Not a catalog name: a match spec's name part gets the suggestions.
            let name = crate::solve::match_spec(given, ParseStrictness::Lenient)
                .ok()
                .and_then(|spec| match spec.name {
                    rattler_conda_types::PackageNameMatcher::Exact(n) => {
                        Some(n.as_source().to_string())
                    }
                    _ => None,
                })
                .unwrap_or_else(|| given.trim().to_string());
            return Err(self
                .get(&name)
                .err()
                .unwrap_or_else(|| CatalogError::UnknownModel {
                    close: self.close_names(given),
                    name: given.trim().to_string(),
                }));
        };
        let model = model.clone();
        let field_err = |field: &str, given: &str, reason: String| CatalogError::BadRequirement {
            name: model.name.clone(),
            field: format!("{field} (catalog {})", model.source),
            given: given.to_string(),
            reason,
        };
        let mut conda = Vec::new();
        if let Some(package) = &model.conda_package {
            let text = format!("{package}{narrowing}");
            conda.push(
                crate::solve::match_spec(&text, ParseStrictness::Lenient)
                    .map_err(|e| bad(e.to_string()))?,
            );
        } else if model.pypi_dependencies.is_empty() {
            return Err(CatalogError::NotInstallable {
                name: model.name.clone(),
                pkg_url: model.pkg_url.clone(),
            });
        } else if !narrowing.is_empty() {
            return Err(bad(format!(
                "`{}` installs from PyPI, so it cannot be narrowed with a conda match spec",
                model.name
            )));
        }
        for text in &model.conda_dependencies {
            conda.push(
                crate::solve::match_spec(text, ParseStrictness::Lenient)
                    .map_err(|e| field_err("conda_dependencies", text, e.to_string()))?,
            );
        }
        let origin = format!("card {} ({})", model.name, model.source);
        let pypi = model
            .pypi_dependencies
            .iter()
            .map(|text| {
                crate::pypi::PypiRequirement::parse(text, &origin)
                    .map_err(|e| field_err("pypi_dependencies", text, e.to_string()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(ModelSpec { model, conda, pypi })
    }
}

/// A catalog name's normalized form: lower case, `-` for runs of spaces, `_` and `-`.
pub fn normalized_name(name: &str) -> String {
    name.trim()
        .to_lowercase()
        .split(|c: char| c.is_whitespace() || c == '_' || c == '-')
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join("-")
}

impl CatalogError {
    /// What kind of failure this is: always the user's input.
    pub fn class(&self) -> crate::message::ErrorClass {
        crate::message::ErrorClass::Input
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_files_parse_and_hold_all_models() {
        assert_eq!(
            serde_json::from_str::<File<Model>>(UPSTREAM_MODELS)
                .unwrap()
                .entries
                .len(),
            17
        );
        assert!(
            !serde_json::from_str::<File<Datasource>>(UPSTREAM_DATASOURCES)
                .unwrap()
                .entries
                .is_empty()
        );
        let catalog = Catalog::embedded();
        assert_eq!(catalog.models.len(), 17 + 5);
        assert!(catalog.get("stardist").is_ok());
        assert!(catalog.get("STARDIST").is_ok());
    }

    #[test]
    fn unknown_names_get_suggestions() {
        let catalog = Catalog::embedded();
        let err = catalog.get("scivision-demo-edge").unwrap_err().to_string();
        assert!(
            err.contains("did you mean `scivision-demo-edges`?"),
            "{err}"
        );
        let err = catalog.get("zzzzzzzzzzzzzz").unwrap_err().to_string();
        assert!(!err.contains("did you mean"), "{err}");
    }

    #[test]
    fn resolves_names_and_narrowed_specs() {
        let catalog = Catalog::embedded();
        let spec = catalog.resolve("scivision-demo-gpu[build=cuda*]").unwrap();
        assert_eq!(
            spec.conda[0].to_string(),
            "scivision-demo-gpu[build=\"cuda*\"]"
        );
        let spec = catalog.resolve("scivision-demo-edges==0.1.0").unwrap();
        assert_eq!(spec.model.name, "scivision-demo-edges");
        // A card makes an upstream model installable: here from conda-forge's stardist package.
        let spec = catalog.resolve("stardist").unwrap();
        assert_eq!(spec.conda[0].to_string(), "stardist");
        assert!(spec
            .conda
            .iter()
            .any(|s| s.to_string() == "stardist >=0.9.1"));
        // An entry with neither a conda package nor a card cannot install.
        let mut bare = Catalog::default();
        let mut model = catalog.get("stardist").unwrap().clone();
        model.conda_package = None;
        model.card = None;
        model.pypi_dependencies.clear();
        bare.models.push(model);
        assert!(matches!(
            bare.resolve("stardist"),
            Err(CatalogError::NotInstallable { .. })
        ));
        assert!(matches!(
            catalog.resolve("scivision-demo-edges >=>1"),
            Err(CatalogError::BadSpec { .. })
        ));
    }

    #[test]
    fn search_matches_all_words() {
        let catalog = Catalog::embedded();
        let hits: Vec<_> = catalog
            .search(&["demo".into(), "numpy".into()])
            .into_iter()
            .map(|m| m.name.clone())
            .collect();
        assert!(
            hits.contains(&"scivision-demo-legacy".to_string()),
            "{hits:?}"
        );
        assert!(!hits.contains(&"stardist".to_string()));
    }
}
