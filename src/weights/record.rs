//! Weight records: what a model's card (`weights:`) and its package (`extra.scivision.weights`)
//! say about each file its code loads, and where that file goes.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use rattler_digest::digest::Digest;
use serde::{Deserialize, Serialize};

use super::hub;

/// How a model's code finds one of its weight files.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum Store {
    /// `pooch.retrieve(url, known_hash)` with pooch's default cache folder.
    Pooch,
    /// A file the code reads from (and would download into) its working directory, including
    /// `pooch.retrieve(..., path=".")`.
    Cwd,
    /// keras' `get_file(fname, origin, cache_subdir="models")`.
    Keras,
    /// A Hugging Face Hub repository that `from_pretrained(repo_id)` (transformers,
    /// huggingface_hub) loads: `url` is `https://huggingface.co/<repo_id>`.
    Hub,
}

/// One weight file of a model, as recorded in its card (`weights:`) and its package's
/// `extra.scivision.weights`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct WeightFile {
    /// The URL exactly as the model's code passes it: pooch names its cache file after it.
    pub url: String,
    /// Where the bytes are, when `url` is no plain HTTP(S) URL (pooch's `doi:`) or an old form.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub download: Option<String>,
    /// The hash upstream pins (`md5:<hex>` or `sha256:<hex>`); absent where it pins none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hash: Option<String>,
    /// Size in bytes, where known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    /// How the code finds the file.
    pub store: Store,
    /// The file name the code gives (pooch's `fname`, the working-directory file, keras'
    /// `fname`); default: pooch's name for the URL (`pooch`, `cwd`), its last part (`keras`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fname: Option<String>,
    /// `hub`: the branch, tag or commit to fetch (default `main`); the commit a branch
    /// pointed to is recorded at the first fetch, and a pack carries that one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
    /// `hub`: glob patterns of the repository files to fetch. Default: every file but other
    /// frameworks' weights (TensorFlow, Flax, ONNX, Core ML, GGUF), and `pytorch_model*.bin`
    /// where the repository has safetensors (what `from_pretrained` prefers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub files: Option<Vec<String>>,
    /// Which model class or variant loads it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub used_by: Option<String>,
}

/// A hash algorithm upstream pins with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Algorithm {
    /// MD5 (what pooch pins on Zenodo, where the API reports it).
    Md5,
    /// SHA-256.
    Sha256,
    /// Git's blob id (SHA-1 of `blob <size>\0` and the bytes): how the Hub names a file that
    /// is not in LFS.
    #[serde(rename = "git-sha1")]
    GitSha1,
}

/// A pinned hash: `md5:<32 hex>` or `sha256:<64 hex>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pin {
    /// The algorithm.
    pub algorithm: Algorithm,
    /// Lower-case hex digest.
    pub hex: String,
}

impl std::str::FromStr for Pin {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (algorithm, hex, len) = match s.split_once(':') {
            Some(("md5", hex)) => (Algorithm::Md5, hex, 32),
            Some(("sha256", hex)) => (Algorithm::Sha256, hex, 64),
            Some(("git-sha1", hex)) => (Algorithm::GitSha1, hex, 40),
            _ => return Err(format!("`{s}` is not `md5:<hex>` or `sha256:<hex>`")),
        };
        if hex.len() != len || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(format!("`{s}`: the digest is not {len} hex digits"));
        }
        Ok(Self {
            algorithm,
            hex: hex.to_ascii_lowercase(),
        })
    }
}

impl std::fmt::Display for Pin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let algorithm = match self.algorithm {
            Algorithm::Md5 => "md5",
            Algorithm::Sha256 => "sha256",
            Algorithm::GitSha1 => "git-sha1",
        };
        write!(f, "{algorithm}:{}", self.hex)
    }
}

/// pooch's `unique_file_name(url)`: the MD5 of the URL, a dash and the last `/` part of the
/// URL's path (pooch's `parse_url`: `urlsplit`'s path, so no query or fragment; a `doi:` URL's
/// last part), cropped to 255 characters.
pub fn pooch_file_name(url: &str) -> String {
    let md5 = hex::encode(rattler_digest::Md5::digest(url.as_bytes()));
    let path = if url.starts_with("doi:") {
        url
    } else {
        url.split(['?', '#']).next().unwrap_or_default()
    };
    let last = path.rsplit('/').next().unwrap_or_default();
    let keep = 255 - md5.len() - 1;
    let chars: Vec<char> = last.chars().collect();
    let cropped: String = chars[chars.len().saturating_sub(keep)..].iter().collect();
    format!("{md5}-{cropped}")
}

impl WeightFile {
    /// The file's name in its store (a Hub repository's cache folder name).
    pub fn file_name(&self) -> String {
        match (&self.fname, self.store) {
            (_, Store::Hub) => hub::folder_name(&self.url),
            (Some(f), _) => f.clone(),
            (None, Store::Pooch | Store::Cwd) => pooch_file_name(&self.url),
            (None, Store::Keras) => self.url.rsplit('/').next().unwrap_or_default().into(),
        }
    }

    /// Where the file (a Hub repository: its cache folder) goes, relative to the weights folder.
    pub fn relative_path(&self, model: &str) -> PathBuf {
        let name = self.file_name();
        match self.store {
            Store::Pooch => Path::new("xdg/pooch").join(name),
            Store::Keras => Path::new("keras/models").join(name),
            Store::Cwd => Path::new("work").join(work_dir_name(model)).join(name),
            Store::Hub => Path::new(hub::CACHE).join(name),
        }
    }

    /// Everything under the weights folder that belongs to this record, relative to it (what
    /// `cache clean` keeps for a live environment).
    pub fn owned_paths(&self, model: &str) -> Vec<PathBuf> {
        let mut out = vec![self.relative_path(model)];
        if self.store == Store::Hub {
            out.push(Path::new(hub::RECORDS).join(self.file_name()));
        }
        out
    }

    /// Upstream's pin, when it has one (and it parses: [`problems`] reports those that do not).
    pub fn pin(&self) -> Option<Pin> {
        self.hash.as_deref().and_then(|h| h.parse().ok())
    }

    /// The URL the bytes are downloaded from: `download`, else `url`, its origin replaced by
    /// `mirror` (a site's copy of the same paths) when one is given.
    pub fn source(&self, mirror: Option<&url::Url>) -> Result<url::Url, String> {
        let text = self.download.as_deref().unwrap_or(&self.url);
        let mut url = url::Url::parse(text).map_err(|e| format!("`{text}`: {e}"))?;
        if !matches!(url.scheme(), "http" | "https" | "file") {
            return Err(format!(
                "`{text}` is no http(s) URL: record where its bytes are in `download`"
            ));
        }
        if let Some(mirror) = mirror {
            let base = mirror.as_str().trim_end_matches('/');
            let mut rewritten = format!("{base}{}", url.path());
            if let Some(q) = url.query() {
                rewritten.push('?');
                rewritten.push_str(q);
            }
            url = url::Url::parse(&rewritten).map_err(|e| format!("`{rewritten}`: {e}"))?;
        }
        Ok(url)
    }
}

/// The folder name of a model's work folder (as its environment's).
pub(super) fn work_dir_name(model: &str) -> String {
    crate::names::dir_name(model)
}

/// Everything wrong with a list of weight records: `(field, message)`, fields relative to the
/// list (`[0].hash`).
pub fn problems(files: &[WeightFile]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut seen = BTreeMap::new();
    for (i, f) in files.iter().enumerate() {
        if f.store == Store::Hub {
            out.extend(
                hub::problems(f)
                    .into_iter()
                    .map(|(field, m)| (format!("[{i}].{field}"), m)),
            );
            if let Some(j) = seen.insert(f.relative_path("m"), i) {
                out.push((
                    format!("[{i}]"),
                    format!("names the same repository as [{j}]"),
                ));
            }
            continue;
        }
        for (field, set) in [
            ("revision", f.revision.is_some()),
            ("files", f.files.is_some()),
        ] {
            if set {
                out.push((
                    format!("[{i}].{field}"),
                    "only a `store: hub` record has one".into(),
                ));
            }
        }
        if let Some(h) = &f.hash {
            if let Err(e) = h.parse::<Pin>() {
                out.push((format!("[{i}].hash"), e));
            }
        }
        if let Err(e) = f.source(None) {
            out.push((
                format!(
                    "[{i}].{}",
                    if f.download.is_some() {
                        "download"
                    } else {
                        "url"
                    }
                ),
                e,
            ));
        }
        let name = f.file_name();
        if name.is_empty() || name.contains('/') || name == "." || name == ".." {
            out.push((
                format!("[{i}].fname"),
                format!("`{name}` is no plain file name"),
            ));
        }
        if let Some(j) = seen.insert(f.relative_path("m"), i) {
            out.push((format!("[{i}]"), format!("goes to the same file as [{j}]")));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(url: &str, store: Store) -> WeightFile {
        WeightFile {
            url: url.into(),
            download: None,
            hash: None,
            size: None,
            store,
            fname: None,
            revision: None,
            files: None,
            used_by: None,
        }
    }

    #[test]
    fn pooch_names_files_as_pooch_does() {
        // pooch's own docstring example of unique_file_name.
        assert_eq!(
            pooch_file_name("https://www.some-server.org/2020/data.txt"),
            "02ddee027ce5ebb3d7059fb23d210604-data.txt"
        );
        let doi = pooch_file_name("doi:10.5281/zenodo.6143685/cop-non-detritus-20211215.pth");
        assert!(doi.ends_with("-cop-non-detritus-20211215.pth"), "{doi}");
        // The query is no part of the name (pooch >= 1.6 splits the URL with urlsplit).
        let zip = pooch_file_name("https://zenodo.org/records/8410703/files/models.zip?download=1");
        assert_eq!(zip, "6f0ffc14ec10e5a6ae0c518331d0d2d5-models.zip");
        let long = pooch_file_name(&format!("https://h/{}", "a".repeat(400)));
        assert_eq!(long.len(), 255);
    }

    #[test]
    fn files_go_where_their_code_looks() {
        let f = file("https://h/x/w.h5", Store::Keras);
        assert_eq!(f.relative_path("M"), Path::new("keras/models/w.h5"));
        let mut f = file("https://h/x/w.h5", Store::Cwd);
        f.fname = Some("w.h5".into());
        assert_eq!(
            f.relative_path("StarDist Seed"),
            Path::new("work/stardist-seed/w.h5")
        );
        let f = file("https://www.some-server.org/2020/data.txt", Store::Pooch);
        assert_eq!(
            f.relative_path("m"),
            Path::new("xdg/pooch/02ddee027ce5ebb3d7059fb23d210604-data.txt")
        );
    }

    #[test]
    fn pins_parse_and_bad_records_are_named() {
        assert_eq!(
            "md5:46FD1665C8B966E472152EB695D22AE3"
                .parse::<Pin>()
                .unwrap()
                .to_string(),
            "md5:46fd1665c8b966e472152eb695d22ae3"
        );
        assert!("sha1:00".parse::<Pin>().is_err());
        assert!("md5:123".parse::<Pin>().is_err());
        let mut doi = file("doi:10.5281/zenodo.1/a.pth", Store::Pooch);
        doi.hash = Some("md5:xyz".into());
        let problems = problems(&[doi.clone(), doi]);
        let fields: Vec<&str> = problems.iter().map(|(f, _)| f.as_str()).collect();
        assert_eq!(
            fields,
            ["[0].hash", "[0].url", "[1].hash", "[1].url", "[1]"]
        );
    }

    #[test]
    fn a_mirror_keeps_the_path() {
        let mut f = file("doi:10.5281/zenodo.1/a.pth", Store::Pooch);
        f.download = Some("https://zenodo.org/records/1/files/a.pth?download=1".into());
        let mirror = url::Url::parse("http://127.0.0.1:8080/zenodo/").unwrap();
        assert_eq!(
            f.source(Some(&mirror)).unwrap().as_str(),
            "http://127.0.0.1:8080/zenodo/records/1/files/a.pth?download=1"
        );
    }
}
