//! Text for people made from errors and tools' output: an error with its causes on one line,
//! terminal escapes removed.

/// What kind of failure an error is: scripts branch on it through the exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// The operation failed (a build, a model, a file operation, a check): exit 1.
    Failed,
    /// Something scivision was given is wrong (a name, a file, a field, a requirement): exit 4.
    Input,
    /// No environment satisfies the request on this host (conda or PyPI): exit 5.
    Unsolvable,
    /// A server or the network failed, or `--offline` lacks what is needed: exit 6.
    Network,
}

impl ErrorClass {
    /// The process exit code of this class.
    pub fn exit_code(self) -> u8 {
        match self {
            Self::Failed => 1,
            Self::Input => 4,
            Self::Unsolvable => 5,
            Self::Network => 6,
        }
    }
}

/// The cause behind an error variant that can fail more than one way (a parser's error, an I/O
/// error, or a sentence of ours when the input itself is wrong): kept as a source, so the chain
/// stays whole for `miette` to print and for callers to inspect.
pub type Cause = Box<dyn std::error::Error + Send + Sync + 'static>;

/// `error: cause: cause`, for errors from crates whose Display hides the cause.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        let msg = s.to_string();
        if !text.contains(&msg) {
            text.push_str(": ");
            text.push_str(&msg);
        }
        cur = s.source();
    }
    strip_ansi(&text)
}

/// `text` without terminal escape sequences: uv styles package names in its messages, which
/// in a log or a `--json` consumer are noise.
pub fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' && chars.peek() == Some(&'[') {
            // CSI: parameters and intermediates up to a final byte in @..~.
            chars.next();
            for c in chars.by_ref() {
                if ('@'..='~').contains(&c) {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn escape_sequences_are_removed_and_text_kept() {
        assert_eq!(
            super::strip_ansi("Package `\u{1b}[36mnumpy\u{1b}[39m` was included"),
            "Package `numpy` was included"
        );
        assert_eq!(super::strip_ansi("plain [text]"), "plain [text]");
    }
}
