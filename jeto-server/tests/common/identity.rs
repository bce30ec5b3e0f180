//! Identity providers for the sign-in tests: [`FakeIdp`], a provider of the test's own on
//! loopback whose every token the test mints (so it can mint wrong ones), and
//! [`OpenIdProvider`], the real `oidc-provider` of the npm registry under Node.js.

use std::collections::BTreeMap;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use ring::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use serde_json::{json, Value};
use sha2::Digest;

/// An ES256 signing key and its public JWK.
#[derive(Clone)]
pub struct SigningKey {
    pub kid: String,
    encoding: EncodingKey,
    pub jwk: Value,
}

impl SigningKey {
    pub fn generate(kid: &str) -> SigningKey {
        let rng = ring::rand::SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng)
            .unwrap();
        let point = pair.public_key().as_ref();
        let jwk = json!({
            "kty": "EC", "crv": "P-256", "use": "sig", "alg": "ES256", "kid": kid,
            "x": URL_SAFE_NO_PAD.encode(&point[1..33]),
            "y": URL_SAFE_NO_PAD.encode(&point[33..65]),
        });
        SigningKey {
            kid: kid.to_owned(),
            encoding: EncodingKey::from_ec_der(pkcs8.as_ref()),
            jwk,
        }
    }

    /// `claims` signed by this key, its header naming `kid`.
    pub fn sign(&self, kid: &str, claims: &Value) -> String {
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(kid.to_owned());
        jsonwebtoken::encode(&header, claims, &self.encoding).unwrap()
    }
}

/// What the fake provider was asked and will answer.
#[derive(Default)]
struct IdpState {
    published: Vec<Value>,
    /// The ID token the token endpoint gives next.
    id_token: Option<String>,
    /// PKCE challenges of the sign-ins the test started, checked at the token endpoint.
    challenges: Vec<String>,
    /// `Authorization` headers the token endpoint saw.
    token_calls: Vec<String>,
    jwks_reads: usize,
}

/// An OpenID provider of the test's own on loopback: discovery, published keys, and a token
/// endpoint answering the ID token the test set (after checking the PKCE verifier).
#[derive(Clone)]
pub struct FakeIdp {
    pub issuer: String,
    state: Arc<Mutex<IdpState>>,
}

impl FakeIdp {
    pub async fn start() -> FakeIdp {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let issuer = format!("http://{}", listener.local_addr().unwrap());
        let idp = FakeIdp {
            issuer: issuer.clone(),
            state: Arc::default(),
        };
        let serving = idp.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let idp = serving.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |request| {
                        let idp = idp.clone();
                        async move { Ok::<_, std::convert::Infallible>(idp.answer(request).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        idp
    }

    /// Publishes these keys (and only these).
    pub fn publish(&self, keys: &[&SigningKey]) {
        self.state.lock().unwrap().published = keys.iter().map(|k| k.jwk.clone()).collect();
    }

    /// The token endpoint's next ID token.
    pub fn answer_with(&self, id_token: String) {
        self.state.lock().unwrap().id_token = Some(id_token);
    }

    /// Expects a sign-in with this PKCE challenge.
    pub fn expect_challenge(&self, challenge: &str) {
        self.state
            .lock()
            .unwrap()
            .challenges
            .push(challenge.to_owned());
    }

    pub fn token_calls(&self) -> Vec<String> {
        self.state.lock().unwrap().token_calls.clone()
    }

    pub fn jwks_reads(&self) -> usize {
        self.state.lock().unwrap().jwks_reads
    }

    /// Claims of a good ID token for jeto's client: `name`'s, for `nonce`, valid 5 minutes.
    pub fn claims(&self, name: &str, nonce: &str, groups: &[&str]) -> Value {
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        json!({
            "iss": self.issuer, "aud": "jeto", "sub": format!("sub-{name}"),
            "email": name, "email_verified": true, "groups": groups,
            "nonce": nonce, "iat": now, "exp": now + 300,
        })
    }

    async fn answer(
        &self,
        request: http::Request<hyper::body::Incoming>,
    ) -> http::Response<Full<Bytes>> {
        let path = request.uri().path().to_owned();
        let authorization = request
            .headers()
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let body = request.into_body().collect().await.unwrap().to_bytes();
        let mut state = self.state.lock().unwrap();
        let (status, answer) = match path.as_str() {
            "/.well-known/openid-configuration" => (
                200,
                json!({
                    "issuer": self.issuer,
                    "authorization_endpoint": format!("{}/authorize", self.issuer),
                    "token_endpoint": format!("{}/token", self.issuer),
                    "jwks_uri": format!("{}/jwks", self.issuer),
                }),
            ),
            "/jwks" => {
                state.jwks_reads += 1;
                (200, json!({ "keys": state.published }))
            }
            "/token" => {
                state.token_calls.push(authorization);
                let form: BTreeMap<String, String> =
                    form_urlencoded::parse(&body).into_owned().collect();
                let verifier = form.get("code_verifier").cloned().unwrap_or_default();
                let challenge = URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(verifier.as_bytes()));
                if !state.challenges.contains(&challenge) {
                    (
                        400,
                        json!({ "error": "invalid_grant", "error_description": "PKCE verification failed" }),
                    )
                } else {
                    match state.id_token.take() {
                        Some(token) => (
                            200,
                            json!({ "id_token": token, "access_token": "at", "token_type": "Bearer" }),
                        ),
                        None => (400, json!({ "error": "invalid_grant" })),
                    }
                }
            }
            _ => (404, json!({})),
        };
        http::Response::builder()
            .status(status)
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(answer.to_string())))
            .unwrap()
    }
}

/// The real `oidc-provider` (npm registry, pinned in `tests/oidc/package.json`) under Node.js,
/// stopped when dropped.
pub struct OpenIdProvider {
    pub issuer: String,
    child: Child,
}

impl OpenIdProvider {
    /// Starts it for jeto's `redirect` URL; `groups` maps logins to their groups.
    pub fn start(redirect: &str, groups: &Value) -> OpenIdProvider {
        let folder = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/oidc");
        assert!(
            folder.join("node_modules/oidc-provider").exists(),
            "the sign-in tests need the npm package oidc-provider: run `npm ci --prefix {}` (.ci/run does; Node.js from `apt-get install -y nodejs npm`)",
            folder.display()
        );
        let mut child = Command::new("node")
            .arg("provider.mjs")
            .current_dir(&folder)
            .env("REDIRECT", redirect)
            .env("GROUPS", groups.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("node runs (apt-get install -y nodejs; .ci/run installs it)");
        let mut line = String::new();
        std::io::BufRead::read_line(
            &mut std::io::BufReader::new(child.stdout.as_mut().unwrap()),
            &mut line,
        )
        .unwrap();
        let issuer = serde_json::from_str::<Value>(&line)
            .unwrap_or_else(|e| panic!("the provider said {line:?}: {e}"))["issuer"]
            .as_str()
            .unwrap()
            .to_owned();
        OpenIdProvider { issuer, child }
    }
}

impl Drop for OpenIdProvider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The query parameters of a URL.
pub fn query_of(url: &str) -> BTreeMap<String, String> {
    let query = url.split_once('?').map(|(_, q)| q).unwrap_or_default();
    form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect()
}
