//! Hosts: a Vagrant provider (virtualbox, libvirt, ...) and the settings exported to it.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize};

use super::error::Error;
use super::validate;

/// Where instances run: a Vagrant provider and its parameters.
///
/// `provider` becomes `VAGRANT_DEFAULT_PROVIDER` and every entry of `params` an environment
/// variable of each vagrant command run for the host's instances.
///
/// One shape for every use: the API's answers and `POST /api/hosts` bodies (where `id` is
/// read-only: the server assigns it), the config file's `[[hosts]]` and the store.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(example = json!({"name": "lab", "provider": "libvirt", "params": {"LIBVIRT_URI": "qemu:///system"}})))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Host {
    /// Unique, positive id; 0 in a host not stored yet (the store assigns the next one).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(read_only))]
    pub id: u64,
    /// A name for people.
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 128))]
    pub name: String,
    /// The Vagrant provider (`virtualbox`, `libvirt`, `vsphere`, `aws`, ...), exported as
    /// `VAGRANT_DEFAULT_PROVIDER`.
    #[cfg_attr(feature = "openapi", schema(pattern = "^[A-Za-z0-9_-]+$"))]
    pub provider: String,
    /// `KEY=VALUE` settings, as an object or the original's text lines; values may be secrets
    /// (see [`HostParams::redacted`]).
    #[serde(default)]
    pub params: HostParams,
}

impl Host {
    /// Checks the definition as the API does: a name, a Vagrant provider name, and params
    /// named like environment variables.
    pub fn validate(&self) -> Result<(), Error> {
        validate::instance_name(&self.name)?;
        if self.provider.is_empty()
            || !self
                .provider
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            return Err(Error::invalid(format!(
                "provider {:?} must be a Vagrant provider name such as virtualbox, libvirt or vsphere",
                self.provider
            )));
        }
        if let Some((key, _)) = self.params.iter().find(|(k, _)| !is_env_name(k)) {
            return Err(Error::invalid(format!(
                "param {key:?} is not a valid environment variable name (letters, digits and '_', not starting with a digit)"
            )));
        }
        Ok(())
    }

    /// A host not stored yet (id 0), with no params.
    pub fn new(name: impl Into<String>, provider: impl Into<String>) -> Self {
        Host {
            id: 0,
            name: name.into(),
            provider: provider.into(),
            params: HostParams::default(),
        }
    }

    /// The same host with these params.
    pub fn with_params(mut self, params: HostParams) -> Self {
        self.params = params;
        self
    }

    /// This host with every param value replaced by `"***"`, for keys that are not admin.
    pub fn redacted(&self) -> Host {
        Host {
            params: self.params.redacted(),
            ..self.clone()
        }
    }
}

/// The `KEY=VALUE` parameters of a [`Host`].
///
/// Serialised as a JSON object. When deserialising, the original Jeto's text form is accepted
/// too: lines of `KEY=VALUE` separated by `\n` or `\r\n`, blank lines skipped, quotes around the
/// value stripped, and a value may itself contain `=`.
///
/// ```
/// use jeto_core::HostParams;
/// let p: HostParams = serde_json::from_str(r#""A=1\r\nB=\"x=y\"\n\n""#).unwrap();
/// assert_eq!(p.get("B"), Some("x=y"));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct HostParams(BTreeMap<String, String>);

impl HostParams {
    /// Parses the original text form; a non-blank line that is not `KEY=VALUE` is an error
    /// naming the line.
    pub fn from_text(text: &str) -> Result<HostParams, String> {
        let mut map = BTreeMap::new();
        for (number, line) in text.lines().map(str::trim).enumerate() {
            if line.is_empty() {
                continue;
            }
            match line.split_once('=') {
                Some((key, value)) if !key.trim().is_empty() => {
                    map.insert(key.trim().to_owned(), unquote(value.trim()).to_owned());
                }
                _ => {
                    return Err(format!(
                        "params line {} is not KEY=VALUE: {line:?}",
                        number + 1
                    ))
                }
            }
        }
        Ok(HostParams(map))
    }

    /// The value of one parameter.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }

    /// Sets one parameter.
    pub fn insert(&mut self, key: impl Into<String>, value: impl Into<String>) {
        self.0.insert(key.into(), value.into());
    }

    /// The parameters in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// Whether there are no parameters.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The same keys with every value replaced by `"***"`.
    pub fn redacted(&self) -> HostParams {
        HostParams(self.0.keys().map(|k| (k.clone(), "***".into())).collect())
    }
}

impl<K: Into<String>, V: Into<String>> FromIterator<(K, V)> for HostParams {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        HostParams(
            iter.into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        )
    }
}

fn unquote(value: &str) -> &str {
    for quote in ['"', '\''] {
        if value.len() >= 2 && value.starts_with(quote) && value.ends_with(quote) {
            return &value[1..value.len() - 1];
        }
    }
    value
}

impl<'de> Deserialize<'de> for HostParams {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Form {
            Map(BTreeMap<String, String>),
            Text(String),
        }
        match Form::deserialize(deserializer).map_err(|_| {
            serde::de::Error::custom(
                "params must be an object of strings or text lines of KEY=VALUE",
            )
        })? {
            Form::Map(map) => Ok(HostParams(map)),
            Form::Text(text) => HostParams::from_text(&text).map_err(serde::de::Error::custom),
        }
    }
}

#[cfg(feature = "openapi")]
impl utoipa::PartialSchema for HostParams {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{AdditionalProperties, ObjectBuilder, Type};
        ObjectBuilder::new()
            .description(Some(
                "KEY=VALUE settings exported to every vagrant command of the host's instances \
                 (values are \"***\" for keys that are not admin). On create, the original's \
                 text form (lines of KEY=VALUE) is accepted too.",
            ))
            .additional_properties(Some(AdditionalProperties::RefOr(
                ObjectBuilder::new().schema_type(Type::String).into(),
            )))
            .into()
    }
}

#[cfg(feature = "openapi")]
impl utoipa::ToSchema for HostParams {}

fn is_env_name(key: &str) -> bool {
    !key.is_empty()
        && !key.starts_with(|c: char| c.is_ascii_digit())
        && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}
