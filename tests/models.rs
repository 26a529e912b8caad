//! The Scivision models published as packages of the channel: every `catalog/*/recipe.yaml`
//! built from its pinned upstream source (the mirrors in ../shared/upstream), installed by
//! `env create` with conda alone (no git, no PyPI) and by py-rattler, solved by `catalog
//! conflicts` as packages, and the ways a model build can fail without touching the channel.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use common::*;

/// `catalog name → (package, import name, card cuda)` of every card with a generated recipe.
fn published_cards() -> BTreeMap<String, (String, String, String)> {
    let mut out = BTreeMap::new();
    for dir in std::fs::read_dir(repo().join("catalog")).unwrap().flatten() {
        let recipe = dir.path().join("recipe.yaml");
        if !recipe.is_file() {
            continue;
        }
        let text = std::fs::read_to_string(&recipe).unwrap();
        let yaml: serde_json::Value = marked_yaml::from_yaml(0, &text).unwrap();
        let sv = &yaml["extra"]["scivision"];
        // The PyPI-only packages (catalog/pypi-*) are no models.
        if sv.is_null() {
            continue;
        }
        let contents = &yaml["tests"][0]["package_contents"]["site_packages"][0];
        out.insert(
            sv["catalog"].as_str().unwrap().to_string(),
            (
                yaml["context"]["name"].as_str().unwrap().to_string(),
                contents.as_str().unwrap().to_string(),
                sv["cuda"].as_str().unwrap().to_string(),
            ),
        );
    }
    out
}

/// A PATH with the tools a user has but no git.
fn path_without_git() -> PathBuf {
    let dir = tempfile::tempdir().unwrap().keep();
    for tool in ["sh", "ls", "cat"] {
        let _ = std::os::unix::fs::symlink(format!("/bin/{tool}"), dir.join(tool));
    }
    dir
}

#[test]
fn every_catalog_recipe_builds_from_its_pinned_source_into_the_channel() {
    let channel = models_channel();
    let published = published_cards();
    assert!(published.len() >= 12, "{published:?}");
    let data: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(channel.join("channeldata.json")).unwrap())
            .unwrap();
    for (catalog, (package, _, _)) in &published {
        let entry = &data["packages"][package];
        assert_eq!(entry["scivision"]["catalog"], catalog.as_str(), "{package}");
        assert_eq!(entry["subdirs"], serde_json::json!(["noarch"]), "{package}");
        assert!(entry["license"].is_string(), "{package}: {entry}");
    }
    // The catalog shows which models the channel publishes.
    let home = tempfile::tempdir().unwrap();
    let out = run_ok(
        sv(home.path())
            .args(["catalog", "list", "--json", "--channel-dir"])
            .arg(channel),
    );
    let models: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    for (catalog, (package, _, _)) in &published {
        let m = models
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["name"] == catalog.as_str())
            .unwrap_or_else(|| panic!("{catalog} not listed"));
        assert_eq!(m["conda_package"], package.as_str(), "{m}");
        assert!(m["published_by"].is_string(), "{m}");
    }
}

#[test]
fn env_create_installs_each_published_model_with_conda_alone() {
    let channel = models_channel();
    let path = path_without_git();
    for (catalog, (package, import, cuda)) in published_cards() {
        for override_cuda in [None, Some("12.4")] {
            let home = tempfile::tempdir().unwrap();
            let mut cmd = sv(home.path());
            cmd.env("PATH", &path)
                .args(["env", "create", &catalog, "--json", "-c"])
                .arg(installable_forge())
                .arg("-c")
                .arg(channel);
            if let Some(v) = override_cuda {
                cmd.env("CONDA_OVERRIDE_CUDA", v);
            }
            let out = run(&mut cmd);
            let what = format!("{catalog} (CUDA {override_cuda:?})");
            assert_eq!(out.code, 0, "{what}: {}", out.stderr);
            let json: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
            assert_eq!(json["installed"]["from"], "package", "{what}");
            assert_eq!(json["installed"]["package"], package.as_str(), "{what}");
            assert_eq!(json["pypi"]["packages"], serde_json::json!([]), "{what}");
            // The framework's build follows the host where the model allows CUDA.
            let frameworks: Vec<String> = json["packages"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|p| {
                    ["pytorch", "tensorflow", "jaxlib"].contains(&p["name"].as_str().unwrap())
                })
                .map(|p| p["build"].as_str().unwrap().to_string())
                .collect();
            assert!(!frameworks.is_empty(), "{what}: no framework");
            let want_cuda = override_cuda.is_some() && cuda != "none";
            for build in &frameworks {
                assert_eq!(
                    build.starts_with("cuda"),
                    want_cuda,
                    "{what}: {frameworks:?}"
                );
            }
            let prefix = PathBuf::from(json["prefix"].as_str().unwrap());
            let site = site_packages(&prefix);
            assert!(
                site.join(&import).exists(),
                "{what}: no {import} in {}",
                site.display()
            );
            let lock = std::fs::read_to_string(prefix.join("scivision.lock")).unwrap();
            assert!(!lock.contains("pypi:"), "{what}: the lock has PyPI entries");
        }
    }
}

fn site_packages(prefix: &Path) -> PathBuf {
    let lib = prefix.join("lib");
    let python = std::fs::read_dir(&lib)
        .unwrap()
        .flatten()
        .find(|e| e.file_name().to_string_lossy().starts_with("python3"))
        .unwrap_or_else(|| panic!("no python in {}", lib.display()));
    python.path().join("site-packages")
}

#[test]
fn py_rattler_installs_the_model_packages_from_the_same_channels() {
    let channel = models_channel();
    let published = published_cards();
    let target = tempfile::tempdir().unwrap();
    let script = r#"
import asyncio, json, os, pathlib, sys
from rattler import solve, install, Platform, VirtualPackage
forge, channel = (pathlib.Path(p).resolve().as_uri() for p in sys.argv[1:3])
target, specs = sys.argv[3], json.loads(sys.argv[4])
async def main():
    out = {}
    for package in specs:
        records = await solve([forge, channel], [package], platforms=[Platform.current(), Platform("noarch")],
                              virtual_packages=VirtualPackage.detect())
        prefix = os.path.join(target, package)
        await install(records, target_prefix=prefix, show_progress=False)
        out[package] = [r.name.normalized for r in records]
    print(json.dumps(out))
asyncio.run(main())
# py-rattler's runtime threads can abort interpreter shutdown; skip it once output is out.
sys.stdout.flush(); os._exit(0)
"#;
    let packages: Vec<&str> = published.values().map(|(p, _, _)| p.as_str()).collect();
    let out = py_rattler(
        script,
        &[
            installable_forge().to_str().unwrap(),
            channel.to_str().unwrap(),
            target.path().to_str().unwrap(),
            &serde_json::to_string(&packages).unwrap(),
        ],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let solved: BTreeMap<String, Vec<String>> = serde_json::from_str(&out.stdout).unwrap();
    for (catalog, (package, import, _)) in &published {
        assert!(
            solved[package].contains(package),
            "{catalog}: {:?}",
            solved[package]
        );
        let site = site_packages(&target.path().join(package));
        assert!(
            site.join(import).exists(),
            "{catalog}: py-rattler installed no {import}"
        );
    }
}

/// The catalog names whose cards list PyPI-only packages.
fn cards_with_pypi_packages() -> Vec<String> {
    let mut out = Vec::new();
    for dir in std::fs::read_dir(repo().join("catalog")).unwrap().flatten() {
        let Ok(text) = std::fs::read_to_string(dir.path().join("card.yaml")) else {
            continue;
        };
        let card: serde_json::Value = marked_yaml::from_yaml(0, &text).unwrap();
        if card["pypi"].as_array().is_some_and(|p| !p.is_empty()) {
            out.push(card["name"].as_str().unwrap().to_string());
        }
    }
    out
}

/// The published packages conflict where the cards do, and beyond that only where a card's
/// PyPI-only packages (conda packages of the channel now, with their own requirements) bring in
/// what the card's conda half alone cannot show.
#[test]
fn catalog_conflicts_on_the_published_packages_match_the_cards() {
    let channel = models_channel();
    let home = tempfile::tempdir().unwrap();
    let conflicts = |channels: &[&Path]| {
        let mut cmd = sv(home.path());
        cmd.args(["catalog", "conflicts", "--json"]);
        for c in channels {
            cmd.arg("-c").arg(c);
        }
        let out = run_ok(&mut cmd);
        let json: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
        let pairs: std::collections::BTreeSet<(String, String)> = json["conflicts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                (
                    c["a"].as_str().unwrap().into(),
                    c["b"].as_str().unwrap().into(),
                )
            })
            .collect();
        (pairs, json["unsolvable"].clone(), json["models"].clone())
    };
    let cards = conflicts(&[installable_forge()]);
    let packages = conflicts(&[installable_forge(), channel]);
    assert_eq!(cards.1, serde_json::json!([]));
    assert_eq!(
        packages.1,
        serde_json::json!([]),
        "a published package does not solve"
    );
    assert_eq!(cards.2, packages.2);
    let lost: Vec<_> = cards.0.difference(&packages.0).collect();
    assert!(
        lost.is_empty(),
        "pairs that conflict as cards only: {lost:?}"
    );
    let pypi = cards_with_pypi_packages();
    for (a, b) in packages.0.difference(&cards.0) {
        assert!(
            pypi.contains(a) || pypi.contains(b),
            "{a} and {b} conflict as packages only, and neither card has PyPI-only packages"
        );
    }
}

/// A copy of a catalog recipe with `edit` applied, in its own folder.
fn edited_recipe(model: &str, edit: impl Fn(String) -> String) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let recipe = dir.path().join(model);
    std::fs::create_dir_all(&recipe).unwrap();
    let text =
        std::fs::read_to_string(repo().join("catalog").join(model).join("recipe.yaml")).unwrap();
    let edited = edit(text.clone());
    assert_ne!(edited, text, "the edit changed nothing");
    std::fs::write(recipe.join("recipe.yaml"), edited).unwrap();
    dir
}

/// Builds `recipes` into a copy of the models channel; the error, and the channel unchanged.
fn build_fails(recipes: &Path, git: bool) -> String {
    let channel = channel_copy();
    let before = tree_digest(channel.path());
    let gitdir = tempfile::tempdir().unwrap();
    let mut cmd = scivision();
    if git {
        cmd.env("GIT_CONFIG_GLOBAL", upstream_git_config(gitdir.path()));
    }
    let out = run(cmd
        .args(["build", "--quiet", "--output-dir"])
        .arg(channel.path())
        .arg("-c")
        .arg(installable_forge())
        .arg(recipes));
    assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
    assert_eq!(tree_digest(channel.path()), before, "the channel changed");
    out.stderr
}

#[test]
fn a_model_build_that_cannot_succeed_is_one_error_and_leaves_the_channel_alone() {
    // A pinned revision the repository does not have.
    let missing = edited_recipe("resnet50-plankton", |t| {
        t.replace(
            "c1665e0d900561a154f6e7af2504f465099a19b0",
            "0123456789abcdef0123456789abcdef01234567",
        )
    });
    let err = build_fails(missing.path(), true);
    assert!(
        err.contains("0123456789abcdef0123456789abcdef01234567"),
        "{err}"
    );
    // A source whose bytes differ from the recipe's sha256.
    let sha = edited_recipe("greenotyper", |t| {
        t.replace(
            "bade2165b42408a83528c81ea33c02d5044e00ddceb24c8bb022f09193a45659",
            &"0".repeat(64),
        )
    });
    let err = build_fails(sha.path(), false);
    assert!(
        err.contains("sha256") && err.contains(&"0".repeat(64)),
        "{err}"
    );
    // Run requirements no channel can satisfy.
    let unsolvable = edited_recipe("resnet50-plankton", |t| {
        t.replace(
            "    - pooch ==1.6.0\n",
            "    - pooch ==1.6.0\n    - no-such-framework >=1\n",
        )
    });
    let err = build_fails(unsolvable.path(), true);
    assert!(
        err.contains("cannot be installed from the channels") && err.contains("no-such-framework"),
        "{err}"
    );
}
