//! Writing `.conda` archives: the `info/` metadata and the deterministic archive itself.
//!
//! Given a directory laid out as the package's files (relative to the prefix), this module
//! writes `info/index.json`, `paths.json`, `about.json`, `link.json`, the rendered recipe and
//! its tests, then packs everything as a `.conda`. Same inputs give a byte-identical file:
//! paths are sorted, archive timestamps fixed, JSON keys in a fixed order.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use rattler_conda_types::compression_level::CompressionLevel;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

/// Writing a package failed.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum PackageError {
    /// File system trouble.
    #[error("I/O error at {}", path.display())]
    Io {
        /// The path involved.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
}

/// Metadata of the package to write.
#[derive(Debug, Clone, Default)]
pub struct PackageMeta {
    /// Conda package name.
    pub name: String,
    /// Version.
    pub version: String,
    /// Build string.
    pub build: String,
    /// Build number.
    pub build_number: u64,
    /// `linux-64`, `noarch`, …
    pub subdir: String,
    /// `python`, `generic` or none.
    pub noarch: Option<String>,
    /// Run dependencies (match specs).
    pub depends: Vec<String>,
    /// Run constraints.
    pub constrains: Vec<String>,
    /// Track features (down-weighting).
    pub track_features: Vec<String>,
    /// SPDX license.
    pub license: Option<String>,
    /// License family.
    pub license_family: Option<String>,
    /// Package URLs (`pkg:pypi/name@version`) describing the PyPI identity.
    pub purls: Vec<String>,
    /// Milliseconds since the epoch, when set (from `SOURCE_DATE_EPOCH`).
    pub timestamp_ms: Option<u64>,
    /// `about.json` contents.
    pub about: Value,
    /// Entry points for `noarch: python` (`name = module:func`).
    pub entry_points: Vec<String>,
    /// The rendered recipe, stored as `info/recipe/recipe.yaml`.
    pub rendered_recipe: Option<String>,
    /// The tests, stored as `info/tests/tests.yaml`.
    pub tests: Option<String>,
    /// Files stored under `info/` (relative path → source file): licenses, test files.
    pub info_files: BTreeMap<String, PathBuf>,
    /// The prefix the files were built in; files holding it are recorded for rewriting.
    pub placeholder: Option<String>,
}

impl PackageMeta {
    /// `name-version-build`
    pub fn file_stem(&self) -> String {
        format!("{}-{}-{}", self.name, self.version, self.build)
    }

    /// `name-version-build.conda`
    pub fn file_name(&self) -> String {
        format!("{}.conda", self.file_stem())
    }
}

/// Writes the `info/` files into `root` and packs `root` as `out_dir/<name>.conda`.
/// `root` must hold only the package's files; it is changed (an `info/` folder is added).
pub fn write_package(
    root: &Path,
    meta: &PackageMeta,
    out_dir: &Path,
) -> Result<PathBuf, PackageError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source: std::io::Error| PackageError::Io { path, source }
    };
    if let Some(ph) = meta.placeholder.as_deref() {
        drop_stale_bytecode(root, ph)?;
    }
    let files = collect_files(root, false)?;
    let paths = paths_json(root, &files, meta.placeholder.as_deref())?;
    let info = root.join("info");
    fs_err::create_dir_all(&info).map_err(io(&info))?;
    write_json(&info.join("index.json"), &index_json(meta))?;
    write_json(&info.join("paths.json"), &paths)?;
    write_json(&info.join("about.json"), &meta.about)?;
    let files_list: String = files
        .iter()
        .map(|f| format!("{}\n", slash_path(f)))
        .collect();
    write_file(&info.join("files"), files_list.as_bytes())?;
    if meta.noarch.as_deref() == Some("python") {
        let link = json!({
            "noarch": {"type": "python", "entry_points": meta.entry_points},
            "package_metadata_version": 1,
        });
        write_json(&info.join("link.json"), &link)?;
    }
    if let Some(recipe) = &meta.rendered_recipe {
        write_file(&info.join("recipe").join("recipe.yaml"), recipe.as_bytes())?;
    }
    if let Some(tests) = &meta.tests {
        write_file(&info.join("tests").join("tests.yaml"), tests.as_bytes())?;
    }
    for (rel, src) in &meta.info_files {
        let bytes = fs_err::read(src).map_err(io(src))?;
        write_file(&info.join(rel), &bytes)?;
    }
    // The writer wants paths under `root`, and sorts them itself (info/ last).
    let all: Vec<PathBuf> = collect_files(root, true)?
        .into_iter()
        .map(|p| root.join(p))
        .collect();
    let target = out_dir.join(meta.file_name());
    let tmp = crate::atomic::temp_beside(&target).map_err(io(out_dir))?;
    let timestamp = jiff_timestamp(meta.timestamp_ms);
    rattler_package_streaming::write::write_conda_package(
        tmp.as_file(),
        root,
        &all,
        CompressionLevel::Default,
        None,
        &meta.file_stem(),
        Some(&timestamp),
        None,
    )
    .map_err(io(&target))?;
    crate::atomic::persist(tmp, &target).map_err(io(&target))?;
    Ok(target)
}

fn jiff_timestamp(ms: Option<u64>) -> jiff::Timestamp {
    // The zip format cannot hold dates before 1980; that is the floor for "no timestamp".
    let floor = 315_532_800;
    let secs = ms.map_or(floor, |ms| {
        i64::try_from(ms / 1000).unwrap_or(floor).max(floor)
    });
    jiff::Timestamp::from_second(secs).unwrap_or(jiff::Timestamp::UNIX_EPOCH)
}

fn index_json(meta: &PackageMeta) -> Value {
    // Keys in alphabetical order, as conda-build and rattler-build write them.
    let mut map = serde_json::Map::new();
    if meta.subdir != "noarch" {
        if let Some((platform, arch)) = meta.subdir.split_once('-') {
            let arch = match arch {
                "64" => "x86_64",
                "32" => "x86",
                other => other,
            };
            map.insert("arch".into(), json!(arch));
            map.insert("platform".into(), json!(platform));
        }
    }
    map.insert("build".into(), json!(meta.build));
    map.insert("build_number".into(), json!(meta.build_number));
    if !meta.constrains.is_empty() {
        map.insert("constrains".into(), json!(meta.constrains));
    }
    map.insert("depends".into(), json!(meta.depends));
    if let Some(license) = &meta.license {
        map.insert("license".into(), json!(license));
    }
    if let Some(family) = &meta.license_family {
        map.insert("license_family".into(), json!(family));
    }
    map.insert("name".into(), json!(meta.name));
    if let Some(noarch) = &meta.noarch {
        map.insert("noarch".into(), json!(noarch));
    }
    if !meta.purls.is_empty() {
        map.insert("purls".into(), json!(meta.purls));
    }
    map.insert("subdir".into(), json!(meta.subdir));
    if let Some(ts) = meta.timestamp_ms {
        map.insert("timestamp".into(), json!(ts));
    }
    if !meta.track_features.is_empty() {
        map.insert(
            "track_features".into(),
            json!(meta.track_features.join(",")),
        );
    }
    map.insert("version".into(), json!(meta.version));
    let mut sorted: Vec<(String, Value)> = map.into_iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    Value::Object(sorted.into_iter().collect())
}

/// Removes the unchecked-hash `.pyc` of every module whose source holds the placeholder. The
/// installer rewrites the source to the real prefix, but python never compares an
/// unchecked-hash `.pyc` with its source, so it would go on serving the placeholder
/// (`_sysconfigdata_*`: INCLUDEPY, LIBDIR, the compiler flags). Timestamp and checked-hash
/// `.pyc` notice the rewrite themselves and stay.
fn drop_stale_bytecode(root: &Path, placeholder: &str) -> Result<(), PackageError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source: std::io::Error| PackageError::Io { path, source }
    };
    for rel in collect_files(root, false)? {
        let source = root.join(&rel);
        if rel.extension().is_none_or(|x| x != "py") || source.is_symlink() {
            continue;
        }
        let bytes = fs_err::read(&source).map_err(io(&source))?;
        if !contains(&bytes, placeholder.as_bytes()) {
            continue;
        }
        let (Some(dir), Some(stem)) = (source.parent(), source.file_stem()) else {
            continue;
        };
        let cache = dir.join("__pycache__");
        let Ok(entries) = fs_err::read_dir(&cache) else {
            continue;
        };
        let prefix = format!("{}.", stem.to_string_lossy());
        for entry in entries.filter_map(Result::ok) {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with(&prefix)
                && name.ends_with(".pyc")
                && is_unchecked_hash_pyc(&entry.path())
            {
                fs_err::remove_file(entry.path()).map_err(io(&entry.path()))?;
            }
        }
    }
    Ok(())
}

/// PEP 552: the 32-bit flags after the magic number; bit 0 set = hash-based, bit 1 = checked.
fn is_unchecked_hash_pyc(path: &Path) -> bool {
    use std::io::Read as _;
    let mut header = [0u8; 8];
    fs_err::File::open(path)
        .and_then(|mut f| f.read_exact(&mut header))
        .is_ok_and(|()| {
            u32::from_le_bytes([header[4], header[5], header[6], header[7]]) & 0b11 == 0b01
        })
}

/// Every file and symlink under `root`, relative, sorted; `info/` only when asked for.
pub fn collect_files(root: &Path, with_info: bool) -> Result<Vec<PathBuf>, PackageError> {
    let mut out = Vec::new();
    for entry in walkdir::WalkDir::new(root)
        .follow_links(false)
        .sort_by_file_name()
    {
        let entry = entry.map_err(|e| PackageError::Io {
            path: root.to_path_buf(),
            source: e.into(),
        })?;
        if entry.file_type().is_dir() {
            continue;
        }
        let rel = entry
            .path()
            .strip_prefix(root)
            .map_err(|_| PackageError::Io {
                path: entry.path().to_path_buf(),
                source: std::io::Error::other("path outside the package root"),
            })?
            .to_path_buf();
        if (!with_info && rel.starts_with("info"))
            || rel
                .file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with(".tmp"))
        {
            continue;
        }
        out.push(rel);
    }
    out.sort();
    Ok(out)
}

fn slash_path(p: &Path) -> String {
    p.to_string_lossy().replace('\\', "/")
}

fn paths_json(
    root: &Path,
    files: &[PathBuf],
    placeholder: Option<&str>,
) -> Result<Value, PackageError> {
    let mut entries = Vec::with_capacity(files.len());
    for rel in files {
        let full = root.join(rel);
        let meta = fs_err::symlink_metadata(&full).map_err(|source| PackageError::Io {
            path: full.clone(),
            source,
        })?;
        let mut entry = serde_json::Map::new();
        entry.insert("_path".into(), json!(slash_path(rel)));
        if meta.file_type().is_symlink() {
            entry.insert("path_type".into(), json!("softlink"));
            // The hash of what the link points to, when it points inside the package.
            if let Ok(bytes) = fs_err::read(&full) {
                entry.insert("sha256".into(), json!(hex::encode(Sha256::digest(&bytes))));
                entry.insert("size_in_bytes".into(), json!(bytes.len()));
            }
        } else {
            let bytes = fs_err::read(&full).map_err(|source| PackageError::Io {
                path: full.clone(),
                source,
            })?;
            entry.insert("path_type".into(), json!("hardlink"));
            // Bytecode holds the build prefix only as co_filename (tracebacks); rewriting it in
            // place would corrupt the marshalled strings, so .pyc files are never relocated.
            let bytecode = rel.extension().is_some_and(|x| x == "pyc");
            if let Some(ph) = placeholder.filter(|_| !bytecode) {
                if contains(&bytes, ph.as_bytes()) {
                    let mode = if is_binary(&bytes) { "binary" } else { "text" };
                    entry.insert("file_mode".into(), json!(mode));
                    entry.insert("prefix_placeholder".into(), json!(ph));
                }
            }
            entry.insert("sha256".into(), json!(hex::encode(Sha256::digest(&bytes))));
            entry.insert("size_in_bytes".into(), json!(bytes.len()));
        }
        entries.push(Value::Object(entry));
    }
    Ok(json!({"paths": entries, "paths_version": 1}))
}

/// A file is binary when it holds a NUL byte (conda-build's rule).
fn is_binary(bytes: &[u8]) -> bool {
    bytes.contains(&0)
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

fn write_json(path: &Path, value: &Value) -> Result<(), PackageError> {
    let mut text = serde_json::to_string_pretty(value).map_err(|e| PackageError::Io {
        path: path.to_path_buf(),
        source: e.into(),
    })?;
    text.push('\n');
    write_file(path, text.as_bytes())
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<(), PackageError> {
    if let Some(parent) = path.parent() {
        fs_err::create_dir_all(parent).map_err(|source| PackageError::Io {
            path: parent.to_path_buf(),
            source,
        })?;
    }
    fs_err::write(path, bytes).map_err(|source| PackageError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// sha256 of a file, streamed.
pub fn sha256_file(path: &Path) -> Result<String, std::io::Error> {
    let mut file = fs_err::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex::encode(hasher.finalize()))
}

/// A short hash for build strings.
pub fn short_hash(input: &str) -> String {
    hex::encode(Sha256::digest(input.as_bytes()))[..7].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rattler_conda_types::package::{IndexJson, PackageFile, PathsJson};

    fn meta() -> PackageMeta {
        PackageMeta {
            name: "demo".into(),
            version: "1.0".into(),
            build: "h123_0".into(),
            subdir: "linux-64".into(),
            depends: vec!["python >=3.11".into()],
            about: json!({"summary": "demo"}),
            placeholder: Some("/ph/placehold_placehold".into()),
            ..Default::default()
        }
    }

    fn tree(dir: &Path) {
        fs_err::create_dir_all(dir.join("bin")).unwrap();
        fs_err::write(
            dir.join("bin/tool"),
            "#!/ph/placehold_placehold/bin/python\n",
        )
        .unwrap();
        fs_err::write(dir.join("bin/blob"), b"\0\x01/ph/placehold_placehold/lib\0").unwrap();
        fs_err::write(dir.join("plain.txt"), "hello").unwrap();
        fs_err::write(
            dir.join("mod.pyc"),
            b"\xa7\r\r\n\x03\0\0\0/ph/placehold_placehold/lib/mod.py",
        )
        .unwrap();
        std::os::unix::fs::symlink("plain.txt", dir.join("link.txt")).unwrap();
    }

    #[test]
    fn writes_valid_metadata_and_records_placeholders() {
        let work = tempfile::tempdir().unwrap();
        let root = work.path().join("root");
        tree(&root);
        let out = work.path().join("out");
        let file = write_package(&root, &meta(), &out).unwrap();
        let extracted = work.path().join("x");
        rattler_package_streaming::fs::extract(&file, &extracted).unwrap();
        let index = IndexJson::from_package_directory(&extracted).unwrap();
        assert_eq!(index.name.as_normalized(), "demo");
        assert_eq!(index.subdir.as_deref(), Some("linux-64"));
        let paths = PathsJson::from_package_directory(&extracted).unwrap();
        let by_path: BTreeMap<_, _> = paths
            .paths
            .iter()
            .map(|p| (p.relative_path.to_string_lossy().to_string(), p))
            .collect();
        let tool = by_path["bin/tool"].prefix_placeholder.as_ref().unwrap();
        assert_eq!(tool.file_mode, rattler_conda_types::package::FileMode::Text);
        let blob = by_path["bin/blob"].prefix_placeholder.as_ref().unwrap();
        assert_eq!(
            blob.file_mode,
            rattler_conda_types::package::FileMode::Binary
        );
        assert!(by_path["plain.txt"].prefix_placeholder.is_none());
        // Bytecode keeps its build path: relocating marshalled strings would corrupt it.
        assert!(by_path["mod.pyc"].prefix_placeholder.is_none());
        assert_eq!(
            by_path["link.txt"].path_type,
            rattler_conda_types::package::PathType::SoftLink
        );
    }

    #[test]
    fn same_inputs_give_identical_bytes() {
        let work = tempfile::tempdir().unwrap();
        let mut digests = Vec::new();
        for i in 0..2 {
            let root = work.path().join(format!("root{i}"));
            tree(&root);
            let file = write_package(&root, &meta(), &work.path().join(format!("out{i}"))).unwrap();
            digests.push(sha256_file(&file).unwrap());
        }
        assert_eq!(digests[0], digests[1]);
    }

    #[test]
    fn unchecked_bytecode_of_a_relocated_source_is_not_shipped() {
        let work = tempfile::tempdir().unwrap();
        let root = work.path().join("root");
        let cache = root.join("lib/__pycache__");
        fs_err::create_dir_all(&cache).unwrap();
        let ph = "/ph/placehold_placehold";
        fs_err::write(
            root.join("lib/_sysconfigdata.py"),
            format!("PREFIX = '{ph}'\n"),
        )
        .unwrap();
        fs_err::write(root.join("lib/plain.py"), "X = 1\n").unwrap();
        fs_err::write(root.join("lib/checked.py"), format!("P = '{ph}'\n")).unwrap();
        // magic, flags (1 = unchecked hash, 3 = checked hash, 0 = timestamp), 8 more bytes.
        let pyc = |flags: u8| [&b"\xa7\r\r\n"[..], &[flags, 0, 0, 0], &[0; 8]].concat();
        fs_err::write(cache.join("_sysconfigdata.cpython-311.pyc"), pyc(1)).unwrap();
        fs_err::write(cache.join("plain.cpython-311.pyc"), pyc(1)).unwrap();
        fs_err::write(cache.join("checked.cpython-311.pyc"), pyc(3)).unwrap();
        let file = write_package(&root, &meta(), &work.path().join("out")).unwrap();
        let extracted = work.path().join("x");
        rattler_package_streaming::fs::extract(&file, &extracted).unwrap();
        let paths = PathsJson::from_package_directory(&extracted).unwrap();
        let names: Vec<String> = paths
            .paths
            .iter()
            .map(|p| p.relative_path.to_string_lossy().to_string())
            .collect();
        assert!(
            names.contains(&"lib/_sysconfigdata.py".to_string()),
            "{names:?}"
        );
        assert!(
            !names.contains(&"lib/__pycache__/_sysconfigdata.cpython-311.pyc".to_string()),
            "{names:?}"
        );
        assert!(
            names.contains(&"lib/__pycache__/plain.cpython-311.pyc".to_string()),
            "{names:?}"
        );
        assert!(
            names.contains(&"lib/__pycache__/checked.cpython-311.pyc".to_string()),
            "{names:?}"
        );
    }
}
