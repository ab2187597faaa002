//! Which Python env an env string names, and which interpreter runs it.

use std::path::{Path, PathBuf};

use super::error::PythonEnvError;

/// Prefix of an env string that makes an env with `gymnasium.make`, even if a native env has
/// the same id.
pub const GYMNASIUM_PREFIX: &str = "gymnasium:";

/// What a Python env string names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PythonEnvTarget {
    /// `gymnasium.make(id, **env_config)`.
    Gymnasium {
        /// The Gymnasium id, e.g. `HalfCheetah-v5` (or `module:Id`, which imports `module`).
        id: String,
    },
    /// `ClassName(env_config)` from a Python file.
    File {
        /// The file, made absolute against the working directory when given.
        path: PathBuf,
        /// The class.
        class: String,
    },
    /// `ClassName(env_config)` from an importable module.
    Module {
        /// The dotted module path.
        module: String,
        /// The class.
        class: String,
    },
}

impl PythonEnvTarget {
    /// Reads `gymnasium:<id>`, `path/to/file.py:ClassName` or `package.module:ClassName`;
    /// `Ok(None)` for a plain id (no `:`), which names a native env or falls back to
    /// Gymnasium's registry.
    pub fn parse(env: &str) -> Result<Option<Self>, PythonEnvError> {
        if let Some(id) = env.strip_prefix(GYMNASIUM_PREFIX) {
            if id.trim().is_empty() {
                return Err(bad(env, "no Gymnasium id after 'gymnasium:'"));
            }
            return Ok(Some(PythonEnvTarget::Gymnasium { id: id.to_string() }));
        }
        let Some((left, class)) = env.rsplit_once(':') else {
            return Ok(None);
        };
        if !is_identifier(class) {
            // Gymnasium's own `module:EnvId` form (e.g. `ale_py:ALE/Pong-v5`).
            if is_module_path(left) && !class.is_empty() {
                return Ok(Some(PythonEnvTarget::Gymnasium {
                    id: env.to_string(),
                }));
            }
            return Err(bad(
                env,
                &format!(
                    "'{class}' is not a Python class name (write path/to/file.py:ClassName, \
                     package.module:ClassName or gymnasium:<id>)"
                ),
            ));
        }
        if left.ends_with(".py") || left.contains('/') {
            let path = Path::new(left);
            let path = if path.is_absolute() {
                path.to_path_buf()
            } else {
                // Absolute, so that workers in other processes or directories find it too.
                std::env::current_dir()
                    .map(|d| d.join(path))
                    .unwrap_or_else(|_| path.to_path_buf())
            };
            return Ok(Some(PythonEnvTarget::File {
                path,
                class: class.to_string(),
            }));
        }
        if !is_module_path(left) {
            return Err(bad(
                env,
                &format!("'{left}' is neither a .py file nor a dotted Python module path"),
            ));
        }
        Ok(Some(PythonEnvTarget::Module {
            module: left.to_string(),
            class: class.to_string(),
        }))
    }
}

fn bad(env: &str, reason: &str) -> PythonEnvError {
    PythonEnvError::BadTarget {
        env: env.to_string(),
        reason: reason.to_string(),
    }
}

fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_alphabetic() || c == '_')
        && chars.all(|c| c.is_alphanumeric() || c == '_')
}

fn is_module_path(s: &str) -> bool {
    !s.is_empty() && s.split('.').all(is_identifier)
}

/// Environment variable naming the Python interpreter for Python envs.
pub const PYTHON_ENV_VAR: &str = "RLLIB_PYTHON";

/// The interpreter that runs Python envs: `RLLIB_PYTHON` if set; else the project's
/// `.venv/bin/python` (the one `.ci/setup` fills), found in a folder above the running
/// binary (`target/<profile>/rllib` sits two levels below the project) or, for a binary
/// copied elsewhere, above this crate's source; else `python3` from `PATH`.
pub fn python_interpreter() -> PathBuf {
    if let Some(p) = std::env::var_os(PYTHON_ENV_VAR).filter(|p| !p.is_empty()) {
        return PathBuf::from(p);
    }
    project_venv_python().unwrap_or_else(|| PathBuf::from("python3"))
}

/// The project's `.venv/bin/python`, if one is found (see [`python_interpreter`]).
pub fn project_venv_python() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok();
    let from_exe = exe.iter().flat_map(|e| e.ancestors().skip(1));
    let from_source = Path::new(env!("CARGO_MANIFEST_DIR")).ancestors();
    from_exe
        .chain(from_source)
        .map(|dir| dir.join(".venv/bin/python"))
        .find(|p| p.exists())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_strings_name_the_right_target() {
        assert_eq!(PythonEnvTarget::parse("CartPole-v1").unwrap(), None);
        assert_eq!(
            PythonEnvTarget::parse("gymnasium:CartPole-v1").unwrap(),
            Some(PythonEnvTarget::Gymnasium {
                id: "CartPole-v1".into()
            })
        );
        assert_eq!(
            PythonEnvTarget::parse("my_pkg.envs:GridWorld").unwrap(),
            Some(PythonEnvTarget::Module {
                module: "my_pkg.envs".into(),
                class: "GridWorld".into()
            })
        );
        match PythonEnvTarget::parse("envs/grid.py:GridWorld").unwrap() {
            Some(PythonEnvTarget::File { path, class }) => {
                assert!(path.is_absolute() && path.ends_with("envs/grid.py"));
                assert_eq!(class, "GridWorld");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            PythonEnvTarget::parse("ale_py:ALE/Pong-v5").unwrap(),
            Some(PythonEnvTarget::Gymnasium {
                id: "ale_py:ALE/Pong-v5".into()
            })
        );
        assert!(PythonEnvTarget::parse("gymnasium:").is_err());
        assert!(PythonEnvTarget::parse("not a module:Cls").is_err());
    }
}
