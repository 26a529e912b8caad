//! The main error messages and their exit codes, as a user sees them, snapshot-tested
//! (`tests/snapshots/errors__*.snap`; review a change with `cargo insta review`, or accept it
//! with `INSTA_UPDATE=always cargo test --test errors`). Each names what is wrong, why, and
//! what to do; the exit code says its class (README: 4 bad input, 5 unsolvable).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;

use common::*;

/// `code` and stderr, with this run's folders named instead of printed.
fn shown(out: &Output, home: &Path) -> String {
    let text = out
        .stderr
        .replace(&channel().display().to_string(), "[CHANNEL]")
        .replace(&home.display().to_string(), "[HOME]");
    format!("exit code {}\n{}", out.code, text.trim_end())
}

fn create(home: &Path, args: &[&str]) -> Output {
    run(sv(home)
        .env("NO_COLOR", "1")
        .env("COLUMNS", "100")
        .args(["env", "create", "-q", "-c"])
        .arg(channel())
        .args(args))
}

#[test]
fn an_unknown_model_suggests_the_close_name() {
    let home = tempfile::tempdir().unwrap();
    let out = create(home.path(), &["scivision-demo-edge"]);
    assert_eq!(out.code, 4);
    insta::assert_snapshot!("unknown-model", shown(&out, home.path()));
}

#[test]
fn a_bad_pypi_requirement_names_the_flag() {
    let home = tempfile::tempdir().unwrap();
    let out = create(
        home.path(),
        &["scivision-demo-edges", "--pypi", "exifread >=>3"],
    );
    assert_eq!(out.code, 4);
    insta::assert_snapshot!("bad-pypi-requirement", shown(&out, home.path()));
}

#[test]
fn a_malformed_lock_names_the_file_and_how_to_make_one() {
    let home = tempfile::tempdir().unwrap();
    let lock = home.path().join("bad.lock");
    std::fs::write(&lock, "version: [this is not a lock").unwrap();
    let lock = lock.display().to_string();
    let out = create(
        home.path(),
        &["scivision-demo-edges", "--frozen", "--lock", &lock],
    );
    assert_eq!(out.code, 4);
    insta::assert_snapshot!("malformed-lock", shown(&out, home.path()));
    assert!(!home.path().join("envs/scivision-demo-edges").exists());
}

#[test]
fn a_model_the_host_cannot_run_says_what_it_needs_and_what_the_host_has() {
    let home = tempfile::tempdir().unwrap();
    let out = create(
        home.path(),
        &["scivision-demo-gpu[build=cuda*]", "--cuda", "none"],
    );
    assert_eq!(out.code, 5);
    // The host's own kernel and glibc versions vary between machines.
    let text = shown(&out, home.path());
    let text = text
        .lines()
        .map(|l| {
            if l.contains("__linux") || l.contains("__glibc") || l.contains("__archspec") {
                "[HOST FACTS]"
            } else {
                l
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    insta::assert_snapshot!("unsolvable-cuda", text);
}

#[test]
fn a_wrong_flag_value_is_bad_input_with_what_to_do() {
    let home = tempfile::tempdir().unwrap();
    let out = create(
        home.path(),
        &["scivision-demo-edges", "--with", "numpy >=>1"],
    );
    assert_eq!(out.code, 4);
    insta::assert_snapshot!("bad-with-spec", shown(&out, home.path()));
    let out = create(
        home.path(),
        &["scivision-demo-edges", "--platform", "win-99"],
    );
    assert_eq!(out.code, 4);
    insta::assert_snapshot!("bad-platform", shown(&out, home.path()));
}

#[test]
fn a_mapping_file_that_is_not_one_names_the_variable_and_keeps_the_parsers_cause() {
    let home = tempfile::tempdir().unwrap();
    // The test channel as a conda-forge mirror, so the mapping applies to it and is read.
    std::fs::write(
        home.path().join("no-config.toml"),
        format!(
            "conda-forge-mirrors = [{:?}]\n",
            channel().display().to_string()
        ),
    )
    .unwrap();
    let mapping = home.path().join("mapping.json");
    std::fs::write(&mapping, "{\"pytorch\": [\"torch\"").unwrap();
    let out = run(sv(home.path())
        .env("NO_COLOR", "1")
        .env("COLUMNS", "100")
        .env("SCIVISION_CONDA_PYPI_MAPPING", &mapping)
        .args(["env", "create", "-q", "scivision-demo-edges", "-c"])
        .arg(channel()));
    assert_eq!(out.code, 4);
    insta::assert_snapshot!("not-a-mapping", shown(&out, home.path()));
    assert!(!home.path().join("envs/scivision-demo-edges").exists());
}
