//! What each fuzz target does with its input: feed it to one of scivision's parsers of user
//! input, the way the command line does, and check what the parser promises besides not
//! panicking. Shared by the cargo-fuzz targets (`fuzz/fuzz_targets/`) and the stable harness
//! that CI runs (`tests/fuzz.rs`), so both exercise the same code.

use std::path::Path;
use std::sync::OnceLock;

/// The targets, by name (for the stable harness; each cargo-fuzz binary names its own).
#[allow(dead_code)]
pub const TARGETS: [&str; 5] = ["recipe", "card", "match_spec", "lock", "pep508"];

/// A folder of this process's own for targets that must write their input to a file (the
/// cargo-fuzz binaries; the stable harness passes a temp dir).
#[allow(dead_code)]
pub fn scratch() -> &'static Path {
    static DIR: OnceLock<std::path::PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("scivision-fuzz-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        dir
    })
}

/// Runs target `name` on `data`; `scratch` is a folder the target may write its input into.
pub fn run(name: &str, data: &[u8], scratch: &Path) {
    match name {
        "recipe" => recipe(data, scratch),
        "card" => card(data),
        "match_spec" => match_spec(data),
        "lock" => lock(data, scratch),
        "pep508" => pep508(data),
        _ => panic!("no fuzz target {name}"),
    }
}

/// `recipe.yaml`, parsed and rendered for two platforms by rattler-build's renderer, the way
/// `scivision build` renders it.
pub fn recipe(data: &[u8], scratch: &Path) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let file = scratch.join("recipe.yaml");
    for platform in [
        rattler_conda_types::Subdir::Linux64,
        rattler_conda_types::Subdir::OsxArm64,
    ] {
        if let Ok((rendered, _)) = scivision::build::engine::render_variants(
            &file,
            text.to_string(),
            platform,
            platform,
            &[],
            false,
        ) {
            for r in rendered {
                // A rendered variant names a package: never an empty name.
                assert!(
                    !r.recipe.package().name().as_normalized().is_empty(),
                    "rendered without a name"
                );
            }
        }
    }
}

/// A model card, parsed and checked as `catalog lint` does, then turned into requirements.
pub fn card(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let file = Path::new("fuzz/card.yaml");
    if let Ok(card) = scivision::card::Card::parse(text, file) {
        let problems = card.problems(file);
        let _ = scivision::card::summary(&card);
        if problems.is_empty() {
            // A card without problems yields specs the solver accepts.
            for spec in card.conda_specs() {
                assert!(
                    scivision::solve::parse_specs(std::slice::from_ref(&spec)).is_ok(),
                    "a valid card produced the bad spec {spec:?}"
                );
            }
            let _ = card.pypi_requirements();
        }
    }
}

/// A match spec from the command line: `scivision solve SPEC` and `env create MODEL-SPEC`.
pub fn match_spec(data: &[u8]) {
    static CATALOG: OnceLock<scivision::catalog::Catalog> = OnceLock::new();
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(specs) = scivision::solve::parse_specs(&[text.to_string()]) {
        // What is shown back to the user parses again.
        for spec in specs {
            let shown = spec.to_string();
            let _ = scivision::solve::parse_specs(&[shown]);
        }
    }
    let catalog = CATALOG.get_or_init(scivision::catalog::Catalog::embedded);
    let _ = catalog.resolve(text);
}

/// A lock file, read for every platform as `env create --frozen --lock FILE` does.
pub fn lock(data: &[u8], scratch: &Path) {
    let file = scratch.join("scivision.lock");
    if std::fs::write(&file, data).is_err() {
        return;
    }
    for platform in [
        rattler_conda_types::Subdir::Linux64,
        rattler_conda_types::Subdir::OsxArm64,
        rattler_conda_types::Subdir::NoArch,
    ] {
        let _ = scivision::lock::read(&file, platform);
    }
}

/// A PEP 508 requirement from `--pypi` or a card.
pub fn pep508(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = scivision::pypi::PypiRequirement::parse(text, "fuzz");
}
