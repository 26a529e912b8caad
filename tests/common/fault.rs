//! A hostile HTTP server the tests control: it serves a folder on a loopback address and answers
//! each request as a rule decides (an error status, a truncated or replaced body, a body slower
//! than any timeout, a redirect). It logs every request so tests can count retries and see which
//! headers reached which host. std only, one thread per connection, HTTP/1.1 with
//! `Connection: close`: enough for reqwest, and nothing between the test and the fault.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How to answer one request.
#[derive(Clone, Debug)]
pub enum Fault {
    /// The file as it is (404 when missing).
    Serve,
    /// This status, an empty body.
    Status(u16),
    /// The file's headers (its full length), then only the first `n` bytes, then the connection
    /// closes.
    Truncate(usize),
    /// 200 with this body instead of the file.
    Body(Vec<u8>),
    /// The file's headers, then one byte every `ms` milliseconds.
    Drip(u64),
    /// 302 to this location.
    Redirect(String),
}

/// One request as the server saw it.
#[derive(Clone, Debug)]
pub struct Seen {
    pub method: String,
    pub path: String,
    /// The `Authorization` header, if any.
    pub authorization: Option<String>,
    /// The status answered.
    pub status: u16,
}

type Rule = dyn Fn(&str, usize) -> Fault + Send + Sync;

struct State {
    root: PathBuf,
    rule: Mutex<Arc<Rule>>,
    log: Mutex<Vec<Seen>>,
    stop: AtomicBool,
}

/// The server; stops on drop.
pub struct FaultServer {
    state: Arc<State>,
    addr: std::net::SocketAddr,
    /// `http://HOST:PORT/`
    pub url: String,
}

impl FaultServer {
    /// Serves `root` on `host` (any 127.x.y.z address) with every request served plainly.
    pub fn start(root: &Path, host: &str) -> Self {
        let listener = TcpListener::bind((host, 0)).expect("bind a loopback port");
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(State {
            root: root.to_path_buf(),
            rule: Mutex::new(Arc::new(|_: &str, _: usize| Fault::Serve)),
            log: Mutex::new(Vec::new()),
            stop: AtomicBool::new(false),
        });
        let accept = state.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if accept.stop.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let state = accept.clone();
                std::thread::spawn(move || {
                    let _ = handle(&state, stream);
                });
            }
        });
        Self {
            state,
            addr,
            url: format!("http://{addr}/"),
        }
    }

    /// Answers each request with `rule(path, n)`, `n` counting earlier requests for that path
    /// (0 for the first). Resets the log.
    pub fn rule(&self, rule: impl Fn(&str, usize) -> Fault + Send + Sync + 'static) {
        *self.state.rule.lock().unwrap() = Arc::new(rule);
        self.state.log.lock().unwrap().clear();
    }

    /// Every request since the last `rule`.
    pub fn seen(&self) -> Vec<Seen> {
        self.state.log.lock().unwrap().clone()
    }

    /// How many requests asked for a path ending in `suffix`.
    pub fn count(&self, suffix: &str) -> usize {
        self.seen()
            .iter()
            .filter(|s| s.path.ends_with(suffix))
            .count()
    }
}

impl Drop for FaultServer {
    fn drop(&mut self) {
        self.state.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(self.addr);
    }
}

fn handle(state: &State, mut stream: TcpStream) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or_default().to_string();
    let path = parts.next().unwrap_or("/").to_string();
    let mut authorization = None;
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header)? == 0 || header.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            if name.eq_ignore_ascii_case("authorization") {
                authorization = Some(value.trim().to_string());
            }
        }
    }
    if method.is_empty() {
        // A connection closed before sending a request (a client exiting mid-connect).
        return Ok(());
    }
    let path = path.split('?').next().unwrap_or("/").to_string();
    let fault = {
        let log = state.log.lock().unwrap();
        let earlier = log.iter().filter(|s| s.path == path).count();
        let rule = state.rule.lock().unwrap().clone();
        drop(log);
        rule(&path, earlier)
    };
    let file = state.root.join(path.trim_start_matches('/'));
    let body = std::fs::read(&file).ok();
    let status = match (&fault, &body) {
        (Fault::Status(code), _) => *code,
        (Fault::Redirect(_), _) => 302,
        (Fault::Body(_), _) => 200,
        (_, None) => 404,
        _ => 200,
    };
    state.log.lock().unwrap().push(Seen {
        method: method.clone(),
        path,
        authorization,
        status,
    });
    let head_only = method == "HEAD";
    let mut head = |len: usize, extra: &str| {
        let reason = match status {
            200 => "OK",
            302 => "Found",
            404 => "Not Found",
            _ => "Error",
        };
        write!(
            stream,
            "HTTP/1.1 {status} {reason}\r\nContent-Length: {len}\r\nConnection: close\r\n\
             Content-Type: application/octet-stream\r\n{extra}\r\n"
        )
    };
    match (fault, body) {
        (Fault::Status(_), _) | (Fault::Serve, None) => head(0, "")?,
        (Fault::Redirect(to), _) => head(0, &format!("Location: {to}\r\n"))?,
        (Fault::Body(b), _) => {
            head(b.len(), "")?;
            if !head_only {
                stream.write_all(&b)?;
            }
        }
        (Fault::Serve, Some(b)) => {
            head(b.len(), "")?;
            if !head_only {
                stream.write_all(&b)?;
            }
        }
        (Fault::Truncate(n), Some(b)) => {
            head(b.len(), "")?;
            if !head_only {
                stream.write_all(&b[..n.min(b.len())])?;
            }
        }
        (Fault::Drip(ms), Some(b)) => {
            head(b.len(), "")?;
            if !head_only {
                for byte in b {
                    if state.stop.load(Ordering::SeqCst) {
                        break;
                    }
                    stream.write_all(&[byte])?;
                    stream.flush()?;
                    std::thread::sleep(Duration::from_millis(ms));
                }
            }
        }
        (_, None) => head(0, "")?,
    }
    stream.flush()?;
    // Drain what the client still sends so closing does not reset the connection early.
    let _ = stream.shutdown(std::net::Shutdown::Write);
    let mut rest = Vec::new();
    let _ = reader.read_to_end(&mut rest);
    Ok(())
}
