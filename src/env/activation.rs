//! Activation of an environment: its variables and scripts, computed by rattler_shell, and
//! a command run inside it (`env run`).

use rattler_conda_types::Subdir;

use super::{EnvError, Envs};

impl Envs {
    /// `program args…` in the activated environment `name`, with the weight cache's variables
    /// (`weights_env`) set so a model finds its files: the caller runs it and reads its status.
    pub fn command<K, V>(
        &self,
        name: &str,
        command: &[String],
        weights_env: impl IntoIterator<Item = (K, V)>,
    ) -> Result<Option<std::process::Command>, EnvError>
    where
        K: AsRef<std::ffi::OsStr>,
        V: AsRef<std::ffi::OsStr>,
    {
        let vars = self.activation_env(name)?;
        let Some((program, args)) = command.split_first() else {
            return Ok(None);
        };
        let mut cmd = std::process::Command::new(program);
        cmd.args(args).envs(vars).envs(weights_env);
        Ok(Some(cmd))
    }

    /// What `env export` writes: the environment's lock (`lock`), an environment.yml
    /// (`environment-yml`) or an `@EXPLICIT` spec file (`explicit`).
    pub fn export(&self, name: &str, format: &str) -> Result<String, EnvError> {
        let prefix = self.existing(name)?;
        let lock_path = prefix.join(super::LOCK_FILE);
        let platform = Subdir::current().unwrap_or(Subdir::Linux64);
        let records = crate::lock::read_records(&lock_path, platform)?;
        Ok(match format {
            "lock" => fs_err::read_to_string(&lock_path).map_err(super::io(&lock_path))?,
            "explicit" => crate::lock::explicit(&records, platform),
            _ => crate::lock::environment_yml(name, &records),
        })
    }

    /// The environment variables of the activated prefix (PATH, CONDA_PREFIX, activate.d
    /// scripts, env_vars.d), computed by rattler_shell through bash.
    pub fn activation_env(
        &self,
        name: &str,
    ) -> Result<std::collections::HashMap<String, String>, EnvError> {
        let (activator, variables) = self.activator(name, rattler_shell::shell::Bash::default())?;
        activator
            .run_activation(variables, None)
            .map_err(|e| self.activation_error(name, e))
    }

    /// The activation script for `shell` (bash, zsh, fish, xonsh, powershell, cmd.exe, nushell).
    pub fn activation_script(
        &self,
        name: &str,
        shell: rattler_shell::shell::ShellEnum,
    ) -> Result<String, EnvError> {
        let (activator, variables) = self.activator(name, shell)?;
        activator
            .activation(variables)
            .map_err(|e| self.activation_error(name, e))?
            .script
            .contents()
            .map_err(|e| self.activation_error(name, e))
    }

    fn activator<T: rattler_shell::shell::Shell + Clone + 'static>(
        &self,
        name: &str,
        shell: T,
    ) -> Result<
        (
            rattler_shell::activation::Activator<T>,
            rattler_shell::activation::ActivationVariables,
        ),
        EnvError,
    > {
        use rattler_shell::activation::{ActivationVariables, Activator};
        let prefix = self.existing(name)?;
        let platform = Subdir::current().unwrap_or(Subdir::Linux64);
        let activator = Activator::from_path(&prefix, shell, platform)
            .map_err(|e| self.activation_error(name, e))?;
        let variables =
            ActivationVariables::from_env().map_err(|e| self.activation_error(name, e))?;
        Ok((activator, variables))
    }

    fn activation_error(&self, name: &str, e: impl Into<crate::message::Cause>) -> EnvError {
        EnvError::Activation {
            prefix: self.prefix(name),
            source: e.into(),
        }
    }
}
