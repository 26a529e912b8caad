//! A model run on input files in its own prefix: the runner started there (see [`runner`]), one
//! predict request over its frames, and the arrays it returns written as `.npy` files.
//!
//! [`runner`]: crate::runner

use std::fmt::Display;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use crate::env::{EnvError, Envs};
use crate::runner::{self, Frame, ModelEntry, RunnerError};

/// Why a model could not be run.
#[derive(Debug, thiserror::Error)]
pub enum PredictionError {
    /// The environment is missing or cannot be activated.
    #[error(transparent)]
    Env(#[from] EnvError),
    /// The runner is missing, could not be talked to, or the model failed (boxed: the model's
    /// traceback makes it large).
    #[error(transparent)]
    Runner(Box<RunnerError>),
    /// An input file does not exist.
    #[error("input {} does not exist", input.display())]
    MissingInput {
        /// The input as given.
        input: PathBuf,
    },
    /// A path could not be resolved, the environment read, or an output written.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

impl From<RunnerError> for PredictionError {
    fn from(e: RunnerError) -> Self {
        Self::Runner(Box::new(e))
    }
}

impl From<Box<RunnerError>> for PredictionError {
    fn from(e: Box<RunnerError>) -> Self {
        Self::Runner(e)
    }
}

impl PredictionError {
    /// What kind of failure this is.
    pub fn class(&self) -> crate::message::ErrorClass {
        use crate::message::ErrorClass;
        match self {
            Self::Env(e) => e.class(),
            Self::MissingInput { .. } => ErrorClass::Input,
            Self::Runner(_) | Self::Io(_) => ErrorClass::Failed,
        }
    }

    /// The wrapped diagnostic, which speaks for this error.
    fn inner(&self) -> Option<&(dyn miette::Diagnostic + 'static)> {
        match self {
            Self::Env(e) => Some(e),
            Self::Runner(e) => Some(&**e),
            Self::MissingInput { .. } | Self::Io(_) => None,
        }
    }
}

/// Written by hand: a derived transparent diagnostic cannot see through the box.
impl miette::Diagnostic for PredictionError {
    fn code<'a>(&'a self) -> Option<Box<dyn Display + 'a>> {
        self.inner()?.code()
    }

    fn severity(&self) -> Option<miette::Severity> {
        self.inner()?.severity()
    }

    fn help<'a>(&'a self) -> Option<Box<dyn Display + 'a>> {
        match self {
            Self::MissingInput { .. } => Some(Box::new("give PNG, JPEG or .npy files")),
            _ => self.inner()?.help(),
        }
    }

    fn url<'a>(&'a self) -> Option<Box<dyn Display + 'a>> {
        self.inner()?.url()
    }

    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        self.inner()?.source_code()
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = miette::LabeledSpan> + '_>> {
        self.inner()?.labels()
    }

    fn related<'a>(&'a self) -> Option<Box<dyn Iterator<Item = &'a dyn miette::Diagnostic> + 'a>> {
        self.inner()?.related()
    }

    fn diagnostic_source(&self) -> Option<&dyn miette::Diagnostic> {
        self.inner()?.diagnostic_source()
    }
}

/// What to run a model on.
#[derive(Debug, Clone)]
pub struct PredictOptions {
    /// The environment (model name).
    pub model: String,
    /// Input files (PNG, JPEG or .npy).
    pub inputs: Vec<PathBuf>,
    /// Output file (one input) or folder (several); default: `<input stem>.npy` here.
    pub output: Option<PathBuf>,
    /// Set the model libraries' offline switches.
    pub offline: bool,
}

/// What the model returned for one input.
#[derive(Debug, Clone)]
pub enum Output {
    /// An array, written as a `.npy` file.
    Array {
        /// Its dtype, as the runner named it.
        dtype: serde_json::Value,
        /// Its shape.
        shape: serde_json::Value,
        /// The file written.
        file: PathBuf,
    },
    /// Any other result (labels, scores), as JSON.
    Json(Option<serde_json::Value>),
}

/// A model's outputs, one per input (in order).
#[derive(Debug, Clone)]
pub struct Prediction {
    /// Each input as given, with its output.
    pub outputs: Vec<(PathBuf, Output)>,
    /// How long the model took, as the runner reports it.
    pub seconds: Option<serde_json::Value>,
}

/// The runner of `model`'s environment, ready to start (`home`: weight caches live below it).
pub fn runner_command(
    envs: &Envs,
    home: &Path,
    model: &str,
    offline: bool,
) -> Result<Command, PredictionError> {
    let prefix = envs.existing(model)?;
    let entry: ModelEntry = Envs::info_at(&prefix)
        .and_then(|i| i.model_entry)
        .ok_or_else(|| RunnerError::NoModel {
            name: model.to_string(),
        })?;
    let has_runner = fs_err::read_dir(prefix.join("conda-meta"))?
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
        &prefix, model, &entry, home, offline, activation,
    ))
}

/// Runs the model of `options.model` on its inputs: one predict request to the runner in its
/// environment; arrays are written as `.npy` files.
pub fn predict(
    envs: &Envs,
    home: &Path,
    options: &PredictOptions,
) -> Result<Prediction, PredictionError> {
    let mut inputs = Vec::new();
    for input in &options.inputs {
        let path = std::path::absolute(input)?;
        if !path.is_file() {
            return Err(PredictionError::MissingInput {
                input: input.clone(),
            });
        }
        inputs.push(serde_json::json!({"kind": "path", "path": path}));
    }
    let child = runner_command(envs, home, &options.model, options.offline)?
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| runner_io(&options.model, "cannot start", Some(e)))?;
    let reply = exchange(&options.model, child, inputs)?;
    let outputs = reply
        .header
        .get("outputs")
        .and_then(|o| o.as_array())
        .cloned()
        .unwrap_or_default();
    let mut out = Vec::new();
    for (input, item) in options.inputs.iter().zip(&outputs) {
        let output = if item.get("kind").and_then(|k| k.as_str()) == Some("array") {
            let file = output_path(options.output.as_deref(), input, options.inputs.len());
            let bytes = runner::npy(item, &reply.payload)
                .ok_or_else(|| runner_io(&options.model, "malformed array in the reply", None))?;
            crate::atomic::write(&file, &bytes)?;
            Output::Array {
                dtype: item["dtype"].clone(),
                shape: item["shape"].clone(),
                file,
            }
        } else {
            Output::Json(item.get("value").cloned())
        };
        out.push((input.clone(), output));
    }
    Ok(Prediction {
        outputs: out,
        seconds: reply.header.get("seconds").cloned(),
    })
}

/// The runner's side of one request: its ready message (a model that failed to load says so
/// there), the predict request and its reply, then the shutdown.
fn exchange(
    name: &str,
    mut child: Child,
    inputs: Vec<serde_json::Value>,
) -> Result<Frame, PredictionError> {
    let io = |step: &str, e: Option<std::io::Error>| runner_io(name, step, e);
    let (Some(mut stdin), Some(mut stdout)) = (child.stdin.take(), child.stdout.take()) else {
        return Err(io("no pipes to the runner", None));
    };
    let ready = runner::read_frame(&mut stdout).map_err(|e| io("no ready message", Some(e)))?;
    model_error(name, &ready.header)?;
    if let Err(e) = runner::check_protocol(name, &ready.header) {
        let _ = child.kill();
        let _ = child.wait();
        return Err(e.into());
    }
    runner::write_frame(
        &mut stdin,
        &serde_json::json!({"op": "predict", "inputs": inputs}),
        &[],
    )
    .map_err(|e| io("cannot send the request", Some(e)))?;
    let reply = runner::read_frame(&mut stdout)
        .map_err(|e| io("the runner died during the request", Some(e)))?;
    let _ = runner::write_frame(&mut stdin, &serde_json::json!({"op": "shutdown"}), &[]);
    drop(stdin);
    let _ = child.wait();
    model_error(name, &reply.header)?;
    Ok(reply)
}

fn runner_io(name: &str, step: &str, source: Option<std::io::Error>) -> PredictionError {
    RunnerError::Io {
        name: name.to_string(),
        step: step.to_string(),
        source,
    }
    .into()
}

/// Where an input's array goes: `output` itself for one input (unless it is a folder), else
/// `<output or here>/<input stem>.npy`.
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

/// The model's failure a runner's frame reports, with what to do about it.
fn model_error(name: &str, header: &serde_json::Value) -> Result<(), PredictionError> {
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
    Err(RunnerError::Model {
        name: name.to_string(),
        phase,
        kind,
        message: text("message"),
        traceback: text("traceback"),
        hint,
    }
    .into())
}
