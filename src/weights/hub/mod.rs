//! Hugging Face Hub repositories, kept in the Hub's own cache layout so that huggingface_hub's
//! `hf_hub_download`/`snapshot_download` and transformers' `from_pretrained` find them, with
//! `HF_HUB_OFFLINE=1` too (the runner points `HF_HOME` at `huggingface/`):
//!
//! ```text
//! huggingface/hub/models--<org>--<name>/
//!   blobs/<etag>               the bytes, named by the Hub's ETag: an LFS file's sha256,
//!                              any other file's git blob id
//!   snapshots/<commit>/<path>  a link to ../../blobs/<etag>
//!   refs/<branch>              the commit the branch pointed to at the fetch
//! scivision-hub/models--<org>--<name>/<commit>.json
//!                              the files the fetch chose and their hashes: what `weights list`
//!                              checks and a pack carries (the links are made again on unpack)
//! ```
//!
//! The file list and hashes come from the Hub's API (`/api/models/<id>/revision/<rev>?blobs=true`),
//! the bytes from `/<id>/resolve/<commit>/<path>`, at the record's origin or at the mirror (as
//! `HF_ENDPOINT` moves huggingface_hub).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

mod fetch;

pub(super) use fetch::Fetch;

use super::{hash_file, io, FileStatus, Pin, State, WeightFile, WeightsError};

/// The Hub cache, relative to the weights folder (`$HF_HOME/hub`).
pub(super) const CACHE: &str = "huggingface/hub";
/// scivision's records of the snapshots it fetched, relative to the weights folder.
pub(super) const RECORDS: &str = "scivision-hub";

/// The repository id in a record's URL: its path (`org/name`, or a legacy `name`).
fn repo_id(url: &str) -> Result<String, String> {
    let parsed = url::Url::parse(url).map_err(|e| format!("`{url}`: {e}"))?;
    let id = parsed.path().trim_matches('/');
    let parts: Vec<&str> = id.split('/').collect();
    let plain = |p: &&str| !p.is_empty() && *p != "." && *p != "..";
    if !matches!(parsed.scheme(), "http" | "https")
        || parsed.query().is_some()
        || parts.len() > 2
        || !parts.iter().all(plain)
    {
        return Err(format!(
            "`{url}` is no Hub repository URL (`https://huggingface.co/<org>/<name>`)"
        ));
    }
    Ok(id.to_string())
}

/// The repository's cache folder: `models--<org>--<name>` (huggingface_hub's
/// `repo_folder_name`).
pub(super) fn folder_name(url: &str) -> String {
    format!(
        "models--{}",
        repo_id(url).unwrap_or_default().replace('/', "--")
    )
}

/// What is wrong with a `store: hub` record: `(field, message)`.
pub(super) fn problems(f: &WeightFile) -> Vec<(String, String)> {
    let mut out = Vec::new();
    if let Err(e) = repo_id(&f.url) {
        out.push(("url".into(), e));
    }
    for (field, set) in [
        ("hash", f.hash.is_some()),
        ("download", f.download.is_some()),
        ("fname", f.fname.is_some()),
        ("size", f.size.is_some()),
    ] {
        if set {
            out.push((
                field.into(),
                "a `store: hub` record has none: the Hub gives each file's name, hash and size"
                    .into(),
            ));
        }
    }
    if let Some(r) = &f.revision {
        if r.is_empty() || r.starts_with('/') || r.split('/').any(|p| p == ".." || p == ".") {
            out.push((
                "revision".into(),
                format!("`{r}` is no branch, tag or commit"),
            ));
        }
    }
    match &f.files {
        Some(patterns) if patterns.is_empty() => out.push((
            "files".into(),
            "lists no pattern: leave it out to fetch the default".into(),
        )),
        Some(patterns) => {
            for (i, p) in patterns.iter().enumerate() {
                if let Err(e) = globset::Glob::new(p) {
                    out.push((format!("files[{i}]"), e.to_string()));
                }
            }
        }
        None => {}
    }
    out
}

fn revision(f: &WeightFile) -> &str {
    f.revision.as_deref().unwrap_or("main")
}

fn is_commit(rev: &str) -> bool {
    rev.len() == 40 && rev.bytes().all(|b| b.is_ascii_hexdigit())
}

/// A branch or tag name that stays inside `refs/` as a path.
fn plain_revision(rev: &str) -> bool {
    !rev.is_empty()
        && !rev.starts_with('/')
        && !rev.contains('\\')
        && rev
            .split('/')
            .all(|p| !p.is_empty() && p != "." && p != "..")
}

/// scivision's record of one fetched snapshot.
#[derive(Debug, Serialize, Deserialize)]
struct Snapshot {
    repo: String,
    revision: String,
    commit: String,
    files: Vec<SnapshotFile>,
}

/// One file of a snapshot.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct SnapshotFile {
    /// Its path in the repository.
    path: String,
    /// Its blob's name (the Hub's ETag for it).
    blob: String,
    /// The hash of its bytes: `sha256:` (LFS files), `git-sha1:` (the others).
    hash: String,
    /// Its size, as the Hub gives it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    size: Option<u64>,
}

/// One repository's places under the weights folder, for one record's choice of files.
struct Repo {
    id: String,
    folder: String,
    cache: PathBuf,
    records: PathBuf,
    /// Which files the record asks for: `all` (the default choice), or a short hash of its
    /// `files:` patterns. Records of one repository with other patterns keep their own
    /// snapshot record (their blobs are shared).
    selection: String,
}

impl Repo {
    fn of(root: &Path, f: &WeightFile) -> Result<Self, WeightsError> {
        let id = repo_id(&f.url).map_err(|reason| WeightsError::Record {
            model: f.url.clone(),
            reason,
        })?;
        let folder = folder_name(&f.url);
        let selection = match &f.files {
            None => "all".to_string(),
            Some(patterns) => {
                use rattler_digest::digest::Digest;
                let digest = rattler_digest::Sha256::digest(patterns.join("\n").as_bytes());
                hex::encode(digest)[..12].to_string()
            }
        };
        Ok(Self {
            cache: root.join(CACHE).join(&folder),
            records: root.join(RECORDS).join(&folder),
            id,
            folder,
            selection,
        })
    }

    /// scivision's record of the snapshot at `commit`, relative to its folder.
    fn record_name(&self, commit: &str) -> String {
        format!("{commit}.{}.json", self.selection)
    }

    /// The commit a revision stands for: itself, or what its ref recorded at the fetch.
    fn commit(&self, revision: &str) -> Option<String> {
        if is_commit(revision) {
            return Some(revision.to_ascii_lowercase());
        }
        if !plain_revision(revision) {
            return None;
        }
        let text = fs_err::read_to_string(self.cache.join("refs").join(revision)).ok()?;
        let commit = text.trim();
        is_commit(commit).then(|| commit.to_string())
    }

    /// The record of the snapshot at `commit`, when it is there and sound: it may come from a
    /// pack, so a commit, blob name or path that would leave the repository's folders makes it
    /// no record at all.
    fn snapshot(&self, commit: &str) -> Option<Snapshot> {
        let text = fs_err::read_to_string(self.records.join(self.record_name(commit))).ok()?;
        let snapshot: Snapshot = serde_json::from_str(&text).ok()?;
        let sound = snapshot.commit == commit
            && is_commit(commit)
            && snapshot.files.iter().all(|f| {
                let pin = f.hash.parse::<Pin>().ok();
                !f.path.is_empty()
                    && Path::new(&f.path)
                        .components()
                        .all(|c| matches!(c, std::path::Component::Normal(_)))
                    && pin.is_some_and(|p| p.hex == f.blob)
            });
        sound.then_some(snapshot)
    }

    fn blob(&self, name: &str) -> PathBuf {
        self.cache.join("blobs").join(name)
    }

    fn link(&self, commit: &str, path: &str) -> PathBuf {
        self.cache.join("snapshots").join(commit).join(path)
    }
}

/// Each file of the record's snapshot (one `missing` entry for the repository while no fetch
/// has resolved its revision).
pub(super) fn status(root: &Path, f: &WeightFile) -> Result<Vec<FileStatus>, WeightsError> {
    let repo = Repo::of(root, f)?;
    let resolved = repo
        .commit(revision(f))
        .and_then(|c| repo.snapshot(&c).map(|s| (c, s)));
    let Some((commit, snapshot)) = resolved else {
        return Ok(vec![FileStatus {
            url: f.url.clone(),
            path: repo.cache.clone(),
            state: State::Missing,
            expected: None,
            actual: None,
            size: None,
            used_by: f.used_by.clone(),
        }]);
    };
    snapshot
        .files
        .iter()
        .map(|file| {
            let blob = repo.blob(&file.blob);
            let link = repo.link(&commit, &file.path);
            let mut status = FileStatus {
                url: format!("{}/resolve/{commit}/{}", f.url, file.path),
                path: link.clone(),
                state: State::Missing,
                expected: Some(file.hash.clone()),
                actual: None,
                size: None,
                used_by: f.used_by.clone(),
            };
            let Ok(meta) = fs_err::metadata(&blob) else {
                return Ok(status);
            };
            let Ok(pin) = file.hash.parse::<Pin>() else {
                return Ok(status);
            };
            let actual = hash_file(&blob, pin.algorithm)?;
            status.size = Some(meta.len());
            status.state = if actual.hex != pin.hex {
                State::Corrupt
            } else if fs_err::read_link(&link).ok() != Some(link_target(file)) {
                State::Missing
            } else {
                State::Present
            };
            status.actual = Some(actual.to_string());
            Ok(status)
        })
        .collect()
}

/// A snapshot link's target, relative to the link: `../../blobs/<etag>`, one more `..` for each
/// folder of the file's path.
fn link_target(file: &SnapshotFile) -> PathBuf {
    let up = 2 + file.path.matches('/').count();
    let mut target = PathBuf::new();
    for _ in 0..up {
        target.push("..");
    }
    target.join("blobs").join(&file.blob)
}

/// Makes each snapshot link point at its blob (replacing a wrong one in one rename).
fn link(repo: &Repo, snapshot: &Snapshot) -> Result<(), WeightsError> {
    for file in &snapshot.files {
        let path = repo.link(&snapshot.commit, &file.path);
        let target = link_target(file);
        if fs_err::read_link(&path).ok().as_ref() == Some(&target) {
            continue;
        }
        let dir = path.parent().unwrap_or(&repo.cache);
        fs_err::create_dir_all(dir).map_err(io(dir))?;
        let tmp = dir.join(format!(".link-{}", std::process::id()));
        let _ = fs_err::remove_file(&tmp);
        std::os::unix::fs::symlink(&target, &tmp).map_err(io(&tmp))?;
        fs_err::rename(&tmp, &path).map_err(io(&path))?;
    }
    Ok(())
}

/// After an unpack: the snapshot links again, from scivision's record (nothing when the
/// repository was never fetched).
pub(super) fn relink(root: &Path, f: &WeightFile) -> Result<(), WeightsError> {
    let repo = Repo::of(root, f)?;
    if let Some(snapshot) = repo.commit(revision(f)).and_then(|c| repo.snapshot(&c)) {
        link(&repo, &snapshot)?;
    }
    Ok(())
}

/// What a pack carries of a fetched repository, relative to the weights folder: its blobs,
/// the ref of its branch, and scivision's record of the snapshot.
pub(super) fn carried(root: &Path, f: &WeightFile) -> Result<Vec<PathBuf>, WeightsError> {
    let repo = Repo::of(root, f)?;
    let rev = revision(f);
    let Some(commit) = repo.commit(rev) else {
        return Ok(Vec::new());
    };
    let Some(snapshot) = repo.snapshot(&commit) else {
        return Ok(Vec::new());
    };
    let cache = Path::new(CACHE).join(&repo.folder);
    let mut out: Vec<PathBuf> = snapshot
        .files
        .iter()
        .map(|file| cache.join("blobs").join(&file.blob))
        .collect();
    out.sort();
    out.dedup();
    if !is_commit(rev) {
        out.push(cache.join("refs").join(rev));
    }
    out.push(
        Path::new(RECORDS)
            .join(&repo.folder)
            .join(repo.record_name(&commit)),
    );
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repositories_are_named_as_huggingface_hub_names_them() {
        assert_eq!(
            folder_name("https://huggingface.co/microsoft/swin-tiny-patch4-window7-224"),
            "models--microsoft--swin-tiny-patch4-window7-224"
        );
        assert_eq!(folder_name("https://huggingface.co/gpt2"), "models--gpt2");
        assert!(repo_id("https://huggingface.co/a/b/c").is_err());
        assert!(repo_id("https://huggingface.co/").is_err());
        assert!(repo_id("doi:10.1/a/b").is_err());
    }

    #[test]
    fn a_snapshot_record_that_would_leave_its_folders_is_no_record() {
        let dir = tempfile::tempdir().unwrap();
        let f = WeightFile {
            url: "https://huggingface.co/o/n".into(),
            download: None,
            hash: None,
            size: None,
            store: super::super::Store::Hub,
            fname: None,
            revision: None,
            files: None,
            used_by: None,
        };
        let repo = Repo::of(dir.path(), &f).unwrap();
        let commit = "a".repeat(40);
        let write = |files: serde_json::Value, commit_field: &str| {
            std::fs::create_dir_all(&repo.records).unwrap();
            let record = serde_json::json!({"repo": "o/n", "revision": "main", "commit": commit_field, "files": files});
            std::fs::write(
                repo.records.join(repo.record_name(&commit)),
                record.to_string(),
            )
            .unwrap();
        };
        let blob = "b".repeat(64);
        let good = serde_json::json!([{"path": "config.json", "blob": blob, "hash": format!("sha256:{blob}")}]);
        write(good.clone(), &commit);
        assert!(repo.snapshot(&commit).is_some());
        write(good, "../../..");
        assert!(repo.snapshot(&commit).is_none());
        let escape = serde_json::json!([{"path": "../../.bashrc", "blob": blob, "hash": format!("sha256:{blob}")}]);
        write(escape, &commit);
        assert!(repo.snapshot(&commit).is_none());
        let bad_blob =
            serde_json::json!([{"path": "x", "blob": "../../x", "hash": format!("sha256:{blob}")}]);
        write(bad_blob, &commit);
        assert!(repo.snapshot(&commit).is_none());
        assert!(plain_revision("main") && plain_revision("refs/pr/1"));
        assert!(!plain_revision("../x") && !plain_revision("/etc") && !plain_revision("a//b"));
    }

    #[test]
    fn links_climb_out_of_the_snapshot_folder() {
        let file = |p: &str| SnapshotFile {
            path: p.into(),
            blob: "e".into(),
            hash: String::new(),
            size: None,
        };
        assert_eq!(
            link_target(&file("config.json")),
            Path::new("../../blobs/e")
        );
        assert_eq!(
            link_target(&file("unet/model.safetensors")),
            Path::new("../../../blobs/e")
        );
    }
}
