//! From the solve flags to the library's [`RequestOptions`], resolved once at the edge.

use super::SolveArgs;
use crate::env::Request;
use crate::request::RequestOptions;

/// The request for `model` with the solve flags: the catalog entry, channels, virtual packages,
/// PyPI options and the conda → PyPI mapping.
pub(super) async fn request(model: &str, args: &SolveArgs) -> miette::Result<Request> {
    let options = RequestOptions {
        model: model.to_string(),
        channels: args.channels.clone(),
        python: args.python.clone(),
        cuda: args.cuda.clone(),
        platform: args.platform.clone(),
        with: args.with.clone(),
        no_runner: args.no_runner,
        offline: args.offline,
        pypi: args.pypi.clone(),
        no_build_isolation_package: args.no_build_isolation_package.clone(),
        index: crate::pypi::IndexOptions {
            index_url: args.index_url.clone(),
            extra_index_url: args.extra_index_url.clone(),
            find_links: args.find_links.clone(),
            no_index: args.no_index,
        },
    };
    Ok(crate::request::request(&options, crate::cli::settings()).await?)
}

/// A repodata failure of a default channel (no `-c` given) says which channel failed and how
/// to name the local one instead.
pub(super) fn on_default_channels(e: crate::env::EnvError, args: &SolveArgs) -> miette::Report {
    crate::request::on_default_channels(e, !args.channels.is_empty(), crate::cli::settings()).into()
}
