//! Registering instances: from a path, a git repository or an archive, at once or in a
//! `sync` command.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::{InstanceView, Jeto};
use crate::access::{Permission, Principal};
use crate::scheduler::CommandHandle;
use crate::store::InstanceRecord;
use crate::{validate, Error, Host, InstanceSource, InstanceSpec, Result};

/// A request to register an instance: a name, a host, an environment and exactly one source.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateInstance {
    /// A name for people (1 to 128 characters).
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 128))]
    pub name: String,
    /// The host id (a JSON number with no fraction, as JSON Schema's `integer`).
    #[serde(deserialize_with = "whole_number")]
    #[cfg_attr(feature = "openapi", schema(minimum = 1))]
    pub host: u64,
    /// Exported as `ENVIRONMENT` to every vagrant command.
    #[serde(default)]
    pub environment: String,
    /// An existing folder with a `Vagrantfile`.
    #[serde(default)]
    pub path: Option<String>,
    /// A project (by id) to create the instance from, at `git_reference` (or the project's
    /// default reference).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(minimum = 1))]
    pub project: Option<u64>,
    /// A git repository to clone (with `git_reference`).
    #[serde(default)]
    pub git_url: Option<String>,
    /// The branch or tag to clone (`gitReference` is accepted too).
    #[serde(default, alias = "gitReference")]
    pub git_reference: Option<String>,
    /// An archive to download and extract.
    #[serde(default)]
    pub archive_url: Option<String>,
    /// The expected SHA-256 of the archive.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(pattern = "^[0-9A-Fa-f]{64}$"))]
    pub archive_sha256: Option<String>,
    /// Whether the HTTP caller wants to be answered before a long preparation ends.
    #[serde(default, rename = "async")]
    pub run_async: bool,
    /// Expires in this many seconds (at most the lifecycle's `max_expiry` for keys that are
    /// not admin); absent: the configured default, if any.
    #[serde(default)]
    pub expires_in_secs: Option<u64>,
    /// What happens when it expires (default: halt; destroy needs the destroy grant).
    #[serde(default)]
    pub on_expiry: Option<crate::ExpiryAction>,
    /// Sent as `create` by the original Jeto's UI; nothing else is accepted.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(pattern = "^create$"))]
    pub state: Option<String>,
}

impl CreateInstance {
    /// A request to register the existing folder `path` as `name` on `host`.
    pub fn from_path(name: impl Into<String>, host: u64, path: impl Into<String>) -> Self {
        CreateInstance {
            name: name.into(),
            host,
            path: Some(path.into()),
            ..CreateInstance::default()
        }
    }

    /// The request as the original Jeto's UI meant it: empty strings for the sources it does
    /// not use are absent; `state` may only say `create`.
    fn normalized(&self) -> Result<CreateInstance> {
        if let Some(state) = self.state.as_deref().filter(|s| *s != "create") {
            return Err(Error::invalid(format!(
                "state {state:?} is not accepted when creating an instance (only \"create\", or nothing)"
            )));
        }
        let given = |field: &Option<String>| field.clone().filter(|v| !v.is_empty());
        Ok(CreateInstance {
            path: given(&self.path),
            git_url: given(&self.git_url),
            git_reference: given(&self.git_reference),
            archive_url: given(&self.archive_url),
            archive_sha256: given(&self.archive_sha256),
            ..self.clone()
        })
    }

    fn source(&self) -> Result<InstanceSource> {
        let git = self.git_url.is_some() || self.git_reference.is_some();
        let given = [self.path.is_some(), git, self.archive_url.is_some()];
        if given.iter().filter(|g| **g).count() != 1 {
            return Err(Error::invalid(
                "give exactly one source: \"project\" (with \"git_reference\"), \"path\" (an existing folder), \"git_url\" with \"git_reference\", or \"archive_url\"",
            ));
        }
        if let Some(path) = &self.path {
            if !Path::new(path).is_absolute() {
                return Err(Error::invalid(format!("path {path:?} must be absolute")));
            }
            return Ok(InstanceSource::Path(PathBuf::from(path)));
        }
        if git {
            let (Some(url), Some(reference)) = (&self.git_url, &self.git_reference) else {
                return Err(Error::invalid(
                    "a git source needs both \"git_url\" and \"git_reference\"",
                ));
            };
            if url.starts_with('-') || url.is_empty() {
                return Err(Error::invalid(
                    "git_url must be non-empty and must not start with '-'",
                ));
            }
            validate::git_reference(reference)?;
            return Ok(InstanceSource::Git {
                url: url.clone(),
                reference: reference.clone(),
            });
        }
        Ok(InstanceSource::Archive {
            url: self.archive_url.clone().unwrap_or_default(),
            sha256: self.archive_sha256.clone(),
        })
    }
}

impl Jeto {
    /// Checks a creation request and what `who` may create; returns the source and host.
    async fn check_create(
        &self,
        who: &Principal,
        request: &CreateInstance,
    ) -> Result<(InstanceSource, Host)> {
        let request = &request.normalized()?;
        validate::instance_name(&request.name)?;
        validate::free_text("environment", &request.environment, 256)?;
        let host = self.usable_host(who, request.host).await?;
        if !who.is_granted(Permission::Create) {
            return Err(Error::Forbidden {
                action: "create".into(),
            });
        }
        let source = match request.project {
            Some(project) => self.project_source(who, request, project, &host).await?,
            None => {
                let source = request.source()?;
                check_own_source(who, &source)?;
                source
            }
        };
        if !matches!(source, InstanceSource::Path(_)) && self.inner.config.data_dir.is_none() {
            return Err(Error::invalid(
                "this server has no data folder to clone or extract instances into; register a path instead",
            ));
        }
        Ok((source, host))
    }

    /// The source of an instance of a project, checked against what `who` may use.
    async fn project_source(
        &self,
        who: &Principal,
        request: &CreateInstance,
        id: u64,
        host: &Host,
    ) -> Result<InstanceSource> {
        if request.path.is_some() || request.git_url.is_some() || request.archive_url.is_some() {
            return Err(Error::invalid(
                "with \"project\", give only \"git_reference\" (or nothing for the project's default reference), not \"path\", \"git_url\" or \"archive_url\"",
            ));
        }
        if !who.can_use_project(id) {
            // The same answer whether or not the project exists.
            return Err(Error::Forbidden {
                action: format!("create instances from project {id}"),
            });
        }
        let project = self
            .inner
            .store
            .projects()
            .await?
            .into_iter()
            .find(|p| p.id == id)
            .ok_or(Error::ProjectNotFound { id })?;
        if !project.allows_host(host.id) {
            return Err(Error::Forbidden {
                action: format!(
                    "create instances of project {} on host {}",
                    project.name, host.name
                ),
            });
        }
        if let Some(url) = project.archive_url {
            return Ok(InstanceSource::Archive {
                url,
                sha256: project.archive_sha256,
            });
        }
        let reference = request
            .git_reference
            .clone()
            .or_else(|| project.default_reference.clone())
            .ok_or_else(|| {
                Error::invalid(format!(
                    "project {} needs a \"git_reference\" matching one of: {}",
                    project.name,
                    project.references.join(", ")
                ))
            })?;
        // Before the pattern: a permitted pattern such as `tags/*` matches `tags/--option`.
        validate::git_reference(&reference)?;
        if !project.allows_reference(&reference) {
            return Err(Error::Forbidden {
                action: format!(
                    "use reference {reference:?} of project {}; permitted: {}",
                    project.name,
                    if project.references.is_empty() {
                        "its default reference only".to_owned()
                    } else {
                        project.references.join(", ")
                    }
                ),
            });
        }
        Ok(InstanceSource::Git {
            url: project.git_url.unwrap_or_default(),
            reference,
        })
    }

    /// The expiry of an instance whose creation names none: its project's default, else the
    /// shortest default of the creator's teams, else the configured one.
    async fn default_expiry(
        &self,
        who: &Principal,
        project: Option<u64>,
    ) -> Result<Option<std::time::Duration>> {
        let secs = std::time::Duration::from_secs;
        if let Some(project) = project {
            let projects = self.inner.store.projects().await?;
            let found = projects.iter().find(|p| p.id == project);
            if let Some(after) = found.and_then(|p| p.default_expiry_secs) {
                return Ok(Some(secs(after)));
            }
        }
        let teams = self.inner.store.teams().await?;
        let shortest = teams
            .iter()
            .filter(|t| {
                who.user.is_some_and(|u| t.members.contains(&u)) || who.teams.contains(&t.name)
            })
            .filter_map(|t| t.default_expiry_secs)
            .min();
        Ok(shortest
            .map(secs)
            .or(self.inner.config.lifecycle.default_expiry))
    }

    /// `record` with its owner (the user whose key or sign-in asks), its project, and the
    /// expiry its creation asked for, or the default ([`Self::default_expiry`]).
    async fn finish_record(
        &self,
        mut record: InstanceRecord,
        who: &Principal,
        request: &CreateInstance,
    ) -> Result<InstanceRecord> {
        record.owner = who.user;
        record.project = request.project;
        let lifecycle = &self.inner.config.lifecycle;
        let action = request.on_expiry.unwrap_or(lifecycle.default_action);
        let after = match request.expires_in_secs {
            Some(secs) => {
                let asked = std::time::Duration::from_secs(secs.min(100 * 365 * 24 * 3600));
                if secs == 0 || (!who.admin && asked > lifecycle.max_expiry) {
                    return Err(Error::invalid(format!(
                        "expires_in_secs must be between 1 and {} (lifecycle max_expiry_secs) for this key",
                        lifecycle.max_expiry.as_secs()
                    )));
                }
                Some(asked)
            }
            None => self.default_expiry(who, request.project).await?,
        };
        if let Some(after) = after {
            let destroy = Permission::Action(crate::Action::Destroy);
            if action == crate::ExpiryAction::Destroy && !who.is_granted(destroy) {
                return Err(Error::Forbidden {
                    action: "destroy (an expiry that destroys needs the destroy grant)".into(),
                });
            }
            record.spec.expiry = Some(crate::Expiry::new(
                time::OffsetDateTime::now_utc() + after,
                action,
            ));
        }
        Ok(record)
    }

    fn new_instance(
        request: &CreateInstance,
        source: &InstanceSource,
        id: Option<u64>,
        path: &Path,
        host: &Host,
    ) -> InstanceRecord {
        let (git_url, git_reference, archive_url, archive_sha256) = match source.clone() {
            InstanceSource::Git { url, reference } => (Some(url), Some(reference), None, None),
            InstanceSource::Archive { url, sha256 } => (None, None, Some(url), sha256),
            _ => (None, None, None, None),
        };
        let managed = !matches!(source, InstanceSource::Path(_));
        InstanceRecord {
            id: id.unwrap_or(0),
            spec: InstanceSpec {
                archive_url,
                git_reference,
                git_url,
                archive_sha256,
                environment: request.environment.clone(),
                ..InstanceSpec::new(&request.name, path.display().to_string())
            },
            host_id: host.id,
            managed_folder: managed,
            owner: None,
            project: None,
        }
    }

    /// Where a Jeto-made instance folder goes: `<data dir>/instances/<id>-<slug>`.
    fn managed_folder(&self, id: u64, name: &str) -> Result<PathBuf> {
        let data_dir = self
            .inner
            .config
            .data_dir
            .as_ref()
            .expect("checked by check_create");
        let parent = data_dir.join("instances");
        std::fs::create_dir_all(&parent)
            .map_err(|e| Error::storage(format!("creating {}", parent.display()), e))?;
        Ok(parent.join(format!("{id}-{}", slug(name))))
    }

    /// Registers an instance (see [`CreateInstance`]), waiting for a clone or an extraction.
    /// A failure leaves no folder and no registry entry behind.
    pub async fn create_instance(
        &self,
        who: &Principal,
        request: CreateInstance,
    ) -> Result<InstanceView> {
        let (source, host) = self.check_create(who, &request).await?;
        // Counted from now until the record is stored (or the creation fails).
        let _reservation = self.reserve_creation(who, request.project).await?;
        let record = match &source {
            InstanceSource::Path(asked) => {
                // Before anything else looks at the folder, so a refusal tells nothing of it.
                self.check_root(who, asked)?;
                let path = self
                    .inner
                    .provider
                    .prepare(&host, &source, Path::new(""))
                    .await?;
                self.check_root(who, &path)?;
                self.check_not_registered(who, &path).await?;
                self.insert(
                    self.finish_record(
                        Self::new_instance(&request, &source, None, &path, &host),
                        who,
                        &request,
                    )
                    .await?,
                )
                .await?
            }
            _ => {
                let id = self.inner.store.reserve_instance_id().await?;
                let target = self.managed_folder(id, &request.name)?;
                let path = {
                    let _slot = self.inner.slots.acquire().await;
                    self.inner.provider.prepare(&host, &source, &target).await?
                };
                let cleanup = |e: Error| {
                    let _ = std::fs::remove_dir_all(&path);
                    e
                };
                self.insert(
                    self.finish_record(
                        Self::new_instance(&request, &source, Some(id), &path, &host),
                        who,
                        &request,
                    )
                    .await?,
                )
                .await
                .map_err(cleanup)?
            }
        };
        // A store may hand out the id of a deleted instance again.
        self.inner.scheduler.reopen(record.id);
        tracing::info!(instance = record.id, principal = %who.name, path = %record.spec.path, "instance created");
        let snapshot = self.inner.status.last_known(record.id);
        Ok(self.view(who, self.instance_of(record, host), snapshot))
    }

    /// Registers a git or archive instance at once and clones or extracts it in a `sync`
    /// command; returns the instance and that command. When the command fails, the instance
    /// and its folder are removed again (the command's console says why).
    pub async fn create_instance_async(
        &self,
        who: &Principal,
        request: CreateInstance,
    ) -> Result<(InstanceView, CommandHandle)> {
        let (source, host) = self.check_create(who, &request).await?;
        // Counted from now until the record is stored (or the creation fails).
        let _reservation = self.reserve_creation(who, request.project).await?;
        if matches!(source, InstanceSource::Path(_)) {
            return Err(Error::invalid(
                "async creation is for git and archive sources; a path is registered at once",
            ));
        }
        let id = self.inner.store.reserve_instance_id().await?;
        let target = self.managed_folder(id, &request.name)?;
        let new = self
            .finish_record(
                Self::new_instance(&request, &source, Some(id), &target, &host),
                who,
                &request,
            )
            .await?;
        let record = self.inner.store.insert_instance(new).await?;
        self.instance_created(&record);
        let instance = self.instance_of(record.clone(), host);
        self.inner.scheduler.reopen(id);
        let handle = match self
            .inner
            .scheduler
            .submit_creation(instance.clone(), &who.name)
            .await
        {
            Ok(handle) => handle,
            Err(error) => {
                self.forget_instance(id, Some(record.spec.path.clone()))
                    .await?;
                return Err(error);
            }
        };
        let (jeto, watched) = (self.clone(), handle.clone());
        tokio::spawn(async move {
            let command = watched.wait().await;
            if command.status == crate::CommandStatus::Succeeded {
                let mut record = record;
                if let Err(error) = jeto.refresh_infos(&mut record).await {
                    tracing::warn!(instance = id, %error, "jeto.json of the new instance");
                }
            } else {
                tracing::warn!(instance = id, error = ?command.error, "creation failed; removing the instance");
                if let Err(error) = jeto
                    .forget_instance(id, Some(record.spec.path.clone()))
                    .await
                {
                    tracing::error!(instance = id, %error, "could not remove the failed instance");
                }
            }
        });
        tracing::info!(instance = id, principal = %who.name, "instance registered; preparing its folder");
        let snapshot = self.inner.status.last_known(id);
        Ok((self.view(who, instance, snapshot), handle))
    }

    /// One folder, one instance: two instances on one folder would run vagrant in it at once
    /// and fail on Vagrant's machine lock.
    async fn check_not_registered(&self, who: &Principal, path: &Path) -> Result<()> {
        let path = path.display().to_string();
        match self.inner.store.instance_at(&path).await? {
            Some(existing) if who.can_view(existing.id, existing.host_id) => Err(Error::Conflict {
                message: format!(
                    "{path} is already registered as instance {}; one folder can hold one instance",
                    existing.id
                ),
            }),
            Some(_) => Err(Error::Conflict {
                message: format!(
                    "{path} is already registered as an instance; one folder can hold one instance"
                ),
            }),
            None => Ok(()),
        }
    }

    /// For keys that are not admin: the folder must exist and lie inside `instance_roots`
    /// (links resolved). Missing, not a folder and outside give one answer, naming nothing.
    fn check_root(&self, who: &Principal, path: &Path) -> Result<()> {
        if who.admin {
            return Ok(());
        }
        let inside = path.canonicalize().is_ok_and(|path| {
            path.is_dir()
                && self
                    .inner
                    .config
                    .instance_roots
                    .iter()
                    .any(|root| root.canonicalize().is_ok_and(|root| path.starts_with(root)))
        });
        if inside {
            Ok(())
        } else {
            Err(Error::Forbidden {
                action: "register this path: keys that are not admin may register only existing folders inside the server's instance_roots".into(),
            })
        }
    }
}

/// A source the caller chose itself (not a project's): a path is checked later against
/// `instance_roots`; a URL needs [`Permission::RunOwnVagrantfile`], and keys that are not
/// admin never get local files (`file://` URLs, local repositories).
fn check_own_source(who: &Principal, source: &InstanceSource) -> Result<()> {
    let url = match source {
        InstanceSource::Git { url, .. } | InstanceSource::Archive { url, .. } => url,
        _ => return Ok(()),
    };
    if !who.is_granted(Permission::RunOwnVagrantfile) {
        return Err(Error::Forbidden {
            action: format!(
                "create instances from a URL of its own choosing (its Vagrantfile would run on the server); create from a project instead (GET /api/projects), or ask an admin for the {} grant",
                Permission::RUN_OWN_VAGRANTFILE
            ),
        });
    }
    let remote = ["https://", "http://", "ssh://", "git@"]
        .iter()
        .any(|p| url.starts_with(p));
    if !who.admin && !remote {
        return Err(Error::Forbidden {
            action: "create instances from local files (non-admin keys may use http, https and ssh URLs)".into(),
        });
    }
    Ok(())
}

/// A file-name-safe slug of an instance name.
fn slug(name: &str) -> String {
    let slug: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .take(40)
        .collect();
    let slug = slug.trim_matches('-');
    if slug.is_empty() {
        "instance".into()
    } else {
        slug.into()
    }
}

/// A non-negative integer, also when written with a zero fraction (`30.0`) or, as the
/// original Jeto's UI sends it, as a string of digits (`"1"`).
fn whole_number<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> std::result::Result<u64, D::Error> {
    struct HostId;

    impl serde::de::Visitor<'_> for HostId {
        type Value = u64;

        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a host id (a whole number, or a string of digits)")
        }

        fn visit_u64<E: serde::de::Error>(self, v: u64) -> std::result::Result<u64, E> {
            Ok(v)
        }

        fn visit_i64<E: serde::de::Error>(self, v: i64) -> std::result::Result<u64, E> {
            u64::try_from(v)
                .map_err(|_| E::custom(format!("expected a host id (a whole number), found {v}")))
        }

        fn visit_f64<E: serde::de::Error>(self, v: f64) -> std::result::Result<u64, E> {
            if v.fract() == 0.0 && (0.0..1.8e19).contains(&v) {
                Ok(v as u64)
            } else {
                Err(E::custom(format!(
                    "expected a host id (a whole number), found {v}"
                )))
            }
        }

        fn visit_str<E: serde::de::Error>(self, v: &str) -> std::result::Result<u64, E> {
            v.parse::<u64>()
                .ok()
                .filter(|_| v.bytes().all(|b| b.is_ascii_digit()))
                .ok_or_else(|| {
                    E::custom(format!("expected a host id (a whole number), found {v:?}"))
                })
        }
    }

    deserializer.deserialize_any(HostId)
}
