//! The PyPI half of a pack: wheel files, local or downloaded, checked against the lock.

use std::path::{Path, PathBuf};

use super::{io, PackError};

/// The file name of a wheel URL, percent-decoded (`torch-2.3.1%2Bcu121-….whl` is
/// `torch-2.3.1+cu121-….whl` on disk).
pub fn wheel_file_name(url: &url::Url) -> Option<String> {
    let last = url.path_segments()?.next_back()?;
    let name = percent_encoding::percent_decode_str(last)
        .decode_utf8()
        .ok()?
        .to_string();
    (name.ends_with(".whl") && !name.contains('/')).then_some(name)
}

/// The wheel files of the PyPI half, local (`file://`, used in place) or downloaded into `dir`
/// and checked against the lock's sha256.
pub async fn wheel_files(
    wheels: &[crate::pypi::LockedWheel],
    dir: &Path,
    client: &reqwest_middleware::ClientWithMiddleware,
) -> Result<Vec<PathBuf>, PackError> {
    let mut files = Vec::new();
    for w in wheels {
        let err = |cause: crate::message::Cause| PackError::Wheel {
            name: format!("{}=={}", w.name, w.version),
            source: cause,
        };
        let url = url::Url::parse(&w.location).map_err(|e| err(e.into()))?;
        let file_name = wheel_file_name(&url)
            .ok_or_else(|| err(format!("{} is not a wheel file", w.location).into()))?;
        let path = match url.scheme() {
            "file" => url
                .to_file_path()
                .map_err(|()| err(format!("{url} is not a local path").into()))?,
            "http" | "https" => {
                let mut response = client
                    .get(url.clone())
                    .send()
                    .await
                    .and_then(|r| r.error_for_status().map_err(Into::into))
                    .map_err(|e| err(e.into()))?;
                // Streamed to disk: framework wheels run to gigabytes.
                let path = dir.join(&file_name);
                let mut file = fs_err::File::create(&path).map_err(io(&path))?;
                while let Some(chunk) = response.chunk().await.map_err(|e| err(e.into()))? {
                    std::io::Write::write_all(&mut file, &chunk).map_err(io(&path))?;
                }
                path
            }
            other => return Err(err(format!("`{other}` locations are not files").into())),
        };
        if let Some(expected) = &w.sha256 {
            let actual = crate::package::sha256_file(&path).map_err(io(&path))?;
            if &actual != expected {
                return Err(err(format!(
                    "{} has sha256 {actual}, the lock says {expected}",
                    path.display()
                )
                .into()));
            }
        }
        files.push(path);
    }
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wheel_names_are_decoded_and_must_be_wheels() {
        let u = |t: &str| url::Url::parse(t).unwrap();
        assert_eq!(
            wheel_file_name(&u(
                "https://x/t/torch-2.3.1%2Bcu121-cp311-cp311-linux_x86_64.whl"
            ))
            .as_deref(),
            Some("torch-2.3.1+cu121-cp311-cp311-linux_x86_64.whl")
        );
        assert_eq!(wheel_file_name(&u("https://x/p/pkg-1.0.tar.gz")), None);
        assert_eq!(wheel_file_name(&u("https://x/p/a%2Fb.whl")), None);
    }
}
