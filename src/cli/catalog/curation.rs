//! `scivision catalog lint|conflicts|recipe`: the curation workflows' options from the
//! arguments, their progress as bars, and their outcomes as text or JSON.

use std::path::PathBuf;
use std::sync::Mutex;

use miette::IntoDiagnostic;

use crate::catalog::Catalog;
use crate::cli::Ui;
use crate::compat::SolveReport;
use crate::curation::{
    CheckOptions, ConflictsOutcome, LintOutcome, LintedCard, Recipe, RecipeMode, RecipeOptions,
    SolveReporter, SolveTarget,
};
use crate::system::CudaChoice;

/// Arguments of `lint` and `conflicts`.
#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// Card files or folders (default: catalog/*/card.yaml here, else the built-in cards).
    cards: Vec<PathBuf>,
    /// Channels to solve against (names, URLs or paths).
    #[arg(long = "channel", short = 'c')]
    channels: Vec<String>,
    /// Target platform (conda subdir).
    #[arg(long)]
    platform: Option<String>,
    /// CUDA driver to solve for (cards with `cuda: none` always get CPU builds).
    #[arg(long, default_value = "auto", value_parser = clap::value_parser!(CudaChoice))]
    cuda: CudaChoice,
    /// JSON output.
    #[arg(long)]
    json: bool,
}

impl CheckArgs {
    /// The options of `lint` and `conflicts`: with channels, what to solve the cards against.
    fn options(&self) -> miette::Result<CheckOptions> {
        let target = if self.channels.is_empty() {
            None
        } else {
            let cwd = std::env::current_dir().into_diagnostic()?;
            Some(SolveTarget {
                channels: crate::solve::parse_channels(&self.channels, cwd)?,
                platform: crate::cli::target_platform(self.platform.as_ref())?,
                cuda: self.cuda.clone(),
                overrides: crate::cli::settings().overrides.clone(),
            })
        };
        Ok(CheckOptions {
            cards: self.cards.clone(),
            target,
        })
    }
}

/// `catalog lint`: each card's verdict and problems; exit 1 when any fails.
pub async fn lint(args: &CheckArgs, catalog: &Catalog, ui: Ui) -> miette::Result<()> {
    let bar = Bar::new(ui);
    let outcome = crate::curation::lint(&args.options()?, catalog, &bar).await?;
    print_lint(&outcome, args.json);
    outcome.failure().map_or(Ok(()), |e| Err(e.into()))
}

/// `catalog conflicts`: the matrix of models that cannot share an environment.
pub async fn conflicts(args: &CheckArgs, catalog: &Catalog, ui: Ui) -> miette::Result<()> {
    let bar = Bar::new(ui);
    let outcome = crate::curation::conflicts(&args.options()?, catalog, &bar).await?;
    print_conflicts(&outcome, args.json);
    Ok(())
}

/// `catalog recipe`: prints, writes (`write`) or checks (`check`) the cards' recipes.
pub fn recipes(
    cards: Vec<PathBuf>,
    write: bool,
    check: bool,
    catalog: &Catalog,
) -> miette::Result<()> {
    let mode = match (write, check) {
        (_, true) => RecipeMode::Check,
        (true, _) => RecipeMode::Write,
        _ => RecipeMode::Print,
    };
    let options = RecipeOptions { cards, mode };
    let mut done = |recipe: &Recipe| print_recipe(recipe, mode);
    Ok(crate::curation::recipes(&options, catalog, &mut done)?)
}

/// One generated recipe: printed, or the file written (a check prints nothing).
fn print_recipe(recipe: &Recipe, mode: RecipeMode) {
    match mode {
        RecipeMode::Print => crate::cli::print_line(recipe.text.trim_end()),
        RecipeMode::Write => crate::cli::print_line(&format!("wrote {}", recipe.file.display())),
        RecipeMode::Check => {}
    }
}

/// A bar on stderr for a batch of solves; nothing when progress is off.
struct Bar {
    enabled: bool,
    bar: Mutex<Option<indicatif::ProgressBar>>,
}

impl Bar {
    fn new(ui: Ui) -> Self {
        Self {
            enabled: ui.progress,
            bar: Mutex::new(None),
        }
    }
}

impl SolveReporter for Bar {
    fn start(&self, steps: usize, what: &str) {
        let (true, Ok(mut current)) = (self.enabled, self.bar.lock()) else {
            return;
        };
        let bar = indicatif::ProgressBar::new(steps as u64);
        bar.set_style(
            indicatif::ProgressStyle::with_template("{msg} {bar:30} {pos}/{len}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar.set_message(what.to_string());
        *current = Some(bar);
    }

    fn step(&self) {
        if let Ok(Some(bar)) = self.bar.lock().as_deref() {
            bar.inc(1);
        }
    }

    fn finish(&self) {
        if let Some(bar) = self.bar.lock().ok().and_then(|mut b| b.take()) {
            bar.finish_and_clear();
        }
    }
}

/// `catalog lint`'s outcome: one line per card (its verdict, then its problems), or JSON.
fn print_lint(outcome: &LintOutcome, json: bool) {
    if json {
        let items: Vec<serde_json::Value> = outcome
            .cards
            .iter()
            .map(|l| {
                serde_json::json!({
                    "name": l.card.as_ref().map(|c| c.name.clone()),
                    "file": l.file,
                    "problems": l.problems,
                    "solve": l.solve,
                })
            })
            .collect();
        crate::cli::print_json(&serde_json::Value::Array(items));
        return;
    }
    for l in &outcome.cards {
        let name = l
            .card
            .as_ref()
            .map_or_else(|| l.file.display().to_string(), |c| c.name.clone());
        crate::cli::print_line(&format!("{name:<32} {}", verdict(l)));
        for p in &l.problems {
            crate::cli::print_line(&format!("  {p}\n    fix: {}", p.fix));
        }
    }
}

/// A linted card in a few words: its problems, `valid`, or how it solves or fails.
fn verdict(l: &LintedCard) -> String {
    match (l.problems.is_empty(), &l.solve) {
        (false, _) => format!("{} problem(s)", l.problems.len()),
        (true, None) => "valid".to_string(),
        (
            true,
            Some(SolveReport::Solves {
                python,
                packages,
                variants,
            }),
        ) => {
            let shown = if variants.is_empty() {
                String::new()
            } else {
                format!(", {}", variants.join(" "))
            };
            format!("solves: python {python}, {packages} packages{shown}")
        }
        (
            true,
            Some(SolveReport::Fails {
                requirement,
                explanation,
            }),
        ) => format!(
            "FAILS at `{requirement}`:\n{}",
            explanation
                .lines()
                .map(|l| format!("    {l}"))
                .collect::<Vec<_>>()
                .join("\n")
        ),
    }
}

/// `catalog conflicts`' outcome: the matrix (`x` for a pair that cannot share an environment)
/// and a line per conflicting pair, or JSON.
fn print_conflicts(outcome: &ConflictsOutcome, json: bool) {
    if json {
        crate::cli::print_json(&serde_json::to_value(outcome).unwrap_or_default());
        return;
    }
    let names = &outcome.models;
    let header: String = (1..=names.len()).map(|i| format!("{:>3}", i)).collect();
    crate::cli::print_line(&format!("{:<36}{header}", ""));
    for (i, a) in names.iter().enumerate() {
        let row: String = names
            .iter()
            .map(|b| {
                if a == b {
                    "  -".to_string()
                } else if outcome.clash(a, b) {
                    "  x".to_string()
                } else {
                    "  .".to_string()
                }
            })
            .collect();
        crate::cli::print_line(&format!("{:>2} {a:<33}{row}", i + 1));
    }
    crate::cli::print_line(&format!(
        "\n{} of {} pairs cannot share an environment:",
        outcome.conflicts.len(),
        outcome.pairs
    ));
    for c in &outcome.conflicts {
        crate::cli::print_line(&format!(
            "  {} x {}: `{}` vs `{}`",
            c.a, c.b, c.a_requirement, c.b_requirement
        ));
    }
    for name in &outcome.unsolvable {
        crate::cli::print_line(&format!(
            "  {name}: does not solve alone (`scivision catalog lint` says why)"
        ));
    }
}
