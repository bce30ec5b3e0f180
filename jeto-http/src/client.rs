//! [`ClientAddr`]: the address a request came from, for the audit log and the request log.

use std::net::SocketAddr;

/// The peer address of the connection a request came on. [`serve`](crate::serve) puts it in
/// every request's extensions (like axum's `ConnectInfo`); an embedder's own server may too.
/// [`JetoService`](crate::JetoService) records its IP as the audit entry's `source`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub SocketAddr);
