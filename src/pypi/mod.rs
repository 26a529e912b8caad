//! The PyPI half of an environment: requirements that only PyPI (or a git, URL or path source)
//! provides, resolved with the uv crates against the conda prefix (conda's python packages count
//! as installed and fixed), installed into the prefix's site-packages and locked beside the conda
//! records.
//!
//! Data flows one way: [`PypiRequirement`]s (from cards, recipes and `--pypi`) and the solved
//! conda records → [`resolve`] → locked wheels → [`install`] into the staging prefix.

mod builds;
mod conda;
mod context;
pub mod install;
pub mod resolve;
pub mod verify;

use std::path::PathBuf;
use std::str::FromStr;

pub use builds::Builds;
pub use conda::CondaPythonPackages;
pub use context::{IndexOptions, UvContext};
pub use install::install;
pub use resolve::{resolve, LockedWheel, Target};

/// What can go wrong on the PyPI side. Each names the requirement and the side it came from.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum PypiError {
    /// A requirement that is not PEP 508.
    #[error("{origin}: `{given}` is not a PEP 508 requirement: {reason}")]
    #[diagnostic(help(
        "write it as pip would take it: `exifread >=3,<4`, `pkg @ git+https://host/repo@REV`, `pkg @ file:///path/to/dir`"
    ))]
    Syntax {
        /// Where it came from (a card, a recipe, `--pypi`).
        origin: String,
        /// As given.
        given: String,
        /// The parser's message.
        reason: String,
    },
    /// A PyPI requirement excludes the version conda installed.
    #[error("{origin} asks for PyPI `{requirement}`, but conda installs {conda_side}, which it excludes")]
    #[diagnostic(help(
        "conda's python packages are fixed; relax the PyPI requirement, or pin the conda side (`--with '{conda_name} ...'`) to a version that satisfies it"
    ))]
    CondaConflict {
        /// Where the requirement came from.
        origin: String,
        /// The requirement.
        requirement: String,
        /// The conda side: `numpy 2.2.6 (from numpy-2.2.6-py311h…_0)`.
        conda_side: String,
        /// The conda package's name.
        conda_name: String,
    },
    /// The resolver found no solution (or a package that does not exist).
    #[error("cannot resolve the PyPI requirements {requirements}:\n{reason}")]
    #[diagnostic(help("{help}"))]
    Resolve {
        /// The requirements with their origins.
        requirements: String,
        /// uv's explanation.
        reason: String,
        /// What to do.
        help: String,
    },
    /// Downloading, building or installing a distribution failed.
    #[error("cannot install PyPI package {name}")]
    #[diagnostic(help("{help}"))]
    Install {
        /// The distribution.
        name: String,
        /// Why: uv's error, or what the lock lacks.
        #[source]
        source: crate::message::Cause,
        /// What to do.
        help: String,
    },
    /// A wheel whose entries would land outside the prefix.
    #[error("refusing the wheel {wheel}: {entry}: {reason}")]
    #[diagnostic(help(
        "nothing was installed; the wheel is malformed or hostile: report it to its publisher, or leave it out of the environment"
    ))]
    HostileWheel {
        /// The wheel's file.
        wheel: String,
        /// The entry.
        entry: String,
        /// Why.
        reason: String,
    },
    /// The prefix or an option is not usable.
    #[error("{what}")]
    #[diagnostic(help("{help}"))]
    Setup {
        /// What was being set up.
        what: String,
        /// Why: uv's error, or what is missing.
        #[source]
        source: crate::message::Cause,
        /// What to do.
        help: String,
    },
}

/// One PEP 508 requirement and where it came from, checked for syntax when made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PypiRequirement {
    /// As written.
    pub text: String,
    /// Where it came from: `card NAME (FILE)`, `package NAME (about.json)`, `--pypi`.
    pub origin: String,
    /// The normalized package name.
    pub name: uv_normalize::PackageName,
}

impl PypiRequirement {
    /// Parses `text` (relative paths are taken from the current directory).
    pub fn parse(text: &str, origin: &str) -> Result<Self, PypiError> {
        let parsed = Self::requirement(text, origin)?;
        Ok(Self {
            text: text.trim().to_string(),
            origin: origin.to_string(),
            name: parsed.name,
        })
    }

    /// The parsed form uv takes.
    pub(crate) fn requirement(
        text: &str,
        origin: &str,
    ) -> Result<uv_pep508::Requirement<uv_pypi_types::VerbatimParsedUrl>, PypiError> {
        let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
        uv_pep508::Requirement::<uv_pypi_types::VerbatimParsedUrl>::parse(text, &cwd).map_err(|e| {
            PypiError::Syntax {
                origin: origin.to_string(),
                given: text.to_string(),
                reason: e.message.to_string(),
            }
        })
    }
}

impl FromStr for PypiRequirement {
    type Err = PypiError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s, "--pypi")
    }
}

impl PypiError {
    /// What kind of failure this is.
    pub fn class(&self) -> crate::message::ErrorClass {
        use crate::message::ErrorClass;
        match self {
            Self::Syntax { .. } => ErrorClass::Input,
            // uv's resolver also reports offline misses, unreachable indexes and sources, and
            // sdist builds that failed (uv's own messages, `uv_distribution_types::DistErrorKind`).
            Self::Resolve { help, .. } | Self::Install { help, .. }
                if help.starts_with("offline") =>
            {
                ErrorClass::Network
            }
            Self::Resolve { reason, .. }
                if reason.contains("Failed to fetch") || reason.contains("Failed to download") =>
            {
                ErrorClass::Network
            }
            Self::Resolve { reason, .. } if reason.contains("Failed to build") => {
                ErrorClass::Failed
            }
            Self::Resolve { help, .. } if help.starts_with("report this") => ErrorClass::Failed,
            Self::CondaConflict { .. } | Self::Resolve { .. } => ErrorClass::Unsolvable,
            Self::Install { .. } | Self::HostileWheel { .. } | Self::Setup { .. } => {
                ErrorClass::Failed
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requirements_parse_or_name_the_origin() {
        let r = PypiRequirement::parse("ExifRead >=3,<4", "card x").unwrap();
        assert_eq!(r.name.as_ref(), "exifread");
        let r = PypiRequirement::parse("demo @ git+file:///tmp/repo@abc123", "card x").unwrap();
        assert_eq!(r.name.as_ref(), "demo");
        let e = PypiRequirement::parse("exifread >=>3", "card x").unwrap_err();
        let text = e.to_string();
        assert!(
            text.contains("card x") && text.contains("exifread >=>3"),
            "{text}"
        );
    }
}
