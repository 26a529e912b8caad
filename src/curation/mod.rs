//! Curating the catalog's cards: linting them (and solving each one), the pairs of models that
//! cannot share an environment, and the recipes generated from them. These are the maintainer's
//! workflows behind `scivision catalog lint|conflicts|recipe`; they never print (the caller
//! renders each outcome and draws the progress).
//!
//! They sit above `catalog`, `compat` and `card_recipe`, which all depend on the catalog's
//! types, so that the catalog itself stays free of the solver.

mod cards;
mod conflicts;
mod lint;
mod recipes;

use std::path::PathBuf;

use rattler_conda_types::{Channel, Subdir};
use rattler_virtual_packages::VirtualPackageOverrides;

use crate::card::{Card, CardProblem};
use crate::compat::Checker;
use crate::solve::SolveError;
use crate::system::CudaChoice;

pub use cards::{read_cards, LintedCard};
pub use conflicts::{conflicts, ConflictsOutcome};
pub use lint::{lint, LintOutcome};
pub use recipes::{recipes, Recipe, RecipeMode, RecipeOptions};

/// What the cards are solved against.
#[derive(Debug, Clone)]
pub struct SolveTarget {
    /// The channels, in priority order.
    pub channels: Vec<Channel>,
    /// The platform (conda subdir).
    pub platform: Subdir,
    /// The CUDA driver to solve for (cards with `cuda: none` always get CPU builds).
    pub cuda: CudaChoice,
    /// The virtual packages the settings override.
    pub overrides: VirtualPackageOverrides,
}

impl SolveTarget {
    /// A checker for `cards`: the repodata they can reach, fetched once.
    async fn checker(&self, cards: &[Card]) -> Result<Checker, SolveError> {
        Checker::for_channels(
            cards,
            &self.channels,
            self.platform,
            &self.cuda,
            &self.overrides,
        )
        .await
    }
}

/// Options of [`lint`] and [`conflicts`].
#[derive(Debug, Clone)]
pub struct CheckOptions {
    /// Card files or folders; none: `catalog/*/card.yaml` here, else the built-in cards.
    pub cards: Vec<PathBuf>,
    /// What to solve the cards against; none: lint only validates them.
    pub target: Option<SolveTarget>,
}

/// How far a batch of solves is, for a progress bar the caller draws (each method does
/// nothing unless implemented).
pub trait SolveReporter: Send + Sync {
    /// A batch of `steps` solves, described by `what`, begins.
    fn start(&self, _steps: usize, _what: &str) {}
    /// One solve of the batch is done.
    fn step(&self) {}
    /// The batch is over.
    fn finish(&self) {}
}

/// Why a curation workflow stopped, or found the cards failing.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum CurationError {
    /// Nothing to lint or check.
    #[error("no cards found")]
    #[diagnostic(help("pass card.yaml files or folders holding them"))]
    NoCards,
    /// No card to generate a recipe from (the built-in cards have no folder to write beside).
    #[error("no cards found")]
    #[diagnostic(help("run in a checkout (catalog/<model>/card.yaml) or name card files"))]
    NoRecipeCards,
    /// Conflicts need channels to solve against.
    #[error("conflicts are found by solving: give the channels with -c")]
    #[diagnostic(help("e.g. `scivision catalog conflicts -c conda-forge`"))]
    NoChannels,
    /// A card with problems cannot be paired.
    #[error("{}: the card has problems", file.display())]
    #[diagnostic(help("`scivision catalog lint` lists every problem"))]
    BadCard {
        /// The card file.
        file: PathBuf,
    },
    /// Some cards have problems or do not solve (each one's reason is in the outcome).
    #[error("{failing} of {total} cards have problems or do not solve")]
    #[diagnostic(help(
        "fix each card as its line says; `scivision catalog lint FILE` checks one"
    ))]
    Failing {
        /// How many fail.
        failing: usize,
        /// How many were checked.
        total: usize,
    },
    /// Checked-in recipes that are not what their cards generate.
    #[error("{} recipe(s) differ from their cards: {}", files.len(), files.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", "))]
    #[diagnostic(help("edit the card, then run `scivision catalog recipe --write`"))]
    StaleRecipes {
        /// The stale recipe files.
        files: Vec<PathBuf>,
    },
    /// A card's recipe cannot be generated.
    #[error("{}: {reason}", file.display())]
    Recipe {
        /// The card file.
        file: PathBuf,
        /// Why.
        reason: String,
    },
    /// A recipe cannot be written.
    #[error("{}: {error}", file.display())]
    Write {
        /// The recipe file.
        file: PathBuf,
        /// Why (in the message, as it has always been shown).
        error: std::io::Error,
    },
    /// A card cannot be read, or has a problem.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Card(#[from] CardProblem),
    /// The solver or the channels failed.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Solve(#[from] SolveError),
}

impl CurationError {
    /// What kind of failure this is: a card's or a solve's own, else the cards fail.
    pub fn class(&self) -> crate::message::ErrorClass {
        match self {
            Self::Card(_) => crate::message::ErrorClass::Input,
            Self::Solve(e) => e.class(),
            _ => crate::message::ErrorClass::Failed,
        }
    }
}
