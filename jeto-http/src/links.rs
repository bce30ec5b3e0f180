//! [`Links`]: what a handler needs to write links that follow the mount prefix.

use std::sync::OnceLock;

use bytes::Bytes;

/// The mount prefix of the links a handler writes into a body, and the OpenAPI document
/// with that prefix in its `servers`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Links<'a> {
    pub(crate) prefix: &'a str,
    pub(crate) document: &'a OnceLock<Bytes>,
}
