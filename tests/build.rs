//! End-to-end: `scivision build`, `convert` and `channel` on small recipes made by each test,
//! including the bad input that must produce one clear error and leave the channel unchanged.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};

use common::*;

/// Writes `recipes/<name>/recipe.yaml` under `root`.
fn recipe(root: &Path, name: &str, text: &str) -> PathBuf {
    let dir = root.join("recipes").join(name);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("recipe.yaml"), text).unwrap();
    dir
}

fn generic(name: &str, version: &str, script: &str) -> String {
    format!(
        "package:\n  name: {name}\n  version: \"{version}\"\nbuild:\n  noarch: generic\n  script:\n{}\nabout:\n  license: MIT\n  summary: test package\n",
        script.lines().map(|l| format!("    - {l}\n")).collect::<String>()
    )
}

/// The package extracted by conda-package-handling, a reader we did not write.
fn cph_extract(file: &Path) -> tempfile::TempDir {
    let x = tempfile::tempdir().unwrap();
    run_ok(
        std::process::Command::new(peer_bin("cph"))
            .arg("x")
            .arg(file)
            .arg("--dest")
            .arg(x.path()),
    );
    x
}

fn build_cmd(channel: &Path, recipes: &[&Path]) -> std::process::Command {
    let mut cmd = scivision();
    cmd.args(["build", "--json", "--output-dir"])
        .arg(channel)
        .args(recipes);
    cmd
}

fn build(channel: &Path, recipes: &[&Path]) -> Output {
    run(&mut build_cmd(channel, recipes))
}

#[test]
fn script_build_records_placeholders_and_is_reproducible() {
    let dir = tempfile::tempdir().unwrap();
    let r = recipe(dir.path(), "tool", &generic("tool", "1.0", "mkdir -p \"$PREFIX/share/tool\" \"$PREFIX/bin\"\necho \"$PREFIX\" > \"$PREFIX/share/tool/where.txt\"\nprintf '#!/bin/sh\\necho tool\\n' > \"$PREFIX/bin/tool\"\nchmod +x \"$PREFIX/bin/tool\""));
    let mut digests = Vec::new();
    for _ in 0..2 {
        // The same inputs: the same recipe into the same channel, rebuilt from scratch.
        let channel = dir.path().join("channel");
        let _ = std::fs::remove_dir_all(&channel);
        let mut cmd = scivision();
        let out = run_ok(
            cmd.args(["build", "--force", "--json", "--output-dir"])
                .arg(&channel)
                .arg(&r),
        );
        let outcome: Vec<serde_json::Value> = serde_json::from_str(&out.stdout).unwrap();
        assert_eq!(outcome[0]["status"], "built");
        let file = channel.join(outcome[0]["file"].as_str().unwrap());
        digests.push(
            tree_digest(file.parent().unwrap())[file.file_name().unwrap().to_str().unwrap()]
                .clone(),
        );
        let x = cph_extract(&file);
        let root = x.path();
        let paths: serde_json::Value =
            serde_json::from_slice(&std::fs::read(root.join("info/paths.json")).unwrap()).unwrap();
        let entry = paths["paths"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["_path"] == "share/tool/where.txt")
            .unwrap();
        assert_eq!(entry["file_mode"], "text");
        let placeholder = entry["prefix_placeholder"].as_str().unwrap();
        assert_eq!(placeholder.len(), 255, "{placeholder}");
        assert!(std::fs::read_to_string(root.join("share/tool/where.txt"))
            .unwrap()
            .starts_with(placeholder));
    }
    assert_eq!(
        digests[0], digests[1],
        "same inputs must give byte-identical archives"
    );
}

#[test]
fn unknown_key_is_one_clear_error_and_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let r = recipe(
        dir.path(),
        "bad",
        &generic("bad", "1.0", "true").replace("noarch: generic", "noarch: generic\n  numbr: 1"),
    );
    let channel = dir.path().join("channel");
    let out = build(&channel, &[&r]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(out.stderr.contains("numbr"), "{}", out.stderr);
    assert!(
        out.stderr.contains("recipes/bad/recipe.yaml"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("build"), "{}", out.stderr);
    assert!(
        !channel.exists(),
        "a rejected recipe must not create the channel"
    );
}

/// Builds a good package, then runs `bad`; the channel must be byte-for-byte as before.
fn assert_channel_unchanged_after(bad_recipe: &str, expect: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    let good = recipe(
        dir.path(),
        "good",
        &generic(
            "good",
            "1.0",
            "mkdir -p \"$PREFIX/share\"\necho ok > \"$PREFIX/share/good\"",
        ),
    );
    let channel = dir.path().join("channel");
    run_ok(
        scivision()
            .args(["build", "--output-dir"])
            .arg(&channel)
            .arg(&good),
    );
    let before = tree_digest(&channel);
    let bad = recipe(dir.path(), "bad", bad_recipe);
    let out = build(&channel, &[&bad]);
    assert_eq!(
        out.code, 1,
        "stdout: {}\nstderr: {}",
        out.stdout, out.stderr
    );
    for e in expect {
        assert!(out.stderr.contains(e), "expected `{e}` in:\n{}", out.stderr);
    }
    assert_eq!(before, tree_digest(&channel), "the channel changed");
}

#[test]
fn wrong_sha256_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("data.txt");
    std::fs::write(&file, "payload").unwrap();
    let text = format!(
        "package:\n  name: bad\n  version: \"1.0\"\nsource:\n  url: file://{}\n  sha256: {}\nbuild:\n  noarch: generic\n  script:\n    - cp data.txt \"$PREFIX/\"\n",
        file.display(),
        "ab".repeat(32)
    );
    assert_channel_unchanged_after(&text, &["sha256 mismatch", "source.sha256"]);
}

#[test]
fn failing_script_is_refused_with_its_log() {
    assert_channel_unchanged_after(
        &generic("bad", "1.0", "echo compiling-things\nexit 7"),
        &[
            "the build script of bad-1.0-",
            "compiling-things",
            "conda_build.log",
        ],
    );
}

#[test]
fn script_writing_outside_prefix_is_refused() {
    // Into /tmp (which rattler-build would leave writable) and into a folder elsewhere.
    for dir in [
        tempfile::tempdir().unwrap(),
        tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap(),
    ] {
        let escaped = dir.path().join("escaped.txt");
        let script = format!(
            "mkdir -p \"$PREFIX/share\"\necho x > \"$PREFIX/share/ok\"\necho owned > {}",
            escaped.display()
        );
        assert_channel_unchanged_after(
            &generic("bad", "1.0", &script),
            &["Read-only file system", "which the build sandbox forbids"],
        );
        assert!(!escaped.exists(), "the script escaped its sandbox");
    }
}

/// The sandbox keeps everything readable: a recipe in /tmp reads its own files, and the
/// script has a writable `TMPDIR`.
#[test]
fn sandboxed_script_reads_its_recipe_folder_and_writes_tmpdir() {
    let dir = tempfile::tempdir().unwrap();
    let r = recipe(
        dir.path(),
        "reader",
        &generic(
            "reader",
            "1.0",
            "mkdir -p \"$PREFIX/share\"\ncp \"$RECIPE_DIR/data.txt\" \"$PREFIX/share/\"\necho t > \"$TMPDIR/t\"",
        ),
    );
    std::fs::write(r.join("data.txt"), "data\n").unwrap();
    run_ok(
        scivision()
            .args(["build", "--output-dir"])
            .arg(dir.path().join("channel"))
            .arg(&r),
    );
}

fn which_on_path(program: &str) -> bool {
    std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .any(|d| d.join(program).is_file())
}

/// The `rattler-sandbox` link is written by `build` alone: a command that runs no build script
/// leaves the cache as it found it.
#[test]
fn only_build_writes_the_sandbox_link() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let link = cache.join("bin/rattler-sandbox");
    assert!(
        which_on_path("bwrap"),
        "bubblewrap is needed (scripts/setup installs it)"
    );
    assert!(
        !which_on_path("rattler-sandbox"),
        "a rattler-sandbox already on PATH is used as it is"
    );
    run_ok(
        scivision()
            .env("SCIVISION_CACHE_DIR", &cache)
            .args(["catalog", "list", "--json"]),
    );
    assert!(!cache.exists(), "catalog list wrote {}", cache.display());
    let r = recipe(dir.path(), "meta", &generic("meta", "1.0", "true"));
    run_ok(
        scivision()
            .env("SCIVISION_CACHE_DIR", &cache)
            .args(["build", "--output-dir"])
            .arg(dir.path().join("channel"))
            .arg(&r),
    );
    assert_eq!(
        std::fs::read_link(&link).unwrap(),
        std::path::Path::new(env!("CARGO_BIN_EXE_scivision"))
    );
}

#[test]
fn empty_script_output_is_a_package_as_in_rattler_build() {
    // rattler-build packages whatever the script installed, nothing included: a metapackage.
    let dir = tempfile::tempdir().unwrap();
    let r = recipe(dir.path(), "meta", &generic("meta", "1.0", "true"));
    let channel = dir.path().join("channel");
    let out = run_ok(
        scivision()
            .args(["build", "--json", "--output-dir"])
            .arg(&channel)
            .arg(&r),
    );
    let outcome: Vec<serde_json::Value> = serde_json::from_str(&out.stdout).unwrap();
    let file = channel.join(outcome[0]["file"].as_str().unwrap());
    let x = cph_extract(&file);
    let paths: serde_json::Value =
        serde_json::from_slice(&std::fs::read(x.path().join("info/paths.json")).unwrap()).unwrap();
    assert_eq!(paths["paths"].as_array().unwrap().len(), 0, "{paths}");
}

#[test]
fn dependency_order_and_unchanged_rebuild() {
    let dir = tempfile::tempdir().unwrap();
    let base = recipe(
        dir.path(),
        "base",
        &generic(
            "base",
            "1.0",
            "mkdir -p \"$PREFIX/share\"\necho base > \"$PREFIX/share/base.txt\"",
        ),
    );
    let app_text = generic("app", "1.0", "test -f \"$PREFIX/share/base.txt\"\nmkdir -p \"$PREFIX/share\"\necho app > \"$PREFIX/share/app.txt\"")
        .replace("about:", "requirements:\n  host: [base]\n  run: [base]\nabout:");
    let app = recipe(dir.path(), "app", &app_text);
    let channel = dir.path().join("channel");
    // Its own build cache, so that "built" means built in this test.
    let cache = dir.path().join("cache");
    let build = || {
        let mut cmd = scivision();
        cmd.env("SCIVISION_CACHE_DIR", &cache)
            .args(["build", "--json", "--output-dir"])
            .arg(&channel)
            .arg(&app)
            .arg(&base);
        let out = run_ok(&mut cmd);
        serde_json::from_str::<Vec<serde_json::Value>>(&out.stdout).unwrap()
    };
    // Given in the wrong order on purpose: app needs base in its host environment.
    let outcomes = build();
    let files: Vec<&str> = outcomes
        .iter()
        .map(|o| o["file"].as_str().unwrap())
        .collect();
    assert!(
        files[0].starts_with("noarch/base-1.0-") && files[1].starts_with("noarch/app-1.0-"),
        "{files:?}"
    );
    let before = tree_digest(&channel);
    let outcomes = build();
    assert!(
        outcomes.iter().all(|o| o["status"] == "unchanged"),
        "{outcomes:?}"
    );
    assert_eq!(before, tree_digest(&channel));
    // A change to base's recipe rebuilds base, and app too (its host package changed).
    std::fs::write(
        base.join("recipe.yaml"),
        generic(
            "base",
            "1.0",
            "mkdir -p \"$PREFIX/share\"\necho base2 > \"$PREFIX/share/base.txt\"",
        ),
    )
    .unwrap();
    let outcomes = build();
    assert!(
        outcomes.iter().all(|o| o["status"] == "built"),
        "{outcomes:?}"
    );
}

#[test]
fn cycle_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let a = recipe(
        dir.path(),
        "a",
        &generic("a", "1.0", "true").replace("about:", "requirements:\n  host: [b]\nabout:"),
    );
    let b = recipe(
        dir.path(),
        "b",
        &generic("b", "1.0", "true").replace("about:", "requirements:\n  host: [a]\nabout:"),
    );
    let out = build(&dir.path().join("channel"), &[&a, &b]);
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("cycle"), "{}", out.stderr);
}

/// A wheel made here: (name, bytes) entries plus a RECORD (computed, or the given text).
fn wheel(dir: &Path, record: Option<&str>) -> PathBuf {
    pure_wheel(dir, "tiny_pkg", &[], record)
}

/// A pure wheel of `dist` 1.0 (a module `dist` holding `VALUE = 42`) requiring `requires`.
fn pure_wheel(dir: &Path, dist: &str, requires: &[&str], record: Option<&str>) -> PathBuf {
    use base64::Engine;
    use sha2::Digest;
    use std::io::Write;
    let path = dir.join(format!("{dist}-1.0-py3-none-any.whl"));
    let requires: String = requires
        .iter()
        .map(|r| format!("Requires-Dist: {r}\n"))
        .collect();
    let metadata = format!(
        "Metadata-Version: 2.1\nName: {}\nVersion: 1.0\nRequires-Python: >=3.8\n{requires}",
        dist.replace('_', "-")
    );
    let module = format!("{dist}/__init__.py");
    let metadata_path = format!("{dist}-1.0.dist-info/METADATA");
    let wheel_path = format!("{dist}-1.0.dist-info/WHEEL");
    let record_path = format!("{dist}-1.0.dist-info/RECORD");
    let files: [(&str, &[u8]); 3] = [
        (&module, b"VALUE = 42\n"),
        (&metadata_path, metadata.as_bytes()),
        (
            &wheel_path,
            b"Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
        ),
    ];
    let mut zip = zip::ZipWriter::new(std::fs::File::create(&path).unwrap());
    let opts = zip::write::SimpleFileOptions::default();
    let mut computed = String::new();
    for (name, bytes) in files {
        zip.start_file(name, opts).unwrap();
        zip.write_all(bytes).unwrap();
        let hash =
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(bytes));
        computed.push_str(&format!("{name},sha256={hash},{}\n", bytes.len()));
    }
    computed.push_str(&format!("{record_path},,\n"));
    zip.start_file(&record_path, opts).unwrap();
    zip.write_all(record.unwrap_or(&computed).as_bytes())
        .unwrap();
    zip.finish().unwrap();
    path
}

#[test]
fn convert_is_deterministic_and_refuses_a_broken_record() {
    let dir = tempfile::tempdir().unwrap();
    let whl = wheel(dir.path(), None);
    let mut digests = Vec::new();
    for i in 0..2 {
        let out_dir = dir.path().join(format!("out{i}"));
        let out = run_ok(
            scivision()
                .args(["convert", "--json", "--index", "-o"])
                .arg(&out_dir)
                .arg(&whl),
        );
        let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
        let file = v["written"][0].as_str().unwrap().to_string();
        assert!(file.starts_with("noarch/tiny-pkg-1.0-pyh"), "{file}");
        digests.push(tree_digest(&out_dir)[&file].clone());
        let repodata: serde_json::Value =
            serde_json::from_slice(&std::fs::read(out_dir.join("noarch/repodata.json")).unwrap())
                .unwrap();
        let rec = &repodata["packages.conda"][file.trim_start_matches("noarch/")];
        assert_eq!(rec["depends"][0], "python >=3.8");
        assert_eq!(rec["noarch"], "python");
    }
    assert_eq!(digests[0], digests[1]);

    let channel = dir.path().join("out0");
    let before = tree_digest(&channel);
    let broken_dir = dir.path().join("broken");
    std::fs::create_dir_all(&broken_dir).unwrap();
    let broken = wheel(&broken_dir, Some("tiny_pkg/__init__.py,sha256=AAAA,11\n"));
    let out = run(scivision()
        .args(["convert", "--index", "-o"])
        .arg(&channel)
        .arg(&broken));
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("RECORD"), "{}", out.stderr);
    assert!(
        out.stderr.contains("tiny_pkg-1.0-py3-none-any.whl"),
        "{}",
        out.stderr
    );
    assert_eq!(before, tree_digest(&channel));
}

#[test]
fn deprecated_version_is_ranked_last_and_explained() {
    let dir = tempfile::tempdir().unwrap();
    let channel = dir.path().join("channel");
    for v in ["1.0", "2.0"] {
        let r = recipe(
            dir.path(),
            &format!("lib-{v}"),
            &generic(
                "lib",
                v,
                &format!("mkdir -p \"$PREFIX/share\"\necho {v} > \"$PREFIX/share/lib\""),
            ),
        );
        run_ok(
            scivision()
                .args(["build", "--output-dir"])
                .arg(&channel)
                .arg(&r),
        );
    }
    let solve = |spec: &str| {
        let script = r#"
import asyncio, os, pathlib, sys, rattler
async def main():
    recs = await rattler.solve([pathlib.Path(sys.argv[1]).resolve().as_uri()], [sys.argv[2]], platforms=["linux-64", "noarch"], virtual_packages=[])
    print(" ".join(f"{r.name.normalized}={r.version}" for r in recs))
asyncio.run(main())
# py-rattler's runtime threads can abort interpreter shutdown; skip it once output is out.
sys.stdout.flush(); os._exit(0)
"#;
        let out = py_rattler(script, &[channel.to_str().unwrap(), spec]);
        assert_eq!(out.code, 0, "{}", out.stderr);
        out.stdout.trim().to_string()
    };
    assert_eq!(solve("lib"), "lib=2.0");
    let out = run_ok(
        scivision()
            .args([
                "channel",
                "deprecate",
                "lib==2.0",
                "--reason",
                "broken on Tuesdays",
                "--json",
                "--dir",
            ])
            .arg(&channel),
    );
    assert!(out.stdout.contains("noarch/lib-2.0-"), "{}", out.stdout);
    assert_eq!(
        solve("lib"),
        "lib=1.0",
        "a deprecated build must be ranked last"
    );
    assert_eq!(
        solve("lib==2.0"),
        "lib=2.0",
        "asking for the version still gets it"
    );
    let notices = std::fs::read_to_string(channel.join("notices.json")).unwrap();
    assert!(notices.contains("broken on Tuesdays"), "{notices}");
    let channeldata = std::fs::read_to_string(channel.join("channeldata.json")).unwrap();
    assert!(channeldata.contains("broken on Tuesdays"), "{channeldata}");
    // Unknown packages are an error, and change nothing.
    let before = tree_digest(&channel);
    let out = run(scivision()
        .args(["channel", "deprecate", "nope", "--reason", "x", "--dir"])
        .arg(&channel));
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("matches `nope`"), "{}", out.stderr);
    assert_eq!(before, tree_digest(&channel));
}

#[test]
fn recipe_tests_gate_the_channel() {
    let dir = tempfile::tempdir().unwrap();
    let channel = dir.path().join("channel");
    let with_test = |name: &str, check: &str| {
        let text = generic(name, "1.0", "mkdir -p \"$PREFIX/share\"\necho hello > \"$PREFIX/share/greeting\"").replace(
            "about:",
            &format!("tests:\n  - script:\n      - {check}\n    files:\n      recipe: [expected.txt]\nabout:"),
        );
        let r = recipe(dir.path(), name, &text);
        std::fs::write(r.join("expected.txt"), "hello\n").unwrap();
        r
    };
    // The test sees the package installed ($PREFIX) and the recipe's test files (cwd).
    let good = with_test("greeter", "cmp \"$PREFIX/share/greeting\" expected.txt");
    run_ok(
        scivision()
            .args(["build", "--output-dir"])
            .arg(&channel)
            .arg(&good),
    );
    assert!(tree_digest(&channel)
        .keys()
        .any(|k| k.starts_with("noarch/greeter-1.0-")));
    let before = tree_digest(&channel);
    let bad = with_test(
        "liar",
        "test \"$(cat \"$PREFIX/share/greeting\")\" = goodbye",
    );
    let out = run(scivision()
        .args(["build", "--output-dir"])
        .arg(&channel)
        .arg(&bad));
    assert_eq!(out.code, 1);
    assert!(
        out.stderr.contains("the tests of liar-1.0-"),
        "{}",
        out.stderr
    );
    assert_eq!(
        before,
        tree_digest(&channel),
        "a package whose test fails must not reach the channel"
    );
}

/// A staging output's host packages give their run exports to the outputs that inherit from
/// it: `rattler-build build` of these two recipes gives `stg-b` the depends `["stg-a >=1.0"]`
/// (checked with py-rattler-build 0.x's `build_recipes` when this test was written).
#[test]
fn a_staging_outputs_run_exports_reach_the_outputs_that_inherit_from_it() {
    let dir = tempfile::tempdir().unwrap();
    let a = recipe(
        dir.path(),
        "stg-a",
        &generic(
            "stg-a",
            "1.0",
            "mkdir -p \"$PREFIX/share\"\necho a > \"$PREFIX/share/stg-a.txt\"",
        )
        .replace(
            "about:",
            "requirements:\n  run_exports:\n    weak:\n      - stg-a >=1.0\nabout:",
        ),
    );
    let b = recipe(
        dir.path(),
        "stg-b",
        "schema_version: 1\nrecipe:\n  name: stg-b-split\n  version: \"2.0\"\noutputs:\n  - staging:\n      name: stg-b-staging\n    requirements:\n      host:\n        - stg-a\n    build:\n      script: mkdir -p $PREFIX/share/stg-b && echo b > $PREFIX/share/stg-b/b.txt\n  - package:\n      name: stg-b\n    inherit: stg-b-staging\n    build:\n      files:\n        - share/stg-b/**\n    about:\n      license: MIT\n      summary: test package\n",
    );
    let channel = dir.path().join("channel");
    // Its own build cache, so that the package is built by this binary.
    let mut cmd = build_cmd(&channel, &[&a, &b]);
    cmd.env("SCIVISION_CACHE_DIR", dir.path().join("cache"));
    let outcomes: Vec<serde_json::Value> = serde_json::from_str(&run_ok(&mut cmd).stdout).unwrap();
    let file = outcomes
        .iter()
        .map(|o| o["file"].as_str().unwrap())
        .find(|f| f.contains("/stg-b-2.0-"))
        .unwrap_or_else(|| panic!("{outcomes:?}"))
        .to_string();
    let x = cph_extract(&channel.join(&file));
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(x.path().join("info/index.json")).unwrap()).unwrap();
    assert_eq!(
        index["depends"],
        serde_json::json!(["stg-a >=1.0"]),
        "{index}"
    );
    assert!(x.path().join("share/stg-b/b.txt").is_file());
}

/// The staging output's own host environment is an input of the outputs that inherit from it:
/// a newer `stg-a` whose run export asks for more rebuilds `stg-b` (its staging output too, not
/// the engine's cached copy of it), where an unchanged channel rebuilds nothing.
#[test]
fn a_staging_environment_that_resolves_differently_rebuilds_what_inherits_from_it() {
    let dir = tempfile::tempdir().unwrap();
    let stg_a = |version: &str| {
        generic(
            "stg-a",
            version,
            &format!("mkdir -p \"$PREFIX/share\"\necho {version} > \"$PREFIX/share/stg-a.txt\""),
        )
        .replace(
            "about:",
            &format!("requirements:\n  run_exports:\n    weak:\n      - stg-a >={version}\nabout:"),
        )
    };
    let a1 = recipe(&dir.path().join("v1"), "stg-a", &stg_a("1.0"));
    let a2 = recipe(&dir.path().join("v2"), "stg-a", &stg_a("1.1"));
    let b = recipe(
        dir.path(),
        "stg-b",
        "schema_version: 1\nrecipe:\n  name: stg-b-split\n  version: \"2.0\"\noutputs:\n  - staging:\n      name: stg-b-staging\n    requirements:\n      host:\n        - stg-a\n    build:\n      script: mkdir -p $PREFIX/share/stg-b && cp $PREFIX/share/stg-a.txt $PREFIX/share/stg-b/built-with.txt\n  - package:\n      name: stg-b\n    inherit: stg-b-staging\n    build:\n      files:\n        - share/stg-b/**\n    about:\n      license: MIT\n      summary: test package\n",
    );
    let channel = dir.path().join("channel");
    let build = |recipes: &[&Path]| -> Vec<serde_json::Value> {
        let mut cmd = build_cmd(&channel, recipes);
        cmd.env("SCIVISION_CACHE_DIR", dir.path().join("cache"));
        serde_json::from_str(&run_ok(&mut cmd).stdout).unwrap()
    };
    let stg_b = |outcomes: &[serde_json::Value]| {
        outcomes
            .iter()
            .find(|o| o["file"].as_str().unwrap().contains("/stg-b-2.0-"))
            .unwrap_or_else(|| panic!("{outcomes:?}"))
            .clone()
    };
    let contents = |outcome: &serde_json::Value| {
        let x = cph_extract(&channel.join(outcome["file"].as_str().unwrap()));
        let index: serde_json::Value =
            serde_json::from_slice(&std::fs::read(x.path().join("info/index.json")).unwrap())
                .unwrap();
        let with = std::fs::read_to_string(x.path().join("share/stg-b/built-with.txt")).unwrap();
        (index["depends"].clone(), with.trim().to_string())
    };
    let first = stg_b(&build(&[&a1, &b]));
    assert_eq!(first["status"], "built");
    assert_eq!(
        contents(&first),
        (serde_json::json!(["stg-a >=1.0"]), "1.0".into())
    );
    let again = stg_b(&build(&[&b]));
    assert_eq!(again["status"], "unchanged", "{again}");
    build(&[&a2]);
    let newer = stg_b(&build(&[&b]));
    assert_eq!(newer["status"], "built", "{newer}");
    assert_eq!(
        contents(&newer),
        (serde_json::json!(["stg-a >=1.1"]), "1.1".into())
    );
}
