//! `scivision catalog …`: browsing the catalog (list, show, search) here; the curation
//! commands (lint, conflicts, recipe) in [`curation`]. Each calls the library and renders its
//! outcome as text or JSON.

mod curation;

use std::path::PathBuf;

use miette::IntoDiagnostic;

use super::Ui;
use crate::catalog::{Catalog, Model, VersionState};
use curation::CheckArgs;

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

pub async fn execute(cmd: Command, ui: Ui) -> miette::Result<()> {
    let mut catalog = Catalog::load(&crate::cli::settings().catalogs)?;
    match cmd {
        Command::List {
            datasources,
            channel_dirs,
            channels,
            json,
        } => list(&mut catalog, &channel_dirs, &channels, datasources, json).await,
        Command::Show {
            name,
            channels,
            platform,
            json,
        } => show(&catalog, &name, &channels, platform.as_ref(), json).await,
        Command::Search { words, json } => search(&catalog, &words, json),
        Command::Lint(args) => curation::lint(&args, &catalog, ui).await,
        Command::Conflicts(args) => curation::conflicts(&args, &catalog, ui).await,
        Command::Recipe {
            cards,
            write,
            check,
        } => curation::recipes(cards, write, check, &catalog),
    }
}

/// `catalog list`: the models (with those the channels publish), or the datasources.
async fn list(
    catalog: &mut Catalog,
    channel_dirs: &[PathBuf],
    channels: &[String],
    datasources: bool,
    json: bool,
) -> miette::Result<()> {
    for dir in channel_dirs {
        catalog.add_channel_dir(dir)?;
    }
    if !channels.is_empty() {
        let cwd = std::env::current_dir().into_diagnostic()?;
        catalog
            .use_channels(&crate::solve::parse_channels(channels, cwd)?)
            .await;
    }
    if !datasources {
        print_models(&catalog.models.iter().collect::<Vec<_>>(), json);
    } else if json {
        super::print_json(&serde_json::to_value(&catalog.datasources).unwrap_or_default());
    } else {
        for d in &catalog.datasources {
            super::print_line(&format!("{:<40} {}", d.name, d.tasks.join(",")));
        }
    }
    Ok(())
}

/// `catalog show`: one model, with the versions its channels publish.
async fn show(
    catalog: &Catalog,
    name: &str,
    channels: &[String],
    platform: Option<&String>,
    json: bool,
) -> miette::Result<()> {
    let model = catalog.get(name)?;
    let versions = match (&model.conda_package, channels.is_empty()) {
        (Some(package), false) => {
            let platform = super::target_platform(platform)?;
            let cwd = std::env::current_dir().into_diagnostic()?;
            let channels = crate::solve::parse_channels(channels, cwd)?;
            Some(crate::catalog::versions(package, &channels, platform).await?)
        }
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
        let mut value = serde_json::to_value(model).unwrap_or_default();
        if let (Some(v), Some(map)) = (&versions, value.as_object_mut()) {
            map.insert(
                "versions".into(),
                serde_json::to_value(v).unwrap_or_default(),
            );
        }
        super::print_json(&value);
    } else {
        print_model(model, versions.as_deref());
    }
    Ok(())
}

/// `catalog search`: the models that match every word.
fn search(catalog: &Catalog, words: &[String], json: bool) -> miette::Result<()> {
    let hits = catalog.search(words);
    if hits.is_empty() && !json {
        return Err(miette::miette!(
            help = "`scivision catalog list` shows every model",
            "no model matches {}",
            words.join(" ")
        ));
    }
    print_models(&hits, json);
    Ok(())
}

fn print_model(model: &Model, versions: Option<&[VersionState]>) {
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

/// Models as one line each (name, how it installs, tasks), or JSON.
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
