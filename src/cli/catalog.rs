//! `scivision catalog …`

use std::path::PathBuf;

use miette::IntoDiagnostic;
use rattler_conda_types::Subdir;

use super::Ui;
use crate::card::{Card, CardProblem};
use crate::catalog::{Catalog, Model};
use crate::compat::{Checker, SolveReport};
use crate::system::CudaChoice;

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// List the models (and with --datasources, the datasources).
    #[command(
        after_help = "Examples:\n  scivision catalog list\n  scivision catalog list -c ./channel     which models the channel publishes as packages\n  scivision catalog list --json | jq '.[].name'"
    )]
    List {
        /// List datasources instead of models.
        #[arg(long)]
        datasources: bool,
        /// Add the models a local channel publishes (its channeldata.json), demo models included.
        #[arg(long = "channel-dir")]
        channel_dirs: Vec<std::path::PathBuf>,
        /// Channels (names, URLs or paths) whose published catalog models install from their
        /// packages (their channeldata.json).
        #[arg(long = "channel", short = 'c')]
        channels: Vec<String>,
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
    /// Show one model: its entry, its card, and with -c the versions its channels publish.
    #[command(
        after_help = "Examples:\n  scivision catalog show scivision-demo-edges\n  scivision catalog show scivision-demo-edges -c ./channel   # versions, deprecated ones with the reason\n  scivision catalog show resnet50-plankton --json | jq .card"
    )]
    Show {
        /// The model's catalog name.
        name: String,
        /// Channels whose versions of the model to list (names, URLs or paths).
        #[arg(long = "channel", short = 'c')]
        channels: Vec<String>,
        /// Target platform (conda subdir) for the versions.
        #[arg(long)]
        platform: Option<String>,
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
    /// Models whose name, description, tasks, tags or institutions contain every word.
    #[command(after_help = "Example:\n  scivision catalog search plant classification")]
    Search {
        /// Words to look for (case-insensitive).
        #[arg(required = true)]
        words: Vec<String>,
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
    /// Validate model cards; with channels, solve each one.
    #[command(
        after_help = "Checks every key, match spec, PEP 508 requirement, python range and source pin of each card\n(default: catalog/*/card.yaml here, else the cards built into scivision). With -c, solves each\ncard's conda half for the platform and names the first requirement that fails. Exit 1 if any card\nhas a problem or does not solve.\n\nExamples:\n  scivision catalog lint\n  scivision catalog lint catalog/btrack --json\n  python3 scripts/gen-channel.py /tmp/cf && scivision catalog lint -c /tmp/cf --cuda 12.4"
    )]
    Lint(CheckArgs),
    /// Which models cannot share one environment, and the first conflicting pair of requirements.
    #[command(
        after_help = "Solves every pair of cards together (the conda half) and prints the matrix: `x` marks a pair\nthat has no common solution, the reason each model gets its own prefix.\n\nExamples:\n  scivision catalog conflicts -c conda-forge\n  scivision catalog conflicts -c /tmp/cf --json | jq '.conflicts[] | [.a, .b]'"
    )]
    Conflicts(CheckArgs),
    /// Generate the rattler-build recipe of each card that publishes its model as a package.
    #[command(
        after_help = "The card is the one source of a model's pins; `recipe.yaml` beside it is generated from it\n(cards without a `recipe:` section publish nothing). Exit 1 with --check if a recipe is stale.\n\nExamples:\n  scivision catalog recipe catalog/resnet50-plankton      print it\n  scivision catalog recipe --write                         write every catalog/*/recipe.yaml\n  scivision catalog recipe --check                         what CI runs"
    )]
    Recipe {
        /// Card files or folders (default: catalog/*/card.yaml here).
        cards: Vec<PathBuf>,
        /// Write each recipe beside its card instead of printing it.
        #[arg(long, conflicts_with = "check")]
        write: bool,
        /// Compare each checked-in recipe with its card's, writing nothing.
        #[arg(long)]
        check: bool,
    },
}

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

pub async fn execute(cmd: Command, ui: Ui) -> miette::Result<()> {
    let mut catalog = Catalog::load(&crate::cli::settings().catalogs)?;
    match cmd {
        Command::List {
            datasources,
            channel_dirs,
            channels,
            json,
        } => {
            for dir in &channel_dirs {
                catalog.add_channel_dir(dir)?;
            }
            if !channels.is_empty() {
                let cwd = std::env::current_dir().into_diagnostic()?;
                let channels = crate::solve::parse_channels(&channels, cwd)?;
                let conda_forge = crate::mapping::PypiMapping::default();
                catalog.use_published(
                    &crate::channel::published_in(&channels, |u| conda_forge.applies_to(u), false)
                        .await,
                );
            }
            if datasources {
                if json {
                    super::print_json(
                        &serde_json::to_value(&catalog.datasources).unwrap_or_default(),
                    );
                } else {
                    for d in &catalog.datasources {
                        super::print_line(&format!("{:<40} {}", d.name, d.tasks.join(",")));
                    }
                }
            } else {
                print_models(&catalog.models.iter().collect::<Vec<_>>(), json);
            }
        }
        Command::Show {
            name,
            channels,
            platform: target,
            json,
        } => {
            let model = catalog.get(&name)?.clone();
            let versions = match (&model.conda_package, channels.is_empty()) {
                (Some(package), false) => Some(
                    versions(package, &channels, super::target_platform(target.as_ref())?).await?,
                ),
                (None, false) => {
                    return Err(miette::miette!(
                        help = "its card pins the version (`scivision catalog show NAME` shows it); -c lists versions of models published as conda packages",
                        "`{}` is no conda package: it installs from PyPI into a conda prefix, so no channel has versions of it",
                        model.name
                    ));
                }
                _ => None,
            };
            if json {
                let mut value = serde_json::to_value(&model).unwrap_or_default();
                if let (Some(v), Some(map)) = (&versions, value.as_object_mut()) {
                    map.insert(
                        "versions".into(),
                        serde_json::to_value(v).unwrap_or_default(),
                    );
                }
                super::print_json(&value);
            } else {
                show(&model, versions.as_deref());
            }
        }
        Command::Search { words, json } => {
            let hits = catalog.search(&words);
            if hits.is_empty() && !json {
                return Err(miette::miette!(
                    help = "`scivision catalog list` shows every model",
                    "no model matches {}",
                    words.join(" ")
                ));
            }
            print_models(&hits, json);
        }
        Command::Lint(args) => return lint(args, &catalog, ui).await,
        Command::Conflicts(args) => return conflicts(args, &catalog, ui).await,
        Command::Recipe {
            cards,
            write,
            check,
        } => return recipes(&cards, write, check, &catalog),
    }
    Ok(())
}

/// `catalog recipe`: prints, writes or checks the recipes generated from cards.
fn recipes(paths: &[PathBuf], write: bool, check: bool, catalog: &Catalog) -> miette::Result<()> {
    let default = [PathBuf::from("catalog")];
    let files = crate::card::discover(if paths.is_empty() { &default } else { paths });
    if files.is_empty() {
        return Err(miette::miette!(
            help = "run in a checkout (catalog/<model>/card.yaml) or name card files",
            "no cards found"
        ));
    }
    let mut stale = Vec::new();
    for file in &files {
        let card = Card::load(file)?;
        if let Some(problem) = card.problems(file).into_iter().next() {
            return Err(problem.into());
        }
        let text = crate::card_recipe::generate(&card, catalog.get(&card.name).ok())
            .map_err(|e| miette::miette!("{}: {e}", file.display()))?;
        let Some(text) = text else { continue };
        let out = file.with_file_name(crate::card_recipe::RECIPE_FILE);
        if check {
            if fs_err::read_to_string(&out).ok().as_deref() != Some(text.as_str()) {
                stale.push(out);
            }
        } else if write {
            crate::atomic::write(&out, text.as_bytes())
                .map_err(|e| miette::miette!("{}: {e}", out.display()))?;
            super::print_line(&format!("wrote {}", out.display()));
        } else {
            super::print_line(text.trim_end());
        }
    }
    if !stale.is_empty() {
        return Err(miette::miette!(
            help = "edit the card, then run `scivision catalog recipe --write`",
            "{} recipe(s) differ from their cards: {}",
            stale.len(),
            stale
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    Ok(())
}

/// One version of a model in its channels.
#[derive(Debug, serde::Serialize)]
struct VersionState {
    version: String,
    builds: Vec<String>,
    deprecated: bool,
    reason: Option<String>,
}

/// The versions of `package` the channels publish, newest first, with their deprecation state.
async fn versions(
    package: &str,
    channels: &[String],
    platform: Subdir,
) -> miette::Result<Vec<VersionState>> {
    let cwd = std::env::current_dir().into_diagnostic()?;
    let channels = crate::solve::parse_channels(channels, cwd)?;
    let spec = crate::solve::parse_specs(&[package.to_string()])?
        .into_iter()
        .next()
        .ok_or_else(|| miette::miette!("no package name given"))?;
    let records: Vec<rattler_conda_types::RepoDataRecord> = crate::prefix::gateway()
        .query(channels.iter().cloned(), [platform, Subdir::NoArch], [spec])
        .execute()
        .await
        .map_err(|e| crate::solve::SolveError::gateway(&e, &channels))?
        .iter()
        .flat_map(|r| r.iter().cloned())
        .collect();
    let mut by_version: std::collections::BTreeMap<
        rattler_conda_types::Version,
        Vec<&rattler_conda_types::RepoDataRecord>,
    > = std::collections::BTreeMap::new();
    for r in &records {
        by_version
            .entry(r.package_record.version.version().clone())
            .or_default()
            .push(r);
    }
    // One channeldata.json read per channel for every deprecated build.
    let picks = crate::channel::deprecated_picks(&records, false).await;
    let mut out = Vec::new();
    for (version, builds) in by_version.into_iter().rev() {
        let deprecated = builds
            .iter()
            .all(|r| crate::channel::is_deprecated(&r.package_record));
        let text = version.to_string();
        out.push(VersionState {
            builds: builds
                .iter()
                .map(|r| r.package_record.build.to_string())
                .collect(),
            deprecated,
            reason: picks
                .iter()
                .find(|p| p.version == text)
                .and_then(|p| p.reason.clone()),
            version: text,
        });
    }
    Ok(out)
}

fn show(model: &Model, versions: Option<&[VersionState]>) {
    let line = |k: &str, v: &str| super::print_line(&format!("{k:<17} {v}"));
    line("name:", &model.name);
    line("description:", &model.description);
    line("tasks:", &model.tasks.join(", "));
    line("url:", &model.url);
    line("pip install:", &model.pkg_url);
    let conda = match (&model.conda_package, &model.card) {
        (Some(p), _) => p.clone(),
        (None, Some(_)) => "(none: installed from PyPI into a conda prefix, by its card)".into(),
        (None, None) => "(not published yet)".into(),
    };
    line("conda:", &conda);
    if let Some(card) = &model.card {
        for (k, v) in crate::card::summary(card) {
            line(&format!("card {k}:"), &v);
        }
        line("installs:", &model.conda_dependencies.join(", "));
        if !model.pypi_dependencies.is_empty() {
            line("from PyPI:", &model.pypi_dependencies.join(", "));
        }
    }
    line("usable:", &model.scivision_usable.to_string());
    line("from:", &model.source);
    if let Some(versions) = versions {
        if versions.is_empty() {
            line("versions:", "(none in these channels)");
        }
        for (i, v) in versions.iter().enumerate() {
            let state = if v.deprecated {
                format!(
                    "deprecated: {}",
                    v.reason.as_deref().unwrap_or("its channel gives no reason")
                )
            } else {
                "available".to_string()
            };
            line(
                if i == 0 { "versions:" } else { "" },
                &format!("{:<12} {state}", v.version),
            );
        }
    }
}

/// A card as read: its file, the card (when it parses) and its problems.
struct Linted {
    file: PathBuf,
    card: Option<Card>,
    problems: Vec<CardProblem>,
}

/// Reads the cards named (or the default ones) and lists each one's problems.
fn read_cards(paths: &[PathBuf], catalog: &Catalog) -> Vec<Linted> {
    let here = PathBuf::from("catalog");
    let files = if !paths.is_empty() {
        crate::card::discover(paths)
    } else if here.is_dir() {
        crate::card::discover(std::slice::from_ref(&here))
    } else {
        Vec::new()
    };
    let loaded: Vec<(PathBuf, Result<Card, CardProblem>)> = if files.is_empty() && paths.is_empty()
    {
        Card::embedded()
    } else {
        files
            .into_iter()
            .map(|f| {
                let card = Card::load(&f);
                (f, card)
            })
            .collect()
    };
    let mut seen: std::collections::BTreeMap<String, PathBuf> = std::collections::BTreeMap::new();
    loaded
        .into_iter()
        .map(|(file, card)| match card {
            Err(problem) => Linted {
                file,
                card: None,
                problems: vec![problem],
            },
            Ok(card) => {
                let mut problems = card.problems(&file);
                let mut name_problem = |message: String, fix: String| {
                    problems.push(CardProblem {
                        file: file.clone(),
                        field: Some("name".into()),
                        message,
                        fix,
                    });
                };
                match catalog.get(&card.name) {
                    Err(_) => name_problem(
                        format!("`{}` is no model of the catalog", card.name),
                        "use the catalog's name exactly (`scivision catalog list`)".into(),
                    ),
                    Ok(m) if m.name != card.name => name_problem(
                        format!(
                            "`{}` differs from the catalog's `{}` in case",
                            card.name, m.name
                        ),
                        format!("write `{}`", m.name),
                    ),
                    Ok(_) => {}
                }
                if let Some(other) = seen.insert(card.name.to_lowercase(), file.clone()) {
                    name_problem(
                        format!("`{}` has a card already: {}", card.name, other.display()),
                        "keep one card per model".into(),
                    );
                }
                Linted {
                    file,
                    card: Some(card),
                    problems,
                }
            }
        })
        .collect()
}

async fn checker(args: &CheckArgs, cards: &[Card]) -> miette::Result<Checker> {
    let channels =
        crate::solve::parse_channels(&args.channels, std::env::current_dir().into_diagnostic()?)?;
    let platform = super::target_platform(args.platform.as_ref())?;
    let overrides = &super::settings().overrides;
    Ok(Checker::for_channels(cards, &channels, platform, &args.cuda, overrides).await?)
}

fn bar(ui: Ui, len: usize, message: &str) -> Option<indicatif::ProgressBar> {
    ui.progress.then(|| {
        let bar = indicatif::ProgressBar::new(len as u64);
        bar.set_style(
            indicatif::ProgressStyle::with_template("{msg} {bar:30} {pos}/{len}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar.set_message(message.to_string());
        bar
    })
}

async fn lint(args: CheckArgs, catalog: &Catalog, ui: Ui) -> miette::Result<()> {
    let linted = read_cards(&args.cards, catalog);
    if linted.is_empty() {
        return Err(miette::miette!(
            help = "pass card.yaml files or folders holding them",
            "no cards found"
        ));
    }
    let valid: Vec<Card> = linted
        .iter()
        .filter(|l| l.problems.is_empty())
        .filter_map(|l| l.card.clone())
        .collect();
    let mut reports: Vec<Option<SolveReport>> = vec![None; linted.len()];
    if !args.channels.is_empty() && !valid.is_empty() {
        let checker = checker(&args, &valid).await?;
        let progress = bar(ui, valid.len(), "solving cards");
        for (i, l) in linted.iter().enumerate() {
            if let (Some(card), true) = (&l.card, l.problems.is_empty()) {
                reports[i] = Some(checker.check(card)?);
                if let Some(p) = &progress {
                    p.inc(1);
                }
            }
        }
        if let Some(p) = progress {
            p.finish_and_clear();
        }
    }
    let failing = linted
        .iter()
        .zip(&reports)
        .filter(|(l, r)| !l.problems.is_empty() || matches!(r, Some(SolveReport::Fails { .. })))
        .count();
    if args.json {
        let items: Vec<serde_json::Value> = linted
            .iter()
            .zip(&reports)
            .map(|(l, r)| {
                serde_json::json!({
                    "name": l.card.as_ref().map(|c| c.name.clone()),
                    "file": l.file,
                    "problems": l.problems,
                    "solve": r,
                })
            })
            .collect();
        super::print_json(&serde_json::Value::Array(items));
    } else {
        for (l, r) in linted.iter().zip(&reports) {
            let name = l
                .card
                .as_ref()
                .map_or_else(|| l.file.display().to_string(), |c| c.name.clone());
            let verdict = match (l.problems.is_empty(), r) {
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
            };
            super::print_line(&format!("{name:<32} {verdict}"));
            for p in &l.problems {
                super::print_line(&format!("  {p}\n    fix: {}", p.fix));
            }
        }
    }
    if failing > 0 {
        return Err(miette::miette!(
            help = "fix each card as its line says; `scivision catalog lint FILE` checks one",
            "{failing} of {} cards have problems or do not solve",
            linted.len()
        ));
    }
    Ok(())
}

async fn conflicts(args: CheckArgs, catalog: &Catalog, ui: Ui) -> miette::Result<()> {
    if args.channels.is_empty() {
        return Err(miette::miette!(
            help = "e.g. `scivision catalog conflicts -c conda-forge`",
            "conflicts are found by solving: give the channels with -c"
        ));
    }
    let linted = read_cards(&args.cards, catalog);
    if let Some(bad) = linted.iter().find(|l| !l.problems.is_empty()) {
        return Err(miette::miette!(
            help = "`scivision catalog lint` lists every problem",
            "{}: the card has problems",
            bad.file.display()
        ));
    }
    let cards: Vec<Card> = linted.into_iter().filter_map(|l| l.card).collect();
    let checker = checker(&args, &cards).await?;
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
    let progress = bar(ui, pairs, "solving pairs");
    let mut found = Vec::new();
    for (i, a) in alone.iter().enumerate() {
        for b in &alone[i + 1..] {
            if let Some(c) = checker.conflict(a, b)? {
                found.push(c);
            }
            if let Some(p) = &progress {
                p.inc(1);
            }
        }
    }
    if let Some(p) = progress {
        p.finish_and_clear();
    }
    let names: Vec<&str> = alone.iter().map(|c| c.name.as_str()).collect();
    if args.json {
        super::print_json(&serde_json::json!({
            "models": names,
            "pairs": pairs,
            "conflicts": found,
            "unsolvable": unsolvable,
        }));
        return Ok(());
    }
    let clash = |a: &str, b: &str| {
        found
            .iter()
            .any(|c| (c.a == a && c.b == b) || (c.a == b && c.b == a))
    };
    let header: String = (1..=names.len()).map(|i| format!("{:>3}", i)).collect();
    super::print_line(&format!("{:<36}{header}", ""));
    for (i, a) in names.iter().enumerate() {
        let row: String = names
            .iter()
            .map(|b| {
                if a == b {
                    "  -".to_string()
                } else if clash(a, b) {
                    "  x".to_string()
                } else {
                    "  .".to_string()
                }
            })
            .collect();
        super::print_line(&format!("{:>2} {a:<33}{row}", i + 1));
    }
    super::print_line(&format!(
        "\n{} of {pairs} pairs cannot share an environment:",
        found.len()
    ));
    for c in &found {
        super::print_line(&format!(
            "  {} x {}: `{}` vs `{}`",
            c.a, c.b, c.a_requirement, c.b_requirement
        ));
    }
    for name in &unsolvable {
        super::print_line(&format!(
            "  {name}: does not solve alone (`scivision catalog lint` says why)"
        ));
    }
    Ok(())
}

fn print_models(models: &[&Model], json: bool) {
    if json {
        super::print_json(&serde_json::to_value(models).unwrap_or_default());
        return;
    }
    for m in models {
        // How it installs: a conda package of its own (one a channel publishes for the catalog
        // model, named), or a card (PyPI into a conda prefix).
        let installable = match (&m.conda_package, &m.card, &m.published_by) {
            (Some(p), _, Some(ch)) => format!("package {p} ({ch})"),
            (Some(_), _, None) => "conda".into(),
            (None, Some(_), _) => "card".into(),
            (None, None, _) => "-".into(),
        };
        super::print_line(&format!(
            "{:<32} {:<6} {}",
            m.name,
            installable,
            m.tasks.join(",")
        ));
    }
}
