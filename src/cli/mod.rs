//! The command line: argument parsing, the async runtime, and turning errors into diagnostics
//! and exit codes. Commands live one per module; they parse, call the library, and present.

mod build;
mod cache;
mod catalog;
mod channel;
mod completions;
mod convert;
mod doctor;
mod env;
mod predict;
mod reporter;
mod weights;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Success.
pub const EXIT_OK: u8 = 0;
/// The operation failed (a build, a model, a check); bad input, an unsolvable request and a
/// network failure have codes of their own ([`crate::message::ErrorClass`]).
pub const EXIT_FAILURE: u8 = 1;
/// The command line itself was wrong (clap's convention).
pub const EXIT_USAGE: u8 = 2;
/// A bug in scivision.
pub const EXIT_INTERNAL: u8 = 3;

/// Install and run scientific computer-vision models, each in its own conda prefix.
#[derive(Debug, Parser)]
#[command(
    name = "scivision",
    version,
    long_version = concat!(env!("CARGO_PKG_VERSION"), "\nlinks ", env!("SCIVISION_LINKED")),
    propagate_version = true,
    after_help = "Examples:\n  scivision env create scivision-demo-edges -c ./channel\n  scivision env run scivision-demo-edges -- scivision-demo-edges\n  scivision build                      build every recipe under recipes/ into channel/\n  scivision convert numpy-2.1.3-*.whl  turn a wheel into a conda package\n  scivision channel index channel/     (re)write the channel's repodata"
)]
pub struct Cli {
    /// More log output (-v info, -vv debug, -vvv trace); also RUST_LOG.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
    /// No progress bars.
    #[arg(short, long, global = true)]
    quiet: bool,
    #[command(subcommand)]
    command: Option<Command>,
}

/// What `scivision` alone prints: the commands a newcomer starts with.
const START: &str = "\
scivision: scientific computer-vision models, each in its own conda prefix.

Start with:
  scivision catalog list                                   the models there are
  scivision build                                          the channel, from recipes/
  scivision env create scivision-demo-edges -c ./channel   a model's environment
  scivision predict scivision-demo-edges IMAGE             the model run on an image
  scivision doctor                                         what this host offers models

Every command: scivision --help; shell completions: scivision completions bash|zsh|fish";

/// The command tree, for help snapshots and shell completions.
pub fn command() -> clap::Command {
    <Cli as clap::CommandFactory>::command()
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Build conda packages from recipes into a channel.
    Build(build::Args),
    /// Convert PyPI wheels into conda packages.
    Convert(convert::Args),
    /// Index and maintain a channel on disk.
    #[command(
        subcommand,
        after_help = "Examples:\n  scivision channel index channel/\n  scivision channel deprecate scivision-demo-edges==0.1.0 --reason 'wrong weights' --dir channel/"
    )]
    Channel(channel::Command),
    /// Browse the model catalog.
    #[command(
        subcommand,
        after_help = "Examples:\n  scivision catalog list\n  scivision catalog show \"StarDist Seed\"\n  scivision catalog search plant --json"
    )]
    Catalog(catalog::Command),
    /// Create, list, run and remove model environments.
    #[command(
        subcommand,
        after_help = "Examples:\n  scivision env create scivision-demo-edges -c ./channel\n  scivision env list\n  scivision env run scivision-demo-edges -- python -c 'import numpy'\n  scivision env lock scivision-demo-edges -c ./channel --platform osx-arm64 -o edges.lock"
    )]
    Env(env::Command),
    /// Can this model run on this host? Solves without installing.
    Check(env::CheckArgs),
    /// What this host looks like to scivision: platform, glibc, CUDA, caches, channels.
    Doctor(doctor::Args),
    /// Run a model on input files in its own environment.
    Predict(predict::PredictArgs),
    /// Serve a model over stdin/stdout or a Unix socket (what the Python client starts).
    Serve(predict::ServeArgs),
    /// Solve match specs against channels without installing anything.
    Solve(env::SolveCmdArgs),
    /// Inspect and clean the caches.
    #[command(
        subcommand,
        after_help = "Examples:\n  scivision cache info\n  scivision cache clean --older-than 30"
    )]
    Cache(cache::Command),
    /// Fetch and check models' weight files.
    #[command(
        subcommand,
        after_help = "Examples:\n  scivision weights fetch resnet50-plankton\n  scivision weights list resnet50-plankton"
    )]
    Weights(weights::Command),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions(completions::Args),
}

/// A command that has said all it had to say and ends with this exit code (`env run` passes on
/// its program's; `check --json` has printed why not): `main` exits with it and prints nothing.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
#[error("exit code {0}")]
pub(crate) struct Exit(pub i32);

/// Shared presentation settings.
#[derive(Debug, Clone, Copy)]
pub struct Ui {
    /// Show progress bars.
    pub progress: bool,
}

/// The command line, parsed: what `main` needs to know before it runs the command.
#[derive(Debug)]
pub struct Invocation(Cli);

impl Invocation {
    /// Parses the process's arguments; `Err` is the exit code after clap printed help, a
    /// version or a usage error.
    pub fn parse() -> Result<Self, ExitCode> {
        Cli::try_parse().map(Self).map_err(|e| {
            let _ = e.print();
            ExitCode::from(if e.use_stderr() { EXIT_USAGE } else { EXIT_OK })
        })
    }

    /// Whether the command runs build scripts, which want `rattler-sandbox` on `PATH`.
    pub fn runs_build_scripts(&self) -> bool {
        matches!(self.0.command, Some(Command::Build(_)))
    }

    /// Runs the command.
    pub fn run(self) -> ExitCode {
        run(self.0)
    }
}

/// Runs the command and returns its exit code.
fn run(cli: Cli) -> ExitCode {
    let Some(command) = cli.command else {
        print_line(START);
        return ExitCode::from(EXIT_OK);
    };
    init_tracing(cli.verbose);
    // Wrapped lines break grep and log parsers; wrap only for a person at a terminal.
    let wrap = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let _ = miette::set_hook(Box::new(move |_| {
        Box::new(
            miette::MietteHandlerOpts::new()
                .terminal_links(false)
                .wrap_lines(wrap)
                .build(),
        )
    }));
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_stack_size(4 * 1024 * 1024)
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            report(&miette::miette!("cannot start the async runtime: {e}"));
            return ExitCode::from(EXIT_INTERNAL);
        }
    };
    let settings = settings();
    crate::http::configure(settings.http);
    let ui = Ui {
        progress: !cli.quiet && std::io::IsTerminal::is_terminal(&std::io::stderr()),
    };
    let result = runtime.block_on(async move {
        match command {
            Command::Build(args) => build::execute(args, ui).await,
            Command::Convert(args) => convert::execute(args, ui).await,
            Command::Channel(cmd) => channel::execute(cmd, ui).await,
            Command::Catalog(cmd) => catalog::execute(cmd, ui).await,
            Command::Env(cmd) => env::execute(cmd, ui).await,
            Command::Check(args) => env::check(args, ui).await,
            Command::Doctor(args) => doctor::execute(args, ui).await,
            Command::Predict(args) => predict::predict(args, ui).await,
            Command::Serve(args) => predict::serve(args),
            Command::Solve(args) => env::solve_cmd(args, ui).await,
            Command::Cache(cmd) => cache::execute(cmd, ui).await,
            Command::Weights(cmd) => weights::execute(cmd, ui).await,
            Command::Completions(args) => completions::execute(&args),
        }
    });
    // The command is done: on success, everything its futures awaited has finished, and
    // joining the runtime's idle threads one by one would only delay the exit (about a
    // millisecond). On failure, a blocking task may still run (a package extraction, a lock
    // wait whose future was dropped): it ends with the process, as on Ctrl-C, instead of
    // holding the exit. Rattler and uv mark nothing complete before it is.
    runtime.shutdown_background();
    match result {
        Ok(()) => ExitCode::from(EXIT_OK),
        Err(report_) => match report_.downcast_ref::<Exit>() {
            Some(Exit(code)) => ExitCode::from(u8::try_from(*code).unwrap_or(EXIT_FAILURE)),
            None => {
                report(&report_);
                ExitCode::from(class_of(&report_).exit_code())
            }
        },
    }
}

/// A wrong value on the command line: what is wrong, and what to do (exit 4, bad input).
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
#[error("{message}")]
pub(crate) struct BadInput {
    pub message: String,
    #[help]
    pub help: Option<String>,
}

/// `bad_input!(help = "...", "format", args)`: a [`BadInput`] report, as `miette!` makes one.
macro_rules! bad_input {
    (help = $help:expr, $($fmt:tt)+) => {
        miette::Report::new($crate::cli::BadInput {
            message: format!($($fmt)+),
            help: Some(($help).to_string()),
        })
    };
    ($($fmt:tt)+) => {
        miette::Report::new($crate::cli::BadInput { message: format!($($fmt)+), help: None })
    };
}
pub(crate) use bad_input;

/// The class of the library error behind `report` (any other error: the operation failed).
fn class_of(report: &miette::Report) -> crate::message::ErrorClass {
    use crate::message::ErrorClass;
    if let Some(e) = report.downcast_ref::<crate::env::EnvError>() {
        e.class()
    } else if let Some(e) = report.downcast_ref::<crate::solve::SolveError>() {
        e.class()
    } else if let Some(e) = report.downcast_ref::<crate::pypi::PypiError>() {
        e.class()
    } else if let Some(e) = report.downcast_ref::<crate::catalog::CatalogError>() {
        e.class()
    } else if let Some(e) = report.downcast_ref::<crate::curation::CurationError>() {
        e.class()
    } else if let Some(e) = report.downcast_ref::<crate::lock::LockError>() {
        e.class()
    } else if let Some(e) = report.downcast_ref::<crate::weights::WeightsError>() {
        e.class()
    } else if let Some(e) = report.downcast_ref::<crate::prefix::InstallError>() {
        e.class()
    } else if let Some(e) = report.downcast_ref::<crate::variant::ChoiceError>() {
        e.class()
    } else if let Some(e) = report.downcast_ref::<crate::pack::PackError>() {
        e.class()
    } else if let Some(e) = report.downcast_ref::<crate::request::RequestError>() {
        e.class()
    } else if let Some(e) = report.downcast_ref::<crate::prediction::PredictionError>() {
        e.class()
    } else if report
        .downcast_ref::<crate::config::ConfigError>()
        .is_some()
        || report.downcast_ref::<crate::card::CardProblem>().is_some()
        || report.downcast_ref::<BadInput>().is_some()
    {
        ErrorClass::Input
    } else {
        ErrorClass::Failed
    }
}

static SETTINGS: std::sync::OnceLock<crate::config::Settings> = std::sync::OnceLock::new();

/// The settings, read from the environment once per process (the settings layer's edge).
pub fn settings() -> &'static crate::config::Settings {
    SETTINGS.get_or_init(crate::config::Settings::from_env)
}

/// Prints an error, its causes and its help, with credentials masked. Causes from uv carry its
/// terminal styling: kept for a person at a terminal, removed for a log or a pipe.
fn report(report: &miette::Report) {
    use std::io::Write;
    let stderr = std::io::stderr();
    let text = format!("{report:?}");
    let text = if std::io::IsTerminal::is_terminal(&stderr) {
        text
    } else {
        crate::message::strip_ansi(&text)
    };
    let _ = writeln!(stderr.lock(), "{}", crate::redact::text(&text));
}

fn init_tracing(verbose: u8) {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    use tracing_subscriber::EnvFilter;
    let level = match verbose {
        // rattler-build's post-processing warns about every system library a package links
        // (overlinking) and every path with a space; useful with -v, noise otherwise.
        0 => "warn,rattler_build_core::post_process=error,rattler_build_core::packaging=error,rattler_build_core::linux=error",
        1 => "info,rattler_index=warn",
        2 => "debug,rattler_index=info",
        _ => "trace",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level));
    let fmt = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(|| RedactingStderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    // Debug output says when each event happened since the start: where the time goes.
    if verbose >= 2 {
        let _ = fmt
            .with_timer(tracing_subscriber::fmt::time::uptime())
            .try_init();
    } else {
        let _ = fmt
            .without_time()
            .finish()
            .with(HandledFallbacks)
            .try_init();
    }
}

/// Drops the engine's log lines that report a failure it then handles itself (shown with -vv).
struct HandledFallbacks;

impl HandledFallbacks {
    /// rattler-build's built-in rpath rewrite logs this as an ERROR when the new rpath is
    /// longer than the old one, then falls back to patchelf, which either succeeds or fails
    /// the build with an error of its own.
    const RPATH_TOO_LONG: (&'static str, &'static str) = (
        "rattler_build_core::linux::link",
        "new value is longer than old value",
    );
}

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for HandledFallbacks {
    fn event_enabled(
        &self,
        event: &tracing::Event<'_>,
        _: tracing_subscriber::layer::Context<'_, S>,
    ) -> bool {
        let (target, message) = Self::RPATH_TOO_LONG;
        if event.metadata().target() != target {
            return true;
        }
        let mut seen = MessageIs(message, false);
        event.record(&mut seen);
        !seen.1
    }
}

/// Whether an event's message is exactly `.0`.
struct MessageIs(&'static str, bool);

impl tracing::field::Visit for MessageIs {
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        if field.name() == "message" {
            self.1 = value == self.0;
        }
    }

    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.1 = format!("{value:?}") == self.0;
        }
    }
}

/// Log output (`-v`) with credentials masked: one tracing event is one write.
struct RedactingStderr;

impl std::io::Write for RedactingStderr {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        std::io::stderr()
            .lock()
            .write_all(crate::redact::text(&text).as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

/// Writes one line to stdout. A closed pipe (`scivision … | head`) is not an error: the reader
/// has what it wanted, so the rest is dropped instead of panicking as `println!` would.
fn write_stdout(text: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{}", crate::redact::text(text));
}

/// Prints a JSON value to stdout (the one place command output is written).
pub(crate) fn print_json(value: &serde_json::Value) {
    write_stdout(&serde_json::to_string_pretty(value).unwrap_or_default());
}

/// Where weight files come from: `--mirror`, else `SCIVISION_WEIGHTS_MIRROR`, else the config
/// file's `weights-mirror` (none: their own URLs).
pub(crate) fn weights_mirror(flag: Option<url::Url>) -> miette::Result<Option<url::Url>> {
    if flag.is_some() {
        return Ok(flag);
    }
    let settings = settings();
    let given = match &settings.weights_mirror {
        Some(m) => Some(m.clone()),
        None => crate::config::ConfigFile::load_from(&settings.config_file)?.weights_mirror,
    };
    given
        .map(|m| {
            url::Url::parse(&m).map_err(|e| {
                bad_input!(
                    help = "give the mirror's base URL, e.g. https://example.org/weights/",
                    "the weights mirror `{m}` is not a URL: {e}"
                )
            })
        })
        .transpose()
}

/// `--platform SUBDIR`, or this machine's platform when not given.
pub(crate) fn target_platform(
    given: Option<&String>,
) -> miette::Result<rattler_conda_types::Subdir> {
    Ok(crate::request::target_platform(given.map(String::as_str))?)
}

/// Prints a warning for a person to stderr (`warning: …`).
pub(crate) fn print_warning(line: &str) {
    use std::io::Write;
    let _ = writeln!(
        std::io::stderr().lock(),
        "warning: {}",
        crate::redact::text(line)
    );
}

/// Prints a line of human output to stdout.
pub(crate) fn print_line(line: &str) {
    write_stdout(line);
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use tracing_subscriber::layer::SubscriberExt;

    use super::HandledFallbacks;

    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn only_the_handled_rpath_fallback_is_dropped() {
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .without_time()
            .with_ansi(false)
            .finish()
            .with(HandledFallbacks);
        tracing::subscriber::with_default(subscriber, || {
            tracing::error!(target: "rattler_build_core::linux::link", "new value is longer than old value");
            tracing::error!(target: "rattler_build_core::linux::link", "patchelf failed: {}", "no space");
            tracing::error!(target: "scivision::build", "new value is longer than old value");
        });
        let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2, "{text}");
        assert!(lines[0].contains("patchelf failed: no space"), "{text}");
        assert!(lines[1].contains("scivision::build"), "{text}");
    }
}
