//! `scivision channel …`

use std::path::PathBuf;

use super::Ui;
use crate::channel::{self, Deprecation};

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Write repodata.json, repodata.json.zst, sharded repodata and channeldata.json.
    #[command(after_help = "Example:\n  scivision channel index channel/")]
    Index {
        /// The channel folder.
        #[arg(default_value = "channel")]
        dir: PathBuf,
        /// Re-read every archive (needed when a file was replaced by one with the same name).
        #[arg(long)]
        force: bool,
        /// Print a summary as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Mark a package (or one version) deprecated: solvers rank it last and installers show why.
    #[command(
        after_help = "Examples:\n  scivision channel deprecate scivision-demo-legacy --reason \"use scivision-demo-modern\"\n  scivision channel deprecate numpy==1.26.4 --reason \"CVE-…\" --dir channel/"
    )]
    Deprecate {
        /// `NAME` or `NAME==VERSION`.
        spec: String,
        /// Why, shown to whoever installs it.
        #[arg(long)]
        reason: String,
        /// The channel folder.
        #[arg(long, default_value = "channel")]
        dir: PathBuf,
        /// Print the covered files as JSON.
        #[arg(long)]
        json: bool,
    },
}

pub async fn execute(cmd: Command, _ui: Ui) -> miette::Result<()> {
    match cmd {
        Command::Index { dir, force, json } => {
            if !dir.is_dir() {
                return Err(crate::cli::bad_input!(
                    help = "build packages into it first (`scivision build`)",
                    "{} is not a folder",
                    dir.display()
                ));
            }
            let started = std::time::Instant::now();
            channel::index(&dir, None, force).await?;
            let seconds = started.elapsed().as_secs_f64();
            if json {
                super::print_json(&serde_json::json!({"channel": dir, "seconds": seconds}));
            } else {
                super::print_line(&format!("indexed {} in {seconds:.2}s", dir.display()));
            }
        }
        Command::Deprecate {
            spec,
            reason,
            dir,
            json,
        } => {
            let deprecation = Deprecation::parse(&spec, &reason)?;
            let covered = channel::deprecate(&dir, deprecation).await?;
            if json {
                super::print_json(&serde_json::json!({"deprecated": covered, "reason": reason}));
            } else {
                for c in &covered {
                    super::print_line(&format!("deprecated {c}"));
                }
            }
        }
    }
    Ok(())
}
