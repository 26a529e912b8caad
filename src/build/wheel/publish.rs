//! `convert`'s workflow: wheels converted into a channel as a whole or not at all.

use std::path::{Path, PathBuf};

use super::{convert, ConvertOptions};
use crate::build::BuildError;

/// Converts every wheel into a staging folder first (a failure leaves the channel untouched),
/// then, holding the channel's lock, copies the packages into `channel` (and indexes it when
/// `index`). Returns the written files relative to the channel (`noarch/x-1.0-….conda`).
pub async fn publish(
    wheels: &[PathBuf],
    channel: &Path,
    options: &ConvertOptions,
    index: bool,
) -> Result<Vec<String>, BuildError> {
    let staging = tempfile::tempdir().map_err(BuildError::io(channel))?;
    let mut converted = Vec::new();
    for (i, wheel) in wheels.iter().enumerate() {
        let file = convert(wheel, &staging.path().join(i.to_string()), options)?;
        let index: rattler_conda_types::package::IndexJson =
            rattler_package_streaming::seek::read_package_file(&file).map_err(|e| {
                super::bad_wheel(wheel, format!("its package reads back wrong: {e}"))
            })?;
        let subdir = index.subdir.unwrap_or_else(|| "noarch".into());
        let name = file
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        converted.push((file, format!("{subdir}/{name}")));
    }
    // Other writers into the channel (builds, indexes) wait until these files are in place.
    let _lock = crate::channel::lock(channel).await?;
    let mut written = Vec::new();
    for (file, rel) in converted {
        let target = channel.join(&rel);
        crate::atomic::copy(&file, &target).map_err(BuildError::io(&target))?;
        written.push(rel);
    }
    if index {
        crate::channel::index_locked(channel, None, false).await?;
    }
    Ok(written)
}
