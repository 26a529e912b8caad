//! `catalog recipe`: the rattler-build recipe each card that publishes its model generates,
//! printed, written beside the card, or compared with the checked-in one.

use std::path::{Path, PathBuf};

use super::CurationError;
use crate::card::Card;
use crate::card_recipe::RECIPE_FILE;
use crate::catalog::Catalog;

/// What to do with each generated recipe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecipeMode {
    /// Hand it to the caller.
    Print,
    /// Write it beside its card.
    Write,
    /// Compare it with the checked-in one, writing nothing.
    Check,
}

/// Options of [`recipes`].
#[derive(Debug, Clone)]
pub struct RecipeOptions {
    /// Card files or folders; none: `catalog/*/card.yaml` here.
    pub cards: Vec<PathBuf>,
    /// What to do with each recipe.
    pub mode: RecipeMode,
}

/// One card's generated recipe.
#[derive(Debug, Clone)]
pub struct Recipe {
    /// Where it belongs: `recipe.yaml` beside the card.
    pub file: PathBuf,
    /// The recipe.
    pub text: String,
}

/// Generates the recipe of each card that has a `recipe:` section and hands each one to
/// `done` once it is generated, written or checked, so that a later card's failure leaves the
/// earlier ones reported. In [`RecipeMode::Check`] recipes that differ are an error.
pub fn recipes(
    options: &RecipeOptions,
    catalog: &Catalog,
    done: &mut dyn FnMut(&Recipe),
) -> Result<(), CurationError> {
    let default = [PathBuf::from("catalog")];
    let paths = if options.cards.is_empty() {
        &default[..]
    } else {
        &options.cards
    };
    let files = crate::card::discover(paths);
    if files.is_empty() {
        return Err(CurationError::NoRecipeCards);
    }
    let mut stale = Vec::new();
    for file in &files {
        let Some(recipe) = generate(file, catalog)? else {
            continue;
        };
        match options.mode {
            RecipeMode::Check => {
                if fs_err::read_to_string(&recipe.file).ok().as_deref() != Some(&recipe.text) {
                    stale.push(recipe.file.clone());
                }
            }
            RecipeMode::Write => crate::atomic::write(&recipe.file, recipe.text.as_bytes())
                .map_err(|error| CurationError::Write {
                    file: recipe.file.clone(),
                    error,
                })?,
            RecipeMode::Print => {}
        }
        done(&recipe);
    }
    if !stale.is_empty() {
        return Err(CurationError::StaleRecipes { files: stale });
    }
    Ok(())
}

/// The recipe of the card in `file`, or none where the card publishes nothing.
fn generate(file: &Path, catalog: &Catalog) -> Result<Option<Recipe>, CurationError> {
    let card = Card::load(file)?;
    if let Some(problem) = card.problems(file).into_iter().next() {
        return Err(problem.into());
    }
    let text =
        crate::card_recipe::generate(&card, catalog.get(&card.name).ok()).map_err(|reason| {
            CurationError::Recipe {
                file: file.to_path_buf(),
                reason,
            }
        })?;
    Ok(text.map(|text| Recipe {
        file: file.with_file_name(RECIPE_FILE),
        text,
    }))
}
