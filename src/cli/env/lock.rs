//! `env lock`: one environment for this host (or `--platform`), or one per variant.

use std::path::PathBuf;

use miette::IntoDiagnostic;

use super::{on_default_channels, request, spinner, SolveArgs, Ui};
use crate::config::Dirs;
use crate::env::Envs;
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
    let target = output.clone().unwrap_or_else(|| PathBuf::from("-"));
    let bar = spinner(ui.progress, "solving");
    let variants = match variants {
        Some(list) => Some(crate::variant::Variant::parse_list(&list).map_err(|e| {
            miette::miette!(help = "e.g. --variants cpu,cuda12", "--variants: {e}")
        })?),
        None => crate::env::variants::default_variants(&request, solve.cuda != CudaChoice::Auto)
            .await
            .map_err(|e| on_default_channels(e, solve))?,
    };
    let (lock, summary) = match &variants {
        Some(variants) => {
            let locked = crate::env::variants::lock(
                envs,
                &request,
                variants,
                (&dirs.packages, &dirs.cache),
                &target,
            )
            .await
            .map_err(|e| on_default_channels(e, solve));
            if let Some(b) = &bar {
                b.finish_and_clear();
            }
            let locked = locked?;
            let summary = locked
                .variants
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
                .join(", ");
            (locked.lock, summary)
        }
        None => {
            let solution = envs.solve(&request).await;
            if let Some(b) = &bar {
                b.finish_and_clear();
            }
            let solution = solution.map_err(|e| on_default_channels(e, solve))?;
            let pypi = envs
                .resolve_pypi(&request, &solution, &dirs.packages, &dirs.cache)
                .await?;
            let lock = crate::lock::build(
                &request.channels,
                request.platform,
                &request.virtual_packages,
                &solution.records,
                &pypi,
                &target,
            )?;
            (lock, format!("{} packages", solution.records.len()))
        }
    };
    match output {
        Some(path) => {
            crate::lock::write(&lock, &path)?;
            crate::cli::print_line(&format!(
                "locked {} on {}: {summary}: {}",
                request.model,
                request.platform,
                path.display()
            ));
        }
        None => crate::cli::print_line(lock.render_to_string().into_diagnostic()?.trim_end()),
    }
    Ok(())
}
