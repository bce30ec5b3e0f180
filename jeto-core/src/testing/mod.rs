//! Test doubles and conformance suites, for tests of Jeto and of code built on it (feature
//! `testing`; the suites are unstable API).
//!
//! - [`InMemoryProvider`]: machines in memory, the double to reach for first.
//! - [`conformance`]: the behaviour every [`Provider`](crate::Provider) must show.
//! - [`store_conformance`]: the behaviour every [`Store`](crate::store::Store) must show.
//! - `MockProvider` (feature `mock`): mockall's expectations on each provider call.

pub mod conformance;
pub mod memory;
pub mod store_conformance;

#[cfg(feature = "mock")]
#[cfg_attr(docsrs, doc(cfg(feature = "mock")))]
pub use crate::provider::MockProvider;
pub use memory::{instance_at, InMemoryProvider};
