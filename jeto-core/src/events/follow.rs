//! [`EventFollower`]: one client's view of the event log: what it may see, from where it
//! asked, in order, each event once; told when what it asked for is no longer kept.

use std::collections::VecDeque;

use tokio::sync::broadcast;

use super::EventLog;
use crate::access::Principal;
use crate::{Event, Result};

/// Which events a follower wants.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct EventFilter {
    /// Only these types (wire names); all when empty.
    pub types: Vec<String>,
    /// Only events of this instance.
    pub instance: Option<u64>,
}

impl EventFilter {
    fn wants(&self, event: &Event) -> bool {
        (self.types.is_empty() || self.types.iter().any(|t| t == event.type_name()))
            && self.instance.is_none_or(|id| event.instance == Some(id))
    }
}

/// What a follower gets next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Followed {
    /// An event.
    Event(Event),
    /// Events after `after` up to `oldest - 1` are no longer kept: the follower asked for
    /// events older than the log holds (it was away too long).
    Gap {
        /// Where the follower asked to start.
        after: u64,
        /// The oldest event still kept.
        oldest: u64,
    },
}

/// Follows the event log for one principal: only events of what it may see.
#[derive(Debug)]
pub struct EventFollower {
    log: EventLog,
    who: Principal,
    filter: EventFilter,
    live: broadcast::Receiver<Event>,
    /// The id of the last event handed out (or skipped as not for this follower).
    last: u64,
    ready: VecDeque<Followed>,
}

/// Events read from the store at a time while catching up.
const PAGE: usize = 500;

impl EventFollower {
    pub(crate) async fn new(
        log: EventLog,
        who: Principal,
        filter: EventFilter,
        after: Option<u64>,
    ) -> Result<EventFollower> {
        // Listening before reading: nothing written between the two is missed.
        let live = log.subscribe();
        let mut ready = VecDeque::new();
        let last = match after {
            None => log.newest(),
            Some(after) => {
                if let Some((oldest, _)) = log.store().event_bounds().await? {
                    if after + 1 < oldest {
                        ready.push_back(Followed::Gap { after, oldest });
                    }
                }
                after
            }
        };
        Ok(EventFollower {
            log,
            who,
            filter,
            live,
            last,
            ready,
        })
    }

    fn visible(&self, event: &Event) -> bool {
        let seen = match (event.instance, event.host) {
            (Some(instance), Some(host)) => self.who.can_view(instance, host),
            (Some(instance), None) => self.who.admin || self.who.instances.contains(&instance),
            (None, Some(host)) => self.who.can_use_host(host),
            (None, None) => self.who.admin,
        };
        seen && self.filter.wants(event)
    }

    /// Takes `events` (in order) after the last one handed out.
    fn take(&mut self, events: impl IntoIterator<Item = Event>) {
        for event in events {
            if event.id <= self.last {
                continue;
            }
            self.last = event.id;
            if self.visible(&event) {
                self.ready.push_back(Followed::Event(event));
            }
        }
    }

    /// Follows `who`'s rights from now on (they are worked out again while it follows).
    pub fn set_principal(&mut self, who: Principal) {
        self.who = who;
    }

    /// The next event this follower may see, waiting for it.
    pub async fn next(&mut self) -> Result<Followed> {
        loop {
            if let Some(next) = self.ready.pop_front() {
                return Ok(next);
            }
            // Behind the newest written: read from the store (a reconnect, or a lag).
            if self.last < self.log.newest() {
                let page = self.log.store().events(self.last, PAGE).await?;
                let progressed = page.last().map(|e| e.id);
                self.take(page);
                if let Some(id) = progressed {
                    self.last = self.last.max(id);
                    continue;
                }
            }
            match self.live.recv().await {
                Ok(event) => self.take([event]),
                // Fell behind the live buffer: the store has what was missed.
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    self.live = self.live.resubscribe();
                }
                Err(broadcast::error::RecvError::Closed) => {
                    std::future::pending::<()>().await;
                }
            }
        }
    }
}
