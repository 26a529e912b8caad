//! One download into a `.part` file beside its target: resumed with an HTTP range where an
//! earlier try left bytes, hashed once when complete, and renamed into place only by the caller,
//! after it checked the hash.

use std::io::Write;
use std::path::Path;

use super::{hash_file, io, Algorithm, FetchReporter, Pin, WeightsError};

/// Downloads `url` into `part` (resuming what is there) and returns the complete file's digest.
/// `name` is what the reporter shows; `size` the expected size where the server gives none.
pub(super) async fn to_part(
    url: &url::Url,
    part: &Path,
    algorithm: Algorithm,
    (name, size): (&str, Option<u64>),
    client: &reqwest_middleware::ClientWithMiddleware,
    reporter: &dyn FetchReporter,
) -> Result<Pin, WeightsError> {
    if let Some(dir) = part.parent() {
        fs_err::create_dir_all(dir).map_err(io(dir))?;
    }
    if url.scheme() == "file" {
        let from = url.to_file_path().map_err(|()| WeightsError::Record {
            model: name.to_string(),
            reason: format!("`{url}` is no local path"),
        })?;
        fs_err::copy(&from, part).map_err(io(&from))?;
    } else {
        http(url, part, (name, size), client, reporter).await?;
    }
    hash_file(part, algorithm)
}

async fn http(
    url: &url::Url,
    part: &Path,
    (name, size): (&str, Option<u64>),
    client: &reqwest_middleware::ClientWithMiddleware,
    reporter: &dyn FetchReporter,
) -> Result<(), WeightsError> {
    let url_text = crate::redact::for_file(url).to_string();
    let have = fs_err::metadata(part).map(|m| m.len()).unwrap_or(0);
    let mut request = client.get(url.clone());
    if have > 0 {
        request = request.header(reqwest::header::RANGE, format!("bytes={have}-"));
    }
    let mut response = request.send().await.map_err(|source| WeightsError::Http {
        url: url_text.clone(),
        source,
    })?;
    let status = response.status();
    // The part is already whole (a run killed while hashing it asks for the bytes after its
    // end): the hash check decides, and removes it if it is wrong.
    if have > 0 && status == reqwest::StatusCode::RANGE_NOT_SATISFIABLE {
        return Ok(());
    }
    if !status.is_success() {
        return Err(WeightsError::Status {
            url: url_text,
            status: status.as_u16(),
        });
    }
    // 206: the server continues the part we have; anything else sends the whole file.
    let resumed = have > 0 && status == reqwest::StatusCode::PARTIAL_CONTENT;
    let done = if resumed { have } else { 0 };
    let total = response.content_length().map(|n| n + done).or(size);
    reporter.start(name, total, done);
    let mut out = std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .append(resumed)
        .truncate(!resumed)
        .open(part)
        .map_err(io(part))?;
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|source| WeightsError::Body {
            url: url_text.clone(),
            source,
        })?
    {
        out.write_all(&chunk).map_err(io(part))?;
        reporter.advance(chunk.len() as u64);
    }
    out.flush().map_err(io(part))?;
    reporter.finish(name);
    Ok(())
}

/// Checks a finished part against the hash it must have: a wrong one is removed (resuming it
/// would only repeat the error) and reported with both hashes.
pub(super) fn check(
    part: &Path,
    actual: &Pin,
    expected: Option<&Pin>,
    (file, url): (&str, &url::Url),
) -> Result<(), WeightsError> {
    match expected {
        Some(expected) if expected.hex != actual.hex => {
            let _ = fs_err::remove_file(part);
            Err(WeightsError::Mismatch {
                file: file.to_string(),
                url: crate::redact::for_file(url).to_string(),
                expected: expected.to_string(),
                actual: actual.to_string(),
            })
        }
        _ => Ok(()),
    }
}

/// Makes a checked part the file: flushed to disk, then renamed over `target`.
pub(super) fn commit(part: &Path, target: &Path) -> Result<(), WeightsError> {
    std::fs::File::open(part)
        .and_then(|f| f.sync_all())
        .map_err(io(part))?;
    fs_err::rename(part, target).map_err(io(target))
}
