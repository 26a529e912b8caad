//! The `scivision` binary.

// Parsing repodata, solving and linking allocate many small, short-lived objects; mimalloc
// serves them faster than glibc's allocator (uv ships jemalloc for the same reason).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    let mut args = std::env::args_os();
    let argv0 = args.next().unwrap_or_default();
    if scivision::build::sandbox::invoked_as_sandbox(&argv0) {
        let outcome = which::which("bwrap")
            .map_err(|_| "rattler-sandbox: bwrap not found (install bubblewrap)".to_string())
            .and_then(|bwrap| scivision::build::sandbox::main(args.collect(), &bwrap));
        return outcome.unwrap_or_else(|message| {
            use std::io::Write;
            let _ = writeln!(std::io::stderr(), "{message}");
            std::process::ExitCode::from(127)
        });
    }
    let invocation = match scivision::cli::Invocation::parse() {
        Ok(invocation) => invocation,
        Err(code) => return code,
    };
    if invocation.runs_build_scripts() {
        offer_sandbox();
    }
    // uv's installer builds rayon's global pool and panics if rattler's use created it first.
    uv_configuration::initialize_rayon_once();
    // The async stacks of the solver and installer are deep; give them room (pixi does the same).
    let worker = std::thread::Builder::new()
        .name("scivision-main".into())
        .stack_size(8 * 1024 * 1024)
        .spawn(move || invocation.run());
    match worker.map(std::thread::JoinHandle::join) {
        Ok(Ok(code)) => code,
        _ => std::process::ExitCode::from(scivision::cli::EXIT_INTERNAL),
    }
}

/// Where bubblewrap exists, puts a `rattler-sandbox` link to this binary first on `PATH`, so
/// that rattler-build's engine runs build scripts in scivision's sandbox. Done here, before any
/// thread reads the environment, and only for `build`: no other command writes the link.
fn offer_sandbox() {
    if which::which("bwrap").is_err() || which::which(scivision::build::sandbox::PROGRAM).is_ok() {
        return;
    }
    let Ok(exe) = std::env::current_exe() else {
        return;
    };
    let dir = scivision::config::Dirs::from_env().cache.join("bin");
    match scivision::build::sandbox::install_shim(&dir, &exe) {
        Ok(_) => {
            let path = std::env::var_os("PATH").unwrap_or_default();
            let mut parts = vec![dir];
            parts.extend(std::env::split_paths(&path));
            if let Ok(joined) = std::env::join_paths(parts) {
                std::env::set_var("PATH", joined);
            }
        }
        Err(e) => {
            use std::io::Write;
            let _ = writeln!(
                std::io::stderr(),
                "warning: no build sandbox ({}: {e})",
                dir.display()
            );
        }
    }
}
