//! The build order of a recipes folder: every output after the outputs producing what it
//! needs (build, host, run and test requirements, as rattler-build renders them).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use rattler_build_core::types::Output;

use super::engine::{self, Engine};
use super::BuildError;

/// The recipes `build` is given: `recipes/` of the working folder when none are named; a
/// folder of recipe folders (catalog/) stands for every recipe in it. None at all is an error.
pub fn recipes_from(given: &[PathBuf]) -> Result<Vec<PathBuf>, BuildError> {
    let mut out = Vec::new();
    if given.is_empty() {
        out = discover(Path::new("recipes"))?;
    }
    for path in given {
        if path.is_dir() && !recipe_file(path).is_file() {
            out.extend(discover(path)?);
        } else {
            out.push(path.clone());
        }
    }
    if out.is_empty() {
        return Err(BuildError::NoRecipes);
    }
    Ok(out)
}

/// Finds every recipe under `dir` (folders holding a `recipe.yaml`), sorted.
pub fn discover(dir: &Path) -> Result<Vec<PathBuf>, BuildError> {
    let mut out = Vec::new();
    let entries = fs_err::read_dir(dir).map_err(BuildError::io(dir))?;
    for entry in entries.filter_map(Result::ok) {
        if entry.path().join("recipe.yaml").is_file() {
            out.push(entry.path());
        }
    }
    out.sort();
    Ok(out)
}

/// One output of one recipe variant, rendered and ready to build.
#[derive(Debug, Clone)]
pub struct Planned {
    /// The recipe file it comes from.
    pub recipe_file: PathBuf,
    /// The engine's rendered output.
    pub output: Output,
}

impl Planned {
    /// `name-version-build` as rattler-build names it.
    pub fn display_name(&self) -> String {
        self.output.identifier()
    }

    /// The folder of the recipe (its `RECIPE_DIR`).
    pub fn recipe_dir(&self) -> &Path {
        self.recipe_file.parent().unwrap_or(Path::new("."))
    }

    /// What identifies this output across builds: its recipe, name and variant.
    pub fn key(&self) -> String {
        format!(
            "{}#{}{:?}",
            self.recipe_file.display(),
            self.output.name().as_normalized(),
            self.output.build_configuration.variant
        )
    }

    fn name(&self) -> String {
        self.output.name().as_normalized().to_string()
    }
}

/// `recipe.yaml` of a recipe folder, or the file itself.
pub fn recipe_file(path: &Path) -> PathBuf {
    if path.is_dir() {
        path.join("recipe.yaml")
    } else {
        path.to_path_buf()
    }
}

/// Renders all recipes with the engine and orders their outputs.
pub fn plan(paths: &[PathBuf], engine: &Engine) -> Result<Vec<Planned>, BuildError> {
    let mut all = Vec::new();
    for path in paths {
        let file = recipe_file(path);
        if !file.is_file() {
            return Err(BuildError::Io {
                path: file,
                source: std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    "no recipe.yaml here: name a recipe folder or its recipe.yaml",
                ),
            });
        }
        let file = file.canonicalize().map_err(BuildError::io(&file))?;
        for output in engine.render(&file)? {
            all.push(Planned {
                recipe_file: file.clone(),
                output,
            });
        }
    }
    order(all)
}

/// Orders outputs so that each comes after the outputs producing what it needs; refuses a
/// cycle.
pub fn order(outputs: Vec<Planned>) -> Result<Vec<Planned>, BuildError> {
    let produced: BTreeSet<String> = outputs.iter().map(Planned::name).collect();
    let mut pending: Vec<(Planned, BTreeSet<String>)> = outputs
        .into_iter()
        .map(|p| {
            let mut needs: BTreeSet<String> =
                engine::requirement_names(&p.output).into_iter().collect();
            // A python test needs a python whatever the package requires.
            if p.output
                .recipe
                .tests()
                .iter()
                .any(|t| matches!(t, rattler_build_recipe::stage1::TestType::Python { .. }))
            {
                needs.insert("python".into());
            }
            let own = p.name();
            needs.retain(|n| produced.contains(n) && *n != own);
            (p, needs)
        })
        .collect();
    let mut ordered = Vec::new();
    let mut done: BTreeSet<String> = BTreeSet::new();
    while !pending.is_empty() {
        let (ready, rest): (Vec<_>, Vec<_>) = pending
            .into_iter()
            .partition(|(_, needs)| needs.iter().all(|n| done.contains(n)));
        if ready.is_empty() {
            let names: Vec<String> = rest.iter().map(|(p, _)| p.display_name()).collect();
            return Err(BuildError::Cycle(names.join(", ")));
        }
        // A name is done once none of its variants is pending.
        let rest_names: BTreeSet<String> = rest.iter().map(|(p, _)| p.name()).collect();
        for (p, _) in &ready {
            if !rest_names.contains(&p.name()) {
                done.insert(p.name());
            }
        }
        ordered.extend(ready.into_iter().map(|(p, _)| p));
        pending = rest;
    }
    Ok(ordered)
}
