//! `scivision cache …`

use miette::IntoDiagnostic;

use super::Ui;
use crate::env::Envs;

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Sizes of the package, repodata, source, build and weight caches.
    #[command(after_help = "Example:\n  scivision cache info --json")]
    Info {
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
    /// Remove cached packages and weight files that no environment needs.
    #[command(
        after_help = "Examples:\n  scivision cache clean\n  scivision cache clean --older-than 30\n  scivision cache clean --all   # also what live environments need (they keep working; re-creating them downloads again)"
    )]
    Clean {
        /// Only entries untouched for this many days.
        #[arg(long, value_name = "DAYS")]
        older_than: Option<u64>,
        /// Remove every cached package, also those live environments' locks need.
        #[arg(long)]
        all: bool,
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
}

pub async fn execute(cmd: Command, _ui: Ui) -> miette::Result<()> {
    let dirs = crate::cli::settings().dirs.clone();
    let envs = Envs::new(&dirs.home);
    match cmd {
        Command::Info { json } => {
            let usage = crate::cache::info(&dirs);
            let needed = crate::cache::needed(&envs).len();
            if json {
                super::print_json(
                    &serde_json::json!({"caches": usage, "packages_needed_by_envs": needed}),
                );
            } else {
                for u in &usage {
                    super::print_line(&format!(
                        "{:<36} {:>8.1} MB {:>6} entries  {}",
                        u.name,
                        u.bytes as f64 / 1e6,
                        u.entries,
                        u.path.display()
                    ));
                }
                super::print_line(&format!(
                    "{needed} cached packages are needed by environments' locks"
                ));
            }
        }
        Command::Clean {
            older_than,
            all,
            json,
        } => {
            let age = older_than.map(|d| std::time::Duration::from_secs(d * 86_400));
            let cleaned = crate::cache::clean(&dirs, &envs, all, age).into_diagnostic()?;
            if json {
                super::print_json(&serde_json::to_value(&cleaned).into_diagnostic()?);
            } else {
                super::print_line(&format!(
                    "removed {} packages and weight files ({:.1} MB); kept {} packages and {} weight files that environments need",
                    cleaned.removed.len(),
                    cleaned.bytes as f64 / 1e6,
                    cleaned.kept_for_envs,
                    cleaned.weights_kept
                ));
            }
        }
    }
    Ok(())
}
