//! The fuzz targets of `fuzz/bodies.rs` on stable, as CI runs them: each target gets its seeds
//! (fuzz/seeds/<target>/, and the repository's recipes and cards in recipes/ and catalog/), then mutations of them from
//! a fixed-seed generator: `SCIVISION_FUZZ_RUNS` inputs per target (default 3000), or as many as
//! fit in `SCIVISION_FUZZ_SECS` seconds when that is set. A panic fails the test and leaves the
//! input in the target's temp folder, to replay with `cargo +nightly fuzz run TARGET FILE`.
//! libFuzzer's coverage-guided runs (fuzz/README.md) go much deeper; this keeps every target
//! honest on every commit.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../fuzz/bodies.rs"]
mod bodies;

use std::path::{Path, PathBuf};

/// Inputs that mean something to the parsers: YAML structure, recipe expressions, match-spec
/// and PEP 508 operators, paths, and numbers too large for any integer.
const TOKENS: &[&[u8]] = &[
    b"${{ ",
    b" }}",
    b"{{",
    b" if ",
    b" else ",
    b": ",
    b"- ",
    b"\n",
    b"\n  ",
    b"\n    - ",
    b"[",
    b"]",
    b"{",
    b"}",
    b"*",
    b">=",
    b"<",
    b"==",
    b"!=",
    b"~=",
    b",",
    b"|",
    b"@",
    b";",
    b"\"",
    b"'",
    b"&anchor ",
    b"*anchor",
    b"!!binary ",
    b"~",
    b"null",
    b"../",
    b"/",
    b"\0",
    b"\xff\xfe",
    b"99999999999999999999999",
    b"-1",
    b"1e999",
    b"git+https://h/r@",
    b"[build=",
    b"==1.0",
    b"::",
    b"version: ",
    b"url: ",
    b"sha256: ",
    b"python",
    b"__cuda",
    b"; python_version < \"3\"",
    b"extra == \"x\"",
    b"packages:\n",
    b"conda: ",
    b"pypi: ",
    b"environments:\n",
];

/// xorshift64*: a fixed seed, so a failure reproduces.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

/// One to four random edits of `input`, some splicing in another seed.
fn mutate(rng: &mut Rng, input: &[u8], seeds: &[Vec<u8>]) -> Vec<u8> {
    let mut out = input.to_vec();
    for _ in 0..=rng.below(4) {
        let at = rng.below(out.len() + 1);
        match rng.below(8) {
            0 if !out.is_empty() => {
                let i = rng.below(out.len());
                out[i] ^= 1 << rng.below(8);
            }
            1 if !out.is_empty() => {
                let i = rng.below(out.len());
                out[i] = rng.next() as u8;
            }
            2 | 3 => {
                let token = TOKENS[rng.below(TOKENS.len())];
                out.splice(at..at, token.iter().copied());
            }
            4 if !out.is_empty() => {
                let end = (at + 1 + rng.below(32)).min(out.len());
                out.drain(at.min(end)..end);
            }
            5 if !out.is_empty() => {
                let start = rng.below(out.len());
                let end = (start + 1 + rng.below(64)).min(out.len());
                let piece: Vec<u8> = out[start..end].to_vec();
                out.splice(at..at, piece);
            }
            6 => {
                let other = &seeds[rng.below(seeds.len())];
                if !other.is_empty() {
                    let start = rng.below(other.len());
                    let end = (start + 1 + rng.below(128)).min(other.len());
                    out.splice(at..at, other[start..end].iter().copied());
                }
            }
            _ => out.truncate(at),
        }
    }
    out
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The seed inputs of `target`.
fn seeds(target: &str) -> Vec<Vec<u8>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(repo().join("fuzz/seeds").join(target))
        .map(|d| d.filter_map(Result::ok).map(|e| e.path()).collect())
        .unwrap_or_default();
    let from_recipes = match target {
        "recipe" => Some("recipe.yaml"),
        "card" => Some("card.yaml"),
        _ => None,
    };
    if let Some(name) = from_recipes {
        for folder in ["recipes", "catalog"] {
            for dir in std::fs::read_dir(repo().join(folder)).unwrap().flatten() {
                let file = dir.path().join(name);
                if file.is_file() {
                    files.push(file);
                }
            }
        }
    }
    files.sort();
    let seeds: Vec<Vec<u8>> = files.iter().map(|f| std::fs::read(f).unwrap()).collect();
    assert!(!seeds.is_empty(), "no seeds for {target}");
    seeds
}

/// Runs `target` on one input; a panic becomes a test failure naming a file with the input.
fn exercise(target: &str, input: &[u8], scratch: &Path) {
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        bodies::run(target, input, scratch)
    }));
    if result.is_err() {
        let file = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!(
            "fuzz-{target}-{:016x}",
            input
                .iter()
                .fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(*b))
                    .wrapping_mul(0x100_0000_01b3))
        ));
        std::fs::write(&file, input).unwrap();
        panic!(
            "fuzz target {target} panicked on {} (input: {:?})",
            file.display(),
            String::from_utf8_lossy(&input[..input.len().min(400)])
        );
    }
}

/// Seeds, then mutations, for the configured count or time.
fn campaign(target: &str) {
    let scratch = tempfile::tempdir().unwrap();
    let seeds = seeds(target);
    for seed in &seeds {
        exercise(target, seed, scratch.path());
    }
    let runs: usize = std::env::var("SCIVISION_FUZZ_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3000);
    let deadline = std::env::var("SCIVISION_FUZZ_SECS")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .map(|s| std::time::Instant::now() + std::time::Duration::from_secs(s));
    let mut rng = Rng(0x5C1_71510 ^ target.len() as u64);
    let mut n = 0usize;
    loop {
        match deadline {
            Some(d) if std::time::Instant::now() >= d => break,
            None if n >= runs => break,
            _ => {}
        }
        let base = &seeds[rng.below(seeds.len())];
        let input = mutate(&mut rng, base, &seeds);
        exercise(target, &input, scratch.path());
        n += 1;
    }
    // The count is what a reader of the CI log wants to see.
    #[allow(clippy::print_stderr)]
    {
        eprintln!(
            "fuzz {target}: {} seeds, {n} mutated inputs, no panic",
            seeds.len()
        );
    }
}

#[test]
fn fuzz_recipe() {
    campaign("recipe");
}

#[test]
fn fuzz_card() {
    campaign("card");
}

#[test]
fn fuzz_match_spec() {
    campaign("match_spec");
}

#[test]
fn fuzz_lock() {
    campaign("lock");
}

#[test]
fn fuzz_pep508() {
    campaign("pep508");
}

#[test]
fn every_target_has_a_test_and_a_cargo_fuzz_binary() {
    for target in bodies::TARGETS {
        assert!(
            repo()
                .join(format!("fuzz/fuzz_targets/{target}.rs"))
                .is_file(),
            "fuzz/fuzz_targets/{target}.rs"
        );
        let me = std::fs::read_to_string(repo().join("tests/fuzz.rs")).unwrap();
        assert!(me.contains(&format!("campaign(\"{target}\")")), "{target}");
    }
}
