//! The model catalog: upstream Scivision's models and datasources plus scivision's demo models,
//! embedded in the binary, extended by catalog files (`SCIVISION_CATALOG`, a `:`-separated list
//! of paths) and by the models a local channel publishes in its `channeldata.json`.
//!
//! The catalog resolves a user's `<model>` argument to a [`ModelSpec`]: the conda specs that
//! install it. It never solves or installs.

mod error;
mod lookup;
mod model;
mod source;
mod spec;
mod versions;

pub use error::CatalogError;
pub use lookup::normalized_name;
pub use model::{Datasource, Model, ModelSpec};
pub use versions::{versions, VersionState};

/// The merged catalog.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    /// Models, in catalog order (later sources override earlier entries of the same name).
    pub models: Vec<Model>,
    /// Datasources.
    pub datasources: Vec<Datasource>,
}
