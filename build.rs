//! Embeds the model cards (`catalog/*/card.yaml`) so that an installed binary knows how to
//! install every catalog model without a checkout, and conda-forge's conda → PyPI map in the
//! sorted-lines form it is looked up in (`src/mapping/lines.rs`).

use std::fmt::Write as _;
use std::path::Path;

#[allow(dead_code)]
#[path = "src/mapping/lines.rs"]
mod lines;

fn main() {
    println!("cargo:rerun-if-changed=catalog");
    // Read at run time: a build script compiled in one checkout may be run for another that
    // shares the target folder (a CI clone), and must read that checkout's cards.
    let manifest = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| ".".into());
    let root = Path::new(&manifest);
    let mut cards: Vec<_> = std::fs::read_dir(root.join("catalog"))
        .map(|dir| {
            dir.filter_map(Result::ok)
                .map(|e| e.path().join("card.yaml"))
                .filter(|p| p.is_file())
                .collect()
        })
        .unwrap_or_default();
    cards.sort();
    let mut code = String::from("/// `(path in the repository, text)` of every card.\npub const CARDS: &[(&str, &str)] = &[\n");
    for card in &cards {
        println!("cargo:rerun-if-changed={}", card.display());
        let rel = card.strip_prefix(root).unwrap_or(card);
        let _ = writeln!(
            code,
            "    ({:?}, include_str!({:?})),",
            rel.display().to_string(),
            card.display().to_string()
        );
    }
    code.push_str("];\n");
    linked_versions(root);
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR").unwrap_or_else(|_| ".".into()));
    if let Err(e) = std::fs::write(out.join("cards.rs"), code) {
        panic!("cannot write cards.rs: {e}");
    }
    conda_pypi_mapping(root, &out);
}

/// `data/conda-pypi-mapping/conda-forge.json` (parselmouth's file, kept as published) in the
/// sorted-lines form `src/mapping` bisects, so no run parses the 1 MB JSON.
fn conda_pypi_mapping(root: &Path, out: &Path) {
    let file = root.join("data/conda-pypi-mapping/conda-forge.json");
    println!("cargo:rerun-if-changed={}", file.display());
    let text = std::fs::read_to_string(&file)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", file.display()));
    let map: std::collections::BTreeMap<String, Option<Vec<String>>> = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{} is not a conda → PyPI map: {e}", file.display()));
    if let Err(e) = std::fs::write(out.join("conda-forge-names.txt"), lines::render(&map)) {
        panic!("cannot write conda-forge-names.txt: {e}");
    }
}

/// The versions of the rattler and uv crates this binary links, from Cargo.lock, for
/// `scivision --version` (`SCIVISION_LINKED`).
fn linked_versions(root: &Path) {
    println!("cargo:rerun-if-changed=Cargo.lock");
    let lock = std::fs::read_to_string(root.join("Cargo.lock")).unwrap_or_default();
    let mut versions = std::collections::BTreeMap::new();
    let mut name = None;
    for line in lock.lines() {
        if let Some(n) = line.strip_prefix("name = ") {
            name = Some(n.trim_matches('"').to_string());
        } else if let (Some(v), Some(n)) = (line.strip_prefix("version = "), name.take()) {
            versions.insert(n, v.trim_matches('"').to_string());
        }
    }
    let get = |n: &str| versions.get(n).map_or("?", String::as_str).to_string();
    let linked = format!(
        "rattler {} (rattler_solve {}, rattler_conda_types {}), rattler-build's engine {}, uv {} (uv-resolver {})",
        get("rattler"),
        get("rattler_solve"),
        get("rattler_conda_types"),
        get("rattler_build_core"),
        get("uv-version"),
        get("uv-resolver")
    );
    println!("cargo:rustc-env=SCIVISION_LINKED={linked}");
}
