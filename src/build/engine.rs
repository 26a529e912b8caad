//! rattler-build's engine, driven by scivision.
//!
//! Rendering (variants, `-m` variant configs, selectors, multiple outputs, pins), sources,
//! dependency resolution with run exports, the script runner, packaging (prefix detection,
//! `.pyc`, noarch layouts) and the recipes' tests are rattler-build's own code
//! (`rattler_build_core`), so a recipe means the same to `scivision build` as to
//! `rattler-build build`. This module only translates scivision's settings into the engine's
//! types and its reports into [`BuildError`]s; what scivision adds on top (build order, build
//! cache, atomic placement, retiring old outputs) lives in `builder.rs`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rattler_build_core::metadata::PlatformWithVirtualPackages;
use rattler_build_core::package_test::{self, TestConfiguration};
use rattler_build_core::render::resolved_dependencies::{
    FinalizedDependencies, RunExportsDownload,
};
use rattler_build_core::system_tools::SystemTools;
use rattler_build_core::tool_configuration::{Configuration, SkipExisting, TestStrategy};
use rattler_build_core::types::{
    BuildConfiguration, BuildSummary, Directories, Output, PackageIdentifier, PackagingSettings,
};
use rattler_build_core::{RenderConfig, Variable};
use rattler_build_recipe::source_code::Source;
use rattler_build_recipe::stage1::HashInfo;
use rattler_build_recipe::variant_render::RenderedVariant;
use rattler_build_types::NormalizedKey;
use rattler_build_variant_config::VariantConfig;
use rattler_conda_types::compression_level::CompressionLevel;
use rattler_conda_types::package::CondaArchiveType;
use rattler_conda_types::{ChannelUrl, PackageName, Subdir};
use rattler_solve::{ChannelPriority, SolveStrategy};
use rattler_virtual_packages::VirtualPackageOverrides;

use super::BuildError;

/// The files next to a recipe that rattler-build reads variants from, in its order.
const VARIANT_FILES: [&str; 2] = ["variants.yaml", "conda_build_config.yaml"];

/// What the engine needs to know, resolved once by the caller.
#[derive(Debug, Clone)]
pub struct EngineSettings {
    /// rattler-build's output directory: its source cache, build folders and freshly built
    /// packages live here until scivision moves them into the channel.
    pub staging_dir: PathBuf,
    /// Channels for build, host and test environments, the output channel first.
    pub channels: Vec<ChannelUrl>,
    /// The subdir to build for.
    pub target_platform: Subdir,
    /// Variant config files (`-m`), applied after a recipe's own `variants.yaml`.
    pub variant_configs: Vec<PathBuf>,
    /// Root of rattler's caches (its `pkgs/` and repodata cache).
    pub rattler_cache_dir: PathBuf,
    /// The packages' timestamp, fixed so that the same inputs give the same bytes.
    pub timestamp: jiff::Timestamp,
    /// Keep build folders after a build.
    pub keep_work: bool,
    /// Virtual packages of this machine (with `CONDA_OVERRIDE_*` applied by the caller).
    pub virtual_packages: VirtualPackageOverrides,
    /// Run build scripts through `rattler-sandbox` ([`super::sandbox`]).
    pub sandbox: bool,
    /// rattler-build's experimental recipe features (`build.steps`, …), as its
    /// `--experimental`.
    pub experimental: bool,
}

/// The engine: a tool configuration shared by every recipe of one `scivision build`.
pub struct Engine {
    settings: EngineSettings,
    tool: Configuration,
    platform: PlatformWithVirtualPackages,
}

impl Engine {
    /// An engine whose downloads go through `client` (scivision's retrying client).
    pub fn new(
        settings: EngineSettings,
        client: reqwest_middleware::ClientWithMiddleware,
    ) -> Result<Self, BuildError> {
        let platform = PlatformWithVirtualPackages::detect_for_platform(
            Subdir::current().unwrap_or(Subdir::Linux64),
            &settings.virtual_packages,
        )
        .map_err(|e| BuildError::Engine {
            what: "detect this machine's virtual packages".into(),
            source: EngineReport(miette::Report::msg(e.to_string())),
        })?;
        let tool = Configuration::builder()
            .with_cache_dir(settings.rattler_cache_dir.clone())
            .with_reqwest_client(rattler_build_networking::BaseClient::new_from_clients(
                client.clone(),
                client,
                None,
            ))
            .with_keep_build(settings.keep_work)
            .with_test_strategy(TestStrategy::Native)
            .with_skip_existing(SkipExisting::None)
            .with_channel_priority(ChannelPriority::Strict)
            .with_zstd_repodata_enabled(true)
            .with_bz2_repodata_enabled(true)
            .with_sharded_repodata_enabled(true)
            .finish();
        Ok(Self {
            settings,
            tool,
            platform,
        })
    }

    /// The recipe's outputs for every variant, as rattler-build renders them (skipped ones
    /// left out).
    pub fn render(&self, recipe_file: &Path) -> Result<Vec<Output>, BuildError> {
        let text = fs_err::read_to_string(recipe_file).map_err(BuildError::io(recipe_file))?;
        let target = self.settings.target_platform;
        let (rendered, recipe_name) = render_variants(
            recipe_file,
            text,
            target,
            self.platform.platform,
            &self.settings.variant_configs,
            self.settings.experimental,
        )?;
        let subpackages = subpackages_of(&rendered);
        // One detection for all outputs (it reads the machine, or the overrides, again).
        let host_platform = self.platform_for(target)?;
        let mut outputs = Vec::new();
        for r in rendered {
            if r.recipe.build().skip {
                continue;
            }
            outputs.push(self.output(
                recipe_file,
                r,
                recipe_name.as_deref(),
                &host_platform,
                &subpackages,
            )?);
        }
        Ok(outputs)
    }

    /// The engine's output for one rendered variant. `recipe_name` names the build folder of
    /// outputs that inherit from a staging output.
    fn output(
        &self,
        recipe_file: &Path,
        rendered: RenderedVariant,
        recipe_name: Option<&str>,
        host_platform: &PlatformWithVirtualPackages,
        subpackages: &BTreeMap<PackageName, PackageIdentifier>,
    ) -> Result<Output, BuildError> {
        let recipe = rendered.recipe;
        let Some(hash) = rendered.hash_info else {
            return Err(BuildError::Engine {
                what: format!("render {}", recipe_file.display()),
                source: EngineReport(miette::miette!(
                    "rattler-build gave no hash for a rendered variant"
                )),
            });
        };
        let name = recipe.package().name().as_normalized().to_string();
        // Outputs that inherit from a staging output share its build folder.
        let build_name = if recipe.inherits_from.is_some() {
            recipe_name.map_or_else(|| name.clone(), str::to_string)
        } else {
            name
        };
        let target_platform = if recipe.build().noarch.is_some() {
            Subdir::NoArch
        } else {
            self.settings.target_platform
        };
        // Each build name has its own engine output folder, where the engine leaves the package
        // it built; shared between builds, one could list another's package just before the
        // builder moved it away. Builds of one name take turns (the builder's folder lock), and
        // `resolve` solves without it.
        let output_dir = self.settings.staging_dir.join("out").join(&build_name);
        let directories = Directories::builder(
            &build_name,
            recipe_file,
            &output_dir,
            &self.settings.timestamp,
            self.platform.platform,
        )
        .merge_build_and_host(recipe.build().merge_build_and_host_envs)
        .skip_directory_creation(true)
        .build()
        .map_err(BuildError::io(&output_dir))?;
        Ok(Output {
            build_configuration: self.configuration(
                target_platform,
                host_platform.clone(),
                hash,
                rendered.variant,
                directories,
                subpackages.clone(),
            ),
            recipe,
            finalized_dependencies: None,
            finalized_sources: None,
            finalized_cache_dependencies: None,
            finalized_cache_sources: None,
            staging_library_name_map: None,
            system_tools: SystemTools::new("scivision", env!("CARGO_PKG_VERSION")),
            build_summary: Arc::new(Mutex::new(BuildSummary::default())),
            extra_meta: None,
        })
    }

    /// How one output is built: scivision's settings plus what rendering decided.
    fn configuration(
        &self,
        target_platform: Subdir,
        host_platform: PlatformWithVirtualPackages,
        hash: HashInfo,
        variant: BTreeMap<NormalizedKey, Variable>,
        directories: Directories,
        subpackages: BTreeMap<PackageName, PackageIdentifier>,
    ) -> BuildConfiguration {
        BuildConfiguration {
            target_platform,
            host_platform,
            build_platform: self.platform.clone(),
            hash,
            variant,
            directories,
            channels: self.settings.channels.clone(),
            channel_priority: ChannelPriority::Strict,
            solve_strategy: SolveStrategy::Highest,
            timestamp: self.settings.timestamp,
            subpackages,
            packaging_settings: PackagingSettings::from_args(
                CondaArchiveType::Conda,
                CompressionLevel::Default,
            ),
            // The rendered recipe records absolute build paths, which would make the
            // same inputs give different bytes on different machines.
            store_recipe: false,
            force_colors: false,
            experimental: self.settings.experimental,
            env_isolation: Default::default(),
            sandbox_config: if self.settings.sandbox {
                super::sandbox::configuration()
            } else {
                None
            },
            exclude_newer: None,
            repodata_revision: Default::default(),
        }
    }

    fn platform_for(&self, subdir: Subdir) -> Result<PlatformWithVirtualPackages, BuildError> {
        if subdir == self.platform.platform {
            return Ok(self.platform.clone());
        }
        PlatformWithVirtualPackages::detect_for_platform(subdir, &self.settings.virtual_packages)
            .map_err(|e| BuildError::Engine {
                what: format!("detect the virtual packages of {subdir}"),
                source: EngineReport(miette::Report::msg(e.to_string())),
            })
    }

    /// Solves the output's build and host environments (their records are part of the
    /// input hash); the build reuses them.
    pub async fn resolve(&self, mut output: Output) -> Result<Output, BuildError> {
        let id = output.identifier();
        // The engine indexes its output folder as a channel before it solves, whenever the
        // folder exists. Between builds that folder holds no package (the builder moves each
        // one out at once, and the output channel is first among the channels anyway), but it
        // does hold the engine's source and staging caches, so it stays and the solve is
        // pointed past it: that index was most of what a rebuild of an unchanged recipe cost,
        // and a package a killed build left there can no longer enter a solve.
        let folder = output.build_configuration.directories.output_dir.clone();
        output.build_configuration.directories.output_dir = folder.join(".not-a-channel");
        let mut output = output
            .resolve_dependencies(&self.tool, RunExportsDownload::DownloadMissing)
            .await
            .map_err(|e| BuildError::Engine {
                what: format!("resolve the build and host environments of {id}"),
                source: EngineReport(miette::Report::from_err(e)),
            })?;
        output.build_configuration.directories.output_dir = folder;
        Ok(output)
    }

    /// The build and host environments of the staging output that `output` inherits from,
    /// solved as the engine solves them before it builds that staging output (its requirements
    /// with the inheriting output's configuration); `None` for an output that inherits nothing.
    pub async fn resolve_staging(
        &self,
        output: &Output,
    ) -> Result<Option<FinalizedDependencies>, BuildError> {
        let Some(inherits) = &output.recipe.inherits_from else {
            return Ok(None);
        };
        let Some(staging) = output
            .recipe
            .staging_caches
            .iter()
            .find(|s| s.name == inherits.cache_name)
        else {
            return Ok(None);
        };
        let mut probe = output.clone();
        probe.recipe.requirements = staging.requirements.clone();
        probe.finalized_dependencies = None;
        probe.finalized_cache_dependencies = None;
        Ok(self.resolve(probe).await?.finalized_dependencies)
    }

    /// Forgets what the engine read of the channel at `dir`: scivision adds packages to it
    /// between builds, and the engine's gateway would otherwise keep solving against the
    /// repodata it read first.
    pub fn forget_channel(&self, dir: &Path) -> Result<(), BuildError> {
        let channel =
            rattler_conda_types::Channel::try_from_directory(dir).map_err(|e| BuildError::Io {
                path: dir.to_path_buf(),
                source: std::io::Error::other(e.to_string()),
            })?;
        self.tool
            .repodata_gateway
            .clear_repodata_cache(
                &channel,
                rattler_repodata_gateway::SubdirSelection::All,
                rattler_repodata_gateway::CacheClearMode::InMemoryOnly,
            )
            .map_err(BuildError::io(dir))
    }

    /// Builds the output into the staging folder; returns the package file.
    pub async fn build(&self, mut output: Output) -> Result<(Output, PathBuf), BuildError> {
        let id = output.identifier();
        if output.recipe.inherits_from.is_some() {
            // The engine adds a staging output's run requirements and run exports to the
            // outputs that inherit from it while it resolves them, after building the staging
            // output; a resolve it finds already done is kept as it is, and the package lost
            // them. So it solves again here, with the channels as they are.
            output.finalized_dependencies = None;
        } else if output.finalized_dependencies.is_some() {
            // The environments are solved (`resolve`); the channels are now only written into
            // `about.json`. Local folders are left out there: their paths differ from machine
            // to machine (the same inputs would give other bytes) and mean nothing elsewhere.
            output
                .build_configuration
                .channels
                .retain(|c| c.url().scheme() != "file");
        }
        let log = output
            .build_configuration
            .directories
            .work_dir
            .join("conda_build.log");
        rattler_build_core::build::run_build(
            output,
            &self.tool,
            rattler_build_core::build::WorkingDirectoryBehavior::Cleanup,
        )
        .await
        .map_err(|report| {
            // A failed script leaves its log in the work folder: show its end.
            match fs_err::read_to_string(&log) {
                Ok(text) if !text.trim().is_empty() => {
                    let lines: Vec<&str> = text.lines().collect();
                    let tail = lines[lines.len().saturating_sub(30)..].join("\n");
                    BuildError::ScriptFailed {
                        package: id,
                        outside_prefix: text.contains("Read-only file system"),
                        log,
                        tail,
                        source: EngineReport(report),
                    }
                }
                _ => BuildError::Engine {
                    what: format!("build {id}"),
                    source: EngineReport(report),
                },
            }
        })
    }

    /// Runs the recipe's tests on `package` in a fresh prefix under `test_dir`.
    pub async fn test(
        &self,
        output: &Output,
        package: &Path,
        test_dir: &Path,
    ) -> Result<(), BuildError> {
        let config = TestConfiguration {
            test_prefix: test_dir.to_path_buf(),
            target_platform: Some(output.build_configuration.target_platform),
            host_platform: Some(output.build_configuration.host_platform.clone()),
            current_platform: output.build_configuration.build_platform.clone(),
            keep_test_prefix: self.settings.keep_work,
            test_index: None,
            channels: self.settings.channels.clone(),
            channel_priority: ChannelPriority::Strict,
            solve_strategy: SolveStrategy::Highest,
            tool_configuration: self.tool.clone(),
            output_dir: test_dir.to_path_buf(),
            exclude_newer: None,
            env_isolation: output.build_configuration.env_isolation,
        };
        // The engine reads the package's tests through rattler's package cache by file name,
        // without checking the hash: a rebuild that keeps its file name (same version, build
        // number and variant) would be tested with the tests of the build cached before it.
        // The cache entry of a package that was just built is stale or identical; drop it.
        if let Some(stem) = package
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix(".conda"))
        {
            let cached = self
                .settings
                .rattler_cache_dir
                .join(rattler_cache::PACKAGE_CACHE_DIR)
                .join(stem);
            if cached.is_dir() {
                fs_err::remove_dir_all(&cached).map_err(BuildError::io(&cached))?;
            }
        }
        package_test::run_test(package, &config, None)
            .await
            .map_err(|e| BuildError::TestFailed {
                package: output.identifier(),
                source: EngineReport(e.into_report()),
            })
    }
}

/// Every output of a recipe by name, as `pin_subpackage` refers to them.
fn subpackages_of(rendered: &[RenderedVariant]) -> BTreeMap<PackageName, PackageIdentifier> {
    let mut subpackages = BTreeMap::new();
    for r in rendered {
        let recipe = &r.recipe;
        subpackages.insert(
            recipe.package().name().clone(),
            PackageIdentifier {
                name: recipe.package().name().clone(),
                version: recipe.package().version().clone(),
                build_string: build_string_of(recipe),
            },
        );
    }
    subpackages
}

/// Parses and renders `text` (the contents of `recipe_file`) for every variant, with the
/// recipe's own `variants.yaml` (or `conda_build_config.yaml`) and then `variant_configs`, as
/// `rattler-build build -m` does. Returns the variants and a multi-output recipe's name.
pub fn render_variants(
    recipe_file: &Path,
    text: String,
    target: Subdir,
    build_platform: Subdir,
    variant_configs: &[PathBuf],
    experimental: bool,
) -> Result<(Vec<RenderedVariant>, Option<String>), BuildError> {
    let fail = |what: &str, report: miette::Report| BuildError::Engine {
        what: format!("{what} {}", recipe_file.display()),
        source: EngineReport(report),
    };
    let mut files: Vec<PathBuf> = VARIANT_FILES
        .iter()
        .map(|f| recipe_file.with_file_name(f))
        .filter(|p| p.is_file())
        .take(1)
        .collect();
    files.extend(variant_configs.iter().cloned());
    let mut variants = VariantConfig::from_files(&files, target)
        .map_err(|e| fail("read the variant config of", miette::Report::new(e)))?;
    variants.variants.insert(
        NormalizedKey::from("target_platform"),
        vec![Variable::from(target.to_string())],
    );
    variants.variants.insert(
        NormalizedKey::from("build_platform"),
        vec![Variable::from(build_platform.to_string())],
    );

    let source = Source::from_string(recipe_file.display().to_string(), text);
    let stage0 = rattler_build_recipe::parse_recipe_with_config(
        &source,
        rattler_build_recipe::stage0::ParseConfig::default(),
    )
    .map_err(|e| fail("parse", miette::Report::new(e)))?;
    let config = RenderConfig {
        target_platform: target,
        build_platform,
        host_platform: target,
        recipe_path: Some(recipe_file.to_path_buf()),
        experimental,
        ..RenderConfig::default()
    };
    let rendered = rattler_build_recipe::render_recipe(&source, &stage0, &variants, config)
        .map_err(|e| fail("render", miette::Report::new(e)))?;
    let recipe_name = match &stage0 {
        rattler_build_recipe::stage0::Recipe::MultiOutput(multi) => multi
            .recipe
            .name
            .as_ref()
            .and_then(|v| v.as_concrete())
            .map(|n| n.as_str().to_string()),
        rattler_build_recipe::stage0::Recipe::SingleOutput(_) => None,
    };
    Ok((rendered, recipe_name))
}

/// The build string rattler-build resolved while rendering.
pub fn build_string_of(recipe: &rattler_build_core::Recipe) -> String {
    recipe
        .build()
        .string
        .as_resolved()
        .map(str::to_string)
        .unwrap_or_default()
}

/// The package names an output needs from other recipes (build, host, run and test
/// requirements), for ordering a folder of recipes.
pub fn requirement_names(output: &Output) -> Vec<String> {
    let req = output.recipe.requirements();
    let mut names: Vec<String> = req
        .build
        .iter()
        .chain(&req.host)
        .chain(&req.run)
        .filter_map(|d| d.name().map(|n| n.as_normalized().to_string()))
        .collect();
    for test in output.recipe.tests() {
        if let rattler_build_recipe::stage1::TestType::Commands(c) = test {
            names.extend(
                c.requirements
                    .build
                    .iter()
                    .chain(&c.requirements.run)
                    .filter_map(|d| d.name().map(|n| n.as_normalized().to_string())),
            );
        }
    }
    names
}

/// A rattler-build report kept whole: its message, help, labels and source snippet (file,
/// line, key) render as rattler-build renders them.
pub struct EngineReport(pub miette::Report);

impl std::fmt::Debug for EngineReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&self.0, f)
    }
}

impl std::fmt::Display for EngineReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(&self.0, f)
    }
}

impl std::error::Error for EngineReport {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0.source()
    }
}

impl miette::Diagnostic for EngineReport {
    fn code<'a>(&'a self) -> Option<Box<dyn std::fmt::Display + 'a>> {
        self.0.code()
    }
    fn help<'a>(&'a self) -> Option<Box<dyn std::fmt::Display + 'a>> {
        self.0.help()
    }
    fn url<'a>(&'a self) -> Option<Box<dyn std::fmt::Display + 'a>> {
        self.0.url()
    }
    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        self.0.source_code()
    }
    fn labels(&self) -> Option<Box<dyn Iterator<Item = miette::LabeledSpan> + '_>> {
        self.0.labels()
    }
    fn related<'a>(&'a self) -> Option<Box<dyn Iterator<Item = &'a dyn miette::Diagnostic> + 'a>> {
        self.0.related()
    }
    fn diagnostic_source(&self) -> Option<&dyn miette::Diagnostic> {
        self.0.diagnostic_source()
    }
}
