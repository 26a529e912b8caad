//! `scivision predict` and `scivision serve`: run a model in its own prefix.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use miette::IntoDiagnostic;

use super::Ui;
use crate::env::{EnvInfo, Envs};
use crate::runner::{self, ModelEntry, RunnerError};

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

fn runner_command(model: &str, offline: bool) -> miette::Result<std::process::Command> {
    let dirs = crate::cli::settings().dirs.clone();
    let envs = Envs::new(&dirs.home);
    let prefix = envs.existing(model)?;
    let info: Option<EnvInfo> = Envs::info_at(&prefix);
    let entry: ModelEntry =
        info.and_then(|i| i.model_entry)
            .ok_or_else(|| RunnerError::NoModel {
                name: model.to_string(),
            })?;
    let has_runner = fs_err::read_dir(prefix.join("conda-meta"))
        .into_diagnostic()?
        .filter_map(Result::ok)
        .any(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("scivision-runner-")
        });
    if !has_runner {
        return Err(RunnerError::NoRunner { prefix }.into());
    }
    let activation = envs.activation_env(model)?;
    Ok(runner::command(
        &prefix, model, &entry, &dirs.home, offline, activation,
    ))
}

pub fn serve(args: ServeArgs) -> miette::Result<()> {
    let mut cmd = runner_command(&args.model, args.offline)?;
    if let Some(socket) = &args.socket {
        cmd.arg("--socket").arg(socket);
    }
    // Replace this process: the client's child *is* the runner, so killing it needs no relay.
    let err = std::os::unix::process::CommandExt::exec(&mut cmd);
    Err(RunnerError::Io {
        name: args.model,
        reason: format!("cannot start the runner: {err}"),
    }
    .into())
}

pub async fn predict(args: PredictArgs, _ui: Ui) -> miette::Result<()> {
    let name = args.model.clone();
    let io = |reason: String| RunnerError::Io {
        name: name.clone(),
        reason,
    };
    let mut inputs = Vec::new();
    for input in &args.inputs {
        let path = std::path::absolute(input).into_diagnostic()?;
        if !path.is_file() {
            return Err(crate::cli::bad_input!(
                help = "give PNG, JPEG or .npy files",
                "input {} does not exist",
                input.display()
            ));
        }
        inputs.push(serde_json::json!({"kind": "path", "path": path}));
    }
    let mut child = runner_command(&args.model, args.offline)?
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| io(format!("cannot start: {e}")))?;
    let (Some(mut stdin), Some(mut stdout)) = (child.stdin.take(), child.stdout.take()) else {
        return Err(io("no pipes to the runner".into()).into());
    };
    let ready =
        runner::read_frame(&mut stdout).map_err(|e| io(format!("no ready message: {e}")))?;
    model_error(&name, &ready.header).map_err(|e| miette::Report::new(*e))?;
    if let Err(e) = runner::check_protocol(&name, &ready.header) {
        let _ = child.kill();
        let _ = child.wait();
        return Err(miette::Report::new(*e));
    }
    runner::write_frame(
        &mut stdin,
        &serde_json::json!({"op": "predict", "inputs": inputs}),
        &[],
    )
    .map_err(|e| io(e.to_string()))?;
    let reply = runner::read_frame(&mut stdout)
        .map_err(|e| io(format!("the runner died during the request: {e}")))?;
    let _ = runner::write_frame(&mut stdin, &serde_json::json!({"op": "shutdown"}), &[]);
    drop(stdin);
    let _ = child.wait();
    model_error(&name, &reply.header).map_err(|e| miette::Report::new(*e))?;
    let outputs = reply
        .header
        .get("outputs")
        .and_then(|o| o.as_array())
        .cloned()
        .unwrap_or_default();
    let mut summary = Vec::new();
    for (input, item) in args.inputs.iter().zip(&outputs) {
        if item.get("kind").and_then(|k| k.as_str()) == Some("array") {
            let target = output_path(args.output.as_deref(), input, args.inputs.len());
            let bytes = runner::npy(item, &reply.payload)
                .ok_or_else(|| io("malformed array in the reply".into()))?;
            crate::atomic::write(&target, &bytes).into_diagnostic()?;
            summary.push(serde_json::json!({"input": input, "kind": "array", "dtype": item["dtype"], "shape": item["shape"], "file": target}));
        } else {
            summary.push(
                serde_json::json!({"input": input, "kind": "json", "value": item.get("value")}),
            );
        }
    }
    if args.json {
        super::print_json(
            &serde_json::json!({"model": args.model, "outputs": summary, "seconds": reply.header.get("seconds")}),
        );
    } else {
        for s in &summary {
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
    Ok(())
}

fn output_path(output: Option<&Path>, input: &Path, count: usize) -> PathBuf {
    let stem = input
        .file_stem()
        .map_or_else(|| "output".into(), |s| s.to_string_lossy().to_string());
    match output {
        Some(o) if count == 1 && !o.is_dir() => o.to_path_buf(),
        Some(dir) => dir.join(format!("{stem}.npy")),
        None => PathBuf::from(format!("{stem}.npy")),
    }
}

fn model_error(name: &str, header: &serde_json::Value) -> Result<(), Box<RunnerError>> {
    if header.get("ok").and_then(serde_json::Value::as_bool) == Some(true) {
        return Ok(());
    }
    let err = header.get("error").cloned().unwrap_or_default();
    let text = |k: &str| {
        err.get(k)
            .and_then(|v| v.as_str())
            .unwrap_or_default()
            .to_string()
    };
    let phase = header
        .get("phase")
        .and_then(|p| p.as_str())
        .unwrap_or("predict")
        .to_string();
    let kind = text("type");
    let hint = match (phase.as_str(), kind.as_str()) {
        ("load", "ModuleNotFoundError" | "ImportError") => "the model's package or one of its dependencies is missing from the environment: re-create it, or add the dependency to the model's recipe".to_string(),
        ("load", _) => "the model could not be constructed: missing weights are the usual cause (check network access, or the weight cache under $SCIVISION_HOME/weights when offline)".to_string(),
        _ => "the error was raised inside the model's prediction function; check the input's shape and type".to_string(),
    };
    Err(Box::new(RunnerError::Model {
        name: name.to_string(),
        phase,
        kind,
        message: text("message"),
        traceback: text("traceback"),
        hint,
    }))
}
