//! `jeto.json`: the per-instance settings and scripts.

use std::path::Path;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::error::{BoxError, Error, Result};

/// The file name looked for in an instance folder.
pub const JETO_JSON: &str = "jeto.json";

/// The largest `jeto.json` read (1 MiB).
pub const MAX_JETO_JSON: u64 = 1 << 20;

/// Everything in an instance's `jeto.json`, as a JSON object (`{}` when the file is absent).
///
/// `scripts` maps a script name to `{"command": "..."}`; top-level scalar values are passed to
/// every vagrant command as `JETO_<KEY>` environment variables.
///
/// ```
/// use jeto_core::JetoInfos;
/// let infos = JetoInfos::parse(br#"{"team": "web", "scripts": {"status": {"command": "uptime"}}}"#,
///                              "jeto.json".as_ref()).unwrap();
/// assert_eq!(infos.script("status"), Some("uptime"));
/// assert_eq!(infos.env_vars(), vec![("JETO_TEAM".to_string(), "web".to_string())]);
/// ```
// Shared, because every listing of instances clones it for each instance.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct JetoInfos(Arc<Map<String, Value>>);

impl JetoInfos {
    /// Reads `<folder>/jeto.json`; an absent file gives an empty object.
    ///
    /// An unreadable file or invalid JSON is an [`Error::JetoInfos`] naming the file (with line
    /// and column for JSON errors).
    ///
    /// The file is opened without following a symbolic link (a link named `jeto.json` is an
    /// error), so a folder cannot make Jeto read and show a file elsewhere.
    pub fn load(folder: &Path) -> Result<JetoInfos> {
        use std::io::Read;
        use std::os::unix::fs::OpenOptionsExt;
        let path = folder.join(JETO_JSON);
        let read = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
            .open(&path)
            .and_then(|file| {
                if !file.metadata()?.is_file() {
                    return Err(std::io::Error::other("it is not a regular file"));
                }
                let mut bytes = Vec::new();
                file.take(MAX_JETO_JSON + 1).read_to_end(&mut bytes)?;
                if bytes.len() as u64 > MAX_JETO_JSON {
                    return Err(std::io::Error::other(format!(
                        "it is larger than {MAX_JETO_JSON} bytes"
                    )));
                }
                Ok(bytes)
            });
        match read {
            Ok(bytes) => JetoInfos::parse(&bytes, &path),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(JetoInfos::default()),
            Err(e) if e.raw_os_error() == Some(libc::ELOOP) => Err(Error::JetoInfos {
                path,
                source: "it is a symbolic link; jeto.json must be a regular file inside the instance folder".into(),
            }),
            Err(e) => Err(Error::JetoInfos {
                path,
                source: e.into(),
            }),
        }
    }

    /// Parses the content of a `jeto.json`; `path` is only used in error messages.
    pub fn parse(bytes: &[u8], path: &Path) -> Result<JetoInfos> {
        let err = |source: BoxError| Error::JetoInfos {
            path: path.to_owned(),
            source,
        };
        match serde_json::from_slice::<Value>(bytes).map_err(|e| err(e.into()))? {
            Value::Object(map) => {
                let infos = JetoInfos(Arc::new(map));
                infos.check_scripts().map_err(|m| err(m.into()))?;
                Ok(infos)
            }
            other => Err(err(format!(
                "expected a JSON object at the top level, found {}",
                json_type(&other)
            )
            .into())),
        }
    }

    fn check_scripts(&self) -> std::result::Result<(), String> {
        let Some(scripts) = self.0.get("scripts") else {
            return Ok(());
        };
        let Value::Object(scripts) = scripts else {
            return Err(format!(
                "\"scripts\" must be an object of name -> {{\"command\": \"...\"}}, found {}",
                json_type(scripts)
            ));
        };
        for (name, script) in scripts {
            if script_command(script).is_none() {
                return Err(format!(
                    "script {name:?} must be {{\"command\": \"...\"}} with a non-empty string command"
                ));
            }
        }
        Ok(())
    }

    /// The command of the script `name`, if `jeto.json` declares it.
    pub fn script(&self, name: &str) -> Option<&str> {
        self.0
            .get("scripts")
            .and_then(|s| s.get(name))
            .and_then(script_command)
    }

    /// The names of all declared scripts, sorted.
    pub fn script_names(&self) -> Vec<&str> {
        match self.0.get("scripts") {
            Some(Value::Object(scripts)) => scripts.keys().map(String::as_str).collect(),
            _ => Vec::new(),
        }
    }

    /// Top-level scalar values as `JETO_<KEY>` environment variables: the key upper-cased, any
    /// character other than `A-Z0-9` replaced by `_`. Objects, arrays and nulls are skipped.
    pub fn env_vars(&self) -> Vec<(String, String)> {
        self.0
            .iter()
            .filter_map(|(key, value)| {
                let value = match value {
                    Value::String(s) => s.clone(),
                    Value::Number(n) => n.to_string(),
                    Value::Bool(b) => b.to_string(),
                    _ => return None,
                };
                Some((env_name(key), value))
            })
            .collect()
    }

    /// The whole object.
    pub fn as_map(&self) -> &Map<String, Value> {
        &self.0
    }
}

impl From<Map<String, Value>> for JetoInfos {
    fn from(map: Map<String, Value>) -> Self {
        JetoInfos(Arc::new(map))
    }
}

fn script_command(script: &Value) -> Option<&str> {
    script
        .get("command")
        .and_then(Value::as_str)
        .filter(|c| !c.trim().is_empty())
}

fn env_name(key: &str) -> String {
    let suffix: String = key
        .chars()
        .map(|c| match c.to_ascii_uppercase() {
            u @ ('A'..='Z' | '0'..='9') => u,
            _ => '_',
        })
        .collect();
    format!("JETO_{suffix}")
}

fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(feature = "openapi")]
impl utoipa::PartialSchema for JetoInfos {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::schema::ObjectBuilder::new()
            .description(Some(
                "Everything in the instance's jeto.json ({} when absent); `scripts` maps a \
                 script name to {\"command\": \"...\"}.",
            ))
            .into()
    }
}

#[cfg(feature = "openapi")]
impl utoipa::ToSchema for JetoInfos {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absent_file_is_empty_object() {
        let dir = tempfile::tempdir().unwrap();
        let infos = JetoInfos::load(dir.path()).unwrap();
        assert!(infos.as_map().is_empty());
        assert_eq!(serde_json::to_string(&infos).unwrap(), "{}");
    }

    #[test]
    fn valid_file_with_scripts() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join(JETO_JSON),
            r#"{"scripts": {"status": {"command": "uptime"}, "deploy": {"command": "make deploy"}}}"#,
        )
        .unwrap();
        let infos = JetoInfos::load(dir.path()).unwrap();
        assert_eq!(infos.script("status"), Some("uptime"));
        assert_eq!(infos.script("deploy"), Some("make deploy"));
        assert_eq!(infos.script("missing"), None);
        assert_eq!(infos.script_names(), vec!["deploy", "status"]);
    }

    #[test]
    fn invalid_json_names_file_line_and_column() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(JETO_JSON), "{\n  \"a\": 1,\n  oops\n}").unwrap();
        let message = JetoInfos::load(dir.path()).unwrap_err().to_string();
        assert!(message.contains("jeto.json"), "{message}");
        assert!(message.contains("line 3 column 3"), "{message}");
    }

    #[test]
    fn non_object_and_bad_scripts_are_rejected() {
        let path = Path::new("x/jeto.json");
        let message = JetoInfos::parse(b"[1]", path).unwrap_err().to_string();
        assert!(message.contains("expected a JSON object"), "{message}");
        let message = JetoInfos::parse(br#"{"scripts": {"a": {"cmd": "x"}}}"#, path)
            .unwrap_err()
            .to_string();
        assert!(message.contains("script \"a\""), "{message}");
    }

    #[test]
    fn env_vars_from_top_level_scalars() {
        let infos = JetoInfos::parse(
            br#"{"team": "web", "max-size": 3, "debug.on": true, "nothing": null,
                 "list": [1], "scripts": {"a": {"command": "b"}}, "Mixed_Case9": "x"}"#,
            Path::new("jeto.json"),
        )
        .unwrap();
        let mut vars = infos.env_vars();
        vars.sort();
        assert_eq!(
            vars,
            vec![
                ("JETO_DEBUG_ON".into(), "true".into()),
                ("JETO_MAX_SIZE".into(), "3".into()),
                ("JETO_MIXED_CASE9".into(), "x".into()),
                ("JETO_TEAM".into(), "web".into()),
            ]
        );
    }
}
