//! Resolving the PyPI half with uv's resolver for one fixed target (the solved conda python and
//! the conda subdir), with conda's python packages installed and pinned.

use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;

use rattler_conda_types::{GenericVirtualPackage, RepoDataRecord, Subdir};
use uv_configuration::{Constraints, Overrides};
use uv_distribution::DistributionDatabase;
use uv_distribution_types::{InstalledDist, Name, Requirement, RequiresPython, ResolvedDist};
use uv_normalize::PackageName;
use uv_pep440::Version;
use uv_pep508::{MarkerEnvironment, MarkerEnvironmentBuilder};
use uv_platform_tags::{Arch, Os, Platform, Tags, TagsOptions};
use uv_resolver::{
    InMemoryIndex, Manifest, OptionsBuilder, PythonRequirement, Resolver, ResolverEnvironment,
};
use uv_types::{HashStrategy, InstalledPackagesProvider};

use super::builds::{BuildParts, Builds};
use super::{CondaPythonPackages, PypiError, PypiRequirement, UvContext};

/// The machine a PyPI resolution is for: what wheel tags and environment markers mean there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The conda subdir.
    pub subdir: Subdir,
    /// The conda python's version (`3.11.2`).
    pub python: Version,
    /// glibc on Linux (from `__glibc`, else 2.17 as conda-forge assumes).
    pub glibc: (u16, u16),
    /// macOS version (from `__osx`, else the oldest each architecture supports).
    pub macos: Option<(u16, u16)>,
}

impl Target {
    /// From the solved records (their `python`) and the virtual packages solved with.
    pub fn from_solve(
        subdir: Subdir,
        records: &[RepoDataRecord],
        virtual_packages: &[GenericVirtualPackage],
    ) -> Result<Self, PypiError> {
        let python = records
            .iter()
            .find(|r| r.package_record.name.as_normalized() == "python")
            .ok_or_else(|| PypiError::Setup {
                what: "the PyPI requirements".into(),
                source: "the conda environment has no python to install them for".into(),
                help: "add python to the model's conda dependencies (`--with python`)".into(),
            })?;
        let python =
            Version::from_str(&python.package_record.version.to_string()).map_err(|e| {
                PypiError::Setup {
                    what: "the conda python".into(),
                    source: e.into(),
                    help: "use a python package with a PEP 440 version".into(),
                }
            })?;
        let version_of = |name: &str| {
            virtual_packages
                .iter()
                .find(|v| v.name.as_normalized() == name)
                .and_then(|v| {
                    let text = v.version.to_string();
                    let mut parts = text.split('.').map(|p| p.parse::<u16>().ok());
                    Some((parts.next()??, parts.next().flatten().unwrap_or(0)))
                })
        };
        let macos = match subdir {
            Subdir::Osx64 => Some(version_of("__osx").unwrap_or((10, 13))),
            // Apple silicon starts at macOS 11, whatever machine the lock is made on.
            Subdir::OsxArm64 => Some(version_of("__osx").unwrap_or((11, 0)).max((11, 0))),
            _ => None,
        };
        Ok(Self {
            subdir,
            python,
            glibc: version_of("__glibc").unwrap_or((2, 17)),
            macos,
        })
    }

    fn python_major_minor(&self) -> (u8, u8) {
        let r = self.python.release();
        let part = |i: usize| r.get(i).and_then(|v| u8::try_from(*v).ok()).unwrap_or(0);
        (part(0), part(1))
    }

    fn platform(&self) -> Result<Platform, PypiError> {
        let (os, arch) = match self.subdir {
            Subdir::Linux64 => (self.manylinux(), Arch::X86_64),
            Subdir::LinuxAarch64 => (self.manylinux(), Arch::Aarch64),
            Subdir::LinuxPpc64le => (self.manylinux(), Arch::Powerpc64Le),
            Subdir::Osx64 | Subdir::OsxArm64 => {
                let (major, minor) = self.macos.unwrap_or((11, 0));
                let arch = if self.subdir == Subdir::Osx64 {
                    Arch::X86_64
                } else {
                    Arch::Aarch64
                };
                (Os::Macos { major, minor }, arch)
            }
            Subdir::Win64 => (Os::Windows, Arch::X86_64),
            Subdir::WinArm64 => (Os::Windows, Arch::Aarch64),
            other => {
                return Err(PypiError::Setup {
                    what: format!("PyPI packages for {other}"),
                    source: "scivision knows no wheel tags for this platform".into(),
                    help: "use linux-64, linux-aarch64, osx-64, osx-arm64 or win-64".into(),
                })
            }
        };
        Ok(Platform::new(os, arch))
    }

    fn manylinux(&self) -> Os {
        Os::Manylinux {
            major: self.glibc.0,
            minor: self.glibc.1,
        }
    }

    /// The wheel tags this target installs, most specific first.
    pub fn tags(&self) -> Result<Tags, PypiError> {
        let python = self.python_major_minor();
        Tags::from_env(
            self.platform()?,
            python,
            "cpython",
            python,
            TagsOptions {
                manylinux_compatible: true,
                gil_disabled: false,
                debug_enabled: false,
                is_cross: false,
            },
        )
        .map_err(|e| PypiError::Setup {
            what: "wheel tags".into(),
            source: e.into(),
            help: "report this with the platform and python version".into(),
        })
    }

    /// PEP 508 environment markers for this target.
    pub fn markers(&self) -> Result<MarkerEnvironment, PypiError> {
        let (os_name, sys_platform, system) = match self.subdir {
            Subdir::Osx64 | Subdir::OsxArm64 => ("posix", "darwin", "Darwin"),
            Subdir::Win64 | Subdir::WinArm64 => ("nt", "win32", "Windows"),
            _ => ("posix", "linux", "Linux"),
        };
        let machine = match self.subdir {
            Subdir::Linux64 | Subdir::Osx64 => "x86_64",
            Subdir::LinuxAarch64 => "aarch64",
            Subdir::OsxArm64 => "arm64",
            Subdir::Win64 => "AMD64",
            Subdir::WinArm64 => "ARM64",
            Subdir::LinuxPpc64le => "ppc64le",
            _ => "",
        };
        let (major, minor) = self.python_major_minor();
        let full = self.python.to_string();
        let short = format!("{major}.{minor}");
        MarkerEnvironment::try_from(MarkerEnvironmentBuilder {
            implementation_name: "cpython",
            implementation_version: &full,
            os_name,
            platform_machine: machine,
            platform_python_implementation: "CPython",
            platform_release: "",
            platform_system: system,
            platform_version: "",
            python_full_version: &full,
            python_version: &short,
            sys_platform,
        })
        .map_err(|e| PypiError::Setup {
            what: "environment markers".into(),
            source: e.into(),
            help: "report this with the python version".into(),
        })
    }
}

/// One resolved PyPI distribution, as the lock records it and the installer takes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockedWheel {
    /// Normalized name.
    pub name: PackageName,
    /// Version.
    pub version: Version,
    /// The file (a wheel or an sdist URL, `file://` for local ones) or a VCS URL
    /// (`git+file:///repo@rev`).
    pub location: String,
    /// sha256 of the file, when it is a file.
    pub sha256: Option<String>,
    /// The index it came from, for registry files.
    pub index: Option<String>,
    /// Its Requires-Python.
    pub requires_python: Option<String>,
}

/// Conda's python packages as uv sees installed ones: a dist-info each (name and version only,
/// so their dependencies stay conda's business), in a folder that lives as long as the resolve.
#[derive(Clone)]
struct CondaInstalled(Arc<Vec<InstalledDist>>);

impl InstalledPackagesProvider for CondaInstalled {
    fn iter(&self) -> impl Iterator<Item = &InstalledDist> {
        self.0.iter()
    }

    fn get_packages(&self, name: &PackageName) -> Vec<&InstalledDist> {
        self.0.iter().filter(|d| d.name() == name).collect()
    }
}

fn conda_view(conda: &CondaPythonPackages, dir: &Path) -> Result<CondaInstalled, PypiError> {
    let setup = |e: String| PypiError::Setup {
        what: "the conda side of the PyPI resolution".into(),
        source: e.into(),
        help: "check free space in the temporary folder".into(),
    };
    let mut dists = Vec::new();
    for (name, python) in conda.iter() {
        let info = dir.join(format!(
            "{}-{}.dist-info",
            name.as_dist_info_name(),
            python.version
        ));
        fs_err::create_dir_all(&info).map_err(|e| setup(e.to_string()))?;
        fs_err::write(
            info.join("METADATA"),
            format!(
                "Metadata-Version: 2.1\nName: {name}\nVersion: {}\n",
                python.version
            ),
        )
        .map_err(|e| setup(e.to_string()))?;
        fs_err::write(info.join("INSTALLER"), "conda\n").map_err(|e| setup(e.to_string()))?;
        if let Some(dist) = InstalledDist::try_from_path(&info).map_err(|e| setup(e.to_string()))? {
            dists.push(dist);
        }
    }
    Ok(CondaInstalled(Arc::new(dists)))
}

/// Requirements that name a conda package with a version conda's does not satisfy: found
/// before resolving, so the message names both sides.
fn check_conda_conflicts(
    requirements: &[PypiRequirement],
    conda: &CondaPythonPackages,
    markers: &MarkerEnvironment,
) -> Result<(), PypiError> {
    for r in requirements {
        let Some(installed) = conda.get(&r.name) else {
            continue;
        };
        let parsed = PypiRequirement::requirement(&r.text, &r.origin)?;
        // A requirement for other platforms or pythons does not apply here.
        if !parsed.marker.evaluate(markers, &[]) {
            continue;
        }
        let conflict = match &parsed.version_or_url {
            None => false,
            Some(uv_pep508::VersionOrUrl::VersionSpecifier(spec)) => {
                !spec.contains(&installed.version)
            }
            // A URL would replace conda's files with another build.
            Some(uv_pep508::VersionOrUrl::Url(_)) => true,
        };
        if conflict {
            return Err(PypiError::CondaConflict {
                origin: r.origin.clone(),
                requirement: r.text.clone(),
                conda_side: format!(
                    "{} {} (from {})",
                    r.name, installed.version, installed.record
                ),
                conda_name: installed.conda_name.clone(),
            });
        }
    }
    Ok(())
}

/// Resolves `requirements` for `target`, with conda's python packages installed and pinned.
/// `builds` runs the sdist builds that metadata needs.
pub async fn resolve(
    ctx: &UvContext,
    target: &Target,
    requirements: &[PypiRequirement],
    conda: &CondaPythonPackages,
    builds: &Builds,
) -> Result<Vec<LockedWheel>, PypiError> {
    if requirements.is_empty() {
        return Ok(Vec::new());
    }
    let markers = target.markers()?;
    check_conda_conflicts(requirements, conda, &markers)?;
    let listing = requirements
        .iter()
        .map(|r| format!("`{}` ({})", r.text, r.origin))
        .collect::<Vec<_>>()
        .join(", ");
    let job = ResolveJob {
        ctx,
        builds,
        target,
        listing,
        tags: target.tags()?,
        markers,
    };
    let view_dir = tempfile::tempdir().map_err(|e| PypiError::Setup {
        what: "a temporary folder".into(),
        source: e.into(),
        help: "check TMPDIR".into(),
    })?;
    let installed = conda_view(conda, view_dir.path())?;
    let manifest = manifest(requirements, conda)?;
    let resolution = job.run(manifest, installed).await?;
    locked_wheels(ctx, &resolution)
}

/// What uv's resolver is asked: the requirements, conda's versions as constraints, and a card's
/// overrides.
fn manifest(
    requirements: &[PypiRequirement],
    conda: &CondaPythonPackages,
) -> Result<Manifest, PypiError> {
    let mut uv_requirements = Vec::new();
    for r in requirements {
        uv_requirements.push(Requirement::from(PypiRequirement::requirement(
            &r.text, &r.origin,
        )?));
    }
    // Conda's versions are fixed: a requirement elsewhere in the graph that excludes one fails.
    let mut pins = Vec::new();
    for (name, python) in conda.iter() {
        let text = format!("{name}=={}", python.version);
        if let Ok(r) = PypiRequirement::requirement(&text, "conda") {
            pins.push(Requirement::from(r));
        }
    }
    let constraints = Constraints::from_requirements(pins.into_iter());
    // A card's overrides: conda's version stands in for every requirement on the name (a git URL
    // deep in the graph included), so uv neither builds it nor refuses the URL.
    let mut replaced = Vec::new();
    for (name, python) in conda.overrides() {
        let text = format!("{name}=={}", python.version);
        replaced.push(Requirement::from(PypiRequirement::requirement(
            &text, "card",
        )?));
    }
    let overrides = Overrides::from_requirements(replaced);
    Ok(Manifest::new(
        uv_requirements,
        constraints,
        overrides,
        uv_configuration::Excludes::default(),
        uv_resolver::Preferences::default(),
        None,
        std::collections::BTreeSet::new(),
        uv_resolver::Exclusions::default(),
        Vec::new(),
    ))
}

/// One run of uv's resolver for a target, and the words its failures are told in.
struct ResolveJob<'a> {
    ctx: &'a UvContext,
    builds: &'a Builds,
    target: &'a Target,
    /// The requirements as a failure names them.
    listing: String,
    tags: Tags,
    markers: MarkerEnvironment,
}

impl ResolveJob<'_> {
    fn error(&self, reason: String, help: &str) -> PypiError {
        PypiError::Resolve {
            requirements: self.listing.clone(),
            reason,
            help: help.to_string(),
        }
    }

    /// Resolves `manifest` with `installed` (conda's python packages) already in place.
    async fn run(
        &self,
        manifest: Manifest,
        installed: CondaInstalled,
    ) -> Result<uv_distribution_types::Resolution, PypiError> {
        let (ctx, markers, tags) = (self.ctx, &self.markers, &self.tags);
        let parts = BuildParts::default();
        // Hashes for every archive (the index's where it publishes them, computed otherwise), so
        // that the lock pins each file and installs verify it.
        let hasher = HashStrategy::Generate(uv_distribution_types::HashGeneration::All);
        let flat_index = ctx.flat_index(tags, &hasher, &parts.build_options).await?;
        let dispatch = parts.dispatch(
            ctx,
            self.builds,
            &flat_index,
            &hasher,
            uv_dispatch::SharedState::default(),
        );
        let python_requirement = PythonRequirement::from_marker_environment(
            markers,
            RequiresPython::greater_than_equal_version(&self.target.python),
        );
        let index = InMemoryIndex::default();
        let resolver = Resolver::new(
            manifest,
            OptionsBuilder::new().build(),
            &python_requirement,
            ResolverEnvironment::specific(markers.clone().into()),
            markers,
            uv_pypi_types::Conflicts::empty(),
            Some(tags),
            &flat_index,
            &index,
            &hasher,
            &dispatch,
            installed,
            DistributionDatabase::new(
                &ctx.client,
                &dispatch,
                parts.concurrency.downloads_semaphore.clone(),
            ),
        )
        .map_err(|e| {
            self.error(
                crate::message::error_chain(&e),
                "report this; the resolver could not start",
            )
        })?;
        let resolved = async {
            resolver.resolve().await.map_err(|e| {
                self.error(
                    crate::message::error_chain(&e),
                    if ctx.offline {
                        "offline, only wheels already in the uv cache or local --find-links folders can be used; run once online"
                    } else {
                        "check the names and versions on the index (--index-url, --find-links), relax the requirement, or pin conda's side with --with"
                    },
                )
            })
        };
        let output = self.builds.guard(resolved).await?;
        Ok(output.into())
    }
}

/// The lock's entries for `resolution`'s PyPI distributions (conda's left out), by name.
fn locked_wheels(
    ctx: &UvContext,
    resolution: &uv_distribution_types::Resolution,
) -> Result<Vec<LockedWheel>, PypiError> {
    let mut locked = Vec::new();
    for (resolved, digests) in resolution.hashes() {
        let ResolvedDist::Installable { dist, version } = resolved else {
            continue; // conda's
        };
        let mut wheel = locked_wheel(dist, version.as_ref(), digests)?;
        // A find-links folder is no index: the file's location says all (and the lock format
        // keeps `index` for simple indexes only).
        if ctx
            .locations
            .flat_indexes()
            .any(|f| Some(f.url().to_string()) == wheel.index)
        {
            wheel.index = None;
        }
        locked.push(wheel);
    }
    locked.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(locked)
}

fn locked_wheel(
    dist: &uv_distribution_types::Dist,
    version: Option<&Version>,
    digests: &[uv_pypi_types::HashDigest],
) -> Result<LockedWheel, PypiError> {
    use uv_distribution_types::DistributionMetadata;
    let name = dist.name().clone();
    let unlockable = |reason: &str| PypiError::Install {
        name: name.to_string(),
        source: reason.to_string().into(),
        help: "report this with the requirement".into(),
    };
    let (location, requires_python) = match dist.file() {
        // Locations are recorded without credentials (as uv's lock does): a token in a lock or
        // a pack would leak; installs authenticate through netrc or the index options instead.
        Some(file) => (
            file.url
                .to_url()
                .map_err(|e| unlockable(&e.to_string()))?
                .without_credentials()
                .to_string(),
            file.requires_python.as_ref().map(ToString::to_string),
        ),
        None => match dist.version_or_url() {
            uv_distribution_types::VersionOrUrlRef::Url(url) => {
                (url.to_url().without_credentials().to_string(), None)
            }
            uv_distribution_types::VersionOrUrlRef::Version(_) => {
                return Err(unlockable("a registry distribution without a file"))
            }
        },
    };
    let version = version
        .or_else(|| dist.version())
        .cloned()
        .ok_or_else(|| unlockable("the resolver reported no version"))?;
    // The index's hash of the file itself comes first; the resolution's digests are the
    // fallback (for registry files they may describe the metadata file).
    let mut sha256 = dist
        .file()
        .map(|f| f.hashes.as_slice())
        .unwrap_or_default()
        .iter()
        .chain(digests)
        .find(|d| d.algorithm == uv_pypi_types::HashAlgorithm::Sha256)
        .map(|d| d.digest.to_string());
    // Local find-links files carry no hash in their listing: hash the file itself.
    if sha256.is_none() {
        if let Some(path) = url::Url::parse(&location)
            .ok()
            .filter(|u| u.scheme() == "file")
            .and_then(|u| u.to_file_path().ok())
            .filter(|p| p.is_file())
        {
            sha256 =
                Some(crate::package::sha256_file(&path).map_err(|e| unlockable(&e.to_string()))?);
        }
    }
    Ok(LockedWheel {
        name,
        version,
        location,
        sha256,
        index: dist.index().map(|i| i.url().to_string()),
        requires_python,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(subdir: Subdir) -> Target {
        Target {
            subdir,
            python: Version::from_str("3.11.2").unwrap(),
            glibc: (2, 28),
            macos: Some((11, 0)),
        }
    }

    #[test]
    fn markers_and_tags_follow_the_conda_target() {
        let linux = target(Subdir::Linux64);
        let m = linux.markers().unwrap();
        assert_eq!(m.sys_platform(), "linux");
        assert_eq!(m.python_full_version().to_string(), "3.11.2");
        let tags = linux.tags().unwrap().to_string();
        assert!(tags.contains("manylinux_2_28_x86_64"), "{tags}");
        assert!(!tags.contains("manylinux_2_29"), "{tags}");
        let mac = target(Subdir::OsxArm64);
        assert_eq!(mac.markers().unwrap().platform_machine(), "arm64");
        assert!(mac
            .tags()
            .unwrap()
            .to_string()
            .contains("macosx_11_0_arm64"));
    }
}
