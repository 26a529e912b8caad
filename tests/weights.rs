//! End-to-end: a model's weights fetched ahead, where its unchanged code finds them. The demo
//! model `scivision-demo-weights` loads a filter with `pooch.retrieve(url, known_hash)` and a
//! gain from its working directory (no hash), from `weights.scivision.invalid`, which nobody
//! serves: nginx on 127.0.0.1 serves `tests/data/weights` as its mirror. Runs that must need no
//! network happen in a network namespace without one (`unshare -n`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;

const MODEL: &str = "scivision-demo-weights";

fn served() -> PathBuf {
    repo().join("tests/data/weights")
}

/// A home under `dir` with the demo model's environment.
fn create(dir: &Path) {
    run_ok(
        sv_isolated(dir, false)
            .args(["env", "create", MODEL, "-q", "-c"])
            .arg(channel()),
    );
}

/// `weights list --json`: each file's state, in record order.
fn states(dir: &Path) -> Vec<String> {
    let out = run_ok(sv_isolated(dir, false).args(["weights", "list", MODEL, "--json"]));
    let json: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    json["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["state"].as_str().unwrap().to_string())
        .collect()
}

/// huggingface_hub itself, with no network and HF_HUB_OFFLINE=1, reads the demo repository from
/// the home's weights: `hf_hub_download` and `snapshot_download`, as `from_pretrained` does.
fn huggingface_hub_reads(dir: &Path) {
    let script = r#"
import json, os
from huggingface_hub import hf_hub_download, snapshot_download
config = json.load(open(hf_hub_download("scivision/demo-hub", "config.json")))
snapshot = snapshot_download("scivision/demo-hub")
print(json.dumps({"config": config, "files": sorted(os.listdir(snapshot))}))
"#;
    let out = run_ok(
        Command::new("unshare")
            .arg("-n")
            .arg(peer_python())
            .args(["-c", script])
            .env("HF_HOME", dir.join("home/weights/huggingface"))
            .env("HF_HUB_OFFLINE", "1")
            .env_remove("HF_HUB_CACHE")
            .env_remove("HF_ENDPOINT"),
    );
    let read: serde_json::Value = serde_json::from_str(out.stdout.trim()).unwrap();
    assert_eq!(read["config"]["model_type"], "scivision-demo", "{read}");
    // Other frameworks' weights (tf_model.h5) and the .bin beside safetensors are not fetched.
    assert_eq!(
        read["files"],
        serde_json::json!(["config.json", "model.safetensors"])
    );
}

fn fetch(dir: &Path, mirror: &str) -> Output {
    run(sv_isolated(dir, false).args(["weights", "fetch", MODEL, "--mirror", mirror, "--json"]))
}

/// A 2-D float64 input and the model's output for it, checked with numpy.
fn predict_checks(dir: &Path, extra: &[&str]) {
    let input = dir.join("input.npy");
    let output = dir.join("output.npy");
    let numpy = |code: &str| {
        run_ok(
            Command::new(peer_python())
                .arg("-c")
                .arg(code)
                .arg(&input)
                .arg(&output),
        )
    };
    numpy("import numpy as np, sys; np.save(sys.argv[1], np.arange(20.0).reshape(4, 5) ** 2)");
    run_ok(
        sv_isolated(dir, true)
            .args(["predict", MODEL])
            .arg(&input)
            .arg("-o")
            .arg(&output)
            .args(extra),
    );
    // 0.5 (gain.txt) times the Laplacian kernel of filter.npy, edges padded.
    numpy(
        "import numpy as np, sys\n\
         x = np.load(sys.argv[1]); p = np.pad(x, 1, mode='edge')\n\
         lap = 4 * x - p[:-2, 1:-1] - p[2:, 1:-1] - p[1:-1, :-2] - p[1:-1, 2:]\n\
         assert np.allclose(np.load(sys.argv[2]), 0.5 * lap), np.load(sys.argv[2])",
    );
}

#[test]
fn fetched_weights_are_where_the_models_code_looks_and_predict_needs_no_network() {
    let server = Nginx::serve_revalidating(&served());
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    create(d);
    assert_eq!(states(d), ["missing", "missing", "missing"]);
    // Without its weights the model cannot load offline: the error says so.
    let out = run(sv_isolated(d, true)
        .args(["predict", MODEL])
        .arg(repo().join("README.md")));
    assert_ne!(out.code, 0);
    assert!(out.stderr.contains("missing weights"), "{}", out.stderr);
    let out = fetch(d, &server.url);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(states(d), ["present", "present", "present", "present"]);
    huggingface_hub_reads(d);
    // pooch's own cache name for the URL, and the working-directory file.
    let weights = d.join("home/weights");
    let pooch = std::fs::read_dir(weights.join("xdg/pooch"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().to_string())
        .find(|n| n.ends_with("-filter.npy"))
        .expect("pooch's file name");
    assert_eq!(pooch.len(), 32 + 1 + "filter.npy".len());
    assert_eq!(
        std::fs::read(weights.join("work").join(MODEL).join("gain.txt")).unwrap(),
        b"0.5\n"
    );
    // The hash of the unpinned file is recorded at its first fetch.
    let recorded = std::fs::read_to_string(weights.join("recorded.json")).unwrap();
    assert!(
        recorded.contains("8d5c1b5a87c51f970807fc0c2057b3ab3aaf11638ab667dc5956edc8f5bcf138"),
        "{recorded}"
    );
    predict_checks(d, &[]);
    // A second fetch downloads nothing.
    let before = server.requests().len();
    assert_eq!(fetch(d, &server.url).code, 0);
    assert_eq!(server.requests().len(), before, "{:?}", server.requests());
}

#[test]
fn only_fetches_what_the_named_class_loads() {
    let server = Nginx::serve(&served());
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    create(d);
    let out = run(sv_isolated(d, false).args(["weights", "fetch", MODEL, "--only", "Nope"]));
    assert_eq!(out.code, 4, "{}", out.stderr);
    assert!(
        out.stderr.contains("Nope") && out.stderr.contains("LearnedFilter, huggingface_hub"),
        "{}",
        out.stderr
    );
    let out = run(sv_isolated(d, false).args([
        "weights",
        "fetch",
        MODEL,
        "--only",
        "huggingface_hub",
        "--mirror",
        &server.url,
    ]));
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(states(d), ["missing", "missing", "present", "present"]);
}

#[test]
fn a_corrupted_weight_file_is_found_and_fetched_again() {
    let server = Nginx::serve(&served());
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    create(d);
    // env create --weights fetches after the install, from the mirror the environment names.
    let out = run(sv_isolated(d, false)
        .env("SCIVISION_WEIGHTS_MIRROR", &server.url)
        .args(["env", "create", MODEL, "--weights", "--json", "-c"])
        .arg(channel()));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let json: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(json["weights"].as_array().unwrap().len(), 4, "{json}");
    assert_eq!(states(d), ["present", "present", "present", "present"]);
    let gain = d.join("home/weights/work").join(MODEL).join("gain.txt");
    std::fs::write(&gain, b"9.9\n").unwrap();
    // A Hub file is changed through its snapshot link, as a model writing to it would.
    let config = std::fs::read_dir(
        d.join("home/weights/huggingface/hub/models--scivision--demo-hub/snapshots"),
    )
    .unwrap()
    .flatten()
    .next()
    .unwrap()
    .path()
    .join("config.json");
    let published = std::fs::read(&config).unwrap();
    std::fs::write(&config, b"{}").unwrap();
    assert_eq!(states(d), ["present", "corrupt", "corrupt", "present"]);
    let out = run_ok(sv_isolated(d, false).args(["weights", "list", MODEL]));
    assert!(out.stdout.contains("CORRUPT"), "{}", out.stdout);
    assert_eq!(fetch(d, &server.url).code, 0);
    assert_eq!(states(d), ["present", "present", "present", "present"]);
    assert_eq!(std::fs::read(&gain).unwrap(), b"0.5\n");
    assert_eq!(std::fs::read(&config).unwrap(), published);
}

#[test]
fn a_wrong_hash_from_the_server_is_refused_and_nothing_is_kept() {
    let wrong = tempfile::tempdir().unwrap();
    let v1 = wrong.path().join("demo/v1");
    std::fs::create_dir_all(&v1).unwrap();
    std::fs::write(v1.join("filter.npy"), b"not the published filter").unwrap();
    std::fs::write(v1.join("gain.txt"), b"0.5\n").unwrap();
    let server = Nginx::serve(wrong.path());
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    create(d);
    let out = fetch(d, &server.url);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stderr.contains("filter.npy")
            && out.stderr.contains(
                "sha256:669d3fdb617d553e6ccda14a90deff82c44d993f4b3817742660252c4df92476"
            )
            && out.stderr.contains(&format!(
                "sha256:{}",
                hex_sha256(b"not the published filter")
            )),
        "{}",
        out.stderr
    );
    assert_eq!(states(d), ["missing", "missing", "missing"]);
    let pooch = d.join("home/weights/xdg/pooch");
    let left: Vec<_> = std::fs::read_dir(&pooch)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().to_string())
        .filter(|n| !n.ends_with(".lock"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

fn hex_sha256(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

#[test]
fn a_fetch_killed_at_any_point_leaves_no_file_the_model_could_load() {
    // 40 bytes a second: the 200-byte filter takes about five seconds.
    let server = Nginx::serve_with(&served(), "limit_rate 40;");
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    create(d);
    let (seed, delays) = kill_points(&[0, 300, 1500, 3000], 4, 5000);
    let mut interrupted = 0;
    for delay in delays {
        let mut cmd = sv_isolated(d, false);
        cmd.args(["weights", "fetch", MODEL, "--mirror", &server.url]);
        let killed_running = kill_after(&mut cmd, delay);
        let after = states(d);
        for state in &after {
            assert_ne!(state, "corrupt", "killed after {delay} ms (seed {seed})");
        }
        // Interrupted: killed while running, with the first file not yet in place.
        interrupted += usize::from(killed_running && after[0] == "missing");
    }
    assert!(interrupted > 0, "no kill interrupted a fetch (seed {seed})");
    // What the killed fetches left is resumed.
    let out = fetch(d, &server.url);
    assert_eq!(out.code, 0, "seed {seed}: {}", out.stderr);
    assert_eq!(
        states(d),
        ["present", "present", "present", "present"],
        "seed {seed}"
    );
}

#[test]
fn a_pack_with_weights_runs_offline_on_another_home_with_empty_caches() {
    let server = Nginx::serve(&served());
    let a = tempfile::tempdir().unwrap();
    create(a.path());
    // Without the files there is nothing to pack: one error, no archive.
    let pack = a.path().join("weights.scivision-pack");
    let out = run(sv_isolated(a.path(), false)
        .args(["env", "pack", MODEL, "--weights", "-o"])
        .arg(&pack));
    assert_eq!(out.code, 6, "{}", out.stderr);
    assert!(out.stderr.contains("weights fetch"), "{}", out.stderr);
    assert!(!pack.exists());
    assert_eq!(fetch(a.path(), &server.url).code, 0);
    run_ok(
        sv_isolated(a.path(), false)
            .args(["env", "pack", MODEL, "--weights", "-o"])
            .arg(&pack),
    );
    let b = tempfile::tempdir().unwrap();
    let out = run_ok(
        sv_isolated(b.path(), true)
            .args(["env", "unpack"])
            .arg(&pack),
    );
    // The pooch and working-directory files, the Hub repository's two blobs, its ref and
    // scivision's record of its snapshot (whose links the unpack makes again).
    assert!(out.stdout.contains("6 weight files"), "{}", out.stdout);
    assert_eq!(
        states(b.path()),
        ["present", "present", "present", "present"]
    );
    predict_checks(b.path(), &["--offline"]);
    huggingface_hub_reads(b.path());
    // The caches keep what a live environment's model loads; once it is gone, they do not.
    let clean = |dir: &Path| {
        let out = run_ok(sv_isolated(dir, false).args(["cache", "clean", "--json"]));
        serde_json::from_str::<serde_json::Value>(&out.stdout).unwrap()
    };
    assert_eq!(clean(b.path())["weights_kept"], 6);
    run_ok(sv_isolated(b.path(), false).args(["env", "remove", MODEL]));
    let cleaned = clean(b.path());
    assert_eq!(cleaned["weights_kept"], 0, "{cleaned}");
    assert!(
        cleaned["removed"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r.as_str().unwrap().ends_with("-filter.npy")),
        "{cleaned}"
    );
    // A Hub repository goes as a whole: no ref is left pointing at missing blobs.
    for gone in [
        "weights/huggingface/hub/models--scivision--demo-hub",
        "weights/scivision-hub/models--scivision--demo-hub",
    ] {
        assert!(
            cleaned["removed"]
                .as_array()
                .unwrap()
                .iter()
                .any(|r| r == gone),
            "{gone}: {cleaned}"
        );
    }
}

/// Each catalog card's weight records match its pinned source: the URL (or, for files a
/// dependency names, the file name) and the hash are in the code at the pinned commit.
#[test]
fn every_cards_weight_records_match_its_pinned_source_in_the_mirrors() {
    let upstream = repo().join("../shared/upstream");
    if !upstream.is_dir() {
        panic!(
            "no mirrors at {}: this test reads the pinned sources",
            upstream.display()
        );
    }
    let mut checked = 0;
    for dir in std::fs::read_dir(repo().join("catalog")).unwrap().flatten() {
        let Ok(text) = std::fs::read_to_string(dir.path().join("card.yaml")) else {
            continue;
        };
        let card: serde_json::Value = marked_yaml::from_yaml(0, &text).unwrap();
        let weights = card["weights"].as_array().cloned().unwrap_or_default();
        let (Some(git), Some(rev)) = (
            card["source"]["git"].as_str(),
            card["source"]["rev"].as_str(),
        ) else {
            continue;
        };
        let repo_path = git
            .trim_start_matches("https://github.com/")
            .trim_end_matches(".git");
        let mirror = upstream.join(format!("{repo_path}.git"));
        let grep = |needle: &str| {
            Command::new("git")
                .arg("--git-dir")
                .arg(&mirror)
                .args(["grep", "-q", "-F", needle, rev, "--", "*.py"])
                .status()
                .unwrap()
                .success()
        };
        for w in &weights {
            let url = w["url"].as_str().unwrap();
            // keras' files are named by the model's dependency (image-classifiers), not its code.
            if w["store"].as_str() == Some("keras") {
                continue;
            }
            let name = card["name"].as_str().unwrap();
            // A Hub repository: its id is the model_name the code passes to from_pretrained.
            if w["store"].as_str() == Some("hub") {
                let id = url.trim_start_matches("https://huggingface.co/");
                assert!(
                    grep(&format!("'{id}'")),
                    "{name}: {id} is not in its code at {rev}"
                );
                checked += 1;
                continue;
            }
            let file = url.rsplit('/').next().unwrap().split('?').next().unwrap();
            assert!(grep(file), "{name}: {file} is not in its code at {rev}");
            if let Some(hash) = w["hash"].as_str() {
                let hex = hash.split(':').nth(1).unwrap();
                assert!(grep(hex), "{name}: {hash} is not in its code at {rev}");
            }
            checked += 1;
        }
    }
    assert!(checked >= 55, "only {checked} records checked");
}
