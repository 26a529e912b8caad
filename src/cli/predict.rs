//! `scivision predict` and `scivision serve`: run a model in its own prefix.

use std::path::PathBuf;

use super::Ui;
use crate::env::Envs;
use crate::prediction::{Output, PredictOptions};
use crate::runner::RunnerError;

/// Run a model on input files (PNG, JPEG or .npy) in the model's own environment.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  scivision predict scivision-demo-edges models/scivision-demo-edges/scivision_demo_edges/data/sample.png -o edges.npy\n  scivision predict scivision-demo-edges a.png b.png -o out/ --json\n\nArrays are written as .npy (one per input: OUT for one input, OUT/<input stem>.npy for several);\nother results (labels, scores) as JSON on stdout."
)]
pub struct PredictArgs {
    /// The environment (model name), made by `scivision env create`.
    model: String,
    /// Input files.
    #[arg(required = true)]
    inputs: Vec<PathBuf>,
    /// Output file (one input) or folder (several).
    #[arg(long, short = 'o')]
    output: Option<PathBuf>,
    /// Set the model libraries' offline switches (HF_HUB_OFFLINE, …).
    #[arg(long)]
    offline: bool,
    /// JSON output.
    #[arg(long)]
    json: bool,
}

/// Serve a model over stdin/stdout (or a Unix socket): the process the Python client talks to.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Example:\n  scivision serve scivision-demo-edges --socket /tmp/edges.sock\n\nThe frame format is documented in python/scivision-runner/scivision_runner/protocol.py."
)]
pub struct ServeArgs {
    /// The environment (model name).
    model: String,
    /// Serve on this Unix socket instead of stdin/stdout.
    #[arg(long)]
    socket: Option<PathBuf>,
    /// Set the model libraries' offline switches (HF_HUB_OFFLINE, …).
    #[arg(long)]
    offline: bool,
}

pub fn serve(args: ServeArgs) -> miette::Result<()> {
    let home = &crate::cli::settings().dirs.home;
    let mut cmd =
        crate::prediction::runner_command(&Envs::new(home), home, &args.model, args.offline)?;
    if let Some(socket) = &args.socket {
        cmd.arg("--socket").arg(socket);
    }
    // Replace this process: the client's child *is* the runner, so killing it needs no relay.
    let err = std::os::unix::process::CommandExt::exec(&mut cmd);
    Err(RunnerError::Io {
        name: args.model,
        step: "cannot start the runner".into(),
        source: Some(err),
    }
    .into())
}

pub async fn predict(args: PredictArgs, _ui: Ui) -> miette::Result<()> {
    let home = &crate::cli::settings().dirs.home;
    let options = PredictOptions {
        model: args.model,
        inputs: args.inputs,
        output: args.output,
        offline: args.offline,
    };
    let prediction = crate::prediction::predict(&Envs::new(home), home, &options)?;
    let summary: Vec<_> = prediction
        .outputs
        .iter()
        .map(|(input, output)| match output {
            Output::Array { dtype, shape, file } => serde_json::json!({"input": input, "kind": "array", "dtype": dtype, "shape": shape, "file": file}),
            Output::Json(value) => serde_json::json!({"input": input, "kind": "json", "value": value}),
        })
        .collect();
    if args.json {
        super::print_json(
            &serde_json::json!({"model": options.model, "outputs": summary, "seconds": prediction.seconds}),
        );
    } else {
        print_summary(&summary);
    }
    Ok(())
}

/// One line per input: the array's dtype, shape and file, or the JSON value.
fn print_summary(summary: &[serde_json::Value]) {
    for s in summary {
        match s.get("file") {
            Some(file) => super::print_line(&format!(
                "{}: {} array {} -> {}",
                s["input"].as_str().unwrap_or_default(),
                s["dtype"].as_str().unwrap_or_default(),
                s["shape"],
                file.as_str().unwrap_or_default()
            )),
            None => super::print_line(&format!(
                "{}: {}",
                s["input"].as_str().unwrap_or_default(),
                s["value"]
            )),
        }
    }
}
