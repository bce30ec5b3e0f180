//! Sign-ins in progress and signed-in sessions, kept in memory and bounded: only the SHA-256 of
//! a cookie's value is kept, so the table gives no cookie away. A restart signs everyone out.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use jeto_core::access::people::Identity;
use sha2::{Digest, Sha256};

/// How long a person has to come back from the provider.
pub(crate) const PENDING_FOR: Duration = Duration::from_secs(600);

/// A sign-in sent to the provider, waiting for the browser to come back.
#[derive(Debug, Clone)]
pub(crate) struct Pending {
    /// The hash of the cookie set on the browser that started it (binds the answer to it).
    pub browser: [u8; 32],
    pub nonce: String,
    pub verifier: String,
    started: Instant,
}

/// A signed-in person.
#[derive(Debug, Clone)]
pub(crate) struct Session {
    pub identity: Identity,
    /// Sent back in `X-Jeto-Csrf` with every request that changes something.
    pub csrf: String,
    ends: Instant,
}

/// A random token: 32 bytes, hex.
pub(crate) fn random_token() -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; 32];
    getrandom::getrandom(&mut bytes)?;
    Ok(hex::encode(bytes))
}

pub(crate) fn digest(value: &str) -> [u8; 32] {
    Sha256::digest(value.as_bytes()).into()
}

/// Why a sign-in could not be kept.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Full {
    Pending(usize),
    Sessions(usize),
}

#[derive(Debug)]
pub(crate) struct Sessions {
    pending: Mutex<HashMap<[u8; 32], Pending>>,
    sessions: Mutex<HashMap<[u8; 32], Session>>,
    max_pending: usize,
    max_sessions: usize,
    lasts: Duration,
}

impl Sessions {
    pub fn new(max_pending: usize, max_sessions: usize, lasts: Duration) -> Self {
        Sessions {
            pending: Mutex::default(),
            sessions: Mutex::default(),
            max_pending,
            max_sessions,
            lasts,
        }
    }

    /// How long a session lasts.
    pub fn lasts(&self) -> Duration {
        self.lasts
    }

    /// Keeps a sign-in under its `state` until the browser comes back.
    pub fn start(
        &self,
        state: &str,
        browser: &str,
        nonce: String,
        verifier: String,
    ) -> Result<(), Full> {
        let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        if pending.len() >= self.max_pending {
            pending.retain(|_, p| p.started.elapsed() < PENDING_FOR);
            if pending.len() >= self.max_pending {
                return Err(Full::Pending(self.max_pending));
            }
        }
        pending.insert(
            digest(state),
            Pending {
                browser: digest(browser),
                nonce,
                verifier,
                started: Instant::now(),
            },
        );
        Ok(())
    }

    /// The sign-in of `state`, taken: a state is good once, and for ten minutes.
    pub fn finish(&self, state: &str) -> Option<Pending> {
        let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        pending
            .remove(&digest(state))
            .filter(|p| p.started.elapsed() < PENDING_FOR)
    }

    /// Opens a session for `identity`: its cookie value and its CSRF token.
    pub fn open(
        &self,
        identity: Identity,
    ) -> Result<Result<(String, String), Full>, getrandom::Error> {
        let cookie = random_token()?;
        let csrf = random_token()?;
        let mut sessions = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        if sessions.len() >= self.max_sessions {
            let now = Instant::now();
            sessions.retain(|_, s| s.ends > now);
            if sessions.len() >= self.max_sessions {
                return Ok(Err(Full::Sessions(self.max_sessions)));
            }
        }
        sessions.insert(
            digest(&cookie),
            Session {
                identity,
                csrf: csrf.clone(),
                ends: Instant::now() + self.lasts,
            },
        );
        Ok(Ok((cookie, csrf)))
    }

    /// The live session of a cookie's value (an ended one is forgotten).
    pub fn get(&self, cookie: &str) -> Option<Session> {
        let mut sessions = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        let key = digest(cookie);
        match sessions.get(&key) {
            Some(session) if session.ends > Instant::now() => Some(session.clone()),
            Some(_) => {
                sessions.remove(&key);
                None
            }
            None => None,
        }
    }

    /// Ends a session (sign-out).
    pub fn close(&self, cookie: &str) -> bool {
        let mut sessions = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        sessions.remove(&digest(cookie)).is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_state_is_good_once() {
        let sessions = Sessions::new(2, 2, Duration::from_secs(60));
        sessions.start("s1", "b", "n".into(), "v".into()).unwrap();
        assert_eq!(sessions.finish("s1").unwrap().nonce, "n");
        assert!(sessions.finish("s1").is_none());
        assert!(sessions.finish("never").is_none());
    }

    #[test]
    fn beyond_the_bounds_new_sign_ins_are_refused_and_nothing_is_evicted() {
        let sessions = Sessions::new(2, 1, Duration::from_secs(60));
        sessions.start("a", "b", "n".into(), "v".into()).unwrap();
        sessions.start("b", "b", "n".into(), "v".into()).unwrap();
        assert_eq!(
            sessions.start("c", "b", "n".into(), "v".into()),
            Err(Full::Pending(2))
        );
        assert!(
            sessions.finish("a").is_some(),
            "a waiting sign-in is never pushed out"
        );
        let (cookie, _) = sessions
            .open(Identity::new("ann", "sign-in"))
            .unwrap()
            .unwrap();
        assert_eq!(
            sessions.open(Identity::new("bob", "sign-in")).unwrap(),
            Err(Full::Sessions(1))
        );
        assert_eq!(sessions.get(&cookie).unwrap().identity.name, "ann");
        assert!(sessions.close(&cookie));
        assert!(sessions.get(&cookie).is_none());
    }

    #[test]
    fn an_ended_session_is_forgotten() {
        let sessions = Sessions::new(1, 1, Duration::ZERO);
        let (cookie, _) = sessions
            .open(Identity::new("ann", "sign-in"))
            .unwrap()
            .unwrap();
        assert!(sessions.get(&cookie).is_none());
        sessions
            .open(Identity::new("bob", "sign-in"))
            .unwrap()
            .unwrap();
    }
}
