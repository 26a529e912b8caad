//! A wheel's files: read from its zip once, with every path checked, and written where the
//! conda package keeps them (site-packages, scripts, headers, data), with a RECORD of the result.

use super::*;

/// Every file entry of the wheel's zip, read once, its path checked, and the unix modes.
#[allow(clippy::type_complexity)]
pub(super) fn read_entries(
    wheel: &Path,
) -> Result<(BTreeMap<String, Vec<u8>>, BTreeMap<String, u32>), BuildError> {
    let bad = |reason: String| bad_wheel(wheel, reason);
    let file = fs_err::File::open(wheel).map_err(BuildError::io(wheel))?;
    let mut zip = zip::ZipArchive::new(file).map_err(|e| bad(format!("not a zip archive: {e}")))?;
    let mut entries: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    let mut modes: BTreeMap<String, u32> = BTreeMap::new();
    for i in 0..zip.len() {
        let mut entry = zip
            .by_index(i)
            .map_err(|e| bad(format!("entry {i}: {e}")))?;
        if entry.is_dir() {
            continue;
        }
        let name = entry.name().to_string();
        check_relative(&name).map_err(|reason| bad(format!("entry `{name}`: {reason}")))?;
        let mut bytes = Vec::with_capacity(usize::try_from(entry.size()).unwrap_or(0).min(1 << 30));
        entry
            .read_to_end(&mut bytes)
            .map_err(|e| bad(format!("entry `{name}`: {e}")))?;
        if let Some(mode) = entry.unix_mode() {
            modes.insert(name.clone(), mode);
        }
        entries.insert(name, bytes);
    }
    Ok((entries, modes))
}

/// Where a wheel's files go in the package.
pub(super) struct FileLayout {
    /// `site-packages` (noarch) or `lib/pythonX.Y/site-packages`.
    pub(super) site: String,
    /// `python-scripts` (noarch) or `bin`.
    pub(super) scripts: &'static str,
    /// `name-version.data`.
    pub(super) data_dir: String,
    /// `name-version.dist-info`.
    pub(super) dist_info: String,
}

impl FileLayout {
    /// Where `entry` goes, relative to the package root.
    fn target(&self, entry: &str) -> Result<String, String> {
        let Some(rest) = entry.strip_prefix(&format!("{}/", self.data_dir)) else {
            return Ok(format!("{}/{entry}", self.site));
        };
        let (scheme, rel) = rest
            .split_once('/')
            .ok_or_else(|| format!("entry `{entry}` is not in a .data scheme folder"))?;
        Ok(match scheme {
            "purelib" | "platlib" => format!("{}/{rel}", self.site),
            "scripts" => format!("{}/{rel}", self.scripts),
            "headers" => format!("include/{rel}"),
            "data" => rel.to_string(),
            other => return Err(format!("entry `{entry}`: unknown .data scheme `{other}`")),
        })
    }

    /// Writes every entry under `root`, then INSTALLER (conda manages these files) and a RECORD
    /// of the final contents.
    pub(super) fn write(
        &self,
        wheel: &Path,
        root: &Path,
        entries: &BTreeMap<String, Vec<u8>>,
        modes: &BTreeMap<String, u32>,
    ) -> Result<(), BuildError> {
        let dist_info = &self.dist_info;
        let mut record_lines = Vec::new();
        for (entry, bytes) in entries {
            let target = self
                .target(entry)
                .map_err(|reason| bad_wheel(wheel, reason))?;
            if entry == &format!("{dist_info}/RECORD") || entry == &format!("{dist_info}/INSTALLER")
            {
                continue;
            }
            let mut bytes = bytes.clone();
            if entry.starts_with(&format!("{}/scripts/", self.data_dir))
                && bytes.starts_with(b"#!python")
            {
                // Wheel scripts name their interpreter `python`; point it at the prefix's.
                let rest = bytes[b"#!python".len()..].to_vec();
                bytes = [
                    format!("#!{LEGACY_PLACEHOLDER}/bin/python").into_bytes(),
                    rest,
                ]
                .concat();
            }
            write_with_mode(&root.join(&target), &bytes, modes.get(entry).copied())?;
            let rel_to_site = relative_to_site(&target, &self.site);
            record_lines.push(format!(
                "{rel_to_site},sha256={},{}",
                b64_hash(&bytes),
                bytes.len()
            ));
        }
        let installer = b"conda\n";
        let dist_info_path = root.join(&self.site).join(dist_info);
        write_with_mode(&dist_info_path.join("INSTALLER"), installer, None)?;
        record_lines.push(format!(
            "{dist_info}/INSTALLER,sha256={},{}",
            b64_hash(installer),
            installer.len()
        ));
        record_lines.push(format!("{dist_info}/RECORD,,"));
        record_lines.sort();
        let record_text = record_lines.join("\n") + "\n";
        write_with_mode(&dist_info_path.join("RECORD"), record_text.as_bytes(), None)
    }
}

/// A platform package's console scripts: `bin/NAME` files (a noarch one gets link.json entry
/// points instead).
pub(super) fn write_console_scripts(
    root: &Path,
    entry_points: &[EntryPoint],
) -> Result<(), BuildError> {
    for ep in entry_points {
        let script = format!(
            "#!{LEGACY_PLACEHOLDER}/bin/python\n# -*- coding: utf-8 -*-\nimport re\nimport sys\n\nfrom {} import {}\n\nif __name__ == '__main__':\n    sys.argv[0] = re.sub(r'(-script\\.pyw?|\\.exe)?$', '', sys.argv[0])\n    sys.exit({}())\n",
            ep.module,
            ep.function.split('.').next().unwrap_or(&ep.function),
            ep.function
        );
        write_with_mode(
            &root.join("bin").join(&ep.name),
            script.as_bytes(),
            Some(0o755),
        )?;
    }
    Ok(())
}
