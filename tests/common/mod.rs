//! Shared test context: the scivision binary with isolated, persistent caches, the channel built
//! from this repository's recipes once per test binary, and the peer tools (py-rattler, cph).

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

pub mod fault;

/// The repository root.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Where expensive fixtures live between runs (outside the clone): built packages by input hash,
/// sources by sha256, rattler's package cache.
pub fn cache_root() -> PathBuf {
    std::env::var_os("SCIVISION_TEST_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| dirs_home().join(".cache").join("scivision-test"))
}

fn dirs_home() -> PathBuf {
    std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir)
}

/// The python with py-rattler installed (the venv `scripts/test-setup` makes at
/// `SCIVISION_PEERS`, by default `~/.cache/scivision-peers`).
pub fn peer_python() -> PathBuf {
    std::env::var_os("SCIVISION_PEERS")
        .map(PathBuf::from)
        .unwrap_or_else(|| dirs_home().join(".cache/scivision-peers"))
        .join("bin/python")
}

/// A tool installed beside py-rattler (`cph` from PyPI's conda-package-handling).
pub fn peer_bin(name: &str) -> PathBuf {
    peer_python().with_file_name(name)
}

/// A `scivision` command with the test caches.
/// The local wheel folder the PyPI tests resolve from (filled by scripts/test-setup).
pub fn pypi_wheels() -> std::path::PathBuf {
    let dir = cache_root().join("wheels/pypi");
    assert!(
        dir.join("exifread-3.5.1-py3-none-any.whl").is_file(),
        "run scripts/test-setup first: {} lacks the PyPI test wheels",
        dir.display()
    );
    dir
}

pub fn scivision() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_scivision"));
    let cache = cache_root();
    // PyPI comes from the wheels scripts/test-setup downloaded, never from the network.
    cmd.env("SCIVISION_CACHE_DIR", cache.join("scivision"))
        .env("RATTLER_CACHE_DIR", cache.join("rattler"))
        .env("SCIVISION_FIND_LINKS", pypi_wheels())
        .env("SCIVISION_NO_INDEX", "1")
        // conda → PyPI names from the copy compiled in, never refreshed from the network.
        .env("SCIVISION_CONDA_PYPI_MAPPING", "embedded")
        .env_remove("RUST_LOG")
        .current_dir(repo());
    cmd
}

/// `scivision` with its own SCIVISION_HOME, no config file and no CUDA override from the caller.
pub fn sv(home: &Path) -> Command {
    let mut cmd = scivision();
    cmd.env("SCIVISION_HOME", home)
        .env_remove("CONDA_OVERRIDE_CUDA")
        .env_remove("SCIVISION_CATALOG")
        .env("SCIVISION_CONFIG", home.join("no-config.toml"));
    cmd
}

/// `sv` with its own repodata cache under `home`, for a test that reads a server's request log:
/// rattler keys that cache by URL, and a port an earlier test (or run) served from can come back,
/// which turns a first download into a conditional one.
pub fn sv_fresh_repodata(home: &Path) -> Command {
    let mut cmd = sv(home);
    cmd.env("RATTLER_CACHE_DIR", home.join("rattler"));
    cmd
}

/// `scivision` with its own home and caches under `dir` (nothing shared with other tests), inside
/// a network namespace without network (`unshare -n`) when `no_network`: any network touch fails.
pub fn sv_isolated(dir: &Path, no_network: bool) -> Command {
    let bin = env!("CARGO_BIN_EXE_scivision");
    let mut cmd = if no_network {
        let mut c = Command::new("unshare");
        c.arg("-n").arg(bin);
        c
    } else {
        Command::new(bin)
    };
    cmd.env("SCIVISION_HOME", dir.join("home"))
        .env("SCIVISION_CACHE_DIR", dir.join("cache"))
        .env("RATTLER_CACHE_DIR", dir.join("rattler"))
        .env("SCIVISION_CONFIG", dir.join("no-config.toml"))
        .env("SCIVISION_FIND_LINKS", pypi_wheels())
        .env("SCIVISION_NO_INDEX", "1")
        .env_remove("SCIVISION_WEIGHTS_MIRROR")
        .env_remove("SCIVISION_OFFLINE");
    cmd
}

/// Starts `cmd` with its output discarded and kills it (SIGKILL) after `delay_ms`. Returns
/// whether the kill interrupted it (it was still running): a kill loop asserts that some did,
/// or it would prove nothing.
#[must_use]
pub fn kill_after(cmd: &mut Command, delay_ms: u64) -> bool {
    let mut child = cmd
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("command starts");
    std::thread::sleep(std::time::Duration::from_millis(delay_ms));
    let running = matches!(child.try_wait(), Ok(None));
    let _ = child.kill();
    let _ = child.wait();
    running
}

/// Kill points for a kill -9 loop: `fixed` (spread over the operation) and `random` more drawn
/// below `max_ms`, from `SCIVISION_TEST_SEED` when set (to replay a run) else the clock. A
/// failing test should print the seed.
pub fn kill_points(fixed: &[u64], random: usize, max_ms: u64) -> (u64, Vec<u64>) {
    let seed: u64 = std::env::var("SCIVISION_TEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |d| d.as_nanos() as u64)
        });
    let mut state = seed | 1;
    let mut delays = fixed.to_vec();
    for _ in 0..random {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        delays.push(state % max_ms.max(1));
    }
    (seed, delays)
}

/// Output of a finished command, with both streams for assertion messages.
pub struct Output {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

pub fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().expect("command starts");
    Output {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

pub fn run_ok(cmd: &mut Command) -> Output {
    let out = run(cmd);
    assert_eq!(
        out.code, 0,
        "command failed\nstdout:\n{}\nstderr:\n{}",
        out.stdout, out.stderr
    );
    out
}

/// The channel built from `recipes/` (every recipe, tests included), once per test binary.
pub fn channel() -> &'static Path {
    static CHANNEL: OnceLock<PathBuf> = OnceLock::new();
    CHANNEL.get_or_init(|| {
        // A test binary cannot clean up at exit, so each removes the channels of test
        // processes that are gone (named by their pid) before building its own.
        let tmp = std::env::temp_dir();
        for entry in std::fs::read_dir(&tmp).into_iter().flatten().flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let pid = name
                .strip_prefix("scivision-channel-")
                .and_then(|rest| rest.split('-').next())
                .and_then(|pid| pid.parse::<u32>().ok());
            if pid.is_some_and(|pid| !Path::new(&format!("/proc/{pid}")).exists()) {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
        let dir = tempfile::Builder::new()
            .prefix(&format!("scivision-channel-{}-", std::process::id()))
            .tempdir()
            .expect("temp dir")
            .keep();
        let out = run(scivision()
            .args(["build", "--quiet", "--output-dir"])
            .arg(&dir));
        assert_eq!(
            out.code, 0,
            "building recipes/ failed\n{}\n{}",
            out.stdout, out.stderr
        );
        dir
    })
}

/// Copies the channel so a test may change it.
pub fn channel_copy() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    let status = Command::new("cp")
        .arg("-a")
        .arg(format!("{}/.", channel().display()))
        .arg(dir.path())
        .status()
        .expect("cp");
    assert!(status.success());
    dir
}

/// Runs a python snippet with py-rattler; returns stdout.
pub fn py_rattler(script: &str, args: &[&str]) -> Output {
    let mut cmd = Command::new(peer_python());
    cmd.arg("-c").arg(script).args(args);
    cmd.env("RATTLER_CACHE_DIR", cache_root().join("py-rattler"));
    run(&mut cmd)
}

/// sha256 of every file under `dir`, relative path → hex.
pub fn tree_digest(dir: &Path) -> std::collections::BTreeMap<String, String> {
    use sha2::Digest;
    walkdir::WalkDir::new(dir)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .map(|e| {
            let rel = e.path().strip_prefix(dir).unwrap().display().to_string();
            let bytes = std::fs::read(e.path()).unwrap();
            (rel, hex::encode(sha2::Sha256::digest(bytes)))
        })
        .collect()
}

/// A committed flit project `name` (`name/__init__.py` holding `body`) whose metadata requires
/// `deps` (a TOML list body); returns (repository, revision).
pub fn git_flit_project(
    dir: &Path,
    name: &str,
    version: &str,
    body: &str,
    deps: &str,
) -> (PathBuf, String) {
    let repo = dir.join(format!("{name}-repo"));
    std::fs::create_dir_all(repo.join(name)).unwrap();
    std::fs::write(
        repo.join("pyproject.toml"),
        format!(
            "[build-system]\nrequires = [\"flit_core >=3.2,<4\"]\nbuild-backend = \"flit_core.buildapi\"\n\n[project]\nname = \"{name}\"\nversion = \"{version}\"\ndescription = \"a model from git\"\ndependencies = [{deps}]\n"
        ),
    )
    .unwrap();
    std::fs::write(repo.join(name).join("__init__.py"), body).unwrap();
    let git = |args: &[&str]| {
        run_ok(
            Command::new("git")
                .args(["-c", "user.email=t@example.invalid", "-c", "user.name=t"])
                .args(args)
                .current_dir(&repo),
        )
    };
    git(&["init", "-q"]);
    git(&["add", "-A"]);
    git(&["commit", "-qm", "model"]);
    let rev = git(&["rev-parse", "HEAD"]).stdout.trim().to_string();
    (repo, rev)
}

/// A git config pointing the upstream GitHub URLs at the mirrors in `../shared/upstream`, where
/// this checkout has them; without them git reaches GitHub, as it would for a user.
pub fn upstream_git_config(dir: &Path) -> PathBuf {
    let config = dir.join("gitconfig");
    let mut text = String::from("[protocol \"file\"]\n\tallow = always\n");
    let upstream = repo().join("../shared/upstream");
    for owner in std::fs::read_dir(&upstream).into_iter().flatten().flatten() {
        for mirror in std::fs::read_dir(owner.path())
            .into_iter()
            .flatten()
            .flatten()
        {
            let name = mirror.file_name().to_string_lossy().to_string();
            let Some(repo_name) = name.strip_suffix(".git") else {
                continue;
            };
            let owner_name = owner.file_name().to_string_lossy().to_string();
            let path = mirror.path().canonicalize().unwrap();
            text.push_str(&format!(
                "[url \"file://{}\"]\n\tinsteadOf = https://github.com/{owner_name}/{repo_name}.git\n\tinsteadOf = https://github.com/{owner_name}/{repo_name}\n",
                path.display()
            ));
        }
    }
    std::fs::write(&config, text).unwrap();
    config
}

/// The conda-forge-shaped channel with a metadata-only `.conda` file per record
/// (`gen-channel.py --installable`), in a folder named `conda-forge`, once per test binary.
pub fn installable_forge() -> &'static Path {
    static FORGE: OnceLock<PathBuf> = OnceLock::new();
    FORGE.get_or_init(|| {
        let dir = tempfile::Builder::new()
            .prefix("scivision-installable-")
            .tempdir()
            .unwrap()
            .keep()
            .join("conda-forge");
        let out = run(Command::new(peer_python())
            .arg(repo().join("scripts/gen-channel.py"))
            .arg("--installable")
            .arg(&dir));
        assert_eq!(out.code, 0, "{}", out.stderr);
        dir
    })
}

/// The channel of `recipes/` plus the Scivision models built from `catalog/` (their sources
/// from the mirrors in ../shared/upstream, through git's own URL rewriting; run requirements
/// checked against [`installable_forge`]), once per test binary. Builds are cached by input
/// hash in the test cache, so unchanged models are not rebuilt.
pub fn models_channel() -> &'static Path {
    static MODELS: OnceLock<PathBuf> = OnceLock::new();
    MODELS.get_or_init(|| {
        let base = channel();
        let dir = base.with_file_name(format!(
            "{}-models",
            base.file_name().unwrap().to_string_lossy()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        let status = Command::new("cp")
            .arg("-a")
            .arg(base)
            .arg(&dir)
            .status()
            .expect("cp");
        assert!(status.success());
        let git = tempfile::tempdir().unwrap().keep();
        let out = run(scivision()
            .env("GIT_CONFIG_GLOBAL", upstream_git_config(&git))
            .args(["build", "--quiet", "catalog", "--output-dir"])
            .arg(&dir)
            .arg("-c")
            .arg(installable_forge()));
        assert_eq!(
            out.code, 0,
            "building catalog/ failed\n{}\n{}",
            out.stdout, out.stderr
        );
        dir
    })
}

/// The conda-forge-shaped channel (scripts/gen-channel.py: repodata only), in a folder named
/// `conda-forge` as a local mirror of it would be, once per test binary.
pub fn forge() -> &'static Path {
    static FORGE: OnceLock<PathBuf> = OnceLock::new();
    FORGE.get_or_init(|| {
        let dir = tempfile::Builder::new()
            .prefix("scivision-mirror-")
            .tempdir()
            .unwrap()
            .keep()
            .join("conda-forge");
        let out = run(Command::new(peer_python())
            .arg(repo().join("scripts/gen-channel.py"))
            .arg(&dir));
        assert_eq!(out.code, 0, "{}", out.stderr);
        dir
    })
}

/// An nginx (Debian's) serving a folder on 127.0.0.1, stopped on drop. nginx sends ETags, which
/// the gateway's revalidation needs (python's http.server does not).
pub struct Nginx {
    child: std::process::Child,
    /// `http://127.0.0.1:PORT/`
    pub url: String,
    _dir: tempfile::TempDir,
}

impl Nginx {
    pub fn serve(root: &Path) -> Self {
        Self::start(root, "")
    }

    /// As [`Nginx::serve`], telling clients to revalidate every file (`Cache-Control: no-cache`,
    /// as a channel's index files should be served) and logging each request (`requests`).
    pub fn serve_revalidating(root: &Path) -> Self {
        Self::start(root, "add_header Cache-Control no-cache;")
    }

    /// The requests served so far: `STATUS METHOD PATH` (conditional ones end in ` conditional`).
    pub fn requests(&self) -> Vec<String> {
        std::fs::read_to_string(self._dir.path().join("access.log"))
            .unwrap_or_default()
            .lines()
            .map(|l| l.trim().to_string())
            .collect()
    }

    /// As [`Nginx::serve`], with more `server` directives (authentication, locations).
    pub fn serve_with(root: &Path, extra: &str) -> Self {
        Self::start(root, extra)
    }

    /// As [`Nginx::serve`], over HTTPS (`https://localhost:PORT/`) with a certificate for
    /// localhost from a certificate authority made now by openssl; returns that authority's
    /// certificate (PEM), which no system store trusts.
    pub fn serve_tls(root: &Path) -> (Self, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let d = |name: &str| dir.path().join(name).display().to_string();
        std::fs::write(d("leaf.ext"), "subjectAltName=DNS:localhost\n").unwrap();
        let openssl = |args: &[&str]| {
            let out = Command::new("openssl")
                .args(args)
                .output()
                .expect("openssl (scripts/test-setup installs it)");
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        let days = ["-days", "2"];
        openssl(
            &[
                &["req", "-x509", "-newkey", "rsa:2048", "-nodes"][..],
                &days,
                &[
                    "-subj",
                    "/CN=scivision test CA",
                    "-keyout",
                    &d("ca.key"),
                    "-out",
                    &d("ca.pem"),
                ],
            ]
            .concat(),
        );
        openssl(&[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=localhost",
            "-keyout",
            &d("key.pem"),
            "-out",
            &d("leaf.csr"),
        ]);
        openssl(
            &[
                &[
                    "x509",
                    "-req",
                    "-in",
                    &d("leaf.csr"),
                    "-CA",
                    &d("ca.pem"),
                    "-CAkey",
                    &d("ca.key"),
                    "-CAcreateserial",
                    "-extfile",
                    &d("leaf.ext"),
                    "-out",
                    &d("cert.pem"),
                ][..],
                &days,
            ]
            .concat(),
        );
        let extra = format!(
            "ssl_certificate {}; ssl_certificate_key {};",
            d("cert.pem"),
            d("key.pem")
        );
        let mut server = Self::start_on(root, &extra, true);
        let ca = server._dir.path().join("ca.pem");
        std::fs::copy(d("ca.pem"), &ca).unwrap();
        server.url = server.url.replace("http://127.0.0.1", "https://localhost");
        (server, ca)
    }

    fn start(root: &Path, extra: &str) -> Self {
        Self::start_on(root, extra, false)
    }

    fn start_on(root: &Path, extra: &str, tls: bool) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let d = dir.path().display();
        let conf = format!(
            "master_process off; daemon off; pid {d}/nginx.pid; error_log {d}/error.log;\n\
             events {{ worker_connections 64; }}\n\
             http {{ log_format t '$status $request_method $uri${{cond}}';\n\
               map $http_if_none_match$http_if_modified_since $cond {{ '' ''; default ' conditional'; }}\n\
               access_log {d}/access.log t; client_body_temp_path {d}/body; proxy_temp_path {d}/proxy;\n\
               fastcgi_temp_path {d}/fastcgi; uwsgi_temp_path {d}/uwsgi; scgi_temp_path {d}/scgi;\n\
               types {{ application/json json; application/octet-stream conda zst msgpack; }}\n\
               server {{ listen 127.0.0.1:{port}{}; root {}; autoindex on; {extra} }} }}\n",
            if tls { " ssl" } else { "" },
            root.display()
        );
        std::fs::write(dir.path().join("nginx.conf"), conf).unwrap();
        let mut child = Command::new("nginx")
            .arg("-c")
            .arg(dir.path().join("nginx.conf"))
            .arg("-p")
            .arg(dir.path())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("nginx (scripts/test-setup installs nginx-light)");
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Self {
                    child,
                    url: format!("http://127.0.0.1:{port}/"),
                    _dir: dir,
                };
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!("nginx did not start on port {port}");
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
