//! A wheel's RECORD (PEP 376: CSV rows of path, `sha256=<urlsafe base64>`, size), read one way
//! by the wheel converter and by the PyPI half's checks, into uv's [`RecordEntry`].
//!
//! uv's own reader strips a leading `/` from paths (to install such wheels anyway); here an
//! absolute path is a reason to refuse the wheel, so the rows are read as written.

pub use uv_install_wheel::RecordEntry;

/// The rows of `text`, as CSV with quoted paths; the first malformed row is the error.
pub fn parse(text: &str) -> Result<Vec<RecordEntry>, csv::Error> {
    csv::ReaderBuilder::new()
        .has_headers(false)
        .escape(Some(b'"'))
        .from_reader(text.as_bytes())
        .into_deserialize()
        .collect()
}

/// The urlsafe-base64 sha256 of an entry, when its hash is a sha256.
pub fn sha256(entry: &RecordEntry) -> Option<&str> {
    entry.hash.as_deref()?.strip_prefix("sha256=")
}

#[cfg(test)]
mod tests {
    #[test]
    fn quoted_paths_empty_fields_and_blank_lines() {
        let text = "a/b.py,sha256=AAAA,12\n\"dir/with,comma.txt\",sha256=BBBB,3\n\nx.dist-info/RECORD,,\n/etc/passwd,,\n";
        let rows = super::parse(text).unwrap();
        let paths: Vec<&str> = rows.iter().map(|r| r.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "a/b.py",
                "dir/with,comma.txt",
                "x.dist-info/RECORD",
                "/etc/passwd"
            ]
        );
        assert_eq!(super::sha256(&rows[0]), Some("AAAA"));
        assert_eq!(rows[0].size, Some(12));
        assert_eq!(rows[2].hash, None);
        assert_eq!(rows[2].size, None);
    }

    #[test]
    fn a_row_without_its_fields_or_with_a_bad_size_is_an_error() {
        assert!(super::parse("a.py,sha256=AA,12\nb.py\n").is_err());
        assert!(super::parse("a.py,sha256=AA,twelve\n").is_err());
    }
}
