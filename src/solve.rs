//! Conda resolution: repodata through the gateway, the host's virtual packages, resolvo.
//!
//! This module turns match specs into a list of records; it does not install them and never
//! prints. The message for an unsolvable set is resolvo's explanation, kept whole.

use std::path::PathBuf;

use rattler_conda_types::{
    Channel, ChannelConfig, GenericVirtualPackage, MatchSpec, ParseStrictness, RepoDataRecord,
    Subdir,
};
use rattler_repodata_gateway::Gateway;
use rattler_solve::{resolvo, SolverImpl, SolverTask};

/// Errors of a conda solve.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum SolveError {
    /// A channel string is neither a name, a URL nor a path.
    #[error("`{channel}` is not a channel")]
    #[diagnostic(help(
        "give a channel name (conda-forge), a URL (https://…, file://…) or a path"
    ))]
    Channel {
        /// As given.
        channel: String,
        /// Why it did not parse.
        #[source]
        source: Box<rattler_conda_types::ParseChannelError>,
    },
    /// A spec did not parse.
    #[error("`{spec}` is not a valid match spec")]
    #[diagnostic(help("match specs look like `numpy >=1.26,<2` or `python 3.11.*`"))]
    Spec {
        /// As given.
        spec: String,
        /// Why.
        #[source]
        source: Box<SpecError>,
    },
    /// Repodata could not be fetched or read.
    #[error("cannot read the repodata{}", channel.as_ref().map(|c| format!(" of channel {c}")).unwrap_or_default())]
    Gateway {
        /// The channel that failed (`name (url)`), when the error names one.
        channel: Option<String>,
        /// The gateway's error.
        #[source]
        source: crate::message::Cause,
        /// What to do, judged from the failure.
        #[help]
        help: String,
    },
    /// Virtual package detection failed.
    #[error("cannot detect the host's virtual packages")]
    VirtualPackages(#[source] rattler_virtual_packages::DetectVirtualPackageError),
    /// No solution.
    #[error("cannot solve {specs}:\n{explanation}")]
    #[diagnostic(help("check the channels given with -c and the versions requested"))]
    Unsolvable {
        /// The requested specs, joined.
        specs: String,
        /// resolvo's explanation.
        explanation: String,
    },
}

const GATEWAY_HELP: &str = "check that the channel exists and has been indexed \
    (`scivision channel index DIR`); without network, `--offline` uses the repodata and packages \
    already cached";

impl SolveError {
    /// A repodata failure of one of `channels`, with help that fits it (a server error, a
    /// timeout, damaged data).
    pub fn gateway(e: rattler_repodata_gateway::GatewayError, channels: &[Channel]) -> Self {
        let reason = crate::message::error_chain(&e);
        // The longest base URL in the error: `…/a/` is a prefix of `…/a/b/` too.
        let channel = channels
            .iter()
            .filter(|c| reason.contains(c.base_url.as_str()))
            .max_by_key(|c| c.base_url.as_str().len())
            .map(|c| {
                let url = c.base_url.as_str();
                let name = c.name();
                if url.trim_end_matches('/') == name.trim_end_matches('/') {
                    url.to_string()
                } else {
                    format!("{name} ({url})")
                }
            });
        Self::Gateway {
            channel,
            help: crate::http::help_for(&e).unwrap_or_else(|| GATEWAY_HELP.to_string()),
            source: Box::new(e),
        }
    }
}

/// Parses channel strings against `root` (for relative paths).
pub fn parse_channels(channels: &[String], root: PathBuf) -> Result<Vec<Channel>, SolveError> {
    let config = ChannelConfig::default_with_root_dir(root);
    channels
        .iter()
        .map(|c| {
            Channel::from_str(c, &config).map_err(|e| SolveError::Channel {
                channel: c.clone(),
                source: Box::new(e),
            })
        })
        .collect()
}

/// Parses match specs.
pub fn parse_specs(specs: &[String]) -> Result<Vec<MatchSpec>, SolveError> {
    specs
        .iter()
        .map(|s| {
            match_spec(s, ParseStrictness::Lenient).map_err(|e| SolveError::Spec {
                spec: s.clone(),
                source: Box::new(e),
            })
        })
        .collect()
}

/// Parses one match spec: the one door every spec from a user, a card, a recipe or a lock
/// goes through. rattler's parser panics on a build number beyond 64 bits
/// (`pkg[build_number=">99999999999999999999"]`, found by fuzzing); that is refused here first.
pub fn match_spec(text: &str, strictness: ParseStrictness) -> Result<MatchSpec, SpecError> {
    if let Some(number) = oversized_build_number(text) {
        return Err(SpecError::BuildNumberTooLarge(number));
    }
    Ok(MatchSpec::from_str(text, strictness)?)
}

/// Why a match spec was refused.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    /// A build number rattler's parser would panic on.
    #[error("the build number {0} is too large (at most {max})", max = u64::MAX)]
    BuildNumberTooLarge(String),
    /// rattler's parser refused it. Its message, with its causes, is the text: some of
    /// rattler's variants print their cause in their own message as well, so a chain would
    /// say it twice.
    #[error("{}", crate::message::error_chain(.0))]
    Parse(rattler_conda_types::ParseMatchSpecError),
}

impl From<rattler_conda_types::ParseMatchSpecError> for SpecError {
    fn from(e: rattler_conda_types::ParseMatchSpecError) -> Self {
        Self::Parse(e)
    }
}

/// A run of digits after `build_number` that does not fit in a u64.
fn oversized_build_number(text: &str) -> Option<String> {
    let lower = text.to_ascii_lowercase();
    let mut rest = lower.as_str();
    while let Some(i) = rest.find("build_number") {
        rest = &rest[i + "build_number".len()..];
        // Its value only: up to the next key or the end of the brackets.
        let value = rest.split([',', ']']).next().unwrap_or_default();
        for run in value
            .split(|c: char| !c.is_ascii_digit())
            .filter(|r| !r.is_empty())
        {
            if run.parse::<u64>().is_err() {
                return Some(run.to_string());
            }
        }
    }
    None
}

/// Solves `specs` for `platform` (plus noarch) from `channels`.
pub async fn solve(
    gateway: &Gateway,
    channels: &[Channel],
    platform: Subdir,
    specs: Vec<MatchSpec>,
    virtual_packages: Vec<GenericVirtualPackage>,
) -> Result<Vec<RepoDataRecord>, SolveError> {
    solve_with(gateway, channels, platform, specs, virtual_packages, |_| {
        None
    })
    .await
}

/// Repodata fetched once for many solves (lint and conflict checks solve hundreds of spec sets
/// against the same channels).
pub struct Loaded {
    repodata: Vec<rattler_repodata_gateway::RepoData>,
}

impl Loaded {
    /// Fetches every record of the names `specs` can reach (recursively) from `channels` for
    /// `platform`.
    pub async fn query(
        gateway: &Gateway,
        channels: &[Channel],
        platform: Subdir,
        specs: Vec<MatchSpec>,
    ) -> Result<Self, SolveError> {
        // The gateway keeps only the records a root spec matches; later solves use other specs of
        // the same names, so ask for the names alone.
        let specs: Vec<MatchSpec> = specs
            .into_iter()
            .map(|s| MatchSpec {
                name: s.name,
                ..MatchSpec::default()
            })
            .collect();
        let repodata = gateway
            .query(channels.iter().cloned(), [platform, Subdir::NoArch], specs)
            .recursive(true)
            .execute()
            .await
            .map_err(|e| SolveError::gateway(e, channels))?;
        Ok(Self {
            repodata: repodata.repodata,
        })
    }

    /// Every record loaded.
    pub fn records(&self) -> impl Iterator<Item = &RepoDataRecord> {
        self.repodata.iter().flat_map(|r| r.iter())
    }

    /// Whether any channel publishes `name`.
    pub fn has(&self, name: &str) -> bool {
        self.repodata
            .iter()
            .flat_map(|r| r.iter())
            .any(|r| r.package_record.name.as_normalized() == name)
    }

    /// Solves `specs` against the loaded records (CPU-bound: call it off the async workers).
    pub fn solve(
        &self,
        specs: &[MatchSpec],
        virtual_packages: &[GenericVirtualPackage],
    ) -> Result<Vec<RepoDataRecord>, SolveError> {
        let mut task: SolverTask<'_, _> = self.repodata.iter().collect();
        task.specs = specs.to_vec();
        task.virtual_packages = virtual_packages.to_vec();
        resolvo::Solver
            .solve(task)
            .map(|s| s.records)
            .map_err(|e| SolveError::Unsolvable {
                specs: specs
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", "),
                explanation: e.to_string(),
            })
    }
}

/// As [`solve`], ruling out candidates for which `exclude` gives a reason (kept visible to the
/// explanation, e.g. "not in the local package cache" when offline).
pub async fn solve_with(
    gateway: &Gateway,
    channels: &[Channel],
    platform: Subdir,
    specs: Vec<MatchSpec>,
    virtual_packages: Vec<GenericVirtualPackage>,
    exclude: impl Fn(&RepoDataRecord) -> Option<&'static str>,
) -> Result<Vec<RepoDataRecord>, SolveError> {
    if specs.is_empty() {
        return Ok(Vec::new());
    }
    let started = std::time::Instant::now();
    let repodata = gateway
        .query(
            channels.iter().cloned(),
            [platform, Subdir::NoArch],
            specs.clone(),
        )
        .recursive(true)
        .execute()
        .await
        .map_err(|e| SolveError::gateway(e, channels))?;
    tracing::debug!(
        "solve: {} records read in {:?}",
        repodata.iter().map(|r| r.len()).sum::<usize>(),
        started.elapsed()
    );
    let shown = specs
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    let excluded: std::collections::HashMap<url::Url, std::sync::Arc<str>> = repodata
        .iter()
        .flat_map(|r| r.iter())
        .filter_map(|r| exclude(r).map(|why| (r.url.clone(), std::sync::Arc::from(why))))
        .collect();
    // resolvo is CPU-bound; keep it off the async workers.
    let result = tokio::task::spawn_blocking(move || {
        let mut task: SolverTask<'_, _> = repodata.iter().collect();
        task.specs = specs;
        task.virtual_packages = virtual_packages;
        task.excluded_candidates = excluded;
        let solved = resolvo::Solver.solve(task).map(|s| s.records);
        tracing::debug!("solve: solved at {:?}", started.elapsed());
        solved
    })
    .await
    .map_err(|e| SolveError::Gateway {
        channel: None,
        source: format!("solver task failed: {e}").into(),
        help: GATEWAY_HELP.to_string(),
    })?;
    result.map_err(|e| SolveError::Unsolvable {
        specs: shown,
        explanation: e.to_string(),
    })
}

impl SolveError {
    /// What kind of failure this is.
    pub fn class(&self) -> crate::message::ErrorClass {
        use crate::message::ErrorClass;
        match self {
            Self::Channel { .. } | Self::Spec { .. } => ErrorClass::Input,
            // A local channel that cannot be read is the given path's fault, not the network's.
            Self::Gateway { channel, .. }
                if channel.as_deref().is_some_and(|c| c.contains("file://")) =>
            {
                ErrorClass::Input
            }
            Self::Gateway { .. } => ErrorClass::Network,
            Self::VirtualPackages(_) => ErrorClass::Failed,
            Self::Unsolvable { .. } => ErrorClass::Unsolvable,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_oversized_build_number_is_an_error_not_a_panic() {
        let e = match_spec(
            r#"numpy[version=">=1.2", build_number=">999999999999999999999993"]"#,
            ParseStrictness::Lenient,
        )
        .unwrap_err();
        assert!(e.to_string().contains("too large"), "{e}");
        assert!(match_spec("numpy[build_number=\">3\"]", ParseStrictness::Lenient).is_ok());
        assert!(match_spec(
            "pkg 1.0 h99999999999999999999999_0",
            ParseStrictness::Lenient
        )
        .is_ok());
        assert!(match_spec(
            "pkg[build_number=1, build=h99999999999999999999999_0]",
            ParseStrictness::Lenient
        )
        .is_ok());
    }
}
