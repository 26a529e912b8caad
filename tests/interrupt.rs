//! Interruption and concurrency: a build, an index or an unpack killed at any point and run
//! again gives what an uninterrupted run gives, and parallel builds and creates lose nothing.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;

use common::*;

/// The packages `repodata.json` lists per subdir, and whether every index file parses.
fn index_state(channel: &Path) -> Vec<(String, Vec<String>)> {
    ["linux-64", "noarch"]
        .iter()
        .map(|subdir| {
            let text = std::fs::read_to_string(channel.join(subdir).join("repodata.json")).unwrap();
            let v: serde_json::Value = serde_json::from_str(&text).unwrap();
            let mut names: Vec<String> = v["packages.conda"]
                .as_object()
                .unwrap()
                .keys()
                .chain(v["packages"].as_object().unwrap().keys())
                .cloned()
                .collect();
            names.sort();
            (subdir.to_string(), names)
        })
        .collect()
}

#[test]
fn channel_index_killed_at_any_point_then_rerun_equals_an_uninterrupted_index() {
    let strip = |dir: &Path| {
        for p in walkdir::WalkDir::new(dir)
            .into_iter()
            .filter_map(Result::ok)
        {
            let name = p.file_name().to_string_lossy().to_string();
            if p.file_type().is_file()
                && (name.starts_with("repodata") || name == "channeldata.json")
            {
                std::fs::remove_file(p.path()).unwrap();
            }
        }
    };
    let reference = channel_copy();
    strip(reference.path());
    run_ok(scivision().args(["channel", "index"]).arg(reference.path()));
    let expected = index_state(reference.path());

    let victim = channel_copy();
    strip(victim.path());
    let (seed, delays) = kill_points(&[20, 80, 200, 400, 800], 3, 900);
    let mut interrupted = 0;
    for delay_ms in delays {
        let at = format!("killed after {delay_ms} ms (SCIVISION_TEST_SEED={seed})");
        interrupted += usize::from(kill_after(
            scivision().args(["channel", "index"]).arg(victim.path()),
            delay_ms,
        ));
        // Whatever index files exist after a kill are whole (written beside and renamed).
        for subdir in ["linux-64", "noarch"] {
            let path = victim.path().join(subdir).join("repodata.json");
            if let Ok(text) = std::fs::read_to_string(&path) {
                serde_json::from_str::<serde_json::Value>(&text)
                    .unwrap_or_else(|e| panic!("{at}: {} is torn: {e}", path.display()));
            }
        }
    }
    assert!(
        interrupted > 0,
        "no kill interrupted an index (SCIVISION_TEST_SEED={seed})"
    );
    run_ok(scivision().args(["channel", "index"]).arg(victim.path()));
    assert_eq!(index_state(victim.path()), expected);
    // And a client reads it: the demo model solves from the re-indexed channel.
    let home = tempfile::tempdir().unwrap();
    run_ok(
        sv(home.path())
            .args(["env", "create", "scivision-demo-edges", "--dry-run", "-c"])
            .arg(victim.path()),
    );
}

/// `scivision` as a machine of its own: home, caches and config under `root`.
fn machine(root: &Path) -> std::process::Command {
    let mut cmd = scivision();
    cmd.env("SCIVISION_HOME", root.join("home"))
        .env("SCIVISION_CACHE_DIR", root.join("cache"))
        .env("RATTLER_CACHE_DIR", root.join("rattler"))
        .env("SCIVISION_CONFIG", root.join("no-config.toml"))
        .env_remove("SCIVISION_OFFLINE");
    cmd
}

#[test]
fn env_unpack_killed_at_any_point_then_rerun_gives_a_working_environment() {
    let a = tempfile::tempdir().unwrap();
    run_ok(
        machine(a.path())
            .args(["env", "create", "scivision-demo-edges", "-c"])
            .arg(channel()),
    );
    let pack = a.path().join("edges.scivision-pack");
    run_ok(
        machine(a.path())
            .args(["env", "pack", "scivision-demo-edges", "-o"])
            .arg(&pack),
    );
    let b = tempfile::tempdir().unwrap();
    let (seed, delays) = kill_points(&[30, 100, 250, 500, 900], 3, 1000);
    let mut interrupted = 0;
    for delay_ms in delays {
        let at = format!("killed after {delay_ms} ms (SCIVISION_TEST_SEED={seed})");
        interrupted += usize::from(kill_after(
            machine(b.path())
                .args(["env", "unpack"])
                .arg(&pack)
                .args(["--name", "edges"]),
            delay_ms,
        ));
        // The environment is the previous one or none, never half of one.
        let prefix = b.path().join("home/envs/edges");
        if prefix.exists() {
            let out = run(machine(b.path()).args([
                "env",
                "run",
                "edges",
                "--",
                "python",
                "-c",
                "import scivision_demo_edges",
            ]));
            assert_eq!(out.code, 0, "{at}: {}", out.stderr);
        }
    }
    assert!(
        interrupted > 0,
        "no kill interrupted an unpack (SCIVISION_TEST_SEED={seed})"
    );
    let out = run_ok(
        machine(b.path())
            .args(["env", "unpack"])
            .arg(&pack)
            .args(["--name", "edges"]),
    );
    assert!(out.stdout.contains("unpacked edges"), "{}", out.stdout);
    let out = run_ok(machine(b.path()).args([
        "env", "run", "edges", "--", "python", "-c",
        "import scivision_demo_edges as m; print(m.SobelEdges().predict(m.load_png(m.SAMPLE)).shape)",
    ]));
    assert_eq!(out.stdout.trim(), "(32, 32)");
}

/// Waits for every child, failing (and killing the rest) if any takes longer than `limit`: a
/// deadlock shows as a failure, not as a hung suite.
fn wait_all(children: Vec<std::process::Child>, limit: std::time::Duration) -> Vec<Output> {
    let deadline = std::time::Instant::now() + limit;
    let mut children: Vec<Option<std::process::Child>> = children.into_iter().map(Some).collect();
    let mut outputs: Vec<Option<Output>> = children.iter().map(|_| None).collect();
    while outputs.iter().any(Option::is_none) {
        for (i, slot) in children.iter_mut().enumerate() {
            let done = slot
                .as_mut()
                .is_some_and(|c| c.try_wait().ok().flatten().is_some());
            if done {
                let out = slot.take().unwrap().wait_with_output().unwrap();
                outputs[i] = Some(Output {
                    code: out.status.code().unwrap_or(-1),
                    stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
                    stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
                });
            }
        }
        if std::time::Instant::now() > deadline {
            for c in children.iter_mut().flatten() {
                let _ = c.kill();
            }
            panic!("still running after {limit:?}: a deadlock?");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    outputs.into_iter().map(Option::unwrap).collect()
}

/// A piped child of `cmd`.
fn spawn(cmd: &mut std::process::Command) -> std::process::Child {
    cmd.stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("command starts")
}

/// Leftovers of an interrupted write anywhere under `dir`.
fn partial_files(dir: &Path) -> Vec<String> {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".partial-") || n.starts_with(".staging-"))
        .collect()
}

/// Writes a generic recipe `name` under `root/recipes`; `host` names a host dependency.
fn small_recipe(root: &Path, name: &str, host: Option<&str>) -> std::path::PathBuf {
    let dir = root.join("recipes").join(name);
    std::fs::create_dir_all(&dir).unwrap();
    let reqs = host
        .map(|h| format!("requirements:\n  host: [{h}]\n  run: [{h}]\n"))
        .unwrap_or_default();
    std::fs::write(
        dir.join("recipe.yaml"),
        format!(
            "package:\n  name: {name}\n  version: \"1.0\"\nbuild:\n  noarch: generic\n  script:\n    \
             - sleep 0.2\n    \
             - mkdir -p \"$PREFIX/share/{name}\"\n    \
             - for i in 1 2 3 4 5 6 7 8; do echo {name}-$i > \"$PREFIX/share/{name}/$i.txt\"; done\n\
             {reqs}about:\n  license: MIT\n  summary: test package\n"
        ),
    )
    .unwrap();
    dir
}

/// A channel as its clients see it: every file's sha256, with each `repodata.json` parsed and
/// the indexer's `indexed_timestamp` (when it read each package) left out; the shard files,
/// whose names and bytes follow from those timestamps, are left to the solves that read them.
fn published(channel: &Path) -> std::collections::BTreeMap<String, String> {
    fn strip(v: &mut serde_json::Value) {
        match v {
            serde_json::Value::Object(map) => {
                map.remove("indexed_timestamp");
                map.values_mut().for_each(strip);
            }
            serde_json::Value::Array(items) => items.iter_mut().for_each(strip),
            _ => {}
        }
    }
    let mut out = tree_digest(channel);
    out.retain(|k, _| !k.contains("repodata") && !k.contains("shards/") && !k.starts_with(".tmp"));
    for (name, _) in tree_digest(channel)
        .into_iter()
        .filter(|(k, _)| k.ends_with("/repodata.json"))
    {
        let mut v: serde_json::Value =
            serde_json::from_slice(&std::fs::read(channel.join(&name)).unwrap()).unwrap();
        strip(&mut v);
        out.insert(name, v.to_string());
    }
    out
}

#[test]
fn build_killed_at_any_point_then_rerun_equals_an_uninterrupted_build() {
    let dir = tempfile::tempdir().unwrap();
    let base = small_recipe(dir.path(), "base", None);
    let app = small_recipe(dir.path(), "app", Some("base"));
    // One build cache throughout: the same inputs build the same bytes.
    let cache = dir.path().join("cache");
    let build = |channel: &Path, force: bool| {
        let mut cmd = scivision();
        cmd.env("SCIVISION_CACHE_DIR", &cache)
            .args(["build", "--quiet", "--output-dir"])
            .arg(channel)
            .arg(&app)
            .arg(&base);
        if force {
            cmd.arg("--force");
        }
        cmd
    };
    let reference = dir.path().join("reference");
    let started = std::time::Instant::now();
    run_ok(&mut build(&reference, true));
    let took = started.elapsed().as_millis() as u64;
    let want = published(&reference);
    assert!(
        want.keys().any(|k| k.starts_with("noarch/app-1.0-")),
        "{want:?}"
    );
    // Kill points spread over a whole build (resolving, scripts, packaging, indexing), and
    // three drawn at random (`SCIVISION_TEST_SEED` replays a run).
    let fixed: Vec<u64> = [0.05, 0.2, 0.35, 0.5, 0.65, 0.8, 0.95]
        .iter()
        .map(|f| (took as f64 * f) as u64)
        .collect();
    let (seed, delays) = kill_points(&fixed, 3, took);
    let mut interrupted = 0;
    for (i, delay) in delays.iter().enumerate() {
        let channel = dir.path().join(format!("channel-{i}"));
        interrupted += usize::from(kill_after(&mut build(&channel, true), *delay));
        // What a user does next: build again (the build cache may already hold a package).
        let again = run(&mut build(&channel, false));
        let at = format!("killed after {delay} ms (SCIVISION_TEST_SEED={seed})");
        assert_eq!(again.code, 0, "{at}: {}", again.stderr);
        assert_eq!(published(&channel), want, "{at}");
        assert_eq!(partial_files(&channel), Vec::<String>::new(), "{at}");
    }
    assert!(
        interrupted > 0,
        "no kill interrupted a build (SCIVISION_TEST_SEED={seed})"
    );
    // The narrowest window, hit on purpose: killed after placing a package, before indexing.
    let channel = dir.path().join("placed-not-indexed");
    std::fs::create_dir_all(channel.join("noarch")).unwrap();
    for f in std::fs::read_dir(reference.join("noarch"))
        .unwrap()
        .flatten()
    {
        if f.file_name().to_string_lossy().starts_with("base-") {
            std::fs::copy(f.path(), channel.join("noarch").join(f.file_name())).unwrap();
        }
    }
    run_ok(&mut build(&channel, false));
    assert_eq!(published(&channel), want);
}

#[test]
fn parallel_builds_into_one_channel_lose_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let recipes: Vec<_> = (0..4)
        .map(|i| small_recipe(dir.path(), &format!("tool{i}"), None))
        .collect();
    let channel = dir.path().join("channel");
    let cache = dir.path().join("cache");
    let build = |recipe: &Path| {
        let mut cmd = scivision();
        cmd.env("SCIVISION_CACHE_DIR", &cache)
            .args(["build", "--quiet", "--json", "--output-dir"])
            .arg(&channel)
            .arg(recipe);
        cmd
    };
    // Four recipes at once, and the first twice more: one cache entry, one package.
    let mut children: Vec<_> = recipes.iter().map(|r| spawn(&mut build(r))).collect();
    children.push(spawn(&mut build(&recipes[0])));
    children.push(spawn(&mut build(&recipes[0])));
    let outs = wait_all(children, std::time::Duration::from_secs(300));
    for out in &outs {
        assert_eq!(out.code, 0, "{}", out.stderr);
    }
    let built = outs
        .iter()
        .filter(|o| o.stdout.contains("\"built\""))
        .count();
    assert_eq!(
        built,
        4,
        "each recipe built once: {outs:?}",
        outs = outs.iter().map(|o| &o.stdout).collect::<Vec<_>>()
    );
    let repodata: serde_json::Value =
        serde_json::from_slice(&std::fs::read(channel.join("noarch/repodata.json")).unwrap())
            .unwrap();
    let mut names: Vec<&str> = repodata["packages.conda"]
        .as_object()
        .unwrap()
        .values()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["tool0", "tool1", "tool2", "tool3"]);
    let outputs: serde_json::Value =
        serde_json::from_slice(&std::fs::read(channel.join(".scivision/outputs.json")).unwrap())
            .unwrap();
    assert_eq!(outputs.as_object().unwrap().len(), 4, "{outputs}");
    assert_eq!(partial_files(&channel), Vec::<String>::new());
    // The channel as the builds left it equals a fresh index of it.
    let before = published(&channel);
    run_ok(scivision().args(["channel", "index"]).arg(&channel));
    assert_eq!(published(&channel), before);
}

#[test]
fn parallel_creates_share_one_empty_package_cache() {
    let home = tempfile::tempdir().unwrap();
    let caches = tempfile::tempdir().unwrap();
    let ch = channel().display().to_string();
    let create = |model: &str| {
        let mut cmd = sv(home.path());
        cmd.env("RATTLER_CACHE_DIR", caches.path().join("rattler"))
            .env("SCIVISION_CACHE_DIR", caches.path().join("scivision"))
            .args(["env", "create", model, "-q", "--json", "-c", &ch]);
        cmd
    };
    let models = [
        "scivision-demo-edges",
        "scivision-demo-edges",
        "scivision-demo-edges",
        "scivision-demo-modern",
        "scivision-demo-legacy",
        "scivision-demo-gpu",
    ];
    let children = models.iter().map(|m| spawn(&mut create(m))).collect();
    let outs = wait_all(children, std::time::Duration::from_secs(600));
    for out in &outs {
        assert_eq!(out.code, 0, "{}", out.stderr);
    }
    let statuses: Vec<String> = outs[..3]
        .iter()
        .map(|o| {
            serde_json::from_str::<serde_json::Value>(&o.stdout).unwrap()["status"].to_string()
        })
        .collect();
    assert_eq!(
        statuses.iter().filter(|s| s.contains("created")).count(),
        1,
        "one model created once, found up to date twice: {statuses:?}"
    );
    for model in [
        "scivision-demo-edges",
        "scivision-demo-modern",
        "scivision-demo-legacy",
        "scivision-demo-gpu",
    ] {
        let module = model.replace('-', "_");
        run_ok(sv(home.path()).args([
            "env",
            "run",
            model,
            "--",
            "python",
            "-c",
            &format!("import {module}, numpy"),
        ]));
    }
    // Every package the racing creates extracted is whole: a full check finds nothing to fix.
    let check = run_ok(
        sv(tempfile::tempdir().unwrap().path())
            .env("RATTLER_CACHE_DIR", caches.path().join("rattler"))
            .env("SCIVISION_CACHE_DIR", caches.path().join("scivision"))
            .env("SCIVISION_VERIFY_CACHE", "full")
            .args([
                "env",
                "create",
                "scivision-demo-legacy",
                "-q",
                "--offline",
                "-c",
                &ch,
            ]),
    );
    assert!(!check.stderr.contains("corrupt"), "{}", check.stderr);
}
