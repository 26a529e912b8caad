//! The PyPI half of an environment, from the env's side: what a request asks of PyPI (its
//! requirements and which packages build inside the prefix), resolved without a prefix (dry
//! runs, locks) or in the staging prefix, and installed there.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use rattler_conda_types::Subdir;

use super::{io, EnvError, Envs, Request, Solution};
use crate::lock;
use crate::prefix;
use crate::pypi::{Builds, CondaPythonPackages, PypiError, PypiRequirement, Target, UvContext};

/// What a request asks of PyPI.
#[derive(Debug, Clone, Default)]
pub struct PypiWanted {
    /// The card's and the command line's requirements, then the model package's own.
    pub requirements: Vec<PypiRequirement>,
    /// Packages whose build runs inside the environment's own prefix, without isolation.
    pub build_in_env: Vec<uv_normalize::PackageName>,
}

impl Envs {
    /// What `request` asks of PyPI: the card's and the command line's requirements and
    /// no-isolation names, then the model package's own (`extra.scivision.pypi_dependencies` and
    /// `pypi_no_build_isolation` in its `info/about.json`).
    pub async fn pypi_wanted(
        &self,
        request: &Request,
        solution: &Solution,
        package_cache: &Path,
    ) -> Result<PypiWanted, EnvError> {
        let mut wanted = PypiWanted {
            requirements: request.pypi.clone(),
            build_in_env: names(&request.pypi_no_build_isolation, "the card or command line")?,
        };
        let Some(name) = request
            .package
            .as_deref()
            .and_then(|n| rattler_conda_types::PackageName::from_str(n).ok())
        else {
            return Ok(wanted);
        };
        let Some(record) = solution
            .records
            .iter()
            .find(|r| r.package_record.name == name)
        else {
            return Ok(wanted);
        };
        let client = crate::http::client_for(request.offline.is_some());
        let dir = {
            let _cache_lock = prefix::lock_package_cache(package_cache).await?;
            prefix::fetch_to_cache(record, package_cache, &client).await?
        };
        let about: serde_json::Value = fs_err::read_to_string(dir.join("info/about.json"))
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or_default();
        let origin = format!(
            "package {} (info/about.json)",
            prefix::cache_dir_name(record)
        );
        let strings = |key: &str| -> Vec<String> {
            about["extra"]["scivision"][key]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|v| v.as_str().map(String::from))
                .collect()
        };
        for text in strings("pypi_dependencies") {
            wanted
                .requirements
                .push(PypiRequirement::parse(&text, &origin)?);
        }
        for name in names(&strings("pypi_no_build_isolation"), &origin)? {
            if !wanted.build_in_env.contains(&name) {
                wanted.build_in_env.push(name);
            }
        }
        Ok(wanted)
    }

    /// Resolves the PyPI half without the environment (dry runs, locks for any platform): conda's
    /// python packages come from the records. Sdists build with `python3` from PATH, except
    /// those that must build inside the environment: for them the conda half is installed into
    /// a scratch prefix of this host first (as pixi does), whose python builds them.
    pub async fn resolve_pypi(
        &self,
        request: &Request,
        solution: &Solution,
        package_cache: &Path,
        cache_root: &Path,
    ) -> Result<lock::PypiHalf, EnvError> {
        let wanted = self.pypi_wanted(request, solution, package_cache).await?;
        if wanted.requirements.is_empty() {
            return Ok(lock::PypiHalf::default());
        }
        let (ctx, target) = uv_setup(request, solution, cache_root).await?;
        let host = Subdir::current().unwrap_or(Subdir::Linux64);
        if !wanted.build_in_env.is_empty() && request.platform != host {
            tracing::warn!(
                "a lock for {} cannot build {} inside a prefix of this {host} host: their metadata is built in isolation here (installs on {} build them in the environment)",
                request.platform,
                wanted
                    .build_in_env
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", "),
                request.platform
            );
        }
        if wanted.build_in_env.is_empty() || request.platform != host {
            let host_python = which_python().ok_or_else(|| PypiError::Setup {
                what: "resolving PyPI requirements without an environment".into(),
                source: "uv's build machinery needs a python, and there is no python3 on PATH"
                    .into(),
                help: "create the environment instead (its own python is used), or put python3 on PATH"
                    .into(),
            })?;
            let builds = Builds::new(&host_python, &ctx, Vec::new())?;
            let conda = conda_side(request, solution, None, &target);
            return Ok(half(request, &ctx, &target, &wanted, &conda, &builds).await?);
        }
        let scratch = self.scratch_prefix(&request.model)?;
        let resolved = async {
            prefix::install_with(
                &scratch,
                solution.records.clone(),
                package_cache,
                &crate::http::client_for(request.offline.is_some()),
                |i| i,
            )
            .await?;
            let builds = Builds::new(
                &scratch.join("bin/python"),
                &ctx,
                wanted.build_in_env.clone(),
            )?;
            let conda = conda_side(request, solution, Some(&scratch), &target);
            Ok::<_, EnvError>(half(request, &ctx, &target, &wanted, &conda, &builds).await?)
        }
        .await;
        // The resolve's own outcome counts; a scratch folder left behind is only untidy.
        if let Err(e) = fs_err::remove_dir_all(&scratch) {
            tracing::warn!("cannot remove the scratch prefix: {e}");
        }
        resolved
    }

    /// A new `.resolve-NAME-PID` folder for a scratch prefix: another process's create removes it
    /// once this process is gone (see `clean_leftovers`).
    fn scratch_prefix(&self, model: &str) -> Result<PathBuf, EnvError> {
        let path = self.root.join(format!(
            ".resolve-{}-{}",
            super::dir_name(model),
            std::process::id()
        ));
        let path = std::path::absolute(&path).map_err(io(&path))?;
        if path.exists() {
            fs_err::remove_dir_all(&path).map_err(io(&path))?;
        }
        fs_err::create_dir_all(&path).map_err(io(&path))?;
        Ok(path)
    }

    /// Starts making uv's context in the background (it loads certificates and opens the
    /// cache) when `solution` may have a PyPI half: the cache check and the link go on
    /// meanwhile. Dropping the handle of one not needed after all is harmless.
    pub(super) fn pypi_context(
        request: &Request,
        solution: &Solution,
        dirs: &super::CreateDirs,
    ) -> Option<UvContextTask> {
        let may_need = match &solution.pypi {
            Some(locked) => !locked.packages.is_empty(),
            None => !request.pypi.is_empty() || request.package.is_some(),
        };
        may_need.then(|| spawn_context(request, dirs))
    }

    /// What the install of `solution` asks of PyPI, with uv's context for it (`context`, or
    /// one started now); `None` when there is no PyPI half to install. The model package must
    /// be in the (checked) cache.
    pub(super) async fn pypi_plan(
        &self,
        request: &Request,
        solution: &Solution,
        dirs: &super::CreateDirs,
        context: Option<UvContextTask>,
    ) -> Result<Option<PypiPlan>, EnvError> {
        let locked = solution.pypi.as_ref();
        if locked.is_some_and(|p| p.packages.is_empty()) {
            return Ok(None);
        }
        // A locked half still needs the no-isolation names: its sdists are built here.
        let wanted = self.pypi_wanted(request, solution, &dirs.packages).await?;
        if locked.is_none() && wanted.requirements.is_empty() {
            return Ok(None);
        }
        let context = context.unwrap_or_else(|| spawn_context(request, dirs));
        Ok(Some(PypiPlan { wanted, context }))
    }

    /// Resolves (unless the solution carries a locked half) and installs the PyPI half of
    /// `plan` into the staging prefix, whose scripts must point at `final_prefix`.
    pub(super) async fn install_pypi(
        &self,
        request: &Request,
        solution: &Solution,
        staging: &Path,
        final_prefix: &Path,
        plan: Option<PypiPlan>,
    ) -> Result<lock::PypiHalf, EnvError> {
        let Some(PypiPlan { wanted, context }) = plan else {
            return Ok(solution.pypi.clone().unwrap_or_default());
        };
        let locked = solution.pypi.as_ref();
        let started = std::time::Instant::now();
        let ctx = match context.await {
            Ok(made) => made?,
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(e) => {
                return Err(PypiError::Setup {
                    what: "uv's context".into(),
                    source: e.into(),
                    help: "report this".into(),
                }
                .into())
            }
        };
        let (ctx, target) = for_request(ctx, request, solution)?;
        let staging = std::path::absolute(staging).map_err(io(staging))?;
        tracing::debug!("pypi: uv context ready after {:?} more", started.elapsed());
        // The staging python is queried only if an sdist must be built.
        let builds = Builds::new(
            &staging.join("bin/python"),
            &ctx,
            wanted.build_in_env.clone(),
        )?;
        let half = match locked {
            Some(locked) => locked.clone(),
            None => {
                let conda = conda_side(request, solution, Some(&staging), &target);
                let half = half(request, &ctx, &target, &wanted, &conda, &builds).await?;
                tracing::debug!("pypi: resolved at {:?}", started.elapsed());
                half
            }
        };
        let warnings = crate::pypi::install(
            &ctx,
            &target,
            &staging,
            final_prefix,
            &half.packages,
            &builds,
        )
        .await?;
        tracing::debug!("pypi: installed at {:?}", started.elapsed());
        for w in warnings {
            tracing::warn!("{w}");
        }
        Ok(half)
    }
}

/// uv's context, being made.
pub(super) type UvContextTask = tokio::task::JoinHandle<Result<UvContext, PypiError>>;

/// The PyPI half of an install, decided before the conda half links.
pub(super) struct PypiPlan {
    wanted: PypiWanted,
    context: UvContextTask,
}

/// PyPI names, each checked.
fn names(texts: &[String], origin: &str) -> Result<Vec<uv_normalize::PackageName>, PypiError> {
    texts
        .iter()
        .map(|text| {
            uv_normalize::PackageName::from_str(text).map_err(|e| PypiError::Syntax {
                origin: format!("{origin}, pypi_no_build_isolation"),
                given: text.clone(),
                reason: e.to_string(),
            })
        })
        .collect()
}

/// Conda's python packages as the PyPI resolution sees them: from the records, plus what a
/// prefix's site-packages holds, with the card's overrides.
fn conda_side(
    request: &Request,
    solution: &Solution,
    prefix: Option<&Path>,
    target: &Target,
) -> CondaPythonPackages {
    let mut conda = CondaPythonPackages::from_records(&solution.records, &request.mapping);
    if let Some(prefix) = prefix {
        conda.add_site_packages(&crate::pypi::install::site_packages(prefix, target));
    }
    conda.override_requirements(&request.pypi_overrides);
    conda
}

/// The resolved half, with the indexes it came from.
async fn half(
    request: &Request,
    ctx: &UvContext,
    target: &Target,
    wanted: &PypiWanted,
    conda: &CondaPythonPackages,
    builds: &Builds,
) -> Result<lock::PypiHalf, PypiError> {
    let packages = crate::pypi::resolve(ctx, target, &wanted.requirements, conda, builds).await?;
    let cwd = std::env::current_dir().unwrap_or_default();
    Ok(lock::PypiHalf {
        packages,
        indexes: Some(request.index.lock_indexes(&cwd)),
    })
}

/// uv's context for a request and the PyPI target its solved conda python defines.
async fn uv_setup(
    request: &Request,
    solution: &Solution,
    cache_root: &Path,
) -> Result<(UvContext, Target), EnvError> {
    let ctx = UvContext::new(cache_root, request.index.clone(), request.offline.is_some()).await?;
    for_request(ctx, request, solution)
}

/// `ctx` set up for `request`, and the PyPI target its solved conda python defines.
fn for_request(
    mut ctx: UvContext,
    request: &Request,
    solution: &Solution,
) -> Result<(UvContext, Target), EnvError> {
    ctx.verify_fully = request.verify_cache_fully;
    let target = Target::from_solve(
        request.platform,
        &solution.records,
        &request.virtual_packages,
    )?;
    Ok((ctx, target))
}

/// uv's context for `request`, made in a task of its own.
fn spawn_context(request: &Request, dirs: &super::CreateDirs) -> UvContextTask {
    let (cache, index, offline) = (
        dirs.cache.clone(),
        request.index.clone(),
        request.offline.is_some(),
    );
    tokio::spawn(async move { UvContext::new(&cache, index, offline).await })
}

/// `python3` (or `python`) from PATH.
fn which_python() -> Option<PathBuf> {
    which::which("python3")
        .or_else(|_| which::which("python"))
        .ok()
}
