//! What a newcomer reaches for first: `scivision` alone, `--version`, shell completions, and
//! every command's `--help`, each with an example, snapshot-tested (`tests/snapshots/`; review a
//! change with `cargo insta review`, or accept it with `INSTA_UPDATE=always cargo test --test help`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;

/// The binary with no environment but PATH and HOME: `[env: …]` values in help stay out.
fn bare() -> std::process::Command {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_scivision"));
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", std::env::temp_dir())
        .env("COLUMNS", "100")
        .current_dir(repo());
    cmd
}

/// Every command path (`["env", "create"]`), parents before children, clap's `help` left out.
fn command_paths(cmd: &clap::Command, path: &[String], out: &mut Vec<Vec<String>>) {
    for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
        let mut p = path.to_vec();
        p.push(sub.get_name().to_string());
        out.push(p.clone());
        command_paths(sub, &p, out);
    }
}

#[test]
fn every_command_has_help_with_an_example_and_it_is_as_reviewed() {
    let root = scivision::cli::command();
    let mut paths = vec![Vec::new()];
    command_paths(&root, &[], &mut paths);
    assert!(paths.len() > 25, "{paths:?}");
    let mut missing = Vec::new();
    for path in &paths {
        let out = run_ok(bare().args(path).arg("--help"));
        if !out.stdout.contains("Example") {
            missing.push(path.join(" "));
        }
        let name = if path.is_empty() {
            "help".to_string()
        } else {
            format!("help-{}", path.join("-"))
        };
        insta::assert_snapshot!(name, out.stdout);
    }
    assert!(missing.is_empty(), "--help without an example: {missing:?}");
}

#[test]
fn no_arguments_shows_the_commands_to_start_with() {
    let out = run_ok(&mut bare());
    for command in [
        "scivision catalog list",
        "scivision build",
        "scivision env create",
        "scivision predict",
        "scivision doctor",
    ] {
        assert!(out.stdout.contains(command), "{command}: {}", out.stdout);
    }
    // Each command it names exists.
    let root = scivision::cli::command();
    for line in out.stdout.lines().filter(|l| l.starts_with("  scivision ")) {
        let command = line.split_whitespace().nth(1).unwrap();
        assert!(
            root.find_subcommand(command).is_some(),
            "`{command}` is no command: {line}"
        );
    }
}

#[test]
fn version_names_the_rattler_and_uv_it_links() {
    let lock = std::fs::read_to_string(repo().join("Cargo.lock")).unwrap();
    let version_of = |name: &str| {
        let at = lock
            .find(&format!("name = \"{name}\"\nversion = \""))
            .unwrap();
        let rest = &lock[at..];
        rest.lines().nth(1).unwrap()["version = ".len()..]
            .trim_matches('"')
            .to_string()
    };
    let out = run_ok(bare().arg("--version"));
    let text = out.stdout;
    assert!(
        text.starts_with(&format!("scivision {}", env!("CARGO_PKG_VERSION"))),
        "{text}"
    );
    assert!(
        text.contains(&format!("rattler {}", version_of("rattler"))),
        "{text}"
    );
    assert!(
        text.contains(&format!("uv {}", version_of("uv-version"))),
        "{text}"
    );
    // -V stays one line, for scripts.
    let short = run_ok(bare().arg("-V")).stdout;
    assert_eq!(
        short.trim(),
        format!("scivision {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn completions_for_bash_zsh_and_fish_name_the_commands() {
    for (shell, marker) in [
        ("bash", "complete -F"),
        ("zsh", "#compdef scivision"),
        ("fish", "complete -c scivision"),
    ] {
        let out = run_ok(bare().args(["completions", shell]));
        assert!(out.stdout.contains(marker), "{shell}: {}", out.stdout);
        for sub in ["create", "predict", "catalog", "lock"] {
            assert!(out.stdout.contains(sub), "{shell} lacks {sub}");
        }
    }
    // bash accepts the script.
    let out = run_ok(bare().args(["completions", "bash"]));
    let check = run(std::process::Command::new("bash")
        .arg("-n")
        .arg("-c")
        .arg(&out.stdout));
    assert_eq!(check.code, 0, "{}", check.stderr);
    let bad = run(bare().args(["completions", "tcsh"]));
    assert_eq!(bad.code, 2, "{}", bad.stderr);
    assert!(bad.stderr.contains("possible values"), "{}", bad.stderr);
}
