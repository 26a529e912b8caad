//! Model weights: the files a model's unchanged code downloads at run time (`pooch.retrieve`,
//! a `requests.get` into its working directory, keras' `get_file`), recorded with the hash
//! upstream pins, fetched ahead of time into `$SCIVISION_HOME/weights`, laid out where that code
//! looks for them, so that a model runs with no network.
//!
//! Where each file goes (the runner points the libraries' cache variables at these folders,
//! see [`Weights::cache_env`], and starts the model in its work folder):
//! - `pooch`: `xdg/pooch/<name>` (`XDG_CACHE_HOME`; pooch's default cache is
//!   `$XDG_CACHE_HOME/pooch`, the name `md5(url)-<last part of the url>` unless the code gives one);
//! - `keras`: `keras/models/<name>` (`KERAS_HOME`);
//! - `cwd`: `work/<model>/<name>` (the model's working directory);
//! - `hub`: a Hugging Face Hub repository in the Hub's own cache layout under `HF_HOME`
//!   (see [`hub`]).
//!
//! A download goes to `<name>.part` beside its target, resumes from there, and becomes the
//! file only once its hash is checked: a killed fetch leaves no file the model could load.

mod download;
mod hub;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use rattler_digest::digest::Digest;
use serde::{Deserialize, Serialize};

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
fn work_dir_name(model: &str) -> String {
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

/// What a weight file looks like on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum State {
    /// There, and its hash (upstream's, or the one recorded at its first fetch) matches.
    Present,
    /// Not there.
    Missing,
    /// There, with other bytes.
    Corrupt,
}

/// One weight file's state.
#[derive(Debug, Clone, Serialize)]
pub struct FileStatus {
    /// The URL the code asks for.
    pub url: String,
    /// Where it is (or goes).
    pub path: PathBuf,
    /// Its state.
    pub state: State,
    /// The hash it must have: upstream's, or the sha256 recorded at first fetch.
    pub expected: Option<String>,
    /// The hash it has, when it is there.
    pub actual: Option<String>,
    /// Its size, when it is there.
    pub size: Option<u64>,
    /// Which model class or variant loads it.
    pub used_by: Option<String>,
}

/// Weight errors.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum WeightsError {
    /// File system trouble.
    #[error("{}: {source}", path.display())]
    Io {
        /// The path.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// A record cannot be downloaded from.
    #[error("weight file of {model}: {reason}")]
    #[diagnostic(help(
        "fix the model's `weights:` record (its card, or `extra.scivision.weights` in its recipe)"
    ))]
    Record {
        /// The model.
        model: String,
        /// What is wrong.
        reason: String,
    },
    /// The request failed.
    #[error("cannot download {url}")]
    #[diagnostic(help("check the network (or pass --mirror URL for a site's copy of the files); a partial download is kept and resumed next time"))]
    Http {
        /// The URL.
        url: String,
        /// The error.
        #[source]
        source: reqwest_middleware::Error,
    },
    /// The body broke off.
    #[error("download of {url} broke off")]
    #[diagnostic(help("try again: the part already downloaded is kept and resumed"))]
    Body {
        /// The URL.
        url: String,
        /// The error.
        #[source]
        source: reqwest::Error,
    },
    /// The server answered with an error status.
    #[error("{url} answered HTTP {status}")]
    #[diagnostic(help(
        "the file may have moved: check the URL, or pass --mirror URL for a site's copy"
    ))]
    Status {
        /// The URL.
        url: String,
        /// The status.
        status: u16,
    },
    /// The bytes are not the ones upstream pinned.
    #[error("{file}: the download from {url} has {actual}, but it must have {expected}")]
    #[diagnostic(help("the server sent other bytes than the model was published with (upstream's pin, or the hash recorded at the first fetch): a changed or tampered file, or a wrong mirror; nothing was kept"))]
    Mismatch {
        /// The file name.
        file: String,
        /// Where it came from.
        url: String,
        /// The hash it must have (upstream's pin, or the one recorded at the first fetch).
        expected: String,
        /// The downloaded bytes' hash.
        actual: String,
    },
    /// Offline, and a file is missing.
    #[error("{file} of {model} is not in the weight cache, and the network is off")]
    #[diagnostic(help("fetch it on a connected machine (`scivision weights fetch {model}`) and carry it with `env pack --weights`"))]
    Offline {
        /// The model.
        model: String,
        /// The file.
        file: String,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> WeightsError + '_ {
    move |source| WeightsError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// What a fetch tells its caller as it goes.
pub trait FetchReporter: Send + Sync {
    /// A download of `name` starts (`total` bytes where the server says, `done` of them kept
    /// from an earlier try).
    fn start(&self, name: &str, total: Option<u64>, done: u64);
    /// `n` more bytes arrived.
    fn advance(&self, n: u64);
    /// The download ended.
    fn finish(&self, name: &str);
}

/// A reporter that reports nothing.
pub struct Silent;

impl FetchReporter for Silent {
    fn start(&self, _: &str, _: Option<u64>, _: u64) {}
    fn advance(&self, _: u64) {}
    fn finish(&self, _: &str) {}
}

/// How to fetch.
#[derive(Debug, Clone, Default)]
pub struct FetchOptions {
    /// A site's copy of the files: replaces the origin of every download URL (for `hub`
    /// records, a Hub mirror's address, as `HF_ENDPOINT` is for huggingface_hub).
    pub mirror: Option<url::Url>,
    /// No network: a missing file is an error.
    pub offline: bool,
}

/// Where a model's weights live: `$SCIVISION_HOME/weights`.
#[derive(Debug, Clone)]
pub struct Weights {
    root: PathBuf,
}

/// The sha256 recorded at first fetch for files upstream pins no hash for, by relative path.
const RECORDED: &str = "recorded.json";

/// The hashes recorded at first fetch, read once per operation.
type Recorded = BTreeMap<String, String>;

impl Weights {
    /// The weights folder of a scivision home.
    pub fn new(home: &Path) -> Self {
        Self {
            root: home.join("weights"),
        }
    }

    /// The folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The variables that point the model libraries' caches into the weights folder.
    pub fn cache_env(&self) -> Vec<(&'static str, PathBuf)> {
        [
            ("XDG_CACHE_HOME", "xdg"),
            ("KERAS_HOME", "keras"),
            ("TORCH_HOME", "torch"),
            ("HF_HOME", "huggingface"),
        ]
        .into_iter()
        .map(|(var, sub)| (var, self.root.join(sub)))
        .collect()
    }

    /// The working directory a model runs in (where `cwd` weights are).
    pub fn work_dir(&self, model: &str) -> PathBuf {
        self.root.join("work").join(work_dir_name(model))
    }

    fn recorded(&self) -> Recorded {
        fs_err::read_to_string(self.root.join(RECORDED))
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or_default()
    }

    /// The hash a file must have: upstream's pin, else the sha256 recorded at its first fetch.
    fn expected(&self, model: &str, file: &WeightFile, recorded: &Recorded) -> Option<Pin> {
        file.pin().or_else(|| {
            let rel = file.relative_path(model);
            let hex = recorded.get(&*rel.to_string_lossy())?.clone();
            Some(Pin {
                algorithm: Algorithm::Sha256,
                hex,
            })
        })
    }

    /// Each file's state, its hash checked (a Hub repository: each file of its snapshot).
    pub fn status(
        &self,
        model: &str,
        files: &[WeightFile],
    ) -> Result<Vec<FileStatus>, WeightsError> {
        let recorded = self.recorded();
        let mut out = Vec::new();
        for f in files {
            if f.store == Store::Hub {
                out.extend(hub::status(&self.root, f)?);
            } else {
                out.push(self.status_of(model, f, &recorded)?);
            }
        }
        Ok(out)
    }

    fn status_of(
        &self,
        model: &str,
        file: &WeightFile,
        recorded: &Recorded,
    ) -> Result<FileStatus, WeightsError> {
        let path = self.root.join(file.relative_path(model));
        let expected = self.expected(model, file, recorded);
        let mut status = FileStatus {
            url: file.url.clone(),
            path: path.clone(),
            state: State::Missing,
            expected: expected.as_ref().map(ToString::to_string),
            actual: None,
            size: None,
            used_by: file.used_by.clone(),
        };
        let meta = match fs_err::metadata(&path) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(status),
            Err(e) => return Err(io(&path)(e)),
        };
        status.size = Some(meta.len());
        let algorithm = expected.as_ref().map_or(Algorithm::Sha256, |p| p.algorithm);
        let actual = hash_file(&path, algorithm)?;
        status.state = match &expected {
            Some(p) if p.hex != actual.hex => State::Corrupt,
            _ => State::Present,
        };
        status.actual = Some(actual.to_string());
        Ok(status)
    }

    /// Downloads every file of `model` that is missing or corrupt; returns each file's state
    /// after. Files already present are not downloaded again.
    pub async fn fetch(
        &self,
        model: &str,
        files: &[WeightFile],
        options: &FetchOptions,
        client: &reqwest_middleware::ClientWithMiddleware,
        reporter: &dyn FetchReporter,
    ) -> Result<Vec<FileStatus>, WeightsError> {
        let mut out = Vec::new();
        for file in files {
            if file.store == Store::Hub {
                let fetch = hub::Fetch {
                    root: &self.root,
                    model,
                    options,
                    client,
                    reporter,
                };
                out.extend(fetch.run(file).await?);
            } else {
                out.push(
                    self.fetch_file(model, file, options, client, reporter)
                        .await?,
                );
            }
        }
        Ok(out)
    }

    /// One file: checked (once) under its lock, downloaded when missing or corrupt.
    async fn fetch_file(
        &self,
        model: &str,
        file: &WeightFile,
        options: &FetchOptions,
        client: &reqwest_middleware::ClientWithMiddleware,
        reporter: &dyn FetchReporter,
    ) -> Result<FileStatus, WeightsError> {
        let rel = file.relative_path(model);
        let target = self.root.join(&rel);
        let dir = target.parent().unwrap_or(&self.root).to_path_buf();
        let name = file.file_name();
        // One fetch of a file at a time; a second waits, then finds it present.
        let _lock = crate::atomic::lock_async(&dir.join(format!("{name}.lock")))
            .await
            .map_err(io(&target))?;
        let recorded = self.recorded();
        let mut status = self.status_of(model, file, &recorded)?;
        if status.state == State::Present {
            return Ok(status);
        }
        if options.offline {
            return Err(WeightsError::Offline {
                model: model.to_string(),
                file: name,
            });
        }
        let url = file
            .source(options.mirror.as_ref())
            .map_err(|reason| WeightsError::Record {
                model: model.to_string(),
                reason,
            })?;
        let expected = self.expected(model, file, &recorded);
        let algorithm = expected.as_ref().map_or(Algorithm::Sha256, |p| p.algorithm);
        let part = dir.join(format!("{name}.part"));
        let actual =
            download::to_part(&url, &part, algorithm, (&name, file.size), client, reporter).await?;
        download::check(&part, &actual, expected.as_ref(), (&name, &url))?;
        if expected.is_none() {
            self.record(&rel, &actual.hex)?;
        }
        download::commit(&part, &target)?;
        status.state = State::Present;
        status.size = Some(fs_err::metadata(&target).map_err(io(&target))?.len());
        status.expected = Some(expected.unwrap_or_else(|| actual.clone()).to_string());
        status.actual = Some(actual.to_string());
        Ok(status)
    }

    fn record(&self, rel: &Path, sha256: &str) -> Result<(), WeightsError> {
        let path = self.root.join(RECORDED);
        let _lock = crate::atomic::lock(&self.root.join(".recorded.lock")).map_err(io(&path))?;
        let mut recorded = self.recorded();
        recorded.insert(rel.to_string_lossy().to_string(), sha256.to_string());
        let text = serde_json::to_string_pretty(&recorded).map_err(|e| io(&path)(e.into()))?;
        crate::atomic::write(&path, text.as_bytes()).map_err(io(&path))
    }

    /// The files of `model`, relative to the weights folder, that a pack carries: each file,
    /// and for a Hub repository its blobs, its branch's ref and scivision's record of the
    /// snapshot (its links are made again on unpack, see [`Weights::adopt`]). Every file must
    /// be present.
    pub fn present(&self, model: &str, files: &[WeightFile]) -> Result<Vec<PathBuf>, WeightsError> {
        let recorded = self.recorded();
        let mut out = Vec::new();
        for f in files {
            let hub = f.store == Store::Hub;
            let statuses = if hub {
                hub::status(&self.root, f)?
            } else {
                vec![self.status_of(model, f, &recorded)?]
            };
            for status in statuses {
                let name = status.path.file_name().unwrap_or_default();
                match status.state {
                    State::Present => {}
                    State::Missing => {
                        return Err(WeightsError::Offline {
                            model: model.to_string(),
                            file: name.to_string_lossy().into(),
                        })
                    }
                    State::Corrupt => {
                        return Err(WeightsError::Mismatch {
                            file: name.to_string_lossy().into(),
                            url: status.path.display().to_string(),
                            expected: status.expected.unwrap_or_default(),
                            actual: status.actual.unwrap_or_default(),
                        })
                    }
                }
            }
            if hub {
                out.extend(hub::carried(&self.root, f)?);
            } else {
                out.push(f.relative_path(model));
            }
        }
        Ok(out)
    }

    /// After an unpack: records a sha256 for each file whose upstream pins none, and links each
    /// Hub repository's snapshot from its blobs again.
    pub fn adopt(&self, model: &str, files: &[WeightFile]) -> Result<(), WeightsError> {
        let recorded = self.recorded();
        for f in files {
            if f.store == Store::Hub {
                hub::relink(&self.root, f)?;
                continue;
            }
            if f.pin().is_some() {
                continue;
            }
            let rel = f.relative_path(model);
            let path = self.root.join(&rel);
            if path.is_file() && !recorded.contains_key(&*rel.to_string_lossy()) {
                let hash = hash_file(&path, Algorithm::Sha256)?;
                self.record(&rel, &hash.hex)?;
            }
        }
        Ok(())
    }
}

/// The digest of a file.
pub fn hash_file(path: &Path, algorithm: Algorithm) -> Result<Pin, WeightsError> {
    let hex = match algorithm {
        Algorithm::Md5 => hex::encode(
            rattler_digest::compute_file_digest::<rattler_digest::Md5>(path).map_err(io(path))?,
        ),
        Algorithm::Sha256 => hex::encode(
            rattler_digest::compute_file_digest::<rattler_digest::Sha256>(path)
                .map_err(io(path))?,
        ),
        Algorithm::GitSha1 => {
            let mut file = fs_err::File::open(path).map_err(io(path))?;
            let len = file.metadata().map_err(io(path))?.len();
            // sha1 0.10 speaks digest 0.10, not rattler_digest's version of the trait.
            use sha1::Digest as _;
            let mut hasher = sha1::Sha1::new();
            hasher.update(format!("blob {len}\0").as_bytes());
            std::io::copy(&mut file, &mut hasher).map_err(io(path))?;
            hex::encode(hasher.finalize())
        }
    };
    Ok(Pin { algorithm, hex })
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
    fn git_blob_ids_are_computed_as_git_does() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, b"hello world\n").unwrap();
        // `printf 'hello world\n' | git hash-object --stdin`
        assert_eq!(
            hash_file(&path, Algorithm::GitSha1).unwrap().to_string(),
            "git-sha1:3b18e512dba79e4c8300dd08aeb37f8e728b8dad"
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
