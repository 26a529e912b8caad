//! The catalog's cards end to end: every upstream model's card validates and solves against a
//! conda-forge-shaped channel (scripts/gen-channel.py), the conflict matrix between them, and bad
//! cards refused with file, field and fix.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;

fn json(out: &Output) -> serde_json::Value {
    serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", out.stdout))
}

#[test]
fn every_card_is_valid_and_solves_against_a_conda_forge_shaped_channel() {
    let out = run_ok(scivision().args(["catalog", "lint", "--json"]));
    let cards = json(&out);
    let cards = cards.as_array().unwrap();
    assert_eq!(cards.len(), 17, "one card per upstream model");
    assert!(cards
        .iter()
        .all(|c| c["problems"].as_array().unwrap().is_empty()));

    // No driver: every card solves, with CPU builds only.
    let out = run_ok(
        scivision()
            .args(["catalog", "lint", "--json", "--cuda", "none", "-c"])
            .arg(forge()),
    );
    let solved = json(&out);
    let by_name = |v: &serde_json::Value, name: &str| {
        v.as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == name)
            .unwrap_or_else(|| panic!("{name} missing"))["solve"]
            .clone()
    };
    for card in solved.as_array().unwrap() {
        let s = &card["solve"];
        assert_eq!(s["result"], "solves", "{card}");
        assert!(s["packages"].as_u64().unwrap() > 20, "{card}");
        for v in s["variants"].as_array().unwrap() {
            assert!(v.as_str().unwrap().contains("=cpu_"), "{card}");
        }
    }
    // The python range of each card is honoured: torch 1.10 needs CPython <= 3.9.
    let plankton = by_name(&solved, "resnet50-plankton");
    assert!(
        plankton["python"].as_str().unwrap().starts_with("3.9."),
        "{plankton}"
    );
    assert!(
        by_name(&solved, "greenotyper")["python"]
            .as_str()
            .unwrap()
            .starts_with("3.7."),
        "greenotyper's card asks for CPython 3.7"
    );

    // A CUDA 12.4 driver: cards with `cuda: optional` get CUDA builds, `cuda: none` keeps CPU.
    let out = run_ok(
        scivision()
            .args(["catalog", "lint", "--json", "--cuda", "12.4", "-c"])
            .arg(forge()),
    );
    let cuda = json(&out);
    let variants = |name: &str| by_name(&cuda, name)["variants"].to_string();
    assert!(
        variants("canopy-quality").contains("pytorch=2.5.1=cuda120"),
        "{}",
        variants("canopy-quality")
    );
    assert!(
        variants("vedge-detector").contains("tensorflow=")
            && variants("vedge-detector").contains("=cuda")
    );
    assert!(
        !variants("huggingface-classifiers").contains("cuda"),
        "cuda: none means CPU builds"
    );
    // vedge's card pins keras <3, which rules out tensorflow >=2.16 (keras 3).
    assert!(
        variants("vedge-detector").contains("tensorflow=2.15.0"),
        "{}",
        variants("vedge-detector")
    );
}

#[test]
fn a_cpu_only_card_gets_cpu_builds_on_a_cuda_host_unless_asked_otherwise() {
    let check = |model: &str, extra: &[&str]| {
        let out = run(scivision()
            .args(["check", model, "--json", "-c"])
            .arg(forge())
            .args(extra)
            .env("CONDA_OVERRIDE_CUDA", "12.4"));
        assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
        json(&out)["virtual_packages"].as_str().unwrap().to_string()
    };
    // canopy-quality's code uses a GPU when there is one: the driver counts.
    assert!(check("canopy-quality", &[]).contains("__cuda=12.4"));
    // huggingface-classifiers' card says `cuda: none`: solved as a host without a driver...
    assert!(!check("huggingface-classifiers", &[]).contains("__cuda"));
    // ... unless the user asks for CUDA explicitly.
    assert!(check("huggingface-classifiers", &["--cuda", "12.4"]).contains("__cuda=12.4"));
}

#[test]
fn conflicts_show_which_models_cannot_share_an_environment() {
    let out = run_ok(
        scivision()
            .args(["catalog", "conflicts", "--json", "--cuda", "none", "-c"])
            .arg(forge()),
    );
    let v = json(&out);
    assert_eq!(v["models"].as_array().unwrap().len(), 17);
    assert_eq!(v["pairs"], 136);
    assert!(v["unsolvable"].as_array().unwrap().is_empty());
    let conflicts = v["conflicts"].as_array().unwrap();
    let pair = |a: &str, b: &str| {
        conflicts
            .iter()
            .find(|c| (c["a"] == a && c["b"] == b) || (c["a"] == b && c["b"] == a))
            .cloned()
    };
    // Pinned torch 1.10 against torch >=1.13: the first conflicting requirements are named.
    let c = pair("huggingface-classifiers", "resnet50-plankton").expect("torch pins clash");
    let reqs = [
        c["a_requirement"].as_str().unwrap(),
        c["b_requirement"].as_str().unwrap(),
    ];
    assert!(
        reqs.contains(&"pytorch >=1.13.1") && reqs.contains(&"pytorch ==1.10.0"),
        "{c}"
    );
    assert!(
        c["explanation"].as_str().unwrap().contains("pytorch"),
        "{c}"
    );
    // pandas 2 (btrack) against mapreader's pandas <2.
    let c = pair("btrack", "mapreader-plant").expect("pandas pins clash");
    assert!(
        c.to_string().contains("pandas >=2.0.3") && c.to_string().contains("pandas <2"),
        "{c}"
    );
    // CPython ranges that do not meet.
    let c = pair("Affinity-VAE", "resnet50-plankton").expect("python ranges clash");
    assert!(
        c["a_requirement"].as_str().unwrap().starts_with("python"),
        "{c}"
    );
    // Two tensorflow image classifiers share an environment.
    assert!(pair(
        "flower-classification-model",
        "butterfly-classification-model"
    )
    .is_none());
    assert!(
        conflicts.len() > 10 && conflicts.len() < 136,
        "{}",
        conflicts.len()
    );

    // The text form: the matrix and one line per conflicting pair.
    let out = run_ok(
        scivision()
            .args(["catalog", "conflicts", "--cuda", "none", "-c"])
            .arg(forge()),
    );
    assert!(out.stdout.contains(" x "), "{}", out.stdout);
    assert!(
        out.stdout.contains(&format!(
            "{} of 136 pairs cannot share an environment",
            conflicts.len()
        )),
        "{}",
        out.stdout
    );
}

const GOOD: &str = "name: btrack\npackage: btrack\nversion: 0.7.0\nsource:\n  url: https://files.pythonhosted.org/packages/81/97/135e95fc59cd892dbdbeb890d85ac139bbfde41e618dbb7cbe7bb1c208d6/btrack-0.7.0-py3-none-any.whl\n  sha256: 1144abc5419ab382a6dc84e593c3d8930b92cf118eae450255298ebc378eaa23\npython: '>=3.9'\nconda: [numpy]\n";

#[test]
fn bad_cards_are_named_with_file_field_and_fix() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| {
        let d = dir.path().join(name);
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("card.yaml"), text).unwrap();
        d
    };
    let good = write("good", GOOD);
    run_ok(scivision().args(["catalog", "lint"]).arg(&good));
    let cases = [
        (
            "unknown-key",
            GOOD.replace("conda: [numpy]", "conda: [numpy]\ngpu: true"),
            "unknown field `gpu`",
        ),
        (
            "empty-python",
            GOOD.replace("'>=3.9'", "'>=3.12,<3.8'"),
            "selects no CPython release",
        ),
        (
            "git-without-rev",
            GOOD.replace(
                "  url: https://files.pythonhosted.org/packages/81/97/135e95fc59cd892dbdbeb890d85ac139bbfde41e618dbb7cbe7bb1c208d6/btrack-0.7.0-py3-none-any.whl\n  sha256: 1144abc5419ab382a6dc84e593c3d8930b92cf118eae450255298ebc378eaa23\n",
                "  git: https://github.com/quantumjot/btrack.git\n",
            ),
            "a git source needs a revision",
        ),
        (
            "url-without-sha256",
            GOOD.replace(
                "  sha256: 1144abc5419ab382a6dc84e593c3d8930b92cf118eae450255298ebc378eaa23\n",
                "",
            ),
            "a URL source needs its sha256",
        ),
    ];
    let expected_field = ["gpu", "python", "source.rev", "source.sha256"];
    for ((name, text, message), field) in cases.iter().zip(expected_field) {
        let path = write(name, text);
        let out = run(scivision().args(["catalog", "lint"]).arg(&path));
        assert_eq!(out.code, 1, "{name}: {}{}", out.stdout, out.stderr);
        let file = path.join("card.yaml");
        assert!(
            out.stdout.contains(&file.display().to_string()),
            "{name}: {}",
            out.stdout
        );
        assert!(out.stdout.contains(message), "{name}: {}", out.stdout);
        assert!(out.stdout.contains("fix: "), "{name}: {}", out.stdout);
        assert!(
            out.stderr.contains("1 of 1 cards have problems"),
            "{}",
            out.stderr
        );
        let out = run(scivision().args(["catalog", "lint", "--json"]).arg(&path));
        assert_eq!(out.code, 1);
        let v = json(&out);
        let problem = &v[0]["problems"][0];
        assert!(
            problem["field"].as_str().unwrap().ends_with(field),
            "{name}: {problem}"
        );
        assert!(!problem["fix"].as_str().unwrap().is_empty());
    }
    // A card for a model the catalog does not have.
    let path = write(
        "stranger",
        &GOOD.replace("name: btrack", "name: no-such-model"),
    );
    let out = run(scivision().args(["catalog", "lint"]).arg(&path));
    assert_eq!(out.code, 1);
    assert!(
        out.stdout
            .contains("`no-such-model` is no model of the catalog"),
        "{}",
        out.stdout
    );
    // Lint reads; it never writes.
    let before = tree_digest(dir.path());
    let _ = run(scivision().args(["catalog", "lint"]).arg(dir.path()));
    assert_eq!(before, tree_digest(dir.path()));
}

#[test]
fn a_card_makes_its_model_installable() {
    // `catalog show` shows the card; `env create --dry-run` reaches PyPI for the pinned source,
    // which tests cannot: the conda half is checked through `check`-free paths above, and the
    // install fields here.
    let out = run_ok(scivision().args(["catalog", "show", "resnet50-plankton", "--json"]));
    let v = json(&out);
    assert_eq!(
        v["card"]["source"]["rev"],
        "c1665e0d900561a154f6e7af2504f465099a19b0"
    );
    assert_eq!(
        v["pypi_dependencies"][0],
        "resnet50_cefas @ git+https://github.com/alan-turing-institute/plankton-cefas-scivision.git@c1665e0d900561a154f6e7af2504f465099a19b0"
    );
    assert_eq!(v["conda_dependencies"][0], "python >=3.8,<3.10");
    assert_eq!(v["entry"]["call"], "predict_batch");
    let out = run_ok(scivision().args(["catalog", "show", "stardist"]));
    assert!(
        out.stdout.contains("conda stardist >=0.9.1"),
        "{}",
        out.stdout
    );
}
