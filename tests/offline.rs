//! End-to-end: working without network. The channel is served over HTTP by nginx on 127.0.0.1;
//! the offline runs happen in a network namespace with no network at all (`unshare -n`), so any
//! network touch fails the test.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;

#[test]
fn pypi_half_from_an_http_find_links_page_then_offline_from_uvs_cache() {
    // The wheels served over HTTP (nginx's autoindex page is a find-links listing), so that the
    // offline create can only use what uv cached.
    let wheels = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(pypi_wheels()).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), wheels.path().join(entry.file_name())).unwrap();
    }
    let server = Nginx::serve(wheels.path());
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let ch = channel().display().to_string();
    let create = |no_network: bool, extra: &[&str]| {
        let mut cmd = sv_isolated(d, no_network);
        cmd.env("SCIVISION_FIND_LINKS", &server.url)
            .args(["env", "create", "scivision-demo-edges", "-c", &ch, "-q"])
            .args(extra);
        run(&mut cmd)
    };
    let out = create(false, &[]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let lock = d.join("home/envs/scivision-demo-edges/scivision.lock");
    assert!(
        std::fs::read_to_string(&lock).unwrap().contains(&format!(
            "pypi: {}exifread-3.5.1-py3-none-any.whl",
            server.url
        )),
        "the wheel came over HTTP"
    );
    run_ok(sv_isolated(d, false).args(["env", "remove", "scivision-demo-edges"]));
    let out = create(true, &["--offline"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let out = run_ok(sv_isolated(d, true).args([
        "env",
        "run",
        "scivision-demo-edges",
        "--",
        "scivision-demo-edges",
    ]));
    assert!(out.stdout.contains("(exifread 3.5.1)"), "{}", out.stdout);
    // Without uv's cache, offline: one error that says so, and the env stays as it was.
    let before = tree_digest(&d.join("home/envs/scivision-demo-edges"));
    std::fs::remove_dir_all(d.join("cache/uv")).unwrap();
    let out = create(true, &["--offline", "--pypi", "exifread==3.5.1"]);
    assert_eq!(out.code, 6, "{}{}", out.stdout, out.stderr);
    assert!(out.stderr.contains("offline"), "{}", out.stderr);
    assert_eq!(
        tree_digest(&d.join("home/envs/scivision-demo-edges")),
        before
    );
}

#[test]
fn create_online_then_offline_in_a_namespace_without_network() {
    let server = Nginx::serve(channel());
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // Online, over HTTP: fills the repodata and package caches.
    run_ok(sv_isolated(d, false).args([
        "env",
        "create",
        "scivision-demo-edges",
        "-c",
        &server.url,
    ]));
    run_ok(sv_isolated(d, false).args(["env", "remove", "scivision-demo-edges"]));
    // No network at all: the same create works from the caches alone.
    let out = run_ok(sv_isolated(d, true).args([
        "env",
        "create",
        "scivision-demo-edges",
        "--offline",
        "-c",
        &server.url,
    ]));
    assert!(
        out.stdout.contains("created scivision-demo-edges"),
        "{}",
        out.stdout
    );
    let out = run_ok(sv_isolated(d, true).args([
        "env",
        "run",
        "scivision-demo-edges",
        "--",
        "scivision-demo-edges",
    ]));
    assert!(out.stdout.contains("shape=(32, 32)"), "{}", out.stdout);
    // A create whose prefix matches its lock is a no-op offline too.
    let out = run_ok(sv_isolated(d, true).args([
        "env",
        "create",
        "scivision-demo-edges",
        "--offline",
        "-c",
        &server.url,
    ]));
    assert!(out.stdout.contains("up to date"), "{}", out.stdout);
    // And so are the read-only commands.
    run_ok(sv_isolated(d, true).args(["env", "list"]));
    run_ok(sv_isolated(d, true).args(["catalog", "show", "stardist"]));
}

#[test]
fn offline_without_caches_explains_and_changes_nothing() {
    let server = Nginx::serve(channel());
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let out = run(sv_isolated(d, true).args([
        "env",
        "create",
        "scivision-demo-edges",
        "--offline",
        "-c",
        &server.url,
    ]));
    assert_eq!(out.code, 6, "{}", out.stdout);
    assert!(out.stderr.contains("cache"), "{}", out.stderr);
    assert!(!d.join("home/envs/scivision-demo-edges").exists());
    // Without --offline and without network: one clear error that points at --offline.
    let out = run(sv_isolated(d, true).args([
        "env",
        "create",
        "scivision-demo-edges",
        "-c",
        &server.url,
    ]));
    assert_eq!(out.code, 6);
    assert!(out.stderr.contains("--offline"), "{}", out.stderr);
    assert!(!d.join("home/envs/scivision-demo-edges").exists());
}

#[test]
fn offline_excludes_packages_that_are_not_cached() {
    let server = Nginx::serve(channel());
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // Repodata cached by an online create; then numpy 1's archive goes from the package cache.
    run_ok(sv_isolated(d, false).args([
        "env",
        "create",
        "scivision-demo-legacy",
        "-c",
        &server.url,
    ]));
    run_ok(sv_isolated(d, false).args(["env", "remove", "scivision-demo-legacy"]));
    for entry in std::fs::read_dir(d.join("rattler/pkgs"))
        .unwrap()
        .filter_map(Result::ok)
    {
        if entry
            .file_name()
            .to_string_lossy()
            .starts_with("numpy-1.26.4-")
        {
            let p = entry.path();
            if p.is_dir() {
                std::fs::remove_dir_all(&p).unwrap()
            } else {
                std::fs::remove_file(&p).unwrap()
            }
        }
    }
    let out = run(sv_isolated(d, true).args([
        "env",
        "create",
        "scivision-demo-legacy",
        "--offline",
        "-c",
        &server.url,
    ]));
    assert_eq!(out.code, 5, "{}", out.stdout);
    assert!(
        out.stderr.contains("not in the local package cache"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("offline"), "{}", out.stderr);
    assert!(!d.join("home/envs/scivision-demo-legacy").exists());
}

#[test]
fn frozen_installs_exactly_the_lock_and_locked_refuses_drift() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let ch = channel().display().to_string();
    let lock = d.join("edges.lock");
    run_ok(
        sv_isolated(d, false)
            .args(["env", "lock", "scivision-demo-edges", "-c", &ch, "-o"])
            .arg(&lock),
    );
    // From the lock alone (no channel given, no solve), without network.
    run_ok(
        sv_isolated(d, false)
            .args([
                "env",
                "create",
                "scivision-demo-edges",
                "--frozen",
                "--lock",
            ])
            .arg(&lock),
    );
    let installed =
        std::fs::read_to_string(d.join("home/envs/scivision-demo-edges/scivision.lock")).unwrap();
    let urls = |t: &str| {
        let mut v: Vec<String> = t
            .lines()
            .filter(|l| l.trim_start().starts_with("- conda:"))
            .map(str::to_string)
            .collect();
        v.sort();
        v
    };
    assert_eq!(
        urls(&installed),
        urls(&std::fs::read_to_string(&lock).unwrap())
    );
    run_ok(sv_isolated(d, true).args([
        "env",
        "create",
        "scivision-demo-edges",
        "--frozen",
        "--offline",
    ]));
    // --locked: the env's lock no longer matches once the request changes.
    let out = run(sv_isolated(d, false).args([
        "env",
        "create",
        "scivision-demo-edges",
        "--locked",
        "--with",
        "numpy <2",
        "-c",
        &ch,
    ]));
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("no longer matches"), "{}", out.stderr);
    run_ok(sv_isolated(d, false).args([
        "env",
        "create",
        "scivision-demo-edges",
        "--locked",
        "-c",
        &ch,
    ]));
    // A malformed lock is one clear error.
    std::fs::write(&lock, "not: [a lock").unwrap();
    let out = run(sv_isolated(d, false)
        .args([
            "env",
            "create",
            "scivision-demo-edges",
            "--frozen",
            "--lock",
        ])
        .arg(&lock));
    assert_eq!(out.code, 4);
    assert!(
        out.stderr.contains("is not a valid lock file"),
        "{}",
        out.stderr
    );
}

#[test]
fn pack_then_unpack_on_a_machine_without_network() {
    let source = channel_copy();
    let machine_a = tempfile::tempdir().unwrap();
    let machine_b = tempfile::tempdir().unwrap();
    let ch = source.path().display().to_string();
    run_ok(sv_isolated(machine_a.path(), false).args([
        "env",
        "create",
        "scivision-demo-edges",
        "-c",
        &ch,
    ]));
    let pack = machine_b.path().join("edges.scivision-pack");
    let out = run_ok(
        sv_isolated(machine_a.path(), false)
            .args(["env", "pack", "scivision-demo-edges", "-o"])
            .arg(&pack),
    );
    assert!(
        out.stdout
            .contains("packed scivision-demo-edges (6 packages and 1 PyPI wheels"),
        "{}",
        out.stdout
    );
    // The other machine has no channel, no caches and no network.
    drop(source);
    drop(machine_a);
    let out = run_ok(
        sv_isolated(machine_b.path(), true)
            .args(["env", "unpack"])
            .arg(&pack)
            .args(["--name", "edges-copy"]),
    );
    assert!(
        out.stdout.contains("unpacked edges-copy (6 packages)"),
        "{}",
        out.stdout
    );
    let sample = repo().join("models/scivision-demo-edges/scivision_demo_edges/data/sample.png");
    let out = run_ok(
        sv_isolated(machine_b.path(), true)
            .args(["predict", "edges-copy", "--json", "-o"])
            .arg(machine_b.path().join("e.npy"))
            .arg(&sample),
    );
    assert!(out.stdout.contains("\"shape\""), "{}", out.stdout);
    // The PyPI half came from the pack's wheel, not from wherever machine A found it.
    let lock =
        std::fs::read_to_string(machine_b.path().join("home/envs/edges-copy/scivision.lock"))
            .unwrap();
    let local = format!(
        "file://{}",
        machine_b
            .path()
            .join("cache/wheels/exifread-3.5.1-py3-none-any.whl")
            .display()
    );
    assert!(lock.contains(&local), "{lock}");
    // Not a pack: one clear error, nothing created.
    let bogus = machine_b.path().join("bogus.scivision-pack");
    std::fs::write(&bogus, b"hello").unwrap();
    let out = run(sv_isolated(machine_b.path(), true)
        .args(["env", "unpack"])
        .arg(&bogus));
    assert_eq!(out.code, 4);
    assert!(
        out.stderr.contains("is not a scivision pack"),
        "{}",
        out.stderr
    );
}

#[test]
fn cache_clean_keeps_what_live_environments_need() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let ch = channel().display().to_string();
    run_ok(sv_isolated(d, false).args(["env", "create", "scivision-demo-edges", "-c", &ch]));
    run_ok(sv_isolated(d, false).args(["env", "create", "scivision-demo-legacy", "-c", &ch]));
    run_ok(sv_isolated(d, false).args(["env", "remove", "scivision-demo-legacy"]));
    let out = run_ok(sv_isolated(d, false).args(["cache", "info", "--json"]));
    let info: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(info["packages_needed_by_envs"], 6);
    let out = run_ok(sv_isolated(d, false).args(["cache", "clean", "--older-than", "1", "--json"]));
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(
        v["removed"].as_array().unwrap().len(),
        0,
        "nothing is a day old yet"
    );
    let out = run_ok(sv_isolated(d, false).args(["cache", "clean", "--json"]));
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let removed: Vec<&str> = v["removed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap())
        .collect();
    assert!(
        removed.iter().any(|r| r.starts_with("numpy-1.26.4-")),
        "{removed:?}"
    );
    assert!(
        removed
            .iter()
            .any(|r| r.starts_with("scivision-demo-legacy-")),
        "{removed:?}"
    );
    assert!(
        !removed
            .iter()
            .any(|r| r.starts_with("scivision-demo-edges-") || r.starts_with("python-")),
        "{removed:?}"
    );
    // What edges needs is still cached: re-creating it works without network.
    run_ok(sv_isolated(d, false).args(["env", "remove", "scivision-demo-edges"]));
    run_ok(sv_isolated(d, true).args([
        "env",
        "create",
        "scivision-demo-edges",
        "--offline",
        "-c",
        &ch,
    ]));
    let out = run_ok(sv_isolated(d, false).args(["cache", "clean", "--all", "--json"]));
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(v["kept_for_envs"], 0);
    assert!(v["removed"].as_array().unwrap().len() >= 6);
}

#[test]
fn a_silent_server_fails_in_bounded_time_with_a_hint() {
    // Accepts connections and never answers.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    listener.set_nonblocking(true).unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stop_server = stop.clone();
    let server = std::thread::spawn(move || {
        let mut held = Vec::new();
        let started = std::time::Instant::now();
        while !stop_server.load(std::sync::atomic::Ordering::Relaxed)
            && started.elapsed().as_secs() < 300
        {
            if let Ok((conn, _)) = listener.accept() {
                held.push(conn);
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let url = format!("http://127.0.0.1:{port}/");
    let mut child = sv_isolated(dir.path(), false)
        .env("SCIVISION_HTTP_TIMEOUT", "2")
        .args(["env", "create", "scivision-demo-edges", "-c", &url])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    let finished = loop {
        if child.try_wait().unwrap().is_some() {
            break true;
        }
        if started.elapsed().as_secs() > 120 {
            let _ = child.kill();
            break false;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    let out = child.wait_with_output().unwrap();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    server.join().unwrap();
    assert!(finished, "scivision hung on a silent server");
    assert_eq!(out.status.code(), Some(6));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--offline"), "{stderr}");
    assert!(!dir.path().join("home/envs/scivision-demo-edges").exists());
}

/// Every entry of a prefix: file (sha256 and mode), symlink (its target) or folder.
fn entries(root: &std::path::Path) -> std::collections::BTreeMap<String, String> {
    use sha2::Digest;
    use std::os::unix::fs::PermissionsExt;
    walkdir::WalkDir::new(root)
        .into_iter()
        .map(Result::unwrap)
        .map(|e| {
            let rel = e.path().strip_prefix(root).unwrap().display().to_string();
            let meta = e.path().symlink_metadata().unwrap();
            let what = if meta.file_type().is_symlink() {
                format!("-> {}", std::fs::read_link(e.path()).unwrap().display())
            } else if meta.is_dir() {
                "dir".to_string()
            } else {
                let bytes = std::fs::read(e.path()).unwrap();
                format!(
                    "{} {:o}",
                    hex::encode(sha2::Sha256::digest(bytes)),
                    meta.permissions().mode() & 0o777
                )
            };
            (rel, what)
        })
        .collect()
}

/// A warm create (every package and wheel cached, the python never started) writes exactly
/// what a cold one writes: the same entries, bytes, modes and symlinks. Only the history's
/// dated header differs.
#[test]
fn a_warm_create_writes_every_file_as_a_cold_one_does() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let ch = channel().display().to_string();
    let prefix = d.join("home/envs/scivision-demo-edges");
    // Wheels only: neither create starts the environment's python (uv's interpreter query).
    let create = || {
        let out = run_ok(
            sv_isolated(d, false)
                .args(["env", "create", "scivision-demo-edges", "-c", &ch])
                .env(
                    "RUST_LOG",
                    "scivision::pypi=debug,scivision::env::pypi=debug",
                ),
        );
        assert!(out.stderr.contains("pypi: installed"), "{}", out.stderr);
        assert!(!out.stderr.contains("for a build"), "{}", out.stderr);
    };
    // Cold: this test's package cache and uv cache start empty.
    assert!(!d.join("rattler").exists() && !d.join("cache").exists());
    create();
    let cold = d.join("cold");
    std::fs::rename(&prefix, &cold).unwrap();
    create();
    let (cold, warm) = (entries(&cold), entries(&prefix));
    let dated = |rel: &str| rel == "conda-meta/history";
    let differ: Vec<&String> = cold
        .keys()
        .chain(warm.keys())
        .filter(|rel| !dated(rel) && cold.get(*rel) != warm.get(*rel))
        .collect();
    assert!(differ.is_empty(), "warm and cold differ in {differ:#?}");
    assert!(cold.len() > 1000, "{} entries", cold.len());
    assert!(
        cold.keys().any(|r| r.contains("exifread")),
        "the PyPI half is compared too"
    );
}
