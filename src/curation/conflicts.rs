//! `catalog conflicts`: which models cannot share one environment, found by solving every pair
//! of cards that solve alone.

use serde::Serialize;

use super::{read_cards, CheckOptions, CurationError, SolveReporter};
use crate::card::Card;
use crate::catalog::Catalog;
use crate::compat::{Conflict, SolveReport};

/// The conflict matrix.
#[derive(Debug, Clone, Serialize)]
pub struct ConflictsOutcome {
    /// The models that solve alone, in card order: the matrix's rows and columns.
    pub models: Vec<String>,
    /// How many pairs of them were solved.
    pub pairs: usize,
    /// The pairs that have no common solution.
    pub conflicts: Vec<Conflict>,
    /// The models that do not solve even alone.
    pub unsolvable: Vec<String>,
}

impl ConflictsOutcome {
    /// Whether models `a` and `b` cannot share an environment.
    pub fn clash(&self, a: &str, b: &str) -> bool {
        self.conflicts
            .iter()
            .any(|c| (c.a == a && c.b == b) || (c.a == b && c.b == a))
    }
}

/// Solves every card alone, then every pair of those that solve, together (the conda half).
pub async fn conflicts(
    options: &CheckOptions,
    catalog: &Catalog,
    progress: &dyn SolveReporter,
) -> Result<ConflictsOutcome, CurationError> {
    let Some(target) = &options.target else {
        return Err(CurationError::NoChannels);
    };
    let linted = read_cards(&options.cards, catalog);
    if let Some(bad) = linted.iter().find(|l| !l.problems.is_empty()) {
        return Err(CurationError::BadCard {
            file: bad.file.clone(),
        });
    }
    let cards: Vec<Card> = linted.into_iter().filter_map(|l| l.card).collect();
    let checker = target.checker(&cards).await?;
    // Pairs are only meaningful between cards that solve alone.
    let mut alone = Vec::new();
    let mut unsolvable = Vec::new();
    for card in &cards {
        match checker.check(card)? {
            SolveReport::Solves { .. } => alone.push(card),
            SolveReport::Fails { .. } => unsolvable.push(card.name.clone()),
        }
    }
    let pairs = alone.len() * alone.len().saturating_sub(1) / 2;
    progress.start(pairs, "solving pairs");
    let mut found = Vec::new();
    // The bar finishes on a failure too.
    let solved = alone.iter().enumerate().try_for_each(|(i, a)| {
        for b in &alone[i + 1..] {
            if let Some(c) = checker.conflict(a, b)? {
                found.push(c);
            }
            progress.step();
        }
        Ok::<_, CurationError>(())
    });
    progress.finish();
    solved?;
    Ok(ConflictsOutcome {
        models: alone.iter().map(|c| c.name.clone()).collect(),
        pairs,
        conflicts: found,
        unsolvable,
    })
}
