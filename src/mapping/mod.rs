//! conda → PyPI names: which PyPI distributions a conda package provides, so that the PyPI half
//! of an environment never installs again what conda installed under another name (`pytorch` is
//! `torch`, `matplotlib-base` is `matplotlib`, `py-opencv` is `opencv-python`).
//!
//! Precedence, as pixi decides it: the record's own `purls` (CEP 63); else the name mapping of
//! the record's channel (prefix.dev's parselmouth mapping for conda-forge and the channels
//! configured as its mirrors); else the conda name itself, for a package that depends on python.
//! The conda-forge mapping is embedded (the offline default) and, when online, refreshed at most
//! once a day into the cache, revalidated with its ETag; a failed refresh never fails a command.

use std::borrow::Cow;
use std::sync::Arc;

use rattler_conda_types::RepoDataRecord;

pub mod lines;
mod source;
pub use source::*;

/// `data/conda-pypi-mapping/conda-forge.json` in [`lines`] form, written by `build.rs`.
const EMBEDDED: &str = include_str!(concat!(env!("OUT_DIR"), "/conda-forge-names.txt"));
/// Where the embedded copy comes from (data/conda-pypi-mapping/README.md).
const EMBEDDED_ORIGIN: &str = "embedded, parselmouth 345e9bf of 2026-08-19";
/// The mapping's public location, the one pixi reads.
pub const CONDA_FORGE_MAPPING_URL: &str =
    "https://raw.githubusercontent.com/prefix-dev/parselmouth/main/files/v0/conda-forge/compressed_mapping.json";

/// One channel's conda name → PyPI names, kept as sorted lines ([`lines`]) and looked up by
/// bisection: nothing is parsed or hashed until a name is asked for.
#[derive(Debug)]
pub struct NameMap {
    lines: Cow<'static, str>,
    origin: String,
}

impl NameMap {
    /// Parses parselmouth's format: `{"conda-name": ["pypi-name", …] | null, …}`.
    pub fn parse(json: &str, origin: impl Into<String>) -> Result<Self, serde_json::Error> {
        let map: std::collections::BTreeMap<String, Option<Vec<String>>> =
            serde_json::from_str(json)?;
        Ok(Self {
            lines: Cow::Owned(lines::render(&map)),
            origin: origin.into(),
        })
    }

    /// A map kept in [`lines`] form (what [`Self::lines`] gave), checked before it is trusted.
    pub fn from_lines(
        text: String,
        origin: impl Into<String>,
    ) -> Result<Self, lines::NotSortedLines> {
        lines::check(&text)?;
        Ok(Self {
            lines: Cow::Owned(text),
            origin: origin.into(),
        })
    }

    /// The copy compiled into scivision.
    pub fn embedded() -> Arc<Self> {
        Arc::new(Self {
            lines: Cow::Borrowed(EMBEDDED),
            origin: EMBEDDED_ORIGIN.to_string(),
        })
    }

    /// What the map says of `conda_name`: `Some(names)` when it knows the package (empty when
    /// the package provides no PyPI distribution), `None` when it does not know it.
    pub fn get(&self, conda_name: &str) -> Option<Vec<&str>> {
        lines::find(&self.lines, conda_name).map(|names| names.split_whitespace().collect())
    }

    /// The map in [`lines`] form, as a cache keeps it.
    pub fn lines(&self) -> &str {
        &self.lines
    }

    /// Where this copy comes from, for `-v` and `--json`.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// How many conda names it knows (counted: a walk over the whole map).
    pub fn len(&self) -> usize {
        self.lines.lines().count()
    }

    /// Whether it knows none.
    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }
}

/// What named the PyPI side of a conda package.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case", tag = "kind", content = "from")]
pub enum NameSource {
    /// The record's `purls`.
    Purl,
    /// A channel's name mapping (its origin).
    Mapping(String),
    /// The conda name, for want of a purl or a mapping entry.
    CondaName,
    /// A `.dist-info` conda's files left in the prefix.
    SitePackages,
}

impl std::fmt::Display for NameSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Purl => f.write_str("the record's purls"),
            Self::Mapping(origin) => write!(f, "the conda-forge mapping ({origin})"),
            Self::CondaName => f.write_str("its conda name"),
            Self::SitePackages => f.write_str("its .dist-info in the prefix"),
        }
    }
}

/// The PyPI names a conda record provides, and what says so.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Provided {
    /// PyPI distribution names, as the source spells them.
    pub names: Vec<String>,
    /// What named them.
    pub source: NameSource,
}

/// The mappings in force for one command: conda-forge's, and which channels it applies to.
#[derive(Debug, Clone)]
pub struct PypiMapping {
    conda_forge: Arc<NameMap>,
    /// Base URLs (without credentials, with a trailing `/`) of channels read as conda-forge
    /// mirrors, besides every channel whose last path segment is `conda-forge`.
    mirrors: Vec<String>,
}

impl Default for PypiMapping {
    fn default() -> Self {
        Self::embedded(Vec::new())
    }
}

impl PypiMapping {
    /// conda-forge's map, applied to conda-forge and to the channels at `mirrors` (base URLs).
    pub fn new(conda_forge: Arc<NameMap>, mirrors: Vec<url::Url>) -> Self {
        Self {
            conda_forge,
            mirrors: mirrors.iter().map(|m| comparable(m.as_str())).collect(),
        }
    }

    /// The embedded map, for the channels conda-forge's applies to.
    pub fn embedded(mirrors: Vec<url::Url>) -> Self {
        Self::new(NameMap::embedded(), mirrors)
    }

    /// The conda-forge map in use.
    pub fn conda_forge(&self) -> &NameMap {
        &self.conda_forge
    }

    /// Whether the channel at `base_url` is named by conda-forge's map: conda-forge itself (or
    /// any channel whose last path segment is `conda-forge`) and the configured mirrors, each
    /// compared whole and without credentials (a token in either URL does not count).
    pub fn applies_to(&self, base_url: &str) -> bool {
        let base = comparable(base_url);
        let named_conda_forge = base
            .trim_end_matches('/')
            .rsplit('/')
            .next()
            .is_some_and(|last| last == "conda-forge");
        named_conda_forge || self.mirrors.contains(&base)
    }

    /// The map of the channel `record` comes from, if that channel has one.
    fn map_for(&self, record: &RepoDataRecord) -> Option<&NameMap> {
        let base = channel_base(record)?;
        self.applies_to(&base).then(|| self.conda_forge())
    }

    /// The PyPI distributions `record` provides: its purls, else its channel's mapping, else
    /// its conda name. Without purls only a package that depends on python provides any: a
    /// C++ library the mapping lists (`libopencv`) holds no importable module.
    pub fn provides(&self, record: &RepoDataRecord) -> Provided {
        let p = &record.package_record;
        if let Some(purls) = &p.purls {
            return Provided {
                names: purls
                    .iter()
                    .filter(|u| u.package_type() == "pypi")
                    .map(|u| u.name().to_string())
                    .collect(),
                source: NameSource::Purl,
            };
        }
        let conda_name = p.name.as_normalized();
        let python = depends_on_python(record);
        if let Some(map) = self.map_for(record) {
            if let Some(names) = map.get(conda_name) {
                return Provided {
                    names: if python {
                        names.into_iter().map(str::to_string).collect()
                    } else {
                        Vec::new()
                    },
                    source: NameSource::Mapping(map.origin().to_string()),
                };
            }
        }
        Provided {
            names: if python {
                vec![conda_name.to_string()]
            } else {
                Vec::new()
            },
            source: NameSource::CondaName,
        }
    }
}

/// The base URL of the channel a record comes from, with a trailing `/`: its `channel` when
/// that is a URL, else its file URL less `subdir/file`.
fn channel_base(record: &RepoDataRecord) -> Option<String> {
    if let Some(url) = record
        .channel
        .as_deref()
        .and_then(|c| url::Url::parse(c).ok())
    {
        return Some(with_slash(&url));
    }
    let mut url = record.url.clone();
    url.path_segments_mut().ok()?.pop().pop();
    Some(with_slash(&url))
}

/// A channel URL as compared: no credentials, one trailing `/`.
fn comparable(url: &str) -> String {
    let stripped = crate::redact::for_file_str(url);
    format!("{}/", stripped.trim_end_matches('/'))
}

fn with_slash(url: &url::Url) -> String {
    let text = url.as_str().trim_end_matches('/');
    format!("{text}/")
}

fn depends_on_python(r: &RepoDataRecord) -> bool {
    r.package_record.depends.iter().any(|d| {
        let name = d
            .split([' ', '=', '<', '>', '!'])
            .next()
            .unwrap_or_default();
        name == "python" || name == "python_abi"
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(channel: &str, name: &str, depends: &[&str], purl: Option<&str>) -> RepoDataRecord {
        let json = serde_json::json!({
            "name": name, "version": "1.0", "build": "0", "build_number": 0,
            "depends": depends, "subdir": "linux-64",
            "purls": purl.map(|p| vec![p]),
        });
        RepoDataRecord {
            package_record: serde_json::from_value(json).unwrap(),
            identifier: format!("{name}-1.0-0.conda").parse().unwrap(),
            url: format!("{channel}/linux-64/{name}-1.0-0.conda")
                .parse()
                .unwrap(),
            channel: Some(channel.to_string()),
        }
    }

    #[test]
    fn conda_forge_names_map_to_their_pypi_distributions() {
        let mapping = PypiMapping::default();
        let forge = "https://conda.anaconda.org/conda-forge";
        let py = &["python >=3.9"];
        let table: &[(&str, &[&str], &[&str])] = &[
            ("pytorch", py, &["torch"]),
            ("matplotlib-base", py, &["matplotlib"]),
            (
                "py-opencv",
                py,
                &["opencv-python", "opencv-python-headless"],
            ),
            (
                "libopencv",
                py,
                &["opencv-python", "opencv-python-headless"],
            ),
            // Listed, but without python there is nothing to import: the metapackage's pytorch
            // or the C++ library's py-opencv provides the module.
            ("pytorch-cpu", &[], &[]),
            ("libopencv", &["libgcc-ng >=12"], &[]),
            (
                "pyqt",
                py,
                &["pyqt5", "pyqt5-sip", "pyqtchart", "pyqtwebengine"],
            ),
            ("numpy", py, &["numpy"]),
            // The mapping says these provide no PyPI distribution, python dependency or not.
            ("libtorch", py, &[]),
            ("opencv", py, &[]),
        ];
        for (conda, depends, pypi) in table {
            let got = mapping.provides(&record(forge, conda, depends, None));
            assert_eq!(got.names, *pypi, "{conda}");
            assert!(
                matches!(got.source, NameSource::Mapping(_)),
                "{conda}: {:?}",
                got.source
            );
        }
    }

    #[test]
    fn purls_come_first_and_unmapped_channels_keep_conda_names() {
        let mapping = PypiMapping::default();
        let forge = "https://prefix.dev/conda-forge";
        let purl = mapping.provides(&record(forge, "pytorch", &[], Some("pkg:pypi/torch-fork")));
        assert_eq!(
            (purl.names, purl.source),
            (vec!["torch-fork".to_string()], NameSource::Purl)
        );
        // Our own channel: no mapping; a python package keeps its name, a library has none.
        let ours = "file:///srv/scivision/channel";
        let own = mapping.provides(&record(ours, "pytorch", &["python"], None));
        assert_eq!(own.names, ["pytorch"]);
        assert_eq!(own.source, NameSource::CondaName);
        assert!(mapping
            .provides(&record(ours, "libzlib", &[], None))
            .names
            .is_empty());
        // A name the mapping does not know falls back to the conda name.
        let unknown = mapping.provides(&record(forge, "scivision-demo-x", &["python"], None));
        assert_eq!(unknown.names, ["scivision-demo-x"]);
        assert_eq!(unknown.source, NameSource::CondaName);
    }

    #[test]
    fn a_configured_mirror_reads_as_conda_forge() {
        let mirror: url::Url = "file:///data/forge-mirror".parse().unwrap();
        let mapping = PypiMapping::new(NameMap::embedded(), vec![mirror]);
        let got = mapping.provides(&record(
            "file:///data/forge-mirror",
            "matplotlib-base",
            &["python"],
            None,
        ));
        assert_eq!(got.names, ["matplotlib"]);
        // Only the mirror itself, not a channel below it.
        let below = record(
            "file:///data/forge-mirror/bioconda",
            "pytorch",
            &["python"],
            None,
        );
        assert_eq!(mapping.provides(&below).names, ["pytorch"]);
        // Without the channel's URL in the record, its file URL tells the channel.
        let mut r = record("file:///data/forge-mirror", "pytorch", &["python"], None);
        r.channel = None;
        assert_eq!(mapping.provides(&r).names, ["torch"]);
    }

    #[test]
    fn the_embedded_copy_is_the_whole_mapping_and_says_what_parselmouths_file_says() {
        let map = NameMap::embedded();
        assert_eq!(map.len(), 33_909);
        assert_eq!(map.get("pytorch"), Some(vec!["torch"]));
        assert_eq!(map.get("python"), Some(vec![]));
        assert_eq!(map.get("no-such-conda-package"), None);
        // build.rs's conversion, checked name by name against the file it converted.
        let json = include_str!("../../data/conda-pypi-mapping/conda-forge.json");
        let whole: std::collections::HashMap<String, Option<Vec<String>>> =
            serde_json::from_str(json).unwrap();
        assert_eq!(lines::check(map.lines()), Ok(whole.len()));
        for (conda, pypi) in &whole {
            let want: Vec<&str> = pypi.iter().flatten().map(String::as_str).collect();
            assert_eq!(map.get(conda), Some(want), "{conda}");
            // Names that sort right beside a known one are not taken for it.
            for near in [
                format!("{conda}-"),
                format!("{conda}0"),
                conda[..conda.len() - 1].to_string(),
            ] {
                assert_eq!(
                    map.get(&near).is_some(),
                    whole.contains_key(&near),
                    "{near}"
                );
            }
        }
    }

    #[test]
    fn a_name_is_found_by_bisection_wherever_it_sorts() {
        let mut m = std::collections::BTreeMap::new();
        for (k, v) in [
            ("a", Some(vec!["a"])),
            ("a-b", None),
            ("ab", Some(vec!["x", "y"])),
            ("b", Some(vec![])),
            ("zz-last", Some(vec!["z z", "zed"])),
        ] {
            m.insert(
                k.to_string(),
                v.map(|v| v.iter().map(|s| s.to_string()).collect()),
            );
        }
        m.insert("with space".to_string(), Some(vec!["dropped".to_string()]));
        let text = lines::render(&m);
        assert_eq!(text, "a\ta\na-b\t\nab\tx y\nb\t\nzz-last\tzed\n");
        let map = NameMap::from_lines(text, "test").unwrap();
        assert_eq!(map.get("a"), Some(vec!["a"]));
        assert_eq!(map.get("a-b"), Some(vec![]));
        assert_eq!(map.get("ab"), Some(vec!["x", "y"]));
        assert_eq!(map.get("b"), Some(vec![]));
        assert_eq!(map.get("zz-last"), Some(vec!["zed"]));
        for absent in ["", "0", "a-", "aa", "c", "zzz", "with space", "with"] {
            assert_eq!(map.get(absent), None, "{absent}");
        }
        let empty = NameMap::from_lines(String::new(), "none").unwrap();
        assert_eq!(empty.get("a"), None);
        assert!(empty.is_empty());
    }

    #[test]
    fn a_map_out_of_form_is_refused_with_its_line() {
        for (text, line, why) in [
            ("b\t\na\t\n", 2, "out of order"),
            ("a\t\na\t\n", 2, "out of order"),
            ("a\t\nb\n", 2, "no tab"),
            ("a\tx\n\tx\n", 2, "not a conda name"),
            ("a\tx  y\n", 1, "not a list of PyPI names"),
            ("a\tx\nb\ty", 2, "the last line does not end"),
        ] {
            assert_eq!(
                NameMap::from_lines(text.to_string(), "t").unwrap_err(),
                lines::NotSortedLines { line, why },
                "{text:?}"
            );
        }
    }
}
