//! `scivision build`

use std::path::PathBuf;

use miette::IntoDiagnostic;

use super::reporter::BuildBars;
use super::Ui;
use crate::build::{self, BuildConfig};

/// Build conda packages from recipes, in dependency order, then index the channel.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  scivision build                              every recipe under recipes/ into channel/\n  scivision build recipes/scivision-demo-edges  one recipe (and nothing else)\n  scivision build catalog -c conda-forge        the Scivision models, from their upstream sources\n  scivision build --dry-run                    the build order, nothing built\n  scivision build --output-dir /tmp/ch -c conda-forge recipes/my-model\n  scivision build -m variants.yaml recipes/my-model   with extra variant keys (as rattler-build -m)\n\nRecipes are rattler-build recipes, built by rattler-build's engine. A recipe whose inputs (rendered\nrecipe, recipe folder, local sources, solved build and host packages) have not changed is not rebuilt."
)]
pub struct Args {
    /// Recipe folders, recipe.yaml files, or folders of recipe folders (default: recipes/).
    recipes: Vec<PathBuf>,
    /// The channel to build into.
    #[arg(long, short = 'o', default_value = "channel")]
    output_dir: PathBuf,
    /// Extra channels for build, host and test dependencies (the output channel comes first).
    #[arg(long = "channel", short = 'c')]
    channels: Vec<String>,
    /// Rebuild even when the inputs are unchanged.
    #[arg(long)]
    force: bool,
    /// Skip the recipes' tests.
    #[arg(long)]
    no_test: bool,
    /// Keep work folders (sources, prefixes, logs) after a successful build.
    #[arg(long)]
    keep_work: bool,
    /// Variant config files, applied after each recipe's own variants.yaml (as rattler-build's
    /// `-m`).
    #[arg(long = "variant-config", short = 'm')]
    variant_config: Vec<PathBuf>,
    /// Enable rattler-build's experimental recipe features (e.g. `build.steps`).
    #[arg(long)]
    experimental: bool,
    /// Render and order the recipes and print the build order, building nothing.
    #[arg(long)]
    dry_run: bool,
    /// Print the outcome as JSON.
    #[arg(long)]
    json: bool,
}

pub async fn execute(args: Args, ui: Ui) -> miette::Result<()> {
    let dirs = crate::cli::settings().dirs.clone();
    let recipes = build::recipes_from(&args.recipes)?;
    let timestamp = match &crate::cli::settings().source_date_epoch {
        Some(s) => {
            let seconds: i64 = s.trim().parse().map_err(|_| {
                crate::cli::bad_input!(
                    help = "set it to whole seconds since 1970, or unset it",
                    "SOURCE_DATE_EPOCH=`{s}` is not a number of seconds"
                )
            })?;
            // A `.conda` is a zip, which holds no date before 1980.
            jiff::Timestamp::from_second(seconds)
                .into_diagnostic()?
                .max(build::default_timestamp())
        }
        None => build::default_timestamp(),
    };
    let config = BuildConfig {
        keep_work: args.keep_work,
        variant_configs: args.variant_config.clone(),
        experimental: args.experimental,
        timestamp,
        virtual_packages: crate::cli::settings().overrides.clone(),
        // `main` puts scivision's own `rattler-sandbox` on PATH where bubblewrap exists.
        sandbox: which::which(build::sandbox::PROGRAM).is_ok(),
        ..BuildConfig::new(
            args.output_dir.clone(),
            dirs.cache.clone(),
            dirs.packages
                .parent()
                .map_or_else(|| dirs.cache.join("rattler"), std::path::Path::to_path_buf),
        )
        .with_channels(args.channels.clone())
        .with_force(args.force)
        .with_tests(!args.no_test)
    };
    let engine = build::engine(&config, crate::http::client())?;
    let plan = build::plan(&recipes, &engine)?;
    if args.dry_run {
        let order: Vec<String> = plan.iter().map(build::Planned::display_name).collect();
        if args.json {
            super::print_json(&serde_json::json!(order));
        } else {
            for (i, name) in order.iter().enumerate() {
                super::print_line(&format!("{:>3}. {name}", i + 1));
            }
        }
        return Ok(());
    }
    let bars = BuildBars::new(ui.progress && !args.json);
    let outcomes = build::build_all(&plan, &engine, &config, &bars).await?;
    if args.json {
        super::print_json(&serde_json::to_value(&outcomes).into_diagnostic()?);
    } else {
        for o in &outcomes {
            super::print_line(&format!("{:>9}  {}", o.status, o.file));
        }
    }
    Ok(())
}
