//! A wheel's RECORD and text files: every path checked to stay inside the package, every hash
//! and size checked against the archive, METADATA headers and console scripts read.

use super::*;

pub(super) fn relative_to_site(target: &str, site: &str) -> String {
    target
        .strip_prefix(&format!("{site}/"))
        .map_or_else(|| format!("../../../{target}"), str::to_string)
}

/// Refuses absolute paths and `..` components.
pub fn check_relative(name: &str) -> Result<(), String> {
    let path = Path::new(name);
    if name.starts_with('/') || name.starts_with('\\') || path.is_absolute() {
        return Err("absolute path".into());
    }
    for c in path.components() {
        match c {
            Component::Normal(_) | Component::CurDir => {}
            _ => return Err("path escapes the package (`..` or a root)".into()),
        }
    }
    Ok(())
}

pub(super) fn check_record(
    record: &str,
    entries: &BTreeMap<String, Vec<u8>>,
    dist_info: &str,
) -> Result<(), String> {
    let rows = crate::record::parse(record).map_err(|e| format!("RECORD: {e}"))?;
    let mut listed = std::collections::BTreeSet::new();
    for (n, row) in rows.iter().enumerate() {
        let path = &row.path;
        check_relative(path).map_err(|e| format!("RECORD row {}: `{path}`: {e}", n + 1))?;
        listed.insert(path.clone());
        let Some(bytes) = entries.get(path) else {
            return Err(format!("RECORD lists `{path}`, which is not in the wheel"));
        };
        let Some(hash) = row.hash.as_deref() else {
            if *path != format!("{dist_info}/RECORD") {
                return Err(format!("RECORD gives no hash for `{path}`"));
            }
            continue;
        };
        let Some(digest) = crate::record::sha256(row) else {
            return Err(format!("RECORD hash for `{path}` is not sha256 (`{hash}`)"));
        };
        if digest != b64_hash(bytes) {
            return Err(format!("`{path}` does not match its RECORD hash"));
        }
        if let Some(size) = row.size.filter(|s| *s != bytes.len() as u64) {
            return Err(format!(
                "`{path}` is {} bytes, RECORD says {size}",
                bytes.len()
            ));
        }
    }
    for name in entries.keys() {
        let signature =
            name.ends_with(".dist-info/RECORD.jws") || name.ends_with(".dist-info/RECORD.p7s");
        if !listed.contains(name) && !signature {
            return Err(format!("`{name}` is in the wheel but not in its RECORD"));
        }
    }
    Ok(())
}

pub(super) fn b64_hash(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(bytes))
}

pub(super) fn write_with_mode(
    path: &Path,
    bytes: &[u8],
    mode: Option<u32>,
) -> Result<(), BuildError> {
    use std::os::unix::fs::PermissionsExt;
    let io = |source| BuildError::Io {
        path: path.to_path_buf(),
        source,
    };
    if let Some(parent) = path.parent() {
        fs_err::create_dir_all(parent).map_err(io)?;
    }
    fs_err::write(path, bytes).map_err(io)?;
    let executable = mode.is_some_and(|m| m & 0o111 != 0);
    let perm = if executable { 0o755 } else { 0o644 };
    fs_err::set_permissions(path, std::fs::Permissions::from_mode(perm)).map_err(io)?;
    Ok(())
}

/// RFC 822-style headers of METADATA / WHEEL (continuation lines folded; the body ignored).
pub(super) fn parse_headers(text: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for line in text.lines() {
        if line.is_empty() {
            break;
        }
        if line.starts_with(' ') || line.starts_with('\t') {
            if let Some(last) = out.last_mut() {
                last.1.push('\n');
                last.1.push_str(line.trim());
            }
            continue;
        }
        if let Some((k, v)) = line.split_once(':') {
            out.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
    out
}

pub(super) fn console_scripts(text: &str) -> Vec<EntryPoint> {
    let mut in_section = false;
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_section = line == "[console_scripts]";
            continue;
        }
        if in_section {
            if let Some(ep) = EntryPoint::parse(line) {
                out.push(ep);
            }
        }
    }
    out
}
