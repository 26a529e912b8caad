//! `scivision completions`

use clap_complete::Shell;

/// Print a completion script for a shell to stdout.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  scivision completions bash > ~/.local/share/bash-completion/completions/scivision\n  scivision completions zsh > \"${fpath[1]}/_scivision\"\n  scivision completions fish > ~/.config/fish/completions/scivision.fish"
)]
pub struct Args {
    /// The shell.
    shell: Shell,
}

pub fn execute(args: &Args) -> miette::Result<()> {
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut super::command(), "scivision", &mut script);
    super::print_line(String::from_utf8_lossy(&script).trim_end());
    Ok(())
}
