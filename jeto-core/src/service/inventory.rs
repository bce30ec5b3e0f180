//! Host-level reads: installed boxes, Vagrant's global status, the tool's version.

use super::Jeto;
use crate::access::Principal;
use crate::{BoxInfo, Error, GlobalMachine, HostWorker, Result, ToolInfo};

impl Jeto {
    /// The boxes installed for a host `who` may use, with whether newer versions exist when
    /// `outdated` (that asks each box's catalog).
    pub async fn boxes(
        &self,
        who: &Principal,
        host_id: u64,
        outdated: bool,
    ) -> Result<Vec<BoxInfo>> {
        // Params as the provider needs them (VAGRANT_HOME, credentials), not redacted.
        let host = self.usable_host(who, host_id).await?;
        let _reading = self
            .inner
            .reads
            .enter(who, self.inner.config.max_reads_per_key)?;
        self.inner
            .box_reads
            .get((host_id, outdated), async {
                let _slot = self.inner.slots.acquire_read().await;
                Ok(self.inner.provider.boxes(&host, outdated).await?)
            })
            .await
    }

    /// The workers serving a host `who` may use, from other boxes, and whether each is
    /// online; `not_supported` for a host that runs on the server's own box.
    pub async fn host_workers(&self, who: &Principal, host_id: u64) -> Result<Vec<HostWorker>> {
        let host = self.usable_host(who, host_id).await?;
        Ok(self.inner.provider.workers(&host).await?)
    }

    /// Every machine Vagrant knows on this server, in any folder, stale entries pruned;
    /// admins only (it shows folders no tenant was granted).
    pub async fn global_status(&self, who: &Principal) -> Result<Vec<GlobalMachine>> {
        if !who.admin {
            return Err(Error::Forbidden {
                action: "read the global status".into(),
            });
        }
        let _slot = self.inner.slots.acquire_read().await;
        Ok(self.inner.provider.global_status().await?)
    }

    /// The tool that runs the machines, its version and plugins; admins only.
    pub async fn about(&self, who: &Principal) -> Result<ToolInfo> {
        if !who.admin {
            return Err(Error::Forbidden {
                action: "read the provider's version".into(),
            });
        }
        let _slot = self.inner.slots.acquire_read().await;
        Ok(self.inner.provider.about().await?)
    }
}
