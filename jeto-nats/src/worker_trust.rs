//! [`WorkerTrust`]: whom a worker obeys, and the rules of its own box that no message changes.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use jeto_core::{Host, HostParams, Instance, JetoInfos, ProviderError};

use crate::signing::{check_public_key, SigningKey};

/// What a worker trusts and the rules of its box: it acts only on what the server's key
/// signed, signs what it says with its own key, serves folders under its `roots` only, reads
/// each instance's `jeto.json` itself (the scripts it runs are the folder's, never a
/// message's), and exports its own host params (the server never sends them).
///
/// ```
/// use jeto_nats::{SigningKey, WorkerTrust};
/// let server = SigningKey::generate();
/// let trust = WorkerTrust::new(SigningKey::generate(), &server.public_key(), vec!["/srv/jeto".into()])
///     .unwrap();
/// assert!(trust.public_key().starts_with('U'));
/// ```
#[derive(Debug, Clone)]
pub struct WorkerTrust {
    pub(crate) key: SigningKey,
    pub(crate) server: String,
    roots: Vec<PathBuf>,
    params: HashMap<u64, HostParams>,
    scripts_from_server: bool,
}

impl WorkerTrust {
    /// A worker signing with `key`, obeying the server of public key `server_key`, serving
    /// folders under `roots` (made when missing).
    pub fn new(
        key: SigningKey,
        server_key: &str,
        roots: Vec<PathBuf>,
    ) -> Result<Self, ProviderError> {
        check_public_key(server_key)?;
        if roots.is_empty() {
            return Err(ProviderError::invalid(
                "a worker needs at least one folder it may serve instances from (instance_roots)",
            ));
        }
        let mut canonical = Vec::new();
        for root in roots {
            std::fs::create_dir_all(&root).map_err(|e| {
                ProviderError::other(format!("making the instance root {}", root.display()), e)
            })?;
            canonical.push(std::fs::canonicalize(&root).map_err(|e| {
                ProviderError::other(format!("reading the instance root {}", root.display()), e)
            })?);
        }
        Ok(WorkerTrust {
            key,
            server: server_key.to_owned(),
            roots: canonical,
            params: HashMap::new(),
            scripts_from_server: false,
        })
    }

    /// Exports `params` to the vagrant processes of `host`'s instances (and of no other).
    pub fn with_host_params(mut self, host: u64, params: HostParams) -> Self {
        self.params.insert(host, params);
        self
    }

    /// Takes each instance's `jeto.json` as the server sent it instead of reading the folder's:
    /// only for providers whose instances have no folder on this box (an in-memory provider
    /// in tests).
    pub fn scripts_from_server(mut self) -> Self {
        self.scripts_from_server = true;
        self
    }

    /// This worker's public key, which the server's `[[nats.workers]]` lists.
    pub fn public_key(&self) -> String {
        self.key.public_key()
    }

    /// `host` with this box's params for it.
    pub(crate) fn local_host(&self, mut host: Host) -> Host {
        host.params = self.params.get(&host.id).cloned().unwrap_or_default();
        host
    }

    /// `instance` as this box sees it: its folder under the roots, its `jeto.json` read here,
    /// its host's params this box's.
    pub(crate) fn local_instance(&self, mut instance: Instance) -> Result<Instance, ProviderError> {
        self.check_folder(instance.folder())?;
        instance.host = self.local_host(instance.host);
        if !self.scripts_from_server {
            instance.spec.jeto_infos = JetoInfos::load(instance.folder())
                .map_err(|e| ProviderError::invalid(e.to_string()))?;
        }
        Ok(instance)
    }

    /// Fails unless `folder` is under a root: symbolic links resolved when it exists, and
    /// when it does not, an absolute path without `.` or `..`.
    pub(crate) fn check_folder(&self, folder: &Path) -> Result<(), ProviderError> {
        use std::path::Component;
        let resolved = match std::fs::canonicalize(folder) {
            Ok(path) => Some(path),
            Err(_)
                if folder
                    .components()
                    .all(|c| matches!(c, Component::RootDir | Component::Normal(_))) =>
            {
                // Not there (yet): its deepest existing ancestor, links resolved, and the rest.
                let mut existing = folder.to_path_buf();
                let mut rest = Vec::new();
                while std::fs::symlink_metadata(&existing).is_err() {
                    match (existing.file_name(), existing.parent()) {
                        (Some(name), Some(parent)) => {
                            rest.push(name.to_owned());
                            existing = parent.to_path_buf();
                        }
                        _ => break,
                    }
                }
                std::fs::canonicalize(&existing).ok().map(|mut path| {
                    path.extend(rest.iter().rev());
                    path
                })
            }
            Err(_) => None,
        };
        match resolved {
            Some(path) if folder.is_absolute() && self.roots.iter().any(|r| path.starts_with(r)) => {
                Ok(())
            }
            _ => Err(ProviderError::invalid(format!(
                "this worker serves folders under {} only, not {} (add its folder to instance_roots in the worker's config)",
                self.roots
                    .iter()
                    .map(|r| r.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
                jeto_core::audit::bounded(&folder.display().to_string())
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folders_outside_the_roots_are_refused_links_included() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        let trust = WorkerTrust::new(
            SigningKey::generate(),
            &SigningKey::generate().public_key(),
            vec![root.clone()],
        )
        .unwrap();
        std::fs::create_dir(root.join("inside")).unwrap();
        assert!(trust.check_folder(&root.join("inside")).is_ok());
        assert!(trust.check_folder(&root.join("not-made-yet")).is_ok());
        assert!(trust.check_folder(dir.path()).is_err());
        assert!(trust.check_folder(&root.join("../elsewhere")).is_err());
        assert!(trust.check_folder(Path::new("relative")).is_err());
        std::os::unix::fs::symlink(dir.path(), root.join("link")).unwrap();
        assert!(trust.check_folder(&root.join("link")).is_err());
    }
}
