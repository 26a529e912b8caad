//! Where scivision keeps things: its home (environments), its caches, rattler's package cache.
//!
//! Every location can be moved by an environment variable, so tests and users can isolate runs:
//! `SCIVISION_HOME`, `SCIVISION_CACHE_DIR`, `RATTLER_CACHE_DIR`.

use std::path::PathBuf;

/// Resolved directories.
#[derive(Debug, Clone)]
pub struct Dirs {
    /// `SCIVISION_HOME` (default: the XDG data dir + `scivision`): environments live here.
    pub home: PathBuf,
    /// `SCIVISION_CACHE_DIR` (default: the XDG cache dir + `scivision`): sources, builds.
    pub cache: PathBuf,
    /// rattler's package cache (`RATTLER_CACHE_DIR/pkgs`), shared with pixi and rattler.
    pub packages: PathBuf,
}

impl Dirs {
    /// Reads the environment.
    pub fn from_env() -> Self {
        let env_path = |k: &str| {
            std::env::var_os(k)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        };
        let home = env_path("SCIVISION_HOME").unwrap_or_else(|| {
            dirs::data_dir()
                .unwrap_or_else(std::env::temp_dir)
                .join("scivision")
        });
        let cache = env_path("SCIVISION_CACHE_DIR").unwrap_or_else(|| {
            dirs::cache_dir()
                .unwrap_or_else(std::env::temp_dir)
                .join("scivision")
        });
        let rattler = rattler_cache::default_cache_dir().unwrap_or_else(|_| cache.join("rattler"));
        Self {
            home,
            cache,
            packages: rattler.join(rattler_cache::PACKAGE_CACHE_DIR),
        }
    }
}
