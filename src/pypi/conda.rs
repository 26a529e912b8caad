//! The python packages conda installed, seen from PyPI: their names (the records' purls, the
//! channel's conda → PyPI mapping, or the conda name: see `crate::mapping`) and versions. The
//! resolver takes them as installed and fixed. This is the one place that decides whether a
//! PyPI requirement is already provided by conda: resolve, lock, dry runs, `--platform` locks
//! and `--locked` drift checks all see conda through it.

use std::collections::BTreeMap;
use std::path::Path;
use std::str::FromStr;

use rattler_conda_types::RepoDataRecord;
use uv_normalize::PackageName;
use uv_pep440::Version;

/// One conda-installed python distribution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CondaPython {
    /// Its PyPI version.
    pub version: Version,
    /// The conda record it comes from, `name-version-build`.
    pub record: String,
    /// The conda package's name.
    pub conda_name: String,
    /// What gave its PyPI name.
    pub source: crate::mapping::NameSource,
}

/// Conda's python packages by PyPI name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CondaPythonPackages {
    by_name: BTreeMap<PackageName, CondaPython>,
    /// Names whose every requirement in the PyPI graph (a git URL included) conda's package
    /// satisfies: a card's `pypi_overrides`, for upstream metadata that asks for a source build
    /// of what conda ships prebuilt.
    overridden: std::collections::BTreeSet<PackageName>,
}

impl CondaPythonPackages {
    /// From solved records, each providing the PyPI names `mapping` gives it (purls, then its
    /// channel's mapping, then its conda name when it depends on python).
    pub fn from_records(records: &[RepoDataRecord], mapping: &crate::mapping::PypiMapping) -> Self {
        let mut by_name = BTreeMap::new();
        for r in records {
            let p = &r.package_record;
            let conda_name = p.name.as_normalized();
            if matches!(conda_name, "python" | "python_abi") {
                continue;
            }
            let Ok(version) = Version::from_str(&p.version.to_string()) else {
                continue;
            };
            let provided = mapping.provides(r);
            let record = format!("{}-{}-{}", conda_name, p.version, p.build);
            if !provided.names.is_empty() {
                tracing::info!(
                    "conda's {record} provides PyPI {} (named by {})",
                    provided.names.join(", "),
                    provided.source
                );
            }
            for n in &provided.names {
                if let Ok(name) = PackageName::from_str(n) {
                    by_name.insert(
                        name,
                        CondaPython {
                            version: version.clone(),
                            record: record.clone(),
                            conda_name: conda_name.to_string(),
                            source: provided.source.clone(),
                        },
                    );
                }
            }
        }
        Self {
            by_name,
            overridden: std::collections::BTreeSet::new(),
        }
    }

    /// Adds the distributions whose `.dist-info` lies in `site_packages` and that the records did
    /// not name (a conda package whose PyPI name differs from its conda name and has no purl).
    pub fn add_site_packages(&mut self, site_packages: &Path) {
        let Ok(entries) = fs_err::read_dir(site_packages) else {
            return;
        };
        for entry in entries.flatten() {
            let file = entry.file_name();
            let Some(stem) = file.to_str().and_then(|f| f.strip_suffix(".dist-info")) else {
                continue;
            };
            // `{name}-{version}.dist-info`: names are normalized with `_`, so the last `-` splits.
            let Some((name, version)) = stem.rsplit_once('-') else {
                continue;
            };
            let installer =
                fs_err::read_to_string(entry.path().join("INSTALLER")).unwrap_or_default();
            if installer.trim() == super::install::INSTALLER {
                continue; // ours: the PyPI half, not conda's
            }
            if let (Ok(name), Ok(version)) =
                (PackageName::from_str(name), Version::from_str(version))
            {
                self.by_name.entry(name.clone()).or_insert(CondaPython {
                    version,
                    record: format!("the conda prefix's {file:?}", file = file),
                    conda_name: name.to_string(),
                    source: crate::mapping::NameSource::SitePackages,
                });
            }
        }
    }

    /// The conda side of `name`, if conda installs it.
    /// Marks names (PyPI spelling) whose requirements anywhere in the graph conda's package
    /// replaces. Names conda does not provide are ignored: uv then sees the original requirement.
    pub fn override_requirements(&mut self, names: &[String]) {
        for name in names {
            if let Ok(n) = PackageName::from_str(name) {
                if self.by_name.contains_key(&n) {
                    self.overridden.insert(n);
                }
            }
        }
    }

    /// The overridden names with conda's versions.
    pub fn overrides(&self) -> impl Iterator<Item = (&PackageName, &CondaPython)> {
        self.overridden
            .iter()
            .filter_map(|n| self.by_name.get(n).map(|p| (n, p)))
    }

    pub fn get(&self, name: &PackageName) -> Option<&CondaPython> {
        self.by_name.get(name)
    }

    /// Every conda python package.
    pub fn iter(&self) -> impl Iterator<Item = (&PackageName, &CondaPython)> {
        self.by_name.iter()
    }

    /// How many.
    pub fn len(&self) -> usize {
        self.by_name.len()
    }

    /// None at all.
    pub fn is_empty(&self) -> bool {
        self.by_name.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(name: &str, version: &str, depends: &[&str], purl: Option<&str>) -> RepoDataRecord {
        let json = serde_json::json!({
            "name": name, "version": version, "build": "0", "build_number": 0,
            "depends": depends, "subdir": "linux-64",
            "purls": purl.map(|p| vec![p]),
        });
        RepoDataRecord {
            package_record: serde_json::from_value(json).unwrap(),
            identifier: format!("{name}-{version}-0.conda").parse().unwrap(),
            url: format!("file:///c/linux-64/{name}-{version}-0.conda")
                .parse()
                .unwrap(),
            channel: None,
        }
    }

    #[test]
    fn purls_name_the_pypi_side_and_plain_libraries_are_left_out() {
        let records = vec![
            record("python", "3.11.2", &[], None),
            record("numpy", "2.2.6", &["python >=3.11"], None),
            record(
                "pillow",
                "11.3.0",
                &["python_abi 3.11.*"],
                Some("pkg:pypi/Pillow"),
            ),
            record("libzlib", "1.3", &[], None),
        ];
        let c =
            CondaPythonPackages::from_records(&records, &crate::mapping::PypiMapping::default());
        assert_eq!(c.len(), 2);
        assert_eq!(
            c.get(&PackageName::from_str("numpy").unwrap())
                .unwrap()
                .version
                .to_string(),
            "2.2.6"
        );
        let pillow = c.get(&PackageName::from_str("pillow").unwrap()).unwrap();
        assert_eq!(pillow.record, "pillow-11.3.0-0");
        assert!(c.get(&PackageName::from_str("libzlib").unwrap()).is_none());
    }
}
