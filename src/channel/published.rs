//! What a channel publishes, read by its clients: the catalog models in its
//! `channeldata.json`, and its deprecations (which a solve's picks are warned about).

use std::collections::BTreeMap;

use serde::Serialize;

use super::{is_deprecated, Deprecation};

/// A channel's `channeldata.json` (`base` is the channel's URL, `file://` or `http(s)://`).
/// Best effort: `None` for a channel without the file, or one that cannot be read.
pub async fn channeldata(
    client: &reqwest_middleware::ClientWithMiddleware,
    base: &url::Url,
) -> Option<serde_json::Value> {
    let mut base = base.clone();
    if !base.path().ends_with('/') {
        base.set_path(&format!("{}/", base.path()));
    }
    let url = base.join("channeldata.json").ok()?;
    let text = if url.scheme() == "file" {
        fs_err::read_to_string(url.to_file_path().ok()?).ok()
    } else {
        match client.get(url).send().await {
            Ok(r) if r.status().is_success() => r.text().await.ok(),
            _ => None,
        }
    };
    text.and_then(|t| serde_json::from_str(&t).ok())
}

/// A catalog model that a channel publishes as a package: its channeldata.json entry names
/// the model under `scivision.catalog` (written from the recipe's `extra.scivision`).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct PublishedModel {
    /// The catalog name.
    pub catalog: String,
    /// The conda package.
    pub package: String,
    /// Its newest version there.
    pub version: String,
    /// The channel's URL.
    pub channel: String,
}

/// The catalog models `data` (a channel's channeldata.json) publishes.
pub fn published_models(data: &serde_json::Value, channel: &str) -> Vec<PublishedModel> {
    let mut out = Vec::new();
    for (name, entry) in data
        .get("packages")
        .and_then(|p| p.as_object())
        .into_iter()
        .flatten()
    {
        let catalog = entry
            .get("scivision")
            .and_then(|s| s.get("catalog"))
            .and_then(|c| c.as_str());
        if let Some(catalog) = catalog {
            out.push(PublishedModel {
                catalog: catalog.to_string(),
                package: name.clone(),
                version: entry
                    .get("version")
                    .and_then(|v| v.as_str())
                    .unwrap_or_default()
                    .to_string(),
                channel: channel.to_string(),
            });
        }
    }
    out
}

/// The catalog models `channels` publish (their channeldata.json), in channel order. Channels
/// `skip` names are not asked: conda-forge and its mirrors publish no scivision model, and
/// their channeldata.json is large. Offline, only local channels are read.
pub async fn published_in(
    channels: &[rattler_conda_types::Channel],
    skip: impl Fn(&str) -> bool,
    offline: bool,
) -> Vec<PublishedModel> {
    let client = crate::http::client_for(offline);
    let mut out = Vec::new();
    for channel in channels {
        let base = channel.base_url.url();
        if skip(base.as_str()) || (offline && base.scheme() != "file") {
            continue;
        }
        if let Some(data) = channeldata(&client, base).await {
            out.extend(published_models(&data, base.as_str()));
        }
    }
    out
}

/// The deprecations a channel publishes in its `channeldata.json`. Best effort: a channel
/// without the file, or one that cannot be read, publishes none (the mark in the repodata still
/// ranks deprecated builds last).
pub async fn published_deprecations(
    client: &reqwest_middleware::ClientWithMiddleware,
    base: &url::Url,
) -> Vec<Deprecation> {
    let Some(data) = channeldata(client, base).await else {
        return Vec::new();
    };
    let mut out = Vec::new();
    if let Some(packages) = data.get("packages").and_then(|p| p.as_object()) {
        for (name, entry) in packages {
            for d in entry
                .get("deprecated")
                .and_then(|d| d.as_array())
                .into_iter()
                .flatten()
            {
                out.push(Deprecation {
                    name: name.clone(),
                    version: d
                        .get("version")
                        .and_then(|v| v.as_str())
                        .map(str::to_string),
                    reason: d
                        .get("reason")
                        .and_then(|r| r.as_str())
                        .unwrap_or_default()
                        .to_string(),
                });
            }
        }
    }
    out
}

/// The reason among `published` that covers `name` at `version` (an exact version first).
pub fn reason_for<'a>(published: &'a [Deprecation], name: &str, version: &str) -> Option<&'a str> {
    let exact = published
        .iter()
        .find(|d| d.name == name && d.version.as_deref() == Some(version));
    exact
        .or_else(|| {
            published
                .iter()
                .find(|d| d.name == name && d.version.is_none())
        })
        .map(|d| d.reason.as_str())
}

/// A deprecated package a solve picked (asked for by version), with the channel's reason.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct DeprecatedPick {
    /// Package name.
    pub name: String,
    /// Its version.
    pub version: String,
    /// Why it is deprecated, when its channel says.
    pub reason: Option<String>,
}

/// The deprecated records among `records`, each with the reason its channel publishes.
pub async fn deprecated_picks(
    records: &[rattler_conda_types::RepoDataRecord],
    offline: bool,
) -> Vec<DeprecatedPick> {
    if !records.iter().any(|r| is_deprecated(&r.package_record)) {
        return Vec::new();
    }
    // A client only when a reason must be looked up: building one loads the system's roots.
    let client = crate::http::client_for(offline);
    let client = &client;
    let mut reasons: BTreeMap<String, Vec<Deprecation>> = BTreeMap::new();
    let mut out = Vec::new();
    for r in records.iter().filter(|r| is_deprecated(&r.package_record)) {
        let name = r.package_record.name.as_normalized().to_string();
        let version = r.package_record.version.to_string();
        let channel = r.channel.clone().unwrap_or_default();
        if !reasons.contains_key(&channel) {
            let published = match url::Url::parse(&channel) {
                Ok(base) => published_deprecations(client, &base).await,
                Err(_) => Vec::new(),
            };
            reasons.insert(channel.clone(), published);
        }
        let reason = reasons
            .get(&channel)
            .and_then(|p| reason_for(p, &name, &version))
            .map(str::to_string);
        out.push(DeprecatedPick {
            name,
            version,
            reason,
        });
    }
    out
}
