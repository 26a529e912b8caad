//! Where the catalog's entries come from: the files embedded in the binary, the built-in cards,
//! catalog files, and the models local or remote channels publish.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::{normalized_name, Catalog, CatalogError, Datasource, Model};

const UPSTREAM_MODELS: &str = include_str!("../../data/catalog/scivision-catalog-models.json");
const UPSTREAM_DATASOURCES: &str =
    include_str!("../../data/catalog/scivision-catalog-datasources.json");
const DEMO_MODELS: &str = include_str!("../../data/catalog/scivision-demo-models.json");

/// A catalog file: upstream's schema.
#[derive(Deserialize)]
struct File<T> {
    entries: Vec<T>,
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
        let err = |cause: crate::message::Cause| CatalogError::File {
            path: path.to_path_buf(),
            source: cause,
        };
        let text = fs_err::read_to_string(path).map_err(|e| err(e.into()))?;
        let file: File<Model> = serde_json::from_str(&text).map_err(|e| err(e.into()))?;
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
        let err = |cause: crate::message::Cause| CatalogError::File {
            path: path.clone(),
            source: cause,
        };
        let text = fs_err::read_to_string(&path).map_err(|e| err(e.into()))?;
        let data: serde_json::Value = serde_json::from_str(&text).map_err(|e| err(e.into()))?;
        let models = self.channel_models(&data);
        self.add(models, &dir.display().to_string());
        let base = url::Url::from_directory_path(std::path::absolute(dir).unwrap_or_default())
            .map_or_else(|()| dir.display().to_string(), |u| u.to_string());
        self.use_published(&crate::channel::published_models(&data, &base));
        Ok(())
    }

    /// The models of a channel's `channeldata.json` the catalog does not know yet; a model it
    /// knows keeps its entry and gets the channel's package.
    fn channel_models(&mut self, data: &serde_json::Value) -> Vec<Model> {
        let mut models = Vec::new();
        let Some(packages) = data.get("packages").and_then(|p| p.as_object()) else {
            return models;
        };
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
            models.push(channel_model(name, entry, sv));
        }
        models
    }

    /// Installs the catalog models `channels` publish from their packages there (their
    /// `channeldata.json`), as [`Catalog::use_published`] does.
    pub async fn use_channels(&mut self, channels: &[rattler_conda_types::Channel]) {
        let conda_forge = crate::mapping::PypiMapping::default();
        self.use_published(
            &crate::channel::published_in(channels, |u| conda_forge.applies_to(u), false).await,
        );
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
}

/// A model a channel publishes under its own name (`entry` in `channeldata.json`, `sv` its
/// `scivision` section), installed from that package.
fn channel_model(name: &str, entry: &serde_json::Value, sv: &serde_json::Value) -> Model {
    let text = |k: &str| {
        entry
            .get(k)
            .and_then(|v| v.as_str())
            .unwrap_or_default()
            .to_string()
    };
    Model {
        name: name.to_string(),
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
        conda_package: Some(name.to_string()),
        conda_dependencies: Vec::new(),
        pypi_dependencies: Vec::new(),
        entry: None,
        pypi_overrides: Vec::new(),
        pypi_no_build_isolation: Vec::new(),
        cpu_only: false,
        card: None,
        source: String::new(),
        published_by: None,
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
}
