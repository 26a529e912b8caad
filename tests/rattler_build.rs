//! End-to-end: rattler-build's own test recipes (copied unchanged into
//! `tests/data/rattler-build/`, see its README.md) built by `scivision build`, and the packages
//! checked against what rattler-build's end-to-end tests (`test/end-to-end/test_simple.py`,
//! `test_build_steps.py`, `test_tests.py` and the snapshots under `__snapshots__/test_simple/`,
//! same commit) assert about them. The expected values are written out here by hand from those
//! files, not taken from scivision's output.
//!
//! All recipes are built in ONE `scivision build` call into a temporary channel (with the
//! fixture channel from `recipes/` as `-c`, for python). That call stops at the first recipe
//! that fails; only then is every recipe built on its own into the same channel (the ones
//! already built come back unchanged at once), so that each recipe's test reports its own
//! error. One `#[test]` per recipe.
//!
//! Considered and skipped:
//! - `tar-source`: its sources are on github.com and repo1.maven.org (network).
//! - `recipe_variant`: a variant over python 3.8 and 3.9, which the fixture channel lacks
//!   (python 3.11 only); test_simple.py only renders it (`render --with-solve`).
//! - `jinja-types`: test_simple.py asserts the rendered context and variant from
//!   `rattler-build render` (and with `--experimental`); the package has no files.
//! - `line-breaks`: test_simple.py checks console output, and only on Windows.
//! - `double_license`: test_simple.py checks a warning in the log, not the package.
//! - `python-version-spec`: test_simple.py checks that the build fails with a version-spec
//!   parse error, not a package.
//! - `prefix_detection`'s and `python_compilation`'s `info/recipe/` checks and `empty_folder`'s
//!   `info/recipe/empty_folder_in_recipe` check: scivision does not store the recipe in the
//!   package (`store_recipe: false`, since the rendered recipe records absolute build paths),
//!   so those single assertions are left out; the rest of those tests is kept.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use common::*;
use serde_json::{json, Value};

/// What is built: recipe folders under `tests/data/rattler-build/`, and one recipe file.
const RECIPES: &[&str] = &[
    "build_files",
    "build_steps",
    "crazy_characters",
    "default_build_script",
    "empty_folder",
    "filter_files",
    "package_files_override",
    "pin_subpackage",
    "pkg_hash",
    "prefix_detection",
    "python_compilation",
    "script",
    "script/recipe_with_extensions.yaml",
    "script_env",
    "symlink",
    "test-source-files",
    "variant_config",
];

/// Given to every build as `-m`, as test_simple.py gives it to `variant_config`'s build (the
/// other recipes do not use `some_option`, so it does not change them).
const VARIANT_CONFIG: &str = "variant_config/variant_config.yaml";

fn data() -> PathBuf {
    repo().join("tests/data/rattler-build")
}

/// One built package, extracted.
struct Pkg {
    /// The file, relative to the channel (`noarch/x-1-0.conda`).
    file: String,
    /// Where it was extracted.
    root: PathBuf,
    /// `info/index.json`.
    index: Value,
}

impl Pkg {
    fn stem(&self) -> &str {
        Path::new(&self.file)
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap()
            .trim_end_matches(".conda")
    }

    fn json(&self, rel: &str) -> Value {
        let path = self.root.join(rel);
        let text =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {rel}: {e}", self.file));
        serde_json::from_str(&text).unwrap()
    }

    fn paths(&self) -> Vec<Value> {
        self.json("info/paths.json")["paths"]
            .as_array()
            .unwrap()
            .clone()
    }

    fn path_names(&self) -> Vec<String> {
        self.paths()
            .iter()
            .map(|p| p["_path"].as_str().unwrap().to_string())
            .collect()
    }

    fn text(&self, rel: &str) -> String {
        std::fs::read_to_string(self.root.join(rel))
            .unwrap_or_else(|e| panic!("{}: {rel}: {e}", self.file))
    }

    fn has(&self, rel: &str) -> bool {
        self.root.join(rel).symlink_metadata().is_ok()
    }
}

struct Built {
    /// Package name → its packages (one per variant).
    packages: BTreeMap<String, Vec<Pkg>>,
    /// Recipe → why scivision could not build it.
    failures: BTreeMap<String, String>,
    /// Keeps the channel and the extracted packages.
    _dir: tempfile::TempDir,
}

fn build_cmd(channel: &Path, recipes: &[&str]) -> Output {
    let mut cmd = scivision();
    // `--experimental` as rattler-build's test_build_steps.py passes it (build.steps).
    cmd.args(["build", "--quiet", "--experimental", "--output-dir"])
        .arg(channel)
        .arg("-c")
        .arg(common::channel())
        .arg("-m")
        .arg(data().join(VARIANT_CONFIG));
    for r in recipes {
        cmd.arg(data().join(r));
    }
    run(&mut cmd)
}

// The recipes that did not build are also listed once on stderr, besides each one's test.
#[allow(clippy::print_stderr)]
fn built() -> &'static Built {
    static BUILT: OnceLock<Built> = OnceLock::new();
    BUILT.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let channel = dir.path().join("channel");
        let mut failures = BTreeMap::new();
        let all = build_cmd(&channel, RECIPES);
        if all.code != 0 {
            eprintln!(
                "building all rattler-build recipes at once failed; building each on its own\n{}",
                all.stderr
            );
            for r in RECIPES {
                let one = build_cmd(&channel, &[r]);
                if one.code != 0 {
                    failures.insert(
                        r.to_string(),
                        format!(
                            "exit code {}\nstdout:\n{}\nstderr:\n{}",
                            one.code, one.stdout, one.stderr
                        ),
                    );
                }
            }
            if failures.is_empty() {
                panic!(
                    "building all recipes at once failed, but each on its own built:\n{}",
                    all.stderr
                );
            }
            eprintln!(
                "rattler-build recipes scivision could not build: {:?}",
                failures.keys().collect::<Vec<_>>()
            );
        }
        let mut packages: BTreeMap<String, Vec<Pkg>> = BTreeMap::new();
        for entry in walkdir::WalkDir::new(&channel)
            .sort_by_file_name()
            .into_iter()
            .filter_map(Result::ok)
        {
            let rel = entry.path().strip_prefix(&channel).unwrap();
            if !entry.file_type().is_file()
                || rel.starts_with(".scivision")
                || !rel.to_string_lossy().ends_with(".conda")
            {
                continue;
            }
            let root = dir.path().join("x").join(rel);
            rattler_package_streaming::fs::extract(entry.path(), &root)
                .unwrap_or_else(|e| panic!("extract {}: {e}", entry.path().display()));
            let index: Value =
                serde_json::from_slice(&std::fs::read(root.join("info/index.json")).unwrap())
                    .unwrap();
            let name = index["name"].as_str().unwrap().to_string();
            packages.entry(name).or_default().push(Pkg {
                file: rel.display().to_string(),
                root,
                index,
            });
        }
        Built {
            packages,
            failures,
            _dir: dir,
        }
    })
}

/// The packages named `name` that `recipe` built; fails the test with scivision's error when
/// the recipe did not build.
fn packages(recipe: &str, name: &str) -> &'static [Pkg] {
    let b = built();
    if let Some(err) = b.failures.get(recipe) {
        panic!("scivision could not build rattler-build's `{recipe}` recipe:\n{err}");
    }
    match b.packages.get(name) {
        Some(p) => p,
        None => panic!(
            "`{recipe}` built, but the channel has no package `{name}`; it has {:?}",
            b.packages.keys().collect::<Vec<_>>()
        ),
    }
}

/// The one package named `name` that `recipe` built.
fn package(recipe: &str, name: &str) -> &'static Pkg {
    let p = packages(recipe, name);
    assert_eq!(
        p.len(),
        1,
        "one package {name} expected: {:?}",
        p.iter().map(|p| &p.file).collect::<Vec<_>>()
    );
    &p[0]
}

// An empty file's sha256, as in the snapshots.
const EMPTY: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// test_simple.py::test_build_files, snapshot test_build_files.json.
#[test]
fn build_files() {
    let pkg = package("build_files", "build_files");
    assert_eq!(
        pkg.json("info/paths.json"),
        json!({
            "paths": [
                {"_path": "include/include_file.c", "path_type": "hardlink", "sha256": EMPTY, "size_in_bytes": 0},
                {"_path": "include/include_file.h", "path_type": "hardlink", "sha256": EMPTY, "size_in_bytes": 0}
            ],
            "paths_version": 1
        })
    );
}

/// test_build_steps.py::test_build_steps (with `--experimental`, as rattler-build runs it).
#[test]
fn build_steps() {
    let pkg = package("build_steps", "build_steps_test");
    for f in [
        "share/build_steps/step1.txt",
        "share/build_steps/step2.txt",
        "share/build_steps/step3.txt",
        "share/build_steps/cwd/pwd.txt",
    ] {
        assert!(pkg.has(f), "{f} missing: a step did not run");
    }
    assert!(
        pkg.text("share/build_steps/step2.txt")
            .contains("hello-from-step"),
        "step-local env did not reach the section"
    );
    assert!(
        pkg.text("share/build_steps/step3.txt").contains("unset"),
        "step-local env leaked to a later section"
    );
}

/// test_simple.py::test_crazy_characters (the recipe's own tests ran too: scivision only
/// places a package whose tests passed).
#[test]
fn crazy_characters() {
    let pkg = package("crazy_characters", "crazy_characters");
    assert!(pkg.has("info/paths.json"));
    let long = format!("a_really_long_{}.txt", "a".repeat(200));
    for name in [
        "File(Glob …).tmSnippet",
        "a $random_crazy file name with spaces and (parentheses).txt",
        long.as_str(),
    ] {
        assert_eq!(pkg.text(&format!("files/{name}")), name);
    }
}

/// test_build_steps.py::test_default_build_script_still_runs.
#[test]
fn default_build_script() {
    let pkg = package("default_build_script", "default_build_script_test");
    let marker = "share/default_build_script/marker.txt";
    assert!(pkg.has(marker), "default build script did not run");
    assert!(pkg.text(marker).contains("default-build-script"));
}

/// test_simple.py::test_empty_folder (without its info/recipe check: see the top).
#[test]
fn empty_folder() {
    let pkg = package("empty_folder", "empty_folder");
    assert!(pkg.has("info/index.json"));
    assert!(!pkg.has("empty_folder"));
    assert_eq!(pkg.paths().len(), 0, "{:?}", pkg.path_names());
}

/// test_simple.py::test_filter_files, snapshot test_filter_files.json.
#[test]
fn filter_files() {
    let pkg = package("filter_files", "filter_files");
    assert_eq!(
        pkg.json("info/paths.json"),
        json!({
            "paths": [
                {"_path": ".github/foo", "path_type": "hardlink", "sha256": EMPTY, "size_in_bytes": 0},
                {"_path": ".gitignore", "path_type": "hardlink", "sha256": EMPTY, "size_in_bytes": 0},
                {"_path": "exists.txt", "path_type": "hardlink", "sha256": EMPTY, "size_in_bytes": 0}
            ],
            "paths_version": 1
        })
    );
}

/// test_simple.py::test_package_files_override.
#[test]
fn package_files_override() {
    let pkg = package("package_files_override", "package_files_override");
    let mut listed = pkg.path_names();
    listed.sort();
    assert_eq!(listed, ["bin/also-keep.sh", "bin/keep.sh"]);
    assert!(pkg.has("bin/keep.sh"));
    assert!(pkg.has("bin/also-keep.sh"));
    assert!(!pkg.has("bin/skip.sh"));
    assert!(!pkg.has("share/doc/skip.txt"));
}

/// test_simple.py::test_pin_subpackage asserts that `my.package-a` exists (with its
/// index.json). Beyond it, what the recipe's `pin_subpackage(name, exact=true)` means: the run
/// dependency on exactly the `my.package` built beside it.
#[test]
fn pin_subpackage() {
    let a = package("pin_subpackage", "my.package-a");
    assert!(a.has("info/index.json"));
    let base = package("pin_subpackage", "my.package");
    assert_eq!(
        a.index["depends"],
        json!([format!(
            "my.package ==0.1.0 {}",
            base.index["build"].as_str().unwrap()
        )])
    );
}

/// test_simple.py::test_pkg_hash: the build string is `h` + the first 7 hex digits of the
/// SHA-1 of the variant `{"target_platform": <subdir>}` as JSON (test_simple's
/// `variant_hash`), + `_my_pkg`. The digests are test_simple's formula worked out by hand.
#[test]
fn pkg_hash() {
    let expected = match (std::env::consts::OS, std::env::consts::ARCH) {
        ("linux", "x86_64") => "hb0f4dca",
        ("linux", "aarch64") => "he8cfe8b",
        ("macos", "x86_64") => "h0dc7051",
        ("macos", "aarch64") => "h60d57d3",
        other => panic!("no expected hash for {other:?}"),
    };
    let pkg = package("pkg_hash", "pkg_hash");
    assert_eq!(pkg.stem(), format!("pkg_hash-1.0.0-{expected}_my_pkg"));
}

/// test_simple.py::test_prefix_detection (the non-Windows expectations).
#[test]
fn prefix_detection() {
    let pkg = package("prefix_detection", "prefix_detection");
    assert!(pkg.has("info/index.json"));
    let paths = pkg.paths();
    let expected: &[(&str, Option<&str>)] = &[
        ("is_binary/file_with_prefix", Some("binary")),
        ("is_text/file_with_prefix", Some("text")),
        ("is_binary/file_without_prefix", None),
        ("is_text/file_without_prefix", None),
        ("force_text/file_with_prefix", Some("text")),
        ("force_text/file_without_prefix", None),
        ("force_binary/file_with_prefix", Some("binary")),
        ("force_binary/file_without_prefix", None),
        ("ignore/file_with_prefix", None),
        ("ignore/text_with_prefix", None),
    ];
    let mut wrong = Vec::new();
    for (path, mode) in expected {
        let Some(p) = paths.iter().find(|p| p["_path"] == *path) else {
            wrong.push(format!("{path}: not in paths.json"));
            continue;
        };
        let ok = match mode {
            None => p.get("file_mode").is_none() && p.get("prefix_placeholder").is_none(),
            Some(m) => {
                p["file_mode"] == *m
                    && p["prefix_placeholder"]
                        .as_str()
                        .is_some_and(|s| s.len() > 10)
            }
        };
        if !ok {
            wrong.push(format!("{path}: expected file_mode {mode:?}, got {p}"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// test_simple.py::test_compile_python (without its info/recipe/recipe.py count: see the
/// top). The recipe's own test (the .pyc files exist, none for test_skippy.py) ran too.
#[test]
fn python_compilation() {
    let pkg = package("python_compilation", "python_compilation");
    let names = pkg.path_names();
    let pyc: Vec<&String> = names.iter().filter(|p| p.ends_with(".pyc")).collect();
    assert_eq!(pyc.len(), 3, "{pyc:?}");
    assert!(
        pyc.iter().any(|p| *p == "just_a_.cpython-311.pyc"),
        "{pyc:?}"
    );
    let py: Vec<&String> = names.iter().filter(|p| p.ends_with(".py")).collect();
    assert_eq!(py.len(), 4, "{py:?}");
}

/// test_simple.py::test_script_execution, both recipes.
#[test]
fn script() {
    for (recipe, name) in [
        ("script", "script-test"),
        ("script/recipe_with_extensions.yaml", "script-test-ext"),
    ] {
        let pkg = package(recipe, name);
        assert_eq!(pkg.path_names(), ["script-executed.txt"], "{name}");
    }
}

/// test_simple.py::test_script_env_in_recipe.
#[test]
fn script_env() {
    let pkg = package("script_env", "script_env");
    assert!(pkg.has("info/paths.json"));
    assert!(pkg.text("hello.txt").contains("FOO is Hello World!"));
}

/// test_simple.py::test_symlink_recipe, snapshot test_symlink_recipe.json.
#[test]
fn symlink() {
    let pkg = package("symlink", "symlink");
    let target = "f2ca1bb6c7e907d06dafe4687e579fce76b37e4e93b7605022da52e6ccc26fd2";
    assert_eq!(
        pkg.json("info/paths.json"),
        json!({
            "paths": [
                {"_path": "bin/broken", "path_type": "softlink", "sha256": EMPTY, "size_in_bytes": 9},
                {"_path": "bin/symlink", "path_type": "softlink", "sha256": target, "size_in_bytes": 29},
                {"_path": "bin/symlink-to-lib", "path_type": "softlink", "sha256": EMPTY, "size_in_bytes": 6},
                {"_path": "lib/symlink/symlink-target", "path_type": "hardlink", "sha256": target, "size_in_bytes": 5}
            ],
            "paths_version": 1
        })
    );
}

/// test_tests.py::test_source_files_copied_to_test (and the recipe's test, which reads the
/// source file, passed).
#[test]
fn test_source_files() {
    let pkg = package("test-source-files", "test-source-files");
    assert!(pkg.has("etc/conda/test-files/test-source-files/0/data.txt"));
}

/// test_simple.py::test_variant_config: one package per value of `some_option`, with the
/// build strings test_simple.py names.
#[test]
fn variant_config() {
    let pkgs = packages("variant_config", "bla");
    let mut stems: Vec<&str> = pkgs.iter().map(Pkg::stem).collect();
    stems.sort();
    assert_eq!(stems, ["bla-0.1.0-h2c65b68_0", "bla-0.1.0-h48a45df_0"]);
    for (stem, option) in [
        ("bla-0.1.0-h2c65b68_0", "DEF"),
        ("bla-0.1.0-h48a45df_0", "ABC"),
    ] {
        let pkg = pkgs.iter().find(|p| p.stem() == stem).unwrap();
        assert!(pkg.has("info/paths.json"));
        assert_eq!(
            pkg.json("info/hash_input.json")["some_option"],
            option,
            "{stem}"
        );
    }
}

/// rattler-build itself (py-rattler-build, a peer) builds this repository's `recipes/` into
/// the same file lists and the same `index.json` (apart from the timestamp) as scivision.
/// CPython is taken from scivision's channel rather than built twice.
#[test]
fn rattler_build_itself_builds_our_recipes_into_the_same_files() {
    let ours = common::channel();
    let out_dir = tempfile::tempdir().unwrap();
    let mut recipes = Vec::new();
    for entry in std::fs::read_dir(repo().join("recipes")).unwrap().flatten() {
        let file = entry.path().join("recipe.yaml");
        if file.is_file() && entry.file_name() != "python" {
            recipes.push(file.display().to_string());
        }
    }
    recipes.sort();
    let script = "import json, sys, rattler_build\n\
        a = json.loads(sys.argv[1])\n\
        rattler_build.build_recipes(a['recipes'], channel=[a['channel']], output_dir=a['out'], no_include_recipe=True, test='skip')\n";
    let arg = json!({"recipes": recipes, "channel": ours, "out": out_dir.path()}).to_string();
    run_ok(
        std::process::Command::new(peer_python())
            .args(["-W", "ignore::DeprecationWarning", "-c", script])
            .arg(arg)
            .current_dir(repo()),
    );
    let mut compared = 0;
    for sub in ["noarch", "linux-64"] {
        let Ok(entries) = std::fs::read_dir(out_dir.path().join(sub)) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().to_string();
            if !name.ends_with(".conda") {
                continue;
            }
            let theirs = unpack(&entry.path());
            let mine = unpack(&ours.join(sub).join(&name));
            assert_eq!(
                files_of(mine.path()),
                files_of(theirs.path()),
                "{sub}/{name}: the file lists differ"
            );
            let index = |d: &Path| {
                let mut v: Value =
                    serde_json::from_slice(&std::fs::read(d.join("info/index.json")).unwrap())
                        .unwrap();
                v.as_object_mut().unwrap().remove("timestamp");
                v
            };
            assert_eq!(index(mine.path()), index(theirs.path()), "{sub}/{name}");
            compared += 1;
        }
    }
    // Every package of recipes/ but python: 23 (numpy and the gpu demo have two each).
    assert_eq!(
        compared, 23,
        "rattler-build built other packages than expected"
    );
}

fn unpack(file: &Path) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    rattler_package_streaming::fs::extract(file, dir.path()).unwrap();
    dir
}

/// Every file and link below `root`, relative, sorted.
fn files_of(root: &Path) -> Vec<String> {
    let mut out: Vec<String> = walkdir::WalkDir::new(root)
        .into_iter()
        .flatten()
        .filter(|e| !e.file_type().is_dir())
        .map(|e| e.path().strip_prefix(root).unwrap().display().to_string())
        .collect();
    out.sort();
    out
}

/// A noarch python recipe as conda-forge writes it (pip, setuptools and wheel in host,
/// `python_min` from a variant file) builds against the local channel, whose pip, setuptools
/// and wheel are packages of their own, and installs with a client we did not write.
#[test]
fn conda_forge_style_noarch_python_recipe_builds_against_the_local_channel() {
    let dir = tempfile::tempdir().unwrap();
    let channel = dir.path().join("channel");
    let data = repo().join("tests/data/conda-forge-style");
    let out = run_ok(
        scivision()
            .args(["build", "--json", "--output-dir"])
            .arg(&channel)
            .arg("-c")
            .arg(common::channel())
            .arg("-m")
            .arg(data.join("python_min.yaml"))
            .arg(data.join("forge-style")),
    );
    let outcome: Vec<Value> = serde_json::from_str(&out.stdout).unwrap();
    let file = outcome[0]["file"].as_str().unwrap();
    assert!(file.starts_with("noarch/forge-style-1.2.0-pyh"), "{file}");
    let pkg = unpack(&channel.join(file));
    let index: Value =
        serde_json::from_slice(&std::fs::read(pkg.path().join("info/index.json")).unwrap())
            .unwrap();
    assert_eq!(index["depends"], json!(["python >=3.11"]), "{index}");
    let files = files_of(pkg.path());
    assert!(
        files.contains(&"site-packages/forge_style/__init__.py".to_string()),
        "{files:?}"
    );
    assert!(
        files
            .iter()
            .any(|f| f.starts_with("site-packages/forge_style-1.2.0.dist-info/")),
        "{files:?}"
    );
}
