//! Reads about the machines of an instance beyond their state: details and snapshots.

use super::Jeto;
use crate::access::{Permission, Principal};
use crate::{validate, Action, Instance, MachineDetails, MachineSnapshots, Result};

impl Jeto {
    /// One machine of an instance in detail (state, IP, SSH, forwarded ports); needs the
    /// `status` grant. Keys that are not admin never see the SSH private key path.
    pub async fn machine(&self, who: &Principal, id: u64, machine: &str) -> Result<MachineDetails> {
        validate::machine_name(machine)?;
        let instance = self.readable(who, id).await?;
        let _reading = self
            .inner
            .reads
            .enter(who, self.inner.config.max_reads_per_key)?;
        let mut details = self
            .inner
            .machine_reads
            .get((id, machine.to_owned()), async {
                let _slot = self.inner.slots.acquire_read().await;
                Ok(self.inner.provider.machine(&instance, machine).await?)
            })
            .await?;
        if !who.admin {
            if let Some(ssh) = &mut details.ssh {
                ssh.private_key_path = None;
            }
        }
        Ok(details)
    }

    /// The snapshots of each machine of an instance; needs the `status` grant.
    pub async fn snapshots(&self, who: &Principal, id: u64) -> Result<Vec<MachineSnapshots>> {
        let instance = self.readable(who, id).await?;
        let _reading = self
            .inner
            .reads
            .enter(who, self.inner.config.max_reads_per_key)?;
        self.inner
            .snapshot_reads
            .get(id, async {
                let _slot = self.inner.slots.acquire_read().await;
                Ok(self.inner.provider.snapshots(&instance).await?)
            })
            .await
    }

    /// The instance, when `who` may see it and read its status.
    async fn readable(&self, who: &Principal, id: u64) -> Result<Instance> {
        let record = self.record(who, id).await?;
        who.check(
            record.id,
            record.host_id,
            Permission::Action(Action::Status),
        )?;
        let host = self.host_of(&record).await?;
        Ok(self.instance_of(record, host))
    }
}
