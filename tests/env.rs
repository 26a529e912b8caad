//! End-to-end: `scivision env …`, `catalog` and `check` as a user runs them, against the channel
//! built from recipes/ (no conda channel is reachable here), each test with its own home.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;

use common::*;

fn ch() -> String {
    channel().display().to_string()
}

fn json(out: &Output) -> serde_json::Value {
    serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", out.stdout))
}

#[test]
fn create_run_reuse_list_remove() {
    let home = tempfile::tempdir().unwrap();
    let out = run_ok(sv(home.path()).args(["env", "create", "scivision-demo-edges", "-c", &ch()]));
    assert!(
        out.stdout.contains("created scivision-demo-edges"),
        "{}",
        out.stdout
    );
    let prefix = home.path().join("envs/scivision-demo-edges");
    assert!(prefix.join("scivision.lock").is_file());
    // The prediction on the sample that ships with the model, through the activated env.
    let out = run_ok(sv(home.path()).args(["env", "run", "scivision-demo-edges", "--", "python", "-c", "import os, sys, scivision_demo_edges as m; print(sys.prefix == os.environ['CONDA_PREFIX'], m.SobelEdges().predict(m.load_png(m.SAMPLE)).shape)"]));
    assert_eq!(out.stdout.trim(), "True (32, 32)");
    let out = run_ok(sv(home.path()).args([
        "env",
        "create",
        "scivision-demo-edges",
        "-c",
        &ch(),
        "--json",
    ]));
    assert_eq!(json(&out)["status"], "up-to-date");
    let out = run_ok(sv(home.path()).args(["env", "list", "--json"]));
    let list = json(&out);
    assert_eq!(list[0]["name"], "scivision-demo-edges");
    assert_eq!(list[0]["info"]["model"], "scivision-demo-edges");
    let script =
        run_ok(sv(home.path()).args(["env", "shell", "scivision-demo-edges", "--shell", "bash"]));
    assert!(
        script.stdout.contains(&prefix.display().to_string()),
        "{}",
        script.stdout
    );
    // A failing command's exit code comes through.
    let out = run(sv(home.path()).args([
        "env",
        "run",
        "scivision-demo-edges",
        "--",
        "python",
        "-c",
        "raise SystemExit(7)",
    ]));
    assert_eq!(out.code, 7);
    run_ok(sv(home.path()).args(["env", "remove", "scivision-demo-edges"]));
    assert!(!prefix.exists());
    let out = run(sv(home.path()).args(["env", "remove", "scivision-demo-edges"]));
    assert_eq!(out.code, 4);
    assert!(
        out.stderr
            .contains("no environment named `scivision-demo-edges`"),
        "{}",
        out.stderr
    );
}

#[test]
fn cuda_build_follows_the_driver() {
    let home = tempfile::tempdir().unwrap();
    let dry = |cuda: &str| {
        let out = run_ok(sv(home.path()).env("CONDA_OVERRIDE_CUDA", cuda).args([
            "env",
            "create",
            "scivision-demo-gpu",
            "-c",
            &ch(),
            "--dry-run",
            "--json",
        ]));
        let v = json(&out);
        v["packages"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == "scivision-demo-gpu")
            .unwrap()["build"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert!(dry("").starts_with("cpu_"), "{}", dry(""));
    assert!(dry("12.4").starts_with("cuda_"), "{}", dry("12.4"));
    assert!(
        !home.path().join("envs").exists(),
        "a dry run installs nothing"
    );
    let out = run(sv(home.path()).env("CONDA_OVERRIDE_CUDA", "").args([
        "check",
        "scivision-demo-gpu[build=cuda*]",
        "-c",
        &ch(),
    ]));
    assert_eq!(out.code, 5, "{}", out.stdout);
    assert!(out.stderr.contains("__cuda >=12"), "{}", out.stderr);
    assert!(out.stderr.contains("no CUDA driver"), "{}", out.stderr);
    let out = run(sv(home.path()).args([
        "check",
        "scivision-demo-gpu[build=cuda*]",
        "-c",
        &ch(),
        "--cuda",
        "none",
        "--json",
    ]));
    assert_eq!(out.code, 1);
    let v = json(&out);
    assert_eq!(v["runs_here"], false);
    assert!(v["unmet"][0].as_str().unwrap().starts_with("__cuda"), "{v}");
    let out = run_ok(sv(home.path()).args([
        "check",
        "scivision-demo-gpu",
        "-c",
        &ch(),
        "--cuda",
        "12.4",
    ]));
    assert!(out.stdout.contains("can run here"), "{}", out.stdout);
}

#[test]
fn conflicting_models_get_their_own_prefixes() {
    let home = tempfile::tempdir().unwrap();
    for (model, check) in [
        ("scivision-demo-legacy", "import numpy, scivision_demo_legacy as m; assert numpy.__version__.startswith('1.'); print(m.Normalise().predict([[0, 4]]).tolist())"),
        ("scivision-demo-modern", "import numpy, scivision_demo_modern as m; assert numpy.__version__.startswith('2.'); print(m.RowEnergy().predict([[1, 2]]).tolist())"),
    ] {
        run_ok(sv(home.path()).args(["env", "create", model, "-c", &ch()]));
        let out = run_ok(sv(home.path()).args(["env", "run", model, "--", "python", "-c", check]));
        assert!(out.stdout.contains("[0.0, 1.0]") || out.stdout.contains("[5.0]"), "{}", out.stdout);
    }
    let out = run(sv(home.path()).args([
        "env",
        "create",
        "scivision-demo-legacy",
        "--with",
        "scivision-demo-modern",
        "-c",
        &ch(),
    ]));
    assert_eq!(out.code, 5);
    assert!(out.stderr.contains("numpy"), "{}", out.stderr);
    assert!(
        out.stderr
            .contains("cannot solve an environment for scivision-demo-legacy"),
        "{}",
        out.stderr
    );
    // The refused request left the working environment as it was.
    run_ok(sv(home.path()).args([
        "env",
        "run",
        "scivision-demo-legacy",
        "--",
        "python",
        "-c",
        "import scivision_demo_legacy",
    ]));
}

#[test]
fn lock_recreate_and_other_platforms() {
    let home = tempfile::tempdir().unwrap();
    let lock = home.path().join("edges.lock");
    run_ok(
        sv(home.path())
            .args(["env", "lock", "scivision-demo-edges", "-c", &ch(), "-o"])
            .arg(&lock),
    );
    run_ok(sv(home.path()).args(["env", "create", "scivision-demo-edges", "-c", &ch()]));
    let installed = home.path().join("envs/scivision-demo-edges/scivision.lock");
    let urls = |p: &Path| -> Vec<String> {
        let text = std::fs::read_to_string(p).unwrap();
        let mut v: Vec<String> = text
            .lines()
            .filter(|l| l.trim_start().starts_with("- conda:"))
            .map(|l| l.trim().to_string())
            .collect();
        v.sort();
        v
    };
    assert_eq!(urls(&lock), urls(&installed));
    run_ok(sv(home.path()).args(["env", "remove", "scivision-demo-edges"]));
    run_ok(sv(home.path()).args(["env", "create", "scivision-demo-edges", "-c", &ch()]));
    assert_eq!(
        urls(&lock),
        urls(&installed),
        "re-created env must have the same records"
    );

    // osx-arm64: a channel holding another platform's repodata (a lock needs no package files).
    let other = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(other.path().join("osx-arm64")).unwrap();
    std::fs::create_dir_all(other.path().join("noarch")).unwrap();
    let rec = |name: &str, version: &str, build: &str, depends: &[&str]| serde_json::json!({"name": name, "version": version, "build": build, "build_number": 0, "depends": depends, "subdir": "osx-arm64", "sha256": "0".repeat(64), "md5": "0".repeat(32), "size": 1});
    let repodata = serde_json::json!({
        "info": {"subdir": "osx-arm64"},
        "packages": {},
        "packages.conda": {
            "python-3.11.2-h1_cpython.conda": rec("python", "3.11.2", "h1_cpython", &["__osx >=11.0", "python_abi 3.11.* *_cp311"]),
            "python_abi-3.11-4_cp311.conda": rec("python_abi", "3.11", "4_cp311", &[]),
            "numpy-2.2.6-py311h1_0.conda": rec("numpy", "2.2.6", "py311h1_0", &["python >=3.11,<3.12.0a0", "python_abi 3.11.* *_cp311"]),
            "pillow-11.3.0-py311h1_0.conda": rec("pillow", "11.3.0", "py311h1_0", &["python >=3.11,<3.12.0a0", "python_abi 3.11.* *_cp311"]),
        }
    });
    std::fs::write(
        other.path().join("osx-arm64/repodata.json"),
        repodata.to_string(),
    )
    .unwrap();
    std::fs::write(
        other.path().join("noarch/repodata.json"),
        r#"{"info":{"subdir":"noarch"},"packages":{},"packages.conda":{}}"#,
    )
    .unwrap();
    let osx = home.path().join("osx.lock");
    run_ok(
        sv(home.path())
            .args(["env", "lock", "scivision-demo-edges", "-c", &ch(), "-c"])
            .arg(other.path())
            .args(["--platform", "osx-arm64", "-o"])
            .arg(&osx),
    );
    let text = std::fs::read_to_string(&osx).unwrap();
    assert!(
        text.contains("osx-arm64/python-3.11.2-h1_cpython.conda"),
        "{text}"
    );
    assert!(text.contains("noarch/scivision-demo-edges-0.1.0"), "{text}");
    // The PyPI half too, resolved with osx-arm64's tags and markers and no interpreter of its own.
    assert!(
        text.contains("- pypi: file://") && text.contains("exifread-3.5.1-py3-none-any.whl"),
        "{text}"
    );
    let out = run(sv(home.path()).args([
        "env",
        "create",
        "scivision-demo-edges",
        "-c",
        &ch(),
        "--platform",
        "osx-arm64",
    ]));
    assert_eq!(out.code, 4);
    assert!(
        out.stderr.contains("cannot install osx-arm64 packages"),
        "{}",
        out.stderr
    );
}

#[test]
fn interrupted_creates_leave_a_usable_state() {
    let home = tempfile::tempdir().unwrap();
    let rattler = tempfile::tempdir().unwrap();
    // Kill at several points (a fresh package cache makes the install long enough to hit).
    let (seed, delays) = kill_points(&[30, 120, 250, 400, 700], 3, 800);
    let mut interrupted = 0;
    for delay_ms in delays {
        let at = format!("killed after {delay_ms} ms (SCIVISION_TEST_SEED={seed})");
        interrupted += usize::from(kill_after(
            sv(home.path())
                .env("RATTLER_CACHE_DIR", rattler.path())
                .args(["env", "create", "scivision-demo-modern", "-c", &ch()]),
            delay_ms,
        ));
        let prefix = home.path().join("envs/scivision-demo-modern");
        // Either the previous environment (complete) or none: never a half-written one.
        if prefix.exists() {
            let out = run(sv(home.path()).args([
                "env",
                "run",
                "scivision-demo-modern",
                "--",
                "python",
                "-c",
                "import scivision_demo_modern",
            ]));
            assert_eq!(out.code, 0, "{at}: {}", out.stderr);
        }
    }
    assert!(
        interrupted > 0,
        "no kill interrupted a create (SCIVISION_TEST_SEED={seed})"
    );
    run_ok(
        sv(home.path())
            .env("RATTLER_CACHE_DIR", rattler.path())
            .args(["env", "create", "scivision-demo-modern", "-c", &ch()]),
    );
    run_ok(sv(home.path()).args([
        "env",
        "run",
        "scivision-demo-modern",
        "--",
        "python",
        "-c",
        "import scivision_demo_modern",
    ]));
    let leftovers: Vec<_> = std::fs::read_dir(home.path().join("envs"))
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().to_string())
        .filter(|n| n.starts_with(".staging") || n.starts_with(".trash"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn concurrent_creates_serialize() {
    let home = tempfile::tempdir().unwrap();
    let spawn = || {
        sv(home.path())
            .args([
                "env",
                "create",
                "scivision-demo-edges",
                "-c",
                &ch(),
                "--json",
            ])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (spawn(), spawn());
    let mut statuses = Vec::new();
    for child in [a, b] {
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        statuses.push(v["status"].as_str().unwrap().to_string());
    }
    statuses.sort();
    assert_eq!(statuses, ["created", "up-to-date"]);
}

#[test]
fn bad_input_is_one_clear_error_and_changes_nothing() {
    let home = tempfile::tempdir().unwrap();
    let out = run(sv(home.path()).args(["env", "create", "scivision-demo-edge", "-c", &ch()]));
    assert_eq!(out.code, 4);
    assert!(
        out.stderr.contains("did you mean `scivision-demo-edges`"),
        "{}",
        out.stderr
    );
    let missing = home.path().join("no-such-channel");
    let out = run(sv(home.path())
        .args(["env", "create", "scivision-demo-edges", "-c"])
        .arg(&missing));
    assert_eq!(out.code, 4);
    assert!(out.stderr.contains("no-such-channel"), "{}", out.stderr);
    let out = run(sv(home.path()).args([
        "env",
        "create",
        "scivision-demo-edges",
        "-c",
        "http://127.0.0.1:9/nothing",
    ]));
    assert_eq!(out.code, 6);
    assert!(out.stderr.contains("127.0.0.1:9"), "{}", out.stderr);
    // stardist's card asks for conda-forge's stardist, which this channel lacks: one solver error.
    let out = run(sv(home.path()).args(["env", "create", "stardist", "-c", &ch()]));
    assert_eq!(out.code, 5);
    assert!(
        out.stderr.contains("No candidates were found for stardist"),
        "{}",
        out.stderr
    );
    assert!(!home.path().join("envs/scivision-demo-edges").exists());
    assert!(!home.path().join("envs/stardist").exists());
}

#[test]
fn catalog_lists_shows_and_searches() {
    let home = tempfile::tempdir().unwrap();
    let out = run_ok(sv(home.path()).args(["catalog", "list", "--json"]));
    let models = json(&out);
    assert_eq!(models.as_array().unwrap().len(), 22);
    let out = run_ok(sv(home.path()).args(["catalog", "show", "stardist", "--json"]));
    assert_eq!(
        json(&out)["pkg_url"],
        "git+https://github.com/stardist/stardist.git@master"
    );
    let out = run_ok(sv(home.path()).args(["catalog", "search", "numpy", ">=2", "--json"]));
    let names: Vec<String> = json(&out)
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, ["scivision-demo-modern"]);
    let out = run_ok(sv(home.path()).args(["catalog", "list", "--datasources", "--json"]));
    assert!(!json(&out).as_array().unwrap().is_empty());
}

#[test]
fn export_doctor_and_a_malformed_lock() {
    let home = tempfile::tempdir().unwrap();
    run_ok(sv(home.path()).args(["env", "create", "scivision-demo-edges", "-c", &ch()]));
    let out = run_ok(sv(home.path()).args([
        "env",
        "export",
        "scivision-demo-edges",
        "--format",
        "explicit",
    ]));
    assert!(out.stdout.contains("@EXPLICIT"), "{}", out.stdout);
    // Read back the way conda clients read it: every entry carries a sha256 they accept.
    let spec: rattler_conda_types::ExplicitEnvironmentSpec = out.stdout.parse().unwrap();
    assert!(spec.packages.len() >= 5, "{}", out.stdout);
    for p in &spec.packages {
        assert!(
            matches!(
                p.package_archive_hash(),
                Ok(Some(rattler_conda_types::PackageArchiveHash::Sha256(_)))
            ),
            "{}",
            p.url
        );
    }
    assert!(
        out.stdout
            .lines()
            .any(|l| l.contains("/noarch/scivision-demo-edges-0.1.0-")
                && l.contains(".conda#sha256:")),
        "{}",
        out.stdout
    );
    let out = run_ok(sv(home.path()).args([
        "env",
        "export",
        "scivision-demo-edges",
        "--format",
        "environment-yml",
    ]));
    assert!(
        out.stdout.contains("name: scivision-demo-edges")
            && out.stdout.contains("  - python=3.11.2=h0_cpython"),
        "{}",
        out.stdout
    );
    // conda-meta as conda writes it: records readable by all, and a history `conda list
    // --revisions` reads, one revision per create with what it added and removed.
    use std::os::unix::fs::PermissionsExt;
    let meta = home.path().join("envs/scivision-demo-edges/conda-meta");
    for entry in std::fs::read_dir(&meta).unwrap().flatten() {
        let mode = entry.metadata().unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o644, "{}", entry.path().display());
    }
    let history = std::fs::read_to_string(meta.join("history")).unwrap();
    assert_eq!(history.matches("==> ").count(), 1, "{history}");
    assert!(
        history.contains("# cmd: scivision env create scivision-demo-edges"),
        "{history}"
    );
    assert!(
        history
            .lines()
            .any(|l| l.starts_with('+') && l.ends_with("::python-3.11.2-h0_cpython")),
        "{history}"
    );
    run_ok(sv(home.path()).args([
        "env",
        "create",
        "scivision-demo-edges",
        "-c",
        &ch(),
        "--with",
        "flit-core",
    ]));
    let history = std::fs::read_to_string(meta.join("history")).unwrap();
    let revisions: Vec<&str> = history.split("==> ").skip(1).collect();
    assert_eq!(revisions.len(), 2, "{history}");
    assert!(
        revisions[1].contains("--with flit-core"),
        "the command as run: {history}"
    );
    let changes: Vec<&str> = revisions[1]
        .lines()
        .filter(|l| l.starts_with(['+', '-']))
        .collect();
    assert!(
        changes.len() == 1
            && changes[0].starts_with('+')
            && changes[0].contains("::flit-core-3.10.1-"),
        "{history}"
    );
    let lock = home.path().join("envs/scivision-demo-edges/scivision.lock");
    std::fs::write(&lock, "version: [this is not a lock").unwrap();
    let out = run(sv(home.path()).args(["env", "export", "scivision-demo-edges"]));
    assert_eq!(out.code, 4);
    assert!(
        out.stderr.contains("is not a valid lock file"),
        "{}",
        out.stderr
    );
    // A create with a broken lock re-installs and writes a good lock.
    run_ok(sv(home.path()).args(["env", "create", "scivision-demo-edges", "-c", &ch()]));
    run_ok(sv(home.path()).args([
        "env",
        "export",
        "scivision-demo-edges",
        "--format",
        "explicit",
    ]));

    let out = run_ok(
        sv(home.path())
            .env("CONDA_OVERRIDE_CUDA", "12.4")
            .args(["doctor", "--json"]),
    );
    let v = json(&out);
    assert_eq!(v["platform"], "linux-64");
    assert_eq!(v["cuda"]["version"], "12.4");
    assert!(v["glibc"].as_str().is_some());
    let out = run_ok(
        sv(home.path())
            .env("CONDA_OVERRIDE_CUDA", "")
            .args(["doctor", "--json"]),
    );
    assert_eq!(json(&out)["cuda"]["found"], false);
    // Unset, it is no override: a host without a driver says so, not "set to an empty value".
    let out = run_ok(sv(home.path()).args(["doctor", "--json"]));
    let cuda = &json(&out)["cuda"];
    if cuda["found"] == true {
        assert_eq!(cuda["overridden"], false, "{cuda}");
    } else {
        assert!(cuda["why"].as_str().unwrap().contains("libcuda"), "{cuda}");
    }
}
