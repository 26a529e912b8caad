//! Jupyter kernel specs for model environments: `kernels/scivision-<model>/kernel.json` in the
//! user's Jupyter data dir, so a notebook server in any Python can run code in the model's prefix.

use std::path::{Path, PathBuf};

/// Where kernel specs go and the PATH a kernel starts with, resolved at the edge (by the
/// settings layer).
#[derive(Debug, Clone)]
pub struct Kernels {
    /// The user's Jupyter data dir: `JUPYTER_DATA_DIR`, else `$XDG_DATA_HOME/jupyter`
    /// (Jupyter's own rule on Linux).
    pub data_dir: PathBuf,
    /// The PATH a kernel inherits after its prefix's `bin`.
    pub path: String,
}

impl Kernels {
    /// The folder of a model's kernel spec.
    pub fn spec_dir(&self, env_dir_name: &str) -> PathBuf {
        self.data_dir
            .join("kernels")
            .join(format!("scivision-{env_dir_name}"))
    }

    /// Writes the kernel spec of `model` (its env at `prefix`); returns the kernel.json path.
    pub fn install(
        &self,
        model: &str,
        env_dir_name: &str,
        prefix: &Path,
        home: &Path,
    ) -> std::io::Result<PathBuf> {
        let python = prefix.join("bin/python");
        let mut env = serde_json::json!({
            "CONDA_PREFIX": prefix,
            "PATH": format!("{}:{}", prefix.join("bin").display(), self.path),
        });
        for (var, dir) in crate::weights::Weights::new(home).cache_env() {
            env[var] = serde_json::json!(dir);
        }
        let spec = serde_json::json!({
            "argv": [python, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
            "display_name": format!("Python (scivision: {model})"),
            "language": "python",
            "env": env,
            "metadata": {"debugger": true, "scivision": {"model": model, "prefix": prefix}},
        });
        let file = self.spec_dir(env_dir_name).join("kernel.json");
        crate::atomic::write(
            &file,
            (serde_json::to_string_pretty(&spec).unwrap_or_default() + "\n").as_bytes(),
        )?;
        Ok(file)
    }

    /// Removes the kernel spec of an environment, if there is one.
    pub fn remove(&self, env_dir_name: &str) -> std::io::Result<bool> {
        let dir = self.spec_dir(env_dir_name);
        if dir.join("kernel.json").is_file() {
            fs_err::remove_dir_all(&dir)?;
            return Ok(true);
        }
        Ok(false)
    }
}
