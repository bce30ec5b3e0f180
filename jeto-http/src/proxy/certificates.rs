//! The proxy's certificates: each domain's own (uploaded through the API) chosen by the name
//! the client asks for (SNI), else a default one from files (a wildcard, say).

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use jeto_core::{Domain, Jeto};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

use crate::tls::{certified_from_pem, load};
use crate::ServerTls;

/// A domain as its certificate was parsed from, and the parsed chain (`None`: unusable).
type Parsed = (Arc<Domain>, Option<Arc<CertifiedKey>>);

/// Picks a certificate by SNI from the domains in memory.
struct DomainCertificates {
    jeto: Jeto,
    fallback: Option<Arc<CertifiedKey>>,
    /// Parsed chains by domain id, with the domain they were parsed from (a changed domain
    /// is a new `Arc`: parsed again).
    parsed: Mutex<HashMap<u64, Parsed>>,
}

impl std::fmt::Debug for DomainCertificates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DomainCertificates").finish_non_exhaustive()
    }
}

impl ResolvesServerCert for DomainCertificates {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let own = hello
            .server_name()
            .and_then(|name| self.jeto.domain_for_host_in_memory(name))
            .and_then(|domain| self.of(domain));
        own.or_else(|| self.fallback.clone())
    }
}

impl DomainCertificates {
    fn of(&self, domain: Arc<Domain>) -> Option<Arc<CertifiedKey>> {
        let tls = domain.tls.as_ref()?;
        let mut parsed = self.parsed.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((seen, key)) = parsed.get(&domain.id) {
            if Arc::ptr_eq(seen, &domain) {
                return key.clone();
            }
        }
        let key = match certified_from_pem(&tls.certificate_pem, &tls.private_key_pem) {
            Ok(key) => Some(key),
            Err(error) => {
                tracing::warn!(domain = %domain.name, %error, "the domain's certificate is unusable");
                None
            }
        };
        parsed.insert(domain.id, (domain.clone(), key.clone()));
        key
    }
}

/// HTTPS for the proxy of `jeto`'s domains: each domain's certificate by SNI, else the one in
/// `fallback` (chain and key files).
pub fn domain_tls(jeto: Jeto, fallback: Option<(&Path, &Path)>) -> Result<ServerTls, String> {
    let fallback = match fallback {
        Some((cert, key)) => Some(load(cert, key)?),
        None => None,
    };
    ServerTls::with_resolver(Arc::new(DomainCertificates {
        jeto,
        fallback,
        parsed: Mutex::new(HashMap::new()),
    }))
}

/// Checks a domain's uploaded chain and key as the proxy will use them.
pub(crate) fn check(certificate_pem: &str, private_key_pem: &str) -> Result<(), String> {
    certified_from_pem(certificate_pem, private_key_pem).map(|_| ())
}
