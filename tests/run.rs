//! End-to-end: running models from their own prefixes with `scivision predict`, `scivision serve`
//! and the Python client (installed in a separate Python whose numpy is its own).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;

fn create(home: &Path, model: &str) {
    run_ok(sv(home).args(["env", "create", model, "-c"]).arg(channel()));
}

fn sample() -> PathBuf {
    repo().join("models/scivision-demo-edges/scivision_demo_edges/data/sample.png")
}

/// The user's own python (py-rattler's venv, which has numpy and the client), with the
/// scivision binary on PATH.
fn user_python(home: &Path, script: &str) -> Command {
    let mut cmd = Command::new(peer_python());
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_scivision"))
        .parent()
        .unwrap()
        .to_path_buf();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    cmd.arg("-c")
        .arg(script)
        .env("PATH", path)
        .env("SCIVISION_HOME", home)
        .env("SCIVISION_CONFIG", home.join("no-config.toml"));
    cmd
}

#[test]
fn predict_matches_an_independent_sobel() {
    let home = tempfile::tempdir().unwrap();
    create(home.path(), "scivision-demo-edges");
    let out_file = home.path().join("edges.npy");
    let out = run_ok(
        sv(home.path())
            .args(["predict", "scivision-demo-edges"])
            .arg(sample())
            .arg("-o")
            .arg(&out_file)
            .arg("--json"),
    );
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(v["outputs"][0]["shape"], serde_json::json!([32, 32]));
    // Decoded and computed in another Python, with its own numpy and Pillow-free PNG reading.
    let check = format!(
        r#"
import struct, zlib, numpy as np
data = open({sample:?}, "rb").read()
pos, idat = 8, b""
while pos < len(data):
    n, kind = struct.unpack(">I4s", data[pos:pos + 8])
    if kind == b"IHDR": w, h = struct.unpack(">II", data[pos + 8:pos + 16])
    if kind == b"IDAT": idat += data[pos + 8:pos + 8 + n]
    pos += 12 + n
rows = np.frombuffer(zlib.decompress(idat), np.uint8).reshape(h, w + 1)
assert (rows[:, 0] == 0).all()
img = rows[:, 1:].astype(float)
p = np.pad(img, 1, mode="edge")
win = np.lib.stride_tricks.sliding_window_view(p, (3, 3))
kx = np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]])
expected = np.hypot((win * kx).sum(axis=(2, 3)), (win * kx.T).sum(axis=(2, 3)))
got = np.load({out:?}, allow_pickle=False)
assert got.shape == expected.shape and np.allclose(got, expected), abs(got - expected).max()
print("ok", got.dtype)
"#,
        sample = sample().display().to_string(),
        out = out_file.display().to_string()
    );
    let out = run_ok(&mut user_python(home.path(), &check));
    assert_eq!(out.stdout.trim(), "ok float64");
}

#[test]
fn a_model_error_comes_back_with_its_traceback() {
    let home = tempfile::tempdir().unwrap();
    create(home.path(), "scivision-demo-edges");
    let bad = home.path().join("four-d.npy");
    run_ok(&mut user_python(
        home.path(),
        &format!(
            "import numpy as np; np.save({:?}, np.zeros((2, 2, 2, 2)))",
            bad.display().to_string()
        ),
    ));
    let out = run(sv(home.path())
        .args(["predict", "scivision-demo-edges"])
        .arg(&bad));
    assert_eq!(out.code, 1, "{}", out.stdout);
    assert!(out.stderr.contains("ValueError"), "{}", out.stderr);
    assert!(out.stderr.contains("model traceback"), "{}", out.stderr);
    assert!(
        out.stderr.contains("scivision_demo_edges/__init__.py"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("prediction function"), "{}", out.stderr);
    let out = run(sv(home.path()).args(["predict", "scivision-demo-edges", "/no/such/file.png"]));
    assert_eq!(out.code, 4);
    assert!(out.stderr.contains("does not exist"), "{}", out.stderr);
}

#[test]
fn conflicting_models_in_one_python_session() {
    let home = tempfile::tempdir().unwrap();
    create(home.path(), "scivision-demo-legacy");
    create(home.path(), "scivision-demo-modern");
    let script = r#"
import numpy as np
from scivision_runner import load_model
legacy = load_model("scivision-demo-legacy")
modern = load_model("scivision-demo-modern")
print(legacy.info["numpy"], modern.info["numpy"])
print(legacy.predict(np.array([[0.0, 5.0], [10.0, 10.0]])).tolist())
print(modern.predict([[1, 2], [3, 4]]).tolist())
print(repr(legacy).startswith("<scivision model 'scivision-demo-legacy'"))
pids = [legacy._proc.pid, modern._proc.pid]
print(" ".join(map(str, pids)))
print(legacy.info["caches"]["TORCH_HOME"], legacy.info["caches"]["HF_HUB_OFFLINE"])
offline = load_model("scivision-demo-modern", offline=True)
print(offline.info["caches"]["HF_HUB_OFFLINE"], offline.info["caches"]["HF_HOME"] == modern.info["caches"]["HF_HOME"])
"#;
    let out = run_ok(&mut user_python(home.path(), script));
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines[0], "1.26.4 2.2.6", "{}", out.stdout);
    assert_eq!(lines[1], "[[0.0, 0.5], [1.0, 1.0]]");
    assert_eq!(lines[2], "[5.0, 25.0]");
    assert_eq!(lines[3], "True");
    // Weight caches are shared under SCIVISION_HOME; --offline switches the hubs off.
    assert_eq!(
        lines[5],
        format!("{} None", home.path().join("weights/torch").display())
    );
    assert_eq!(lines[6], "1 True");
    // The runners were cleaned up when the session ended.
    for pid in lines[4].split_whitespace() {
        assert!(
            !Path::new(&format!("/proc/{pid}")).exists(),
            "runner {pid} outlived the session"
        );
    }
}

#[test]
fn a_runner_killed_mid_request_is_an_error_not_a_hang() {
    let home = tempfile::tempdir().unwrap();
    create(home.path(), "scivision-demo-edges");
    let script = r#"
import os, signal, threading, numpy as np
from scivision_runner import load_model, ModelError
m = load_model("scivision-demo-edges")
x = np.random.rand(3000, 3000)  # ~70 MB each way and a second of Sobel: the kill lands mid-request
threading.Timer(0.2, lambda: os.kill(m._proc.pid, signal.SIGKILL)).start()
try:
    m.predict(x)
    print("no error")
except ModelError as e:
    print("ModelError:", str(e).splitlines()[0])
"#;
    let mut child = user_python(home.path(), script)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        assert!(
            started.elapsed().as_secs() < 120,
            "the client hung after its runner was killed"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("ModelError: the runner for 'scivision-demo-edges' died during the request"),
        "{text}"
    );
}

#[test]
fn serve_refuses_an_env_without_runner() {
    let home = tempfile::tempdir().unwrap();
    run_ok(
        sv(home.path())
            .args(["env", "create", "scivision-demo-edges", "--no-runner", "-c"])
            .arg(channel()),
    );
    let out = run(sv(home.path())
        .args(["predict", "scivision-demo-edges"])
        .arg(sample()));
    assert_eq!(out.code, 1);
    assert!(
        out.stderr.contains("`scivision-runner` is not installed"),
        "{}",
        out.stderr
    );
}

#[test]
fn kernel_spec_runs_the_model_and_goes_with_the_env() {
    let home = tempfile::tempdir().unwrap();
    // The Jupyter stack: 29 pinned wheels (scripts/test-setup) converted into a channel here.
    let wheels: Vec<PathBuf> = std::fs::read_dir(cache_root().join("wheels/kernel"))
        .expect("scripts/test-setup downloads the kernel wheels")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "whl"))
        .collect();
    assert_eq!(wheels.len(), 29, "{wheels:?}");
    let jupyter_channel = home.path().join("jupyter-channel");
    run_ok(
        sv(home.path())
            .args(["convert", "--index", "-o"])
            .arg(&jupyter_channel)
            .args(&wheels),
    );
    let jupyter = home.path().join("jupyter");
    let out = run_ok(
        sv(home.path())
            .env("JUPYTER_DATA_DIR", &jupyter)
            .args([
                "env",
                "create",
                "scivision-demo-edges",
                "--kernel",
                "--json",
                "-c",
            ])
            .arg(channel())
            .arg("-c")
            .arg(&jupyter_channel),
    );
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let spec_file = PathBuf::from(v["kernel_spec"].as_str().unwrap());
    assert_eq!(
        spec_file,
        jupyter.join("kernels/scivision-scivision-demo-edges/kernel.json")
    );
    let spec: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&spec_file).unwrap()).unwrap();
    assert_eq!(
        spec["display_name"],
        "Python (scivision: scivision-demo-edges)"
    );
    // Start the kernel by its spec, as a notebook server would, and run the model in it.
    let python = spec["argv"][0].as_str().unwrap();
    let client = r#"
from jupyter_client.manager import start_new_kernel
km, kc = start_new_kernel(kernel_name="scivision-scivision-demo-edges")
out = []
kc.execute_interactive("import sys, scivision_demo_edges as m; print(sys.prefix, m.SobelEdges().predict(m.load_png(m.SAMPLE)).shape)",
                       output_hook=lambda msg: out.append(msg["content"].get("text", "")), timeout=120)
kc.stop_channels(); km.shutdown_kernel(now=True)
print("".join(out).strip())
"#;
    let out = run_ok(
        Command::new(python)
            .arg("-c")
            .arg(client)
            .env("JUPYTER_DATA_DIR", &jupyter),
    );
    let prefix = home.path().join("envs/scivision-demo-edges");
    assert_eq!(out.stdout.trim(), format!("{} (32, 32)", prefix.display()));
    let out = run_ok(sv(home.path()).env("JUPYTER_DATA_DIR", &jupyter).args([
        "env",
        "remove",
        "scivision-demo-edges",
    ]));
    assert!(
        out.stdout.contains("removed its Jupyter kernel"),
        "{}",
        out.stdout
    );
    assert!(!spec_file.exists());
}

#[test]
fn serve_on_a_unix_socket() {
    let home = tempfile::tempdir().unwrap();
    create(home.path(), "scivision-demo-edges");
    let socket = home.path().join("edges.sock");
    let mut server = sv(home.path())
        .args(["serve", "scivision-demo-edges", "--socket"])
        .arg(&socket)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // The runner announces itself on stdout once the socket listens.
    let mut stdout = server.stdout.take().unwrap();
    let mut len = [0u8; 4];
    std::io::Read::read_exact(&mut stdout, &mut len).unwrap();
    let script = format!(
        r#"
import socket, numpy as np
from scivision_runner import protocol
s = socket.socket(socket.AF_UNIX); s.connect({path:?})
r, w = s.makefile("rb"), s.makefile("wb")
ready, _ = protocol.read_frame(r)
buffers = []
item, _ = protocol.encode_value(np.full((5, 5), 7.0), buffers, 0)
protocol.write_frame(w, {{"op": "predict", "inputs": [item]}}, buffers)
header, payload = protocol.read_frame(r)
print(ready["model"]["model"], protocol.decode_value(header["outputs"][0], payload).max())
"#,
        path = socket.display().to_string()
    );
    let out = run_ok(&mut user_python(home.path(), &script));
    let _ = server.kill();
    let _ = server.wait();
    assert_eq!(out.stdout.trim(), "SobelEdges 0.0");
}

/// The runner package's own tests (`python/scivision-runner/tests`, pytest), on the working
/// tree's code: the golden frames this side's unit tests share, and the protocol version.
#[test]
fn the_runner_package_passes_its_own_tests() {
    let out = run(Command::new(peer_python())
        .args(["-m", "pytest", "-q", "-p", "no:cacheprovider"])
        .arg(repo().join("python/scivision-runner/tests"))
        .env("PYTHONPATH", repo().join("python/scivision-runner"))
        .env("PYTHONDONTWRITEBYTECODE", "1"));
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert!(out.stdout.contains("7 passed"), "{}", out.stdout);
}
