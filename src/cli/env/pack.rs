//! `env pack` and `env unpack`: an environment (with its weights, or every variant of its
//! variant lock) in one archive for an air-gapped host.

use super::create::install_progress;
use super::Ui;
use crate::config::Dirs;
use crate::env::Envs;
use crate::pack::{PackOptions, UnpackOptions, UnpackReporter};

/// `env pack`.
pub(super) async fn pack(envs: &Envs, dirs: &Dirs, options: PackOptions) -> miette::Result<()> {
    let packed = crate::pack::pack(envs, dirs, &options).await?;
    crate::cli::print_line(&format!(
        "packed {} ({} packages{}{}, {:.1} MB) into {}",
        options.name,
        packed.packages,
        count(" and {} PyPI wheels", packed.wheels),
        count(" and {} weight files", packed.weight_files),
        packed.bytes as f64 / 1e6,
        options.output.display()
    ));
    Ok(())
}

/// `env unpack`.
pub(super) async fn unpack(envs: &Envs, ui: Ui, options: UnpackOptions) -> miette::Result<()> {
    let reporter = Unpacking {
        progress: ui.progress,
    };
    let unpacked = crate::pack::unpack(envs, crate::cli::settings(), &options, &reporter).await?;
    crate::cli::print_line(&format!(
        "unpacked {} ({} packages{}) in {:.1}s: {}",
        unpacked.model,
        unpacked.packages,
        count(", {} weight files", unpacked.weight_files),
        unpacked.seconds,
        unpacked.prefix.display()
    ));
    Ok(())
}

/// `template` with `{}` replaced by `n`, or nothing when there are none.
fn count(template: &str, n: usize) -> String {
    if n == 0 {
        String::new()
    } else {
        template.replace("{}", &n.to_string())
    }
}

/// An unpack's progress: the variant chosen, then rattler's bars while installing.
struct Unpacking {
    progress: bool,
}

impl UnpackReporter for Unpacking {
    fn variant(&self, choice: &crate::variant::Choice) {
        crate::cli::print_line(&format!("variant {}: {}", choice.name, choice.reason));
    }

    fn installer(&self, installer: rattler::install::Installer) -> rattler::install::Installer {
        install_progress(self.progress)(installer)
    }
}
