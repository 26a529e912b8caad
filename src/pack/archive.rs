//! The pack's file: a `.tar.zst` with a manifest (`scivision-pack.json`), the environment's
//! lock and request, the extracted packages of the package cache (`pkgs/`), the wheel files
//! (`wheels/`) and the model's weight files (`weights/`).

use std::path::{Path, PathBuf};

use super::wheels::wheel_file_name;
use super::{io, PackError};
use crate::env::variants::VARIANTS_FILE;
use crate::env::{EnvInfo, INFO_FILE, LOCK_FILE};
use crate::prefix::cache_dir_name;

const FORMAT: &str = "scivision-pack-1";

/// Writes the pack of the environment at `prefix` to `out` (atomically), with the PyPI half's
/// wheel files (see [`super::wheel_files`]) and the model's weight files (`weights`: paths
/// relative to `weights_root`, each listed with its sha256 in the manifest).
pub fn write(
    prefix: &Path,
    records: &[rattler_conda_types::RepoDataRecord],
    package_cache: &Path,
    wheels: &[PathBuf],
    (weights_root, weights): (&Path, &[PathBuf]),
    with_variants: bool,
    out: &Path,
) -> Result<u64, PackError> {
    let weight_list = weight_manifest(weights_root, weights)?;
    let tmp = crate::atomic::temp_beside(out).map_err(io(out))?;
    {
        let encoder = zstd::Encoder::new(tmp.as_file(), 3)
            .map_err(io(out))?
            .auto_finish();
        let mut tar = tar::Builder::new(encoder);
        tar.follow_symlinks(false);
        let manifest = serde_json::json!({
            "format": FORMAT,
            "packages": records.iter().map(cache_dir_name).collect::<Vec<_>>(),
            "weights": weight_list,
        });
        append_bytes(
            &mut tar,
            "scivision-pack.json",
            manifest.to_string().as_bytes(),
            out,
        )?;
        let mut files = vec![LOCK_FILE, INFO_FILE];
        if with_variants {
            // Every variant's packages are in the pack: the unpacking host chooses among them.
            files.push(VARIANTS_FILE);
        }
        for file in files {
            tar.append_path_with_name(prefix.join(file), file)
                .map_err(io(&prefix.join(file)))?;
        }
        append_packages(&mut tar, records, package_cache)?;
        for wheel in wheels {
            let name = wheel
                .file_name()
                .map(|n| n.to_string_lossy().to_string())
                .unwrap_or_default();
            tar.append_path_with_name(wheel, format!("wheels/{name}"))
                .map_err(io(wheel))?;
        }
        for rel in weights {
            let path = weights_root.join(rel);
            tar.append_path_with_name(&path, Path::new("weights").join(rel))
                .map_err(io(&path))?;
        }
        tar.finish().map_err(io(out))?;
    }
    crate::atomic::persist(tmp, out).map_err(io(out))?;
    Ok(fs_err::metadata(out).map_err(io(out))?.len())
}

/// The manifest's weight entries: each file's path and sha256.
fn weight_manifest(
    weights_root: &Path,
    weights: &[PathBuf],
) -> Result<Vec<serde_json::Value>, PackError> {
    let mut weight_list = Vec::new();
    for rel in weights {
        let path = weights_root.join(rel);
        let sha256 =
            crate::weights::hash_file(&path, crate::weights::Algorithm::Sha256).map_err(|e| {
                PackError::Io {
                    path: path.clone(),
                    source: std::io::Error::other(e.to_string()),
                }
            })?;
        weight_list.push(serde_json::json!({"path": rel, "sha256": sha256.hex}));
    }
    Ok(weight_list)
}

/// Each record's extracted folder of the package cache, with rattler's sidecar.
fn append_packages<W: std::io::Write>(
    tar: &mut tar::Builder<W>,
    records: &[rattler_conda_types::RepoDataRecord],
    package_cache: &Path,
) -> Result<(), PackError> {
    for r in records {
        let name = cache_dir_name(r);
        let dir = package_cache.join(&name);
        if !dir.join("info/index.json").is_file() {
            return Err(PackError::NotCached {
                package: name,
                cache: package_cache.to_path_buf(),
            });
        }
        tar.append_dir_all(format!("pkgs/{name}"), &dir)
            .map_err(io(&dir))?;
        // rattler's sidecar: cache revision and the archive's sha256, which the installer
        // checks before it trusts the folder.
        let sidecar = package_cache.join(format!("{name}.lock"));
        if sidecar.is_file() {
            tar.append_path_with_name(&sidecar, format!("pkgs/{name}.lock"))
                .map_err(io(&sidecar))?;
        }
    }
    Ok(())
}

fn append_bytes<W: std::io::Write>(
    tar: &mut tar::Builder<W>,
    name: &str,
    bytes: &[u8],
    out: &Path,
) -> Result<(), PackError> {
    let mut header = tar::Header::new_gnu();
    header.set_size(bytes.len() as u64);
    header.set_mode(0o644);
    header.set_cksum();
    tar.append_data(&mut header, name, bytes).map_err(io(out))
}

/// What an unpacked pack holds.
#[derive(Debug)]
pub struct Unpacked {
    /// The lock file (inside `dir`).
    pub lock: PathBuf,
    /// The variant lock, when the pack carries several variants (inside `dir`).
    pub variants: Option<PathBuf>,
    /// The environment's request.
    pub info: EnvInfo,
    /// The folder everything was extracted to (removed on drop).
    pub dir: tempfile::TempDir,
    /// Where the pack's wheel files were put.
    pub wheel_dir: PathBuf,
    /// The weight files restored, relative to the weights folder.
    pub weights: Vec<PathBuf>,
}

impl Unpacked {
    /// The packed lock for `platform`, its PyPI half pointing at the unpacked wheel files (same
    /// sha256, checked when they are installed) instead of where they were downloaded from.
    pub fn locked(
        &self,
        platform: rattler_conda_types::Subdir,
    ) -> Result<crate::lock::Locked, crate::lock::LockError> {
        let mut locked = crate::lock::read(&self.lock, platform)?;
        self.local_wheels(&mut locked.pypi);
        Ok(locked)
    }

    /// Points a PyPI half at the unpacked wheel files (same sha256, checked when they are
    /// installed) instead of where they were downloaded from.
    pub fn local_wheels(&self, pypi: &mut crate::lock::PypiHalf) {
        for w in &mut pypi.packages {
            let local = url::Url::parse(&w.location)
                .ok()
                .and_then(|u| wheel_file_name(&u))
                .map(|n| self.wheel_dir.join(n))
                .filter(|p| p.is_file())
                .and_then(|p| url::Url::from_file_path(p).ok());
            if let Some(u) = local {
                w.location = u.to_string();
            }
        }
    }
}

/// Extracts `file`, seeds `package_cache` with its packages (existing entries are kept),
/// `wheel_dir` with its wheel files and `weights_root` with its weight files (each checked
/// against the manifest's sha256 first).
pub fn extract(
    file: &Path,
    package_cache: &Path,
    wheel_dir: &Path,
    (weights_root, name): (&Path, Option<&str>),
) -> Result<Unpacked, PackError> {
    let not_a_pack = |cause: crate::message::Cause| PackError::NotAPack {
        path: file.to_path_buf(),
        source: cause,
    };
    let dir = tempfile::tempdir().map_err(io(file))?;
    let reader = fs_err::File::open(file).map_err(io(file))?;
    let decoder = zstd::Decoder::new(reader).map_err(|e| not_a_pack(e.into()))?;
    let mut archive = tar::Archive::new(decoder);
    // `unpack` refuses entries that would land outside `dir` (`..`, absolute paths).
    archive
        .unpack(dir.path())
        .map_err(|e| not_a_pack(e.into()))?;
    let manifest: serde_json::Value =
        fs_err::read_to_string(dir.path().join("scivision-pack.json"))
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok())
            .ok_or_else(|| not_a_pack("no scivision-pack.json".into()))?;
    if manifest.get("format").and_then(|f| f.as_str()) != Some(FORMAT) {
        return Err(not_a_pack(
            format!("unknown format {}", manifest["format"]).into(),
        ));
    }
    let info: EnvInfo = fs_err::read_to_string(dir.path().join(INFO_FILE))
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .ok_or_else(|| not_a_pack(format!("no valid {INFO_FILE}").into()))?;
    seed_packages(dir.path(), package_cache)?;
    seed_wheels(&dir.path().join("wheels"), wheel_dir)?;
    // A model's work folder follows the environment's name when it is unpacked under another.
    let work = |model: &str| Path::new("work").join(crate::names::dir_name(model));
    let (from, to) = (work(&info.model), work(name.unwrap_or(&info.model)));
    let weights = restore_weights(&manifest, dir.path(), weights_root, file, |rel| {
        rel.strip_prefix(&from)
            .map_or_else(|_| rel.to_path_buf(), |rest| to.join(rest))
    })?;
    let variants = Some(dir.path().join(VARIANTS_FILE)).filter(|p| p.is_file());
    Ok(Unpacked {
        lock: dir.path().join(LOCK_FILE),
        variants,
        info,
        dir,
        wheel_dir: wheel_dir.to_path_buf(),
        weights,
    })
}

/// Moves the extracted pack's packages into `package_cache` (existing entries are kept), each
/// with rattler's sidecar.
fn seed_packages(extracted: &Path, package_cache: &Path) -> Result<(), PackError> {
    fs_err::create_dir_all(package_cache).map_err(io(package_cache))?;
    for entry in fs_err::read_dir(extracted.join("pkgs"))
        .map_err(io(extracted))?
        .filter_map(Result::ok)
    {
        let target = package_cache.join(entry.file_name());
        if !entry.path().is_dir() || target.join("info/index.json").is_file() {
            continue;
        }
        // Move whole folders into the cache; a half-moved entry has no info/index.json yet.
        let staging = package_cache.join(format!(
            ".unpack-{}-{}",
            std::process::id(),
            entry.file_name().to_string_lossy()
        ));
        crate::build::source::copy_dir(&entry.path(), &staging).map_err(|e| PackError::Io {
            path: staging.clone(),
            source: std::io::Error::other(e.to_string()),
        })?;
        fs_err::rename(&staging, &target).map_err(io(&target))?;
        let sidecar = format!("{}.lock", entry.file_name().to_string_lossy());
        let packed = extracted.join("pkgs").join(&sidecar);
        if packed.is_file() {
            crate::atomic::copy(&packed, &package_cache.join(&sidecar)).map_err(io(&packed))?;
        }
    }
    Ok(())
}

/// Copies the extracted pack's wheel files (`wheels`, if any) into `wheel_dir`.
fn seed_wheels(wheels: &Path, wheel_dir: &Path) -> Result<(), PackError> {
    if !wheels.is_dir() {
        return Ok(());
    }
    fs_err::create_dir_all(wheel_dir).map_err(io(wheel_dir))?;
    for entry in fs_err::read_dir(wheels)
        .map_err(io(wheels))?
        .filter_map(Result::ok)
    {
        crate::atomic::copy(&entry.path(), &wheel_dir.join(entry.file_name()))
            .map_err(io(&entry.path()))?;
    }
    Ok(())
}

/// Copies the manifest's weight files from the extracted pack into `root`, each only after its
/// sha256 matched the manifest's.
fn restore_weights(
    manifest: &serde_json::Value,
    extracted: &Path,
    root: &Path,
    file: &Path,
    place: impl Fn(&Path) -> PathBuf,
) -> Result<Vec<PathBuf>, PackError> {
    let not_a_pack = |cause: crate::message::Cause| PackError::NotAPack {
        path: file.to_path_buf(),
        source: cause,
    };
    let mut out = Vec::new();
    for w in manifest
        .get("weights")
        .and_then(|w| w.as_array())
        .into_iter()
        .flatten()
    {
        let (Some(rel), Some(sha256)) = (
            w.get("path").and_then(|p| p.as_str()),
            w.get("sha256").and_then(|p| p.as_str()),
        ) else {
            return Err(not_a_pack(
                format!("a weights entry without path or sha256: {w}").into(),
            ));
        };
        let rel = PathBuf::from(rel);
        if !rel
            .components()
            .all(|c| matches!(c, std::path::Component::Normal(_)))
        {
            return Err(not_a_pack(
                format!("weight path {} leaves its folder", rel.display()).into(),
            ));
        }
        let packed = extracted.join("weights").join(&rel);
        let actual = crate::weights::hash_file(&packed, crate::weights::Algorithm::Sha256)
            .map_err(|e| not_a_pack(e.into()))?;
        if actual.hex != sha256 {
            return Err(not_a_pack(
                format!(
                    "weight file {} has sha256 {}, the manifest says {sha256}",
                    rel.display(),
                    actual.hex
                )
                .into(),
            ));
        }
        let placed = place(&rel);
        let target = root.join(&placed);
        if let Some(parent) = target.parent() {
            fs_err::create_dir_all(parent).map_err(io(parent))?;
        }
        crate::atomic::copy(&packed, &target).map_err(io(&target))?;
        out.push(placed);
    }
    Ok(out)
}
