//! Hardening: what scivision promises when the input is hostile or the machine misbehaves.
//! Credentials first: a channel URL's password or token never reaches stdout, stderr, logs,
//! errors, locks or `--json`, and a lock without them installs with credentials from the
//! authentication storage.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;

use common::*;

const SECRET: &str = "s3cret-pw";
const TOKEN: &str = "tk-7f3a9c";

/// A rattler authentication file in `dir` giving user `ann` and [`SECRET`] for 127.0.0.1.
fn auth_file_in(dir: &Path) -> std::path::PathBuf {
    let file = dir.join("credentials.json");
    std::fs::write(
        &file,
        serde_json::json!({"127.0.0.1": {"BasicHTTP": {"username": "ann", "password": SECRET}}})
            .to_string(),
    )
    .unwrap();
    file
}

/// Every file under `dir` that contains `needle`.
fn files_containing(dir: &Path, needle: &str) -> Vec<String> {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .filter(|e| {
            std::fs::read(e.path())
                .map(|b| String::from_utf8_lossy(&b).contains(needle))
                .unwrap_or(false)
        })
        .map(|e| e.path().display().to_string())
        .collect()
}

#[test]
fn channel_credentials_never_leak_and_come_back_from_the_auth_store() {
    let auth = tempfile::tempdir().unwrap();
    std::fs::write(
        auth.path().join("htpasswd"),
        format!("ann:{{PLAIN}}{SECRET}\n"),
    )
    .unwrap();
    let channel = channel();
    // Basic auth everywhere, and a conda-style token path that needs no password.
    let server = Nginx::serve_with(
        channel,
        &format!(
            "auth_basic \"channel\"; auth_basic_user_file {}; \
             location /t/{TOKEN}/ {{ auth_basic off; alias {}/; }}",
            auth.path().join("htpasswd").display(),
            channel.display()
        ),
    );
    let port = server
        .url
        .trim_end_matches('/')
        .rsplit(':')
        .next()
        .unwrap()
        .to_string();
    let with_password = format!("http://ann:{SECRET}@127.0.0.1:{port}/");
    let with_token = format!("http://127.0.0.1:{port}/t/{TOKEN}/");

    for (i, url) in [&with_password, &with_token].into_iter().enumerate() {
        let home = tempfile::tempdir().unwrap();
        let rattler = tempfile::tempdir().unwrap();
        let out = run_ok(
            sv(home.path())
                .env("RATTLER_CACHE_DIR", rattler.path())
                .args([
                    "-vv",
                    "env",
                    "create",
                    "scivision-demo-edges",
                    "--json",
                    "-c",
                    url,
                ]),
        );
        for needle in [SECRET, TOKEN] {
            assert!(
                !out.stdout.contains(needle),
                "case {i}: stdout leaks {needle}:\n{}",
                out.stdout
            );
            assert!(!out.stderr.contains(needle), "case {i}: logs leak {needle}");
            assert_eq!(
                files_containing(home.path(), needle),
                Vec::<String>::new(),
                "case {i}"
            );
        }
        let lock =
            std::fs::read_to_string(home.path().join("envs/scivision-demo-edges/scivision.lock"))
                .unwrap();
        assert!(
            lock.contains(&format!(
                "http://127.0.0.1:{port}/noarch/scivision-demo-edges-"
            )),
            "{lock}"
        );
        assert!(
            out.stdout.contains("********") || !out.stdout.contains("ann"),
            "{}",
            out.stdout
        );
        // Listing and exporting print no secret either.
        for args in [
            vec!["env", "list", "--json"],
            vec![
                "env",
                "export",
                "scivision-demo-edges",
                "--format",
                "explicit",
            ],
        ] {
            let out = run_ok(sv(home.path()).args(&args));
            assert!(
                !out.stdout.contains(SECRET) && !out.stdout.contains(TOKEN),
                "{}",
                out.stdout
            );
        }
    }

    // The lock holds no password, so re-creating it with an empty package cache needs the
    // credentials from the authentication storage (RATTLER_AUTH_FILE), as pixi reads them.
    let home = tempfile::tempdir().unwrap();
    run_ok(sv(home.path()).args([
        "env",
        "create",
        "scivision-demo-edges",
        "-c",
        &with_password,
    ]));
    let lock = home.path().join("lock-copy.yaml");
    std::fs::copy(
        home.path().join("envs/scivision-demo-edges/scivision.lock"),
        &lock,
    )
    .unwrap();
    run_ok(sv(home.path()).args(["env", "remove", "scivision-demo-edges"]));
    let frozen = |auth_file: Option<&Path>| {
        let empty = tempfile::tempdir().unwrap();
        let mut cmd = sv(home.path());
        cmd.env("RATTLER_CACHE_DIR", empty.path())
            .args([
                "env",
                "create",
                "scivision-demo-edges",
                "--frozen",
                "--lock",
            ])
            .arg(&lock);
        match auth_file {
            Some(f) => cmd.env("RATTLER_AUTH_FILE", f),
            None => cmd.env("RATTLER_AUTH_FILE", home.path().join("no-auth.json")),
        };
        run(&mut cmd)
    };
    let out = frozen(None);
    assert_eq!(out.code, 6, "no credentials: the server refuses");
    assert!(out.stderr.contains("401"), "{}", out.stderr);
    assert!(!home.path().join("envs/scivision-demo-edges").exists());
    let auth_file = auth_file_in(auth.path());
    let out = frozen(Some(&auth_file));
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(!out.stderr.contains(SECRET));

    // An error that names the URL masks the password.
    let out = run(sv(home.path()).args([
        "env",
        "create",
        "scivision-demo-edges",
        "-c",
        &format!("http://ann:{SECRET}@127.0.0.1:9/nothing/"),
    ]));
    assert_eq!(out.code, 6);
    assert!(out.stderr.contains("127.0.0.1:9"), "{}", out.stderr);
    assert!(!out.stderr.contains(SECRET), "{}", out.stderr);
}

#[test]
fn a_tampered_package_cache_is_found_fetched_again_and_refused_offline() {
    let server = Nginx::serve(channel());
    let rattler = tempfile::tempdir().unwrap();
    let create = |home: &Path, extra: &[&str]| {
        run(sv(home)
            .env("RATTLER_CACHE_DIR", rattler.path())
            .args(["env", "create", "scivision-demo-edges", "-c", &server.url])
            .args(extra))
    };
    let first = tempfile::tempdir().unwrap();
    let out = create(first.path(), &[]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let entry = std::fs::read_dir(rattler.path().join("pkgs"))
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| {
            p.is_dir()
                && p.file_name()
                    .unwrap()
                    .to_string_lossy()
                    .starts_with("numpy-")
        })
        .unwrap();
    let file = entry.join("lib/python3.11/site-packages/numpy/version.py");
    let original = std::fs::read_to_string(&file).unwrap();
    let tamper =
        || std::fs::write(&file, format!("{original}\nraise SystemExit('tampered')\n")).unwrap();

    // Online: found by hash before linking, fetched again, the new env is sound.
    tamper();
    let second = tempfile::tempdir().unwrap();
    let out = create(second.path(), &[]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stderr.contains("was corrupt") && out.stderr.contains("numpy/version.py"),
        "{}",
        out.stderr
    );
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        original,
        "the cache holds the package again"
    );
    run_ok(sv(second.path()).args([
        "env",
        "run",
        "scivision-demo-edges",
        "--",
        "python",
        "-c",
        "import numpy",
    ]));

    // Offline: one error naming the file, nothing created.
    tamper();
    let third = tempfile::tempdir().unwrap();
    let out = create(third.path(), &["--offline"]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stderr.contains("numpy/version.py") && out.stderr.contains("offline"),
        "{}",
        out.stderr
    );
    assert!(!third.path().join("envs/scivision-demo-edges").exists());
}

/// Writes hostile `.tar.bz2` packages into `noarch/` of `channel` (python's tarfile: it writes
/// what rattler-build never would).
const HOSTILE: &str = r#"
import hashlib, io, json, os, sys, tarfile
channel, outside = sys.argv[1], sys.argv[2]
def package(name, files, paths, links=()):
    fn = os.path.join(channel, "noarch", f"{name}-1.0-0.tar.bz2")
    with tarfile.open(fn, "w:bz2") as t:
        def add(path, data):
            info = tarfile.TarInfo(path); info.size = len(data); t.addfile(info, io.BytesIO(data))
        index = {"name": name, "version": "1.0", "build": "0", "build_number": 0, "depends": [],
                 "subdir": "noarch", "noarch": "generic", "license": "MIT"}
        add("info/index.json", json.dumps(index).encode())
        entries = [dict(_path=p, path_type="hardlink", sha256=h or hashlib.sha256(d).hexdigest(),
                        size_in_bytes=rest[0] if rest else len(d))
                   for p, d, h, *rest in paths]
        entries += [dict(_path=p, path_type="softlink") for p, _ in links]
        add("info/paths.json", json.dumps({"paths": entries, "paths_version": 1}).encode())
        for path, data in files:
            add(path, data)
        for path, target in links:
            info = tarfile.TarInfo(path); info.type = tarfile.SYMTYPE; info.linkname = target; t.addfile(info)
data = b"owned\n"
package("evil-dotdot", [("share/ok.txt", data)], [("../../evil-dotdot.txt", data, None)])
package("evil-absolute", [("share/ok.txt", data)], [(os.path.join(outside, "evil-absolute.txt"), data, None)])
package("evil-through-link", [("share/ok.txt", data)], [("share/out/evil.txt", data, None)], links=[("share/out", outside)])
package("evil-link-out", [("share/ok.txt", data)], [("share/ok.txt", data, None)], links=[("bin/tool", "../../../../etc/passwd")])
package("evil-mismatch", [("share/ok.txt", data)], [("share/ok.txt", data, "0" * 64)])
package("evil-huge", [("share/ok.txt", data)], [("share/ok.txt", data, None, 1 << 40)])
# A hardlink to a file outside, listed in paths.json without a hash (as old packages are).
victim = os.path.join(outside, "victim.txt")
def hardlink_package(name, target):
    fn = os.path.join(channel, "noarch", f"{name}-1.0-0.tar.bz2")
    with tarfile.open(fn, "w:bz2") as t:
        index = {"name": name, "version": "1.0", "build": "0", "build_number": 0, "depends": [],
                 "subdir": "noarch", "noarch": "generic", "license": "MIT"}
        for path, body in [("info/index.json", json.dumps(index).encode()),
                           ("info/paths.json", json.dumps({"paths": [dict(_path="share/victim.txt", path_type="hardlink")], "paths_version": 1}).encode())]:
            info = tarfile.TarInfo(path); info.size = len(body); t.addfile(info, io.BytesIO(body))
        info = tarfile.TarInfo("share/victim.txt"); info.type = tarfile.LNKTYPE; info.linkname = target; t.addfile(info)
hardlink_package("evil-hardlink-out", victim)
hardlink_package("evil-hardlink-up", "../../../../../../../../" + victim.lstrip("/"))
"#;

#[test]
fn hostile_packages_are_refused_before_anything_lands() {
    let copy = channel_copy();
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("victim.txt"), b"mine\n").unwrap();
    let out = run(std::process::Command::new(peer_python())
        .args(["-c", HOSTILE])
        .arg(copy.path())
        .arg(outside.path()));
    assert_eq!(out.code, 0, "{}", out.stderr);
    run_ok(scivision().args(["channel", "index"]).arg(copy.path()));
    let ch = copy.path().to_str().unwrap();
    let home = tempfile::tempdir().unwrap();
    let rattler = tempfile::tempdir().unwrap();
    for (name, words) in [
        ("evil-dotdot", "leaves the prefix"),
        ("evil-absolute", "leaves the prefix"),
        ("evil-through-link", "through the package's symlink"),
        ("evil-link-out", "points outside the prefix"),
        ("evil-mismatch", "does not match paths.json"),
        ("evil-huge", "paths.json says 1099511627776"),
        ("evil-hardlink-out", "cannot be unpacked inside the package"),
        ("evil-hardlink-up", "cannot be unpacked inside the package"),
    ] {
        let out = run(sv(home.path())
            .env("RATTLER_CACHE_DIR", rattler.path())
            .args([
                "env",
                "create",
                "scivision-demo-edges",
                "-c",
                ch,
                "--with",
                name,
            ]));
        assert_eq!(out.code, 1, "{name}: {}{}", out.stdout, out.stderr);
        assert!(out.stderr.contains(name), "{name}: {}", out.stderr);
        assert!(out.stderr.contains(words), "{name}: {}", out.stderr);
        assert!(
            !home.path().join("envs/scivision-demo-edges").exists(),
            "{name}"
        );
        let staging: Vec<_> = std::fs::read_dir(home.path().join("envs"))
            .unwrap()
            .filter_map(Result::ok)
            .map(|e| e.file_name().to_string_lossy().to_string())
            .filter(|n| n.starts_with(".staging") || n.starts_with(".trash"))
            .collect();
        assert!(staging.is_empty(), "{name}: {staging:?}");
        // Only the victim the hardlink cases aim at, untouched and linked nowhere else.
        let victim = outside.path().join("victim.txt");
        let left: Vec<_> = std::fs::read_dir(outside.path())
            .unwrap()
            .filter_map(Result::ok)
            .map(|e| e.file_name())
            .collect();
        assert_eq!(left, ["victim.txt"], "{name} wrote outside");
        assert_eq!(std::fs::read(&victim).unwrap(), b"mine\n", "{name}");
        assert_eq!(
            std::os::unix::fs::MetadataExt::nlink(&std::fs::metadata(&victim).unwrap()),
            1,
            "{name} linked to a file outside"
        );
    }
    assert!(!home
        .path()
        .parent()
        .unwrap()
        .join("evil-dotdot.txt")
        .exists());
}

/// Writes wheels whose archive or RECORD tries to leave the prefix.
const HOSTILE_WHEELS: &str = r##"
import base64, hashlib, sys, zipfile
out = sys.argv[1]
def wheel(name, members):
    dist = f"{name}-1.0"
    fn = f"{out}/{name}-1.0-py3-none-any.whl"
    record = []
    with zipfile.ZipFile(fn, "w") as z:
        files = dict(members)
        files[f"{dist}.dist-info/METADATA"] = f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n".encode()
        files[f"{dist}.dist-info/WHEEL"] = b"Wheel-Version: 1.0\nGenerator: t\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        for path, data in files.items():
            z.writestr(path, data)
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
            record.append(f"{path},sha256={digest},{len(data)}")
        record.append(f"{dist}.dist-info/RECORD,,")
        z.writestr(f"{dist}.dist-info/RECORD", "\n".join(record) + "\n")
wheel("evilwheel_dotdot", [("../../../../evil_dotdot.py", b"owned = 1\n")])
wheel("evilwheel_data", [("evilwheel_data-1.0.data/scripts/../../../../../evil_script", b"#!python\nprint('owned')\n")])
"##;

#[test]
fn hostile_wheels_are_refused_before_anything_lands() {
    let wheels = tempfile::tempdir().unwrap();
    let out = run(std::process::Command::new(peer_python())
        .args(["-c", HOSTILE_WHEELS])
        .arg(wheels.path()));
    assert_eq!(out.code, 0, "{}", out.stderr);
    // The wheels' own folder beside the test wheels, so the demo model's exifread resolves too.
    for w in std::fs::read_dir(pypi_wheels())
        .unwrap()
        .filter_map(Result::ok)
    {
        std::fs::copy(w.path(), wheels.path().join(w.file_name())).unwrap();
    }
    let home = tempfile::tempdir().unwrap();
    for (name, entry) in [
        ("evilwheel_dotdot", "../../../../evil_dotdot.py"),
        (
            "evilwheel_data",
            "evilwheel_data-1.0.data/scripts/../../../../../evil_script",
        ),
    ] {
        let out = run(sv(home.path())
            .env("SCIVISION_FIND_LINKS", wheels.path())
            .args(["env", "create", "scivision-demo-edges", "-c"])
            .arg(channel())
            .args(["--pypi", name]));
        // Refused whole, as pip refuses it, naming the wheel and the entry (uv alone would skip
        // the entry and install the rest).
        assert_eq!(out.code, 1, "{name}: {}{}", out.stdout, out.stderr);
        assert!(
            out.stderr.contains("refusing the wheel")
                && out.stderr.contains(name)
                && out.stderr.contains(entry),
            "{name}: {}",
            out.stderr
        );
        assert!(!home.path().join("envs/scivision-demo-edges").exists());
        for dir in home.path().ancestors().take(8) {
            assert!(
                !dir.join("evil_dotdot.py").exists() && !dir.join("evil_script").exists(),
                "{name} wrote to {}",
                dir.display()
            );
        }
        let prefix = home.path().join("envs/scivision-demo-edges");
        for dir in prefix.ancestors().take(8) {
            assert!(
                !dir.join("evil_script").exists(),
                "{name} wrote to {}",
                dir.display()
            );
        }
    }
}

#[test]
fn a_tampered_uv_cache_is_found_and_unzipped_again() {
    let caches = tempfile::tempdir().unwrap();
    let create = |home: &Path| {
        let mut cmd = sv(home);
        cmd.env("SCIVISION_CACHE_DIR", caches.path())
            .args(["env", "create", "scivision-demo-edges", "-q", "-c"])
            .arg(channel());
        run(&mut cmd)
    };
    let module = |home: &Path| {
        walkdir::WalkDir::new(home.join("envs/scivision-demo-edges"))
            .into_iter()
            .filter_map(Result::ok)
            .find(|e| e.path().ends_with("site-packages/exifread/__init__.py"))
            .unwrap()
            .into_path()
    };
    let first = tempfile::tempdir().unwrap();
    assert_eq!(create(first.path()).code, 0);
    let original = std::fs::read(module(first.path())).unwrap();
    // The prefix hardlinks uv's unzipped wheel: an edit here reaches uv's cache.
    let mut tampered = original.clone();
    tampered.extend_from_slice(b"raise SystemExit('tampered')\n");
    std::fs::write(module(first.path()), &tampered).unwrap();
    for round in ["online", "offline"] {
        let next = tempfile::tempdir().unwrap();
        let mut cmd = sv(next.path());
        cmd.env("SCIVISION_CACHE_DIR", caches.path())
            .args(["env", "create", "scivision-demo-edges", "-q", "-c"])
            .arg(channel());
        if round == "offline" {
            cmd.arg("--offline");
        }
        let out = run(&mut cmd);
        assert_eq!(out.code, 0, "{round}: {}", out.stderr);
        assert!(
            out.stderr.contains("does not match") && out.stderr.contains("exifread/__init__.py"),
            "{round}: {}",
            out.stderr
        );
        assert_eq!(
            std::fs::read(module(next.path())).unwrap(),
            original,
            "{round}"
        );
        run_ok(sv(next.path()).args([
            "env",
            "run",
            "scivision-demo-edges",
            "--",
            "python",
            "-c",
            "import exifread",
        ]));
        // Tamper again through this prefix for the next round.
        std::fs::write(module(next.path()), &tampered).unwrap();
    }
}

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
    for delay_ms in delays {
        let at = format!("killed after {delay_ms} ms (SCIVISION_TEST_SEED={seed})");
        kill_after(
            scivision().args(["channel", "index"]).arg(victim.path()),
            delay_ms,
        );
        // Whatever index files exist after a kill are whole (written beside and renamed).
        for subdir in ["linux-64", "noarch"] {
            let path = victim.path().join(subdir).join("repodata.json");
            if let Ok(text) = std::fs::read_to_string(&path) {
                serde_json::from_str::<serde_json::Value>(&text)
                    .unwrap_or_else(|e| panic!("{at}: {} is torn: {e}", path.display()));
            }
        }
    }
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
    for delay_ms in delays {
        let at = format!("killed after {delay_ms} ms (SCIVISION_TEST_SEED={seed})");
        kill_after(
            machine(b.path())
                .args(["env", "unpack"])
                .arg(&pack)
                .args(["--name", "edges"]),
            delay_ms,
        );
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

/// `env create scivision-demo-edges` from `url` with empty caches of its own under `root`, a 2 s
/// read timeout and credentials for 127.0.0.1 in the authentication storage.
fn create_from(root: &Path, url: &str, auth_file: &Path) -> Output {
    let mut cmd = sv(&root.join("home"));
    cmd.env("RATTLER_CACHE_DIR", root.join("rattler"))
        .env("SCIVISION_CACHE_DIR", root.join("cache"))
        .env("SCIVISION_HTTP_TIMEOUT", "2")
        .env("RATTLER_AUTH_FILE", auth_file)
        .args([
            "env",
            "create",
            "scivision-demo-edges",
            "--no-runner",
            "-q",
            "-c",
            url,
        ]);
    run(&mut cmd)
}

/// The conda packages of the demo env under `root` (its `conda-meta` records).
fn installed(root: &Path) -> Vec<String> {
    let mut names: Vec<String> =
        std::fs::read_dir(root.join("home/envs/scivision-demo-edges/conda-meta"))
            .map(|d| {
                d.filter_map(Result::ok)
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|n| n.ends_with(".json"))
                    .collect()
            })
            .unwrap_or_default();
    names.sort();
    names
}

/// What a failed create may leave under `root`: no environment, no staging folder, no partly
/// extracted package.
fn assert_no_trace(root: &Path, case: &str) {
    let envs = root.join("home/envs");
    let left: Vec<_> = std::fs::read_dir(&envs)
        .map(|d| {
            d.filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n != ".locks")
                .collect()
        })
        .unwrap_or_default();
    assert!(left.is_empty(), "{case}: left in envs/: {left:?}");
    let partial: Vec<_> = std::fs::read_dir(root.join("rattler/pkgs"))
        .map(|d| {
            d.filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with('.') && n != ".cache.lock")
                .collect()
        })
        .unwrap_or_default();
    assert!(partial.is_empty(), "{case}: partial packages: {partial:?}");
}

/// What one case of the hostile server should lead to.
enum Expect {
    /// The create succeeds after retries: GETs for paths ending in `.0` number `.1`.
    Recovers(&'static str, usize),
    /// One error containing `.0`, help containing `.1`; the most GETs any one path ending in
    /// `.2` got is `.3`.
    Fails(&'static str, &'static str, &'static str, usize),
}

#[test]
fn a_hostile_channel_gets_retries_then_one_clear_error_and_leaves_no_trace() {
    use common::fault::{Fault, FaultServer};
    let server = FaultServer::start(channel(), "127.0.0.1");
    let other = FaultServer::start(channel(), "127.0.0.2");
    let auth = tempfile::tempdir().unwrap();
    let auth_file = auth_file_in(auth.path());
    let reference = tempfile::tempdir().unwrap();
    let out = create_from(reference.path(), &server.url, &auth_file);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let want = installed(reference.path());
    assert!(want.iter().any(|n| n.starts_with("python-3")), "{want:?}");

    const PY: &str = "python-3.11.2-h0_cpython.conda";
    const INDEX: &str = "noarch/repodata_shards.msgpack.zst";
    let not_python =
        std::fs::read(channel().join("linux-64/python_abi-3.11-4_cp311.conda")).unwrap();
    let elsewhere = other.url.clone();
    let here = server.url.clone();
    type Rule = Box<dyn Fn(&str, usize) -> Fault + Send + Sync>;
    // `fault` for the requests `when` picks (by path and earlier requests for it), else the file.
    fn on(when: impl Fn(&str, usize) -> bool + Send + Sync + 'static, fault: Fault) -> Rule {
        Box::new(move |p, n| {
            if when(p, n) {
                fault.clone()
            } else {
                Fault::Serve
            }
        })
    }
    let no_shards = |p: &str| p.ends_with("repodata_shards.msgpack.zst");
    let cases: Vec<(&str, Rule, Expect)> = vec![
        (
            "every file answers 500 twice",
            on(|_: &str, n: usize| n < 2, Fault::Status(500)),
            Expect::Recovers(INDEX, 3),
        ),
        (
            "the shard index answers 503 always",
            on(|p: &str, _: usize| p.ends_with(INDEX), Fault::Status(503)),
            Expect::Fails("503", "server failed", INDEX, 4),
        ),
        (
            "a shard answers 500 always",
            on(
                |p: &str, _: usize| p.contains("/shards/"),
                Fault::Status(500),
            ),
            Expect::Fails("500", "server failed", ".msgpack.zst", 4),
        ),
        (
            "a shard the index lists is missing",
            on(
                |p: &str, _: usize| p.contains("/shards/"),
                Fault::Status(404),
            ),
            Expect::Fails("404", "no such file", ".msgpack.zst", 1),
        ),
        (
            "the shard index is not zstd",
            on(
                |p: &str, _: usize| p.ends_with(INDEX),
                Fault::Body(b"<html>".to_vec()),
            ),
            Expect::Fails("zstd", "damaged", INDEX, 1),
        ),
        (
            "a shard's bytes differ from its hash in the index",
            on(
                |p: &str, _: usize| p.contains("/shards/"),
                Fault::Body(b"x".to_vec()),
            ),
            Expect::Fails("SHA-256", "damaged", ".msgpack.zst", 1),
        ),
        (
            "no shards, repodata.json.zst cut off",
            Box::new(move |p: &str, _| match p {
                p if no_shards(p) => Fault::Status(404),
                p if p.ends_with("repodata.json.zst") => Fault::Truncate(100),
                _ => Fault::Serve,
            }),
            Expect::Fails("repodata.json.zst", "damaged", "repodata.json.zst", 4),
        ),
        (
            "no shards, repodata.json.zst not zstd",
            Box::new(move |p: &str, _| match p {
                p if no_shards(p) => Fault::Status(404),
                p if p.ends_with("repodata.json.zst") => Fault::Body(b"{}".to_vec()),
                _ => Fault::Serve,
            }),
            Expect::Fails("repodata.json.zst", "damaged", "repodata.json.zst", 4),
        ),
        (
            "the shard index drips slower than the timeout",
            on(|p: &str, _: usize| p.ends_with(INDEX), Fault::Drip(3000)),
            Expect::Fails("timed out", "sent nothing for 2 s", INDEX, 1),
        ),
        (
            "the python package's bytes differ from its sha256",
            on(|p: &str, _: usize| p.ends_with(PY), Fault::Body(not_python)),
            Expect::Fails("hash mismatch", "damaged", PY, 1),
        ),
        (
            "the python package is cut off once",
            on(
                |p: &str, n: usize| p.ends_with(PY) && n == 0,
                Fault::Truncate(100_000),
            ),
            Expect::Recovers(PY, 2),
        ),
        (
            "the python package answers 503 always",
            on(|p: &str, _: usize| p.ends_with(PY), Fault::Status(503)),
            Expect::Fails("503", "server failed", PY, 4),
        ),
        (
            "the python package drips slower than the timeout",
            on(|p: &str, _: usize| p.ends_with(PY), Fault::Drip(3000)),
            Expect::Fails("timed out", "sent nothing for 2 s", PY, 3),
        ),
        (
            "packages redirect to another host",
            Box::new(move |p: &str, _| match p {
                p if p.ends_with(".conda") => Fault::Redirect(format!("{elsewhere}{}", &p[1..])),
                _ => Fault::Serve,
            }),
            Expect::Recovers(PY, 1),
        ),
        (
            "packages redirect to themselves",
            Box::new(move |p: &str, _| match p {
                p if p.ends_with(".conda") => Fault::Redirect(format!("{here}{}", &p[1..])),
                _ => Fault::Serve,
            }),
            Expect::Fails("too many redirects", "redirects loop", ".conda", 11),
        ),
        (
            "packages redirect to file:///etc/passwd",
            on(
                |p: &str, _: usize| p.ends_with(".conda"),
                Fault::Redirect("file:///etc/passwd".into()),
            ),
            Expect::Fails("not an http(s) URL", "redirects loop", ".conda", 1),
        ),
    ];
    for (case, rule, expect) in cases {
        let root = tempfile::tempdir().unwrap();
        server.rule(rule);
        other.rule(|_, _| Fault::Serve);
        let started = std::time::Instant::now();
        let out = create_from(root.path(), &server.url, &auth_file);
        let seen = server.seen();
        let most = |suffix: &str| {
            let mut counts = std::collections::BTreeMap::<&str, usize>::new();
            for s in seen
                .iter()
                .filter(|s| s.method == "GET" && s.path.ends_with(suffix))
            {
                *counts.entry(s.path.as_str()).or_default() += 1;
            }
            counts.values().copied().max().unwrap_or(0)
        };
        // Every request to the channel's host carried the credentials; none reached another.
        assert!(seen.iter().all(|s| s.authorization.is_some()), "{case}");
        assert!(
            other.seen().iter().all(|s| s.authorization.is_none()),
            "{case}"
        );
        assert!(!out.stderr.contains(SECRET), "{case}: {}", out.stderr);
        match expect {
            Expect::Recovers(suffix, requests) => {
                assert_eq!(out.code, 0, "{case}: {}", out.stderr);
                assert_eq!(most(suffix), requests, "{case}: {seen:?}");
                assert_eq!(installed(root.path()), want, "{case}");
                if case.contains("another host") {
                    let there = other
                        .seen()
                        .iter()
                        .filter(|s| s.path.ends_with(".conda"))
                        .count();
                    assert_eq!(
                        there,
                        want.len(),
                        "{case}: every package from the other host"
                    );
                }
            }
            Expect::Fails(error, help, suffix, requests) => {
                assert_eq!(out.code, 6, "{case}: {}", out.stderr);
                assert_eq!(out.stderr.matches('×').count(), 1, "{case}: {}", out.stderr);
                let (message, advice) = out.stderr.split_once("help:").unwrap_or_default();
                assert!(message.contains(error), "{case}: {}", out.stderr);
                assert!(advice.contains(help), "{case}: {}", out.stderr);
                assert_eq!(most(suffix), requests, "{case}: {seen:?}");
                // A hung download would show here; a generous bound on a 2 s timeout.
                assert!(started.elapsed().as_secs() < 60, "{case}");
                assert_no_trace(root.path(), case);
                // Nothing cached from the fault stands in the way of a healthy server.
                server.rule(|_, _| Fault::Serve);
                let again = create_from(root.path(), &server.url, &auth_file);
                assert_eq!(again.code, 0, "{case}, then healthy: {}", again.stderr);
                assert_eq!(installed(root.path()), want, "{case}");
            }
        }
    }
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
    for (i, delay) in delays.iter().enumerate() {
        let channel = dir.path().join(format!("channel-{i}"));
        kill_after(&mut build(&channel, true), *delay);
        // What a user does next: build again (the build cache may already hold a package).
        let again = run(&mut build(&channel, false));
        let at = format!("killed after {delay} ms (SCIVISION_TEST_SEED={seed})");
        assert_eq!(again.code, 0, "{at}: {}", again.stderr);
        assert_eq!(published(&channel), want, "{at}");
        assert_eq!(partial_files(&channel), Vec::<String>::new(), "{at}");
    }
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
