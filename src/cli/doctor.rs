//! `scivision doctor`: what this host looks like to scivision.

use std::time::Duration;

use rattler_conda_types::Subdir;
use rattler_virtual_packages::{VirtualPackageOverrides, VirtualPackages};

use super::Ui;
use crate::config::ConfigFile;

/// Report the host: OS, architecture, glibc, CUDA driver, caches and channels.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:\n  scivision doctor\n  scivision doctor --json | jq .cuda")]
pub struct Args {
    /// JSON output.
    #[arg(long)]
    json: bool,
}

pub async fn execute(args: Args, _ui: Ui) -> miette::Result<()> {
    let dirs = crate::cli::settings().dirs.clone();
    let config = ConfigFile::load()?;
    let vps = VirtualPackages::detect(&VirtualPackageOverrides::from_env(), None)
        .map_err(|e| miette::miette!("cannot detect virtual packages: {e}"))?;
    let platform = Subdir::current().map_or_else(|| "unknown".to_string(), |s| s.to_string());
    let cuda = match (&vps.cuda, &vps.cuda_arch) {
        (Some(c), arch) => serde_json::json!({
            "found": true,
            "version": c.version.to_string(),
            "compute_capability": arch.as_ref().map(|a| a.version.to_string()),
            "overridden": std::env::var_os("CONDA_OVERRIDE_CUDA").is_some(),
        }),
        (None, _) => serde_json::json!({
            "found": false,
            "why": if std::env::var_os("CONDA_OVERRIDE_CUDA").is_some() {
                "CONDA_OVERRIDE_CUDA is set to an empty value"
            } else {
                "no NVIDIA driver library (libcuda.so.1) could be loaded, so there is no __cuda"
            },
        }),
    };
    let client = crate::http::client();
    let mut channels = Vec::new();
    for c in crate::config::default_channels(&config) {
        let reachable = reachable(&client, &c).await;
        channels.push(serde_json::json!({"channel": c, "reachable": reachable.is_ok(), "detail": reachable.err()}));
    }
    let caches: Vec<_> = [
        ("home", &dirs.home),
        ("cache", &dirs.cache),
        ("packages", &dirs.packages),
    ]
    .iter()
    .map(|(k, p)| serde_json::json!({"name": k, "path": p, "bytes": crate::cache::size(p)}))
    .collect();
    let report = serde_json::json!({
        "platform": platform,
        "virtual_packages": crate::system::describe(&vps.clone().into_generic_virtual_packages().collect::<Vec<_>>()),
        "glibc": vps.libc.as_ref().map(|l| l.version.to_string()),
        "linux": vps.linux.as_ref().map(|l| l.version.to_string()),
        "cuda": cuda,
        "caches": caches,
        "channels": channels,
    });
    if args.json {
        super::print_json(&report);
        return Ok(());
    }
    super::print_line(&format!("platform          {platform}"));
    super::print_line(&format!(
        "virtual packages  {}",
        report["virtual_packages"].as_str().unwrap_or_default()
    ));
    match report["cuda"]["found"].as_bool() {
        Some(true) => super::print_line(&format!(
            "cuda              {} (compute capability {})",
            report["cuda"]["version"].as_str().unwrap_or_default(),
            report["cuda"]["compute_capability"]
                .as_str()
                .unwrap_or("unknown: no GPU device answered")
        )),
        _ => super::print_line(&format!(
            "cuda              none: {}",
            report["cuda"]["why"].as_str().unwrap_or_default()
        )),
    }
    for c in report["caches"].as_array().into_iter().flatten() {
        super::print_line(&format!(
            "{:<17} {} ({} MB)",
            c["name"].as_str().unwrap_or_default(),
            c["path"].as_str().unwrap_or_default(),
            c["bytes"].as_u64().unwrap_or(0) / 1_000_000
        ));
    }
    for c in report["channels"].as_array().into_iter().flatten() {
        let state = if c["reachable"].as_bool() == Some(true) {
            "reachable".to_string()
        } else {
            format!(
                "NOT reachable: {}",
                c["detail"].as_str().unwrap_or_default()
            )
        };
        super::print_line(&format!(
            "channel           {} ({state})",
            c["channel"].as_str().unwrap_or_default()
        ));
    }
    Ok(())
}

async fn reachable(
    client: &reqwest_middleware::ClientWithMiddleware,
    channel: &str,
) -> Result<(), String> {
    let cwd = std::env::current_dir().map_err(|e| e.to_string())?;
    let parsed =
        crate::solve::parse_channels(&[channel.to_string()], cwd).map_err(|e| e.to_string())?;
    let url = parsed[0]
        .base_url
        .url()
        .join("noarch/repodata.json")
        .map_err(|e| e.to_string())?;
    if url.scheme() == "file" {
        let path = url
            .to_file_path()
            .map_err(|()| "not a local path".to_string())?;
        return if path.is_file() {
            Ok(())
        } else {
            Err(format!("{} is missing", path.display()))
        };
    }
    let response = tokio::time::timeout(Duration::from_secs(5), client.head(url.clone()).send())
        .await
        .map_err(|_| format!("no answer from {url} within 5s"))?
        .map_err(|e| e.to_string())?;
    if response.status().is_success() {
        Ok(())
    } else {
        Err(format!("{url}: HTTP {}", response.status()))
    }
}
