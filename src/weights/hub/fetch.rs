//! Fetching a Hub repository's revision: the API's file list and hashes, the chosen files'
//! blobs, then the snapshot's links, scivision's record of it and the branch's ref.

use std::path::Path;

use serde::Deserialize;

use super::super::{
    download, hash_file, io, FetchOptions, FetchReporter, FileStatus, Pin, State, WeightFile,
    WeightsError,
};
use super::{
    is_commit, link, plain_revision, revision, status, Repo, Snapshot, SnapshotFile, RECORDS,
};

/// What `from_pretrained` does not load in a PyTorch environment: other frameworks' weights.
const DEFAULT_SKIP: [&str; 13] = [
    "*.h5",
    "*.msgpack",
    "*.onnx",
    "*.onnx_data",
    "*.ot",
    "*.tflite",
    "*.mlmodel",
    "*.gguf",
    "*.pb",
    "coreml/**",
    "onnx/**",
    "openvino/**",
    "*.mlpackage/**",
];

/// The Hub's answer about a revision (`/api/models/<id>/revision/<rev>?blobs=true`).
#[derive(Debug, Deserialize)]
struct RevisionInfo {
    sha: String,
    #[serde(default)]
    siblings: Vec<Sibling>,
}

#[derive(Debug, Deserialize)]
struct Sibling {
    rfilename: String,
    #[serde(rename = "blobId")]
    blob_id: Option<String>,
    size: Option<u64>,
    lfs: Option<Lfs>,
}

#[derive(Debug, Deserialize)]
struct Lfs {
    sha256: String,
    size: u64,
}

/// The files of a revision to fetch: the record's patterns, else everything but other
/// frameworks' weights (and `pytorch_model*.bin` beside safetensors).
fn select(siblings: &[Sibling], patterns: Option<&[String]>) -> Result<Vec<SnapshotFile>, String> {
    let set = |globs: &[&str]| {
        let mut b = globset::GlobSetBuilder::new();
        for g in globs {
            b.add(globset::Glob::new(g).map_err(|e| format!("`{g}`: {e}"))?);
        }
        b.build().map_err(|e| e.to_string())
    };
    let chosen: Vec<&Sibling> = match patterns {
        Some(p) => {
            let wanted = set(&p.iter().map(String::as_str).collect::<Vec<_>>())?;
            siblings
                .iter()
                .filter(|s| wanted.is_match(&s.rfilename))
                .collect()
        }
        None => {
            let skip = set(&DEFAULT_SKIP)?;
            let mut chosen: Vec<&Sibling> = siblings
                .iter()
                .filter(|s| !skip.is_match(&s.rfilename))
                .collect();
            // from_pretrained prefers model*.safetensors to pytorch_model*.bin in the same
            // folder; the .bin stays where no safetensors weights sit beside it.
            let split = |name: &str| match name.rsplit_once('/') {
                Some((dir, file)) => (dir.to_string(), file.to_string()),
                None => (String::new(), name.to_string()),
            };
            let weights = set(&["model*.safetensors"])?;
            let bins = set(&["pytorch_model*.bin"])?;
            let with_safetensors: Vec<String> = chosen
                .iter()
                .map(|s| split(&s.rfilename))
                .filter(|(_, file)| weights.is_match(file))
                .map(|(dir, _)| dir)
                .collect();
            chosen.retain(|s| {
                let (dir, file) = split(&s.rfilename);
                !(bins.is_match(&file) && with_safetensors.contains(&dir))
            });
            chosen
        }
    };
    let mut out = Vec::new();
    for s in chosen {
        let path = Path::new(&s.rfilename);
        if !path
            .components()
            .all(|c| matches!(c, std::path::Component::Normal(_)))
        {
            return Err(format!("`{}` is no path inside a repository", s.rfilename));
        }
        let hex = |h: &str, n: usize| h.len() == n && h.bytes().all(|b| b.is_ascii_hexdigit());
        let file = match (&s.lfs, &s.blob_id) {
            (Some(lfs), _) if hex(&lfs.sha256, 64) => SnapshotFile {
                path: s.rfilename.clone(),
                blob: lfs.sha256.to_ascii_lowercase(),
                hash: format!("sha256:{}", lfs.sha256.to_ascii_lowercase()),
                size: Some(lfs.size),
            },
            (None, Some(id)) if hex(id, 40) => SnapshotFile {
                path: s.rfilename.clone(),
                blob: id.to_ascii_lowercase(),
                hash: format!("git-sha1:{}", id.to_ascii_lowercase()),
                size: s.size,
            },
            _ => {
                return Err(format!(
                    "the Hub gives no hash for `{}` (asked with ?blobs=true)",
                    s.rfilename
                ))
            }
        };
        out.push(file);
    }
    if out.is_empty() {
        return Err("no file of the repository matches what the record asks for".into());
    }
    Ok(out)
}

/// One repository's fetch.
pub(in crate::weights) struct Fetch<'a> {
    pub root: &'a Path,
    pub model: &'a str,
    pub options: &'a FetchOptions,
    pub client: &'a reqwest_middleware::ClientWithMiddleware,
    pub reporter: &'a dyn FetchReporter,
}

impl Fetch<'_> {
    fn record_error(&self, reason: String) -> WeightsError {
        WeightsError::Record {
            model: self.model.to_string(),
            reason,
        }
    }

    /// The Hub's address: the mirror, else the record URL's origin.
    fn base(&self, f: &WeightFile) -> Result<url::Url, WeightsError> {
        let text = match &self.options.mirror {
            Some(m) => m.as_str().trim_end_matches('/').to_string(),
            None => url::Url::parse(&f.url)
                .map_err(|e| self.record_error(format!("`{}`: {e}", f.url)))?
                .origin()
                .ascii_serialization(),
        };
        url::Url::parse(&text).map_err(|e| self.record_error(format!("`{text}`: {e}")))
    }

    fn url(&self, base: &url::Url, segments: &[&str]) -> url::Url {
        let mut url = base.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(segments);
        }
        url
    }

    async fn revision_info(
        &self,
        base: &url::Url,
        repo: &Repo,
        rev: &str,
    ) -> Result<RevisionInfo, WeightsError> {
        let mut segments = vec!["api", "models"];
        segments.extend(repo.id.split('/'));
        segments.extend(["revision", rev]);
        let mut url = self.url(base, &segments);
        url.set_query(Some("blobs=true"));
        let url_text = crate::redact::for_file(&url).to_string();
        let response = self
            .client
            .get(url.clone())
            .send()
            .await
            .map_err(|source| WeightsError::Http {
                url: url_text.clone(),
                source,
            })?;
        if !response.status().is_success() {
            return Err(WeightsError::Status {
                url: url_text,
                status: response.status().as_u16(),
            });
        }
        let body = response
            .bytes()
            .await
            .map_err(|source| WeightsError::Body {
                url: url_text.clone(),
                source,
            })?;
        let info: RevisionInfo = serde_json::from_slice(&body)
            .map_err(|e| self.record_error(format!("{url_text} answered no Hub revision: {e}")))?;
        if !is_commit(&info.sha) {
            return Err(self.record_error(format!("{url_text} names no commit (`{}`)", info.sha)));
        }
        Ok(info)
    }

    /// Fetches the record's repository at its revision: the chosen files' blobs (each
    /// hash-checked before it is renamed into place), the snapshot links, scivision's record
    /// of the snapshot, and last the branch's ref, so that a fetch killed before its end
    /// leaves no ref a model could follow to a partial snapshot.
    pub(in crate::weights) async fn run(
        &self,
        f: &WeightFile,
    ) -> Result<Vec<FileStatus>, WeightsError> {
        let repo = Repo::of(self.root, f)?;
        let lock = self
            .root
            .join(RECORDS)
            .join(format!("{}.lock", repo.folder));
        let _lock = crate::atomic::lock_async(&lock).await.map_err(io(&lock))?;
        let now = status(self.root, f)?;
        if now.iter().all(|s| s.state == State::Present) {
            return Ok(now);
        }
        if self.options.offline {
            return Err(WeightsError::Offline {
                model: self.model.to_string(),
                file: repo.id.clone(),
            });
        }
        let rev = revision(f);
        if !is_commit(rev) && !plain_revision(rev) {
            return Err(self.record_error(format!("`{rev}` is no branch, tag or commit")));
        }
        let base = self.base(f)?;
        let info = self.revision_info(&base, &repo, rev).await?;
        if is_commit(rev) && !info.sha.eq_ignore_ascii_case(rev) {
            return Err(self.record_error(format!(
                "{} at {rev}: the Hub answered commit {}",
                repo.id, info.sha
            )));
        }
        let files = select(&info.siblings, f.files.as_deref())
            .map_err(|e| self.record_error(format!("{}: {e}", repo.id)))?;
        for file in &files {
            self.blob(&base, &repo, &info.sha, file).await?;
        }
        let snapshot = Snapshot {
            repo: repo.id.clone(),
            revision: rev.to_string(),
            commit: info.sha.to_ascii_lowercase(),
            files,
        };
        link(&repo, &snapshot)?;
        let record = repo.records.join(repo.record_name(&snapshot.commit));
        let text = serde_json::to_string_pretty(&snapshot).map_err(|e| io(&record)(e.into()))?;
        crate::atomic::write(&record, text.as_bytes()).map_err(io(&record))?;
        if !is_commit(rev) {
            let r = repo.cache.join("refs").join(rev);
            crate::atomic::write(&r, snapshot.commit.as_bytes()).map_err(io(&r))?;
        }
        Ok(snapshot
            .files
            .iter()
            .map(|file| FileStatus {
                url: format!("{}/resolve/{}/{}", f.url, snapshot.commit, file.path),
                path: repo.link(&snapshot.commit, &file.path),
                state: State::Present,
                expected: Some(file.hash.clone()),
                actual: Some(file.hash.clone()),
                size: file.size,
                used_by: f.used_by.clone(),
            })
            .collect())
    }

    /// One blob, unless it is there with the right bytes.
    async fn blob(
        &self,
        base: &url::Url,
        repo: &Repo,
        commit: &str,
        file: &SnapshotFile,
    ) -> Result<(), WeightsError> {
        let expected: Pin = file
            .hash
            .parse()
            .map_err(|e: String| self.record_error(e))?;
        let blob = repo.blob(&file.blob);
        if blob.is_file() && hash_file(&blob, expected.algorithm)?.hex == expected.hex {
            return Ok(());
        }
        let mut segments: Vec<&str> = repo.id.split('/').collect();
        segments.extend(["resolve", commit]);
        segments.extend(file.path.split('/'));
        let url = self.url(base, &segments);
        let part = repo.blob(&format!("{}.part", file.blob));
        let actual = download::to_part(
            &url,
            &part,
            expected.algorithm,
            (&file.path, file.size),
            self.client,
            self.reporter,
        )
        .await?;
        download::check(&part, &actual, Some(&expected), (&file.path, &url))?;
        download::commit(&part, &blob)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sibling(name: &str, lfs: bool) -> Sibling {
        Sibling {
            rfilename: name.into(),
            blob_id: Some("a".repeat(40)),
            size: Some(1),
            lfs: lfs.then(|| Lfs {
                sha256: "b".repeat(64),
                size: 2,
            }),
        }
    }

    #[test]
    fn the_default_skips_other_frameworks_and_bins_beside_safetensors() {
        let siblings = [
            sibling("config.json", false),
            sibling("model.safetensors", true),
            sibling("pytorch_model.bin", true),
            sibling("tf_model.h5", true),
            sibling("flax_model.msgpack", true),
            sibling("onnx/model.onnx", true),
        ];
        let names = |v: Vec<SnapshotFile>| v.into_iter().map(|f| f.path).collect::<Vec<_>>();
        assert_eq!(
            names(select(&siblings, None).unwrap()),
            ["config.json", "model.safetensors"]
        );
        // Without safetensors beside it the .bin is what from_pretrained loads.
        assert_eq!(
            names(select(&siblings[2..4], None).unwrap()),
            ["pytorch_model.bin"]
        );
        let elsewhere = [
            sibling("pytorch_model.bin", true),
            sibling("unet/model.safetensors", true),
        ];
        assert_eq!(
            names(select(&elsewhere, None).unwrap()),
            ["pytorch_model.bin", "unet/model.safetensors"]
        );
        let chosen = select(&siblings, Some(&["*.json".into(), "tf_*".into()])).unwrap();
        assert_eq!(chosen[0].hash, format!("git-sha1:{}", "a".repeat(40)));
        assert_eq!(chosen[1].blob, "b".repeat(64));
        assert!(select(&siblings, Some(&["*.txt".into()])).is_err());
        assert!(select(&[sibling("../x", false)], None).is_err());
    }
}
