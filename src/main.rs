//! The `scivision` binary.

fn main() -> std::process::ExitCode {
    // uv's installer builds rayon's global pool and panics if rattler's use created it first.
    uv_configuration::initialize_rayon_once();
    // The async stacks of the solver and installer are deep; give them room (pixi does the same).
    let worker = std::thread::Builder::new()
        .name("scivision-main".into())
        .stack_size(8 * 1024 * 1024)
        .spawn(scivision::cli::main);
    match worker.map(std::thread::JoinHandle::join) {
        Ok(Ok(code)) => code,
        _ => std::process::ExitCode::from(scivision::cli::EXIT_INTERNAL),
    }
}
