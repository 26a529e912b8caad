//! Model cards: how scivision installs an upstream catalog model that is no conda package of its
//! own (`catalog/<model>/card.yaml`, embedded in the binary).
//!
//! A card pins the model's source (a git revision, a URL with its sha256, or a conda package),
//! names the Python range, the conda packages (conda-forge names: the framework's CPU and CUDA
//! builds are chosen by the host's `__cuda`), the PyPI-only packages, the system needs and the
//! model.yml fields. [`Card::problems`] lists everything wrong with one card; [`Card::model`]
//! turns a valid card into the catalog fields that `env create` reads.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use rattler_conda_types::{PackageNameMatcher, ParseStrictness, Version, VersionSpec};
use std::str::FromStr;

use serde::{Deserialize, Serialize};

mod problems;

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/cards.rs"));
}

/// The file name of a card inside its folder.
pub const CARD_FILE: &str = "card.yaml";

/// A card that cannot be read at all (unreadable, not YAML, unknown or mistyped key).
#[derive(Debug, Clone, thiserror::Error, miette::Diagnostic, Serialize)]
#[error("{}: {}{message}", file.display(), field.as_deref().map(|f| format!("field `{f}`: ")).unwrap_or_default())]
#[diagnostic(help("{fix}"))]
pub struct CardProblem {
    /// The card file.
    pub file: PathBuf,
    /// Dotted path of the field, when one is at fault.
    pub field: Option<String>,
    /// What is wrong.
    pub message: String,
    /// What to do.
    pub fix: String,
}

/// `source:`: exactly one of a git revision, a URL with its sha256, or a conda package.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CardSource {
    /// Git repository URL (https).
    pub git: Option<String>,
    /// The full commit the card pins (40 hex digits).
    pub rev: Option<String>,
    /// An sdist or wheel URL.
    pub url: Option<String>,
    /// The URL's sha256.
    pub sha256: Option<String>,
    /// A conda match spec: the model is a conda package (conda-forge publishes it prebuilt).
    pub conda: Option<String>,
}

/// `system:`: what the host or the prefix must provide beyond packages.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CardSystem {
    /// `none` (the code runs on the CPU only: CPU builds are installed), `optional` (the host
    /// decides through `__cuda`), or a version spec the driver must meet (`>=12`).
    #[serde(default = "optional")]
    pub cuda: String,
    /// A glibc the host must have (`>=2.28`).
    pub glibc: Option<String>,
    /// The model (opencv, Qt) needs libGL: installed from conda (`libgl`), not from the host.
    #[serde(default)]
    pub opengl: bool,
    /// Compilers needed at install time (`c`, `cxx`, `fortran`): installed from conda.
    #[serde(default)]
    pub compilers: Vec<String>,
    /// Anything else, for people.
    #[serde(default)]
    pub notes: Vec<String>,
}

fn optional() -> String {
    "optional".into()
}

impl Default for CardSystem {
    fn default() -> Self {
        Self {
            cuda: optional(),
            glibc: None,
            opengl: false,
            compilers: Vec::new(),
            notes: Vec::new(),
        }
    }
}

/// `model:`: upstream's `.scivision/model.yml` fields.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CardModel {
    /// Module to import (`importlib.import_module`, so hyphens work).
    pub import: String,
    /// The default model class.
    pub model: String,
    /// Other model classes in the same module.
    #[serde(default)]
    pub others: Vec<String>,
    /// The prediction function.
    pub prediction_fn: Option<PredictionFn>,
}

/// One card.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Card {
    /// The upstream catalog name this card makes installable.
    pub name: String,
    /// The model's distribution (or conda package) name.
    pub package: String,
    /// The version the source pins.
    pub version: String,
    /// Where the model comes from.
    pub source: CardSource,
    /// The CPython range (a conda version spec).
    pub python: String,
    /// Conda match specs.
    #[serde(default)]
    pub conda: Vec<String>,
    /// PEP 508 requirements only PyPI provides.
    #[serde(default)]
    pub pypi: Vec<String>,
    /// PyPI names the conda packages provide even where the model's metadata asks for them
    /// otherwise (a git URL to build from source): conda's version overrides every such
    /// requirement in the PyPI resolution.
    #[serde(default)]
    pub pypi_overrides: Vec<String>,
    /// PyPI names whose build must see the conda packages (detectron2 against conda's pytorch):
    /// built without isolation inside the environment's prefix, as uv's
    /// `--no-build-isolation-package`.
    #[serde(default)]
    pub pypi_no_build_isolation: Vec<String>,
    /// System needs.
    #[serde(default)]
    pub system: CardSystem,
    /// model.yml's fields; absent when upstream ships none.
    pub model: Option<CardModel>,
    /// The weight files the model's code downloads at run time (`scivision weights fetch`).
    #[serde(default)]
    pub weights: Vec<crate::weights::WeightFile>,
    /// How the model is published as a package of the channel (`recipe.yaml` beside the card
    /// is generated from the card); absent for a model no scivision channel publishes.
    pub recipe: Option<CardRecipe>,
}

/// `recipe:`: the facts a package needs that installing from source does not.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CardRecipe {
    /// SPDX licence of the source.
    pub license: String,
    /// The licence file in the source (absent only where the source ships none).
    pub license_file: Option<String>,
    /// The build backend's packages, beyond python and pip (`setuptools`, `wheel`).
    #[serde(default)]
    pub host: Vec<String>,
    /// The site-packages entries the package must hold (default: the model's import name).
    #[serde(default)]
    pub contents: Vec<String>,
    /// Modules that import without the framework (tested in a prefix); the model's own module
    /// imports its framework at the top, which these test machines cannot install.
    #[serde(default)]
    pub imports: Vec<String>,
}

/// CPython minors a python range can select (conda-forge's history and the near future).
const PYTHON_MINORS: &[(u64, u64)] = &[
    (2, 7),
    (3, 6),
    (3, 7),
    (3, 8),
    (3, 9),
    (3, 10),
    (3, 11),
    (3, 12),
    (3, 13),
    (3, 14),
];

impl Card {
    /// Parses a card; unknown keys and wrong types are one problem naming the field.
    pub fn parse(text: &str, file: &Path) -> Result<Self, CardProblem> {
        // Quoted scalars stay strings (`'~'`, `"true"`), as YAML reads them; a key given twice is
        // an error.
        let options = marked_yaml::LoaderOptions::default()
            .prevent_coercion(true)
            .error_on_duplicate_keys(true);
        let parsed = marked_yaml::parse_yaml_with_options(0, text, options)
            .map_err(marked_yaml::FromYamlError::from)
            .and_then(|mut node| {
                drop_nulls(&mut node);
                marked_yaml::from_node(&node).map_err(marked_yaml::FromYamlError::from)
            });
        parsed.map_err(|e| {
            let (field, inner) = match &e {
                marked_yaml::FromYamlError::ParseYaml(e) => (None, e.to_string()),
                marked_yaml::FromYamlError::FromNode(e) => {
                    // The position locates the key in the file.
                    let at = e
                        .start_mark()
                        .map(|m| format!(" at line {} column {}", m.line(), m.column()))
                        .unwrap_or_default();
                    // marked-yaml capitalizes its messages; ours start lower case.
                    let message = (**e).to_string();
                    let mut chars = message.chars();
                    let message = chars.next().map_or_else(String::new, |c| {
                        c.to_lowercase().chain(chars).collect::<String>()
                    });
                    (e.path().map(String::from), format!("{message}{at}"))
                }
            };
            CardProblem {
                file: file.to_path_buf(),
                field: field.filter(|f| f != "."),
                fix: if inner.to_lowercase().contains("unknown field") {
                    "remove the key or fix its spelling; a card's keys are name, package, version, source, python, conda, pypi, pypi_overrides, pypi_no_build_isolation, system, model, weights, recipe (see catalog/README.md)".into()
                } else {
                    "see catalog/README.md for the card format".into()
                },
                message: inner,
            }
        })
    }

    /// Reads and parses a card file.
    pub fn load(file: &Path) -> Result<Self, CardProblem> {
        let text = fs_err::read_to_string(file).map_err(|e| CardProblem {
            file: file.to_path_buf(),
            field: None,
            message: e.to_string(),
            fix: "pass a card.yaml file or a folder holding one".into(),
        })?;
        Self::parse(&text, file)
    }

    /// The cards built into this binary, with their paths in the repository.
    pub fn embedded() -> Vec<(PathBuf, Result<Self, CardProblem>)> {
        embedded::CARDS
            .iter()
            .map(|(path, text)| {
                let path = PathBuf::from(path);
                let card = Self::parse(text, &path);
                (path, card)
            })
            .collect()
    }

    /// The conda specs of this card, in the order a solve takes them: python first.
    pub fn conda_specs(&self) -> Vec<String> {
        let mut specs = vec![format!("python {}", self.python)];
        if let Some(spec) = &self.source.conda {
            specs.push(spec.clone());
        }
        specs.extend(self.conda.iter().cloned());
        if self.system.opengl {
            specs.push("libgl".into());
        }
        for c in &self.system.compilers {
            specs.push(format!("{c}-compiler"));
        }
        if let Some(glibc) = &self.system.glibc {
            specs.push(format!("__glibc {glibc}"));
        }
        if !matches!(self.system.cuda.as_str(), "none" | "optional") {
            specs.push(format!("__cuda {}", self.system.cuda));
        }
        specs
    }

    /// The PEP 508 requirements: the model's own source first, then the card's.
    pub fn pypi_requirements(&self) -> Vec<String> {
        let s = &self.source;
        let own = match (&s.git, &s.rev, &s.url, &s.sha256) {
            (Some(git), Some(rev), _, _) => Some(format!("{} @ git+{git}@{rev}", self.package)),
            (_, _, Some(url), Some(sha)) => Some(format!("{} @ {url}#sha256={sha}", self.package)),
            _ => None,
        };
        own.into_iter().chain(self.pypi.iter().cloned()).collect()
    }

    /// The conda package name the model is published under: the distribution name, normalized
    /// as conda names PyPI distributions (lower case, `-` for runs of `_`, `.` and `-`).
    pub fn conda_name(&self) -> String {
        let mut out = String::new();
        for c in self.package.trim().chars() {
            if matches!(c, '_' | '.' | '-') {
                if !out.ends_with('-') {
                    out.push('-');
                }
            } else {
                out.extend(c.to_lowercase());
            }
        }
        out
    }

    /// Whether installing needs `git` on the host (a git source or a git PyPI requirement).
    pub fn needs_git(&self) -> bool {
        self.source.git.is_some() || self.pypi.iter().any(|r| r.contains("git+"))
    }

    /// Host programs the install needs that PATH lacks (`git` for git sources).
    pub fn missing_host_tools(&self) -> Vec<&'static str> {
        let on_path = |tool: &str| which::which(tool).is_ok();
        let mut missing = Vec::new();
        if self.needs_git() && !on_path("git") {
            missing.push("git");
        }
        missing
    }
}

/// The conda match spec of a PyPI-only requirement, published in the channel under its
/// normalized name (`python-doctr ==0.6.0`). Requirements with markers, extras or URLs have no
/// such form.
pub fn conda_spec_of(text: &str) -> Result<String, String> {
    let req = uv_pep508::Requirement::<uv_pep508::VerbatimUrl>::from_str(text)
        .map_err(|e| e.to_string())?;
    if !req.extras.is_empty() {
        return Err("extras select optional dependencies, which a conda package has not".into());
    }
    if !req.marker.is_true() {
        return Err("a marker makes it conditional, which a run requirement cannot be".into());
    }
    let name = req.name.to_string();
    let name = crate::build::wheel::default_name_map()
        .get(&name)
        .map_or(name, ToString::to_string);
    match req.version_or_url {
        None => Ok(name),
        Some(uv_pep508::VersionOrUrl::VersionSpecifier(spec)) => {
            // PEP 440 specifiers and conda's agree for ==, !=, <, <=, >, >=, ~= (and `,`).
            Ok(format!("{name} {}", spec.to_string().replace(", ", ",")))
        }
        Some(uv_pep508::VersionOrUrl::Url(_)) => {
            Err("a URL is no version of a conda package".into())
        }
    }
}

/// Cards found at `paths` (card files, or folders holding `card.yaml` or holding card folders).
pub fn discover(paths: &[PathBuf]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for path in paths {
        if path.is_file() {
            out.push(path.clone());
        } else if path.join(CARD_FILE).is_file() {
            out.push(path.join(CARD_FILE));
        } else if let Ok(dir) = fs_err::read_dir(path) {
            let mut found: Vec<PathBuf> = dir
                .filter_map(Result::ok)
                .map(|e| e.path().join(CARD_FILE))
                .filter(|p| p.is_file())
                .collect();
            found.sort();
            out.extend(found);
        } else {
            // Reported by the loader as unreadable.
            out.push(path.clone());
        }
    }
    out
}

/// The card fields a `catalog show` prints.
pub fn summary(card: &Card) -> BTreeMap<&'static str, String> {
    let s = &card.source;
    let source = match (&s.git, &s.rev, &s.url, &s.conda) {
        (Some(g), Some(r), _, _) => format!("git {g} @ {r}"),
        (_, _, Some(u), _) => format!("url {u}"),
        (_, _, _, Some(c)) => format!("conda {c}"),
        _ => String::new(),
    };
    let mut out = BTreeMap::from([
        ("source", source),
        ("python", card.python.clone()),
        ("cuda", card.system.cuda.clone()),
    ]);
    if card.needs_git() {
        out.insert("host needs", "git on PATH (to clone the source)".into());
    }
    out
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

/// Removes mapping entries whose value is YAML's null (`null`, `~` or nothing, unquoted):
/// marked-yaml keeps every scalar as text, and a card's `glibc: null` means no value, as YAML
/// (and serde_yaml before it) reads it.
fn drop_nulls(node: &mut marked_yaml::Node) {
    match node {
        marked_yaml::Node::Mapping(map) => {
            map.retain(|_, value| {
                !matches!(value, marked_yaml::Node::Scalar(s)
                    if s.may_coerce() && matches!(s.as_str(), "" | "~" | "null" | "Null" | "NULL"))
            });
            for value in map.values_mut() {
                drop_nulls(value);
            }
        }
        marked_yaml::Node::Sequence(items) => items.iter_mut().for_each(drop_nulls),
        marked_yaml::Node::Scalar(_) => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_embedded_card_is_valid_and_names_a_catalog_model() {
        let cards = Card::embedded();
        assert_eq!(cards.len(), 17, "one card per upstream model");
        let catalog = crate::catalog::Catalog::embedded();
        for (path, card) in cards {
            let card = card.unwrap_or_else(|e| panic!("{e}"));
            let problems = card.problems(&path);
            assert!(problems.is_empty(), "{problems:?}");
            let model = catalog.get(&card.name).unwrap();
            assert_eq!(model.card.as_ref(), Some(&card), "{}", card.name);
            assert!(!model.conda_dependencies.is_empty());
        }
    }

    fn card(text: &str) -> Result<Card, CardProblem> {
        Card::parse(text, Path::new("catalog/x/card.yaml"))
    }

    const GOOD: &str = "name: x\npackage: x\nversion: 1.0\nsource:\n  git: https://example.invalid/x.git\n  rev: 0123456789abcdef0123456789abcdef01234567\npython: '>=3.9'\nconda: [numpy]\n";

    #[test]
    fn a_good_card_has_no_problems_and_pins_its_source() {
        let c = card(GOOD).unwrap();
        assert_eq!(c.version, "1.0");
        assert!(c.problems(Path::new("c")).is_empty());
        assert_eq!(
            c.pypi_requirements(),
            ["x @ git+https://example.invalid/x.git@0123456789abcdef0123456789abcdef01234567"]
        );
        assert_eq!(c.conda_specs(), ["python >=3.9", "numpy"]);
    }

    #[test]
    fn yaml_nulls_are_absent_values() {
        let c = card(&GOOD.replace(
            "conda: [numpy]",
            "conda: [numpy]\nsystem:\n  glibc: ~\n  cuda: none",
        ))
        .unwrap();
        assert_eq!(c.system.glibc, None);
        let c = card(&GOOD.replace(
            "conda: [numpy]",
            "conda: [numpy]\nsystem:\n  glibc: '~'\n  cuda: none",
        ))
        .unwrap();
        assert_eq!(c.system.glibc.as_deref(), Some("~"));
    }

    #[test]
    fn unknown_keys_name_the_field() {
        let e = card(&GOOD.replace(
            "conda: [numpy]",
            "conda: [numpy]\nsystem:\n  cuda: none\n  gpu: yes",
        ))
        .unwrap_err();
        assert_eq!(e.field.as_deref(), Some("system.gpu"));
        assert!(e.message.contains("unknown field `gpu`"), "{e}");
    }

    #[test]
    fn each_bad_field_is_one_problem() {
        let fields = |text: &str| -> Vec<String> {
            card(text)
                .unwrap()
                .problems(Path::new("c"))
                .into_iter()
                .filter_map(|p| p.field)
                .collect()
        };
        assert_eq!(
            fields(&GOOD.replace("'>=3.9'", "'>=3.12,<3.9'")),
            ["python"]
        );
        assert_eq!(
            fields(&GOOD.replace("  rev: 0123456789abcdef0123456789abcdef01234567\n", "")),
            ["source.rev"]
        );
        assert_eq!(
            fields(&GOOD.replace(
                "  rev: 0123456789abcdef0123456789abcdef01234567\n",
                "  rev: main\n"
            )),
            ["source.rev"]
        );
        let url = GOOD.replace(
            "  git: https://example.invalid/x.git\n  rev: 0123456789abcdef0123456789abcdef01234567\n",
            "  url: https://example.invalid/x-1.0.tar.gz\n",
        );
        assert_eq!(fields(&url), ["source.sha256"]);
        assert_eq!(
            fields(&GOOD.replace("[numpy]", "['numpy >=>1']")),
            ["conda[0]"]
        );
        assert_eq!(
            fields(&GOOD.replace("conda: [numpy]", "pypi: ['y @ git+https://h/y.git']")),
            ["pypi[0]"]
        );
        assert_eq!(
            fields(&GOOD.replace("conda: [numpy]", "pypi: ['y @ git+https://h/y.git@v0.6']")),
            ["pypi[0]"]
        );
        let pinned = "pypi: ['y @ git+https://h/y.git@0123456789abcdef0123456789abcdef01234567']";
        assert!(fields(&GOOD.replace("conda: [numpy]", pinned)).is_empty());
        assert_eq!(fields(&GOOD.replace("'>=3.9'", "'3.9'")), ["python"]);
        assert_eq!(fields(&GOOD.replace("[numpy]", "[torch]")), ["conda[0]"]);
        assert_eq!(fields(&GOOD.replace("[numpy]", "[pyqt5]")), ["conda[0]"]);
        assert_eq!(
            fields(&GOOD.replace("[numpy]", "['python >=3.9']")),
            ["conda[0]"]
        );
    }
}
