//! Converting a PyPI wheel into a conda package.
//!
//! Pure wheels become `noarch: python` packages (files under `site-packages/`, console scripts as
//! link.json entry points); platform wheels become per-subdir packages pinned to their python and
//! `python_abi`. The RECORD is checked against the archive before anything is written, and every
//! path is checked to stay inside the package.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Component, Path, PathBuf};
use std::str::FromStr;

use base64::Engine;
use serde_json::json;
use sha2::{Digest, Sha256};
use uv_pep508::{MarkerEnvironment, MarkerEnvironmentBuilder, Requirement, VersionOrUrl};

use super::BuildError;
use crate::package::{self, PackageMeta};

mod deps;
mod files;
mod publish;
mod record;
pub use deps::{conda_name, pep440_to_conda};
use deps::{depends_from_metadata, WheelTags};
use files::{read_entries, write_console_scripts, FileLayout};
pub use publish::publish;
pub use record::check_relative;
use record::{
    b64_hash, check_record, console_scripts, parse_headers, relative_to_site, write_with_mode,
};

/// The placeholder conda has always used for packages that were not built in a prefix.
pub const LEGACY_PLACEHOLDER: &str = "/opt/anaconda1anaconda2anaconda3";

/// A console script: `name = module:function`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryPoint {
    /// Command name.
    pub name: String,
    /// Module path.
    pub module: String,
    /// Function (possibly dotted).
    pub function: String,
}

impl EntryPoint {
    /// Parses `name = module:function`.
    pub fn parse(text: &str) -> Option<Self> {
        let (name, target) = text.split_once('=')?;
        let (module, function) = target.split_once(':')?;
        let (name, module, function) = (name.trim(), module.trim(), function.trim());
        // `module:func [extra]` is allowed in entry_points.txt; the extra is irrelevant here.
        let function = function.split_whitespace().next().unwrap_or_default();
        if name.is_empty() || module.is_empty() || function.is_empty() {
            return None;
        }
        Some(Self {
            name: name.into(),
            module: module.into(),
            function: function.into(),
        })
    }

    /// The line as link.json writes it.
    pub fn to_line(&self) -> String {
        format!("{} = {}:{}", self.name, self.module, self.function)
    }
}

/// Options for a conversion.
#[derive(Debug, Clone)]
pub struct ConvertOptions {
    /// Build number.
    pub build_number: u64,
    /// `major.minor` of the python whose markers decide conditional requirements of pure wheels.
    pub marker_python: String,
    /// PyPI name → conda name, for the names that differ (`torch` → `pytorch`).
    pub name_map: BTreeMap<String, String>,
    /// Milliseconds since the epoch for index.json, when reproducible builds set one.
    pub timestamp_ms: Option<u64>,
}

impl Default for ConvertOptions {
    fn default() -> Self {
        Self {
            build_number: 0,
            marker_python: "3.11".into(),
            name_map: default_name_map(),
            timestamp_ms: None,
        }
    }
}

/// PyPI names whose conda-forge package has another name.
pub fn default_name_map() -> BTreeMap<String, String> {
    [
        ("torch", "pytorch"),
        ("opencv-python", "opencv"),
        ("opencv-python-headless", "opencv"),
        ("tensorflow-cpu", "tensorflow"),
        ("pyqt5", "pyqt"),
        ("scikit-image", "scikit-image"),
        ("pillow", "pillow"),
    ]
    .into_iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect()
}

/// What a wheel's file name and metadata say.
#[derive(Debug, Clone)]
pub struct WheelInfo {
    /// Normalized distribution name.
    pub name: String,
    /// Version as written.
    pub version: String,
    /// `cp311`-style python tag when the wheel is for one interpreter.
    pub python_tag: Option<String>,
    /// Whether the wheel is pure Python.
    pub pure: bool,
}

/// Converts `wheel` to a `.conda` in `out_dir`; returns the written file.
pub fn convert(
    wheel: &Path,
    out_dir: &Path,
    options: &ConvertOptions,
) -> Result<PathBuf, BuildError> {
    let work = tempfile::tempdir().map_err(BuildError::io(&std::env::temp_dir()))?;
    let root = work.path().join("pkg");
    let meta = unpack(wheel, &root, options)?;
    Ok(package::write_package(&root, &meta, out_dir)?)
}

/// Unpacks and lays out `wheel` under `root`; returns the package metadata.
pub fn unpack(
    wheel: &Path,
    root: &Path,
    options: &ConvertOptions,
) -> Result<PackageMeta, BuildError> {
    let bad = |reason: String| bad_wheel(wheel, reason);
    let tags = WheelTags::of(wheel).map_err(&bad)?;
    let (entries, modes) = read_entries(wheel)?;
    let info = DistInfo::read(wheel, &entries)?;
    let header = |k: &str| info.header(k);
    let name = header("Name").ok_or_else(|| bad("METADATA has no Name".into()))?;
    let version = header("Version").ok_or_else(|| bad("METADATA has no Version".into()))?;
    let (dist_info, headers, purelib) = (&info.dir, &info.headers, info.purelib);
    let pure = tags.is_pure(purelib);
    let py_mm = tags.target_python(pure, options).map_err(&bad)?;
    let layout = FileLayout {
        site: if pure {
            "site-packages".to_string()
        } else {
            format!("lib/python{py_mm}/site-packages")
        },
        scripts: if pure { "python-scripts" } else { "bin" },
        data_dir: dist_info.replace(".dist-info", ".data"),
        dist_info: dist_info.clone(),
    };
    layout.write(wheel, root, &entries, &modes)?;
    let entry_points = info.entry_points.clone();
    if !pure {
        write_console_scripts(root, &entry_points)?;
    }
    let depends =
        depends_from_metadata(headers, pure, &py_mm, &tags.platform, options).map_err(&bad)?;
    let hash_input = format!("{depends:?}{entry_points:?}");
    let short = &hex::encode(Sha256::digest(hash_input.as_bytes()))[..7];
    let (subdir, noarch, build) = tags
        .identity(pure, &py_mm, short, options.build_number)
        .map_err(&bad)?;
    let license = header("License-Expression")
        .or_else(|| header("License").filter(|l| l.len() < 80 && !l.contains('\n')));
    let pypi_name =
        uv_normalize::PackageName::from_str(&name).map_or(name.to_lowercase(), |n| n.to_string());
    Ok(PackageMeta {
        name: conda_name(&name, &options.name_map),
        version: version.clone(),
        build,
        build_number: options.build_number,
        subdir,
        noarch,
        depends,
        constrains: Vec::new(),
        track_features: Vec::new(),
        about: about(&header, license.as_ref(), &tags.file_name),
        license,
        license_family: None,
        purls: vec![format!("pkg:pypi/{pypi_name}@{version}")],
        timestamp_ms: options.timestamp_ms,
        entry_points: if pure {
            entry_points.iter().map(EntryPoint::to_line).collect()
        } else {
            Vec::new()
        },
        rendered_recipe: None,
        tests: None,
        info_files: BTreeMap::new(),
        placeholder: Some(LEGACY_PLACEHOLDER.to_string()),
    })
}

/// What a wheel's `.dist-info` says, its RECORD checked against the entries.
struct DistInfo {
    /// `name-version.dist-info`.
    dir: String,
    /// METADATA's headers.
    headers: Vec<(String, String)>,
    /// WHEEL's `Root-Is-Purelib`.
    purelib: bool,
    /// entry_points.txt's console scripts.
    entry_points: Vec<EntryPoint>,
}

impl DistInfo {
    fn read(wheel: &Path, entries: &BTreeMap<String, Vec<u8>>) -> Result<Self, BuildError> {
        let bad = |reason: String| bad_wheel(wheel, reason);
        let dir = entries
            .keys()
            .filter_map(|k| k.split_once('/').map(|(d, _)| d))
            .find(|d| d.ends_with(".dist-info"))
            .map(str::to_string)
            .ok_or_else(|| bad("no `.dist-info` folder".into()))?;
        let text = |name: &str| -> Option<String> {
            entries
                .get(&format!("{dir}/{name}"))
                .map(|b| String::from_utf8_lossy(b).to_string())
        };
        let record = text("RECORD").ok_or_else(|| bad(format!("{dir}/RECORD is missing")))?;
        check_record(&record, entries, &dir).map_err(bad)?;
        let wheel_meta = text("WHEEL").ok_or_else(|| bad(format!("{dir}/WHEEL is missing")))?;
        let metadata = text("METADATA").ok_or_else(|| bad(format!("{dir}/METADATA is missing")))?;
        Ok(Self {
            headers: parse_headers(&metadata),
            purelib: parse_headers(&wheel_meta)
                .iter()
                .any(|(k, v)| k == "Root-Is-Purelib" && v.eq_ignore_ascii_case("true")),
            entry_points: text("entry_points.txt")
                .map(|t| console_scripts(&t))
                .unwrap_or_default(),
            dir,
        })
    }

    fn header(&self, key: &str) -> Option<String> {
        self.headers
            .iter()
            .find(|(h, _)| h.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.clone())
    }
}

pub(super) fn bad_wheel(wheel: &Path, reason: String) -> BuildError {
    BuildError::BadWheel {
        wheel: wheel.to_path_buf(),
        reason,
    }
}

/// about.json from METADATA's summary, home page and licence.
fn about(
    header: &dyn Fn(&str) -> Option<String>,
    license: Option<&String>,
    file_name: &str,
) -> serde_json::Value {
    let mut about = serde_json::Map::new();
    if let Some(summary) = header("Summary") {
        about.insert("summary".into(), json!(summary));
    }
    if let Some(home) = header("Home-page") {
        about.insert("home".into(), json!(home));
    }
    if let Some(l) = license {
        about.insert("license".into(), json!(l));
    }
    about.insert("extra".into(), json!({"converted_from": file_name}));
    serde_json::Value::Object(about)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// Builds a wheel in memory: (name, contents) pairs plus a RECORD computed or given.
    pub(crate) fn make_wheel(
        dir: &Path,
        file_name: &str,
        files: &[(&str, &[u8])],
        record_override: Option<&str>,
    ) -> PathBuf {
        let path = dir.join(file_name);
        let mut zip = zip::ZipWriter::new(std::fs::File::create(&path).unwrap());
        let opts = zip::write::SimpleFileOptions::default();
        let mut record = String::new();
        let dist_info = files
            .iter()
            .find_map(|(n, _)| {
                n.split_once(".dist-info/")
                    .map(|(d, _)| format!("{d}.dist-info"))
            })
            .unwrap();
        for (name, bytes) in files {
            zip.start_file(*name, opts).unwrap();
            zip.write_all(bytes).unwrap();
            record.push_str(&format!(
                "{name},sha256={},{}\n",
                b64_hash(bytes),
                bytes.len()
            ));
        }
        record.push_str(&format!("{dist_info}/RECORD,,\n"));
        zip.start_file(format!("{dist_info}/RECORD"), opts).unwrap();
        zip.write_all(record_override.unwrap_or(&record).as_bytes())
            .unwrap();
        zip.finish().unwrap();
        path
    }

    fn pure_files() -> Vec<(&'static str, &'static [u8])> {
        vec![
            ("demo/__init__.py", b"def main():\n    return 0\n"),
            ("demo-1.0.dist-info/METADATA", b"Metadata-Version: 2.1\nName: Demo_Pkg\nVersion: 1.0\nRequires-Python: >=3.8\nRequires-Dist: numpy (>=1.20)\nRequires-Dist: torch>=2; python_version >= \"3.9\"\nRequires-Dist: pytest; extra == \"test\"\nRequires-Dist: pywin32; sys_platform == \"win32\"\n\nbody\n"),
            ("demo-1.0.dist-info/WHEEL", b"Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n"),
            ("demo-1.0.dist-info/entry_points.txt", b"[console_scripts]\ndemo = demo:main\n"),
        ]
    }

    #[test]
    fn pure_wheel_becomes_noarch_python() {
        let dir = tempfile::tempdir().unwrap();
        let wheel = make_wheel(
            dir.path(),
            "demo_pkg-1.0-py3-none-any.whl",
            &pure_files(),
            None,
        );
        let root = dir.path().join("root");
        let meta = unpack(&wheel, &root, &ConvertOptions::default()).unwrap();
        assert_eq!(meta.name, "demo-pkg");
        assert_eq!(meta.subdir, "noarch");
        assert_eq!(meta.noarch.as_deref(), Some("python"));
        assert_eq!(
            meta.depends,
            ["python >=3.8", "numpy >=1.20", "pytorch >=2"]
        );
        assert_eq!(meta.entry_points, ["demo = demo:main"]);
        assert_eq!(meta.purls, ["pkg:pypi/demo-pkg@1.0"]);
        assert!(root.join("site-packages/demo/__init__.py").exists());
        let installer =
            fs_err::read_to_string(root.join("site-packages/demo-1.0.dist-info/INSTALLER"))
                .unwrap();
        assert_eq!(installer, "conda\n");
    }

    #[test]
    fn platform_wheel_pins_python_and_abi() {
        let dir = tempfile::tempdir().unwrap();
        let mut files = pure_files();
        files[2] = (
            "demo-1.0.dist-info/WHEEL",
            b"Wheel-Version: 1.0\nRoot-Is-Purelib: false\nTag: cp311-cp311-manylinux_2_17_x86_64\n",
        );
        let wheel = make_wheel(
            dir.path(),
            "demo_pkg-1.0-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
            &files,
            None,
        );
        let root = dir.path().join("root");
        let meta = unpack(&wheel, &root, &ConvertOptions::default()).unwrap();
        assert_eq!(meta.subdir, "linux-64");
        assert!(meta.noarch.is_none());
        assert_eq!(
            &meta.depends[..2],
            ["python >=3.11,<3.12.0a0", "python_abi 3.11.* *_cp311"]
        );
        assert!(meta.build.starts_with("py311h"));
        assert!(root
            .join("lib/python3.11/site-packages/demo/__init__.py")
            .exists());
        let script = fs_err::read_to_string(root.join("bin/demo")).unwrap();
        assert!(script.starts_with(&format!("#!{LEGACY_PLACEHOLDER}/bin/python")));
    }

    #[test]
    fn a_platform_wheels_markers_are_its_own_platforms() {
        let dir = tempfile::tempdir().unwrap();
        let metadata: &[u8] = b"Metadata-Version: 2.1\nName: Demo_Pkg\nVersion: 1.0\nRequires-Dist: appnope; sys_platform == \"darwin\"\nRequires-Dist: pyobjc; platform_machine == \"arm64\"\nRequires-Dist: pywin32; sys_platform == \"win32\"\nRequires-Dist: uvloop; sys_platform == \"linux\"\n";
        let depends_for = |platform: &str, subdir: &str| {
            let mut files = pure_files();
            files[1] = ("demo-1.0.dist-info/METADATA", metadata);
            files[2] = (
                "demo-1.0.dist-info/WHEEL",
                b"Wheel-Version: 1.0\nRoot-Is-Purelib: false\n",
            );
            let out = dir.path().join(platform);
            fs_err::create_dir_all(&out).unwrap();
            let wheel = make_wheel(
                &out,
                &format!("demo_pkg-1.0-cp311-cp311-{platform}.whl"),
                &files,
                None,
            );
            let meta = unpack(&wheel, &out.join("root"), &ConvertOptions::default()).unwrap();
            assert_eq!(meta.subdir, subdir);
            let names: Vec<String> = meta.depends[2..]
                .iter()
                .map(|d| d.split_whitespace().next().unwrap().to_string())
                .collect();
            names
        };
        assert_eq!(
            depends_for("macosx_11_0_arm64", "osx-arm64"),
            ["appnope", "pyobjc"]
        );
        assert_eq!(depends_for("macosx_10_9_x86_64", "osx-64"), ["appnope"]);
        assert_eq!(depends_for("win_amd64", "win-64"), ["pywin32"]);
        assert_eq!(
            depends_for("manylinux_2_17_aarch64", "linux-aarch64"),
            ["uvloop"]
        );
        assert_eq!(depends_for("manylinux_2_17_x86_64", "linux-64"), ["uvloop"]);
    }

    #[test]
    fn abi3_wheel_is_made_for_the_target_python() {
        let dir = tempfile::tempdir().unwrap();
        let mut files = pure_files();
        files[2] = (
            "demo-1.0.dist-info/WHEEL",
            b"Wheel-Version: 1.0\nRoot-Is-Purelib: false\nTag: cp36-abi3-manylinux_2_17_x86_64\n",
        );
        let wheel = make_wheel(
            dir.path(),
            "demo_pkg-1.0-cp36-abi3-manylinux_2_17_x86_64.whl",
            &files,
            None,
        );
        let root = dir.path().join("root");
        let meta = unpack(&wheel, &root, &ConvertOptions::default()).unwrap();
        assert_eq!(meta.depends[0], "python >=3.11,<3.12.0a0");
        assert!(root
            .join("lib/python3.11/site-packages/demo/__init__.py")
            .exists());
        let old = ConvertOptions {
            marker_python: "3.5".into(),
            ..ConvertOptions::default()
        };
        assert!(unpack(&wheel, &dir.path().join("root2"), &old).is_err());
    }

    #[test]
    fn broken_record_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let record = "demo/__init__.py,sha256=AAAA,10\n";
        let wheel = make_wheel(
            dir.path(),
            "demo_pkg-1.0-py3-none-any.whl",
            &pure_files(),
            Some(record),
        );
        let err = unpack(&wheel, &dir.path().join("root"), &ConvertOptions::default()).unwrap_err();
        assert!(err.to_string().contains("RECORD"), "{err}");
    }

    #[test]
    fn escaping_entry_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let mut files = pure_files();
        files.push(("../evil.py", b"x"));
        let wheel = make_wheel(dir.path(), "demo_pkg-1.0-py3-none-any.whl", &files, None);
        let err = unpack(&wheel, &dir.path().join("root"), &ConvertOptions::default()).unwrap_err();
        assert!(err.to_string().contains("evil"), "{err}");
        assert!(!dir.path().join("evil.py").exists());
    }

    #[test]
    fn entry_point_parsing() {
        assert_eq!(
            EntryPoint::parse("a = b.c:d.e [x]"),
            Some(EntryPoint {
                name: "a".into(),
                module: "b.c".into(),
                function: "d.e".into()
            })
        );
        assert!(EntryPoint::parse("broken").is_none());
    }
}
