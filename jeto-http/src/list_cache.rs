//! [`ListCache`]: the serialised `GET /api/instances` answer of each principal, reused while
//! nothing it shows has changed (see [`Jeto::view_version`]).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use jeto_core::access::Principal;
use jeto_core::Jeto;

use crate::ApiError;

/// How many principals' lists are kept, and how many bytes in all; past either the cache
/// starts over, so many keys over many instances cannot make it grow without bound.
const MAX_ENTRIES: usize = 256;
const MAX_BYTES: usize = 32 << 20;

type Entries = HashMap<Principal, ((u64, u64), Bytes)>;

/// Serialised instance lists per principal, keyed by the service's view version.
#[derive(Debug, Clone, Default)]
pub struct ListCache {
    entries: Arc<Mutex<Entries>>,
}

impl ListCache {
    /// The JSON list of the instances `who` may see, built only when something changed.
    pub async fn get(&self, jeto: &Jeto, who: &Principal) -> Result<Bytes, ApiError> {
        // Read the version first: a change during the build makes the next call rebuild.
        let version = jeto.view_version();
        let cached = self
            .entries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(who)
            .filter(|(v, _)| *v == version)
            .map(|(_, bytes)| bytes.clone());
        if let Some(bytes) = cached {
            return Ok(bytes);
        }
        let views = jeto.instances(who, false).await?;
        let bytes = Bytes::from(serde_json::to_vec(&views).map_err(|e| {
            ApiError::new(
                http::StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                format!("could not encode the list: {e}"),
            )
        })?);
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let held: usize = entries.values().map(|(_, b)| b.len()).sum();
        if entries.len() >= MAX_ENTRIES || held + bytes.len() > MAX_BYTES {
            entries.clear();
        }
        entries.insert(who.clone(), (version, bytes.clone()));
        Ok(bytes)
    }
}
