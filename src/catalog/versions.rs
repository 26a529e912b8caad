//! The versions of a model's package that channels publish, with their deprecation state
//! (`catalog show -c`).

use std::collections::BTreeMap;

use rattler_conda_types::{Channel, RepoDataRecord, Subdir, Version};
use serde::Serialize;

use crate::solve::SolveError;

/// One version of a model in its channels.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct VersionState {
    /// The version.
    pub version: String,
    /// Its builds (build strings).
    pub builds: Vec<String>,
    /// Whether every build of it is deprecated.
    pub deprecated: bool,
    /// Why, where the channel says.
    pub reason: Option<String>,
}

/// The versions of `package` the channels publish for `platform` (and noarch), newest first,
/// with their deprecation state.
pub async fn versions(
    package: &str,
    channels: &[Channel],
    platform: Subdir,
) -> Result<Vec<VersionState>, SolveError> {
    let specs = crate::solve::parse_specs(&[package.to_string()])?;
    let records: Vec<RepoDataRecord> = crate::prefix::gateway()
        .query(channels.iter().cloned(), [platform, Subdir::NoArch], specs)
        .execute()
        .await
        .map_err(|e| SolveError::gateway(e, channels))?
        .iter()
        .flat_map(|r| r.iter().cloned())
        .collect();
    let mut by_version: BTreeMap<Version, Vec<&RepoDataRecord>> = BTreeMap::new();
    for r in &records {
        by_version
            .entry(r.package_record.version.version().clone())
            .or_default()
            .push(r);
    }
    // One channeldata.json read per channel for every deprecated build.
    let picks = crate::channel::deprecated_picks(&records, false).await;
    let mut out = Vec::new();
    for (version, builds) in by_version.into_iter().rev() {
        let deprecated = builds
            .iter()
            .all(|r| crate::channel::is_deprecated(&r.package_record));
        let text = version.to_string();
        out.push(VersionState {
            builds: builds
                .iter()
                .map(|r| r.package_record.build.to_string())
                .collect(),
            deprecated,
            reason: picks
                .iter()
                .find(|p| p.version == text)
                .and_then(|p| p.reason.clone()),
            version: text,
        });
    }
    Ok(out)
}
