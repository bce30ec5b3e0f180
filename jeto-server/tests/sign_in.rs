//! Sign-in through an OpenID provider, against the real `jeto` binary over TCP, with a
//! provider of the test's own on loopback ([`FakeIdp`]) so that the test can mint every token,
//! wrong ones included: a session acts for the user and their team, and a cross-site request
//! with only its cookie is refused; ID and bearer tokens signed by another key, with
//! `alg: none`, for another audience, expired, or from another sign-in (nonce) are refused; a
//! state is good once; key rotation; sessions end; the bounds of sign-ins in progress.

mod common;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use common::identity::{query_of, FakeIdp, SigningKey};
use common::{start_server_top, ADMIN_KEY};
use http::Method;
use jeto_http::testing::{ServerProcess, TestClient};
use jeto_vagrant::fixture::FakeVagrant;
use serde_json::{json, Value};

const ANN: &str = "ann@example.test";

/// The server with `[oidc]` on `idp`: members of `devs` may join, `root@example.test` is admin.
fn server(fake: &FakeVagrant, data: &std::path::Path, idp: &FakeIdp, more: &str) -> ServerProcess {
    let oidc = format!(
        r#"
[oidc]
issuer = "{issuer}"
client_id = "jeto"
client_secret = "s3cret:&="
redirect_url = "http://127.0.0.1:1/auth/callback"
display_name = "Test ID"
groups_claim = "groups"
allowed_groups = ["devs"]
admin_users = ["root@example.test"]
{more}
"#,
        issuer = idp.issuer
    );
    start_server_top(fake, data, "", &oidc)
}

/// A sign-in in progress: what `/auth/login` gave the browser.
struct Started {
    state: String,
    nonce: String,
    browser_cookie: String,
}

async fn start_sign_in(client: &TestClient, idp: &FakeIdp) -> Started {
    let login = client.get("/auth/login").await;
    assert_eq!(login.status, 303, "{}", login.text());
    let location = login.header("location").unwrap().to_owned();
    assert!(
        location.starts_with(&format!("{}/authorize?", idp.issuer)),
        "{location}"
    );
    let query = query_of(&location);
    assert_eq!(query["response_type"], "code");
    assert_eq!(query["code_challenge_method"], "S256");
    assert_eq!(query["client_id"], "jeto");
    assert!(query["scope"].split(' ').any(|s| s == "openid"));
    idp.expect_challenge(&query["code_challenge"]);
    let cookie = login.header("set-cookie").unwrap();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
    Started {
        state: query["state"].clone(),
        nonce: query["nonce"].clone(),
        browser_cookie: cookie.split(';').next().unwrap().to_owned(),
    }
}

/// Comes back from the provider; the answer.
async fn come_back(client: &TestClient, started: &Started) -> jeto_http::testing::TestResponse {
    client
        .send(
            Method::GET,
            &format!("/auth/callback?code=the-code&state={}", started.state),
            &[("cookie", &started.browser_cookie)],
            "",
        )
        .await
}

/// The session and CSRF cookies of a successful sign-in.
fn session_of(answer: &jeto_http::testing::TestResponse) -> (String, String) {
    assert_eq!(answer.status, 303, "{}", answer.text());
    let cookies: Vec<&str> = answer
        .headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect();
    let value = |name: &str| {
        let cookie = cookies
            .iter()
            .find(|c| c.starts_with(&format!("{name}=")))
            .unwrap_or_else(|| panic!("no {name} cookie in {cookies:?}"));
        (
            cookie.to_string(),
            cookie
                .split(';')
                .next()
                .unwrap()
                .split_once('=')
                .unwrap()
                .1
                .to_owned(),
        )
    };
    let (session_cookie, session) = value("jeto_session");
    assert!(session_cookie.contains("HttpOnly") && session_cookie.contains("SameSite=Lax"));
    let (csrf_cookie, csrf) = value("jeto_csrf");
    assert!(!csrf_cookie.contains("HttpOnly"), "the page reads it");
    (session, csrf)
}

async fn sign_in(
    client: &TestClient,
    idp: &FakeIdp,
    key: &SigningKey,
    name: &str,
    groups: &[&str],
) -> (String, String) {
    let started = start_sign_in(client, idp).await;
    idp.answer_with(key.sign(&key.kid, &idp.claims(name, &started.nonce, groups)));
    session_of(&come_back(client, &started).await)
}

fn with_session(session: &str) -> String {
    format!("jeto_session={session}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_acts_for_its_user_and_team_and_refuses_requests_from_other_sites() {
    let fake = FakeVagrant::new();
    let data = tempfile::tempdir().unwrap();
    let idp = FakeIdp::start().await;
    let key = SigningKey::generate("k1");
    idp.publish(&[&key]);
    let server = server(&fake, data.path(), &idp, "");
    let admin = TestClient::new(server.address, Some(ADMIN_KEY));
    let devs = admin
        .post(
            "/api/teams",
            &json!({"name": "devs", "grants": {"hosts": [1], "actions": ["status"]}}),
        )
        .await;
    assert_eq!(devs.status, 201, "{}", devs.text());
    let anonymous = TestClient::new(server.address, None);
    assert_eq!(
        anonymous.get("/auth/config").await.json()["oidc"]["name"],
        "Test ID"
    );

    let (session, csrf) = sign_in(&anonymous, &idp, &key, ANN, &["devs"]).await;
    // The client secret went form-encoded in basic auth (RFC 6749 2.3.1).
    let basic = idp.token_calls().pop().unwrap();
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(basic.strip_prefix("Basic ").unwrap())
        .unwrap();
    assert_eq!(String::from_utf8(decoded).unwrap(), "jeto:s3cret%3A%26%3D");
    let cookie = with_session(&session);
    let me = anonymous
        .send(Method::GET, "/api/me", &[("cookie", &cookie)], "")
        .await;
    assert_eq!(me.status, 200, "{}", me.text());
    let me = me.json();
    assert_eq!(me["name"], format!("{ANN} (sign-in)"));
    assert_eq!(me["teams"], json!(["devs"]));
    assert_eq!(me["hosts"], json!([1]));
    assert_eq!(me["admin"], false);
    assert!(me["expires_at"].is_string());

    // A cross-site POST carries the cookie but cannot carry the CSRF header.
    let forged = anonymous
        .send(
            Method::POST,
            "/api/keys",
            &[("cookie", &cookie), ("content-type", "application/json")],
            r#"{"name":"stolen"}"#,
        )
        .await;
    assert_eq!(forged.status, 403, "{}", forged.text());
    assert_eq!(forged.json()["error"]["code"], "csrf");
    let wrong = anonymous
        .send(
            Method::POST,
            "/api/keys",
            &[
                ("cookie", &cookie),
                ("x-jeto-csrf", "0000"),
                ("content-type", "application/json"),
            ],
            r#"{"name":"stolen"}"#,
        )
        .await;
    assert_eq!(wrong.status, 403);
    let made = anonymous
        .send(
            Method::POST,
            "/api/keys",
            &[
                ("cookie", &cookie),
                ("x-jeto-csrf", &csrf),
                ("content-type", "application/json"),
            ],
            r#"{"name":"laptop"}"#,
        )
        .await;
    assert_eq!(made.status, 201, "{}", made.text());
    // The audit names the user and how she signed in.
    let audit = admin.get("/api/audit?limit=20").await.json();
    let entries = audit
        .as_array()
        .or_else(|| audit["entries"].as_array())
        .unwrap()
        .clone();
    assert!(entries
        .iter()
        .any(|e| e["principal"] == format!("{ANN} (sign-in)") && e["status"] == 201));
    assert!(entries
        .iter()
        .any(|e| e["route"] == "/auth/callback" && e["status"] == 303));

    // Out of the team: the next request sees nothing of host 1.
    let team_id = devs.json()["id"].as_u64().unwrap();
    let removed = admin
        .put(&format!("/api/teams/{team_id}"), &json!({"name": "ops"}))
        .await;
    assert_eq!(removed.status, 200, "{}", removed.text());
    let me = anonymous
        .send(Method::GET, "/api/me", &[("cookie", &cookie)], "")
        .await
        .json();
    assert_eq!(me["hosts"], json!([]));

    // Signing out needs the CSRF token too; then the cookie is refused.
    let forged_out = anonymous
        .send(Method::POST, "/auth/logout", &[("cookie", &cookie)], "")
        .await;
    assert_eq!(forged_out.status, 403);
    let out = anonymous
        .send(
            Method::POST,
            "/auth/logout",
            &[("cookie", &cookie), ("x-jeto-csrf", &csrf)],
            "",
        )
        .await;
    assert_eq!(out.status, 204);
    let after = anonymous
        .send(Method::GET, "/api/me", &[("cookie", &cookie)], "")
        .await;
    assert_eq!(after.status, 401);
    assert!(after.text().contains("sign in again"), "{}", after.text());

    // The configured admin is admin; a stranger in no allowed group is not let in.
    let (root, _) = sign_in(&anonymous, &idp, &key, "root@example.test", &[]).await;
    let me = anonymous
        .send(
            Method::GET,
            "/api/me",
            &[("cookie", &with_session(&root))],
            "",
        )
        .await
        .json();
    assert_eq!(me["admin"], true);
    let started = start_sign_in(&anonymous, &idp).await;
    idp.answer_with(key.sign(
        "k1",
        &idp.claims("eve@example.test", &started.nonce, &["others"]),
    ));
    let refused = come_back(&anonymous, &started).await;
    assert_eq!(refused.status, 403, "{}", refused.text());
    assert!(
        refused.text().contains("ask an admin to add the user"),
        "{}",
        refused.text()
    );
    assert!(refused
        .header("set-cookie")
        .is_none_or(|c| !c.contains("jeto_session=")));
}

/// Signs `claims` (a JSON object) with `alg: none`: no signature at all.
fn unsigned(claims: &Value) -> String {
    let part = |v: &Value| URL_SAFE_NO_PAD.encode(v.to_string());
    format!(
        "{}.{}.",
        part(&json!({"alg": "none", "kid": "k1"})),
        part(claims)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_expired_and_replayed_tokens_are_refused() {
    let fake = FakeVagrant::new();
    let data = tempfile::tempdir().unwrap();
    let idp = FakeIdp::start().await;
    let key = SigningKey::generate("k1");
    let stranger = SigningKey::generate("k1");
    idp.publish(&[&key]);
    let server = server(&fake, data.path(), &idp, "");
    let client = TestClient::new(server.address, None);
    let now = time::OffsetDateTime::now_utc().unix_timestamp();

    type Forge = Box<dyn Fn(&FakeIdp, &str) -> String>;
    // A good token's claims, changed by `change`, signed by the published key.
    let changed = |change: fn(&mut Value, i64)| -> Forge {
        let key = key.clone();
        Box::new(move |idp, nonce| {
            let mut claims = idp.claims(ANN, nonce, &["devs"]);
            change(&mut claims, now);
            key.sign("k1", &claims)
        })
    };
    let cases: Vec<(&str, &str, Forge)> = vec![
        (
            "signed with another key under the published key's id",
            "not signed by the provider",
            Box::new(move |idp, nonce| stranger.sign("k1", &idp.claims(ANN, nonce, &["devs"]))),
        ),
        (
            "with alg none",
            "unknown variant `none`",
            Box::new(|idp, nonce| unsigned(&idp.claims(ANN, nonce, &["devs"]))),
        ),
        (
            "for another audience",
            "another audience",
            changed(|c, _| c["aud"] = json!("another-client")),
        ),
        (
            "expired",
            "has expired",
            changed(|c, now| c["exp"] = json!(now - 600)),
        ),
        (
            "from another sign-in",
            "nonce differs",
            changed(|c, _| c["nonce"] = json!("an-earlier-nonce")),
        ),
        (
            "from another issuer",
            "another issuer",
            changed(|c, _| c["iss"] = json!("https://evil.example")),
        ),
        (
            "with an unverified address",
            "not verified",
            changed(|c, _| c["email_verified"] = json!(false)),
        ),
    ];
    for (what, why, forge) in &cases {
        let started = start_sign_in(&client, &idp).await;
        idp.answer_with(forge(&idp, &started.nonce));
        let answer = come_back(&client, &started).await;
        assert_eq!(answer.status, 403, "an ID token {what}: {}", answer.text());
        assert!(
            answer.text().contains(why),
            "an ID token {what}: {}",
            answer.text()
        );
        let cookies: Vec<_> = answer.headers.get_all("set-cookie").iter().collect();
        assert!(
            cookies
                .iter()
                .all(|c| !c.to_str().unwrap().starts_with("jeto_session=")),
            "{what}"
        );
    }

    // A state is good once: the same answer again is refused, even with a good token.
    let started = start_sign_in(&client, &idp).await;
    idp.answer_with(key.sign("k1", &idp.claims(ANN, &started.nonce, &["devs"])));
    session_of(&come_back(&client, &started).await);
    idp.answer_with(key.sign("k1", &idp.claims(ANN, &started.nonce, &["devs"])));
    let replayed = come_back(&client, &started).await;
    assert_eq!(replayed.status, 400, "{}", replayed.text());
    assert!(
        replayed.text().contains("used already"),
        "{}",
        replayed.text()
    );
    // An answer brought to another browser (no cookie of the sign-in) is refused.
    let started = start_sign_in(&client, &idp).await;
    idp.answer_with(key.sign("k1", &idp.claims(ANN, &started.nonce, &["devs"])));
    let elsewhere = client
        .get(&format!(
            "/auth/callback?code=the-code&state={}",
            started.state
        ))
        .await;
    assert_eq!(elsewhere.status, 400, "{}", elsewhere.text());
    assert!(elsewhere.text().contains("another browser"));

    // Bearer tokens on the API, checked the same way.
    let bearer = |token: String| {
        let client = client.clone();
        async move {
            client
                .send(
                    Method::GET,
                    "/api/me",
                    &[("authorization", &format!("Bearer {token}"))],
                    "",
                )
                .await
        }
    };
    let mut claims = idp.claims(ANN, "", &["devs"]);
    claims.as_object_mut().unwrap().remove("nonce");
    let good = bearer(key.sign("k1", &claims)).await;
    assert_eq!(good.status, 200, "{}", good.text());
    assert_eq!(good.json()["name"], format!("{ANN} (token)"));
    let stranger = SigningKey::generate("k1");
    assert_eq!(
        bearer(stranger.sign("k1", &claims)).await.status,
        401,
        "another key"
    );
    assert_eq!(bearer(unsigned(&claims)).await.status, 401, "alg none");
    let mut other = claims.clone();
    other["aud"] = json!("another-client");
    let refused = bearer(key.sign("k1", &other)).await;
    assert_eq!(refused.status, 401, "another audience");
    assert!(
        refused.text().contains("the bearer token was refused"),
        "{}",
        refused.text()
    );
    let mut expired = claims.clone();
    expired["exp"] = json!(now - 600);
    assert_eq!(
        bearer(key.sign("k1", &expired)).await.status,
        401,
        "expired"
    );
    // Every refusal is in the audit log.
    let admin = TestClient::new(server.address, Some(ADMIN_KEY));
    let audit = admin.get("/api/audit?limit=50").await.json().to_string();
    assert!(audit.contains("/api/me"), "{audit}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_rotate_sessions_end_and_sign_ins_in_progress_are_bounded() {
    let fake = FakeVagrant::new();
    let data = tempfile::tempdir().unwrap();
    let idp = FakeIdp::start().await;
    let old = SigningKey::generate("2026-old");
    idp.publish(&[&old]);
    let server = server(
        &fake,
        data.path(),
        &idp,
        "session_secs = 2\nmax_pending_sign_ins = 2",
    );
    let client = TestClient::new(server.address, None);
    let (session, _) = sign_in(&client, &idp, &old, ANN, &["devs"]).await;
    let reads = idp.jwks_reads();

    // The session ends after session_secs: refused, saying so.
    let cookie = with_session(&session);
    assert_eq!(
        client
            .send(Method::GET, "/api/me", &[("cookie", &cookie)], "")
            .await
            .status,
        200
    );
    tokio::time::sleep(std::time::Duration::from_millis(2200)).await;
    let ended = client
        .send(Method::GET, "/api/me", &[("cookie", &cookie)], "")
        .await;
    assert_eq!(ended.status, 401);
    assert!(
        ended.text().contains("sign-in has ended"),
        "{}",
        ended.text()
    );

    // The provider rotates: a token under the new key's id is checked against the keys read again.
    let new = SigningKey::generate("2026-new");
    idp.publish(&[&new]);
    sign_in(&client, &idp, &new, ANN, &["devs"]).await;
    assert_eq!(idp.jwks_reads(), reads + 1, "the keys were read again once");
    // Ids nobody publishes cost at most one read every 2 seconds, and are refused.
    for _ in 0..3 {
        let started = start_sign_in(&client, &idp).await;
        idp.answer_with(new.sign(
            "never-published",
            &idp.claims(ANN, &started.nonce, &["devs"]),
        ));
        let answer = come_back(&client, &started).await;
        assert_eq!(answer.status, 403, "{}", answer.text());
        assert!(
            answer.text().contains("does not publish"),
            "{}",
            answer.text()
        );
    }
    assert!(idp.jwks_reads() <= reads + 2, "{} reads", idp.jwks_reads());

    // Two sign-ins in progress at most: a third is answered 429, naming the setting.
    start_sign_in(&client, &idp).await;
    start_sign_in(&client, &idp).await;
    let third = client.get("/auth/login").await;
    assert_eq!(third.status, 429, "{}", third.text());
    assert!(
        third.text().contains("max_pending_sign_ins"),
        "{}",
        third.text()
    );
}
