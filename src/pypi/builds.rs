//! How sdists (and git or path sources) are built: uv's build dispatch, with the python that
//! runs the builds queried only when a build needs it. Most environments install wheels only,
//! and the query starts a python (65–180 ms of every warm create, uncacheable because each
//! staging prefix is new), so it is not paid up front.

use std::future::Future;
use std::path::{Path, PathBuf};

use uv_build_frontend::SourceBuild;
use uv_cache::Cache;
use uv_configuration::{
    BuildKind, BuildOptions, BuildOutput, Concurrency, Constraints, IndexStrategy, NoSources,
};
use uv_dispatch::{BuildDispatch, BuildDispatchError, SharedState};
use uv_distribution_filename::DistFilename;
use uv_distribution_types::{
    CachedDist, ConfigSettings, DependencyMetadata, ExtraBuildRequires, ExtraBuildVariables,
    IndexCapabilities, IndexLocations, PackageConfigSettings, Requirement, SourceDist,
};
use uv_git::GitResolver;
use uv_normalize::PackageName;
use uv_python::{Interpreter, PythonEnvironment};
use uv_resolver::{ExcludeNewer, FlatIndex};
use uv_types::{
    BuildArena, BuildContext, BuildIsolation, BuildStack, HashStrategy, ResolvedRequirements,
    SourceTreeEditablePolicy,
};
use uv_workspace::WorkspaceCache;

use super::{PypiError, UvContext};

/// How sdists are built: with which python, and which packages inside that python's own
/// environment instead of an isolated one.
pub struct Builds {
    python: PathBuf,
    cache: Cache,
    /// The python's description, once queried; `None` when the query failed (the error waits
    /// in `failure` for [`Builds::guard`]).
    interpreter: tokio::sync::OnceCell<Option<Interpreter>>,
    failure: std::sync::Mutex<Option<PypiError>>,
    /// Set for good when the query failed: every guard, running or later, sees it.
    failed: tokio::sync::watch::Sender<bool>,
    /// Packages built without isolation, in the interpreter's environment, so that their build
    /// imports the frameworks the conda half installed there (detectron2 against conda's
    /// pytorch) instead of a PyPI wheel of them. As uv's `--no-build-isolation-package`, their
    /// build requirements are not installed: the conda half must provide them.
    pub in_env: Vec<PackageName>,
    /// Their environment: queried up front, since uv asks for it without waiting.
    environment: Option<PythonEnvironment>,
}

impl Builds {
    /// Builds with `python`, the packages `in_env` inside its environment. The python is
    /// queried now only when `in_env` is not empty; otherwise at the first build.
    pub fn new(
        python: &Path,
        ctx: &UvContext,
        in_env: Vec<PackageName>,
    ) -> Result<Self, PypiError> {
        let builds = Self {
            python: python.to_path_buf(),
            cache: ctx.cache.clone(),
            interpreter: tokio::sync::OnceCell::new(),
            failure: std::sync::Mutex::new(None),
            failed: tokio::sync::watch::Sender::new(false),
            environment: None,
            in_env,
        };
        if builds.in_env.is_empty() {
            return Ok(builds);
        }
        let interpreter = query(&builds.python, &builds.cache)?;
        Ok(Self {
            environment: Some(PythonEnvironment::from_interpreter(interpreter.clone())),
            interpreter: tokio::sync::OnceCell::new_with(Some(Some(interpreter))),
            ..builds
        })
    }

    /// Whether the python has been queried (a build needed it).
    pub fn queried(&self) -> bool {
        self.interpreter.initialized()
    }

    /// The python, queried on first use; `None` when the query failed.
    async fn interpreter(&self) -> Option<&Interpreter> {
        self.interpreter
            .get_or_init(|| async {
                let (python, cache) = (self.python.clone(), self.cache.clone());
                let queried = tokio::task::spawn_blocking(move || query(&python, &cache))
                    .await
                    .unwrap_or_else(|e| {
                        Err(PypiError::Setup {
                            what: "querying the python that builds sdists".into(),
                            source: e.into(),
                            help: "report this".into(),
                        })
                    });
                match queried {
                    Ok(interpreter) => Some(interpreter),
                    Err(e) => {
                        *self.failure.lock().unwrap_or_else(|p| p.into_inner()) = Some(e);
                        self.failed.send_replace(true);
                        None
                    }
                }
            })
            .await
            .as_ref()
    }

    /// Runs `work` (a resolve or an install that may build), ending it with the query's error
    /// if a build needed the python and it could not be queried: uv asks for the interpreter
    /// where it cannot fail, so that work waits forever and is dropped here instead.
    pub async fn guard<T>(
        &self,
        work: impl Future<Output = Result<T, PypiError>>,
    ) -> Result<T, PypiError> {
        let mut failed = self.failed.subscribe();
        tokio::select! {
            biased;
            out = work => out,
            _ = failed.wait_for(|f| *f) => Err(self
                .failure
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .take()
                // A second guard after the first took the error: the same failure, retold.
                .unwrap_or_else(|| PypiError::Setup {
                    what: format!("python {}", self.python.display()),
                    source: "it could not be queried (see the first error)".into(),
                    help: "the conda prefix's python must run on this machine".into(),
                })),
        }
    }

    fn isolation(&self) -> BuildIsolation<'_> {
        match &self.environment {
            Some(environment) if !self.in_env.is_empty() => {
                BuildIsolation::SharedPackage(environment, &self.in_env)
            }
            _ => BuildIsolation::Isolated,
        }
    }
}

/// uv's description of `python` (markers, scheme, tags), from running it.
fn query(python: &Path, cache: &Cache) -> Result<Interpreter, PypiError> {
    tracing::debug!("querying {} for a build", python.display());
    Interpreter::query(python, cache).map_err(|e| PypiError::Setup {
        what: format!("python {}", python.display()),
        source: e.into(),
        help: "the conda prefix's python must run on this machine".into(),
    })
}

/// The settings uv's build dispatch borrows, owned in one place: scivision uses uv's defaults
/// (isolated PEP 517 builds, no config settings, binaries and sources both allowed).
#[derive(Default)]
pub(crate) struct BuildParts {
    build_constraints: Constraints,
    dependency_metadata: DependencyMetadata,
    config_settings: ConfigSettings,
    package_config_settings: PackageConfigSettings,
    extra_build_requires: ExtraBuildRequires,
    extra_build_variables: ExtraBuildVariables,
    sources: NoSources,
    workspace_cache: WorkspaceCache,
    pub build_options: BuildOptions,
    pub concurrency: Concurrency,
}

impl BuildParts {
    /// A build context that builds sdists (and git or path sources) with `builds`' python: in
    /// isolated environments filled from the same indexes, or inside its own environment for
    /// the packages `builds` names. uv's dispatch is made at the first build.
    pub fn dispatch<'a>(
        &'a self,
        ctx: &'a UvContext,
        builds: &'a Builds,
        flat_index: &'a FlatIndex,
        hasher: &'a HashStrategy,
        state: SharedState,
    ) -> LazyDispatch<'a> {
        LazyDispatch {
            parts: self,
            ctx,
            builds,
            flat_index,
            hasher,
            state,
            capabilities: IndexCapabilities::default(),
            arena: BuildArena::default(),
            inner: tokio::sync::OnceCell::new(),
        }
    }
}

/// uv's [`BuildDispatch`], made when a build first needs it (with the queried python); what
/// the resolver and the installer ask of it before that is answered without the python.
pub(crate) struct LazyDispatch<'a> {
    parts: &'a BuildParts,
    ctx: &'a UvContext,
    builds: &'a Builds,
    flat_index: &'a FlatIndex,
    hasher: &'a HashStrategy,
    state: SharedState,
    capabilities: IndexCapabilities,
    arena: BuildArena<SourceBuild>,
    inner: tokio::sync::OnceCell<BuildDispatch<'a>>,
}

impl<'a> LazyDispatch<'a> {
    /// The python; a failed query never returns (see [`Builds::guard`]).
    async fn python(&self) -> &'a Interpreter {
        let builds: &'a Builds = self.builds;
        match builds.interpreter().await {
            Some(interpreter) => interpreter,
            None => std::future::pending().await,
        }
    }

    async fn inner(&self) -> &BuildDispatch<'a> {
        self.inner
            .get_or_init(|| async {
                let parts = self.parts;
                BuildDispatch::new(
                    &self.ctx.client,
                    &self.ctx.cache,
                    &parts.build_constraints,
                    self.python().await,
                    &self.ctx.locations,
                    self.flat_index,
                    &parts.dependency_metadata,
                    self.state.clone(),
                    IndexStrategy::default(),
                    &parts.config_settings,
                    &parts.package_config_settings,
                    self.builds.isolation(),
                    &parts.extra_build_requires,
                    &parts.extra_build_variables,
                    uv_install_wheel::LinkMode::Hardlink,
                    &parts.build_options,
                    self.hasher,
                    ExcludeNewer::default(),
                    NoSources::default(),
                    SourceTreeEditablePolicy::default(),
                    parts.workspace_cache.clone(),
                    parts.concurrency.clone(),
                    uv_preview::Preview::default(),
                )
            })
            .await
    }
}

#[allow(refining_impl_trait)]
impl BuildContext for LazyDispatch<'_> {
    type SourceDistBuilder = SourceBuild;

    async fn interpreter(&self) -> &Interpreter {
        self.python().await
    }

    fn cache(&self) -> &Cache {
        &self.ctx.cache
    }

    fn git(&self) -> &GitResolver {
        self.state.git()
    }

    fn build_arena(&self) -> &BuildArena<SourceBuild> {
        &self.arena
    }

    fn capabilities(&self) -> &IndexCapabilities {
        &self.capabilities
    }

    fn dependency_metadata(&self) -> &DependencyMetadata {
        &self.parts.dependency_metadata
    }

    fn build_options(&self) -> &BuildOptions {
        &self.parts.build_options
    }

    fn build_isolation(&self) -> BuildIsolation<'_> {
        self.builds.isolation()
    }

    fn config_settings(&self) -> &ConfigSettings {
        &self.parts.config_settings
    }

    fn config_settings_package(&self) -> &PackageConfigSettings {
        &self.parts.package_config_settings
    }

    fn sources(&self) -> &NoSources {
        &self.parts.sources
    }

    fn source_tree_editable_policy(&self) -> SourceTreeEditablePolicy {
        SourceTreeEditablePolicy::default()
    }

    fn locations(&self) -> &IndexLocations {
        &self.ctx.locations
    }

    fn workspace_cache(&self) -> &WorkspaceCache {
        &self.parts.workspace_cache
    }

    fn extra_build_requires(&self) -> &ExtraBuildRequires {
        &self.parts.extra_build_requires
    }

    fn extra_build_variables(&self) -> &ExtraBuildVariables {
        &self.parts.extra_build_variables
    }

    async fn resolve<'data>(
        &'data self,
        requirements: &'data [Requirement],
        build_stack: &'data BuildStack,
    ) -> Result<ResolvedRequirements, BuildDispatchError> {
        self.inner().await.resolve(requirements, build_stack).await
    }

    async fn install<'data>(
        &'data self,
        requirements: &'data ResolvedRequirements,
        venv: &'data PythonEnvironment,
        build_stack: &'data BuildStack,
    ) -> Result<Vec<CachedDist>, BuildDispatchError> {
        self.inner()
            .await
            .install(requirements, venv, build_stack)
            .await
    }

    async fn setup_build<'data>(
        &'data self,
        source: &'data Path,
        subdirectory: Option<&'data Path>,
        install_path: &'data Path,
        stop_discovery_at: Option<&'data Path>,
        version_id: Option<&'data str>,
        dist: Option<&'data SourceDist>,
        sources: &'data NoSources,
        build_kind: BuildKind,
        build_output: BuildOutput,
        build_stack: BuildStack,
    ) -> Result<SourceBuild, uv_build_frontend::Error> {
        self.inner()
            .await
            .setup_build(
                source,
                subdirectory,
                install_path,
                stop_discovery_at,
                version_id,
                dist,
                sources,
                build_kind,
                build_output,
                build_stack,
            )
            .await
    }

    async fn direct_build<'data>(
        &'data self,
        source: &'data Path,
        subdirectory: Option<&'data Path>,
        output_dir: &'data Path,
        sources: NoSources,
        build_kind: BuildKind,
        version_id: Option<&'data str>,
    ) -> Result<Option<DistFilename>, BuildDispatchError> {
        self.inner()
            .await
            .direct_build(
                source,
                subdirectory,
                output_dir,
                sources,
                build_kind,
                version_id,
            )
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn context(dir: &Path) -> UvContext {
        UvContext::new(dir, super::super::IndexOptions::default(), true)
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn a_python_that_cannot_be_queried_ends_the_work_that_needed_it() {
        let dir = tempfile::tempdir().unwrap();
        let ctx = context(dir.path()).await;
        let missing = dir.path().join("no-such-prefix/bin/python");
        // Not queried up front: nothing has needed it yet.
        let builds = Builds::new(&missing, &ctx, Vec::new()).unwrap();
        assert!(!builds.queried());
        let (parts, flat, hasher) = (
            BuildParts::default(),
            FlatIndex::default(),
            HashStrategy::None,
        );
        let dispatch = parts.dispatch(&ctx, &builds, &flat, &hasher, SharedState::default());
        // uv asks for the interpreter where it cannot fail; the guard ends the work instead.
        let needs_python = || async {
            let _ = dispatch.interpreter().await;
            Ok::<_, PypiError>("a build ran without its python")
        };
        let ends = |work| tokio::time::timeout(std::time::Duration::from_secs(60), work);
        let out = ends(builds.guard(needs_python()))
            .await
            .expect("the guard hung");
        let e = out.expect_err("the query of a missing python must fail the work");
        assert!(e.to_string().contains("no-such-prefix"), "{e}");
        assert!(builds.queried());
        // The failure stays: a later build is ended too, not left waiting.
        let again = ends(builds.guard(needs_python()))
            .await
            .expect("the guard hung");
        assert!(again.is_err());
    }

    #[tokio::test]
    async fn the_python_is_queried_at_the_first_build_only() {
        let Ok(python) = which::which("python3") else {
            panic!("these tests need python3 on PATH");
        };
        let dir = tempfile::tempdir().unwrap();
        let ctx = context(dir.path()).await;
        let builds = Builds::new(&python, &ctx, Vec::new()).unwrap();
        let (parts, flat, hasher) = (
            BuildParts::default(),
            FlatIndex::default(),
            HashStrategy::None,
        );
        let dispatch = parts.dispatch(&ctx, &builds, &flat, &hasher, SharedState::default());
        // What the resolver asks before any build is answered without the python.
        assert!(matches!(
            dispatch.build_isolation(),
            BuildIsolation::Isolated
        ));
        let _ = dispatch.capabilities();
        assert!(!builds.queried());
        let version = builds
            .guard(async { Ok(dispatch.interpreter().await.python_version().clone()) })
            .await
            .unwrap();
        assert_eq!(version.release()[0], 3);
        assert!(builds.queried());
    }
}
