//! `env lock`: one environment for this host (or `--platform`), or one per variant.

use std::path::PathBuf;

use miette::IntoDiagnostic;

use super::create::Progress;
use super::{request, SolveArgs, Ui};
use crate::config::Dirs;
use crate::env::Envs;
use crate::locking::{LockOptions, Locked};
use crate::system::CudaChoice;

/// `env lock`: one environment, or with variants one per variant.
pub(super) async fn run(
    envs: &Envs,
    dirs: &Dirs,
    ui: Ui,
    (model, solve): (&str, &SolveArgs),
    output: Option<PathBuf>,
    variants: Option<String>,
) -> miette::Result<()> {
    let request = request(model, solve).await?;
    let variants = variants
        .map(|list| {
            crate::variant::Variant::parse_list(&list).map_err(|e| {
                miette::miette!(help = "e.g. --variants cpu,cuda12", "--variants: {e}")
            })
        })
        .transpose()?;
    let options = LockOptions {
        variants,
        cuda_pinned: solve.cuda != CudaChoice::Auto,
        channels_given: !solve.channels.is_empty(),
        output,
    };
    let reporter = Progress::new(ui.progress);
    let outcome = crate::locking::lock(
        envs,
        &request,
        &options,
        dirs,
        &reporter,
        crate::cli::settings(),
    )
    .await?;
    match &options.output {
        Some(path) => crate::cli::print_line(&format!(
            "locked {} on {}: {}: {}",
            request.model,
            request.platform,
            summary(&outcome.locked),
            path.display()
        )),
        None => crate::cli::print_line(
            outcome
                .lock
                .render_to_string()
                .into_diagnostic()?
                .trim_end(),
        ),
    }
    Ok(())
}

/// What the lock holds, in a few words.
fn summary(locked: &Locked) -> String {
    match locked {
        Locked::Packages(n) => format!("{n} packages"),
        Locked::Variants(variants) => variants
            .iter()
            .map(|v| match &v.same_as {
                Some(other) => format!("{} (same packages as {other})", v.name),
                None if v.needs.is_empty() => format!("{} ({} packages)", v.name, v.packages),
                None => format!(
                    "{} ({} packages, needs {})",
                    v.name,
                    v.packages,
                    v.needs.join(", ")
                ),
            })
            .collect::<Vec<_>>()
            .join(", "),
    }
}
