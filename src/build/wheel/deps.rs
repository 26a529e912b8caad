//! What a wheel's file name and METADATA say about the conda package: the python it targets,
//! its dependencies as conda specs (markers evaluated for its platform), and conda names.

use super::*;

/// The tags of a wheel's file name (`name-version[-build]-pytag-abitag-platform.whl`).
#[derive(Debug, Clone)]
pub(super) struct WheelTags {
    pub(super) file_name: String,
    pub(super) python: String,
    pub(super) abi: String,
    pub(super) platform: String,
}

impl WheelTags {
    /// The tags of `wheel`'s file name, parsed as uv does (a compressed tag set keeps its
    /// first tag: the converter makes one package per python and platform).
    pub(super) fn of(wheel: &Path) -> Result<Self, String> {
        use std::str::FromStr;
        let file_name = wheel
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        let parsed =
            uv_distribution_filename::WheelFilename::from_str(&file_name).map_err(|e| {
                format!("the file name is not `name-version-pytag-abitag-platform.whl`: {e}")
            })?;
        // uv drops the tags it does not know from a compressed set; none left is no wheel
        // this converter can place.
        let unknown = || format!("`{file_name}` has a tag set uv does not know");
        let python = parsed
            .python_tags()
            .first()
            .ok_or_else(unknown)?
            .to_string();
        let abi = parsed.abi_tags().first().ok_or_else(unknown)?.to_string();
        let platforms: Vec<String> = parsed
            .platform_tags()
            .iter()
            .map(ToString::to_string)
            .collect();
        if platforms.is_empty() {
            return Err(unknown());
        }
        Ok(Self {
            python,
            abi,
            platform: platforms.join("."),
            file_name,
        })
    }

    /// The package's subdir, noarch kind and build string (`short` hashes what the build
    /// depends on).
    pub(super) fn identity(
        &self,
        pure: bool,
        py_mm: &str,
        short: &str,
        build_number: u64,
    ) -> Result<(String, Option<String>, String), String> {
        if pure {
            return Ok((
                "noarch".to_string(),
                Some("python".to_string()),
                format!("pyh{short}_{build_number}"),
            ));
        }
        let subdir = subdir_for_platform_tag(&self.platform).ok_or_else(|| {
            format!(
                "platform tag `{}` has no conda subdir this converter knows",
                self.platform
            )
        })?;
        let py = py_mm.replace('.', "");
        Ok((
            subdir.to_string(),
            None,
            format!("py{py}h{short}_{build_number}"),
        ))
    }

    /// Pure Python: purelib by its WHEEL file, and tagged for any ABI and platform.
    pub(super) fn is_pure(&self, purelib: bool) -> bool {
        purelib && self.abi == "none" && self.platform == "any"
    }

    /// The `major.minor` of the python the package is made for.
    pub(super) fn target_python(
        &self,
        pure: bool,
        options: &ConvertOptions,
    ) -> Result<String, String> {
        if pure {
            return Ok(options.marker_python.clone());
        }
        let tag = self.python.split('.').next().unwrap_or(&self.python);
        let tagged = cpython_version(tag).ok_or_else(|| {
            format!("python tag `{tag}`: only CPython wheels (cpXY) can be converted")
        })?;
        if self.abi != "abi3" {
            return Ok(tagged);
        }
        // A stable-ABI wheel runs on every CPython from its tag on; the package is made for
        // the target python, whose site-packages it is installed into.
        if version_key(&options.marker_python) < version_key(&tagged) {
            return Err(format!(
                "the abi3 wheel needs CPython >= {tagged}, the target is {}",
                options.marker_python
            ));
        }
        Ok(options.marker_python.clone())
    }
}

/// python (a range for pure wheels, the exact minor and ABI otherwise) and every
/// `Requires-Dist` that applies to `py_mm` on the wheel's platform, as conda specs.
pub(super) fn depends_from_metadata(
    headers: &[(String, String)],
    pure: bool,
    py_mm: &str,
    platform_tag: &str,
    options: &ConvertOptions,
) -> Result<Vec<String>, String> {
    // A platform wheel's markers are those of its platform; a pure wheel's, Linux x86-64's
    // (a noarch package cannot say more).
    let marker_env = marker_environment(py_mm, (!pure).then_some(platform_tag))?;
    let mut depends = Vec::new();
    if pure {
        let python_spec = headers
            .iter()
            .find(|(h, _)| h.eq_ignore_ascii_case("Requires-Python"))
            .map(|(_, s)| pep440_to_conda(s))
            .filter(|s| !s.is_empty());
        depends.push(match python_spec {
            Some(spec) => format!("python {spec}"),
            None => "python".into(),
        });
    } else {
        let (major, minor) = py_mm.split_once('.').unwrap_or((py_mm, "0"));
        let next = minor.parse::<u32>().unwrap_or(0) + 1;
        depends.push(format!("python >={py_mm},<{major}.{next}.0a0"));
        depends.push(format!("python_abi {py_mm}.* *_cp{major}{minor}"));
    }
    for (key, value) in headers {
        if !key.eq_ignore_ascii_case("Requires-Dist") {
            continue;
        }
        let req = Requirement::<uv_pep508::VerbatimUrl>::from_str(value)
            .map_err(|e| format!("Requires-Dist `{value}`: {e}"))?;
        if req.marker.top_level_extra().is_some() || !req.marker.evaluate(&marker_env, &[]) {
            continue;
        }
        let dep_name = conda_name(req.name.as_ref(), &options.name_map);
        let spec = match &req.version_or_url {
            Some(VersionOrUrl::VersionSpecifier(specs)) => pep440_to_conda(&specs.to_string()),
            Some(VersionOrUrl::Url(_)) => {
                return Err(format!(
                    "Requires-Dist `{value}` is a URL requirement, which a conda package cannot express"
                ))
            }
            None => String::new(),
        };
        depends.push(if spec.is_empty() {
            dep_name
        } else {
            format!("{dep_name} {spec}")
        });
    }
    Ok(depends)
}

/// The conda name of a PyPI distribution: the mapped name, or the normalized PyPI name.
pub fn conda_name(pypi: &str, map: &BTreeMap<String, String>) -> String {
    let normalized: String = pypi
        .to_lowercase()
        .chars()
        .map(|c| if c == '_' || c == '.' { '-' } else { c })
        .collect();
    map.get(&normalized).cloned().unwrap_or(normalized)
}

/// PEP 440 specifiers → conda version spec. The operators coincide except `===` (refused
/// upstream) and the separators, which are commas in both.
pub fn pep440_to_conda(spec: &str) -> String {
    spec.split(',')
        .map(|s| s.trim().replace(' ', ""))
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(",")
}

pub(super) fn version_key(v: &str) -> Vec<u32> {
    v.split('.').filter_map(|p| p.parse().ok()).collect()
}

pub(super) fn cpython_version(tag: &str) -> Option<String> {
    let digits = tag.strip_prefix("cp")?;
    let (major, minor) = digits.split_at(1);
    if major != "3" || minor.is_empty() || !minor.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    Some(format!("{major}.{minor}"))
}

pub(super) fn subdir_for_platform_tag(tag: &str) -> Option<&'static str> {
    // A compressed tag set (`manylinux_2_17_x86_64.manylinux2014_x86_64`) shares one arch.
    let first = tag.split('.').next()?;
    if first.starts_with("manylinux")
        || first.starts_with("musllinux")
        || first.starts_with("linux")
    {
        if first.ends_with("x86_64") {
            return Some("linux-64");
        }
        if first.ends_with("aarch64") {
            return Some("linux-aarch64");
        }
        if first.ends_with("ppc64le") {
            return Some("linux-ppc64le");
        }
    } else if first.starts_with("macosx") {
        if first.ends_with("arm64") {
            return Some("osx-arm64");
        }
        if first.ends_with("x86_64") {
            return Some("osx-64");
        }
    } else if first == "win_amd64" {
        return Some("win-64");
    }
    None
}

/// The PEP 508 marker environment of CPython `python` on the platform of a wheel's platform
/// tag (`manylinux_2_17_aarch64`, `macosx_11_0_arm64`, `win_amd64`); Linux x86-64 without one.
pub(super) fn marker_environment(
    python: &str,
    platform_tag: Option<&str>,
) -> Result<MarkerEnvironment, String> {
    let subdir = platform_tag
        .and_then(subdir_for_platform_tag)
        .unwrap_or("linux-64");
    let (os_name, sys_platform, platform_system, machine) = match subdir {
        "linux-aarch64" => ("posix", "linux", "Linux", "aarch64"),
        "linux-ppc64le" => ("posix", "linux", "Linux", "ppc64le"),
        "osx-arm64" => ("posix", "darwin", "Darwin", "arm64"),
        "osx-64" => ("posix", "darwin", "Darwin", "x86_64"),
        "win-64" => ("nt", "win32", "Windows", "AMD64"),
        _ => ("posix", "linux", "Linux", "x86_64"),
    };
    MarkerEnvironment::try_from(MarkerEnvironmentBuilder {
        implementation_name: "cpython",
        implementation_version: &format!("{python}.0"),
        os_name,
        platform_machine: machine,
        platform_python_implementation: "CPython",
        platform_release: "",
        platform_system,
        platform_version: "",
        python_full_version: &format!("{python}.0"),
        python_version: python,
        sys_platform,
    })
    .map_err(|e| format!("python version `{python}`: {e}"))
}
