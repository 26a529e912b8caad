//! The cards a check reads: the ones named, the checkout's, or the built-in ones, each with its
//! problems, including a name the catalog does not know or a second card for one model.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::card::{Card, CardProblem};
use crate::catalog::Catalog;
use crate::compat::SolveReport;

/// A card as read: its file, the card (when it parses), its problems and, once solved, its
/// solve.
#[derive(Debug, Clone)]
pub struct LintedCard {
    /// The card file.
    pub file: PathBuf,
    /// The card, when it parses.
    pub card: Option<Card>,
    /// What is wrong with it; empty for a valid card.
    pub problems: Vec<CardProblem>,
    /// How it solves, when it was solved.
    pub solve: Option<SolveReport>,
}

impl LintedCard {
    /// The card, when it is valid.
    pub fn valid(&self) -> Option<&Card> {
        self.card.as_ref().filter(|_| self.problems.is_empty())
    }

    /// Whether it has problems or does not solve.
    pub fn fails(&self) -> bool {
        !self.problems.is_empty() || matches!(self.solve, Some(SolveReport::Fails { .. }))
    }
}

/// Reads the cards named in `paths` (files or folders; none: `catalog/*/card.yaml` here, else
/// the built-in cards) and lists each one's problems.
pub fn read_cards(paths: &[PathBuf], catalog: &Catalog) -> Vec<LintedCard> {
    let mut seen = BTreeMap::new();
    load(paths)
        .into_iter()
        .map(|(file, card)| match card {
            Err(problem) => LintedCard {
                file,
                card: None,
                problems: vec![problem],
                solve: None,
            },
            Ok(card) => {
                let mut problems = card.problems(&file);
                problems.extend(name_problems(&card, &file, catalog, &mut seen));
                LintedCard {
                    file,
                    card: Some(card),
                    problems,
                    solve: None,
                }
            }
        })
        .collect()
}

/// Each card file with the card it holds, or why it cannot be read.
fn load(paths: &[PathBuf]) -> Vec<(PathBuf, Result<Card, CardProblem>)> {
    let here = PathBuf::from("catalog");
    let files = if !paths.is_empty() {
        crate::card::discover(paths)
    } else if here.is_dir() {
        crate::card::discover(std::slice::from_ref(&here))
    } else {
        Vec::new()
    };
    if files.is_empty() && paths.is_empty() {
        return Card::embedded();
    }
    files
        .into_iter()
        .map(|f| {
            let card = Card::load(&f);
            (f, card)
        })
        .collect()
}

/// The problems of a card's name: not the catalog's (or not in its case), or a model that has
/// a card already (`seen`: lower-case name → its card file).
fn name_problems(
    card: &Card,
    file: &Path,
    catalog: &Catalog,
    seen: &mut BTreeMap<String, PathBuf>,
) -> Vec<CardProblem> {
    let problem = |message: String, fix: String| CardProblem {
        file: file.to_path_buf(),
        field: Some("name".into()),
        message,
        fix,
    };
    let mut problems = Vec::new();
    match catalog.get(&card.name) {
        Err(_) => problems.push(problem(
            format!("`{}` is no model of the catalog", card.name),
            "use the catalog's name exactly (`scivision catalog list`)".into(),
        )),
        Ok(m) if m.name != card.name => problems.push(problem(
            format!(
                "`{}` differs from the catalog's `{}` in case",
                card.name, m.name
            ),
            format!("write `{}`", m.name),
        )),
        Ok(_) => {}
    }
    if let Some(other) = seen.insert(card.name.to_lowercase(), file.to_path_buf()) {
        problems.push(problem(
            format!("`{}` has a card already: {}", card.name, other.display()),
            "keep one card per model".into(),
        ));
    }
    problems
}
