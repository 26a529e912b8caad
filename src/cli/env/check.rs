//! `scivision check` (can this model run here, and which variant would it get) and
//! `scivision solve` (match specs against channels, nothing installed).

use miette::IntoDiagnostic;

use super::create::{print_records, records_json};
use super::{on_default_channels, request, spinner, SolveArgs, Ui};
use crate::env::{Envs, Request, Verdict};
use crate::system::{self, CudaChoice};

/// Can this model run on this host? Solves without installing and lists unmet requirements.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  scivision check scivision-demo-edges -c ./channel\n  scivision check 'scivision-demo-gpu[build=cuda*]' -c ./channel --json"
)]
pub struct CheckArgs {
    /// A catalog name, optionally narrowed as a match spec.
    model: String,
    #[command(flatten)]
    solve: SolveArgs,
    /// JSON output.
    #[arg(long)]
    json: bool,
}

pub async fn check(args: CheckArgs, ui: Ui) -> miette::Result<()> {
    let envs = Envs::new(&crate::cli::settings().dirs.home);
    let request = request(&args.model, &args.solve).await?;
    let bar = spinner(ui.progress && !args.json, "solving");
    let cuda_pinned = args.solve.cuda != CudaChoice::Auto;
    let found = crate::env::check(&envs, &request, cuda_pinned).await;
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    let found = match found {
        Err(e @ crate::env::EnvError::Solve(_)) => return Err(on_default_channels(e, &args.solve)),
        other => other?,
    };
    let host = system::describe(&request.virtual_packages);
    let (choice, offered) = found
        .variant
        .map_or((None, None), |(c, o)| (Some(c), Some(o)));
    match found.verdict {
        Verdict::Runs(solution) if args.json => {
            crate::cli::print_json(
                &serde_json::json!({"model": request.model, "runs_here": true, "platform": request.platform.to_string(), "virtual_packages": host, "packages": solution.records.len(), "unmet": [], "variant": choice, "variants": offered}),
            );
            Ok(())
        }
        Verdict::Runs(solution) => {
            if let Some(choice) = &choice {
                crate::cli::print_line(&format!("variant {}: {}", choice.name, choice.reason));
            }
            crate::cli::print_line(&format!(
                "{} can run here: it solves for {} with {} packages (host: {host})",
                request.model,
                request.platform,
                solution.records.len(),
            ));
            Ok(())
        }
        Verdict::Unmet(e) if args.json => {
            if let crate::env::EnvError::Unsolvable {
                explanation,
                host: facts,
                ..
            } = *e
            {
                let unmet = system::explain_unmet(&explanation, &request.virtual_packages);
                crate::cli::print_json(
                    &serde_json::json!({"model": request.model, "runs_here": false, "platform": request.platform.to_string(), "virtual_packages": host, "unmet": unmet, "explanation": explanation, "host": facts}),
                );
            }
            Err(crate::cli::Exit(i32::from(crate::cli::EXIT_FAILURE)).into())
        }
        Verdict::Unmet(e) => Err((*e).into()),
    }
}

/// Solve match specs against channels, install nothing (like `conda create --dry-run`).
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  scivision solve 'python 3.11.*' numpy -c ./channel --json\n  CONDA_OVERRIDE_CUDA=12.4 scivision solve pytorch -c ./my-channel --platform linux-64"
)]
pub struct SolveCmdArgs {
    /// Match specs.
    #[arg(required = true)]
    specs: Vec<String>,
    /// Channels (names, URLs or paths), in priority order.
    #[arg(long = "channel", short = 'c', required = true)]
    channels: Vec<String>,
    /// CUDA driver to solve for: detect it, none, or a version such as 12.4.
    #[arg(long, default_value = "auto", value_parser = clap::value_parser!(CudaChoice))]
    cuda: CudaChoice,
    /// Target platform (conda subdir).
    #[arg(long)]
    platform: Option<String>,
    /// JSON output.
    #[arg(long)]
    json: bool,
}

pub async fn solve_cmd(args: SolveCmdArgs, _ui: Ui) -> miette::Result<()> {
    let cwd = std::env::current_dir().into_diagnostic()?;
    let channels = crate::solve::parse_channels(&args.channels, cwd)?;
    let specs = crate::solve::parse_specs(&args.specs)?;
    let platform = crate::cli::target_platform(args.platform.as_ref())?;
    let settings = crate::cli::settings();
    let request = Request::for_specs(
        args.specs.join(" "),
        specs,
        channels,
        platform,
        system::virtual_packages(
            platform,
            &args.cuda,
            &settings.overrides,
            Some(&system::detection_cache(&settings.dirs.cache)),
        )?,
        settings.verify_cache_fully,
    );
    let started = std::time::Instant::now();
    let envs = Envs::new(&crate::cli::settings().dirs.clone().home);
    let solution = envs.solve(&request).await?;
    let seconds = started.elapsed().as_secs_f64();
    if args.json {
        crate::cli::print_json(
            &serde_json::json!({"seconds": seconds, "packages": records_json(&solution.records, &request.mapping)}),
        );
    } else {
        print_records(&solution.records);
        crate::cli::print_line(&format!(
            "{} packages, solved in {seconds:.3}s",
            solution.records.len()
        ));
    }
    Ok(())
}
