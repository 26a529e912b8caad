//! One recipe variant from sources to a tested `.conda` in the channel.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use rattler_conda_types::{RepoDataRecord, Subdir};
use sha2::{Digest, Sha256};

use super::package::{self, PackageMeta};
use super::source::{self, Resolved, SourceCache};
use super::wheel::{self, ConvertOptions, EntryPoint};
use super::{about_json, is_noarch_python, python_version_of, script};
use super::{BuildConfig, BuildError, BuildOutcome, BuildReporter};
use crate::recipe::{RenderedRecipe, TestSpec};
use crate::{channel, prefix, solve};

/// The version of the build logic, part of every input hash: bump it when the produced files
/// would change for the same recipe.
const BUILD_LOGIC_VERSION: &str = "scivision-build-4";

pub(super) async fn build_one(
    r: &RenderedRecipe,
    config: &BuildConfig,
    reporter: &dyn BuildReporter,
) -> Result<BuildOutcome, BuildError> {
    let started = Instant::now();
    let name = r.display_name();
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source: std::io::Error| BuildError::Io { path, source }
    };
    let client = prefix::http_client();
    let cache = SourceCache::new(config.cache_dir.join("sources"));

    reporter.phase(&name, "source");
    let mut resolved = Vec::new();
    for s in &r.recipe.source {
        resolved.push((
            s.target_directory.clone(),
            source::resolve(&cache, &client, &r.dir, s).await?,
        ));
    }

    // The host environment: solved now, because its exact records are part of the input hash.
    let subdir = if r.recipe.build.noarch.is_some() {
        Subdir::NoArch
    } else {
        config.target_platform
    };
    let mut channels = vec![config.output_dir.display().to_string()];
    channels.extend(config.channels.iter().cloned());
    let env_error = |which: &'static str| {
        let package = name.clone();
        move |e: Box<dyn std::error::Error + Send + Sync>| BuildError::Environment {
            package,
            which,
            source: e,
        }
    };
    reporter.phase(&name, "solve host");
    let host_records = solve_env(
        &channels,
        config.target_platform,
        &r.recipe.requirements.host,
    )
    .await
    .map_err(env_error("host"))?;
    let build_records = solve_env(
        &channels,
        config.target_platform,
        &r.recipe.requirements.build,
    )
    .await
    .map_err(env_error("build"))?;

    let input_hash = input_hash(r, config, &resolved, &host_records, &build_records)?;
    // The hash is the build's input hash: other inputs never reuse a file name, so no client or
    // mirror holding an older file under the same name is ever served different bytes.
    let build_string = r.recipe.build.string.clone().unwrap_or_else(|| {
        let prefix = if is_noarch_python(r) { "pyh" } else { "h" };
        format!("{prefix}{}_{}", &input_hash[..7], r.recipe.build.number)
    });

    // One build of these inputs at a time: a second process waits, then finds it cached.
    let cache_dir = config.cache_dir.join("builds").join(&input_hash);
    let lock_path = config
        .cache_dir
        .join("builds")
        .join(format!("{input_hash}.lock"));
    let _build_lock = crate::atomic::lock_async(&lock_path)
        .await
        .map_err(io(&lock_path))?;
    // Unchanged: the channel or the build cache already has this exact build.
    if !config.force {
        if let Some(file) = cached_artifact(&cache_dir)? {
            let sub = file
                .parent()
                .and_then(Path::file_name)
                .map(|s| s.to_string_lossy().to_string())
                .unwrap_or_default();
            let file_name = file
                .file_name()
                .map(|s| s.to_string_lossy().to_string())
                .unwrap_or_default();
            let target = config.output_dir.join(&sub).join(&file_name);
            // Unchanged only when the channel also lists it and records it as this recipe's
            // output: a build killed after placing the file left it unlisted or unrecorded.
            let status = if target.is_file()
                && same_bytes(&target, &file)
                && channel::lists(&config.output_dir, &sub, &file_name)
                && is_recorded_output(r, config, &target)
            {
                "unchanged"
            } else {
                let _channel = channel::lock(&config.output_dir).await?;
                let same = target.is_file() && same_bytes(&target, &file);
                let replaced = target.exists() && !same;
                if !same {
                    place(&file, &target)?;
                }
                retire_previous_output(r, config, &target)?;
                channel::index_locked(&config.output_dir, Some(&sub), replaced).await?;
                "cached"
            };
            return Ok(BuildOutcome {
                package: file_name.trim_end_matches(".conda").to_string(),
                file: format!("{sub}/{file_name}"),
                status,
                seconds: started.elapsed().as_secs_f64(),
            });
        }
    }

    let work = config.cache_dir.join("work").join(format!(
        "{}-{}",
        r.recipe.package.name,
        &input_hash[..12]
    ));
    if work.exists() {
        fs_err::remove_dir_all(&work).map_err(io(&work))?;
    }
    let src_dir = work.join("work");
    let tmp_dir = work.join("tmp");
    let host_prefix = script::placeholder_prefix(&work);
    let build_prefix = work.join("build_env");
    let root = work.join("pkg");
    for d in [&src_dir, &tmp_dir, &root] {
        fs_err::create_dir_all(d).map_err(io(d))?;
    }
    for (target, res) in &resolved {
        let dest = target
            .as_ref()
            .map_or_else(|| src_dir.clone(), |t| src_dir.join(t));
        source::lay_out(res, &dest)?;
    }

    reporter.phase(&name, "install host");
    prefix::install(
        &host_prefix,
        host_records.clone(),
        &config.package_cache_dir,
        &client,
    )
    .await
    .map_err(|e| env_error("host")(Box::new(e)))?;
    prefix::install(
        &build_prefix,
        build_records.clone(),
        &config.package_cache_dir,
        &client,
    )
    .await
    .map_err(|e| env_error("build")(Box::new(e)))?;

    let python_version = python_version_of(&host_records);
    let wheel_source = source::wheel_of(resolved.iter().map(|(_, res)| res));
    let mut meta;
    if r.recipe.build.script.is_empty() && r.recipe.source.is_empty() {
        // Nothing to build: a metapackage (python_abi, mutexes) carries only its metadata.
        meta = recipe_meta(r, &build_string, subdir);
    } else if !r.recipe.build.script.is_empty() {
        reporter.phase(&name, "script");
        let before = script::snapshot(&host_prefix);
        script::run(&script::ScriptRun {
            script: &r.recipe.build.script,
            recipe_dir: &r.dir,
            src_dir: &src_dir,
            prefix: &host_prefix,
            build_prefix: &build_prefix,
            tmp_dir: &tmp_dir,
            name: &r.recipe.package.name,
            version: &r.recipe.package.version,
            build_number: r.recipe.build.number,
            build_string: &build_string,
            target_platform: config.target_platform.as_str(),
            python_version: python_version.clone(),
            log: &work.join("build.log"),
            extra_env: &r.variant,
        })
        .await?;
        if script::collect_new_files(&host_prefix, &before, &root)? == 0 {
            return Err(BuildError::EmptyPackage {
                package: name.clone(),
            });
        }
        if is_noarch_python(r) {
            relocate_noarch_python(
                &root,
                python_version.as_deref(),
                &r.recipe.build.python.entry_points,
            )?;
        } else {
            write_entry_point_scripts(&root, &host_prefix, &r.recipe.build.python.entry_points)?;
        }
        meta = recipe_meta(r, &build_string, subdir);
        meta.placeholder = Some(host_prefix.display().to_string());
    } else {
        let wheel_file = match wheel_source {
            Some(w) => w,
            None => {
                reporter.phase(&name, "pep517");
                pep517_wheel(
                    r,
                    &src_dir,
                    &host_prefix,
                    &build_prefix,
                    &tmp_dir,
                    &work,
                    python_version.clone(),
                    config,
                )
                .await?
            }
        };
        reporter.phase(&name, "convert");
        let options = ConvertOptions {
            build_number: r.recipe.build.number,
            marker_python: python_version.clone().unwrap_or_else(|| "3.11".into()),
            ..ConvertOptions::default()
        };
        let converted = wheel::unpack(&wheel_file, &root, &options)?;
        meta = merge_wheel_meta(r, converted, &build_string)?;
    }

    // License files and tests ride along in info/.
    for lf in &r.recipe.about.license_file {
        let from = [src_dir.join(lf), r.dir.join(lf)]
            .into_iter()
            .find(|p| p.is_file())
            .ok_or_else(|| BuildError::Source {
                source_desc: lf.clone(),
                reason: "license_file not found in the source or recipe directory".into(),
            })?;
        let file_name = Path::new(lf)
            .file_name()
            .map(|s| s.to_string_lossy().to_string())
            .unwrap_or_default();
        meta.info_files
            .insert(format!("licenses/{file_name}"), from);
    }
    for t in &r.recipe.tests {
        if let TestSpec::Script(s) = t {
            for f in &s.files.recipe {
                meta.info_files
                    .insert(format!("tests/files/{f}"), r.dir.join(f));
            }
        }
    }

    reporter.phase(&name, "package");
    // In the work folder, which the next build of these inputs clears, not in the channel,
    // where a killed build would leave it.
    let staging = tempfile::Builder::new()
        .prefix(".staging-")
        .tempdir_in(&work)
        .map_err(io(&work))?;
    let staged = package::write_package(&root, &meta, &staging.path().join(&meta.subdir))?;

    if config.test && !r.recipe.tests.is_empty() {
        reporter.phase(&name, "test");
        channel::index(staging.path(), Some(&meta.subdir), false).await?;
        let mut test_channels = vec![staging.path().display().to_string()];
        test_channels.extend(channels.iter().cloned());
        run_tests(r, &meta, &test_channels, &work, config, &client, &src_dir).await?;
    }

    // Into the build cache, then into the channel: both by rename of a complete file.
    let file_name = meta.file_name();
    let cached = cache_dir.join(&meta.subdir).join(&file_name);
    place(&staged, &cached)?;
    let target = config.output_dir.join(&meta.subdir).join(&file_name);
    let channel_lock = channel::lock(&config.output_dir).await?;
    let replaced = target.exists();
    place(&cached, &target)?;
    retire_previous_output(r, config, &target)?;
    drop(staging);
    channel::index_locked(&config.output_dir, Some(&meta.subdir), replaced).await?;
    drop(channel_lock);
    if !config.keep_work {
        let _ = fs_err::remove_dir_all(&work);
    }
    Ok(BuildOutcome {
        package: meta.file_stem(),
        file: format!("{}/{file_name}", meta.subdir),
        status: "built",
        seconds: started.elapsed().as_secs_f64(),
    })
}

async fn solve_env(
    channels: &[String],
    platform: Subdir,
    specs: &[String],
) -> Result<Vec<RepoDataRecord>, Box<dyn std::error::Error + Send + Sync>> {
    if specs.is_empty() {
        return Ok(Vec::new());
    }
    let cwd = std::env::current_dir()?;
    let channels = solve::parse_channels(channels, cwd)?;
    let specs = solve::parse_specs(specs)?;
    let gateway = prefix::gateway();
    let vp = solve::host_virtual_packages()?;
    Ok(solve::solve(&gateway, &channels, platform, specs, vp).await?)
}

fn input_hash(
    r: &RenderedRecipe,
    config: &BuildConfig,
    resolved: &[(Option<String>, Resolved)],
    host: &[RepoDataRecord],
    build: &[RepoDataRecord],
) -> Result<String, BuildError> {
    let mut h = Sha256::new();
    h.update(BUILD_LOGIC_VERSION);
    h.update(config.target_platform.as_str());
    h.update(format!("{:?}", r.variant));
    h.update(serde_yaml::to_string(&r.recipe).unwrap_or_default());
    hash_tree(&mut h, &r.dir)?;
    for (target, res) in resolved {
        h.update(format!("{target:?}"));
        match res {
            Resolved::File(f) => {
                h.update(package::sha256_file(f).map_err(|source| BuildError::Io {
                    path: f.clone(),
                    source,
                })?)
            }
            Resolved::Dir(d) => hash_tree(&mut h, d)?,
            Resolved::Git { repo, rev } => {
                let out = std::process::Command::new("git")
                    .args(["ls-remote", repo, rev])
                    .output()
                    .map_err(|e| BuildError::Source {
                        source_desc: repo.clone(),
                        reason: e.to_string(),
                    })?;
                h.update(repo);
                h.update(rev);
                h.update(&out.stdout);
            }
        }
    }
    for rec in host.iter().chain(build) {
        h.update(rec.identifier.to_string());
        if let Some(sha) = rec.package_record.sha256 {
            h.update(sha);
        }
    }
    Ok(hex::encode(h.finalize()))
}

fn hash_tree(h: &mut Sha256, dir: &Path) -> Result<(), BuildError> {
    for entry in walkdir::WalkDir::new(dir)
        .sort_by_file_name()
        .follow_links(false)
    {
        let entry = entry.map_err(|e| BuildError::Io {
            path: dir.to_path_buf(),
            source: e.into(),
        })?;
        if entry
            .path()
            .components()
            .any(|c| c.as_os_str() == ".git" || c.as_os_str() == "__pycache__")
        {
            continue;
        }
        let rel = entry.path().strip_prefix(dir).unwrap_or(entry.path());
        h.update(rel.to_string_lossy().as_bytes());
        if entry.file_type().is_file() {
            let bytes = fs_err::read(entry.path()).map_err(|source| BuildError::Io {
                path: entry.path().to_path_buf(),
                source,
            })?;
            h.update(&bytes);
        } else if entry.file_type().is_symlink() {
            if let Ok(t) = fs_err::read_link(entry.path()) {
                h.update(t.to_string_lossy().as_bytes());
            }
        }
    }
    Ok(())
}

fn cached_artifact(dir: &Path) -> Result<Option<PathBuf>, BuildError> {
    if !dir.is_dir() {
        return Ok(None);
    }
    for entry in walkdir::WalkDir::new(dir).min_depth(2).max_depth(2) {
        let entry = entry.map_err(|e| BuildError::Io {
            path: dir.to_path_buf(),
            source: e.into(),
        })?;
        if entry.file_name().to_string_lossy().ends_with(".conda") {
            return Ok(Some(entry.path().to_path_buf()));
        }
    }
    Ok(None)
}

/// Whether two files hold the same bytes (false when either cannot be read).
fn same_bytes(a: &Path, b: &Path) -> bool {
    matches!(
        (package::sha256_file(a), package::sha256_file(b)),
        (Ok(x), Ok(y)) if x == y
    )
}

/// The channel's `.scivision/outputs.json`, the key of the recipe variant `r` in it, and
/// `target` relative to the channel.
fn output_key(
    r: &RenderedRecipe,
    config: &BuildConfig,
    target: &Path,
) -> (PathBuf, String, String) {
    let state = config.output_dir.join(".scivision/outputs.json");
    let key = format!("{}{:?}", r.path.display(), r.variant);
    let rel = target
        .strip_prefix(&config.output_dir)
        .unwrap_or(target)
        .display()
        .to_string();
    (state, key, rel)
}

fn read_outputs(state: &Path) -> BTreeMap<String, String> {
    fs_err::read_to_string(state)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default()
}

/// Whether the channel records `target` as the output of `r`.
fn is_recorded_output(r: &RenderedRecipe, config: &BuildConfig, target: &Path) -> bool {
    let (state, key, rel) = output_key(r, config, target);
    read_outputs(&state).get(&key) == Some(&rel)
}

/// A recipe variant's output replaces what it produced before: a rebuild with other inputs has
/// a new file name, and the old build would otherwise stay in the channel beside it, equal in
/// version and build number. The channel remembers each recipe's last output in
/// `.scivision/outputs.json`.
fn retire_previous_output(
    r: &RenderedRecipe,
    config: &BuildConfig,
    target: &Path,
) -> Result<(), BuildError> {
    let (state, key, rel) = output_key(r, config, target);
    let mut outputs = read_outputs(&state);
    if let Some(previous) = outputs.get(&key).filter(|p| **p != rel) {
        let old = config.output_dir.join(previous);
        if old.is_file() {
            fs_err::remove_file(&old).map_err(|source| BuildError::Io {
                path: old.clone(),
                source,
            })?;
        }
    }
    outputs.insert(key, rel);
    let text = serde_json::to_string_pretty(&outputs).unwrap_or_default();
    crate::atomic::write(&state, text.as_bytes()).map_err(|source| BuildError::Io {
        path: state,
        source,
    })
}

/// Copies `from` to `to` atomically: readers never see a partial file.
fn place(from: &Path, to: &Path) -> Result<(), BuildError> {
    crate::atomic::copy(from, to).map_err(|source| BuildError::Io {
        path: to.to_path_buf(),
        source,
    })
}

fn recipe_meta(r: &RenderedRecipe, build_string: &str, subdir: Subdir) -> PackageMeta {
    let reqs = &r.recipe.requirements;
    let tests = (!r.recipe.tests.is_empty())
        .then(|| serde_yaml::to_string(&r.recipe.tests).unwrap_or_default());
    PackageMeta {
        name: r.recipe.package.name.clone(),
        version: r.recipe.package.version.clone(),
        build: build_string.to_string(),
        build_number: r.recipe.build.number,
        subdir: subdir.as_str().to_string(),
        noarch: r.recipe.build.noarch.map(|n| match n {
            crate::recipe::NoArch::Python => "python".to_string(),
            crate::recipe::NoArch::Generic => "generic".to_string(),
        }),
        depends: reqs.run.clone(),
        constrains: reqs.run_constraints.clone(),
        track_features: Vec::new(),
        license: r.recipe.about.license.clone(),
        license_family: r.recipe.about.license_family.clone(),
        purls: Vec::new(),
        timestamp_ms: source_date_epoch_ms(),
        about: about_json(r),
        entry_points: if is_noarch_python(r) {
            r.recipe.build.python.entry_points.clone()
        } else {
            Vec::new()
        },
        rendered_recipe: serde_yaml::to_string(&r.recipe).ok(),
        tests,
        info_files: BTreeMap::new(),
        placeholder: None,
    }
}

fn source_date_epoch_ms() -> Option<u64> {
    std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
        .map(|s| s * 1000)
}

/// The recipe is authoritative for identity and requirements; the wheel for files and purls.
fn merge_wheel_meta(
    r: &RenderedRecipe,
    from_wheel: PackageMeta,
    build_string: &str,
) -> Result<PackageMeta, BuildError> {
    let mismatch = |message: String| BuildError::Mismatch {
        recipe: r.path.display().to_string(),
        message,
    };
    if from_wheel.name != r.recipe.package.name {
        return Err(mismatch(format!(
            "the wheel is `{}` but package.name is `{}`",
            from_wheel.name, r.recipe.package.name
        )));
    }
    if from_wheel.version != r.recipe.package.version {
        return Err(mismatch(format!(
            "the wheel is version {} but package.version is {}",
            from_wheel.version, r.recipe.package.version
        )));
    }
    if is_noarch_python(r) && from_wheel.noarch.is_none() {
        return Err(mismatch(
            "the recipe says `noarch: python` but the wheel is platform-specific".into(),
        ));
    }
    let subdir = from_wheel.subdir.parse().unwrap_or(Subdir::NoArch);
    let mut meta = recipe_meta(r, build_string, subdir);
    meta.subdir = from_wheel.subdir.clone();
    meta.noarch = from_wheel.noarch.clone();
    if meta.depends.is_empty() {
        meta.depends = from_wheel.depends.clone();
    }
    let mut eps = from_wheel.entry_points.clone();
    for ep in &meta.entry_points {
        if !eps.contains(ep) {
            eps.push(ep.clone());
        }
    }
    meta.entry_points = eps;
    meta.purls = from_wheel.purls;
    meta.placeholder = from_wheel.placeholder;
    if r.recipe.build.string.is_none() && from_wheel.noarch.is_none() {
        meta.build = from_wheel.build;
    }
    let mut about = from_wheel.about;
    if let (Some(a), serde_json::Value::Object(recipe_about)) = (about.as_object_mut(), &meta.about)
    {
        for (k, v) in recipe_about {
            a.insert(k.clone(), v.clone());
        }
    }
    meta.about = about;
    Ok(meta)
}

/// `noarch: python` layout: site-packages at the root, scripts in `python-scripts/`, no bytecode,
/// no scripts for entry points (installers generate them).
fn relocate_noarch_python(
    root: &Path,
    python: Option<&str>,
    entry_points: &[String],
) -> Result<(), BuildError> {
    let io = |p: &Path| {
        let p = p.to_path_buf();
        move |source| BuildError::Io { path: p, source }
    };
    let site = python.map(|py| root.join(format!("lib/python{py}/site-packages")));
    if let Some(site) = site.filter(|s| s.is_dir()) {
        let dest = root.join("site-packages");
        fs_err::rename(&site, &dest).map_err(io(&site))?;
        let _ = fs_err::remove_dir_all(root.join("lib"));
    }
    let bin = root.join("bin");
    if bin.is_dir() {
        let ep_names: Vec<String> = entry_points
            .iter()
            .filter_map(|e| EntryPoint::parse(e))
            .map(|e| e.name)
            .collect();
        let scripts = root.join("python-scripts");
        for entry in fs_err::read_dir(&bin)
            .map_err(io(&bin))?
            .filter_map(Result::ok)
        {
            let n = entry.file_name().to_string_lossy().to_string();
            if ep_names.contains(&n) {
                fs_err::remove_file(entry.path()).map_err(io(&entry.path()))?;
            } else {
                fs_err::create_dir_all(&scripts).map_err(io(&scripts))?;
                fs_err::rename(entry.path(), scripts.join(&n)).map_err(io(&entry.path()))?;
            }
        }
        fs_err::remove_dir_all(&bin).map_err(io(&bin))?;
    }
    let pycache: Vec<PathBuf> = walkdir::WalkDir::new(root)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| {
            e.file_name() == "__pycache__" || e.path().extension().is_some_and(|x| x == "pyc")
        })
        .map(|e| e.path().to_path_buf())
        .collect();
    for p in pycache {
        if p.is_dir() {
            let _ = fs_err::remove_dir_all(&p);
        } else {
            let _ = fs_err::remove_file(&p);
        }
    }
    Ok(())
}

fn write_entry_point_scripts(
    root: &Path,
    prefix: &Path,
    entry_points: &[String],
) -> Result<(), BuildError> {
    for ep in entry_points.iter().filter_map(|e| EntryPoint::parse(e)) {
        let path = root.join("bin").join(&ep.name);
        let text = format!(
            "#!{}/bin/python\nimport sys\nfrom {} import {}\nif __name__ == '__main__':\n    sys.exit({}())\n",
            prefix.display(),
            ep.module,
            ep.function.split('.').next().unwrap_or(&ep.function),
            ep.function
        );
        let io = |source| BuildError::Io {
            path: path.clone(),
            source,
        };
        if let Some(parent) = path.parent() {
            fs_err::create_dir_all(parent).map_err(io)?;
        }
        fs_err::write(&path, text).map_err(|source| BuildError::Io {
            path: path.clone(),
            source,
        })?;
        use std::os::unix::fs::PermissionsExt;
        fs_err::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).map_err(
            |source| BuildError::Io {
                path: path.clone(),
                source,
            },
        )?;
    }
    Ok(())
}

/// PEP 517: ask the project's build backend, running on the host prefix's python, for a wheel.
/// The conda host environment is the isolated build environment: the backend and its
/// requirements must be among `requirements.host`.
#[allow(clippy::too_many_arguments)]
async fn pep517_wheel(
    r: &RenderedRecipe,
    src_dir: &Path,
    host_prefix: &Path,
    build_prefix: &Path,
    tmp_dir: &Path,
    work: &Path,
    python_version: Option<String>,
    config: &BuildConfig,
) -> Result<PathBuf, BuildError> {
    let package = r.recipe.package.name.clone();
    if python_version.is_none() {
        return Err(BuildError::Pep517 {
            package,
            message: "building from source without a script needs `python` in requirements.host"
                .into(),
        });
    }
    let frontend = tmp_dir.join("pep517_frontend.py");
    fs_err::write(&frontend, PEP517_FRONTEND).map_err(|source| BuildError::Io {
        path: frontend.clone(),
        source,
    })?;
    let out = tmp_dir.join("wheel");
    fs_err::create_dir_all(&out).map_err(|source| BuildError::Io {
        path: out.clone(),
        source,
    })?;
    let lines = vec![format!(
        "\"$PYTHON\" -I \"{}\" \"{}\"",
        frontend.display(),
        out.display()
    )];
    script::run(&script::ScriptRun {
        script: &lines,
        recipe_dir: &r.dir,
        src_dir,
        prefix: host_prefix,
        build_prefix,
        tmp_dir,
        name: &r.recipe.package.name,
        version: &r.recipe.package.version,
        build_number: r.recipe.build.number,
        build_string: "",
        target_platform: config.target_platform.as_str(),
        python_version,
        log: &work.join("pep517.log"),
        extra_env: &r.variant,
    })
    .await?;
    let wheel = fs_err::read_dir(&out)
        .map_err(|source| BuildError::Io {
            path: out.clone(),
            source,
        })?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|e| e == "whl"))
        .ok_or_else(|| BuildError::Pep517 {
            package,
            message: "the build backend produced no wheel".into(),
        })?;
    Ok(wheel)
}

/// A minimal PEP 517 frontend: reads `[build-system]`, checks that its requirements are
/// installed (no downloads: the host environment is the isolation), calls `build_wheel`.
const PEP517_FRONTEND: &str = r#"
import importlib, importlib.metadata, os, re, sys, tomllib
out = sys.argv[1]
try:
    with open("pyproject.toml", "rb") as f:
        system = tomllib.load(f).get("build-system", {})
except FileNotFoundError:
    system = {}
requires = system.get("requires", ["setuptools>=40.8.0"])
backend_name = system.get("build-backend", "setuptools.build_meta:__legacy__")
missing = []
for req in requires:
    name = re.split(r"[\s<>=!~;\[]", req.strip(), maxsplit=1)[0]
    try:
        importlib.metadata.distribution(name)
    except importlib.metadata.PackageNotFoundError:
        missing.append(req)
if missing:
    sys.stderr.write("build-system.requires not installed in the host environment: %s\n" % ", ".join(missing))
    sys.exit(3)
sys.path[:0] = [os.path.abspath(p) for p in system.get("backend-path", [])]
module, _, obj = backend_name.partition(":")
backend = importlib.import_module(module)
for part in filter(None, obj.split(".")):
    backend = getattr(backend, part)
print(backend.build_wheel(out))
"#;

async fn run_tests(
    r: &RenderedRecipe,
    meta: &PackageMeta,
    channels: &[String],
    work: &Path,
    config: &BuildConfig,
    client: &reqwest_middleware::ClientWithMiddleware,
    src_dir: &Path,
) -> Result<(), BuildError> {
    let package = meta.file_stem();
    let fail = |what: String, output: String| BuildError::TestFailed {
        package: package.clone(),
        what,
        output,
    };
    for (i, test) in r.recipe.tests.iter().enumerate() {
        let mut specs = vec![format!("{} =={} {}", meta.name, meta.version, meta.build)];
        let test_env = work.join(format!("test_env_{i}"));
        let cwd = work.join(format!("test_files_{i}"));
        fs_err::create_dir_all(&cwd).map_err(|source| BuildError::Io {
            path: cwd.clone(),
            source,
        })?;
        let commands: Vec<String> = match test {
            TestSpec::Python { python } => {
                specs.push("python".into());
                python
                    .imports
                    .iter()
                    .map(|m| format!("python -c 'import {m}'"))
                    .collect()
            }
            TestSpec::Script(s) => {
                specs.extend(s.requirements.run.iter().cloned());
                // Test files sit in the test's working folder, beside (not in) the prefix.
                let sources = [
                    (&s.files.recipe, &r.dir),
                    (&s.files.source, &src_dir.to_path_buf()),
                ];
                for (files, base) in sources {
                    for f in files {
                        crate::atomic::copy(&base.join(f), &cwd.join(f)).map_err(|source| {
                            BuildError::Io {
                                path: base.join(f),
                                source,
                            }
                        })?;
                    }
                }
                s.script.clone()
            }
        };
        let records = solve_env(channels, config.target_platform, &specs)
            .await
            .map_err(|e| BuildError::Environment {
                package: package.clone(),
                which: "test",
                source: e,
            })?;
        prefix::install(&test_env, records, &config.package_cache_dir, client)
            .await
            .map_err(|e| BuildError::Environment {
                package: package.clone(),
                which: "test",
                source: Box::new(e),
            })?;
        let body = format!("set -euo pipefail\n{}\n", commands.join("\n"));
        let path = format!(
            "{}/bin:{}",
            test_env.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let out = tokio::process::Command::new("bash")
            .arg("-c")
            .arg(&body)
            .current_dir(&cwd)
            .env("PATH", path)
            .env("PREFIX", &test_env)
            .env("CONDA_PREFIX", &test_env)
            .env_remove("PYTHONPATH")
            .env_remove("PYTHONHOME")
            .output()
            .await
            .map_err(|source| BuildError::Io {
                path: PathBuf::from("bash"),
                source,
            })?;
        if !out.status.success() {
            let output = format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            return Err(fail(commands.join("; "), output));
        }
    }
    Ok(())
}
