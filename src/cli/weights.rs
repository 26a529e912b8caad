//! `scivision weights …`: a model's weight files, fetched ahead and checked.

use super::Ui;
use crate::env::Envs;
use crate::weights::{FetchOptions, FileStatus, State, WeightFile, Weights};

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Download a model's weight files into $SCIVISION_HOME/weights, where its unchanged code
    /// finds them (hash-checked; an interrupted download resumes).
    #[command(
        after_help = "Examples:\n  scivision weights fetch resnet50-plankton\n  scivision weights fetch image-classifiers --only resnet50 --only vgg16\n  scivision weights fetch resnet50-plankton --mirror https://mirror.example.org/zenodo\n  scivision weights fetch huggingface-classifiers --mirror https://hf-mirror.example.org\n\nThe model's environment records its weight files; without one, its catalog card does.\nHugging Face Hub models go into the Hub's cache layout under $SCIVISION_HOME/weights/huggingface,\nwhere from_pretrained finds them with HF_HUB_OFFLINE=1."
    )]
    Fetch {
        /// The model (catalog name or environment).
        model: String,
        /// Only the files this model class or variant loads (the `used_by` of `weights list`);
        /// repeat for several. Default: every file of the model.
        #[arg(long, value_name = "NAME")]
        only: Vec<String>,
        /// A site's copy of the files: replaces the origin of every download URL (default: the
        /// config file's `weights-mirror`). Upstream's hash still decides.
        #[arg(long, value_name = "URL", env = "SCIVISION_WEIGHTS_MIRROR")]
        mirror: Option<url::Url>,
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
    /// Show each weight file of a model: present, missing or corrupt.
    #[command(after_help = "Example:\n  scivision weights list resnet50-plankton --json")]
    List {
        /// The model (catalog name or environment).
        model: String,
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
}

/// A model's weight records: its environment's (from the package it installed), else its card's.
pub(super) fn records(model: &str, envs: &Envs) -> miette::Result<Vec<WeightFile>> {
    if let Ok(prefix) = envs.existing(model) {
        if let Some(info) = Envs::info_at(&prefix) {
            return Ok(info.weights);
        }
    }
    let catalog = crate::catalog::Catalog::load(&crate::cli::settings().catalogs)?;
    let entry = catalog.get(model)?;
    Ok(entry
        .card
        .as_ref()
        .map(|c| c.weights.clone())
        .unwrap_or_default())
}

/// The records `--only` names (all when it names none); a name no record uses is an error that
/// lists the names there are.
fn select(files: Vec<WeightFile>, only: &[String]) -> miette::Result<Vec<WeightFile>> {
    if only.is_empty() {
        return Ok(files);
    }
    let mut names: Vec<&str> = files.iter().filter_map(|f| f.used_by.as_deref()).collect();
    names.sort_unstable();
    names.dedup();
    if let Some(unknown) = only.iter().find(|o| !names.contains(&o.as_str())) {
        return Err(crate::cli::bad_input!(
            help = format!("the model's weights are used by: {}", names.join(", ")),
            "--only {unknown}: no weight file of this model is used by `{unknown}`"
        ));
    }
    Ok(files
        .into_iter()
        .filter(|f| f.used_by.as_ref().is_some_and(|u| only.contains(u)))
        .collect())
}

pub async fn execute(cmd: Command, ui: Ui) -> miette::Result<()> {
    let dirs = crate::cli::settings().dirs.clone();
    let envs = Envs::new(&dirs.home);
    let weights = Weights::new(&dirs.home);
    match cmd {
        Command::Fetch {
            model,
            only,
            mirror,
            json,
        } => {
            let files = select(records(&model, &envs)?, &only)?;
            let mirror = crate::cli::weights_mirror(mirror)?;
            let options = FetchOptions {
                mirror,
                offline: false,
            };
            let bar = super::reporter::DownloadBar::new(ui.progress && !json);
            let status = weights
                .fetch(&model, &files, &options, &crate::http::client(), &bar)
                .await?;
            print(&model, &status, json);
        }
        Command::List { model, json } => {
            let files = records(&model, &envs)?;
            let status = weights.status(&model, &files)?;
            print(&model, &status, json);
            if status.iter().any(|s| s.state != State::Present) && !json {
                super::print_line(&format!(
                    "fetch what is missing or corrupt with `scivision weights fetch {model}`"
                ));
            }
        }
    }
    Ok(())
}

fn print(model: &str, status: &[FileStatus], json: bool) {
    if json {
        super::print_json(&serde_json::json!({"model": model, "files": status}));
        return;
    }
    if status.is_empty() {
        super::print_line(&format!("{model} records no weight files"));
    }
    for s in status {
        let state = match s.state {
            State::Present => "present",
            State::Missing => "missing",
            State::Corrupt => "CORRUPT",
        };
        let size = s
            .size
            .map(|n| format!("{:.1} MB", n as f64 / 1e6))
            .unwrap_or_default();
        let used_by = s.used_by.as_deref().unwrap_or("-");
        super::print_line(&format!(
            "{state:<8} {size:>10}  {used_by:<16} {}",
            s.path.display()
        ));
    }
}
