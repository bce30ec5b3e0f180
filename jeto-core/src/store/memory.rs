//! [`MemoryStore`]: everything in memory, for tests and embedders that keep nothing.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;

use super::{InstanceRecord, Page, Registry, Store};
use crate::access::audit::AuditEntry;
use crate::access::people::{ApiKey, Team, User};
use crate::model::console::ConsoleBuffer;
use crate::{Command, Delivery, Domain, Error, Host, Project, Result, Webhook};

/// A [`Store`] in memory; clones share the same records.
#[derive(Debug, Clone, Default)]
pub struct MemoryStore {
    data: Arc<Mutex<Data>>,
}

#[derive(Debug, Default)]
struct Data {
    registry: Registry,
    /// Every command by id (ids grow with submission, so by id is by submission).
    commands: BTreeMap<u64, (Command, ConsoleBuffer)>,
    next_command_id: u64,
    audit: std::collections::VecDeque<AuditEntry>,
    next_audit_id: u64,
    events: std::collections::VecDeque<crate::Event>,
    next_event_id: u64,
    webhooks: BTreeMap<u64, Webhook>,
    next_webhook_id: u64,
    deliveries: std::collections::VecDeque<Delivery>,
    next_delivery_id: u64,
    domains: BTreeMap<u64, Domain>,
    next_domain_id: u64,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, Data> {
        self.data.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Data {
    fn prune(&mut self, instance_id: u64, keep: usize) {
        let ids: Vec<u64> = self
            .commands
            .values()
            .filter(|(c, _)| c.instance_id == instance_id)
            .map(|(c, _)| c.id)
            .collect();
        let mut excess = ids.len().saturating_sub(keep);
        for id in ids {
            if excess == 0 {
                break;
            }
            if self.commands[&id].0.status.is_finished() {
                self.commands.remove(&id);
                excess -= 1;
            }
        }
    }
}

/// A command as listed: no console, its size instead.
fn listed(command: &Command, console: &ConsoleBuffer) -> Command {
    Command {
        console: None,
        console_bytes: console.text().len() as u64,
        console_truncated: console.is_truncated(),
        ..command.clone()
    }
}

#[async_trait]
impl Store for MemoryStore {
    async fn instances(&self) -> Result<Vec<InstanceRecord>> {
        Ok(self.lock().registry.instances())
    }

    async fn instance(&self, id: u64) -> Result<Option<InstanceRecord>> {
        Ok(self.lock().registry.instance(id))
    }

    async fn instance_at(&self, path: &str) -> Result<Option<InstanceRecord>> {
        Ok(self.lock().registry.instance_at(path))
    }

    async fn insert_instance(&self, new: InstanceRecord) -> Result<InstanceRecord> {
        super::check_id("instance", new.id)?;
        let mut data = self.lock();
        if let Some(id) = Some(new.id).filter(|id| data.registry.instances.contains_key(id)) {
            return Err(Error::Conflict {
                message: format!("instance {id} already exists"),
            });
        }
        data.registry.check_folder_free(&new)?;
        Ok(data.registry.insert_instance(new))
    }

    async fn reserve_instance_id(&self) -> Result<u64> {
        Ok(self.lock().registry.reserve_instance_id())
    }

    async fn update_instance(&self, record: InstanceRecord) -> Result<bool> {
        let mut data = self.lock();
        if !data.registry.instances.contains_key(&record.id) {
            return Ok(false);
        }
        data.registry.check_folder_free(&record)?;
        Ok(data.registry.update_instance(record))
    }

    async fn remove_instance(&self, id: u64) -> Result<Option<InstanceRecord>> {
        let mut data = self.lock();
        data.commands.retain(|_, (c, _)| c.instance_id != id);
        Ok(data.registry.remove_instance(id))
    }

    async fn hosts(&self) -> Result<Vec<Host>> {
        Ok(self.lock().registry.hosts.clone())
    }

    async fn put_host(&self, new: Host) -> Result<Host> {
        super::check_id("host", new.id)?;
        Ok(self.lock().registry.put_host(new))
    }

    async fn projects(&self) -> Result<Vec<Project>> {
        Ok(self.lock().registry.projects.clone())
    }

    async fn put_project(&self, project: Project) -> Result<Project> {
        super::check_id("project", project.id)?;
        Ok(self.lock().registry.put_project(project))
    }

    async fn remove_host(&self, id: u64) -> Result<Option<Host>> {
        let mut data = self.lock();
        if data.registry.hosts.iter().all(|h| h.id != id) {
            return Ok(None);
        }
        data.registry.check_host_unused(id)?;
        Ok(data.registry.remove_host(id))
    }

    async fn remove_project(&self, id: u64) -> Result<Option<Project>> {
        Ok(self.lock().registry.remove_project(id))
    }

    async fn users(&self) -> Result<Vec<User>> {
        Ok(self.lock().registry.people.users.clone())
    }

    async fn put_user(&self, mut user: User) -> Result<User> {
        super::check_id("user", user.id)?;
        let people = &mut self.lock().registry.people;
        people.check_user(&user)?;
        if user.id == 0 {
            user.id = people.next_user_id.max(1);
        }
        people.store_user(user.clone());
        Ok(user)
    }

    async fn remove_user(&self, id: u64) -> Result<Option<User>> {
        Ok(self.lock().registry.people.remove_user(id))
    }

    async fn teams(&self) -> Result<Vec<Team>> {
        Ok(self.lock().registry.people.teams.clone())
    }

    async fn put_team(&self, mut team: Team) -> Result<Team> {
        super::check_id("team", team.id)?;
        let people = &mut self.lock().registry.people;
        people.check_team(&team)?;
        if team.id == 0 {
            team.id = people.next_team_id.max(1);
        }
        people.store_team(team.clone());
        Ok(team)
    }

    async fn remove_team(&self, id: u64) -> Result<Option<Team>> {
        Ok(self.lock().registry.people.remove_team(id))
    }

    async fn api_keys(&self) -> Result<Vec<ApiKey>> {
        Ok(self.lock().registry.people.keys.clone())
    }

    async fn put_api_key(&self, mut key: ApiKey) -> Result<ApiKey> {
        super::check_id("key", key.id)?;
        let people = &mut self.lock().registry.people;
        people.check_key(&key)?;
        if key.id == 0 {
            key.id = people.next_key_id.max(1);
        }
        people.store_key(key.clone());
        Ok(key)
    }

    async fn api_key_by_hash(&self, hash: &str) -> Result<Option<ApiKey>> {
        Ok(self.lock().registry.people.key_by_hash(hash))
    }

    async fn remove_api_key(&self, id: u64) -> Result<Option<ApiKey>> {
        Ok(self.lock().registry.people.remove_key(id))
    }

    fn version(&self) -> u64 {
        self.lock().registry.version
    }

    async fn insert_command(&self, mut command: Command, keep: usize) -> Result<Command> {
        let mut data = self.lock();
        if data.registry.instance(command.instance_id).is_none() {
            return Err(Error::InstanceNotFound {
                id: command.instance_id,
            });
        }
        let id = data.next_command_id.max(1);
        data.next_command_id = id + 1;
        command.id = id;
        command.console = None;
        command.console_bytes = 0;
        command.console_truncated = false;
        data.commands
            .insert(id, (command.clone(), ConsoleBuffer::new(usize::MAX)));
        data.prune(command.instance_id, keep.max(1));
        Ok(command)
    }

    async fn update_command(&self, command: &Command) -> Result<()> {
        if let Some((stored, _)) = self.lock().commands.get_mut(&command.id) {
            *stored = Command {
                console: None,
                ..command.clone()
            };
        }
        Ok(())
    }

    async fn append_console(&self, command_id: u64, text: &str, limit: usize) -> Result<()> {
        if let Some((_, console)) = self.lock().commands.get_mut(&command_id) {
            console.append(text, limit);
        }
        Ok(())
    }

    async fn commands(&self, instance_id: u64, page: Page) -> Result<Vec<Command>> {
        Ok(self
            .lock()
            .commands
            .range(..page.before.unwrap_or(u64::MAX))
            .rev()
            .filter(|(_, (c, _))| c.instance_id == instance_id)
            .take(page.limit)
            .map(|(_, (c, console))| listed(c, console))
            .collect())
    }

    async fn command(&self, instance_id: u64, command_id: u64) -> Result<Option<Command>> {
        Ok(self
            .lock()
            .commands
            .get(&command_id)
            .filter(|(c, _)| c.instance_id == instance_id)
            .map(|(c, console)| Command {
                console: Some(console.text().to_owned()),
                ..listed(c, console)
            }))
    }

    async fn interrupt_unfinished(&self) -> Result<Vec<Command>> {
        let mut interrupted = Vec::new();
        for (command, _) in self.lock().commands.values_mut() {
            if !command.status.is_finished() {
                command.interrupt();
                interrupted.push(command.clone());
            }
        }
        Ok(interrupted)
    }

    async fn prune_commands(&self, keep: usize) -> Result<()> {
        let mut data = self.lock();
        let instances: Vec<u64> = data.registry.instances.keys().copied().collect();
        for id in instances {
            data.prune(id, keep.max(1));
        }
        Ok(())
    }

    async fn append_audit(&self, mut entry: AuditEntry, keep: usize) -> Result<AuditEntry> {
        let mut data = self.lock();
        entry.id = data.next_audit_id.max(1);
        data.next_audit_id = entry.id + 1;
        let anonymous = entry.principal.is_none();
        data.audit.push_back(entry.clone());
        // Each kind keeps its own newest `keep`: keyless requests never evict others.
        let of_kind = data
            .audit
            .iter()
            .filter(|e| e.principal.is_none() == anonymous)
            .count();
        if of_kind > keep.max(1) {
            if let Some(oldest) = data
                .audit
                .iter()
                .position(|e| e.principal.is_none() == anonymous)
            {
                data.audit.remove(oldest);
            }
        }
        Ok(entry)
    }

    async fn audit(&self, before: Option<u64>, limit: usize) -> Result<Vec<AuditEntry>> {
        Ok(self
            .lock()
            .audit
            .iter()
            .rev()
            .filter(|e| before.is_none_or(|b| e.id < b))
            .take(limit)
            .cloned()
            .collect())
    }

    async fn append_events(
        &self,
        events: Vec<crate::Event>,
        keep: usize,
    ) -> Result<Vec<crate::Event>> {
        let mut data = self.lock();
        let mut stored = Vec::with_capacity(events.len());
        for mut event in events {
            event.id = data.next_event_id.max(1);
            data.next_event_id = event.id + 1;
            data.events.push_back(event.clone());
            stored.push(event);
        }
        while data.events.len() > keep.max(1) {
            data.events.pop_front();
        }
        Ok(stored)
    }

    async fn events(&self, after: u64, limit: usize) -> Result<Vec<crate::Event>> {
        Ok(self
            .lock()
            .events
            .iter()
            .filter(|e| e.id > after)
            .take(limit)
            .cloned()
            .collect())
    }

    async fn event_bounds(&self) -> Result<Option<(u64, u64)>> {
        let data = self.lock();
        Ok(data
            .events
            .front()
            .zip(data.events.back())
            .map(|(a, b)| (a.id, b.id)))
    }

    async fn webhooks(&self) -> Result<Vec<Webhook>> {
        Ok(self.lock().webhooks.values().cloned().collect())
    }

    async fn put_webhook(&self, mut webhook: Webhook) -> Result<Webhook> {
        super::check_id("webhook", webhook.id)?;
        let mut data = self.lock();
        if webhook.id == 0 {
            webhook.id = data.next_webhook_id.max(1);
        }
        data.next_webhook_id = data.next_webhook_id.max(webhook.id + 1);
        data.webhooks.insert(webhook.id, webhook.clone());
        Ok(webhook)
    }

    async fn advance_webhook(&self, id: u64, cursor: u64, paused: Option<String>) -> Result<bool> {
        let mut data = self.lock();
        Ok(match data.webhooks.get_mut(&id) {
            Some(webhook) => {
                webhook.cursor = cursor;
                webhook.paused = paused;
                true
            }
            None => false,
        })
    }

    async fn domains(&self) -> Result<Vec<Domain>> {
        Ok(self.lock().domains.values().cloned().collect())
    }

    async fn put_domain(&self, mut domain: Domain) -> Result<Domain> {
        super::check_id("domain", domain.id)?;
        let mut data = self.lock();
        if domain.id == 0 {
            domain.id = data.next_domain_id.max(1);
        }
        data.next_domain_id = data.next_domain_id.max(domain.id + 1);
        data.domains.insert(domain.id, domain.clone());
        Ok(domain)
    }

    async fn remove_domain(&self, id: u64) -> Result<Option<Domain>> {
        Ok(self.lock().domains.remove(&id))
    }

    async fn remove_webhook(&self, id: u64) -> Result<Option<Webhook>> {
        let mut data = self.lock();
        data.deliveries.retain(|d| d.webhook != id);
        Ok(data.webhooks.remove(&id))
    }

    async fn append_delivery(&self, mut delivery: Delivery, keep: usize) -> Result<Delivery> {
        let mut data = self.lock();
        delivery.id = data.next_delivery_id.max(1);
        data.next_delivery_id = delivery.id + 1;
        data.deliveries.push_back(delivery.clone());
        let webhook = delivery.webhook;
        let mut kept = data
            .deliveries
            .iter()
            .filter(|d| d.webhook == webhook)
            .count();
        while kept > keep.max(1) {
            let oldest = data.deliveries.iter().position(|d| d.webhook == webhook);
            if let Some(oldest) = oldest {
                data.deliveries.remove(oldest);
            }
            kept -= 1;
        }
        Ok(delivery)
    }

    async fn deliveries(&self, webhook: u64, limit: usize) -> Result<Vec<Delivery>> {
        Ok(self
            .lock()
            .deliveries
            .iter()
            .rev()
            .filter(|d| d.webhook == webhook)
            .take(limit)
            .cloned()
            .collect())
    }
}
