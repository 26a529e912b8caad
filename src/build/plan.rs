//! The build order of a recipes folder: every recipe after the recipes producing what it will
//! need, counting the requirements a package gets from its own metadata (a converted wheel's
//! `Requires-Dist` and python pin, a PEP 517 project's `dependencies`) beside the recipe's.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use super::source::{self, Resolved, SourceCache};
use super::wheel::{self, ConvertOptions};
use super::{BuildConfig, BuildError};
use crate::recipe::{self, RenderedRecipe, TestSpec};

/// Finds every recipe under `dir` (folders holding a `recipe.yaml`), sorted.
pub fn discover(dir: &Path) -> Result<Vec<PathBuf>, BuildError> {
    let mut out = Vec::new();
    let entries = fs_err::read_dir(dir).map_err(|source| BuildError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    for entry in entries.filter_map(Result::ok) {
        if entry.path().join("recipe.yaml").is_file() {
            out.push(entry.path());
        }
    }
    out.sort();
    Ok(out)
}

/// Renders all recipes and orders them so that each comes after the recipes producing what it
/// needs. A recipe whose run requirements come from a wheel has that wheel fetched (into the
/// source cache, checked by sha256, where its build finds it again) and read.
pub async fn plan(
    paths: &[PathBuf],
    config: &BuildConfig,
) -> Result<Vec<RenderedRecipe>, BuildError> {
    let mut all = Vec::new();
    for path in paths {
        all.extend(recipe::load(path, config.target_platform.as_str())?);
    }
    let mut implied = Vec::with_capacity(all.len());
    for r in &all {
        implied.push(implied_requirements(r, config).await?);
    }
    order(all, &implied)
}

/// Whether the package's run requirements come from the wheel it is made from: no script, a
/// source, and no `requirements.run` of its own (the recipe is authoritative when it has one).
fn depends_come_from_wheel(r: &RenderedRecipe) -> bool {
    r.recipe.build.script.is_empty()
        && !r.recipe.source.is_empty()
        && r.recipe.requirements.run.is_empty()
}

/// Package names the built package will require that the recipe does not spell out: those of
/// the wheel it is converted from, or for a PEP 517 build python and the project's static
/// `dependencies`. Sources are resolved as the build resolves them (a download lands in the
/// source cache, where the build finds it again).
async fn implied_requirements(
    r: &RenderedRecipe,
    config: &BuildConfig,
) -> Result<BTreeSet<String>, BuildError> {
    if !depends_come_from_wheel(r) {
        return Ok(BTreeSet::new());
    }
    let options = ConvertOptions::default();
    let cache = SourceCache::new(config.cache_dir.join("sources"));
    let client = crate::prefix::http_client();
    let mut resolved = Vec::new();
    for s in &r.recipe.source {
        resolved.push((s, source::resolve(&cache, &client, &r.dir, s).await?));
    }
    if let Some(whl) = source::wheel_of(resolved.iter().map(|(_, res)| res)) {
        return wheel::requirement_names(&whl, &options);
    }
    // A PEP 517 build: the project is the source laid out at the top of the work folder.
    let mut names = BTreeSet::from(["python".to_string()]);
    if let Some((_, Resolved::Dir(dir))) =
        resolved.iter().find(|(s, _)| s.target_directory.is_none())
    {
        names.extend(pyproject_dependencies(dir, &options));
    }
    Ok(names)
}

/// `[project].dependencies` of `dir/pyproject.toml` (outside extras) as conda names; none when
/// the file is missing or unreadable or declares them dynamic (only the built wheel can tell).
fn pyproject_dependencies(dir: &Path, options: &ConvertOptions) -> Vec<String> {
    let Ok(text) = fs_err::read_to_string(dir.join("pyproject.toml")) else {
        return Vec::new();
    };
    let Ok(doc) = toml::from_str::<toml::Value>(&text) else {
        return Vec::new();
    };
    let deps = doc
        .get("project")
        .and_then(|p| p.get("dependencies"))
        .and_then(toml::Value::as_array);
    deps.into_iter()
        .flatten()
        .filter_map(toml::Value::as_str)
        .filter_map(|text| uv_pep508::Requirement::<uv_pep508::VerbatimUrl>::from_str(text).ok())
        .filter(|req| req.marker.top_level_extra().is_none())
        .map(|req| wheel::conda_name(req.name.as_ref(), &options.name_map))
        .collect()
}

/// Orders rendered recipes so that each comes after the recipes producing what it needs
/// (build, host, run and test requirements, plus `implied[i]` for `recipes[i]`); refuses a
/// cycle.
pub fn order(
    recipes: Vec<RenderedRecipe>,
    implied: &[BTreeSet<String>],
) -> Result<Vec<RenderedRecipe>, BuildError> {
    let produced: BTreeSet<String> = recipes
        .iter()
        .map(|r| r.recipe.package.name.clone())
        .collect();
    let needs = |r: &RenderedRecipe, implied: &BTreeSet<String>| -> BTreeSet<String> {
        let reqs = &r.recipe.requirements;
        let tests = r.recipe.tests.iter().flat_map(|t| match t {
            TestSpec::Script(s) => s.requirements.run.iter(),
            TestSpec::Python { .. } => [].iter(),
        });
        let mut names: BTreeSet<String> = reqs
            .build
            .iter()
            .chain(&reqs.host)
            .chain(&reqs.run)
            .chain(tests)
            .filter_map(|s| s.split_whitespace().next().map(str::to_string))
            .chain(implied.iter().cloned())
            .collect();
        // A python test needs a python whatever the package requires.
        let python_test = r
            .recipe
            .tests
            .iter()
            .any(|t| matches!(t, TestSpec::Python { .. }));
        if python_test {
            names.insert("python".into());
        }
        names.retain(|n| produced.contains(n) && n != &r.recipe.package.name);
        names
    };
    let mut pending: Vec<(RenderedRecipe, BTreeSet<String>)> = recipes
        .into_iter()
        .enumerate()
        .map(|(i, r)| {
            let n = needs(&r, implied.get(i).unwrap_or(&BTreeSet::new()));
            (r, n)
        })
        .collect();
    let mut ordered: Vec<RenderedRecipe> = Vec::new();
    let mut done: BTreeSet<String> = BTreeSet::new();
    while !pending.is_empty() {
        let (ready, rest): (Vec<_>, Vec<_>) = pending
            .into_iter()
            .partition(|(_, needs)| needs.iter().all(|n| done.contains(n)));
        if ready.is_empty() {
            let names: Vec<String> = rest.iter().map(|(r, _)| r.display_name()).collect();
            return Err(BuildError::Cycle(names.join(", ")));
        }
        // A name is done once none of its variants is pending.
        let rest_names: BTreeSet<String> = rest
            .iter()
            .map(|(r, _)| r.recipe.package.name.clone())
            .collect();
        for (r, _) in &ready {
            if !rest_names.contains(&r.recipe.package.name) {
                done.insert(r.recipe.package.name.clone());
            }
        }
        ordered.extend(ready.into_iter().map(|(r, _)| r));
        pending = rest;
    }
    Ok(ordered)
}
