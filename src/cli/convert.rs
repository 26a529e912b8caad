//! `scivision convert`

use std::path::PathBuf;

use super::Ui;
use crate::build::wheel::{self, ConvertOptions};

/// Convert PyPI wheels into conda packages.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  scivision convert exifread-3.0.0-py3-none-any.whl -o channel --index\n  scivision convert numpy-2.1.3-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl\n\nPure wheels become noarch: python packages; platform wheels become per-subdir packages pinned to\ntheir python and python_abi. Requires-Dist entries become conda dependencies (PyPI names mapped\nto conda names, e.g. torch -> pytorch; add more with --map)."
)]
pub struct Args {
    /// The wheels to convert.
    #[arg(required = true)]
    wheels: Vec<PathBuf>,
    /// Where the packages go (a channel root: files land in its subdir folders).
    #[arg(long, short = 'o', default_value = "channel")]
    output_dir: PathBuf,
    /// Build number.
    #[arg(long, default_value_t = 0)]
    build_number: u64,
    /// Python `major.minor` used to evaluate environment markers of pure wheels.
    #[arg(long, default_value = "3.11")]
    python: String,
    /// Extra PyPI→conda name mappings, `pypi-name=conda-name`.
    #[arg(long = "map", value_name = "PYPI=CONDA")]
    maps: Vec<String>,
    /// Index the output channel afterwards.
    #[arg(long)]
    index: bool,
    /// Print the written files as JSON.
    #[arg(long)]
    json: bool,
}

pub async fn execute(args: Args, _ui: Ui) -> miette::Result<()> {
    let mut options = ConvertOptions {
        build_number: args.build_number,
        marker_python: args.python.clone(),
        ..ConvertOptions::default()
    };
    for m in &args.maps {
        let Some((pypi, conda)) = m.split_once('=') else {
            return Err(crate::cli::bad_input!(
                help = "write it as pypi-name=conda-name",
                "--map `{m}` has no `=`"
            ));
        };
        if !crate::build::is_valid_name(conda) {
            return Err(crate::cli::bad_input!(
                help = "conda names are lowercase letters, digits, `-`, `_` and `.`",
                "--map `{m}`: `{conda}` is not a conda package name"
            ));
        }
        options.name_map.insert(
            wheel::conda_name(pypi, &Default::default()),
            conda.to_string(),
        );
    }
    let written = wheel::publish(&args.wheels, &args.output_dir, &options, args.index).await?;
    if args.json {
        super::print_json(&serde_json::json!({ "written": written }));
    } else {
        for w in &written {
            super::print_line(w);
        }
    }
    Ok(())
}
