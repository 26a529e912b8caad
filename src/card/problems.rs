//! A card's validation: everything wrong with a parsed card, each problem naming its field and
//! the fix.

use super::*;

impl Card {
    /// Everything wrong with a parsed card, each naming its field and the fix. Empty when valid.
    pub fn problems(&self, file: &Path) -> Vec<CardProblem> {
        let mut out = Vec::new();
        let mut bad = |field: &str, message: String, fix: &str| {
            out.push(CardProblem {
                file: file.to_path_buf(),
                field: Some(field.to_string()),
                message,
                fix: fix.to_string(),
            });
        };
        self.identity_problems(&mut bad);
        self.source_problems(&mut bad);
        self.python_problems(&mut bad);
        self.requirement_problems(&mut bad);
        self.system_problems(&mut bad);
        if let Some(recipe) = &self.recipe {
            if recipe.license.trim().is_empty() {
                bad(
                    "recipe.license",
                    "is empty".into(),
                    "give the source's SPDX licence (LICENSE file, classifiers)",
                );
            }
            if self.source.conda.is_some() {
                bad(
                    "recipe",
                    "the model is already a conda package (`source.conda`)".into(),
                    "remove `recipe:`: a channel publishes it already",
                );
            }
            for (i, text) in self.pypi.iter().enumerate() {
                if let Err(e) = conda_spec_of(text) {
                    bad(
                        &format!("pypi[{i}]"),
                        format!("`{text}` has no conda package form: {e}"),
                        "a published model depends on conda packages only: give a name and a version range",
                    );
                }
            }
        }
        for (field, message) in crate::weights::problems(&self.weights) {
            bad(
                &format!("weights{field}"),
                message,
                "a weight record has `url` (as the code passes it), `download` (an https URL, where `url` is none), `hash` (`md5:<hex>` or `sha256:<hex>`, upstream's pin), `store` (pooch, cwd or keras) and `fname` (see catalog/README.md)",
            );
        }
        if let Some(model) = &self.model {
            if model.import.trim().is_empty() || model.model.trim().is_empty() {
                bad(
                    "model",
                    "needs `import` and `model`".into(),
                    "copy them from the repository's .scivision/model.yml",
                );
            }
        }
        out
    }

    /// `name`, `package` and `version`.
    fn identity_problems(&self, bad: &mut impl FnMut(&str, String, &str)) {
        if self.name.trim().is_empty() {
            bad(
                "name",
                "is empty".into(),
                "give the upstream catalog name (`scivision catalog list`)",
            );
        }
        if self.package.trim().is_empty() {
            bad(
                "package",
                "is empty".into(),
                "give the model's distribution name (setup.py/pyproject.toml `name`)",
            );
        }
        if self.version.trim().is_empty() {
            bad(
                "version",
                "is empty".into(),
                "give the version the source pins",
            );
        }
    }

    /// `python`: a range that selects a CPython release, in the form the solve reads it.
    fn python_problems(&self, bad: &mut impl FnMut(&str, String, &str)) {
        if !self.python.is_empty() && self.python.chars().all(|c| c.is_ascii_digit() || c == '.') {
            bad(
                "python",
                format!(
                    "`{}` means exactly {0} (no CPython release is numbered so)",
                    self.python
                ),
                &format!(
                    "write `{}.*` for that minor, or a range such as `>={0}`",
                    self.python
                ),
            );
        }
        // Checked in the form the solve reads it (`python RANGE`): a range VersionSpec accepts
        // alone may still break the match spec (`>=3.-`, found by fuzzing).
        let python =
            crate::solve::match_spec(&format!("python {}", self.python), ParseStrictness::Lenient)
                .map_err(|e| e.to_string())
                .and_then(|s| match s.build {
                    // `>=3.9 *_cpython` would narrow the build, not the version.
                    Some(b) => Err(format!(
                        "`{b}` is a build string, not part of a version range"
                    )),
                    None => Ok(s.version.unwrap_or(VersionSpec::Any)),
                });
        match python {
            Err(e) => bad(
                "python",
                format!("`{}` is not a version range: {e}", self.python),
                "write a conda version spec such as `>=3.9,<3.13`",
            ),
            Ok(spec) if !python_range_selects_any(&spec) => bad(
                "python",
                format!("`{}` selects no CPython release", self.python),
                "the range is empty: check the bounds (for example `>=3.9,<3.13`)",
            ),
            Ok(_) => {}
        }
    }

    /// `conda`, `pypi` and the PyPI name lists.
    fn requirement_problems(&self, bad: &mut impl FnMut(&str, String, &str)) {
        let pip_names = crate::build::wheel::default_name_map();
        for (i, text) in self.conda.iter().enumerate() {
            match crate::solve::match_spec(text, ParseStrictness::Strict) {
                Err(e) => bad(&format!("conda[{i}]"), format!("`{text}` is not a match spec: {e}"), "conda specs look like `numpy >=1.26,<2` (conda-forge names: pytorch, opencv, pyqt)"),
                Ok(spec) => {
                    let name = match &spec.name {
                        PackageNameMatcher::Exact(n) => n.as_normalized().to_string(),
                        _ => String::new(),
                    };
                    if name == "python" {
                        bad(&format!("conda[{i}]"), "python belongs in the `python` field".into(), "move the range to `python:`");
                    } else if let Some(conda) = pip_names.get(&name).filter(|c| **c != name) {
                        bad(&format!("conda[{i}]"), format!("`{name}` is the PyPI name"), &format!("conda-forge calls it `{conda}`"));
                    }
                }
            }
        }
        for (i, text) in self.pypi.iter().enumerate() {
            match crate::pypi::PypiRequirement::parse(text, "card") {
                Err(e) => bad(&format!("pypi[{i}]"), format!("`{text}` is not a PEP 508 requirement: {e}"), "PyPI requirements look like `exifread >=3,<4` or `pkg @ git+https://host/repo@COMMIT`"),
                Ok(_) if git_without_commit(text) => bad(
                    &format!("pypi[{i}]"),
                    format!("`{text}` installs a git branch or tag, which can move under the lock"),
                    "pin the full commit: `pkg @ git+https://host/repo@<40 hex digits>`",
                ),
                Ok(_) => {}
            }
        }
        let named = [
            ("pypi_overrides", &self.pypi_overrides),
            ("pypi_no_build_isolation", &self.pypi_no_build_isolation),
        ];
        for (field, list) in named {
            for (i, name) in list.iter().enumerate() {
                if uv_normalize::PackageName::from_str(name).is_err() {
                    bad(
                        &format!("{field}[{i}]"),
                        format!("`{name}` is not a PyPI name"),
                        "list distribution names only, e.g. `detectron2`",
                    );
                }
            }
        }
    }

    /// `system`: CUDA, glibc and compilers.
    fn system_problems(&self, bad: &mut impl FnMut(&str, String, &str)) {
        match self.system.cuda.as_str() {
            "none" | "optional" => {}
            other => {
                if crate::solve::match_spec(&format!("__cuda {other}"), ParseStrictness::Lenient)
                    .is_err()
                {
                    bad(
                        "system.cuda",
                        format!("`{other}` is not none, optional or a version spec"),
                        "write `none`, `optional` or a driver range like `>=12`",
                    );
                }
            }
        }
        if let Some(glibc) = &self.system.glibc {
            if crate::solve::match_spec(&format!("__glibc {glibc}"), ParseStrictness::Lenient)
                .is_err()
            {
                bad(
                    "system.glibc",
                    format!("`{glibc}` is not a version spec"),
                    "write a range like `>=2.28`",
                );
            }
        }
        for (i, c) in self.system.compilers.iter().enumerate() {
            if !matches!(c.as_str(), "c" | "cxx" | "fortran") {
                bad(
                    &format!("system.compilers[{i}]"),
                    format!("`{c}` is not a compiler scivision knows"),
                    "use c, cxx or fortran",
                );
            }
        }
    }

    fn source_problems(&self, bad: &mut impl FnMut(&str, String, &str)) {
        let s = &self.source;
        let kinds = [s.git.is_some(), s.url.is_some(), s.conda.is_some()]
            .iter()
            .filter(|k| **k)
            .count();
        if kinds != 1 {
            bad(
                "source",
                format!("has {kinds} kinds of source"),
                "give exactly one of `git` + `rev`, `url` + `sha256`, or `conda`",
            );
            return;
        }
        s.git_problems(bad);
        s.url_problems(bad);
        if let Some(spec) = &s.conda {
            self.conda_source_problems(spec, bad);
        }
    }

    /// A `conda` source must be a strict match spec naming the card's package.
    fn conda_source_problems(&self, spec: &str, bad: &mut impl FnMut(&str, String, &str)) {
        match crate::solve::match_spec(spec, ParseStrictness::Strict) {
            Err(e) => bad(
                "source.conda",
                format!("`{spec}` is not a match spec: {e}"),
                "write the conda package's spec, e.g. `stardist >=0.9.1`",
            ),
            Ok(m) => {
                let same = matches!(&m.name, PackageNameMatcher::Exact(n) if n.as_normalized() == self.package.to_lowercase());
                if !same {
                    bad(
                        "source.conda",
                        format!("`{spec}` does not name the package `{}`", self.package),
                        "the spec's name and `package` must agree",
                    );
                }
            }
        }
    }
}

impl CardSource {
    /// A git source needs an https:// or file:// URL and a full commit; a revision needs git.
    fn git_problems(&self, bad: &mut impl FnMut(&str, String, &str)) {
        if let Some(git) = &self.git {
            if !(git.starts_with("https://") || git.starts_with("file://")) {
                bad(
                    "source.git",
                    format!("`{git}` is not an https:// or file:// URL"),
                    "give the repository's clone URL, without `git+`",
                );
            }
            match &self.rev {
                None => bad("source.rev", "a git source needs a revision".into(), "pin the commit the card was checked against: `rev: <40 hex digits>` (a branch moves under the lock)"),
                Some(rev) if !is_hex(rev, 40) => bad("source.rev", format!("`{rev}` is not a full commit hash"), "pin the full 40-digit commit, not a branch or a short hash"),
                Some(_) => {}
            }
        } else if self.rev.is_some() {
            bad(
                "source.rev",
                "a revision without a git source".into(),
                "add `git:` or remove `rev:`",
            );
        }
    }

    /// A URL source needs an https:// or file:// URL and its sha256; a sha256 needs a URL.
    fn url_problems(&self, bad: &mut impl FnMut(&str, String, &str)) {
        if let Some(url) = &self.url {
            if !(url.starts_with("https://") || url.starts_with("file://")) {
                bad(
                    "source.url",
                    format!("`{url}` is not an https:// or file:// URL"),
                    "give the sdist or wheel URL (PyPI: files.pythonhosted.org)",
                );
            }
            match &self.sha256 {
                None => bad(
                    "source.sha256",
                    "a URL source needs its sha256".into(),
                    "add `sha256:` (PyPI shows it per file; or `sha256sum FILE`)",
                ),
                Some(h) if !is_hex(h, 64) => bad(
                    "source.sha256",
                    format!("`{h}` is not a sha256 (64 hex digits)"),
                    "copy the file's sha256",
                ),
                Some(_) => {}
            }
        } else if self.sha256.is_some() {
            bad(
                "source.sha256",
                "a sha256 without a URL source".into(),
                "add `url:` or remove `sha256:`",
            );
        }
    }
}

fn is_hex(text: &str, len: usize) -> bool {
    text.len() == len && text.chars().all(|c| c.is_ascii_hexdigit())
}

fn git_without_commit(text: &str) -> bool {
    let Some((_, url)) = text.split_once("git+") else {
        return false;
    };
    let url = url.split(['#', ';', ' ']).next().unwrap_or_default();
    // `scheme://host/path@rev`: an `@` after the host (not user@host) starts the revision.
    let path = url.split_once("://").map_or(url, |(_, rest)| rest);
    let path = path.split_once('/').map_or("", |(_, p)| p);
    !path
        .rsplit_once('@')
        .is_some_and(|(_, rev)| is_hex(rev, 40))
}

/// Whether a python range selects at least one CPython release (any patch level).
fn python_range_selects_any(spec: &VersionSpec) -> bool {
    PYTHON_MINORS.iter().any(|(major, minor)| {
        (0..=30).any(|patch| {
            Version::from_str(&format!("{major}.{minor}.{patch}")).is_ok_and(|v| spec.matches(&v))
        })
    })
}
