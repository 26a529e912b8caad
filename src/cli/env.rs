//! `scivision env …` and `scivision check`.

use std::path::PathBuf;
use std::time::Duration;

use miette::IntoDiagnostic;
use rattler_conda_types::{MatchSpec, ParseStrictness, Subdir};

use super::Ui;
use crate::catalog::Catalog;
use crate::config::{ConfigFile, Dirs};
use crate::env::{CreateStatus, Envs, Request};
use crate::system::{self, CudaChoice};

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
    Create {
        /// A catalog name, optionally narrowed as a match spec (`NAME==1.0`, `NAME[build=cuda*]`).
        model: String,
        #[command(flatten)]
        solve: SolveArgs,
        /// Solve and show what would be installed, change nothing.
        #[arg(long)]
        dry_run: bool,
        /// Also install ipykernel and register a Jupyter kernel for the env (removed by `env remove`).
        #[arg(long)]
        kernel: bool,
        /// Install exactly the lock (the env's own, or --lock FILE) without solving.
        #[arg(long, conflicts_with = "locked")]
        frozen: bool,
        /// Fail if the solve no longer matches the env's lock.
        #[arg(long)]
        locked: bool,
        /// The lock to install with --frozen (default: the environment's own).
        #[arg(long, requires = "frozen", value_name = "FILE")]
        lock: Option<PathBuf>,
        /// Also fetch the model's weight files (as `scivision weights fetch`).
        #[arg(long)]
        weights: bool,
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
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
    },
    /// Create an environment from a pack, with no network (at `$SCIVISION_HOME/envs/NAME`).
    #[command(
        after_help = "Example:\n  scivision env unpack edges.scivision-pack --name edges-copy"
    )]
    Unpack {
        /// The archive made by `env pack`.
        file: PathBuf,
        /// Name of the new environment (default: the packed model's).
        #[arg(long)]
        name: Option<String>,
    },
    /// Solve without installing and write a lock, for this or another platform.
    #[command(
        after_help = "Examples:\n  scivision env lock scivision-demo-edges -c ./channel --platform osx-arm64 -o edges-osx.lock\n  scivision env lock scivision-demo-edges -c ./channel   # to stdout"
    )]
    Lock {
        /// A catalog name, optionally narrowed as a match spec.
        model: String,
        #[command(flatten)]
        solve: SolveArgs,
        /// Where to write the lock (default: stdout).
        #[arg(long, short = 'o')]
        output: Option<PathBuf>,
    },
}

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

async fn request(model: &str, args: &SolveArgs) -> miette::Result<Request> {
    let mut catalog = Catalog::load()?;
    let config = ConfigFile::load()?;
    let channel_strings = if args.channels.is_empty() {
        crate::config::default_channels(&config)
    } else {
        args.channels.clone()
    };
    let cwd = std::env::current_dir().into_diagnostic()?;
    let channels = crate::solve::parse_channels(&channel_strings, cwd)?;
    let mapping = pypi_mapping(&config, &channels, args.offline).await?;
    // A model a channel publishes installs from its package: conda alone.
    catalog.use_published(
        &crate::channel::published_in(&channels, |url| mapping.applies_to(url), args.offline).await,
    );
    let spec = catalog.resolve(model)?;
    if let (Some(card), None) = (&spec.model.card, &spec.model.published_by) {
        // Checked before anything is solved or written: uv clones git sources with the git CLI.
        if let Some(tool) = card.missing_host_tools().first() {
            return Err(miette::miette!(
                help = "install it with the system's package manager (apt-get install git, brew install git), or use a channel that publishes the model as a package, then run the command again",
                "`{}` installs from a git repository, which needs `{tool}` on PATH, and there is none",
                spec.model.name
            ));
        }
    }
    let platform = super::target_platform(args.platform.as_ref())?;
    let mut specs = spec.conda;
    if let Some(py) = &args.python {
        let text = if py.chars().all(|c| c.is_ascii_digit() || c == '.') {
            format!("python {py}.*")
        } else {
            format!("python {py}")
        };
        specs.push(
            crate::solve::match_spec(&text, ParseStrictness::Lenient).map_err(|e| {
                miette::miette!(help = "give a version such as 3.11", "--python `{py}`: {e}")
            })?,
        );
    }
    for extra in &args.with {
        specs.push(
            crate::solve::match_spec(extra, ParseStrictness::Lenient).map_err(|e| {
                miette::miette!(
                    help = "match specs look like `numpy >=1.26,<2`",
                    "--with `{extra}`: {e}"
                )
            })?,
        );
    }
    if !args.no_runner {
        // The runner lets `predict` and the Python client talk to the model in its prefix.
        specs.push(
            MatchSpec::from_str("scivision-runner", ParseStrictness::Lenient).into_diagnostic()?,
        );
    }
    // A card whose code runs on the CPU only gets CPU builds, unless --cuda says otherwise.
    let cuda = match &args.cuda {
        CudaChoice::Auto if spec.model.cpu_only => CudaChoice::None,
        other => other.clone(),
    };
    let virtual_packages = system::virtual_packages(platform, &cuda)?;
    let mut pypi = spec.pypi;
    for text in &args.pypi {
        pypi.push(crate::pypi::PypiRequirement::parse(text, "--pypi")?);
    }
    let index = crate::pypi::IndexOptions {
        index_url: args.index_url.clone(),
        extra_index_url: args.extra_index_url.clone(),
        find_links: args.find_links.clone(),
        no_index: args.no_index,
    }
    .over(&config.pypi.clone().unwrap_or_default());
    Ok(Request {
        entry: spec.model.entry.clone(),
        weights: spec
            .model
            .card
            .as_ref()
            .map(|c| c.weights.clone())
            .unwrap_or_default(),
        model: spec.model.name,
        specs,
        platform,
        virtual_packages,
        offline: args.offline.then(|| Dirs::from_env().packages),
        pypi,
        index,
        pypi_overrides: spec.model.pypi_overrides.clone(),
        mapping,
        package: spec.model.conda_package.clone(),
        published_by: spec.model.published_by.clone(),
        channels,
    })
}

/// The conda → PyPI mapping for this command: conda-forge's (from `SCIVISION_CONDA_PYPI_MAPPING`
/// or the config's `conda-pypi-mapping`: a URL refreshed into the cache, a file, or `embedded`;
/// by default the public parselmouth file, refreshed when online), applied to conda-forge and to
/// the config's `conda-forge-mirrors`.
async fn pypi_mapping(
    config: &ConfigFile,
    channels: &[rattler_conda_types::Channel],
    offline: bool,
) -> miette::Result<crate::mapping::PypiMapping> {
    use crate::mapping::{
        MappingError, MappingLocation, NameMap, PypiMapping, CONDA_FORGE_MAPPING_URL,
    };
    // Paths in the config file are relative to its folder.
    let config_path = ConfigFile::path();
    let config_dir = config_path
        .parent()
        .map_or_else(|| PathBuf::from("."), std::path::Path::to_path_buf);
    let mirrors: Vec<url::Url> = crate::solve::parse_channels(
        config.conda_forge_mirrors.as_deref().unwrap_or_default(),
        config_dir.clone(),
    )
    .map_err(|e| {
        miette::miette!(
            help = "conda-forge-mirrors lists channels (URLs or paths) that mirror conda-forge",
            "conda-forge-mirrors in {}: {e}",
            config_path.display()
        )
    })?
    .iter()
    .filter_map(|c| url::Url::parse(c.base_url.as_str()).ok())
    .collect();
    // Only records of conda-forge and its mirrors are named by the map: without such a channel
    // there is nothing to load or refresh.
    let probe = PypiMapping::new(NameMap::embedded(), mirrors.clone());
    if !channels
        .iter()
        .any(|c| probe.applies_to(c.base_url.as_str()))
    {
        return Ok(probe);
    }
    let (location, field, base) = match std::env::var("SCIVISION_CONDA_PYPI_MAPPING") {
        Ok(v) if !v.is_empty() => (
            v,
            "SCIVISION_CONDA_PYPI_MAPPING".to_string(),
            PathBuf::from("."),
        ),
        _ => (
            config
                .conda_pypi_mapping
                .clone()
                .unwrap_or_else(|| CONDA_FORGE_MAPPING_URL.to_string()),
            format!("conda-pypi-mapping in {}", config_path.display()),
            config_dir,
        ),
    };
    let help =
        "give the URL of a parselmouth-style mapping (https://…), a JSON file, or `embedded`";
    let parsed = MappingLocation::parse(&location, &base)
        .map_err(|e| miette::miette!(help = help, "{field} `{location}`: {e}"))?;
    let cache_dir = Dirs::from_env().cache.join("conda-pypi-mapping");
    let map = crate::mapping::load(&parsed, &cache_dir, offline)
        .await
        .map_err(|e| match e {
            MappingError::Unreadable(e) => {
                miette::miette!(help = help, "{field} `{location}`: {e}")
            }
            MappingError::NotAMapping(e) => miette::miette!(
                help = "the file maps conda names to lists of PyPI names: {\"pytorch\": [\"torch\"], \"libzlib\": null}",
                "{field} `{location}` is not a conda → PyPI mapping: {e}"
            ),
        })?;
    Ok(PypiMapping::new(map, mirrors))
}

use std::str::FromStr;

/// A repodata failure of a default channel (no `-c` given: conda-forge, most often, on a machine
/// that cannot reach it) says which channel failed and how to name the local one instead.
fn on_default_channels(e: crate::env::EnvError, args: &SolveArgs) -> miette::Report {
    use crate::env::EnvError;
    use crate::solve::SolveError;
    match e {
        EnvError::Solve(SolveError::Gateway {
            channel: Some(channel),
            reason,
            ..
        }) if args.channels.is_empty() => {
            let defaults = ConfigFile::load()
                .map(|c| crate::config::default_channels(&c))
                .unwrap_or_default();
            miette::miette!(
                help = format!(
                    "without -c, scivision uses its default channels ({}); to work from the channel built from recipes/ alone, name it: `-c ./channel` (or set `channels = [\"/path/to/channel\"]` in {}); `--offline` uses what is cached",
                    defaults.join(", "),
                    ConfigFile::path().display()
                ),
                "cannot read the repodata of the default channel {channel}: {reason}"
            )
        }
        other => other.into(),
    }
}

/// The records as `--json` lists them, each with the PyPI names it provides and what named them.
fn records_json(
    records: &[rattler_conda_types::RepoDataRecord],
    mapping: &crate::mapping::PypiMapping,
) -> serde_json::Value {
    serde_json::Value::Array(
        crate::lock::sorted(records)
            .iter()
            .map(|r| {
                let provided = mapping.provides(r);
                serde_json::json!({
                    "name": r.package_record.name.as_normalized(),
                    "version": r.package_record.version.to_string(),
                    "build": r.package_record.build,
                    "subdir": r.package_record.subdir,
                    "channel": r.channel,
                    "url": r.url.to_string(),
                    "pypi": (!provided.names.is_empty()).then_some(&provided),
                })
            })
            .collect(),
    )
}

/// `env create`'s outcome, as JSON or for a person.
/// How the model reached the prefix: its conda package (from which channel, where a channel
/// publishes the catalog model), or its card's source (git or URL, with the PyPI half).
fn install_path(request: &Request) -> (serde_json::Value, String) {
    match (&request.package, &request.published_by) {
        (Some(p), Some(ch)) => (
            serde_json::json!({"from": "package", "package": p, "channel": ch}),
            format!("from its package {p} ({ch})"),
        ),
        (Some(p), None) => (
            serde_json::json!({"from": "package", "package": p, "channel": null}),
            format!("from its package {p}"),
        ),
        (None, _) => (
            serde_json::json!({"from": "card", "package": null, "channel": null}),
            "from its card's source".to_string(),
        ),
    }
}

fn print_created(request: &Request, outcome: &crate::env::CreateOutcome, json: bool) {
    let records = &outcome.records;
    let (path, path_text) = install_path(request);
    if json {
        super::print_json(&serde_json::json!({
            "model": request.model,
            "installed": path,
            "prefix": outcome.prefix,
            "kernel_spec": outcome.kernel_spec,
            "platform": request.platform.to_string(),
            "dry_run": outcome.status.is_none(),
            "status": outcome.status,
            "virtual_packages": system::describe(&request.virtual_packages),
            "packages": records_json(records, &request.mapping),
            "pypi": outcome.pypi,
            "deprecated": outcome.deprecated,
            "weights": outcome.weights,
            "seconds": outcome.seconds,
        }));
        return;
    }
    match &outcome.status {
        None => {
            print_records(records);
            for p in &outcome.pypi.packages {
                super::print_line(&format!("  {p:<43} (PyPI)"));
            }
            super::print_line(&format!(
                "dry run: {} packages for {} ({}, {path_text}); nothing installed",
                records.len(),
                request.model,
                request.platform
            ));
        }
        Some(CreateStatus::UpToDate) => super::print_line(&format!(
            "{} is up to date ({}), nothing to do",
            request.model,
            outcome.prefix.display()
        )),
        Some(s) => super::print_line(&format!(
            "{} {} {path_text} with {} packages{} in {:.1}s: {}",
            if *s == CreateStatus::Created {
                "created"
            } else {
                "updated"
            },
            request.model,
            records.len(),
            if outcome.pypi.packages.is_empty() {
                String::new()
            } else {
                format!(" and {} from PyPI", outcome.pypi.packages.len())
            },
            outcome.seconds,
            outcome.prefix.display()
        )),
    }
    if !outcome.weights.is_empty() {
        super::print_line(&format!(
            "{} weight files in place under {}",
            outcome.weights.len(),
            crate::weights::Weights::new(&Dirs::from_env().home)
                .root()
                .display()
        ));
    }
    if let Some(spec) = &outcome.kernel_spec {
        super::print_line(&format!(
            "Jupyter kernel \"Python (scivision: {})\": {}",
            request.model,
            spec.display()
        ));
    }
}

/// A create's progress: a spinner while solving, rattler's bars while installing.
struct Progress {
    enabled: bool,
    spinner: std::sync::Mutex<Option<indicatif::ProgressBar>>,
    downloads: super::reporter::DownloadBar,
}

impl Progress {
    fn new(enabled: bool) -> Self {
        Self {
            enabled,
            spinner: std::sync::Mutex::new(None),
            downloads: super::reporter::DownloadBar::new(enabled),
        }
    }
}

/// How `--weights` fetches: the config file's mirror, no network when offline.
fn weight_options(offline: bool) -> miette::Result<crate::weights::FetchOptions> {
    let mirror = std::env::var("SCIVISION_WEIGHTS_MIRROR")
        .ok()
        .filter(|m| !m.is_empty())
        .or(ConfigFile::load()?.weights_mirror)
        .map(|m| url::Url::parse(&m))
        .transpose()
        .into_diagnostic()?;
    Ok(crate::weights::FetchOptions { mirror, offline })
}

impl crate::env::CreateReporter for Progress {
    fn solving(&self) {
        if let Ok(mut s) = self.spinner.lock() {
            *s = spinner(self.enabled, "solving");
        }
    }

    fn solved(&self) {
        if let Some(bar) = self.spinner.lock().ok().and_then(|mut s| s.take()) {
            bar.finish_and_clear();
        }
    }

    fn installer(&self, installer: rattler::install::Installer) -> rattler::install::Installer {
        install_progress(self.enabled)(installer)
    }

    fn weights(&self) -> &dyn crate::weights::FetchReporter {
        &self.downloads
    }
}

/// rattler's per-phase progress bars on the installer, when progress is shown.
fn install_progress(
    progress: bool,
) -> impl FnOnce(rattler::install::Installer) -> rattler::install::Installer {
    move |installer| {
        if progress {
            installer.with_reporter(
                rattler::install::IndicatifReporter::builder()
                    .clear_when_done(true)
                    .finish(),
            )
        } else {
            installer
        }
    }
}

/// One line per record, sorted by name.
fn print_records(records: &[rattler_conda_types::RepoDataRecord]) {
    for r in crate::lock::sorted(records) {
        super::print_line(&format!(
            "  {:<28} {:<14} {}",
            r.package_record.name.as_normalized(),
            r.package_record.version,
            r.package_record.build
        ));
    }
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
    let dirs = Dirs::from_env();
    let envs = Envs::new(&dirs.home);
    match cmd {
        Command::Create {
            model,
            solve,
            dry_run,
            kernel,
            frozen,
            locked,
            lock,
            weights,
            json,
        } => {
            let mut request = request(&model, &solve).await?;
            if kernel {
                request.specs.push(
                    MatchSpec::from_str("ipykernel", ParseStrictness::Lenient).into_diagnostic()?,
                );
            }
            let options = crate::env::CreateOptions {
                dry_run,
                kernel,
                frozen: frozen.then_some(lock),
                locked,
                weights: weights.then(|| weight_options(solve.offline)).transpose()?,
            };
            let create_dirs = crate::env::CreateDirs {
                packages: dirs.packages.clone(),
                cache: dirs.cache.clone(),
                home: dirs.home.clone(),
            };
            let reporter = Progress::new(ui.progress && !json);
            let outcome = crate::env::create(&envs, &request, &options, &create_dirs, &reporter)
                .await
                .map_err(|e| on_default_channels(e, &solve))?;
            for d in &outcome.deprecated {
                super::print_warning(&format!(
                    "{} {} is deprecated: {}",
                    d.name,
                    d.version,
                    d.reason.as_deref().unwrap_or("its channel gives no reason")
                ));
            }
            print_created(&request, &outcome, json);
        }
        Command::List { json } => {
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
        }
        Command::Remove { name } => {
            let removed = envs.remove(&name).await?;
            super::print_line(&format!("removed {}", removed.display()));
            if crate::kernel::remove(&crate::env::dir_name(&name)).into_diagnostic()? {
                super::print_line(&format!(
                    "removed its Jupyter kernel {}",
                    crate::kernel::spec_dir(&crate::env::dir_name(&name)).display()
                ));
            }
        }
        Command::Run { name, command } => {
            let vars = envs.activation_env(&name)?;
            let (program, args) = command
                .split_first()
                .ok_or_else(|| miette::miette!("no command given"))?;
            let status = std::process::Command::new(program)
                .args(args)
                .envs(vars)
                .envs(crate::weights::Weights::new(&dirs.home).cache_env())
                .status()
                .map_err(|e| miette::miette!(help = "is the program installed in the environment? `scivision env run NAME -- ls $CONDA_PREFIX/bin`", "cannot run `{program}`: {e}"))?;
            if !status.success() {
                // The command's own exit code is what a script wants to see.
                return Err(super::Exit(status.code().unwrap_or(1)).into());
            }
        }
        Command::Shell { name, shell } => {
            let shell_enum = rattler_shell::shell::ShellEnum::from_str(&shell).map_err(|_| {
                miette::miette!(
                    help = "one of bash, zsh, fish, xonsh, powershell, cmd.exe, nu",
                    "unknown shell `{shell}`"
                )
            })?;
            super::print_line(&envs.activation_script(&name, shell_enum)?);
        }
        Command::Export { name, format } => {
            let prefix = envs.existing(&name)?;
            let lock_path = prefix.join(crate::env::LOCK_FILE);
            let platform = Subdir::current().unwrap_or(Subdir::Linux64);
            let records = crate::lock::read_records(&lock_path, platform)?;
            let text = match format.as_str() {
                "lock" => fs_err::read_to_string(&lock_path).into_diagnostic()?,
                "explicit" => crate::lock::explicit(&records, platform),
                _ => crate::lock::environment_yml(&name, &records),
            };
            super::print_line(text.trim_end());
        }
        Command::Pack {
            name,
            output,
            weights,
        } => {
            let prefix = envs.existing(&name)?;
            let platform = Subdir::current().unwrap_or(Subdir::Linux64);
            let crate::lock::Locked { records, pypi } =
                crate::lock::read(&prefix.join(crate::env::LOCK_FILE), platform)?;
            let downloads = tempfile::tempdir().into_diagnostic()?;
            let wheels =
                crate::pack::wheel_files(&pypi.packages, downloads.path(), &crate::http::client())
                    .await?;
            let store = crate::weights::Weights::new(&dirs.home);
            let weight_files = if weights {
                let files = Envs::info_at(&prefix)
                    .map(|i| i.weights)
                    .unwrap_or_default();
                store.present(&name, &files)?
            } else {
                Vec::new()
            };
            let bytes = crate::pack::pack(
                &prefix,
                &records,
                &dirs.packages,
                &wheels,
                (store.root(), &weight_files),
                &output,
            )?;
            super::print_line(&format!(
                "packed {name} ({} packages{}{}, {:.1} MB) into {}",
                records.len(),
                if wheels.is_empty() {
                    String::new()
                } else {
                    format!(" and {} PyPI wheels", wheels.len())
                },
                if weight_files.is_empty() {
                    String::new()
                } else {
                    format!(" and {} weight files", weight_files.len())
                },
                bytes as f64 / 1e6,
                output.display()
            ));
        }
        Command::Unpack { file, name } => {
            let started = std::time::Instant::now();
            // Wheels go beside the other caches, so that a later --frozen or --offline create finds
            // them too.
            let wheel_dir = dirs.cache.join("wheels");
            let store = crate::weights::Weights::new(&dirs.home);
            let unpacked = crate::pack::unpack(
                &file,
                &dirs.packages,
                &wheel_dir,
                (store.root(), name.as_deref()),
            )?;
            let platform = Subdir::current().unwrap_or(Subdir::Linux64);
            if unpacked.info.platform != platform.as_str() {
                return Err(miette::miette!(help = "unpack it on a machine of that platform, or lock for this one with `scivision env lock --platform`", "the pack is for {}, this machine is {platform}", unpacked.info.platform));
            }
            let crate::lock::Locked { records, pypi } = unpacked.locked(platform)?;
            let cwd = std::env::current_dir().into_diagnostic()?;
            let request = Request {
                model: name.unwrap_or_else(|| unpacked.info.model.clone()),
                specs: crate::solve::parse_specs(&unpacked.info.specs)?,
                channels: crate::solve::parse_channels(&unpacked.info.channels, cwd)?,
                platform,
                virtual_packages: system::virtual_packages(platform, &CudaChoice::Auto)?,
                // Everything comes from the pack: no network at all.
                offline: Some(dirs.packages.clone()),
                pypi: Vec::new(),
                index: crate::pypi::IndexOptions::default(),
                entry: unpacked.info.model_entry.clone(),
                weights: unpacked.info.weights.clone(),
                pypi_overrides: Vec::new(),
                mapping: crate::mapping::PypiMapping::default(),
                package: None,
                published_by: None,
            };
            let _guard = envs.lock(&request.model).await?;
            let solution = crate::env::Solution {
                records,
                pypi: Some(pypi),
            };
            let progress = ui.progress;
            envs.install(
                &request,
                &solution,
                &dirs.packages,
                install_progress(progress),
            )
            .await?;
            // Files upstream pins no hash for keep the one they were packed with.
            store.adopt(&request.model, &request.weights)?;
            super::print_line(&format!(
                "unpacked {} ({} packages{}) in {:.1}s: {}",
                request.model,
                solution.records.len(),
                if unpacked.weights.is_empty() {
                    String::new()
                } else {
                    format!(", {} weight files", unpacked.weights.len())
                },
                started.elapsed().as_secs_f64(),
                envs.prefix(&request.model).display()
            ));
        }
        Command::Lock {
            model,
            solve,
            output,
        } => {
            let request = request(&model, &solve).await?;
            let bar = spinner(ui.progress, "solving");
            let solution = envs.solve(&request).await;
            if let Some(b) = bar {
                b.finish_and_clear();
            }
            let solution = solution.map_err(|e| on_default_channels(e, &solve))?;
            let pypi = envs
                .resolve_pypi(&request, &solution, &dirs.packages, &dirs.cache)
                .await?;
            let target = output.clone().unwrap_or_else(|| PathBuf::from("-"));
            let lock = crate::lock::build(
                &request.channels,
                request.platform,
                &request.virtual_packages,
                &solution.records,
                &pypi,
                &target,
            )?;
            match output {
                Some(path) => {
                    crate::lock::write(&lock, &path)?;
                    super::print_line(&format!(
                        "locked {} packages for {} on {}: {}",
                        solution.records.len(),
                        request.model,
                        request.platform,
                        path.display()
                    ));
                }
                None => super::print_line(lock.render_to_string().into_diagnostic()?.trim_end()),
            }
        }
    }
    Ok(())
}

pub async fn check(args: CheckArgs, ui: Ui) -> miette::Result<()> {
    let dirs = Dirs::from_env();
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
    match result {
        Ok(solution) => {
            if args.json {
                super::print_json(
                    &serde_json::json!({"model": request.model, "runs_here": true, "platform": request.platform.to_string(), "virtual_packages": system::describe(&request.virtual_packages), "packages": solution.records.len(), "unmet": []}),
                );
            } else {
                super::print_line(&format!(
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
            super::print_json(
                &serde_json::json!({"model": request.model, "runs_here": false, "platform": request.platform.to_string(), "virtual_packages": system::describe(&request.virtual_packages), "unmet": unmet, "explanation": explanation, "host": host}),
            );
            Err(super::Exit(i32::from(super::EXIT_FAILURE)).into())
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
    let platform = super::target_platform(args.platform.as_ref())?;
    let request = Request {
        model: args.specs.join(" "),
        specs,
        channels,
        platform,
        virtual_packages: system::virtual_packages(platform, &args.cuda)?,
        offline: None,
        pypi: Vec::new(),
        index: crate::pypi::IndexOptions::default(),
        entry: None,
        weights: Vec::new(),
        pypi_overrides: Vec::new(),
        mapping: crate::mapping::PypiMapping::default(),
        package: None,
        published_by: None,
    };
    let started = std::time::Instant::now();
    let envs = Envs::new(&Dirs::from_env().home);
    let solution = envs.solve(&request).await?;
    let seconds = started.elapsed().as_secs_f64();
    if args.json {
        super::print_json(
            &serde_json::json!({"seconds": seconds, "packages": records_json(&solution.records, &request.mapping)}),
        );
    } else {
        print_records(&solution.records);
        super::print_line(&format!(
            "{} packages, solved in {seconds:.3}s",
            solution.records.len()
        ));
    }
    Ok(())
}
