//! The rattler-build recipe a card publishes its model as (`catalog/<model>/recipe.yaml`).
//!
//! The card is the one source of a model's pins: its conda list, python range and PyPI-only
//! packages (each published as a conda package of the same channel, under its normalized PyPI
//! name) become the recipe's run requirements, its git revision or URL the recipe's source, its
//! model.yml fields the recipe's `extra.scivision`. The recipe is written the way conda-forge
//! writes a `noarch: python` recipe, so `rattler-build build` builds it unchanged; a test keeps
//! every checked-in recipe equal to what its card generates.

use std::fmt::Write as _;

use crate::card::{Card, CardRecipe};
use crate::catalog::Model;

/// The file a generated recipe is written to, beside its card.
pub const RECIPE_FILE: &str = "recipe.yaml";

/// The recipe text for `card`, with the catalog entry's description and tasks. `None` when the
/// card has no `recipe:` section (the model is not published as a package).
pub fn generate(card: &Card, model: Option<&Model>) -> Result<Option<String>, String> {
    let Some(recipe) = &card.recipe else {
        return Ok(None);
    };
    let mut y = String::new();
    let w = &mut y;
    let _ = writeln!(
        w,
        "# Generated from card.yaml by `scivision catalog recipe --write`: edit the card, not this file."
    );
    let _ = writeln!(w, "context:\n  name: {}", scalar(&card.conda_name()));
    let _ = writeln!(w, "  version: {}\n", quoted(&card.version));
    let _ = writeln!(
        w,
        "package:\n  name: ${{{{ name }}}}\n  version: ${{{{ version }}}}\n"
    );
    let homepage = write_source(w, card)?;
    let _ = writeln!(
        w,
        "build:\n  number: 0\n  noarch: python\n  script: ${{{{ PYTHON }}}} -m pip install . -vv --no-deps --no-build-isolation --no-index\n"
    );
    write_requirements(w, card, recipe)?;
    write_tests(w, card, recipe);
    write_about(w, card, recipe, model, homepage.as_deref());
    write_extra(w, card, model)?;
    Ok(Some(y))
}

/// The `source:` section; the homepage a git source implies.
fn write_source(w: &mut String, card: &Card) -> Result<Option<String>, String> {
    let s = &card.source;
    match (&s.git, &s.rev, &s.url, &s.sha256) {
        (Some(git), Some(rev), _, _) => {
            let _ = writeln!(
                w,
                "source:\n  git: {}\n  rev: {}\n",
                scalar(git),
                scalar(rev)
            );
            Ok(Some(git.trim_end_matches(".git").to_string()))
        }
        (_, _, Some(url), Some(sha)) => {
            let _ = writeln!(
                w,
                "source:\n  url: {}\n  sha256: {}\n",
                scalar(url),
                scalar(sha)
            );
            Ok(None)
        }
        _ => Err("a published model needs a `git` + `rev` or `url` + `sha256` source".into()),
    }
}

/// The `requirements:` section: the card's host list, and its conda and PyPI pins as run
/// requirements.
fn write_requirements(w: &mut String, card: &Card, recipe: &CardRecipe) -> Result<(), String> {
    let _ = writeln!(w, "requirements:\n  host:\n    - python\n    - pip");
    for h in &recipe.host {
        let _ = writeln!(w, "    - {}", scalar(h));
    }
    let _ = writeln!(w, "  run:");
    // The install-time needs (compilers) are no run requirement of a built package.
    let compilers: Vec<String> = card
        .system
        .compilers
        .iter()
        .map(|c| format!("{c}-compiler"))
        .collect();
    for spec in card.conda_specs() {
        if !compilers.contains(&spec) {
            let _ = writeln!(w, "    - {}", scalar(&spec));
        }
    }
    for text in &card.pypi {
        let _ = writeln!(w, "    - {}", scalar(&crate::card::conda_spec_of(text)?));
    }
    Ok(())
}

/// The `tests:` section: the package's contents (the model's import by default) and imports.
fn write_tests(w: &mut String, card: &Card, recipe: &CardRecipe) {
    let contents = if recipe.contents.is_empty() {
        vec![card
            .model
            .as_ref()
            .map_or_else(|| card.package.clone(), |m| m.import.clone())]
    } else {
        recipe.contents.clone()
    };
    let _ = writeln!(w, "\ntests:\n  - package_contents:\n      site_packages:");
    for c in &contents {
        let _ = writeln!(w, "        - {}", scalar(c));
    }
    if !recipe.imports.is_empty() {
        let _ = writeln!(w, "  - python:\n      imports:");
        for i in &recipe.imports {
            let _ = writeln!(w, "        - {}", scalar(i));
        }
        let _ = writeln!(w, "      pip_check: false");
    }
}

/// The `about:` section: homepage, license and the catalog's description as summary.
fn write_about(
    w: &mut String,
    card: &Card,
    recipe: &CardRecipe,
    model: Option<&Model>,
    homepage: Option<&str>,
) {
    let _ = writeln!(w, "\nabout:");
    if let Some(home) = homepage {
        let _ = writeln!(w, "  homepage: {}\n  repository: {0}", scalar(home));
    } else if let Some(url) = model.map(|m| m.url.as_str()).filter(|u| !u.is_empty()) {
        let _ = writeln!(w, "  homepage: {}", scalar(url));
    }
    let _ = writeln!(w, "  license: {}", scalar(&recipe.license));
    if let Some(file) = &recipe.license_file {
        let _ = writeln!(w, "  license_file: {}", scalar(file));
    }
    let summary = model
        .map(|m| m.description.trim().to_string())
        .filter(|d| !d.is_empty())
        .unwrap_or_else(|| format!("{} (Scivision catalog model)", card.name));
    let _ = writeln!(w, "  summary: {}", quoted(&summary));
}

/// The `extra.scivision` section: the card's model.yml fields, tasks, CUDA need and weights.
fn write_extra(w: &mut String, card: &Card, model: Option<&Model>) -> Result<(), String> {
    let _ = writeln!(
        w,
        "\nextra:\n  scivision:\n    catalog: {}",
        quoted(&card.name)
    );
    if let Some(m) = &card.model {
        let _ = writeln!(
            w,
            "    import: {}\n    model: {}",
            scalar(&m.import),
            scalar(&m.model)
        );
        if !m.others.is_empty() {
            let _ = writeln!(w, "    others: [{}]", m.others.join(", "));
        }
        if let Some(p) = &m.prediction_fn {
            let _ = writeln!(w, "    prediction_fn:\n      call: {}", scalar(&p.call));
            if !p.args.is_empty() {
                let _ = writeln!(w, "      args:");
                for (k, v) in &p.args {
                    let _ = writeln!(w, "        {}: {}", scalar(k), scalar(v));
                }
            }
        }
    }
    if let Some(tasks) = model.map(|m| &m.tasks).filter(|t| !t.is_empty()) {
        let _ = writeln!(w, "    tasks: [{}]", tasks.join(", "));
    }
    let _ = writeln!(w, "    cuda: {}", scalar(&card.system.cuda));
    if !card.weights.is_empty() {
        // One JSON object a line: YAML reads it as a flow mapping, and it stays diffable.
        let _ = writeln!(w, "    weights:");
        for file in &card.weights {
            let _ = writeln!(
                w,
                "      - {}",
                serde_json::to_string(file).map_err(|e| e.to_string())?
            );
        }
    }
    Ok(())
}

/// A YAML plain scalar where that reads back as the same string, else a quoted one.
fn scalar(text: &str) -> String {
    let plain = text
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == '/')
        && !text.contains(": ")
        && !text.contains(" #")
        && !text.ends_with(':')
        && !text.contains(['{', '}', '[', ']', '"', '\'', '\n'])
        && text.parse::<f64>().is_err()
        && !matches!(
            text,
            "true" | "false" | "null" | "yes" | "no" | "on" | "off"
        );
    if plain {
        text.to_string()
    } else {
        quoted(text)
    }
}

/// A double-quoted YAML scalar (JSON's escaping is YAML's).
fn quoted(text: &str) -> String {
    serde_json::to_string(text).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pypi_requirements_become_conda_specs() {
        assert_eq!(
            crate::card::conda_spec_of("python-doctr ==0.6.0").unwrap(),
            "python-doctr ==0.6.0"
        );
        assert_eq!(
            crate::card::conda_spec_of("Keras_NLP").unwrap(),
            "keras-nlp"
        );
        assert_eq!(crate::card::conda_spec_of("a >=1,<2").unwrap(), "a >=1,<2");
        assert_eq!(
            crate::card::conda_spec_of("torch >=2").unwrap(),
            "pytorch >=2"
        );
        assert!(crate::card::conda_spec_of("a[x]").is_err());
        assert!(crate::card::conda_spec_of("a; python_version < '3.8'").is_err());
        assert!(crate::card::conda_spec_of("a @ https://x/a.whl").is_err());
    }

    #[test]
    fn scalars_read_back_as_written() {
        for s in [
            "python >=3.8,<3.10",
            "0.0.1",
            "yes",
            "a: b",
            "#x",
            "[x]",
            "x:",
            "1e5",
        ] {
            let yaml = format!("k: {}\n", scalar(s));
            let back: std::collections::BTreeMap<String, String> =
                marked_yaml::from_yaml(0, &yaml).unwrap();
            assert_eq!(back["k"], s, "{yaml}");
        }
    }

    /// Every card with a `recipe:` section has its generated recipe checked in, unchanged: the
    /// pins live in the card alone.
    #[test]
    fn checked_in_recipes_are_generated_from_their_cards() {
        let catalog = crate::catalog::Catalog::embedded();
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut published = 0;
        for (path, card) in Card::embedded() {
            let card = card.unwrap();
            let model = catalog.get(&card.name).ok();
            let file = root.join(&path).with_file_name(RECIPE_FILE);
            match generate(&card, model).unwrap() {
                Some(text) => {
                    published += 1;
                    let on_disk = std::fs::read_to_string(&file).unwrap_or_default();
                    assert!(
                        on_disk == text,
                        "{} is stale: run `scivision catalog recipe --write`",
                        file.display()
                    );
                }
                None => assert!(!file.exists(), "{} has no recipe: section", path.display()),
            }
        }
        assert!(published >= 10, "only {published} cards publish a package");
    }
}
