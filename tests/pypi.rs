//! End-to-end: the PyPI half. Conda is solved from the channel built from recipes/, PyPI is
//! resolved with uv's crates from the local wheel folder scripts/test-setup fills (or a folder
//! or git repository a test makes), never from the network but in the `#[ignore]`d `real_pypi`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;

fn ch() -> String {
    channel().display().to_string()
}

fn create(home: &Path, model: &str, extra: &[&str]) -> Output {
    let mut cmd = sv(home);
    cmd.args(["env", "create", model, "-c", &ch(), "-q"])
        .args(extra);
    run(&mut cmd)
}

/// Staging folders a failed create left under `home/envs`.
fn staging_leftovers(home: &Path) -> Vec<String> {
    std::fs::read_dir(home.join("envs"))
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().to_string())
        .filter(|n| n.starts_with(".staging"))
        .collect()
}

/// A python package repository with flit metadata, committed; returns (repo, revision).
fn git_model(dir: &Path, name: &str, body: &str, deps: &str) -> (PathBuf, String) {
    git_flit_project(dir, name, "0.2.0", body, deps)
}

/// A catalog file with one card installing `requirement` from PyPI beside conda's python and numpy.
fn card(dir: &Path, name: &str, module: &str, requirement: &str) -> PathBuf {
    let path = dir.join(format!("{name}-card.json"));
    let card = serde_json::json!({"entries": [{
        "name": name,
        "description": "a card whose model comes from git",
        "conda_dependencies": ["python 3.11.*", "numpy >=2"],
        "pypi_dependencies": [requirement],
        "entry": {"import": module, "model": "Doubler", "call": "predict", "arg": "X"},
    }]});
    std::fs::write(&path, card.to_string()).unwrap();
    path
}

#[test]
fn model_with_a_pypi_dependency_installs_runs_and_locks_both_halves() {
    let home = tempfile::tempdir().unwrap();
    let out = create(home.path(), "scivision-demo-edges", &[]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    let prefix = home.path().join("envs/scivision-demo-edges");
    // The entry point reads EXIF with exifread, which only PyPI provides.
    let out = run_ok(sv(home.path()).args([
        "env",
        "run",
        "scivision-demo-edges",
        "--",
        "scivision-demo-edges",
    ]));
    assert!(
        out.stdout.contains("shape=(32, 32)") && out.stdout.contains("(exifread 3.5.1)"),
        "{}",
        out.stdout
    );
    let site = prefix.join("lib/python3.11/site-packages");
    assert_eq!(
        std::fs::read_to_string(site.join("exifread-3.5.1.dist-info/INSTALLER"))
            .unwrap()
            .trim(),
        "scivision"
    );
    // conda's own python packages keep conda as their installer: nothing of theirs replaced.
    let numpy_info = std::fs::read_dir(&site)
        .unwrap()
        .filter_map(Result::ok)
        .find(|e| e.file_name().to_string_lossy().starts_with("numpy-"))
        .expect("numpy dist-info");
    let installer =
        std::fs::read_to_string(numpy_info.path().join("INSTALLER")).unwrap_or_default();
    assert_ne!(installer.trim(), "scivision");
    // The console script of the wheel points at the final prefix's python, not the staging one.
    let script = std::fs::read_to_string(prefix.join("bin/EXIF.py")).unwrap();
    assert!(
        script.starts_with(&format!("#!{}", prefix.join("bin/python").display())),
        "{}",
        script.lines().next().unwrap_or_default()
    );
    // One lock, both halves, the wheel with its sha256 and the index it came from.
    let lock = std::fs::read_to_string(prefix.join("scivision.lock")).unwrap();
    assert!(
        lock.contains("- pypi: file://") && lock.contains("exifread-3.5.1-py3-none-any.whl"),
        "{lock}"
    );
    assert!(
        lock.contains("sha256: e5426ce2857423ad401e575ea9d159dc97449dc041fb6e61b35109caea72c311"),
        "{lock}"
    );
    assert!(lock.contains("find-links:"), "{lock}");

    // Same request again: a no-op.
    let out = run_ok(sv(home.path()).args(["env", "create", "scivision-demo-edges", "-c", &ch()]));
    assert!(out.stdout.contains("up to date"), "{}", out.stdout);

    // From the lock, without resolving: with no index and no find-links at all.
    let saved = home.path().join("saved.lock");
    std::fs::copy(prefix.join("scivision.lock"), &saved).unwrap();
    run_ok(sv(home.path()).args(["env", "remove", "scivision-demo-edges"]));
    let out = run(sv(home.path()).env_remove("SCIVISION_FIND_LINKS").args([
        "env",
        "create",
        "scivision-demo-edges",
        "-c",
        &ch(),
        "--frozen",
        "--lock",
        saved.to_str().unwrap(),
    ]));
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert!(site.join("exifread-3.5.1.dist-info").is_dir());
    assert_eq!(
        std::fs::read_to_string(prefix.join("scivision.lock")).unwrap(),
        lock,
        "a frozen create writes the same lock"
    );
    // A frozen install says nothing about what the card asks for now: the next plain create
    // resolves again (and then is a no-op).
    let out = run_ok(sv(home.path()).args(["env", "create", "scivision-demo-edges", "-c", &ch()]));
    assert!(
        out.stdout.contains("updated scivision-demo-edges"),
        "{}",
        out.stdout
    );
    let out = run_ok(sv(home.path()).args(["env", "create", "scivision-demo-edges", "-c", &ch()]));
    assert!(out.stdout.contains("up to date"), "{}", out.stdout);
}

#[test]
fn bad_pypi_input_is_one_clear_error_and_changes_nothing() {
    let home = tempfile::tempdir().unwrap();
    let created = create(home.path(), "scivision-demo-edges", &[]);
    assert_eq!(created.code, 0, "{}", created.stderr);
    let prefix = home.path().join("envs/scivision-demo-edges");
    let before = tree_digest(&prefix);
    let wheels = tempfile::tempdir().unwrap();
    // A wheel for another platform only (its content is never read: the tags rule it out).
    std::fs::write(
        wheels
            .path()
            .join("onlymac-1.0-py3-none-macosx_11_0_arm64.whl"),
        b"not a zip",
    )
    .unwrap();
    let local = format!("{} {}", pypi_wheels().display(), wheels.path().display());
    // Exit codes: 4 bad input, 5 unsolvable.
    let cases: [(&[&str], &[&str], i32); 4] = [
        (&["--pypi", "exifread >=>3"], &["--pypi", "PEP 508"], 4),
        (
            &["--pypi", "numpy<2"],
            &["numpy 2.2.6", "conda", "--pypi"],
            5,
        ),
        (
            &["--pypi", "no-such-package-anywhere"],
            &["no-such-package-anywhere", "--pypi"],
            5,
        ),
        (&["--pypi", "onlymac"], &["onlymac", "--pypi"], 5),
    ];
    for (args, words, code) in cases {
        let mut cmd = sv(home.path());
        cmd.env("SCIVISION_FIND_LINKS", &local)
            .args(["env", "create", "scivision-demo-edges", "-c", &ch(), "-q"])
            .args(args);
        let out = run(&mut cmd);
        assert_eq!(out.code, code, "{args:?}: {}{}", out.stdout, out.stderr);
        for w in words {
            assert!(
                out.stderr.contains(w),
                "{args:?}: `{w}` not in\n{}",
                out.stderr
            );
        }
        assert_eq!(
            out.stderr.matches('×').count(),
            1,
            "one error each: {}",
            out.stderr
        );
        assert_eq!(tree_digest(&prefix), before, "{args:?} changed the env");
        let leftovers = staging_leftovers(home.path());
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }
}

#[test]
fn a_card_installs_its_model_from_a_local_git_repository() {
    let home = tempfile::tempdir().unwrap();
    let body = "import numpy as np\n\nclass Doubler:\n    def predict(self, X):\n        return np.asarray(X) * 2\n";
    let (repo, rev) = git_model(home.path(), "gitdemo", body, "\"numpy\", \"exifread >=3\"");
    let requirement = format!("gitdemo @ git+file://{}@{rev}", repo.display());
    let card = card(home.path(), "gitdemo", "gitdemo", &requirement);
    let out = run(sv(home.path()).env("SCIVISION_CATALOG", &card).args([
        "env",
        "create",
        "gitdemo",
        "-c",
        &ch(),
        "-q",
    ]));
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    // numpy stays conda's (the model's own `numpy` requirement is met by it); exifread comes
    // from the wheel folder; the model was built from the git revision with the env's python.
    let out = run_ok(sv(home.path()).env("SCIVISION_CATALOG", &card).args([
        "env",
        "run",
        "gitdemo",
        "--",
        "python",
        "-c",
        "import gitdemo, exifread, numpy, importlib.metadata as md; print(gitdemo.Doubler().predict([1, 2]).tolist(), md.distribution('numpy').read_text('INSTALLER').strip(), md.distribution('gitdemo').read_text('INSTALLER').strip())",
    ]));
    assert_eq!(
        out.stdout.trim(),
        "[2, 4] conda scivision",
        "{}",
        out.stderr
    );
    // The model answers `predict` through the runner, with the card's model.yml fields.
    let input = home.path().join("x.npy");
    run_ok(sv(home.path()).env("SCIVISION_CATALOG", &card).args([
        "env",
        "run",
        "gitdemo",
        "--",
        "python",
        "-c",
        &format!(
            "import numpy; numpy.save({:?}, numpy.arange(4.0))",
            input.display().to_string()
        ),
    ]));
    let output = home.path().join("y.npy");
    run_ok(sv(home.path()).env("SCIVISION_CATALOG", &card).args([
        "predict",
        "gitdemo",
        input.to_str().unwrap(),
        "-o",
        output.to_str().unwrap(),
    ]));
    let out = run_ok(sv(home.path()).env("SCIVISION_CATALOG", &card).args([
        "env",
        "run",
        "gitdemo",
        "--",
        "python",
        "-c",
        &format!(
            "import numpy; print(numpy.load({:?}).tolist())",
            output.display().to_string()
        ),
    ]));
    assert_eq!(out.stdout.trim(), "[0.0, 2.0, 4.0, 6.0]");
    let lock = std::fs::read_to_string(home.path().join("envs/gitdemo/scivision.lock")).unwrap();
    assert!(
        lock.contains(&format!("git+file://{}@{rev}", repo.display())),
        "{lock}"
    );
}

#[test]
fn an_sdist_that_fails_to_build_is_named_and_changes_nothing() {
    let home = tempfile::tempdir().unwrap();
    // flit refuses a module without a docstring and __version__ … here: no module at all.
    let (repo, rev) = git_model(home.path(), "broken", "", "");
    std::fs::remove_dir_all(repo.join("broken")).unwrap();
    run_ok(
        Command::new("git")
            .args([
                "-c",
                "user.email=t@example.invalid",
                "-c",
                "user.name=t",
                "commit",
                "-qam",
                "drop the module",
            ])
            .current_dir(&repo),
    );
    let rev2 = run_ok(
        Command::new("git")
            .args(["rev-parse", "HEAD"])
            .current_dir(&repo),
    )
    .stdout
    .trim()
    .to_string();
    assert_ne!(rev, rev2);
    let requirement = format!("broken @ git+file://{}@{rev2}", repo.display());
    let card = card(home.path(), "broken", "broken", &requirement);
    let out = run(sv(home.path()).env("SCIVISION_CATALOG", &card).args([
        "env",
        "create",
        "broken",
        "-c",
        &ch(),
        "-q",
    ]));
    assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
    assert!(out.stderr.contains("broken"), "{}", out.stderr);
    assert!(!home.path().join("envs/broken").exists());
    let leftovers = staging_leftovers(home.path());
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

/// Opt-in: the same model against the real PyPI (`cargo test --test pypi -- --ignored`).
#[test]
#[ignore = "reaches the real PyPI; run with `cargo test --test pypi -- --ignored`"]
fn real_pypi() {
    let home = tempfile::tempdir().unwrap();
    let out = run(sv(home.path())
        .env_remove("SCIVISION_FIND_LINKS")
        .env_remove("SCIVISION_NO_INDEX")
        .args([
            "env",
            "create",
            "scivision-demo-edges",
            "-c",
            &ch(),
            "-q",
            "--pypi",
            "exifread==3.5.1",
        ]));
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    let lock =
        std::fs::read_to_string(home.path().join("envs/scivision-demo-edges/scivision.lock"))
            .unwrap();
    assert!(lock.contains("files.pythonhosted.org"), "{lock}");
    assert!(lock.contains("https://pypi.org/simple"), "{lock}");
}

#[test]
fn locked_compares_the_pypi_half_too() {
    let home = tempfile::tempdir().unwrap();
    let out = create(home.path(), "scivision-demo-edges", &[]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let out = create(home.path(), "scivision-demo-edges", &["--locked"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let prefix = home.path().join("envs/scivision-demo-edges");
    let before = tree_digest(&prefix);
    let out = create(
        home.path(),
        "scivision-demo-edges",
        &["--locked", "--pypi", "flit-core"],
    );
    assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
    assert!(
        out.stderr.contains("PyPI requirements") && out.stderr.contains("flit-core==3.10.1"),
        "{}",
        out.stderr
    );
    assert_eq!(tree_digest(&prefix), before);
}

#[test]
fn a_wheel_that_replaces_a_conda_file_is_warned_about() {
    let home = tempfile::tempdir().unwrap();
    let wheels = home.path().join("wheels");
    std::fs::create_dir_all(&wheels).unwrap();
    // A wheel that ships a file of conda's numpy: installed (PyPI may add to a package's
    // folder) but the replacement is named.
    let script = r#"
import base64, hashlib, sys, zipfile
files = {
    "numpy/_scivision_overlay.py": b"",
    "numpy/version.py": b"version = 'overlaid'\n",
    "overlay-1.0.dist-info/METADATA": b"Metadata-Version: 2.1\nName: overlay\nVersion: 1.0\n",
    "overlay-1.0.dist-info/WHEEL": b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
}
record = "".join(
    f"{n},sha256={base64.urlsafe_b64encode(hashlib.sha256(d).digest()).rstrip(b'=').decode()},{len(d)}\n"
    for n, d in files.items()
) + "overlay-1.0.dist-info/RECORD,,\n"
with zipfile.ZipFile(sys.argv[1] + "/overlay-1.0-py3-none-any.whl", "w") as z:
    for n, d in files.items():
        z.writestr(n, d)
    z.writestr("overlay-1.0.dist-info/RECORD", record)
"#;
    run_ok(
        Command::new(peer_python())
            .args(["-c", script])
            .arg(&wheels),
    );
    let links = format!("{} {}", pypi_wheels().display(), wheels.display());
    let mut cmd = sv(home.path());
    cmd.env("SCIVISION_FIND_LINKS", &links).args([
        "env",
        "create",
        "scivision-demo-edges",
        "-c",
        &ch(),
        "-q",
        "--pypi",
        "overlay",
    ]);
    let out = run(&mut cmd);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert!(
        out.stderr.contains("replaces conda's file") && out.stderr.contains("numpy/version.py"),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("_scivision_overlay"), "{}", out.stderr);
}

#[test]
fn a_cards_pypi_override_lets_conda_satisfy_a_git_requirement_deep_in_the_graph() {
    // The model asks for numpy from a git repository (as detectree asks for detectron2): a
    // transitive URL requirement uv refuses, and a source build conda's package makes needless.
    let home = tempfile::tempdir().unwrap();
    let body = "import numpy as np\n\nclass Doubler:\n    def predict(self, X):\n        return np.asarray(X) * 2\n";
    let deps = "\"numpy @ git+https://example.invalid/numpy.git@0123456789abcdef0123456789abcdef01234567\"";
    let (repo, rev) = git_model(home.path(), "urldeps", body, deps);
    let requirement = format!("urldeps @ git+file://{}@{rev}", repo.display());
    let catalog = card(home.path(), "urldeps", "urldeps", &requirement);
    let out = run(sv(home.path()).env("SCIVISION_CATALOG", &catalog).args([
        "env",
        "create",
        "urldeps",
        "-c",
        &ch(),
        "-q",
    ]));
    assert_eq!(
        out.code, 5,
        "without the override: {}{}",
        out.stdout, out.stderr
    );
    assert!(
        out.stderr
            .contains("`numpy` was included as a URL dependency"),
        "uv's refusal, without terminal colours: {}",
        out.stderr
    );
    assert!(!home.path().join("envs/urldeps").exists());
    // With `pypi_overrides: [numpy]` conda's numpy stands in and nothing is fetched from the URL.
    let mut text: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&catalog).unwrap()).unwrap();
    text["entries"][0]["pypi_overrides"] = serde_json::json!(["numpy"]);
    std::fs::write(&catalog, text.to_string()).unwrap();
    let out = run(sv(home.path()).env("SCIVISION_CATALOG", &catalog).args([
        "env",
        "create",
        "urldeps",
        "-c",
        &ch(),
        "-q",
    ]));
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    let out = run_ok(sv(home.path()).env("SCIVISION_CATALOG", &catalog).args([
        "env",
        "run",
        "urldeps",
        "--",
        "python",
        "-c",
        "import urldeps, importlib.metadata as md; print(urldeps.Doubler().predict([3]).tolist(), md.distribution('numpy').read_text('INSTALLER').strip())",
    ]));
    assert_eq!(out.stdout.trim(), "[6] conda", "{}", out.stderr);
}

/// A find-links folder with one sdist, `builtagainst 0.1.0`, whose setup.py imports numpy (so
/// its build fails where the conda half is not visible) and records which numpy it built
/// against and from where. Its metadata is dynamic: even a lock must run the build.
fn sdist_built_against_numpy(dir: &Path) -> PathBuf {
    let src = dir.join("builtagainst-0.1.0");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(
        src.join("setup.py"),
        r#"import os

import numpy  # conda's: the build fails where it is not visible
from setuptools import setup

os.makedirs("builtagainst", exist_ok=True)
with open(os.path.join("builtagainst", "__init__.py"), "w") as f:
    f.write(f"NUMPY = {numpy.__version__!r}\nNUMPY_FILE = {numpy.__file__!r}\n")

setup(name="builtagainst", version="0.1.0", packages=["builtagainst"])
"#,
    )
    .unwrap();
    std::fs::write(
        src.join("PKG-INFO"),
        "Metadata-Version: 1.0\nName: builtagainst\nVersion: 0.1.0\n",
    )
    .unwrap();
    let links = dir.join("links");
    std::fs::create_dir_all(&links).unwrap();
    run_ok(
        Command::new("tar")
            .arg("czf")
            .arg(links.join("builtagainst-0.1.0.tar.gz"))
            .arg("-C")
            .arg(dir)
            .arg("builtagainst-0.1.0"),
    );
    links
}

#[test]
fn a_requirement_without_build_isolation_builds_against_the_conda_half() {
    let home = tempfile::tempdir().unwrap();
    let links = sdist_built_against_numpy(home.path());
    let catalog = |no_isolation: &[&str]| {
        let path = home.path().join("card.json");
        let card = serde_json::json!({"entries": [{
            "name": "builtagainst",
            "description": "an sdist whose build imports the conda half's numpy",
            "conda_dependencies": ["python 3.11.*", "numpy >=2", "setuptools"],
            "pypi_dependencies": ["builtagainst==0.1.0"],
            "pypi_no_build_isolation": no_isolation,
            "entry": {"import": "builtagainst", "model": "M", "call": "predict", "arg": "X"},
        }]});
        std::fs::write(&path, card.to_string()).unwrap();
        path
    };
    let wheels = pypi_wheels().display().to_string();
    let links_arg = links.display().to_string();
    let find_links = ["-f", wheels.as_str(), "-f", links_arg.as_str()];
    let sv_with = |catalog: &Path| {
        let mut cmd = sv(home.path());
        cmd.env("SCIVISION_CATALOG", catalog);
        cmd
    };

    // Isolated (uv's default), the build sees setuptools from the index but no numpy.
    let isolated = catalog(&[]);
    let out = run(sv_with(&isolated)
        .args(["env", "create", "builtagainst", "-c", &ch(), "-q"])
        .args(find_links));
    assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
    assert!(
        out.stderr.contains("builtagainst") && out.stderr.contains("No module named 'numpy'"),
        "{}",
        out.stderr
    );
    assert!(!home.path().join("envs/builtagainst").exists());

    // The card's `pypi_no_build_isolation`: the lock builds the metadata in a scratch prefix of
    // the conda half, and removes it.
    let in_env = catalog(&["builtagainst"]);
    let lock = home.path().join("builtagainst.lock");
    let out = run(sv_with(&in_env)
        .args(["env", "lock", "builtagainst", "-c", &ch(), "-q", "-o"])
        .arg(&lock)
        .args(find_links));
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    let text = std::fs::read_to_string(&lock).unwrap();
    assert!(text.contains("builtagainst-0.1.0.tar.gz"), "{text}");
    let leftovers: Vec<_> = std::fs::read_dir(home.path().join("envs"))
        .map(|rd| rd.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(
        leftovers
            .iter()
            .all(|n| n.to_string_lossy().starts_with(".locks")),
        "{leftovers:?}"
    );

    // Installed from that lock, the build ran inside the environment's own prefix.
    let out = run(sv_with(&in_env)
        .args([
            "env",
            "create",
            "builtagainst",
            "-c",
            &ch(),
            "-q",
            "--frozen",
            "--lock",
        ])
        .arg(&lock)
        .args(find_links));
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    let out = run_ok(sv(home.path()).args([
        "env",
        "run",
        "builtagainst",
        "--",
        "python",
        "-c",
        "import builtagainst, numpy; print(builtagainst.NUMPY, numpy.__version__); print(builtagainst.NUMPY_FILE)",
    ]));
    let lines: Vec<&str> = out.stdout.lines().collect();
    let versions: Vec<&str> = lines[0].split(' ').collect();
    assert_eq!(versions[0], versions[1], "{}", out.stdout);
    assert!(
        lines[1].contains("/envs/.staging-builtagainst-")
            && lines[1].contains("/site-packages/numpy/"),
        "{}",
        out.stdout
    );
}
