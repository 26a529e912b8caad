//! `scivision check` (can this model run here, and which variant would it get) and
//! `scivision solve` (match specs against channels, nothing installed).

use miette::IntoDiagnostic;

use super::create::{print_records, records_json};
use super::{on_default_channels, request, spinner, SolveArgs, Ui};
use crate::env::{Envs, Request};
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
    let dirs = crate::cli::settings().dirs.clone();
    let envs = Envs::new(&dirs.home);
    let request = request(&args.model, &args.solve).await?;
    let bar = spinner(ui.progress && !args.json, "solving");
    let result = envs.solve(&request).await;
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    let result = match result {
        Err(e @ crate::env::EnvError::Solve(_)) => return Err(on_default_channels(e, &args.solve)),
        other => other,
    };
    // Which variant of a model with CUDA builds this host gets (as `--frozen` would choose
    // from a variant lock), and why.
    let cuda_pinned = args.solve.cuda != CudaChoice::Auto;
    let variant = match crate::env::variants::default_variants(&request, cuda_pinned).await? {
        Some(variants) => {
            let offered = crate::env::variants::needs_of(&envs, &request, &variants).await?;
            crate::variant::choose(&offered, &request.virtual_packages, None)
                .ok()
                .map(|c| (c, offered))
        }
        None => None,
    };
    match result {
        Ok(solution) => {
            if args.json {
                crate::cli::print_json(
                    &serde_json::json!({"model": request.model, "runs_here": true, "platform": request.platform.to_string(), "virtual_packages": system::describe(&request.virtual_packages), "packages": solution.records.len(), "unmet": [], "variant": variant.as_ref().map(|(c, _)| c), "variants": variant.as_ref().map(|(_, o)| o)}),
                );
            } else {
                if let Some((choice, _)) = &variant {
                    crate::cli::print_line(&format!("variant {}: {}", choice.name, choice.reason));
                }
                crate::cli::print_line(&format!(
                    "{} can run here: it solves for {} with {} packages (host: {})",
                    request.model,
                    request.platform,
                    solution.records.len(),
                    system::describe(&request.virtual_packages)
                ));
            }
            Ok(())
        }
        Err(crate::env::EnvError::Unsolvable {
            explanation, host, ..
        }) if args.json => {
            let unmet = system::explain_unmet(&explanation, &request.virtual_packages);
            crate::cli::print_json(
                &serde_json::json!({"model": request.model, "runs_here": false, "platform": request.platform.to_string(), "virtual_packages": system::describe(&request.virtual_packages), "unmet": unmet, "explanation": explanation, "host": host}),
            );
            Err(crate::cli::Exit(i32::from(crate::cli::EXIT_FAILURE)).into())
        }
        Err(e) => Err(e.into()),
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
    let request = Request {
        model: args.specs.join(" "),
        specs,
        channels,
        platform,
        virtual_packages: system::virtual_packages(
            platform,
            &args.cuda,
            &crate::cli::settings().overrides,
        )?,
        offline: None,
        pypi: Vec::new(),
        index: crate::pypi::IndexOptions::default(),
        entry: None,
        weights: Vec::new(),
        pypi_overrides: Vec::new(),
        pypi_no_build_isolation: Vec::new(),
        verify_cache_fully: crate::cli::settings().verify_cache_fully,
        mapping: crate::mapping::PypiMapping::default(),
        package: None,
        published_by: None,
        cpu_only: false,
    };
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
