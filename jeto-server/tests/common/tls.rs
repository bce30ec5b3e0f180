//! A test CA of the test's own and a server certificate it signs, for HTTPS tests.

use std::path::{Path, PathBuf};

use base64::Engine;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
use sha2::Digest;

/// PEM files of a CA and of a server certificate for `localhost` and 127.0.0.1 it signed.
pub struct TestCa {
    /// The CA's certificate (PEM), for clients to trust.
    pub ca_pem: String,
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
    /// The server key's SubjectPublicKeyInfo, SHA-256, base64: what Chromium's
    /// `--ignore-certificate-errors-spki-list` pins.
    pub spki_sha256: String,
    ca: rcgen::Certificate,
    ca_key: KeyPair,
}

impl TestCa {
    /// A fresh CA, and a server certificate written to `dir`.
    pub fn new(dir: &Path) -> TestCa {
        let ca_key = KeyPair::generate().unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "jeto test CA");
        let ca = ca_params.self_signed(&ca_key).unwrap();
        let key = KeyPair::generate().unwrap();
        let params =
            CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).unwrap();
        let cert = params.signed_by(&key, &ca, &ca_key).unwrap();
        let cert_file = dir.join("server.pem");
        let key_file = dir.join("server.key");
        std::fs::write(&cert_file, cert.pem()).unwrap();
        std::fs::write(&key_file, key.serialize_pem()).unwrap();
        TestCa {
            ca_pem: ca.pem(),
            cert_file,
            key_file,
            spki_sha256: base64::engine::general_purpose::STANDARD
                .encode(sha2::Sha256::digest(key.public_key_der())),
            ca,
            ca_key,
        }
    }

    /// A certificate for `names` signed by this CA, and its key: (chain PEM, key PEM).
    pub fn issue(&self, names: &[&str]) -> (String, String) {
        let key = KeyPair::generate().unwrap();
        let params =
            CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
                .unwrap();
        let cert = params.signed_by(&key, &self.ca, &self.ca_key).unwrap();
        (cert.pem(), key.serialize_pem())
    }

    /// The `[tls]` table for these files.
    pub fn table(&self) -> String {
        format!(
            "\n[tls]\ncert_file = {:?}\nkey_file = {:?}\n",
            self.cert_file, self.key_file
        )
    }

    /// An HTTP client trusting this CA only.
    pub fn client(&self) -> reqwest::Client {
        reqwest::Client::builder()
            .tls_built_in_root_certs(false)
            .add_root_certificate(reqwest::Certificate::from_pem(self.ca_pem.as_bytes()).unwrap())
            .build()
            .unwrap()
    }
}
