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
mod record;

use record::work_dir_name;
pub use record::{pooch_file_name, problems, Algorithm, Pin, Store, WeightFile};

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

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
    #[error("I/O error at {}", path.display())]
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

impl WeightsError {
    /// What kind of failure this is.
    pub fn class(&self) -> crate::message::ErrorClass {
        use crate::message::ErrorClass;
        match self {
            Self::Http { .. } | Self::Body { .. } | Self::Status { .. } | Self::Offline { .. } => {
                ErrorClass::Network
            }
            Self::Record { .. } => ErrorClass::Input,
            Self::Io { .. } | Self::Mismatch { .. } => ErrorClass::Failed,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
