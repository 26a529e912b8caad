//! The form a conda → PyPI name map is kept in once read: one line per conda name, sorted by
//! it, `conda-name<TAB>pypi-name pypi-name<LF>` (nothing after the tab: the package provides no
//! PyPI distribution). A name is found by bisecting the text, so a command pays for the few
//! names it asks about, not for parsing and hashing the 34,000 it does not (about 10 ms of a
//! 20 ms `solve --json`).
//!
//! Standard library only: `build.rs` includes this file to write the embedded copy.

use std::collections::BTreeMap;

/// The lines of `map`. A name holding whitespace cannot be a conda or PyPI name and could not
/// be told apart from the separators: such a key is left out, such a value dropped.
pub fn render(map: &BTreeMap<String, Option<Vec<String>>>) -> String {
    let plain = |s: &str| !s.is_empty() && !s.contains(char::is_whitespace);
    let mut out = String::new();
    for (conda, pypi) in map.iter().filter(|(k, _)| plain(k)) {
        out.push_str(conda);
        out.push('\t');
        let names = pypi.iter().flatten().filter(|n| plain(n));
        for (i, name) in names.enumerate() {
            if i > 0 {
                out.push(' ');
            }
            out.push_str(name);
        }
        out.push('\n');
    }
    out
}

/// What went wrong at a line of a map that is not in this form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotSortedLines {
    /// 1-based.
    pub line: usize,
    /// What is wrong there.
    pub why: &'static str,
}

impl std::fmt::Display for NotSortedLines {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}: {}", self.line, self.why)
    }
}

impl std::error::Error for NotSortedLines {}

/// Checks that `text` is in this form (what [`find`] relies on); returns how many names it has.
pub fn check(text: &str) -> Result<usize, NotSortedLines> {
    if !text.is_empty() && !text.ends_with('\n') {
        let line = text.lines().count();
        return Err(NotSortedLines {
            line,
            why: "the last line does not end",
        });
    }
    let mut previous: Option<&str> = None;
    let mut count = 0;
    for (i, line) in text.lines().enumerate() {
        let err = |why| NotSortedLines { line: i + 1, why };
        let (key, names) = line.split_once('\t').ok_or_else(|| err("no tab"))?;
        if key.is_empty() || key.contains(char::is_whitespace) {
            return Err(err("not a conda name"));
        }
        if names.contains(['\t', '\r']) || names.starts_with(' ') || names.contains("  ") {
            return Err(err("not a list of PyPI names"));
        }
        if previous.is_some_and(|p| p >= key) {
            return Err(err("out of order"));
        }
        previous = Some(key);
        count += 1;
    }
    Ok(count)
}

/// The PyPI names (space-separated, possibly none) on `conda_name`'s line of `text`, a map in
/// this form; `None` when it has no such line.
pub fn find<'a>(text: &'a str, conda_name: &str) -> Option<&'a str> {
    let bytes = text.as_bytes();
    // Invariant: `lo` is a line start, and the line sought, if any, starts in `lo..hi`.
    let (mut lo, mut hi) = (0, text.len());
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        let start = bytes[lo..mid]
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(lo, |i| lo + i + 1);
        let end = bytes[start..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(text.len(), |i| start + i);
        let line = &text[start..end];
        let (key, names) = line.split_once('\t').unwrap_or((line, ""));
        match key.cmp(conda_name) {
            std::cmp::Ordering::Equal => return Some(names),
            std::cmp::Ordering::Less => lo = end + 1,
            std::cmp::Ordering::Greater => hi = start,
        }
    }
    None
}
