//! Credentials never leave in what scivision prints, logs or writes.
//!
//! A channel or index URL may carry a password (`https://user:secret@host/…`), a conda token
//! (`…/t/<token>/…`) or a query-string key. Durable output (locks, `scivision.json`) gets URLs
//! stripped of them, as rattler does for lock files: the same location, reached without the
//! secret, which comes back from the authentication storage (`RATTLER_AUTH_FILE`, netrc) when
//! the lock is installed. What a person reads (stdout, stderr, logs, errors) gets them masked.

use url::Url;

/// What replaces a secret in text for people.
pub const MASK: &str = rattler_redaction::DEFAULT_REDACTION_STR;

/// The URL to write into a lock or any file that outlives the command.
pub fn for_file(url: &Url) -> Url {
    rattler_redaction::strip_url_for_serialization(url)
}

/// As [`for_file`] for a string that may hold a URL (a record's `channel`); anything else is
/// returned unchanged.
pub fn for_file_str(text: &str) -> String {
    match Url::parse(text) {
        Ok(url) => for_file(&url).to_string(),
        Err(_) => text.to_string(),
    }
}

/// `text` with the secrets of every URL in it masked: the password (or a bare token) before
/// the host, a `/t/<token>/` path segment, and the query string. Works on the text around
/// `://` rather than by parsing whole URLs, so URLs inside coloured log lines or quoted in
/// messages are masked too.
pub fn text(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.contains("://") {
        return std::borrow::Cow::Borrowed(text);
    }
    let ends_url = |c: char| {
        c.is_whitespace()
            || c.is_control()
            || matches!(c, '"' | '\'' | '`' | '<' | '>' | ')' | ']' | '}' | ',')
    };
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("://") {
        out.push_str(&rest[..at + 3]);
        rest = &rest[at + 3..];
        let url_end = rest.find(ends_url).unwrap_or(rest.len());
        let url = &rest[..url_end];
        let authority_end = url.find(['/', '?', '#']).unwrap_or(url.len());
        let (authority, path) = url.split_at(authority_end);
        match authority.rsplit_once('@') {
            Some((userinfo, host)) => {
                match userinfo.split_once(':') {
                    Some((user, _)) => out.push_str(&format!("{user}:{MASK}")),
                    None => out.push_str(MASK),
                }
                out.push('@');
                out.push_str(host);
            }
            None => out.push_str(authority),
        }
        let (path, query) = match path.split_once('?') {
            Some((p, q)) => (p, Some(masked_query(q))),
            None => (path, None),
        };
        match path
            .strip_prefix("/t/")
            .and_then(|p| p.split_once('/').or(Some((p, ""))))
        {
            Some((token, tail)) if !token.is_empty() => {
                out.push_str("/t/");
                out.push_str(MASK);
                if !tail.is_empty() || path.ends_with('/') {
                    out.push('/');
                }
                out.push_str(tail);
            }
            _ => out.push_str(path),
        }
        if let Some(q) = query {
            out.push('?');
            out.push_str(&q);
        }
        rest = &rest[url_end..];
    }
    out.push_str(rest);
    std::borrow::Cow::Owned(out)
}

/// A query string with the values of the parameters that may hold a secret masked (a key, a
/// token, a signature, a password); the others (`download=1`, `revision=main`) stay readable.
fn masked_query(query: &str) -> String {
    const SECRET: [&str; 7] = [
        "key",
        "token",
        "sig",
        "secret",
        "pass",
        "auth",
        "credential",
    ];
    query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((name, _)) if SECRET.iter().any(|s| name.to_ascii_lowercase().contains(s)) => {
                format!("{name}={MASK}")
            }
            Some(_) => pair.to_string(),
            // A bare value could be a token itself.
            None if pair.is_empty() => String::new(),
            None => MASK.to_string(),
        })
        .collect::<Vec<_>>()
        .join("&")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_tokens_and_queries_are_masked_in_text() {
        let t = text("cannot fetch http://ann:s3cret@host:8080/ch/noarch/repodata.json (timeout)");
        assert!(!t.contains("s3cret"), "{t}");
        assert!(
            t.contains("host:8080/ch/noarch/repodata.json (timeout)"),
            "{t}"
        );
        let t = text("url: https://conda.example/t/tk-12345/main/linux-64/x.conda, done");
        assert!(!t.contains("tk-12345"), "{t}");
        assert!(t.ends_with("/main/linux-64/x.conda, done"), "{t}");
        let t = text("GET https://idx.example/simple/?api_key=abc");
        assert!(!t.contains("abc"), "{t}");
        // Only the parameters that may hold secrets: a download flag stays readable.
        assert_eq!(
            text("https://z.org/f.pth?download=1&X-Amz-Signature=s1g&access_token=t0k&raw"),
            format!(
                "https://z.org/f.pth?download=1&X-Amz-Signature={MASK}&access_token={MASK}&{MASK}"
            )
        );
        assert_eq!(text("no urls here"), "no urls here");
        let t = text("\u{1b}[2m=\u{1b}[0mhttp://ann:s3cret@127.0.0.1:9/\u{1b}[1m}");
        assert!(
            !t.contains("s3cret") && t.contains("ann:********@127.0.0.1:9/"),
            "{t}"
        );
        assert_eq!(text("https://tok@host/x"), "https://********@host/x");
        assert_eq!(
            text("file:///tmp/ch and https://host/ch"),
            "file:///tmp/ch and https://host/ch"
        );
    }

    #[test]
    fn files_get_urls_without_secrets() {
        let u = Url::parse("https://ann:s3cret@host/t/tk-1/ch/noarch/a-1-0.conda").unwrap();
        assert_eq!(for_file(&u).as_str(), "https://host/ch/noarch/a-1-0.conda");
    }
}
