//! `scivision catalog …`

use super::Ui;
use crate::catalog::{Catalog, Model};

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// List the models (and with --datasources, the datasources).
    #[command(
        after_help = "Examples:\n  scivision catalog list\n  scivision catalog list --json | jq '.[].name'"
    )]
    List {
        /// List datasources instead of models.
        #[arg(long)]
        datasources: bool,
        /// Add the models a local channel publishes (its channeldata.json).
        #[arg(long = "channel-dir")]
        channel_dirs: Vec<std::path::PathBuf>,
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
    /// Show one model.
    #[command(after_help = "Example:\n  scivision catalog show scivision-demo-edges")]
    Show {
        /// The model's catalog name.
        name: String,
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
}

pub async fn execute(cmd: Command, _ui: Ui) -> miette::Result<()> {
    let mut catalog = Catalog::load()?;
    match cmd {
        Command::List {
            datasources,
            channel_dirs,
            json,
        } => {
            for dir in &channel_dirs {
                catalog.add_channel_dir(dir)?;
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
        Command::Show { name, json } => {
            let model = catalog.get(&name)?;
            if json {
                super::print_json(&serde_json::to_value(model).unwrap_or_default());
            } else {
                super::print_line(&format!("name:         {}", model.name));
                super::print_line(&format!("description:  {}", model.description));
                super::print_line(&format!("tasks:        {}", model.tasks.join(", ")));
                super::print_line(&format!("url:          {}", model.url));
                super::print_line(&format!("pip install:  {}", model.pkg_url));
                super::print_line(&format!(
                    "conda:        {}",
                    model
                        .conda_package
                        .as_deref()
                        .unwrap_or("(not published yet)")
                ));
                super::print_line(&format!("usable:       {}", model.scivision_usable));
                super::print_line(&format!("from:         {}", model.source));
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
    }
    Ok(())
}

fn print_models(models: &[&Model], json: bool) {
    if json {
        super::print_json(&serde_json::to_value(models).unwrap_or_default());
        return;
    }
    for m in models {
        let installable = if m.conda_package.is_some() {
            "conda"
        } else {
            "-"
        };
        super::print_line(&format!(
            "{:<32} {:<6} {}",
            m.name,
            installable,
            m.tasks.join(",")
        ));
    }
}
