//! Recipes: rattler-build's `recipe.yaml` (v1), parsed strictly and rendered per variant.
//!
//! A key this builder does not understand is an error naming the key and the file: a recipe
//! that builds here builds the same with rattler-build, and nothing is silently dropped.
//! This module parses and validates; it never touches the network or the file system beyond
//! reading the recipe and its `variants.yaml`.

pub mod expr;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use serde_yaml::Value;

use self::expr::{Evaluator, ExprError};

/// Everything that can be wrong with a recipe.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum RecipeError {
    /// The file could not be read.
    #[error("cannot read recipe {}", path.display())]
    #[diagnostic(help("pass a recipe directory or a recipe.yaml file"))]
    Read {
        /// The recipe file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not YAML.
    #[error("{} is not valid YAML: {source}", path.display())]
    #[diagnostic(help("fix the YAML syntax at the line shown"))]
    Yaml {
        /// The recipe file.
        path: PathBuf,
        /// The parser's error.
        #[source]
        source: serde_yaml::Error,
    },
    /// An expression or selector failed.
    #[error("{}: {source}", path.display())]
    #[diagnostic(help("expressions may use the recipe's `context` variables, `variants.yaml` keys and the platform selectors (linux, unix, osx, win, x86_64, aarch64)"))]
    Expression {
        /// The recipe file.
        path: PathBuf,
        /// What failed.
        #[source]
        source: ExprError,
    },
    /// A field is unknown, missing or of the wrong type.
    #[error("{}: field `{field}`: {message}", path.display())]
    #[diagnostic(help("see the recipe format in README.md (rattler-build's recipe.yaml v1); scivision's own keys belong under `extra.scivision`"))]
    Field {
        /// The recipe file.
        path: PathBuf,
        /// Dotted path of the offending field.
        field: String,
        /// What is wrong with it.
        message: String,
    },
}

/// A parsed, rendered recipe: one package to build.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Recipe {
    /// Variables for expressions (already applied; kept for the rendered recipe in the package).
    #[serde(default)]
    pub context: IndexMap<String, Value>,
    /// Name and version.
    pub package: PackageSection,
    /// Where the sources come from.
    #[serde(default, deserialize_with = "one_or_many")]
    pub source: Vec<Source>,
    /// How to build.
    #[serde(default)]
    pub build: BuildSection,
    /// Requirements.
    #[serde(default)]
    pub requirements: Requirements,
    /// Tests that are packaged with the recipe and run after the build.
    #[serde(default)]
    pub tests: Vec<TestSpec>,
    /// Metadata for about.json.
    #[serde(default)]
    pub about: About,
    /// Free-form extra metadata; `extra.scivision` is validated.
    #[serde(default)]
    pub extra: IndexMap<String, Value>,
}

/// `package:`
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PackageSection {
    /// Conda package name.
    #[serde(deserialize_with = "scalar_string")]
    pub name: String,
    /// Version string (a YAML number such as `1.10` is taken as written).
    #[serde(deserialize_with = "scalar_string")]
    pub version: String,
}

/// One entry of `source:`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Source {
    /// A URL (`https://`, `file://`) of an archive or a single file.
    pub url: Option<String>,
    /// Required with `url`: the expected sha256.
    pub sha256: Option<String>,
    /// A file name for the downloaded file (default: the URL's last segment).
    pub file_name: Option<String>,
    /// A local directory or file, relative to the recipe.
    pub path: Option<String>,
    /// A git repository (a local path relative to the recipe, or a URL).
    pub git: Option<String>,
    /// The git revision (commit, tag or branch) to check out.
    pub rev: Option<String>,
    /// Sub-directory of the work directory to place this source in.
    pub target_directory: Option<String>,
}

/// `build:`
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct BuildSection {
    /// Build number.
    #[serde(default, deserialize_with = "number_or_string")]
    pub number: u64,
    /// Explicit build string; default `<hash>_<number>` or `pyh<hash>_<number>`.
    pub string: Option<String>,
    /// `python` or `generic`.
    pub noarch: Option<NoArch>,
    /// Shell commands (a list, one string, or a file name in the recipe directory).
    #[serde(default, deserialize_with = "strings")]
    pub script: Vec<String>,
    /// Python specifics.
    #[serde(default)]
    pub python: PythonBuild,
    /// Conditions (already rendered to booleans) under which the recipe is skipped.
    #[serde(default, deserialize_with = "one_or_many")]
    pub skip: Vec<Value>,
}

/// `build.noarch`
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum NoArch {
    /// Pure Python, site-packages relocated at install time.
    Python,
    /// Platform-independent files.
    Generic,
}

/// `build.python`
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PythonBuild {
    /// `name = module:function` console scripts.
    #[serde(default)]
    pub entry_points: Vec<String>,
}

/// `requirements:`
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Requirements {
    /// Tools for the build machine.
    #[serde(default)]
    pub build: Vec<String>,
    /// Libraries and interpreters to build against (installed into the placeholder prefix).
    #[serde(default)]
    pub host: Vec<String>,
    /// Run-time dependencies.
    #[serde(default)]
    pub run: Vec<String>,
    /// Constraints on packages that may be installed beside this one.
    #[serde(default)]
    pub run_constraints: Vec<String>,
}

/// One entry of `tests:`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(untagged)]
pub enum TestSpec {
    /// `- python: {imports, pip_check}`
    Python {
        /// The Python test.
        python: PythonTest,
    },
    /// `- script: [...]`
    Script(ScriptTest),
}

/// A Python import test.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PythonTest {
    /// Modules that must import.
    #[serde(default)]
    pub imports: Vec<String>,
    /// Whether to run `pip check`.
    #[serde(default = "default_true")]
    pub pip_check: bool,
}

/// A script test.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ScriptTest {
    /// Commands run in the test environment.
    #[serde(deserialize_with = "strings")]
    pub script: Vec<String>,
    /// Extra test requirements.
    #[serde(default)]
    pub requirements: TestRequirements,
    /// Files copied next to the test.
    #[serde(default)]
    pub files: TestFiles,
}

/// `tests[].requirements`
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TestRequirements {
    /// Packages installed with the package under test.
    #[serde(default)]
    pub run: Vec<String>,
}

/// `tests[].files`
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TestFiles {
    /// Files from the recipe directory.
    #[serde(default)]
    pub recipe: Vec<String>,
    /// Files from the source directory.
    #[serde(default)]
    pub source: Vec<String>,
}

/// `about:`
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct About {
    /// Project home page.
    pub homepage: Option<String>,
    /// Source repository.
    pub repository: Option<String>,
    /// Documentation.
    pub documentation: Option<String>,
    /// SPDX license expression.
    pub license: Option<String>,
    /// License file(s), relative to the source (or recipe).
    #[serde(default, deserialize_with = "one_or_many")]
    pub license_file: Vec<String>,
    /// License family.
    pub license_family: Option<String>,
    /// One line.
    pub summary: Option<String>,
    /// Longer text.
    pub description: Option<String>,
}

/// `extra.scivision`: what makes a package a Scivision model.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ScivisionExtra {
    /// The Python module to import (model.yml `import`).
    pub import: Option<String>,
    /// The model class in that module (model.yml `model`).
    pub model: Option<String>,
    /// The prediction function (model.yml `prediction_fn`).
    pub prediction_fn: Option<PredictionFn>,
    /// Scientific tasks (catalog vocabulary).
    #[serde(default)]
    pub tasks: Vec<String>,
    /// PEP 508 requirements that only PyPI provides.
    #[serde(default)]
    pub pypi_dependencies: Vec<String>,
    /// Host facts the model needs (`cuda: ">=12"`, `glibc: ">=2.17"`, free text for others).
    #[serde(default)]
    pub system_requirements: BTreeMap<String, String>,
    /// A sample input shipped with the model, relative to its package.
    pub sample: Option<String>,
}

/// model.yml's `prediction_fn`.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PredictionFn {
    /// Method name on the model object.
    pub call: String,
    /// Arguments; `X` names the input.
    #[serde(default)]
    pub args: BTreeMap<String, String>,
}

fn default_true() -> bool {
    true
}

pub(crate) fn scalar_string<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<String, D::Error> {
    match Value::deserialize(deserializer)? {
        Value::String(s) => Ok(s),
        Value::Number(n) => Ok(n.to_string()),
        other => Err(serde::de::Error::custom(format!(
            "expected a string, found {}",
            serde_yaml::to_string(&other).unwrap_or_default().trim()
        ))),
    }
}

fn number_or_string<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<u64, D::Error> {
    let text = scalar_string(deserializer)?;
    text.trim()
        .parse()
        .map_err(|_| serde::de::Error::custom(format!("`{text}` is not a non-negative integer")))
}

/// A string or a list of strings; YAML scalars (`true`, `1`) are taken as written.
fn strings<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    let scalar = |v: Value| match v {
        Value::String(s) => Ok(s),
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        other => Err(serde::de::Error::custom(format!(
            "expected a string, found {}",
            serde_yaml::to_string(&other).unwrap_or_default().trim()
        ))),
    };
    match Value::deserialize(deserializer)? {
        Value::Null => Ok(Vec::new()),
        Value::Sequence(items) => items.into_iter().map(scalar).collect(),
        other => Ok(vec![scalar(other)?]),
    }
}

fn one_or_many<'de, D, T>(deserializer: D) -> Result<Vec<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany<T> {
        Many(Vec<T>),
        One(T),
    }
    Ok(match Option::<OneOrMany<T>>::deserialize(deserializer)? {
        None => Vec::new(),
        Some(OneOrMany::Many(v)) => v,
        Some(OneOrMany::One(v)) => vec![v],
    })
}

/// One rendered variant of a recipe file.
#[derive(Debug, Clone)]
pub struct RenderedRecipe {
    /// The recipe file.
    pub path: PathBuf,
    /// The directory holding it.
    pub dir: PathBuf,
    /// The variant values that were applied (empty without `variants.yaml`).
    pub variant: BTreeMap<String, String>,
    /// The parsed recipe.
    pub recipe: Recipe,
    /// The validated `extra.scivision`, if any.
    pub scivision: Option<ScivisionExtra>,
}

impl RenderedRecipe {
    /// `name-version-variant`, for messages.
    pub fn display_name(&self) -> String {
        let mut s = format!(
            "{}-{}",
            self.recipe.package.name, self.recipe.package.version
        );
        for v in self.variant.values() {
            s.push('-');
            s.push_str(v);
        }
        s
    }
}

/// Finds the recipe file for a path that is either `recipe.yaml` or a directory holding one.
pub fn recipe_file(path: &Path) -> PathBuf {
    if path.is_dir() {
        path.join("recipe.yaml")
    } else {
        path.to_path_buf()
    }
}

/// Reads a recipe and renders it for every variant in `variants.yaml` beside it, for
/// `target_platform`. Skipped variants are left out.
pub fn load(path: &Path, target_platform: &str) -> Result<Vec<RenderedRecipe>, RecipeError> {
    let file = recipe_file(path);
    let text = fs_err::read_to_string(&file).map_err(|source| RecipeError::Read {
        path: file.clone(),
        source,
    })?;
    let dir = file
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    let variants = load_variants(&dir.join("variants.yaml"))?;
    let raw: Value = serde_yaml::from_str(&text).map_err(|source| RecipeError::Yaml {
        path: file.clone(),
        source,
    })?;
    let mut out = Vec::new();
    for variant in variants {
        if let Some(rendered) = render(&file, &dir, &raw, &variant, target_platform)? {
            out.push(rendered);
        }
    }
    Ok(out)
}

/// `variants.yaml`: each key a list of values; the variants are their cartesian product.
fn load_variants(path: &Path) -> Result<Vec<BTreeMap<String, String>>, RecipeError> {
    if !path.exists() {
        return Ok(vec![BTreeMap::new()]);
    }
    let text = fs_err::read_to_string(path).map_err(|source| RecipeError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let map: BTreeMap<String, Vec<Value>> =
        serde_yaml::from_str(&text).map_err(|source| RecipeError::Yaml {
            path: path.to_path_buf(),
            source,
        })?;
    let mut variants = vec![BTreeMap::new()];
    for (key, values) in map {
        if values.is_empty() {
            return Err(RecipeError::Field {
                path: path.to_path_buf(),
                field: key,
                message: "a variant key needs at least one value".into(),
            });
        }
        let mut next = Vec::new();
        for variant in &variants {
            for value in &values {
                let mut v: BTreeMap<String, String> = variant.clone();
                v.insert(key.clone(), scalar_to_string(value));
                next.push(v);
            }
        }
        variants = next;
    }
    Ok(variants)
}

fn scalar_to_string(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        other => serde_yaml::to_string(other)
            .unwrap_or_default()
            .trim()
            .to_string(),
    }
}

fn render(
    file: &Path,
    dir: &Path,
    raw: &Value,
    variant: &BTreeMap<String, String>,
    target_platform: &str,
) -> Result<Option<RenderedRecipe>, RecipeError> {
    let field_error = |field: &str, message: &str| RecipeError::Field {
        path: file.to_path_buf(),
        field: field.to_string(),
        message: message.to_string(),
    };
    let Value::Mapping(top) = raw else {
        return Err(field_error(
            "(top level)",
            "a recipe is a mapping with `package`, `source`, `build`, …",
        ));
    };
    let mut evaluator = Evaluator::new(target_platform, variant.clone());
    // Context entries render in order, each able to use those before it.
    let mut context = serde_yaml::Mapping::new();
    if let Some(ctx) = top.get("context") {
        let Value::Mapping(ctx) = ctx else {
            return Err(field_error(
                "context",
                "must be a mapping of names to values",
            ));
        };
        for (k, v) in ctx {
            let Some(key) = k.as_str() else {
                return Err(field_error("context", "keys must be strings"));
            };
            let path = format!("context.{key}");
            let value =
                evaluator
                    .render_value(v, &path)
                    .map_err(|source| RecipeError::Expression {
                        path: file.to_path_buf(),
                        source,
                    })?;
            if variant.contains_key(key) {
                // A variant overrides the recipe's default for the same name.
                continue;
            }
            evaluator.set(key, scalar_to_string(&value));
            context.insert(k.clone(), value);
        }
    }
    let mut rest = serde_yaml::Mapping::new();
    for (k, v) in top {
        if k.as_str() == Some("context") {
            continue;
        }
        let key = k.as_str().unwrap_or_default();
        rest.insert(
            k.clone(),
            evaluator
                .render_value(v, key)
                .map_err(|source| RecipeError::Expression {
                    path: file.to_path_buf(),
                    source,
                })?,
        );
    }
    rest.insert(Value::String("context".into()), Value::Mapping(context));
    let recipe: Recipe = serde_path_to_error::deserialize(Value::Mapping(rest)).map_err(|e| {
        let field = e.path().to_string();
        RecipeError::Field {
            path: file.to_path_buf(),
            field,
            message: e.into_inner().to_string(),
        }
    })?;
    if recipe
        .build
        .skip
        .iter()
        .any(|v| matches!(v, Value::Bool(true)) || v.as_str() == Some("true"))
    {
        return Ok(None);
    }
    validate(file, &recipe)?;
    let scivision = match recipe.extra.get("scivision") {
        None => None,
        Some(value) => Some(
            serde_path_to_error::deserialize::<_, ScivisionExtra>(value.clone()).map_err(|e| {
                RecipeError::Field {
                    path: file.to_path_buf(),
                    field: format!("extra.scivision.{}", e.path()),
                    message: e.into_inner().to_string(),
                }
            })?,
        ),
    };
    if let Some(sv) = &scivision {
        for (i, text) in sv.pypi_dependencies.iter().enumerate() {
            crate::pypi::PypiRequirement::parse(text, "recipe").map_err(|e| {
                RecipeError::Field {
                    path: file.to_path_buf(),
                    field: format!("extra.scivision.pypi_dependencies[{i}]"),
                    message: match e {
                        crate::pypi::PypiError::Syntax { reason, .. } => {
                            format!("`{text}` is not a PEP 508 requirement: {reason}")
                        }
                        other => other.to_string(),
                    },
                }
            })?;
        }
    }
    Ok(Some(RenderedRecipe {
        path: file.to_path_buf(),
        dir: dir.to_path_buf(),
        variant: variant.clone(),
        recipe,
        scivision,
    }))
}

/// Checks what serde cannot: names, versions, match specs and source shapes.
fn validate(file: &Path, recipe: &Recipe) -> Result<(), RecipeError> {
    use rattler_conda_types::{PackageName, ParseStrictness, Version};
    use std::str::FromStr;
    let error = |field: String, message: String| RecipeError::Field {
        path: file.to_path_buf(),
        field,
        message,
    };
    PackageName::from_str(&recipe.package.name)
        .map_err(|e| error("package.name".into(), e.to_string()))?;
    Version::from_str(&recipe.package.version)
        .map_err(|e| error("package.version".into(), e.to_string()))?;
    if recipe.package.version.contains('-') {
        return Err(error(
            "package.version".into(),
            "a conda version may not contain `-`".into(),
        ));
    }
    let reqs = &recipe.requirements;
    for (section, specs) in [
        ("build", &reqs.build),
        ("host", &reqs.host),
        ("run", &reqs.run),
        ("run_constraints", &reqs.run_constraints),
    ] {
        for (i, spec) in specs.iter().enumerate() {
            crate::solve::match_spec(spec, ParseStrictness::Strict).map_err(|e| {
                error(
                    format!("requirements.{section}[{i}]"),
                    format!("`{spec}` is not a valid match spec: {e}"),
                )
            })?;
        }
    }
    for (i, source) in recipe.source.iter().enumerate() {
        let kinds = [&source.url, &source.path, &source.git]
            .iter()
            .filter(|k| k.is_some())
            .count();
        if kinds != 1 {
            return Err(error(
                format!("source[{i}]"),
                "give exactly one of `url`, `path` or `git`".into(),
            ));
        }
        if source.url.is_some() {
            match &source.sha256 {
                None => {
                    return Err(error(
                        format!("source[{i}].sha256"),
                        "a `url` source needs its sha256 so that the download can be checked"
                            .into(),
                    ))
                }
                Some(h) if h.len() != 64 || !h.chars().all(|c| c.is_ascii_hexdigit()) => {
                    return Err(error(
                        format!("source[{i}].sha256"),
                        format!("`{h}` is not a sha256 (64 hex digits)"),
                    ))
                }
                Some(_) => {}
            }
        } else if source.sha256.is_some() && source.path.is_none() {
            return Err(error(
                format!("source[{i}].sha256"),
                "`sha256` applies to `url` and `path` sources".into(),
            ));
        }
        if source.rev.is_some() && source.git.is_none() {
            return Err(error(
                format!("source[{i}].rev"),
                "`rev` applies to `git` sources".into(),
            ));
        }
    }
    for (i, entry) in recipe.build.python.entry_points.iter().enumerate() {
        crate::build::wheel::EntryPoint::parse(entry).ok_or_else(|| {
            error(
                format!("build.python.entry_points[{i}]"),
                format!("`{entry}` is not `name = module:function`"),
            )
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, text: &str) -> PathBuf {
        let path = dir.join("recipe.yaml");
        fs_err::write(&path, text).unwrap();
        path
    }

    const GOOD: &str = r#"
context:
  name: Demo-Pkg
  version: "1.0"
package:
  name: ${{ name | lower }}
  version: ${{ version }}
source:
  path: src
build:
  number: 2
  noarch: python
  script:
    - echo ${{ version }}
  python:
    entry_points:
      - demo = demo.cli:main
requirements:
  host: [python >=3.10, pip]
  run:
    - python >=3.10
    - if: linux
      then: numpy >=1.26
tests:
  - python:
      imports: [demo]
  - script: [demo --help]
about:
  license: MIT
extra:
  scivision:
    import: demo
    model: Model
    prediction_fn:
      call: predict
      args:
        X: image
"#;

    #[test]
    fn parses_and_renders_a_full_recipe() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), GOOD);
        let recipes = load(&path, "linux-64").unwrap();
        assert_eq!(recipes.len(), 1);
        let r = &recipes[0];
        assert_eq!(r.recipe.package.name, "demo-pkg");
        assert_eq!(r.recipe.build.number, 2);
        assert_eq!(r.recipe.build.script, ["echo 1.0"]);
        assert_eq!(r.recipe.requirements.run, ["python >=3.10", "numpy >=1.26"]);
        assert_eq!(r.recipe.tests.len(), 2);
        let sv = r.scivision.as_ref().unwrap();
        assert_eq!(sv.prediction_fn.as_ref().unwrap().call, "predict");
        // Off linux the selector drops numpy.
        let win = load(&path, "win-64").unwrap();
        assert_eq!(win[0].recipe.requirements.run, ["python >=3.10"]);
    }

    #[test]
    fn unknown_key_names_key_and_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), &GOOD.replace("number: 2", "numbr: 2"));
        let err = load(&path, "linux-64").unwrap_err();
        let text = err.to_string();
        assert!(text.contains("recipe.yaml"), "{text}");
        assert!(text.contains("numbr"), "{text}");
        assert!(text.contains("build"), "{text}");
    }

    #[test]
    fn unknown_scivision_key_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), &GOOD.replace("model: Model", "modle: Model"));
        let text = load(&path, "linux-64").unwrap_err().to_string();
        assert!(text.contains("extra.scivision"), "{text}");
        assert!(text.contains("modle"), "{text}");
    }

    #[test]
    fn bad_match_spec_names_the_field() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), &GOOD.replace("pip]", "pip >=>1]"));
        let text = load(&path, "linux-64").unwrap_err().to_string();
        assert!(text.contains("requirements.host[1]"), "{text}");
    }

    #[test]
    fn url_source_needs_sha256() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(
            dir.path(),
            &GOOD.replace("path: src", "url: https://example.org/x.tar.gz"),
        );
        let text = load(&path, "linux-64").unwrap_err().to_string();
        assert!(text.contains("source[0].sha256"), "{text}");
    }

    #[test]
    fn variants_multiply_and_skip() {
        let dir = tempfile::tempdir().unwrap();
        fs_err::write(dir.path().join("variants.yaml"), "flavor: [cpu, cuda]\n").unwrap();
        let text = GOOD
            .replace("number: 2", "number: 2\n  string: ${{ flavor }}_0")
            .replace(
                "  noarch: python",
                "  noarch: python\n  skip:\n    - ${{ flavor == 'cuda' and win }}",
            );
        let path = write(dir.path(), &text);
        let linux = load(&path, "linux-64").unwrap();
        let strings: Vec<_> = linux
            .iter()
            .map(|r| r.recipe.build.string.clone().unwrap())
            .collect();
        assert_eq!(strings, ["cpu_0", "cuda_0"]);
        assert_eq!(load(&path, "win-64").unwrap().len(), 1);
    }
}
