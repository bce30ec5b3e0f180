//! Reading the config file again while serving (SIGHUP, or `POST /api/reload` by an admin):
//! keys, hosts and projects change from the next request on; a change of anything else is
//! named as needing a restart; a file that does not load or check leaves the running
//! configuration wholly in place. Running commands are never touched.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use jeto_core::access::TokenPolicy;
use jeto_core::store::Store;
use jeto_core::{Jeto, ReloadReport, Reloader};
use jeto_http::ServerTls;

use crate::admin_key::generated_admin;
use crate::config::ServerConfig;

/// The top-level keys whose change applies without a restart.
const LIVE: [&str; 3] = ["tokens", "hosts", "projects"];

/// The server's [`Reloader`]: its config file, as last applied.
#[derive(Debug)]
pub(crate) struct ConfigReloader {
    path: PathBuf,
    /// The file's table as last applied (serialises reloads too).
    applied: tokio::sync::Mutex<toml::Table>,
    store: Arc<dyn Store>,
    data_dir: PathBuf,
    address: SocketAddr,
    /// The certificate in use, read again at every reload.
    tls: Option<ServerTls>,
}

impl ConfigReloader {
    /// A reloader of `path`, whose contents as started are `text`.
    pub(crate) fn new(
        path: PathBuf,
        text: &str,
        store: Arc<dyn Store>,
        data_dir: PathBuf,
        address: SocketAddr,
        tls: Option<ServerTls>,
    ) -> Result<Self, String> {
        let applied =
            toml::from_str(text).map_err(|e| format!("config file {}: {e}", path.display()))?;
        Ok(ConfigReloader {
            path,
            applied: tokio::sync::Mutex::new(applied),
            store,
            data_dir,
            address,
            tls,
        })
    }
}

#[async_trait::async_trait]
impl Reloader for ConfigReloader {
    async fn reload(&self, jeto: &Jeto) -> Result<ReloadReport, String> {
        let mut applied = self.applied.lock().await;
        let path = self.path.display();
        let text = std::fs::read_to_string(&self.path)
            .map_err(|e| format!("cannot read config file {path}: {e}"))?;
        let table: toml::Table =
            toml::from_str(&text).map_err(|e| format!("config file {path}: {e}"))?;
        let config: ServerConfig =
            toml::from_str(&text).map_err(|e| format!("config file {path}: {e}"))?;
        // Everything is checked before anything is applied.
        config.check_hosts_and_projects()?;
        let tokens = if config.tokens.is_empty() {
            vec![generated_admin(&self.data_dir, self.address)?]
        } else {
            config.tokens.clone()
        };
        let policy = TokenPolicy::new(tokens).map_err(|e| format!("config file {path}: {e}"))?;
        // The certificate files are read again even when the config is unchanged (renewed).
        if let Some(tls) = &self.tls {
            tls.reload()?;
        }

        let mut changed: Vec<String> = applied
            .keys()
            .chain(table.keys())
            .filter(|key| applied.get(*key) != table.get(*key))
            .cloned()
            .collect();
        changed.sort();
        changed.dedup();
        let (mut live, needs_restart): (Vec<String>, Vec<String>) = changed
            .into_iter()
            .partition(|key| LIVE.contains(&key.as_str()));
        if self.tls.is_some() {
            live.push("tls certificate".into());
        }
        jeto.set_policy(Arc::new(policy));
        for host in &config.hosts {
            self.store
                .put_host(host.clone())
                .await
                .map_err(|e| format!("host {}: {e}", host.id))?;
        }
        for project in &config.projects {
            self.store
                .put_project(project.clone())
                .await
                .map_err(|e| format!("project {}: {e}", project.id))?;
        }
        *applied = table;
        Ok(ReloadReport::new(live, needs_restart))
    }
}
