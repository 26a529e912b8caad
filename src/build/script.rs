//! Script builds: run a recipe's script in a sandbox where only the work directory (sources,
//! placeholder prefix, temp) is writable, then collect the files it added to the prefix.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Stdio;

use super::BuildError;

/// The padded prefix path packages are built in; installers rewrite it (conda-build's and
/// rattler-build's convention), so binaries get room for any shorter install path.
pub fn placeholder_prefix(work_dir: &Path) -> PathBuf {
    // Exactly 255 bytes, whatever the work folder: every package built here then has the same
    // room for the install prefix (a shorter placeholder in one package would make installing
    // it into another package's build prefix impossible).
    const TARGET_LEN: usize = 255;
    let base = format!("{}/host_env_", work_dir.display());
    let mut path = base.clone();
    while path.len() < TARGET_LEN {
        path.push_str("placehold_");
    }
    path.truncate(TARGET_LEN.max(base.len()));
    PathBuf::from(path)
}

/// What the script needs to run.
#[derive(Debug)]
pub struct ScriptRun<'a> {
    /// The commands (or a single file name in the recipe directory).
    pub script: &'a [String],
    /// The recipe directory (`RECIPE_DIR`).
    pub recipe_dir: &'a Path,
    /// Sources (`SRC_DIR`, the working directory).
    pub src_dir: &'a Path,
    /// The placeholder prefix (`PREFIX`).
    pub prefix: &'a Path,
    /// The build tools prefix (`BUILD_PREFIX`).
    pub build_prefix: &'a Path,
    /// Writable scratch space (`TMPDIR`).
    pub tmp_dir: &'a Path,
    /// Package name and version.
    pub name: &'a str,
    /// Version.
    pub version: &'a str,
    /// Build number.
    pub build_number: u64,
    /// Build string.
    pub build_string: &'a str,
    /// Target subdir.
    pub target_platform: &'a str,
    /// Python `major.minor` in the prefix, when python is a host dependency.
    pub python_version: Option<String>,
    /// Where the log goes.
    pub log: &'a Path,
    /// Extra variables (variant values).
    pub extra_env: &'a BTreeMap<String, String>,
}

/// Runs the script; on failure the error carries the end of the log.
pub async fn run(run: &ScriptRun<'_>) -> Result<(), BuildError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source: std::io::Error| BuildError::Io { path, source }
    };
    let body = match run.script {
        [single] if !single.contains('\n') && run.recipe_dir.join(single).is_file() => {
            fs_err::read_to_string(run.recipe_dir.join(single)).map_err(io(run.recipe_dir))?
        }
        lines => lines.join("\n"),
    };
    let script_file = run.tmp_dir.join("conda_build.sh");
    fs_err::create_dir_all(run.tmp_dir).map_err(io(run.tmp_dir))?;
    fs_err::write(&script_file, format!("set -euo pipefail\n{body}\n"))
        .map_err(io(&script_file))?;

    let mut env: BTreeMap<String, String> = BTreeMap::new();
    let p = |p: &Path| p.display().to_string();
    let cpu = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    env.insert("PREFIX".into(), p(run.prefix));
    env.insert("BUILD_PREFIX".into(), p(run.build_prefix));
    env.insert("SRC_DIR".into(), p(run.src_dir));
    env.insert("RECIPE_DIR".into(), p(run.recipe_dir));
    env.insert("PKG_NAME".into(), run.name.into());
    env.insert("PKG_VERSION".into(), run.version.into());
    env.insert("PKG_BUILDNUM".into(), run.build_number.to_string());
    env.insert("PKG_BUILD_STRING".into(), run.build_string.into());
    env.insert("CPU_COUNT".into(), cpu.to_string());
    env.insert("target_platform".into(), run.target_platform.into());
    env.insert("build_platform".into(), run.target_platform.into());
    env.insert("TMPDIR".into(), p(run.tmp_dir));
    env.insert("HOME".into(), p(run.tmp_dir));
    env.insert("CONDA_BUILD".into(), "1".into());
    env.insert("SHLIB_EXT".into(), ".so".into());
    env.insert("LANG".into(), "C.UTF-8".into());
    env.insert("PIP_NO_INDEX".into(), "1".into());
    env.insert("PIP_NO_BUILD_ISOLATION".into(), "1".into());
    env.insert("PIP_NO_DEPENDENCIES".into(), "1".into());
    env.insert("PIP_DISABLE_PIP_VERSION_CHECK".into(), "1".into());
    env.insert("PYTHONDONTWRITEBYTECODE".into(), "1".into());
    let system_path = std::env::var("PATH").unwrap_or_else(|_| "/usr/bin:/bin".into());
    env.insert(
        "PATH".into(),
        format!(
            "{}/bin:{}/bin:{system_path}",
            p(run.prefix),
            p(run.build_prefix)
        ),
    );
    if let Some(py) = &run.python_version {
        env.insert("PYTHON".into(), format!("{}/bin/python", p(run.prefix)));
        env.insert("PY_VER".into(), py.clone());
        env.insert(
            "SP_DIR".into(),
            format!("{}/lib/python{py}/site-packages", p(run.prefix)),
        );
        env.insert(
            "STDLIB_DIR".into(),
            format!("{}/lib/python{py}", p(run.prefix)),
        );
    }
    for (k, v) in run.extra_env {
        env.insert(k.clone(), v.clone());
    }

    let log = fs_err::File::create(run.log)
        .map_err(io(run.log))?
        .into_parts()
        .0;
    let log_err = log.try_clone().map_err(io(run.log))?;
    let work_dir = run.tmp_dir.parent().unwrap_or(run.tmp_dir);
    let mut cmd = if let Some(bwrap) = which("bwrap") {
        // Everything read-only but the work directory: a script that writes outside its
        // prefix, sources or temp fails instead of changing the machine.
        let mut c = tokio::process::Command::new(bwrap);
        c.args([
            "--ro-bind",
            "/",
            "/",
            "--dev",
            "/dev",
            "--proc",
            "/proc",
            "--bind",
        ])
        .arg(work_dir)
        .arg(work_dir)
        .args(["--die-with-parent", "--chdir"])
        .arg(run.src_dir)
        .arg("bash")
        .arg(&script_file);
        c
    } else {
        tracing::warn!(
            "bwrap not found: the build script runs without a sandbox (install bubblewrap)"
        );
        let mut c = tokio::process::Command::new("bash");
        c.arg(&script_file).current_dir(run.src_dir);
        c
    };
    cmd.env_clear()
        .envs(&env)
        .stdin(Stdio::null())
        .stdout(Stdio::from(log))
        .stderr(Stdio::from(log_err))
        .kill_on_drop(true);
    let status = cmd.status().await.map_err(|source| BuildError::Io {
        path: PathBuf::from("bash"),
        source,
    })?;
    if !status.success() {
        let text = fs_err::read_to_string(run.log).unwrap_or_default();
        let tail: Vec<&str> = text.lines().rev().take(30).collect();
        let tail = tail.into_iter().rev().collect::<Vec<_>>().join("\n");
        let outside = text.contains("Read-only file system");
        return Err(BuildError::ScriptFailed {
            package: run.name.to_string(),
            status: status.code().unwrap_or(-1),
            log: run.log.to_path_buf(),
            tail,
            outside_prefix: outside,
        });
    }
    Ok(())
}

/// `which`, without a crate.
pub fn which(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(name))
            .find(|p| p.is_file())
    })
}

/// Every path under `root` (files and symlinks), relative.
pub fn snapshot(root: &Path) -> BTreeSet<PathBuf> {
    walkdir::WalkDir::new(root)
        .follow_links(false)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| !e.file_type().is_dir())
        .filter_map(|e| e.path().strip_prefix(root).ok().map(Path::to_path_buf))
        .collect()
}

/// Moves the files the script added to `prefix` (not in `before`, not conda metadata) into
/// `dest`, keeping symlinks as links.
pub fn collect_new_files(
    prefix: &Path,
    before: &BTreeSet<PathBuf>,
    dest: &Path,
) -> Result<usize, BuildError> {
    let after = snapshot(prefix);
    let mut count = 0;
    for rel in after.difference(before) {
        if rel.starts_with("conda-meta") {
            continue;
        }
        let from = prefix.join(rel);
        let to = dest.join(rel);
        if let Some(parent) = to.parent() {
            fs_err::create_dir_all(parent).map_err(|source| BuildError::Io {
                path: parent.to_path_buf(),
                source,
            })?;
        }
        fs_err::rename(&from, &to).map_err(|source| BuildError::Io { path: from, source })?;
        count += 1;
    }
    Ok(count)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholder_is_padded_to_255() {
        let p = placeholder_prefix(Path::new("/tmp/work"));
        assert_eq!(p.to_string_lossy().len(), 255);
        let longer = placeholder_prefix(Path::new("/tmp/a/much/longer/work/folder"));
        assert_eq!(longer.to_string_lossy().len(), 255);
        assert!(p.to_string_lossy().contains("placehold_placehold"));
    }
}
