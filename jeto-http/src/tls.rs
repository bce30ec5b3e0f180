//! [`ServerTls`]: HTTPS for [`crate::serve`] through rustls, with a certificate and key read
//! from PEM files, and read again on [`ServerTls::reload`] (a renewed certificate) without a
//! restart: connections already open keep theirs, new ones get the new one.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use rustls::crypto::ring;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

/// A server certificate chain and key from PEM files, for [`crate::Serve::tls`].
///
/// ```no_run
/// let tls = jeto_http::ServerTls::from_files("/etc/jeto/cert.pem".as_ref(), "/etc/jeto/key.pem".as_ref())?;
/// // After the files are renewed:
/// tls.reload()?;
/// # Ok::<(), String>(())
/// ```
#[derive(Debug, Clone)]
pub struct ServerTls {
    /// The files read again at [`ServerTls::reload`] (none for a resolver of another kind).
    files: Option<Arc<FileResolver>>,
    config: Arc<rustls::ServerConfig>,
}

#[derive(Debug)]
struct FileResolver {
    cert: PathBuf,
    key: PathBuf,
    current: RwLock<Arc<CertifiedKey>>,
}

impl ResolvesServerCert for FileResolver {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(
            self.current
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .clone(),
        )
    }
}

/// A chain and its key from PEM text; the error says what is wrong with them.
pub(crate) fn certified_from_pem(chain: &str, key: &str) -> Result<Arc<CertifiedKey>, String> {
    let chain = CertificateDer::pem_slice_iter(chain.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("the certificate chain: {e}"))?;
    if chain.is_empty() {
        return Err("the certificate chain holds no certificate (PEM `BEGIN CERTIFICATE`)".into());
    }
    let private = PrivateKeyDer::from_pem_slice(key.as_bytes())
        .map_err(|e| format!("the private key: {e}"))?;
    let signing =
        ring::sign::any_supported_type(&private).map_err(|e| format!("the private key: {e}"))?;
    let certified = CertifiedKey::new(chain, signing);
    certified
        .keys_match()
        .map_err(|e| format!("the private key is not the certificate's: {e}"))?;
    Ok(Arc::new(certified))
}

/// Reads a chain and its key; the error names the file and what is wrong with it.
pub(crate) fn load(cert: &Path, key: &Path) -> Result<Arc<CertifiedKey>, String> {
    let chain = CertificateDer::pem_file_iter(cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("TLS certificate file {}: {e}", cert.display()))?;
    if chain.is_empty() {
        return Err(format!(
            "TLS certificate file {} holds no certificate (PEM `BEGIN CERTIFICATE`)",
            cert.display()
        ));
    }
    let private = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| format!("TLS key file {}: {e}", key.display()))?;
    let signing = ring::sign::any_supported_type(&private)
        .map_err(|e| format!("TLS key file {}: {e}", key.display()))?;
    let certified = CertifiedKey::new(chain, signing);
    certified.keys_match().map_err(|e| {
        format!(
            "TLS key file {} is not the key of the certificate in {}: {e}",
            key.display(),
            cert.display()
        )
    })?;
    Ok(Arc::new(certified))
}

impl ServerTls {
    /// HTTPS with the chain in `cert` (PEM, the server's certificate first) and its key in
    /// `key` (PEM: PKCS#8, PKCS#1 or SEC1). HTTP/1.1 only, TLS 1.2 and 1.3.
    pub fn from_files(cert: &Path, key: &Path) -> Result<Self, String> {
        let resolver = Arc::new(FileResolver {
            cert: cert.to_path_buf(),
            key: key.to_path_buf(),
            current: RwLock::new(load(cert, key)?),
        });
        let mut tls = Self::with_resolver(resolver.clone())?;
        tls.files = Some(resolver);
        Ok(tls)
    }

    /// HTTPS with certificates chosen by `resolver` at each handshake (by SNI, say).
    pub fn with_resolver(resolver: Arc<dyn ResolvesServerCert>) -> Result<Self, String> {
        let mut config =
            rustls::ServerConfig::builder_with_provider(Arc::new(ring::default_provider()))
                .with_safe_default_protocol_versions()
                .map_err(|e| format!("TLS: {e}"))?
                .with_no_client_auth()
                .with_cert_resolver(resolver);
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(ServerTls {
            files: None,
            config: Arc::new(config),
        })
    }

    /// Reads the certificate and key files again; on an error the one in use stays.
    pub fn reload(&self) -> Result<(), String> {
        let Some(files) = &self.files else {
            return Ok(());
        };
        let fresh = load(&files.cert, &files.key)?;
        *files.current.write().unwrap_or_else(|e| e.into_inner()) = fresh;
        Ok(())
    }

    pub(crate) fn acceptor(&self) -> tokio_rustls::TlsAcceptor {
        tokio_rustls::TlsAcceptor::from(self.config.clone())
    }
}
