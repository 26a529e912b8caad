//! `scivision env …` and `scivision check`: each command parses its arguments, calls the
//! library's workflow and presents the outcome (create, lock, pack and unpack, check and solve
//! in their own files).

mod check;
mod create;
mod lock;
mod pack;
mod request;

use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use miette::IntoDiagnostic;

use super::Ui;
use crate::env::Envs;
use crate::system::CudaChoice;

pub use check::{check, solve_cmd, CheckArgs, SolveCmdArgs};
use request::{on_default_channels, request};

/// Flags shared by the commands that solve.
#[derive(Debug, Clone, clap::Args)]
pub struct SolveArgs {
    /// Channels (names, URLs or paths), in priority order; only these when given. Default: the
    /// config file's, else conda-forge and the scivision channel.
    #[arg(long = "channel", short = 'c')]
    channels: Vec<String>,
    /// Python version for the environment (`3.11` means `python 3.11.*`).
    #[arg(long)]
    python: Option<String>,
    /// CUDA driver to solve for: detect it, none, or a version such as 12.4.
    #[arg(long, default_value = "auto", value_parser = clap::value_parser!(CudaChoice))]
    cuda: CudaChoice,
    /// Target platform (conda subdir), e.g. linux-64, osx-arm64.
    #[arg(long)]
    platform: Option<String>,
    /// More conda specs to install beside the model (repeatable), e.g. `--with ipykernel`.
    #[arg(long = "with", value_name = "SPEC")]
    with: Vec<String>,
    /// Leave out `scivision-runner` (then `predict` and the Python client cannot use the env).
    #[arg(long)]
    no_runner: bool,
    /// Use no network: repodata from the cache, packages from the package cache or local channels.
    #[arg(long, env = "SCIVISION_OFFLINE", value_parser = clap::builder::FalseyValueParser::new())]
    offline: bool,
    /// More PyPI requirements (PEP 508, repeatable), resolved against the conda packages, e.g.
    /// `--pypi 'exifread>=3'` or `--pypi 'pkg @ git+https://host/repo@REV'`.
    #[arg(long = "pypi", value_name = "REQUIREMENT")]
    pypi: Vec<String>,
    /// Build this PyPI package without isolation, inside the environment's own prefix, so that
    /// its build imports the conda packages (a CUDA extension against conda's pytorch); its build
    /// requirements must come from the conda half (repeatable, as uv's flag).
    #[arg(long = "no-build-isolation-package", value_name = "NAME")]
    no_build_isolation_package: Vec<String>,
    /// The PyPI index (default: the config file's `[pypi] index-url`, else https://pypi.org/simple).
    #[arg(long, value_name = "URL", env = "SCIVISION_INDEX_URL")]
    index_url: Option<String>,
    /// More PyPI indexes, after the main one (repeatable; space-separated in the variable).
    #[arg(
        long,
        value_name = "URL",
        env = "SCIVISION_EXTRA_INDEX_URL",
        value_delimiter = ' '
    )]
    extra_index_url: Vec<String>,
    /// A folder of wheels and sdists, or a page listing them (pip's --find-links; repeatable;
    /// space-separated in the variable).
    #[arg(
        long,
        short = 'f',
        value_name = "PATH_OR_URL",
        env = "SCIVISION_FIND_LINKS",
        value_delimiter = ' '
    )]
    find_links: Vec<String>,
    /// Use no PyPI index: only --find-links and direct URLs.
    #[arg(long, env = "SCIVISION_NO_INDEX", value_parser = clap::builder::FalseyValueParser::new())]
    no_index: bool,
}

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Create (or bring up to date) the environment of a model.
    #[command(
        after_help = "Examples:\n  scivision env create scivision-demo-edges -c ./channel\n  scivision env create scivision-demo-edges -c ./channel --find-links ./wheels --no-index\n  scivision env create scivision-demo-edges --pypi 'exifread==3.5.1' --index-url https://pypi.org/simple\n  scivision env create 'scivision-demo-gpu[build=cuda*]' --cuda 12.4 --dry-run --json\n  CONDA_OVERRIDE_CUDA= scivision env create scivision-demo-gpu\n\nRe-running when the environment already matches its lock changes nothing."
    )]
    Create(create::Args),
    /// List environments.
    #[command(after_help = "Example:\n  scivision env list --json")]
    List {
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
    /// Remove an environment.
    #[command(after_help = "Example:\n  scivision env remove scivision-demo-edges")]
    Remove {
        /// The environment (model name).
        name: String,
    },
    /// Run a command in a model's activated environment.
    #[command(
        after_help = "Example:\n  scivision env run scivision-demo-edges -- python -c 'import scivision_demo_edges'"
    )]
    Run {
        /// The environment (model name).
        name: String,
        /// The command and its arguments.
        #[arg(last = true, required = true)]
        command: Vec<String>,
    },
    /// Print the activation script of an environment for a shell.
    #[command(
        after_help = "Example:\n  eval \"$(scivision env shell scivision-demo-edges --shell bash)\""
    )]
    Shell {
        /// The environment (model name).
        name: String,
        /// bash, zsh, fish, xonsh, powershell, cmd.exe or nu.
        #[arg(long, default_value = "bash")]
        shell: String,
    },
    /// Export an environment: its lock, an environment.yml, or an explicit spec file.
    #[command(
        after_help = "Examples:\n  scivision env export scivision-demo-edges --format environment-yml > environment.yml\n  scivision env export scivision-demo-edges --format explicit > spec.txt   # conda create --file spec.txt"
    )]
    Export {
        /// The environment (model name).
        name: String,
        /// lock (rattler_lock, readable by pixi), environment-yml, or explicit (`@EXPLICIT` URLs).
        #[arg(long, default_value = "lock", value_parser = ["lock", "environment-yml", "explicit"])]
        format: String,
    },
    /// Write one archive with everything needed to re-create the env on another machine of the
    /// same platform without network: its lock, its request and its packages.
    #[command(
        after_help = "Example:\n  scivision env pack scivision-demo-edges -o edges.scivision-pack\n  # on the air-gapped machine:\n  scivision env unpack edges.scivision-pack"
    )]
    Pack {
        /// The environment (model name).
        name: String,
        /// The archive to write.
        #[arg(long, short = 'o')]
        output: PathBuf,
        /// Also carry the model's weight files (fetch them first: `scivision weights fetch`).
        #[arg(long)]
        weights: bool,
        /// Carry these variants of the variant lock the environment was created from (`all`, or
        /// `cpu,cuda12`): packages they share are stored once, and `env unpack` installs the one
        /// the target host can run.
        #[arg(long, value_name = "LIST")]
        variants: Option<String>,
    },
    /// Create an environment from a pack, with no network (at `$SCIVISION_HOME/envs/NAME`).
    #[command(
        after_help = "Example:\n  scivision env unpack edges.scivision-pack --name edges-copy\n  CONDA_OVERRIDE_CUDA=12.4 scivision env unpack gpu.scivision-pack   # a pack made with --variants"
    )]
    Unpack {
        /// The archive made by `env pack`.
        file: PathBuf,
        /// Name of the new environment (default: the packed model's).
        #[arg(long)]
        name: Option<String>,
        /// Of a pack with several variants: install this one, whatever this host has.
        #[arg(long, value_name = "NAME")]
        variant: Option<String>,
    },
    /// Solve without installing and write a lock, for this or another platform.
    #[command(
        after_help = "Examples:\n  scivision env lock scivision-demo-edges -c ./channel --platform osx-arm64 -o edges-osx.lock\n  scivision env lock scivision-demo-edges -c ./channel   # to stdout\n  scivision env lock scivision-demo-gpu -c ./channel --variants cpu,cuda12 -o gpu.lock\n  # then, on each host: scivision env create scivision-demo-gpu --frozen --lock gpu.lock"
    )]
    Lock {
        /// A catalog name, optionally narrowed as a match spec.
        model: String,
        #[command(flatten)]
        solve: SolveArgs,
        /// Where to write the lock (default: stdout).
        #[arg(long, short = 'o')]
        output: Option<PathBuf>,
        /// Lock one environment per variant, for hosts with and without a GPU: `cpu`, `cuda12`,
        /// ... (default for a model with CUDA builds: cpu and the newest CUDA major they offer).
        /// `--frozen` and `env unpack` then install the variant each host can run.
        #[arg(long, value_name = "LIST")]
        variants: Option<String>,
    },
}

fn spinner(enabled: bool, message: &str) -> Option<indicatif::ProgressBar> {
    enabled.then(|| {
        let bar = indicatif::ProgressBar::new_spinner();
        bar.set_message(message.to_string());
        bar.enable_steady_tick(Duration::from_millis(120));
        bar
    })
}

pub async fn execute(cmd: Command, ui: Ui) -> miette::Result<()> {
    let dirs = crate::cli::settings().dirs.clone();
    let envs = Envs::new(&dirs.home);
    match cmd {
        Command::Create(args) => create::run(&envs, &dirs, ui, args).await,
        Command::List { json } => list(&envs, json),
        Command::Remove { name } => remove(&envs, &name).await,
        Command::Run { name, command } => run(&envs, &dirs, &name, &command),
        Command::Shell { name, shell } => {
            let shell_enum = rattler_shell::shell::ShellEnum::from_str(&shell).map_err(|_| {
                crate::cli::bad_input!(
                    help = "one of bash, zsh, fish, xonsh, powershell, cmd.exe, nu",
                    "unknown shell `{shell}`"
                )
            })?;
            super::print_line(&envs.activation_script(&name, shell_enum)?);
            Ok(())
        }
        Command::Export { name, format } => export(&envs, &name, &format),
        Command::Pack {
            name,
            output,
            weights,
            variants,
        } => {
            let options = crate::pack::PackOptions {
                name,
                output,
                weights,
                variants,
            };
            pack::pack(&envs, &dirs, options).await
        }
        Command::Unpack {
            file,
            name,
            variant,
        } => {
            let options = crate::pack::UnpackOptions {
                file,
                name,
                variant,
            };
            pack::unpack(&envs, ui, options).await
        }
        Command::Lock {
            model,
            solve,
            output,
            variants,
        } => lock::run(&envs, &dirs, ui, (&model, &solve), output, variants).await,
    }
}

/// `env list`.
fn list(envs: &Envs, json: bool) -> miette::Result<()> {
    let list = envs.list()?;
    if json {
        let items: Vec<_> = list
            .iter()
            .map(|(n, p, i)| serde_json::json!({"name": n, "prefix": p, "info": i}))
            .collect();
        super::print_json(&serde_json::Value::Array(items));
    } else {
        for (n, p, i) in &list {
            let specs = i.as_ref().map(|i| i.specs.join(" ")).unwrap_or_default();
            super::print_line(&format!("{n:<32} {specs:<40} {}", p.display()));
        }
    }
    Ok(())
}

/// `env remove`: the environment, and its Jupyter kernel if it has one.
async fn remove(envs: &Envs, name: &str) -> miette::Result<()> {
    let removed = envs.remove(name).await?;
    super::print_line(&format!("removed {}", removed.display()));
    let kernels = &super::settings().kernels;
    if kernels
        .remove(&crate::env::dir_name(name))
        .into_diagnostic()?
    {
        super::print_line(&format!(
            "removed its Jupyter kernel {}",
            kernels.spec_dir(&crate::env::dir_name(name)).display()
        ));
    }
    Ok(())
}

/// `env run`: the command in the activated environment; its exit code is ours.
fn run(
    envs: &Envs,
    dirs: &crate::config::Dirs,
    name: &str,
    command: &[String],
) -> miette::Result<()> {
    let weights = crate::weights::Weights::new(&dirs.home).cache_env();
    let mut cmd = envs
        .command(name, command, weights)?
        .ok_or_else(|| crate::cli::bad_input!("no command given"))?;
    let status = cmd
        .status()
        .map_err(|e| miette::miette!(help = "is the program installed in the environment? `scivision env run NAME -- ls $CONDA_PREFIX/bin`", "cannot run `{}`: {e}", command[0]))?;
    if !status.success() {
        // The command's own exit code is what a script wants to see.
        return Err(super::Exit(status.code().unwrap_or(1)).into());
    }
    Ok(())
}

/// `env export`: the lock, an environment.yml, or an explicit spec file.
fn export(envs: &Envs, name: &str, format: &str) -> miette::Result<()> {
    super::print_line(envs.export(name, format)?.trim_end());
    Ok(())
}
