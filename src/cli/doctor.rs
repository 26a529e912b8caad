//! `scivision doctor`: what this host looks like to scivision.

use miette::IntoDiagnostic;

use super::Ui;
use crate::config::ConfigFile;
use crate::doctor::{Cuda, DoctorOptions, HostReport};

/// Report the host: OS, architecture, glibc, CUDA driver, caches and channels.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:\n  scivision doctor\n  scivision doctor --json | jq .cuda")]
pub struct Args {
    /// JSON output.
    #[arg(long)]
    json: bool,
}

pub async fn execute(args: Args, _ui: Ui) -> miette::Result<()> {
    let settings = crate::cli::settings();
    let config = ConfigFile::load_from(&settings.config_file)?;
    let options = DoctorOptions {
        dirs: settings.dirs.clone(),
        channels: crate::config::default_channels(&config, settings.scivision_channel.as_deref()),
        overrides: settings.overrides.clone(),
        cuda_overridden: settings.overrides.cuda.is_some(),
    };
    let report = crate::doctor::examine(&options).await?;
    if args.json {
        super::print_json(&serde_json::to_value(&report).into_diagnostic()?);
    } else {
        print_report(&report);
    }
    Ok(())
}

/// The report for a person: one line per fact.
fn print_report(report: &HostReport) {
    super::print_line(&format!("platform          {}", report.platform));
    super::print_line(&format!("virtual packages  {}", report.virtual_packages));
    match &report.cuda {
        Cuda::Found {
            version,
            compute_capability,
            ..
        } => super::print_line(&format!(
            "cuda              {version} (compute capability {})",
            compute_capability
                .as_deref()
                .unwrap_or("unknown: no GPU device answered")
        )),
        Cuda::Missing { why, .. } => super::print_line(&format!("cuda              none: {why}")),
    }
    for c in &report.caches {
        super::print_line(&format!(
            "{:<17} {} ({} MB)",
            c.name,
            c.path.display(),
            c.bytes / 1_000_000
        ));
    }
    for c in &report.channels {
        let state = if c.reachable {
            "reachable".to_string()
        } else {
            format!("NOT reachable: {}", c.detail.as_deref().unwrap_or_default())
        };
        super::print_line(&format!("channel           {} ({state})", c.channel));
    }
}
