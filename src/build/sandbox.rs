//! The build sandbox. rattler-build runs a build script through a program named
//! `rattler-sandbox` when the build asks for a sandbox, passing the paths it may read, execute
//! and write. scivision is that program when invoked under that name: it runs the script with
//! bubblewrap, everything read-only except the build's own folder (sources, host and build
//! prefixes, and a `TMPDIR` inside it), with no network unless asked for. A script that writes
//! anywhere else, `/tmp` included, fails instead of changing the machine.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use rattler_build_script::{SandboxArguments, SandboxConfiguration};

/// The name rattler-build looks for on `PATH`.
pub const PROGRAM: &str = "rattler-sandbox";

/// Whether this process was started as `rattler-sandbox`.
pub fn invoked_as_sandbox(argv0: &std::ffi::OsStr) -> bool {
    Path::new(argv0).file_name() == Some(std::ffi::OsStr::new(PROGRAM))
}

/// The sandbox builds ask for: rattler-build's Linux defaults (read everything, execute from
/// the system folders, write the build folder and temp).
pub fn configuration() -> Option<SandboxConfiguration> {
    SandboxArguments {
        sandbox: true,
        ..SandboxArguments::default()
    }
    .into()
}

/// Links `<dir>/rattler-sandbox` to `exe` (this binary), replacing a stale link.
pub fn install_shim(dir: &Path, exe: &Path) -> std::io::Result<PathBuf> {
    let link = dir.join(PROGRAM);
    if fs_err::read_link(&link).is_ok_and(|t| t == exe) {
        return Ok(link);
    }
    fs_err::create_dir_all(dir)?;
    let tmp = dir.join(format!(".{PROGRAM}.{}", std::process::id()));
    let _ = fs_err::remove_file(&tmp);
    std::os::unix::fs::symlink(exe, &tmp)?;
    fs_err::rename(&tmp, &link)?;
    Ok(link)
}

/// `rattler-sandbox [--network] [--fs-read P]… [--fs-exec-and-read P]… [--fs-write-and-read P]…
/// PROGRAM ARGS…`, run under `bwrap`.
pub fn main(args: Vec<OsString>, bwrap: &Path) -> Result<ExitCode, String> {
    let mut network = false;
    let mut writable = Vec::new();
    let mut rest = args.into_iter();
    let mut command = Vec::new();
    while let Some(arg) = rest.next() {
        match arg.to_str() {
            Some("--network") => network = true,
            Some("--fs-read" | "--fs-exec-and-read") => {
                // Everything is readable and executable inside the sandbox.
                rest.next();
            }
            Some("--fs-write-and-read") => {
                if let Some(p) = rest.next() {
                    writable.push(PathBuf::from(p));
                }
            }
            _ => {
                command.push(arg);
                command.extend(rest.by_ref());
            }
        }
    }
    if command.is_empty() {
        return Err(format!("{PROGRAM}: no command to run"));
    }
    // rattler-build asks for /tmp and /var/tmp to be writable; they stay read-only (and
    // visible: a recipe or source may live there), and temp files go to a folder inside the
    // build's own, which is thrown away with it.
    let writable: Vec<PathBuf> = writable
        .into_iter()
        .filter(|p| !matches!(p.to_str(), Some("/tmp" | "/var/tmp")))
        .filter(|p| p.exists())
        .collect();
    let mut cmd = std::process::Command::new(bwrap);
    cmd.args(["--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc"]);
    for path in &writable {
        cmd.arg("--bind").arg(path).arg(path);
    }
    if let Some(build) = writable.first() {
        let tmp = build.join(".sandbox-tmp");
        fs_err::create_dir_all(&tmp).map_err(|e| format!("{PROGRAM}: {e}"))?;
        cmd.arg("--setenv").arg("TMPDIR").arg(&tmp);
    }
    if !network {
        cmd.arg("--unshare-net");
    }
    cmd.arg("--die-with-parent").arg("--").args(&command);
    let status = cmd
        .status()
        .map_err(|e| format!("{PROGRAM}: cannot run {}: {e}", bwrap.display()))?;
    // A signal counts as failure (128 + signal, as shells report it).
    let code = status.code().unwrap_or(128);
    Ok(ExitCode::from(u8::try_from(code).unwrap_or(1)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_its_name() {
        assert!(invoked_as_sandbox(std::ffi::OsStr::new(
            "/x/bin/rattler-sandbox"
        )));
        assert!(!invoked_as_sandbox(std::ffi::OsStr::new("scivision")));
    }
}
