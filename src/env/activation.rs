//! Activation of an environment: its variables and scripts, computed by rattler_shell.

use rattler_conda_types::Subdir;

use super::{EnvError, Envs};

impl Envs {
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
