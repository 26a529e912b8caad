//! Hostile input: what scivision promises when a channel, a package, a wheel, a cache or a
//! server is malicious or broken. Credentials first: a channel URL's password or token never
//! reaches stdout, stderr, logs, errors, locks or `--json`, and a lock without them installs
//! with credentials from the authentication storage.

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
