//! [`ClientAddr`]: the address a request came from, for the audit log and the request log.

use std::net::SocketAddr;

/// The peer address of the connection a request came on. [`serve`](crate::serve) puts it in
/// every request's extensions (like axum's `ConnectInfo`); an embedder's own server may too.
/// [`JetoService`](crate::JetoService) records its IP as the audit entry's `source`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub SocketAddr);

impl ClientAddr {
    /// The client behind `peer`: `peer` itself, unless it is one of `trusted` proxies; then the
    /// last address of `X-Forwarded-For` that is not a trusted proxy (port 0). A header from
    /// anyone else, or one that does not parse, changes nothing.
    ///
    /// ```
    /// use jeto_http::ClientAddr;
    /// let proxy: std::net::SocketAddr = "10.0.0.1:5000".parse().unwrap();
    /// let mut headers = http::HeaderMap::new();
    /// headers.insert("x-forwarded-for", "203.0.113.9, 10.0.0.1".parse().unwrap());
    /// let trusted = ["10.0.0.1".parse().unwrap()];
    /// assert_eq!(ClientAddr::behind(proxy, &headers, &trusted).0.ip().to_string(), "203.0.113.9");
    /// assert_eq!(ClientAddr::behind(proxy, &headers, &[]).0, proxy);
    /// ```
    pub fn behind(
        peer: SocketAddr,
        headers: &http::HeaderMap,
        trusted: &[std::net::IpAddr],
    ) -> ClientAddr {
        if !trusted.contains(&peer.ip()) {
            return ClientAddr(peer);
        }
        let forwarded = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .collect::<Vec<_>>();
        for hop in forwarded.iter().rev() {
            match hop.parse::<std::net::IpAddr>() {
                Ok(ip) if trusted.contains(&ip) => continue,
                Ok(ip) => return ClientAddr(SocketAddr::new(ip, 0)),
                Err(_) => break,
            }
        }
        ClientAddr(peer)
    }
}
