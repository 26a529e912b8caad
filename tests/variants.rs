//! End-to-end: one lock for CPU and GPU hosts. `scivision-demo-gpu` has a `cpu` build and a
//! `cuda` build (which needs `__cuda >=12`) of one version; a lock made on a host without a GPU
//! holds both variants, and each installing host gets the build it can run, from the lock and
//! from a pack. Hosts are played with `CONDA_OVERRIDE_CUDA` (empty: no driver).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;

use common::*;

const MODEL: &str = "scivision-demo-gpu";

/// `scivision` on the home under `dir`, on a host with this CUDA driver ("" for none).
fn on_host(dir: &Path, cuda: &str) -> std::process::Command {
    let mut cmd = sv_isolated(dir, false);
    cmd.env("CONDA_OVERRIDE_CUDA", cuda);
    cmd
}

/// The variant lock of the demo model, made on a host without a GPU, with the default variants.
fn variant_lock(dir: &Path) -> std::path::PathBuf {
    let lock = dir.join("gpu.lock");
    let out = run_ok(
        on_host(dir, "")
            .args(["env", "lock", MODEL, "-q", "-o"])
            .arg(&lock)
            .arg("-c")
            .arg(channel()),
    );
    assert!(
        out.stdout.contains("cpu (")
            && out.stdout.contains("cuda12 (")
            && out.stdout.contains("needs __cuda >=12"),
        "{}",
        out.stdout
    );
    lock
}

/// The build of the demo model installed in the home under `dir`.
fn installed_build(dir: &Path, env: &str) -> String {
    let meta = dir.join("home/envs").join(env).join("conda-meta");
    std::fs::read_dir(meta)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().to_string())
        .find(|n| n.starts_with("scivision-demo-gpu-"))
        .expect("the model's record")
}

fn frozen(dir: &Path, cuda: &str, lock: &Path, extra: &[&str]) -> serde_json::Value {
    let out = run_ok(
        on_host(dir, cuda)
            .args(["env", "create", MODEL, "--frozen", "--json", "-q", "--lock"])
            .arg(lock)
            .args(extra)
            .arg("-c")
            .arg(channel()),
    );
    serde_json::from_str(&out.stdout).unwrap()
}

#[test]
fn a_lock_made_without_a_gpu_installs_the_build_each_host_can_run() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let lock = variant_lock(d);
    // One environment per variant, read by py-rattler (rattler_lock's format, as pixi reads it).
    let out = py_rattler(
        "import sys, rattler; l = rattler.LockFile.from_path(sys.argv[1]); print(sorted(n for n, _ in l.environments()))",
        &[lock.to_str().unwrap()],
    );
    assert_eq!(out.stdout.trim(), "['cpu', 'cuda12']", "{}", out.stderr);

    let gpu = frozen(d, "12.4", &lock, &[]);
    assert_eq!(gpu["variant"]["name"], "cuda12", "{gpu}");
    assert!(installed_build(d, MODEL).contains("cuda_pyh_200"));

    let cpu = frozen(d, "", &lock, &[]);
    assert_eq!(cpu["variant"]["name"], "cpu", "{cpu}");
    assert!(installed_build(d, MODEL).contains("cpu_pyh_0"));

    // A driver too old for the CUDA build gets the CPU one, and is told why.
    let old = frozen(d, "11.8", &lock, &[]);
    assert_eq!(old["variant"]["name"], "cpu");
    assert_eq!(
        old["variant"]["reason"],
        "this host has __cuda=11.8; cuda12 needs __cuda >=12; cpu needs nothing of the host"
    );

    // --variant forces one, whatever the host has.
    let forced = frozen(d, "", &lock, &["--variant", "cuda12"]);
    assert_eq!(forced["variant"]["name"], "cuda12");
    assert!(installed_build(d, MODEL).contains("cuda_pyh_200"));
    let out = run(on_host(d, "")
        .args([
            "env",
            "create",
            MODEL,
            "--frozen",
            "--variant",
            "rocm6",
            "--lock",
        ])
        .arg(&lock));
    assert_eq!(out.code, 4, "{}", out.stderr);
    assert!(out.stderr.contains("cpu, cuda12"), "{}", out.stderr);

    // `check` says which variant this host would get.
    let out = run_ok(
        on_host(d, "11.8")
            .args(["check", MODEL, "--json", "-c"])
            .arg(channel()),
    );
    let check: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(check["variant"]["name"], "cpu", "{check}");
    assert_eq!(check["variants"][1]["needs"][0], "__cuda >=12", "{check}");
}

#[test]
fn a_host_that_meets_no_variant_gets_one_error_and_nothing_changes() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let lock = d.join("cuda-only.lock");
    run_ok(
        on_host(d, "")
            .args(["env", "lock", MODEL, "--variants", "cuda12", "-q", "-o"])
            .arg(&lock)
            .arg("-c")
            .arg(channel()),
    );
    let out = run(on_host(d, "")
        .args(["env", "create", MODEL, "--frozen", "--lock"])
        .arg(&lock));
    assert_eq!(out.code, 5, "{}", out.stderr);
    assert!(
        out.stderr
            .contains("no variant of the lock runs on this host")
            && out.stderr.contains("cuda12: needs __cuda >=12"),
        "{}",
        out.stderr
    );
    assert!(!d.join("home/envs").join(MODEL).exists());
    // A model without CUDA builds solves to the same packages for every variant: written once.
    let out = run_ok(
        on_host(d, "")
            .args([
                "env",
                "lock",
                "scivision-demo-edges",
                "--variants",
                "cpu,cuda12",
                "-q",
                "-o",
            ])
            .arg(d.join("edges.lock"))
            .arg("-c")
            .arg(channel()),
    );
    assert!(
        out.stdout.contains("cuda12 (same packages as cpu)"),
        "{}",
        out.stdout
    );
    // ... and still named: a host may ask for it.
    let out = run_ok(
        on_host(d, "")
            .args([
                "env",
                "create",
                "scivision-demo-edges",
                "--frozen",
                "--variant",
                "cuda12",
                "--json",
                "-q",
                "--lock",
            ])
            .arg(d.join("edges.lock")),
    );
    let json: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(json["variant"]["name"], "cuda12", "{json}");
}

#[test]
fn a_pack_made_without_a_gpu_unpacks_to_the_build_each_host_can_run() {
    let a = tempfile::tempdir().unwrap();
    let lock = variant_lock(a.path());
    frozen(a.path(), "", &lock, &[]);
    let pack = a.path().join("gpu.scivision-pack");
    // Without --variants a pack carries what is installed; with it, every variant, each
    // package once (the CPU host fetches the CUDA build it never installed).
    let out = run_ok(
        on_host(a.path(), "")
            .args(["env", "pack", MODEL, "--variants", "all", "-o"])
            .arg(&pack),
    );
    assert!(out.stdout.contains("(7 packages"), "{}", out.stdout);
    for (cuda, build) in [("12.4", "cuda_pyh_200"), ("", "cpu_pyh_0")] {
        let b = tempfile::tempdir().unwrap();
        // On the target, no network at all.
        let mut unpack = sv_isolated(b.path(), true);
        unpack
            .args(["env", "unpack"])
            .arg(&pack)
            .env("CONDA_OVERRIDE_CUDA", cuda);
        let out = run_ok(&mut unpack);
        assert!(out.stdout.contains("variant "), "{}", out.stdout);
        assert!(installed_build(b.path(), MODEL).contains(build), "{cuda}");
    }
    // A pack of the cpu variant alone gives a GPU host the cpu build: it installs only what
    // the pack carries.
    let cpu_only = a.path().join("cpu.scivision-pack");
    run_ok(
        on_host(a.path(), "")
            .args(["env", "pack", MODEL, "--variants", "cpu", "-o"])
            .arg(&cpu_only),
    );
    let b = tempfile::tempdir().unwrap();
    let mut unpack = sv_isolated(b.path(), true);
    unpack
        .args(["env", "unpack"])
        .arg(&cpu_only)
        .env("CONDA_OVERRIDE_CUDA", "12.4");
    let out = run_ok(&mut unpack);
    assert!(out.stdout.contains("variant cpu"), "{}", out.stdout);
    assert!(installed_build(b.path(), MODEL).contains("cpu_pyh_0"));
    // An environment not made from a variant lock has no variants to pack.
    let c = tempfile::tempdir().unwrap();
    run_ok(
        on_host(c.path(), "")
            .args(["env", "create", MODEL, "-q", "-c"])
            .arg(channel()),
    );
    let out = run(on_host(c.path(), "")
        .args(["env", "pack", MODEL, "--variants", "all", "-o"])
        .arg(c.path().join("p")));
    assert_eq!(out.code, 4);
    assert!(
        out.stderr.contains("not created from a variant lock"),
        "{}",
        out.stderr
    );
    assert!(!c.path().join("p").exists());
}
