//! HTTP behaviour shared by every download: the client (timeouts, credentials, offline),
//! which failures are retried and how often, and what a failed download tells the user to do.

use std::time::{Duration, SystemTime};

use retry_policies::policies::ExponentialBackoff;
use retry_policies::{RetryDecision, RetryPolicy};

/// Retries and timeouts of every client, resolved at the edge (the settings layer, `config`) and
/// set once with [`configure`] (as uv's preview flags are), because clients are made deep inside
/// rattler's and uv's call paths.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpSettings {
    /// How many times a failed download is tried again (default 3, as conda's
    /// `remote_max_retries`).
    pub retries: u32,
    /// The read timeout in seconds (default 60): how long a silent server can stall us; connects
    /// get at most 15 s of it.
    pub timeout_secs: u64,
}

impl Default for HttpSettings {
    fn default() -> Self {
        Self {
            retries: 3,
            timeout_secs: 60,
        }
    }
}

static SETTINGS: std::sync::OnceLock<HttpSettings> = std::sync::OnceLock::new();

/// Sets the process's HTTP settings; the first call wins (the defaults hold until then).
pub fn configure(settings: HttpSettings) {
    let _ = SETTINGS.set(settings);
}

fn settings() -> HttpSettings {
    SETTINGS.get().copied().unwrap_or_default()
}

/// How many times a failed download is tried again.
pub fn retries() -> u32 {
    settings().retries
}

/// Exponential backoff from 0.5 s up to 10 s, [`retries`] times.
pub fn retry_policy() -> ExponentialBackoff {
    ExponentialBackoff::builder()
        .retry_bounds(Duration::from_millis(500), Duration::from_secs(10))
        .build_with_max_retries(retries())
}

/// A middleware that sends a request again after a transient failure (5xx, 408, 429, a refused
/// or reset connection), as pixi's and uv's clients do. A timeout is not retried here: the read
/// timeout is already how long the user agreed to wait for a silent server. Each retry is
/// logged with the URL and the reason.
///
/// rattler's package cache retries a package download itself when its body breaks or stalls
/// mid-stream (with [`retry_policy`]), and also after this middleware gave up on a connection:
/// a package from a server that refuses connections is tried up to (1 + retries)² times.
pub struct Retry {
    policy: ExponentialBackoff,
    retries: u32,
}

impl Retry {
    /// With [`retry_policy`].
    pub fn new() -> Self {
        Self {
            policy: retry_policy(),
            retries: retries(),
        }
    }
}

impl Default for Retry {
    fn default() -> Self {
        Self::new()
    }
}

#[async_trait::async_trait]
impl reqwest_middleware::Middleware for Retry {
    async fn handle(
        &self,
        req: reqwest::Request,
        extensions: &mut http::Extensions,
        next: reqwest_middleware::Next<'_>,
    ) -> reqwest_middleware::Result<reqwest::Response> {
        let start = SystemTime::now();
        let url = crate::redact::text(req.url().as_str()).into_owned();
        let mut past = 0;
        loop {
            // A streaming body cannot be sent twice: send it once.
            let Some(attempt) = req.try_clone() else {
                return next.run(req, extensions).await;
            };
            let result = next
                .clone()
                .run(attempt, extensions)
                .await
                .and_then(refuse_redirect);
            let Some(why) = transient(&result) else {
                return result;
            };
            let RetryDecision::Retry { execute_after } = self.policy.should_retry(start, past)
            else {
                return result;
            };
            let wait = execute_after
                .duration_since(SystemTime::now())
                .unwrap_or_default();
            past += 1;
            tracing::warn!(
                "{url}: {why}; retry {past} of {} in {:.1} s",
                self.retries,
                wait.as_secs_f64()
            );
            tokio::time::sleep(wait).await;
        }
    }
}

/// A redirect reqwest did not follow (to `file:` or another non-HTTP scheme) as an error:
/// passed on, its empty body would read as a truncated download.
fn refuse_redirect(response: reqwest::Response) -> reqwest_middleware::Result<reqwest::Response> {
    use reqwest::StatusCode;
    let status = response.status();
    let redirect = [
        StatusCode::MOVED_PERMANENTLY,
        StatusCode::FOUND,
        StatusCode::SEE_OTHER,
        StatusCode::TEMPORARY_REDIRECT,
        StatusCode::PERMANENT_REDIRECT,
    ];
    if !redirect.contains(&status) {
        return Ok(response);
    }
    let location = response
        .headers()
        .get(reqwest::header::LOCATION)
        .and_then(|l| l.to_str().ok())
        .unwrap_or("nowhere")
        .to_string();
    Err(reqwest_middleware::Error::middleware(RedirectRefused {
        from: crate::redact::text(response.url().as_str()).into_owned(),
        location: crate::redact::text(&location).into_owned(),
    }))
}

/// See [`refuse_redirect`].
#[derive(Debug, thiserror::Error)]
#[error("{from} redirects to {location}, which is not an http(s) URL: redirect not followed")]
struct RedirectRefused {
    from: String,
    location: String,
}

/// Why `result` is worth another try, or `None`.
fn transient(result: &reqwest_middleware::Result<reqwest::Response>) -> Option<String> {
    match result {
        Ok(response) => {
            let status = response.status();
            let again = status.is_server_error()
                || status == reqwest::StatusCode::REQUEST_TIMEOUT
                || status == reqwest::StatusCode::TOO_MANY_REQUESTS;
            again.then(|| format!("HTTP {status}"))
        }
        Err(reqwest_middleware::Error::Reqwest(e)) if e.is_timeout() => None,
        // A certificate the roots refuse is refused again: asking three more times only waits.
        Err(reqwest_middleware::Error::Reqwest(e)) if e.is_connect() && Signals::gather(e).tls => {
            None
        }
        Err(reqwest_middleware::Error::Reqwest(e)) if e.is_connect() => {
            Some("cannot connect".to_string())
        }
        Err(reqwest_middleware::Error::Reqwest(e)) if e.is_request() => {
            // A connection closed before the answer was complete (hyper's IncompleteMessage).
            let chain = crate::message::error_chain(e);
            chain
                .contains("connection closed before message completed")
                .then(|| "connection closed early".to_string())
        }
        Err(_) => None,
    }
}

/// What to do about a failed download, judged from its error chain: `None` when it is not a
/// network failure. Typed errors (reqwest's, I/O kinds) decide first; the text, with URLs cut
/// out (package and host names must not decide), only for errors that carry no type.
pub fn help_for(e: &(dyn std::error::Error + 'static)) -> Option<String> {
    let signals = Signals::gather(e);
    if signals.local_io {
        return None;
    }
    let text = without_urls(&crate::message::error_chain(e).to_lowercase());
    if signals.timeout || text.contains("timed out") {
        return Some(format!(
            "the server sent nothing for {} s: raise SCIVISION_HTTP_TIMEOUT on a slow network, \
             or use --offline to work from what is cached",
            timeout_secs()
        ));
    }
    if let Some(help) = status_help(signals.status.or_else(|| status_in(&text))) {
        return Some(help);
    }
    let flags = [signals.redirect, signals.connect, signals.body];
    TEXT_HINTS
        .iter()
        .zip(flags)
        .find(|((words, _), flag)| *flag || words.iter().any(|w| text.contains(w)))
        .map(|((_, help), _)| (*help).to_string())
}

/// What the typed errors of a chain say about a failed download.
#[derive(Default)]
struct Signals {
    /// The first HTTP status found.
    status: Option<u16>,
    timeout: bool,
    connect: bool,
    redirect: bool,
    /// The body could not be read or decoded.
    body: bool,
    /// A local disk or permission failure: not the network's fault.
    local_io: bool,
    /// The TLS handshake failed on its own terms (rustls refused the certificate or the peer).
    tls: bool,
}

impl Signals {
    /// Walks `e` and its sources, downcasting each to the types that carry a verdict.
    fn gather(e: &(dyn std::error::Error + 'static)) -> Self {
        let mut signals = Self::default();
        let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
        while let Some(err) = cur {
            let typed = err.downcast_ref::<reqwest::Error>().or_else(|| {
                match err.downcast_ref::<reqwest_middleware::Error>() {
                    Some(reqwest_middleware::Error::Reqwest(r)) => Some(r),
                    _ => None,
                }
            });
            if let Some(r) = typed {
                signals.status = signals.status.or(r.status().map(|s| s.as_u16()));
                signals.timeout |= r.is_timeout();
                signals.connect |= r.is_connect();
                signals.redirect |= r.is_redirect();
                signals.body |= r.is_body() || r.is_decode();
            }
            if err.downcast_ref::<RedirectRefused>().is_some() {
                signals.redirect = true;
            }
            signals.tls |= err.is::<rustls::Error>();
            if let Some(io) = err.downcast_ref::<std::io::Error>() {
                use std::io::ErrorKind::*;
                signals.local_io |= matches!(
                    io.kind(),
                    StorageFull | PermissionDenied | ReadOnlyFilesystem | QuotaExceeded
                );
                // An io::Error's `source()` skips the error it wraps: look at that one here.
                signals.tls |= io
                    .get_ref()
                    .is_some_and(|inner| inner.is::<rustls::Error>());
            }
            cur = err.source();
        }
        signals
    }
}

/// The help for an HTTP status that has one.
fn status_help(status: Option<u16>) -> Option<String> {
    match status? {
        401 | 403 => Some(
            "the channel wants credentials: put them in RATTLER_AUTH_FILE or ~/.netrc \
             (locks keep no secrets)"
                .to_string(),
        ),
        404 => Some(
            "the server has no such file: check the channel URL; a shard missing from a \
             sharded channel means its index was published without it (re-run \
             `scivision channel index` and upload every file)"
                .to_string(),
        ),
        s if s >= 500 || s == 408 || s == 429 => Some(format!(
            "the server failed and was asked {} more times: try again later, or use \
             --offline to work from what is cached",
            retries()
        )),
        _ => None,
    }
}

/// Failures told by words in an untyped error chain, in the order they are judged, each with
/// its help. Their typed flags (redirect, connect, body) are zipped on in [`help_for`].
const TEXT_HINTS: [(&[&str], &str); 3] = [
    (
        &["redirect"],
        "the server's redirects loop or lead somewhere other than http(s): check the \
         channel URL",
    ),
    (
        &[
            "connection refused",
            "error trying to connect",
            "dns error",
            "tls",
            "certificate",
        ],
        "cannot reach the server (or trust its certificate): check the network, proxy and \
         URL, or use --offline to work from what is cached",
    ),
    (
        &[
            "sha-256",
            "sha256",
            "hash mismatch",
            "zstd",
            "frame descriptor",
            "decod",
            "truncated",
            "unexpected end",
        ],
        "the server sent damaged data (a truncated upload, or a proxy rewriting files); \
         nothing of it was kept: try again, and if it persists re-index and re-upload the \
         channel",
    ),
];

/// `text` with every URL (scheme to the next space, quote or bracket) left out.
fn without_urls(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = ["http://", "https://", "file://"]
        .iter()
        .filter_map(|s| rest.find(s))
        .min()
    {
        out.push_str(&rest[..i]);
        let end = rest[i..]
            .find(|c: char| c.is_whitespace() || "'\"()[]".contains(c))
            .map_or(rest.len(), |n| i + n);
        out.push_str("<url>");
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

/// A status code quoted in an error message such as `(500 Internal Server Error)`.
fn status_in(text: &str) -> Option<u16> {
    let start = text.find("status")?;
    text[start..]
        .split(|c: char| !c.is_ascii_digit())
        .filter(|s| s.len() == 3)
        .find_map(|s| s.parse::<u16>().ok())
        .filter(|s| (400..600).contains(s))
}

/// The HTTP client for downloads (rustls with the system's roots, loaded at the first TLS
/// connection: see [`crate::tls`]). A slow or
/// dead server fails within the timeouts instead of hanging.
pub fn client() -> reqwest_middleware::ClientWithMiddleware {
    client_for(false)
}

/// The read timeout of every HTTP client, conda's and uv's, in seconds.
pub fn timeout_secs() -> u64 {
    settings().timeout_secs
}

/// The HTTP client, or with `offline` one that refuses every request (rattler's
/// `OfflineMiddleware`): local `file://` channels and the caches still work.
pub fn client_for(offline: bool) -> reqwest_middleware::ClientWithMiddleware {
    client_with(offline, true)
}

/// An HTTP client that tries each request once: for what may fail without harm (the daily
/// refresh of the conda → PyPI mapping), where retries would only delay the command.
pub fn client_without_retries() -> reqwest_middleware::ClientWithMiddleware {
    client_with(false, false)
}

fn client_with(offline: bool, retry: bool) -> reqwest_middleware::ClientWithMiddleware {
    let read = timeout_secs();
    let mut client = reqwest::Client::builder();
    match crate::tls::client_config() {
        Ok(tls) => client = client.tls_backend_preconfigured(tls),
        // reqwest's own TLS set-up then (it reads the roots now rather than lazily).
        Err(e) => tracing::warn!("the lazy TLS set-up failed, using reqwest's: {e}"),
    }
    let client = client
        .user_agent(concat!("scivision/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(std::time::Duration::from_secs(read.min(15)))
        .read_timeout(std::time::Duration::from_secs(read))
        .build()
        .unwrap_or_else(|e| {
            // Only a TLS backend that cannot start gets here; say so instead of hanging later.
            tracing::warn!("the HTTP client has no timeouts: {e}");
            reqwest::Client::new()
        });
    let mut builder = reqwest_middleware::ClientBuilder::new(client);
    if offline {
        builder = builder.with(rattler_networking::OfflineMiddleware);
    }
    if retry {
        builder = builder.with(Retry::new());
    }
    // Credentials from rattler's authentication storage (RATTLER_AUTH_FILE, netrc), as pixi
    // reads them: locks hold channel URLs without secrets, and installing one from a private
    // channel finds them there.
    match rattler_networking::AuthenticationMiddleware::from_env_and_defaults() {
        Ok(auth) => builder = builder.with(auth),
        Err(e) => tracing::warn!("channel credentials are not read: {e}"),
    }
    builder.build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("{0}")]
    struct Msg(&'static str);

    #[test]
    fn help_names_the_kind_of_failure() {
        let cases = [
            (
                "HTTP status server error (500 Internal Server Error) for url (http://h/x)",
                "server failed",
            ),
            (
                "HTTP status client error (404 Not Found) for url (http://h/x)",
                "no such file",
            ),
            (
                "HTTP status client error (401 Unauthorized) for url",
                "credentials",
            ),
            (
                "error decoding response body: operation timed out",
                "sent nothing",
            ),
            (
                "the shard downloaded from 'x' has SHA-256 1, but the shard index lists 2",
                "damaged",
            ),
            ("failed to decode zstd shard", "damaged"),
            ("error following redirect for url", "redirects"),
            (
                "error sending request for url (https://h/pyobjc-framework-1.0.conda): error trying to connect: tcp connect error: connection refused",
                "cannot reach",
            ),
        ];
        for (message, expected) in cases {
            let help = help_for(&Msg(message)).unwrap_or_default();
            assert!(help.contains(expected), "{message} → {help}");
        }
        assert_eq!(help_for(&Msg("no space left on device")), None);
        // Names in URLs decide nothing.
        assert_eq!(
            help_for(&Msg(
                "cannot write https://h/dnspython-2.0-framework.conda: busy"
            )),
            None
        );
        let full = std::io::Error::from(std::io::ErrorKind::StorageFull);
        assert_eq!(help_for(&full), None);
    }

    #[test]
    fn status_is_read_only_after_the_word_status() {
        assert_eq!(status_in("http status server error (503 x)"), Some(503));
        assert_eq!(status_in("python 3.11.200 failed"), None);
    }
}
