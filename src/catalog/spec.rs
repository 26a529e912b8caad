//! Resolving a user's `<model>` argument (a name, or a match spec narrowing it) to the conda
//! specs and PyPI requirements that install the model.

use rattler_conda_types::ParseStrictness;

use super::{Catalog, CatalogError, Model, ModelSpec};

impl Catalog {
    /// Resolves `NAME` or a match spec narrowing it (`NAME==1.0`, `NAME[build=cuda*]`).
    pub fn resolve(&self, given: &str) -> Result<ModelSpec, CatalogError> {
        let Some((model, narrowing)) = self.split_name(given) else {
            return Err(self.not_found(given));
        };
        let model = model.clone();
        let mut conda = Vec::new();
        if let Some(package) = &model.conda_package {
            let text = format!("{package}{narrowing}");
            conda.push(
                crate::solve::match_spec(&text, ParseStrictness::Lenient)
                    .map_err(|e| bad_spec(given, e.to_string()))?,
            );
        } else if model.pypi_dependencies.is_empty() {
            return Err(CatalogError::NotInstallable {
                name: model.name.clone(),
                pkg_url: model.pkg_url.clone(),
            });
        } else if !narrowing.is_empty() {
            return Err(bad_spec(
                given,
                format!(
                    "`{}` installs from PyPI, so it cannot be narrowed with a conda match spec",
                    model.name
                ),
            ));
        }
        for text in &model.conda_dependencies {
            conda.push(
                crate::solve::match_spec(text, ParseStrictness::Lenient).map_err(|e| {
                    bad_requirement(&model, "conda_dependencies", text, e.to_string())
                })?,
            );
        }
        let origin = format!("card {} ({})", model.name, model.source);
        let pypi = model
            .pypi_dependencies
            .iter()
            .map(|text| {
                crate::pypi::PypiRequirement::parse(text, &origin)
                    .map_err(|e| bad_requirement(&model, "pypi_dependencies", text, e.to_string()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(ModelSpec { model, conda, pypi })
    }

    /// Why `given` names no catalog model: a version after a space, or an unknown name (with
    /// the close names of a match spec's name part).
    fn not_found(&self, given: &str) -> CatalogError {
        // `NAME 1.0`: a name, then a version after a space, which is no narrowing here.
        let spaced = self
            .model_before(given, char::is_whitespace)
            .filter(|(_, rest)| rest.starts_with(|c: char| c.is_ascii_digit()));
        if let Some((m, rest)) = spaced {
            return bad_spec(
                given,
                format!(
                    "a version after a space does not narrow a model; write `{}=={rest}`",
                    m.name
                ),
            );
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
        self.get(&name)
            .err()
            .unwrap_or_else(|| CatalogError::UnknownModel {
                close: self.close_names(given),
                name: given.trim().to_string(),
            })
    }
}

fn bad_spec(given: &str, reason: String) -> CatalogError {
    CatalogError::BadSpec {
        given: given.to_string(),
        reason,
    }
}

/// A card requirement of `model` (in its `field`) that does not parse.
fn bad_requirement(model: &Model, field: &str, given: &str, reason: String) -> CatalogError {
    CatalogError::BadRequirement {
        name: model.name.clone(),
        field: format!("{field} (catalog {})", model.source),
        given: given.to_string(),
        reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
