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

/// The tags of a wheel's file name (`name-version[-build]-pytag-abitag-platform.whl`).
#[derive(Debug, Clone)]
struct WheelTags {
    file_name: String,
    python: String,
    abi: String,
    platform: String,
}

impl WheelTags {
    fn of(wheel: &Path) -> Result<Self, String> {
        let file_name = wheel
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        let parts: Vec<&str> = file_name.trim_end_matches(".whl").split('-').collect();
        if !file_name.ends_with(".whl") || parts.len() < 5 {
            return Err("the file name is not `name-version-pytag-abitag-platform.whl`".into());
        }
        let n = parts.len();
        Ok(Self {
            python: parts[n - 3].to_string(),
            abi: parts[n - 2].to_string(),
            platform: parts[n - 1].to_string(),
            file_name,
        })
    }

    /// Pure Python: purelib by its WHEEL file, and tagged for any ABI and platform.
    fn is_pure(&self, purelib: bool) -> bool {
        purelib && self.abi == "none" && self.platform == "any"
    }

    /// The `major.minor` of the python the package is made for.
    fn target_python(&self, pure: bool, options: &ConvertOptions) -> Result<String, String> {
        if pure {
            return Ok(options.marker_python.clone());
        }
        let tag = self.python.split('.').next().unwrap_or(&self.python);
        let tagged = cpython_version(tag).ok_or_else(|| {
            format!("python tag `{tag}`: only CPython wheels (cpXY) can be converted")
        })?;
        if self.abi != "abi3" {
            return Ok(tagged);
        }
        // A stable-ABI wheel runs on every CPython from its tag on; the package is made for
        // the target python, whose site-packages it is installed into.
        if version_key(&options.marker_python) < version_key(&tagged) {
            return Err(format!(
                "the abi3 wheel needs CPython >= {tagged}, the target is {}",
                options.marker_python
            ));
        }
        Ok(options.marker_python.clone())
    }
}

/// python (a range for pure wheels, the exact minor and ABI otherwise) and every
/// `Requires-Dist` that applies to `py_mm` on the wheel's platform, as conda specs.
fn depends_from_metadata(
    headers: &[(String, String)],
    pure: bool,
    py_mm: &str,
    platform_tag: &str,
    options: &ConvertOptions,
) -> Result<Vec<String>, String> {
    // A platform wheel's markers are those of its platform; a pure wheel's, Linux x86-64's
    // (a noarch package cannot say more).
    let marker_env = marker_environment(py_mm, (!pure).then_some(platform_tag))?;
    let mut depends = Vec::new();
    if pure {
        let python_spec = headers
            .iter()
            .find(|(h, _)| h.eq_ignore_ascii_case("Requires-Python"))
            .map(|(_, s)| pep440_to_conda(s))
            .filter(|s| !s.is_empty());
        depends.push(match python_spec {
            Some(spec) => format!("python {spec}"),
            None => "python".into(),
        });
    } else {
        let (major, minor) = py_mm.split_once('.').unwrap_or((py_mm, "0"));
        let next = minor.parse::<u32>().unwrap_or(0) + 1;
        depends.push(format!("python >={py_mm},<{major}.{next}.0a0"));
        depends.push(format!("python_abi {py_mm}.* *_cp{major}{minor}"));
    }
    for (key, value) in headers {
        if !key.eq_ignore_ascii_case("Requires-Dist") {
            continue;
        }
        let req = Requirement::<uv_pep508::VerbatimUrl>::from_str(value)
            .map_err(|e| format!("Requires-Dist `{value}`: {e}"))?;
        if req.marker.top_level_extra().is_some() || !req.marker.evaluate(&marker_env, &[]) {
            continue;
        }
        let dep_name = conda_name(req.name.as_ref(), &options.name_map);
        let spec = match &req.version_or_url {
            Some(VersionOrUrl::VersionSpecifier(specs)) => pep440_to_conda(&specs.to_string()),
            Some(VersionOrUrl::Url(_)) => {
                return Err(format!(
                    "Requires-Dist `{value}` is a URL requirement, which a conda package cannot express"
                ))
            }
            None => String::new(),
        };
        depends.push(if spec.is_empty() {
            dep_name
        } else {
            format!("{dep_name} {spec}")
        });
    }
    Ok(depends)
}

/// Converts `wheel` to a `.conda` in `out_dir`; returns the written file.
pub fn convert(
    wheel: &Path,
    out_dir: &Path,
    options: &ConvertOptions,
) -> Result<PathBuf, BuildError> {
    let work = tempfile::tempdir().map_err(|source| BuildError::Io {
        path: std::env::temp_dir(),
        source,
    })?;
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
    let bad = |reason: String| BuildError::BadWheel {
        wheel: wheel.to_path_buf(),
        reason,
    };
    let tags = WheelTags::of(wheel).map_err(&bad)?;
    let file_name = tags.file_name.clone();
    let file = fs_err::File::open(wheel).map_err(|source| BuildError::Io {
        path: wheel.to_path_buf(),
        source,
    })?;
    let mut zip = zip::ZipArchive::new(file).map_err(|e| bad(format!("not a zip archive: {e}")))?;

    // Read every entry once: check paths, hash contents.
    let mut entries: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    let mut modes: BTreeMap<String, u32> = BTreeMap::new();
    for i in 0..zip.len() {
        let mut entry = zip
            .by_index(i)
            .map_err(|e| bad(format!("entry {i}: {e}")))?;
        if entry.is_dir() {
            continue;
        }
        let name = entry.name().to_string();
        check_relative(&name).map_err(|reason| bad(format!("entry `{name}`: {reason}")))?;
        let mut bytes = Vec::with_capacity(usize::try_from(entry.size()).unwrap_or(0).min(1 << 30));
        entry
            .read_to_end(&mut bytes)
            .map_err(|e| bad(format!("entry `{name}`: {e}")))?;
        if let Some(mode) = entry.unix_mode() {
            modes.insert(name.clone(), mode);
        }
        entries.insert(name, bytes);
    }
    let dist_info = entries
        .keys()
        .filter_map(|k| k.split_once('/').map(|(d, _)| d))
        .find(|d| d.ends_with(".dist-info"))
        .map(str::to_string)
        .ok_or_else(|| bad("no `.dist-info` folder".into()))?;
    let data_dir = dist_info.replace(".dist-info", ".data");
    let text = |name: &str| -> Option<String> {
        entries
            .get(&format!("{dist_info}/{name}"))
            .map(|b| String::from_utf8_lossy(b).to_string())
    };
    let record = text("RECORD").ok_or_else(|| bad(format!("{dist_info}/RECORD is missing")))?;
    check_record(&record, &entries, &dist_info).map_err(bad)?;
    let wheel_meta = text("WHEEL").ok_or_else(|| bad(format!("{dist_info}/WHEEL is missing")))?;
    let metadata =
        text("METADATA").ok_or_else(|| bad(format!("{dist_info}/METADATA is missing")))?;
    let headers = parse_headers(&metadata);
    let header = |k: &str| {
        headers
            .iter()
            .find(|(h, _)| h.eq_ignore_ascii_case(k))
            .map(|(_, v)| v.clone())
    };
    let name = header("Name").ok_or_else(|| bad("METADATA has no Name".into()))?;
    let version = header("Version").ok_or_else(|| bad("METADATA has no Version".into()))?;
    let purelib = parse_headers(&wheel_meta)
        .iter()
        .any(|(k, v)| k == "Root-Is-Purelib" && v.eq_ignore_ascii_case("true"));
    let pure = tags.is_pure(purelib);
    let package_name = conda_name(&name, &options.name_map);

    // Where files go.
    let py_mm = tags.target_python(pure, options).map_err(&bad)?;
    let site = if pure {
        "site-packages".to_string()
    } else {
        format!("lib/python{py_mm}/site-packages")
    };
    let scripts_dir = if pure { "python-scripts" } else { "bin" };
    let mut record_lines = Vec::new();
    for (entry, bytes) in &entries {
        let target = if let Some(rest) = entry.strip_prefix(&format!("{data_dir}/")) {
            let (scheme, rel) = rest
                .split_once('/')
                .ok_or_else(|| bad(format!("entry `{entry}` is not in a .data scheme folder")))?;
            match scheme {
                "purelib" | "platlib" => format!("{site}/{rel}"),
                "scripts" => format!("{scripts_dir}/{rel}"),
                "headers" => format!("include/{rel}"),
                "data" => rel.to_string(),
                other => {
                    return Err(bad(format!(
                        "entry `{entry}`: unknown .data scheme `{other}`"
                    )))
                }
            }
        } else {
            format!("{site}/{entry}")
        };
        if entry == &format!("{dist_info}/RECORD") || entry == &format!("{dist_info}/INSTALLER") {
            continue;
        }
        let mut bytes = bytes.clone();
        if entry.starts_with(&format!("{data_dir}/scripts/")) && bytes.starts_with(b"#!python") {
            // Wheel scripts name their interpreter `python`; point it at the prefix's.
            let rest = bytes[b"#!python".len()..].to_vec();
            bytes = [
                format!("#!{LEGACY_PLACEHOLDER}/bin/python").into_bytes(),
                rest,
            ]
            .concat();
        }
        let path = root.join(&target);
        write_with_mode(&path, &bytes, modes.get(entry).copied())?;
        let rel_to_site = relative_to_site(&target, &site);
        record_lines.push(format!(
            "{rel_to_site},sha256={},{}",
            b64_hash(&bytes),
            bytes.len()
        ));
    }
    // INSTALLER says who manages these files; RECORD is rewritten for the final contents.
    let installer = b"conda\n";
    let dist_info_path = format!("{site}/{dist_info}");
    write_with_mode(
        &root.join(&dist_info_path).join("INSTALLER"),
        installer,
        None,
    )?;
    record_lines.push(format!(
        "{dist_info}/INSTALLER,sha256={},{}",
        b64_hash(installer),
        installer.len()
    ));
    record_lines.push(format!("{dist_info}/RECORD,,"));
    record_lines.sort();
    let record_text = record_lines.join("\n") + "\n";
    write_with_mode(
        &root.join(&dist_info_path).join("RECORD"),
        record_text.as_bytes(),
        None,
    )?;

    // Console scripts.
    let mut entry_points = Vec::new();
    if let Some(ep_text) = text("entry_points.txt") {
        entry_points = console_scripts(&ep_text);
    }
    if !pure {
        for ep in &entry_points {
            let script = format!(
                "#!{LEGACY_PLACEHOLDER}/bin/python\n# -*- coding: utf-8 -*-\nimport re\nimport sys\n\nfrom {} import {}\n\nif __name__ == '__main__':\n    sys.argv[0] = re.sub(r'(-script\\.pyw?|\\.exe)?$', '', sys.argv[0])\n    sys.exit({}())\n",
                ep.module,
                ep.function.split('.').next().unwrap_or(&ep.function),
                ep.function
            );
            write_with_mode(
                &root.join("bin").join(&ep.name),
                script.as_bytes(),
                Some(0o755),
            )?;
        }
    }

    let depends =
        depends_from_metadata(&headers, pure, &py_mm, &tags.platform, options).map_err(&bad)?;

    let hash_input = format!("{depends:?}{entry_points:?}");
    let short = &hex::encode(Sha256::digest(hash_input.as_bytes()))[..7];
    let (subdir, noarch, build) = if pure {
        (
            "noarch".to_string(),
            Some("python".to_string()),
            format!("pyh{short}_{}", options.build_number),
        )
    } else {
        let subdir = subdir_for_platform_tag(&tags.platform).ok_or_else(|| {
            bad(format!(
                "platform tag `{}` has no conda subdir this converter knows",
                tags.platform
            ))
        })?;
        (
            subdir.to_string(),
            None,
            format!(
                "py{}h{short}_{}",
                py_mm.replace('.', ""),
                options.build_number
            ),
        )
    };
    let license = header("License-Expression")
        .or_else(|| header("License").filter(|l| l.len() < 80 && !l.contains('\n')));
    let mut about = serde_json::Map::new();
    if let Some(summary) = header("Summary") {
        about.insert("summary".into(), json!(summary));
    }
    if let Some(home) = header("Home-page") {
        about.insert("home".into(), json!(home));
    }
    if let Some(l) = &license {
        about.insert("license".into(), json!(l));
    }
    about.insert("extra".into(), json!({"converted_from": file_name}));
    let pypi_name =
        uv_normalize::PackageName::from_str(&name).map_or(name.to_lowercase(), |n| n.to_string());
    Ok(PackageMeta {
        name: package_name,
        version: version.clone(),
        build,
        build_number: options.build_number,
        subdir,
        noarch,
        depends,
        constrains: Vec::new(),
        track_features: Vec::new(),
        license,
        license_family: None,
        purls: vec![format!("pkg:pypi/{pypi_name}@{version}")],
        timestamp_ms: options.timestamp_ms,
        about: serde_json::Value::Object(about),
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

fn relative_to_site(target: &str, site: &str) -> String {
    target
        .strip_prefix(&format!("{site}/"))
        .map_or_else(|| format!("../../../{target}"), str::to_string)
}

/// Refuses absolute paths and `..` components.
pub fn check_relative(name: &str) -> Result<(), String> {
    let path = Path::new(name);
    if name.starts_with('/') || name.starts_with('\\') || path.is_absolute() {
        return Err("absolute path".into());
    }
    for c in path.components() {
        match c {
            Component::Normal(_) | Component::CurDir => {}
            _ => return Err("path escapes the package (`..` or a root)".into()),
        }
    }
    Ok(())
}

fn check_record(
    record: &str,
    entries: &BTreeMap<String, Vec<u8>>,
    dist_info: &str,
) -> Result<(), String> {
    let mut listed = std::collections::BTreeSet::new();
    for (n, line) in record.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        // RECORD is CSV; paths with commas are quoted.
        let (path, rest) = if let Some(stripped) = line.strip_prefix('"') {
            let end = stripped
                .find("\",")
                .ok_or(format!("RECORD line {}: unterminated quote", n + 1))?;
            (stripped[..end].to_string(), &stripped[end + 2..])
        } else {
            let (p, r) = line
                .split_once(',')
                .ok_or(format!("RECORD line {}: `{line}` has no hash field", n + 1))?;
            (p.to_string(), r)
        };
        check_relative(&path).map_err(|e| format!("RECORD line {}: `{path}`: {e}", n + 1))?;
        let (hash, size) = rest.split_once(',').unwrap_or((rest, ""));
        listed.insert(path.clone());
        let Some(bytes) = entries.get(&path) else {
            return Err(format!("RECORD lists `{path}`, which is not in the wheel"));
        };
        if hash.is_empty() {
            if path != format!("{dist_info}/RECORD") {
                return Err(format!("RECORD gives no hash for `{path}`"));
            }
            continue;
        }
        let Some(digest) = hash.strip_prefix("sha256=") else {
            return Err(format!("RECORD hash for `{path}` is not sha256 (`{hash}`)"));
        };
        if digest != b64_hash(bytes) {
            return Err(format!("`{path}` does not match its RECORD hash"));
        }
        if !size.is_empty() && size.parse::<usize>().ok() != Some(bytes.len()) {
            return Err(format!(
                "`{path}` is {} bytes, RECORD says {size}",
                bytes.len()
            ));
        }
    }
    for name in entries.keys() {
        let signature =
            name.ends_with(".dist-info/RECORD.jws") || name.ends_with(".dist-info/RECORD.p7s");
        if !listed.contains(name) && !signature {
            return Err(format!("`{name}` is in the wheel but not in its RECORD"));
        }
    }
    Ok(())
}

fn b64_hash(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(bytes))
}

fn write_with_mode(path: &Path, bytes: &[u8], mode: Option<u32>) -> Result<(), BuildError> {
    use std::os::unix::fs::PermissionsExt;
    let io = |source| BuildError::Io {
        path: path.to_path_buf(),
        source,
    };
    if let Some(parent) = path.parent() {
        fs_err::create_dir_all(parent).map_err(io)?;
    }
    fs_err::write(path, bytes).map_err(io)?;
    let executable = mode.is_some_and(|m| m & 0o111 != 0);
    let perm = if executable { 0o755 } else { 0o644 };
    fs_err::set_permissions(path, std::fs::Permissions::from_mode(perm)).map_err(io)?;
    Ok(())
}

/// RFC 822-style headers of METADATA / WHEEL (continuation lines folded; the body ignored).
fn parse_headers(text: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for line in text.lines() {
        if line.is_empty() {
            break;
        }
        if line.starts_with(' ') || line.starts_with('\t') {
            if let Some(last) = out.last_mut() {
                last.1.push('\n');
                last.1.push_str(line.trim());
            }
            continue;
        }
        if let Some((k, v)) = line.split_once(':') {
            out.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
    out
}

fn console_scripts(text: &str) -> Vec<EntryPoint> {
    let mut in_section = false;
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_section = line == "[console_scripts]";
            continue;
        }
        if in_section {
            if let Some(ep) = EntryPoint::parse(line) {
                out.push(ep);
            }
        }
    }
    out
}

/// The conda name of a PyPI distribution: the mapped name, or the normalized PyPI name.
pub fn conda_name(pypi: &str, map: &BTreeMap<String, String>) -> String {
    let normalized: String = pypi
        .to_lowercase()
        .chars()
        .map(|c| if c == '_' || c == '.' { '-' } else { c })
        .collect();
    map.get(&normalized).cloned().unwrap_or(normalized)
}

/// PEP 440 specifiers → conda version spec. The operators coincide except `===` (refused
/// upstream) and the separators, which are commas in both.
pub fn pep440_to_conda(spec: &str) -> String {
    spec.split(',')
        .map(|s| s.trim().replace(' ', ""))
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(",")
}

fn version_key(v: &str) -> Vec<u32> {
    v.split('.').filter_map(|p| p.parse().ok()).collect()
}

fn cpython_version(tag: &str) -> Option<String> {
    let digits = tag.strip_prefix("cp")?;
    let (major, minor) = digits.split_at(1);
    if major != "3" || minor.is_empty() || !minor.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    Some(format!("{major}.{minor}"))
}

fn subdir_for_platform_tag(tag: &str) -> Option<&'static str> {
    // A compressed tag set (`manylinux_2_17_x86_64.manylinux2014_x86_64`) shares one arch.
    let first = tag.split('.').next()?;
    if first.starts_with("manylinux")
        || first.starts_with("musllinux")
        || first.starts_with("linux")
    {
        if first.ends_with("x86_64") {
            return Some("linux-64");
        }
        if first.ends_with("aarch64") {
            return Some("linux-aarch64");
        }
        if first.ends_with("ppc64le") {
            return Some("linux-ppc64le");
        }
    } else if first.starts_with("macosx") {
        if first.ends_with("arm64") {
            return Some("osx-arm64");
        }
        if first.ends_with("x86_64") {
            return Some("osx-64");
        }
    } else if first == "win_amd64" {
        return Some("win-64");
    }
    None
}

/// The PEP 508 marker environment of CPython `python` on the platform of a wheel's platform
/// tag (`manylinux_2_17_aarch64`, `macosx_11_0_arm64`, `win_amd64`); Linux x86-64 without one.
fn marker_environment(
    python: &str,
    platform_tag: Option<&str>,
) -> Result<MarkerEnvironment, String> {
    let subdir = platform_tag
        .and_then(subdir_for_platform_tag)
        .unwrap_or("linux-64");
    let (os_name, sys_platform, platform_system, machine) = match subdir {
        "linux-aarch64" => ("posix", "linux", "Linux", "aarch64"),
        "linux-ppc64le" => ("posix", "linux", "Linux", "ppc64le"),
        "osx-arm64" => ("posix", "darwin", "Darwin", "arm64"),
        "osx-64" => ("posix", "darwin", "Darwin", "x86_64"),
        "win-64" => ("nt", "win32", "Windows", "AMD64"),
        _ => ("posix", "linux", "Linux", "x86_64"),
    };
    MarkerEnvironment::try_from(MarkerEnvironmentBuilder {
        implementation_name: "cpython",
        implementation_version: &format!("{python}.0"),
        os_name,
        platform_machine: machine,
        platform_python_implementation: "CPython",
        platform_release: "",
        platform_system,
        platform_version: "",
        python_full_version: &format!("{python}.0"),
        python_version: python,
        sys_platform,
    })
    .map_err(|e| format!("python version `{python}`: {e}"))
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
