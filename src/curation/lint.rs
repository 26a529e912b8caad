//! `catalog lint`: every card's problems and, with channels, whether it solves.

use super::{read_cards, CheckOptions, CurationError, LintedCard, SolveReporter};
use crate::card::Card;
use crate::catalog::Catalog;

/// The linted cards, in the order read.
#[derive(Debug, Clone)]
pub struct LintOutcome {
    /// Each card with its problems and solve.
    pub cards: Vec<LintedCard>,
}

impl LintOutcome {
    /// The error to exit with when some cards have problems or do not solve.
    pub fn failure(&self) -> Option<CurationError> {
        let failing = self.cards.iter().filter(|c| c.fails()).count();
        (failing > 0).then_some(CurationError::Failing {
            failing,
            total: self.cards.len(),
        })
    }
}

/// Reads the cards, lists each one's problems and, with a target, solves each valid one.
pub async fn lint(
    options: &CheckOptions,
    catalog: &Catalog,
    progress: &dyn SolveReporter,
) -> Result<LintOutcome, CurationError> {
    let mut cards = read_cards(&options.cards, catalog);
    if cards.is_empty() {
        return Err(CurationError::NoCards);
    }
    let valid: Vec<Card> = cards.iter().filter_map(|c| c.valid().cloned()).collect();
    if let (Some(target), false) = (&options.target, valid.is_empty()) {
        let checker = target.checker(&valid).await?;
        progress.start(valid.len(), "solving cards");
        // The bar finishes on a failure too.
        let solved = cards.iter_mut().try_for_each(|linted| {
            if let Some(card) = linted.valid() {
                linted.solve = Some(checker.check(card)?);
                progress.step();
            }
            Ok::<_, CurationError>(())
        });
        progress.finish();
        solved?;
    }
    Ok(LintOutcome { cards })
}
