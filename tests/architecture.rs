//! The shape of the code, checked: the top-level modules of `src/` depend on each other one way
//! (no cycle of `crate::<module>` references outside test code), and no source file grows past
//! about 600 lines (the files that are over it today may only shrink; see `OVERSIZED`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Files over [`LIMIT`] lines today, with the most they may have: each split lowers its entry,
/// and an entry goes once its file is under the limit.
const OVERSIZED: [(&str, usize); 0] = [];

const LIMIT: usize = 600;

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Every source file under `src/`, with its path relative to the crate (`src/env/mod.rs`).
fn source_files() -> Vec<(String, PathBuf)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    sources(&root.join("src"), &mut files);
    files
        .into_iter()
        .map(|file| {
            let rel = file
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .to_string();
            (rel, file)
        })
        .collect()
}

/// The top-level module a file belongs to (`src/env/create.rs` → `env`).
fn module_of(src: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(src).unwrap();
    let first = rel
        .components()
        .next()
        .unwrap()
        .as_os_str()
        .to_string_lossy();
    first.trim_end_matches(".rs").to_string()
}

/// `text` without its unit tests (`#[cfg(test)] mod …` to the end, where they live).
fn without_tests(text: &str) -> &str {
    match text.find("#[cfg(test)]\nmod ") {
        Some(i) => &text[..i],
        None => text,
    }
}

/// The modules `text` refers to as `crate::<name>`.
fn references(text: &str, modules: &BTreeSet<String>) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for (i, _) in text.match_indices("crate::") {
        let rest = &text[i + "crate::".len()..];
        let name: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        if modules.contains(&name) {
            out.insert(name);
        } else if rest.starts_with('{') {
            // `use crate::{a, b::c}`
            let group = &rest[1..rest.find('}').unwrap_or(rest.len())];
            for part in group.split(',') {
                let name = part.trim().split("::").next().unwrap_or_default();
                if modules.contains(name) {
                    out.insert(name.to_string());
                }
            }
        }
    }
    out
}

/// A cycle through `start`, if any: the path back to it.
fn cycle_from(
    start: &str,
    graph: &BTreeMap<String, BTreeSet<String>>,
    path: &mut Vec<String>,
    seen: &mut BTreeSet<String>,
) -> Option<Vec<String>> {
    let here = path.last().unwrap().clone();
    for next in graph.get(&here).into_iter().flatten() {
        if next == start {
            let mut found = path.clone();
            found.push(start.to_string());
            return Some(found);
        }
        if seen.insert(next.clone()) {
            path.push(next.clone());
            if let Some(c) = cycle_from(start, graph, path, seen) {
                return Some(c);
            }
            path.pop();
        }
    }
    None
}

#[test]
fn modules_depend_on_each_other_one_way() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    let modules: BTreeSet<String> = files
        .iter()
        .map(|f| module_of(&src, f))
        .filter(|m| m != "lib" && m != "main")
        .collect();
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in &files {
        let module = module_of(&src, file);
        // The CLI is the top: it may use everything, and nothing uses it.
        if !modules.contains(&module) {
            continue;
        }
        let text = std::fs::read_to_string(file).unwrap();
        let deps = references(without_tests(&text), &modules);
        graph
            .entry(module.clone())
            .or_default()
            .extend(deps.into_iter().filter(|d| *d != module));
    }
    assert!(graph.len() > 20, "only {} modules found", graph.len());
    let users_of_cli: Vec<&String> = graph
        .iter()
        .filter(|(m, deps)| *m != "cli" && deps.contains("cli"))
        .map(|(m, _)| m)
        .collect();
    assert!(
        users_of_cli.is_empty(),
        "library modules use the CLI: {users_of_cli:?}"
    );
    let cycles: Vec<String> = modules
        .iter()
        .filter_map(|m| {
            cycle_from(m, &graph, &mut vec![m.clone()], &mut BTreeSet::new()).map(|c| c.join(" → "))
        })
        .collect();
    assert!(
        cycles.is_empty(),
        "import cycles (move what both sides need into a leaf module):\n{}",
        cycles.join("\n")
    );
}

#[test]
fn the_reference_finder_sees_uses_and_paths() {
    let modules: BTreeSet<String> = ["http", "prefix", "names"]
        .into_iter()
        .map(String::from)
        .collect();
    let text =
        "use crate::{http::client, names};\nlet g = crate::prefix::gateway();\n// crate::nope";
    assert_eq!(
        references(text, &modules),
        ["http", "names", "prefix"]
            .into_iter()
            .map(String::from)
            .collect()
    );
    let graph: BTreeMap<String, BTreeSet<String>> = [
        ("a".to_string(), ["b".to_string()].into()),
        ("b".to_string(), ["a".to_string()].into()),
    ]
    .into();
    assert_eq!(
        cycle_from("a", &graph, &mut vec!["a".into()], &mut BTreeSet::new()),
        Some(vec!["a".into(), "b".into(), "a".into()])
    );
}

#[test]
fn source_files_stay_under_about_600_lines() {
    let allowed: BTreeMap<&str, usize> = OVERSIZED.into_iter().collect();
    let mut over = Vec::new();
    for (rel, file) in source_files() {
        let lines = std::fs::read_to_string(&file).unwrap().lines().count();
        let most = allowed.get(rel.as_str()).copied().unwrap_or(LIMIT);
        if lines > most {
            over.push(format!("{rel}: {lines} lines (at most {most})"));
        }
    }
    assert!(
        over.is_empty(),
        "split these by concern (one noun per module):\n{}",
        over.join("\n")
    );
}

/// Reads of the process environment outside the settings layer, which uv's and rattler's own
/// APIs do not let us pass in: activation is relative to the caller's own environment, and uv
/// reads `SSL_CERT_FILE` itself.
const ENV_READS_ALLOWED: [(&str, &str); 2] = [
    ("src/env/activation.rs", "ActivationVariables::from_env()"),
    ("src/pypi/context.rs", "Certificates::from_env()"),
];

#[test]
fn only_the_settings_layer_reads_the_environment() {
    let mut reads = Vec::new();
    for (rel, file) in source_files() {
        // The edge: the binary and the settings it resolves (the CLI reads them through
        // `cli::settings()`; clap's own `env = ...` flags are declared, not read by hand).
        if rel == "src/main.rs" || rel == "src/config.rs" {
            continue;
        }
        let text = std::fs::read_to_string(&file).unwrap();
        for (n, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or_default();
            // `ConfigFile::path()`/`load()` find the file through `SCIVISION_CONFIG`: the
            // library reads `Settings::config_file` instead.
            let reads_env = [
                "env::var(",
                "env::var_os(",
                "env::vars(",
                "from_env()",
                "ConfigFile::path()",
                "ConfigFile::load()",
            ]
            .iter()
            .any(|p| code.contains(p));
            let allowed = ENV_READS_ALLOWED
                .iter()
                .any(|(f, call)| *f == rel && code.contains(call));
            if reads_env && !allowed {
                reads.push(format!("{rel}:{}: {}", n + 1, line.trim()));
            }
        }
    }
    assert!(
        reads.is_empty(),
        "read these in config::Settings (resolved once by the CLI) and pass them down:\n{}",
        reads.join("\n")
    );
}
