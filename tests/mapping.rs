//! conda packages count under their real PyPI names: a model whose metadata asks for `torch` and
//! `matplotlib` gets conda-forge's `pytorch` and `matplotlib-base` and no second copy from PyPI,
//! in locks, dry runs and offline; the mapping's refresh over HTTP; catalog names as typed.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;

/// A catalog with one card: conda's pytorch and matplotlib-base, and the model from git, whose
/// metadata asks for torch and matplotlib by their PyPI names.
fn torch_card(dir: &Path) -> PathBuf {
    let body = "class Model:\n    def predict(self, X):\n        return X\n";
    let deps = "\"torch >=1.10\", \"matplotlib >=3.5\"";
    let (repo, rev) = git_flit_project(dir, "torchdemo", "0.3.0", body, deps);
    let requirement = format!("torchdemo @ git+file://{}@{rev}", repo.display());
    let path = dir.join("catalog.json");
    let card = serde_json::json!({"entries": [{
        "name": "torchdemo",
        "description": "a model on conda's torch",
        "conda_dependencies": ["python 3.11.*", "pytorch", "matplotlib-base"],
        "pypi_dependencies": [requirement],
        "entry": {"import": "torchdemo", "model": "Model", "call": "predict", "arg": "X"},
    }]});
    std::fs::write(&path, card.to_string()).unwrap();
    path
}

/// `scivision` for the card, against the forge mirror only, CPU builds, no runner.
fn sv_forge(home: &Path, catalog: &Path, args: &[&str]) -> Command {
    let mut cmd = sv(home);
    cmd.env("SCIVISION_CATALOG", catalog)
        .args(args)
        .arg("-c")
        .arg(forge())
        .args(["--cuda", "none", "--no-runner"]);
    cmd
}

/// The PyPI files of a lock (the last segment of each `- pypi: URL`, listed once per platform
/// and once in `packages`), each once.
fn pypi_entries(lock: &Path) -> Vec<String> {
    let files: std::collections::BTreeSet<String> = std::fs::read_to_string(lock)
        .unwrap()
        .lines()
        .filter_map(|l| l.trim().strip_prefix("- pypi: "))
        .map(|url| url.rsplit('/').next().unwrap_or(url).to_string())
        .collect();
    files.into_iter().collect()
}

fn assert_no_second_framework(entries: &[String]) {
    for banned in ["torch-", "triton", "nvidia", "matplotlib-", "contourpy"] {
        assert!(
            !entries.iter().any(|e| e.starts_with(banned)),
            "PyPI {banned}… beside conda's: {entries:?}"
        );
    }
}

#[test]
fn a_lock_against_conda_forge_takes_torch_and_matplotlib_from_conda_only() {
    let home = tempfile::tempdir().unwrap();
    let catalog = torch_card(home.path());
    let lock = home.path().join("torchdemo.lock");
    let out = run(
        sv_forge(home.path(), &catalog, &["env", "lock", "torchdemo", "-q"])
            .arg("-o")
            .arg(&lock),
    );
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    let entries = pypi_entries(&lock);
    assert_eq!(entries.len(), 1, "only the model from PyPI: {entries:?}");
    assert!(entries[0].contains("torchdemo"), "{entries:?}");
    assert_no_second_framework(&entries);
    let text = std::fs::read_to_string(&lock).unwrap();
    assert!(
        text.contains("/pytorch-2.") && text.contains("/matplotlib-base-"),
        "{text}"
    );

    // The dry run says which names conda's packages provide, and what named them.
    let out = run_ok(&mut sv_forge(
        home.path(),
        &catalog,
        &["env", "create", "torchdemo", "--dry-run", "--json"],
    ));
    let json: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let packages = json["packages"].as_array().unwrap();
    let pypi_of = |name: &str| {
        packages
            .iter()
            .find(|p| p["name"] == name)
            .unwrap_or_else(|| panic!("{name} in {packages:?}"))["pypi"]
            .clone()
    };
    assert_eq!(pypi_of("pytorch")["names"], serde_json::json!(["torch"]));
    assert_eq!(pypi_of("pytorch")["source"]["kind"], "mapping");
    assert!(
        pypi_of("pytorch")["source"]["from"]
            .as_str()
            .unwrap()
            .starts_with("embedded"),
        "{}",
        pypi_of("pytorch")
    );
    assert_eq!(
        pypi_of("matplotlib-base")["names"],
        serde_json::json!(["matplotlib"])
    );
    let pypi: Vec<&str> = json["pypi"]["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap())
        .collect();
    assert_eq!(pypi, ["torchdemo==0.3.0"], "{}", out.stdout);

    // Offline, with nothing but the embedded mapping: the same PyPI half.
    let offline_lock = home.path().join("offline.lock");
    let out = run(sv_forge(
        home.path(),
        &catalog,
        &["env", "lock", "torchdemo", "--offline", "-q"],
    )
    .arg("-o")
    .arg(&offline_lock));
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert_eq!(pypi_entries(&offline_lock), entries);

    // The control: a mapping that does not know pytorch sends uv after torch on PyPI, which
    // the wheel folder does not have. This is the duplicate the mapping prevents.
    let empty = home.path().join("empty-mapping.json");
    std::fs::write(&empty, r#"{"matplotlib-base": ["matplotlib"]}"#).unwrap();
    let out = run(
        sv_forge(home.path(), &catalog, &["env", "lock", "torchdemo", "-q"])
            .arg("-o")
            .arg(home.path().join("control.lock"))
            .env("SCIVISION_CONDA_PYPI_MAPPING", &empty),
    );
    assert_eq!(out.code, 5, "{}{}", out.stdout, out.stderr);
    assert!(
        out.stderr.contains("torch was not found") && out.stderr.contains("torch>=1.10"),
        "uv went after PyPI's torch: {}",
        out.stderr
    );
    assert!(!home.path().join("control.lock").exists());
    // The same mapping named by the config file, relative to its folder.
    let config_dir = home.path().join("config");
    std::fs::create_dir_all(&config_dir).unwrap();
    std::fs::copy(&empty, config_dir.join("mapping.json")).unwrap();
    std::fs::write(
        config_dir.join("config.toml"),
        "conda-pypi-mapping = \"mapping.json\"\n",
    )
    .unwrap();
    let out = run(
        sv_forge(home.path(), &catalog, &["env", "lock", "torchdemo", "-q"])
            .env_remove("SCIVISION_CONDA_PYPI_MAPPING")
            .env("SCIVISION_CONFIG", config_dir.join("config.toml"))
            .current_dir(home.path()),
    );
    assert_eq!(out.code, 5, "{}{}", out.stdout, out.stderr);
    assert!(out.stderr.contains("torch was not found"), "{}", out.stderr);
}

#[test]
fn the_mapping_is_refreshed_over_http_at_most_daily_and_never_offline() {
    let home = tempfile::tempdir().unwrap();
    let catalog = torch_card(home.path());
    let served = tempfile::tempdir().unwrap();
    // A mapping whose copy is told apart from the embedded one by its origin.
    std::fs::write(
        served.path().join("mapping.json"),
        r#"{"pytorch": ["torch"], "matplotlib-base": ["matplotlib"], "libtorch": null}"#,
    )
    .unwrap();
    let nginx = Nginx::serve_revalidating(served.path());
    let url = format!("{}mapping.json", nginx.url);
    let cache = home.path().join("cache");
    let dry_run = |extra: &[&str]| {
        let mut cmd = sv_forge(
            home.path(),
            &catalog,
            &["env", "create", "torchdemo", "--dry-run", "--json"],
        );
        cmd.args(extra)
            .env("SCIVISION_CONDA_PYPI_MAPPING", &url)
            .env("SCIVISION_CACHE_DIR", &cache);
        let out = run_ok(&mut cmd);
        let json: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
        let torch = json["packages"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == "pytorch")
            .unwrap()["pypi"]
            .clone();
        assert_eq!(torch["names"], serde_json::json!(["torch"]));
        torch["source"]["from"].as_str().unwrap().to_string()
    };
    let mapping_requests = || {
        nginx
            .requests()
            .into_iter()
            .filter(|r| r.contains("/mapping.json"))
            .collect::<Vec<_>>()
    };
    // Online: fetched and cached.
    assert!(dry_run(&[]).starts_with(&format!("fetched {url}")));
    assert_eq!(mapping_requests(), ["200 GET /mapping.json"]);
    // Within the day: the cached copy, no request.
    assert!(dry_run(&[]).starts_with(&format!("fetched {url}")));
    assert_eq!(mapping_requests().len(), 1);
    // A day later: revalidated by ETag, 304, still the cached copy.
    let meta_file = cache.join("conda-pypi-mapping/conda-forge.meta.json");
    let mut meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&meta_file).unwrap()).unwrap();
    meta["checked"] = serde_json::json!(two_days_ago());
    std::fs::write(&meta_file, meta.to_string()).unwrap();
    assert!(dry_run(&[]).starts_with(&format!("fetched {url}")));
    assert_eq!(
        mapping_requests(),
        ["200 GET /mapping.json", "304 GET /mapping.json conditional"]
    );
    // Offline again: the cached copy, no request.
    assert!(dry_run(&["--offline"]).starts_with(&format!("fetched {url}")));
    assert_eq!(mapping_requests().len(), 2);
    // A damaged cached copy is not trusted, fresh or not: fetched whole again.
    std::fs::write(
        cache.join("conda-pypi-mapping/conda-forge.names"),
        "pytorch\ttorch\nmatplotlib-base\tmatplotlib\n",
    )
    .unwrap();
    assert!(dry_run(&[]).starts_with(&format!("fetched {url}")));
    assert_eq!(mapping_requests()[2], "200 GET /mapping.json");
    // A server that goes away costs nothing: the cached copy serves, and the failure is not
    // retried within the hour.
    drop(nginx);
    let mut meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&meta_file).unwrap()).unwrap();
    meta["checked"] = serde_json::json!(two_days_ago());
    std::fs::write(&meta_file, meta.to_string()).unwrap();
    assert!(dry_run(&[]).starts_with(&format!("fetched {url}")));
    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&meta_file).unwrap()).unwrap();
    assert!(meta["failed"].as_u64().is_some(), "{meta}");
}

/// Unix seconds two days back: a cached mapping "checked" then is due for revalidation.
fn two_days_ago() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        - 2 * 24 * 3600
}

#[test]
fn every_catalog_name_resolves_as_typed_in_any_case_and_normalized() {
    let home = tempfile::tempdir().unwrap();
    for name in [
        "StarDist Seed",
        "stardist seed",
        "stardist-seed",
        "STARDIST_SEED",
    ] {
        let out = run(sv(home.path()).args(["catalog", "show", name]));
        assert_eq!(out.code, 0, "{name}: {}", out.stderr);
        assert!(
            out.stdout.contains("StarDist Seed"),
            "{name}: {}",
            out.stdout
        );
    }
    // Every catalog model, by its listed name and by its normalized one.
    let list = run_ok(sv(home.path()).args(["catalog", "list", "--json"]));
    let models: serde_json::Value = serde_json::from_str(&list.stdout).unwrap();
    let names: Vec<String> = models
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap().to_string())
        .collect();
    assert!(names.len() >= 21, "{names:?}");
    for name in &names {
        let normalized = name.to_lowercase().replace([' ', '_'], "-");
        for given in [name.as_str(), normalized.as_str()] {
            let out = run(sv(home.path()).args(["catalog", "show", given, "--json"]));
            assert_eq!(out.code, 0, "{given}: {}", out.stderr);
            let shown: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
            assert_eq!(shown["name"], name.as_str(), "{given}");
        }
    }
    // Narrowing needs an explicit operator after the name; a space never starts one.
    let out = run(sv(home.path()).args(["env", "create", "stardist 0.9", "--dry-run"]));
    assert_eq!(out.code, 4);
    assert!(
        out.stderr.contains("write `stardist==0.9`"),
        "{}",
        out.stderr
    );

    // The upstream model itself, from its pinned source, by both names: conda's stardist,
    // tensorflow and the rest stand in for what its setup.py asks of PyPI.
    let git_config = upstream_git_config(home.path());
    let mirrors = std::fs::read_to_string(&git_config)
        .unwrap()
        .contains("insteadOf");
    let source = if mirrors {
        "the mirrors in ../shared/upstream"
    } else {
        "GitHub (no ../shared/upstream beside this checkout)"
    };
    let mut halves = Vec::new();
    for name in ["StarDist Seed", "stardist-seed"] {
        let out = run(sv(home.path())
            .env("GIT_CONFIG_GLOBAL", &git_config)
            .args(["env", "create", name, "--dry-run", "--json", "-c"])
            .arg(forge())
            .args(["--cuda", "none", "--no-runner"]));
        assert_eq!(
            out.code, 0,
            "{name}, its source from {source}: {}{}",
            out.stdout, out.stderr
        );
        let json: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
        assert_eq!(json["model"], "StarDist Seed");
        halves.push(json["pypi"]["packages"].clone());
    }
    assert_eq!(
        halves[0],
        serde_json::json!(["stardist-seed-pod==0.0.1"]),
        "only the model from PyPI"
    );
    assert_eq!(halves[0], halves[1]);
}
