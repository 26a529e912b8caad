//! What can go wrong when a user's argument is resolved through the catalog: always their input.

use std::path::PathBuf;

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
    #[error("cannot read catalog {}", path.display())]
    #[diagnostic(help(
        "a catalog file is JSON with an `entries` list, as upstream's models.json"
    ))]
    File {
        /// The file.
        path: PathBuf,
        /// Why: the read or JSON error.
        #[source]
        source: crate::message::Cause,
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

impl CatalogError {
    /// What kind of failure this is: always the user's input.
    pub fn class(&self) -> crate::message::ErrorClass {
        crate::message::ErrorClass::Input
    }
}
