//! The dashboard in a real headless Chromium (Debian's `chromium` and `chromium-driver`),
//! driven through WebDriver (fantoccini), against the real `jeto` binary over the fixture
//! provider: sign in, the list, starting a machine, a console streaming while its command
//! runs, cancel, a tenant's view, a refused action, the first paint of 1,000 instances, and
//! the API restarted underneath the page.
//!
//! With `JETO_SCREENSHOTS=<folder>` the tests also save the screenshots of docs/dashboard.md there.

mod common;

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::identity::OpenIdProvider;
use common::tls::TestCa;
use common::{register, start_server_top, start_server_with, ADMIN_KEY, CI_KEY};
use fantoccini::{Client, ClientBuilder, Locator};
use jeto_http::testing::{ServerProcess, TestClient};
use jeto_vagrant::fixture::FakeVagrant;
use serde_json::json;

/// One browser at a time: Chromium is heavy on a 2-core machine.
static BROWSER: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// `chromedriver` on a free loopback port and a headless Chromium session through it.
struct Browser {
    client: Client,
    driver: Child,
    _profile: tempfile::TempDir,
}

fn installed(paths: &[&str]) -> Option<PathBuf> {
    paths.iter().map(PathBuf::from).find(|p| p.exists())
}

impl Browser {
    async fn start() -> Browser {
        Browser::start_with(&[]).await
    }

    /// A browser with more command-line switches.
    async fn start_with(switches: &[String]) -> Browser {
        let chromium = installed(&["/usr/bin/chromium", "/usr/bin/chromium-browser"]).expect(
            "the dashboard tests need Chromium: apt-get install -y chromium chromium-driver (.ci/run installs them)",
        );
        let chromedriver = installed(&["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"])
            .expect("the dashboard tests need chromedriver: apt-get install -y chromium-driver (.ci/run installs it)");
        let port = jeto_vagrant::fixture::free_port();
        let driver = Command::new(chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "chromedriver did not listen in 20 s"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        let profile = tempfile::tempdir().unwrap();
        let capabilities = json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium,
                // As the machine's probe runs it: no network beyond loopback is reachable.
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--disable-quic", "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync", "--window-size=1280,900",
                    format!("--user-data-dir={}", profile.path().display()),
                ],
            },
        });
        let mut capabilities = capabilities;
        if let Some(args) = capabilities["goog:chromeOptions"]["args"].as_array_mut() {
            args.extend(switches.iter().cloned().map(serde_json::Value::from));
        }
        let serde_json::Value::Object(capabilities) = capabilities else {
            unreachable!()
        };
        let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(capabilities)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
            .expect("a Chromium session");
        Browser {
            client,
            driver,
            _profile: profile,
        }
    }

    /// Waits (15 s at most) until an element matching `css` exists; it.
    async fn find(&self, css: &str) -> fantoccini::elements::Element {
        self.client
            .wait()
            .at_most(Duration::from_secs(15))
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no {css} in 15 s: {e}"))
    }

    /// The text of the first element matching `css`, or "" when there is none.
    async fn text(&self, css: &str) -> String {
        match self.client.find(Locator::Css(css)).await {
            Ok(element) => element.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        }
    }

    /// Waits (`seconds` at most) until the text of `css` contains `wanted`.
    async fn wait_text(&self, css: &str, wanted: &str, seconds: u64) -> String {
        let deadline = Instant::now() + Duration::from_secs(seconds);
        loop {
            let text = self.text(css).await;
            if text.contains(wanted) {
                return text;
            }
            if Instant::now() >= deadline {
                let error = self.text("#error").await;
                let status = self.text("#console-status").await;
                panic!("{css} never said {wanted:?} in {seconds} s; it says {text:?} (error: {error:?}, console status: {status:?})");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Clicks the element matching `css`; found again when the page redrew it between the
    /// finding and the click (pages redraw when an event arrives).
    async fn click(&self, css: &str) {
        for _ in 0..20 {
            match self.find(css).await.click().await {
                Ok(()) => return,
                Err(fantoccini::error::CmdError::Standard(e))
                    if e.error == fantoccini::error::ErrorStatus::StaleElementReference =>
                {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(error) => panic!("clicking {css}: {error}"),
            }
        }
        panic!("{css} was redrawn under every click");
    }

    async fn sign_in(&self, address: std::net::SocketAddr, key: &str) {
        self.sign_in_at(&format!("http://{address}"), key).await;
    }

    /// Signs in with `key` at the dashboard at `base` (`https://127.0.0.1:PORT`).
    async fn sign_in_at(&self, base: &str, key: &str) {
        self.client.goto(&format!("{base}/#/signin")).await.unwrap();
        let input = self.find("input[name=key]").await;
        input.clear().await.unwrap();
        input.send_keys(key).await.unwrap();
        self.click("form.signin button[type=submit]").await;
    }

    /// Saves a screenshot for docs/dashboard.md when `JETO_SCREENSHOTS` names a folder.
    async fn screenshot(&self, name: &str) {
        if let Some(dir) = std::env::var_os("JETO_SCREENSHOTS") {
            let png = self.client.screenshot().await.unwrap();
            std::fs::write(Path::new(&dir).join(name), png).unwrap();
        }
    }

    async fn close(mut self) {
        let _ = self.client.clone().close().await;
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// Stops `server` under the open page, checks that the page says the connection is lost,
/// starts the server again on the same address with `config`, and waits until the page says
/// nothing any more (it reconnected by itself).
async fn restart_underneath(
    browser: &Browser,
    mut server: ServerProcess,
    config: &Path,
) -> ServerProcess {
    let address = server.address.to_string();
    assert!(server.terminate());
    browser
        .wait_text("#connection", "connection to the server is lost", 20)
        .await;
    let server = ServerProcess::start(
        env!("CARGO_BIN_EXE_jeto"),
        &["--config", config.to_str().unwrap(), "--listen", &address],
        &[],
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    while browser
        .find("#connection")
        .await
        .is_displayed()
        .await
        .unwrap()
    {
        assert!(Instant::now() < deadline, "the page never reconnected");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    server
}

/// A folder whose `count` script prints a line a second for 6 s.
fn counting_folder(fake: &FakeVagrant, name: &str) -> PathBuf {
    let folder = fake.another_single(name);
    std::fs::write(
        folder.join("jeto.json"),
        r#"{"scripts": {
            "count": {"command": "for i in 1 2 3 4 5 6; do echo line-$i; sleep 1; done"},
            "slow": {"command": "echo slow-start; sleep 60; echo slow-end"}
        }}"#,
    )
    .unwrap();
    folder
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_start_a_machine_watch_a_console_and_cancel() {
    let _one = BROWSER.lock().await;
    let fake = FakeVagrant::new();
    let dir = tempfile::tempdir().unwrap();
    let server = start_server_with(&fake, dir.path(), "");
    let admin = TestClient::new(server.address, Some(ADMIN_KEY));
    let id = register(&admin, "web", 1, &counting_folder(&fake, "web")).await;
    register(&admin, "shop", 1, &fake.multi()).await;
    register(&admin, "batch", 2, &fake.another_single("batch")).await;
    let browser = Browser::start().await;

    // A wrong key is refused, with what to do.
    browser.sign_in(server.address, "not-a-key").await;
    let error = browser.wait_text("#error", "401", 15).await;
    assert!(
        error.contains("Sign in again") || error.contains("refused"),
        "{error}"
    );
    browser.screenshot("dashboard-signin.png").await;

    // The right one shows the instances, with their machines' states.
    browser.sign_in(server.address, ADMIN_KEY).await;
    browser.wait_text("#instance-rows", "web", 15).await;
    browser.wait_text("#who", "Signed in as admin", 5).await;
    // States never read are read for the rows shown.
    browser.wait_text("#instance-rows", "not created", 30).await;

    // Start: the machine's state changes on the page.
    browser.click(&format!("tr[data-instance='{id}'] a")).await;
    browser.click("button[data-action=start]").await;
    browser
        .wait_text("tr[data-machine=default]", "running", 30)
        .await;

    // A script's console streams while it runs.
    browser.click("button[data-script=count]").await;
    let live = browser.wait_text("#console", "line-2", 20).await;
    assert!(
        !live.contains("line-6"),
        "seen while running, not at the end: {live:?}"
    );
    let status = browser.text("#console-status").await;
    assert!(status.contains("running"), "{status}");
    browser.screenshot("dashboard-console.png").await;
    browser.wait_text("#console", "line-6", 20).await;
    browser.wait_text("#console-status", "succeeded", 20).await;

    // Cancel a slow one.
    browser.click("button[data-script=slow]").await;
    browser.wait_text("#console", "slow-start", 20).await;
    browser.click("#cancel").await;
    browser.wait_text("#console-status", "cancelled", 30).await;

    // Back on the list, the machine's new state.
    browser.click("#nav a[href='#/instances']").await;
    browser.wait_text("#instance-rows", "running", 15).await;
    browser.screenshot("dashboard-instances.png").await;
    let command = admin
        .get(&format!("/api/instances/{id}/commands"))
        .await
        .json();
    let slow = command
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["script"] == "slow")
        .unwrap();
    assert_eq!(slow["status"], "cancelled", "{slow}");

    // Hosts, projects, and the create form.
    browser.click("#nav a[href='#/hosts']").await;
    let hosts = browser.wait_text("#host-rows", "hanging", 15).await;
    assert!(hosts.contains("runs on the server"), "{hosts}");
    browser.click("#nav a[href='#/projects']").await;
    browser.find("#project-rows").await;
    browser.click("#nav a[href='#/new']").await;
    let folder = fake.another_single("made-here");
    browser
        .find("form.card input[type=text]")
        .await
        .send_keys("made-here")
        .await
        .unwrap();
    browser.find("#source-path").await.click().await.unwrap();
    let inputs = browser
        .client
        .find_all(Locator::Css("form.card input[type=text]"))
        .await
        .unwrap();
    inputs[1]
        .send_keys(&folder.display().to_string())
        .await
        .unwrap();
    browser.click("form.card button[type=submit]").await;
    browser.wait_text("main h1", "made-here", 15).await;
    // Destroy asks first; keeping it changes nothing, confirming removes it.
    browser.click("#destroy").await;
    browser.wait_text(".confirm", "cannot be undone", 5).await;
    browser.click(".confirm button:not(#destroy-confirm)").await;
    browser.find("#destroy").await;
    browser.click("#destroy").await;
    browser.click("#destroy-confirm").await;
    let list = browser.wait_text("#instance-rows", "web", 30).await;
    assert!(!list.contains("made-here"), "{list}");

    // Readable at 375 px: nothing wider than the screen but the tables' own scrolling.
    browser.client.set_window_size(375, 812).await.unwrap();
    let wide: i64 = browser
        .client
        .execute("return document.documentElement.scrollWidth", vec![])
        .await
        .unwrap()
        .as_i64()
        .unwrap();
    let inner: i64 = browser
        .client
        .execute("return window.innerWidth", vec![])
        .await
        .unwrap()
        .as_i64()
        .unwrap();
    assert!(
        wide <= inner,
        "the page scrolls sideways at {inner} px: {wide} px wide"
    );
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_sees_its_hosts_only_and_a_refused_action_is_shown() {
    let _one = BROWSER.lock().await;
    let fake = FakeVagrant::new();
    let dir = tempfile::tempdir().unwrap();
    let server = start_server_with(&fake, dir.path(), "");
    let admin = TestClient::new(server.address, Some(ADMIN_KEY));
    let mine = register(&admin, "mine", 1, &counting_folder(&fake, "mine")).await;
    let theirs = register(&admin, "theirs", 2, &counting_folder(&fake, "theirs")).await;
    // A hostile name is shown as text, never run as markup.
    let hostile = r#"<img src=x onerror="window.jetoPwned=1">bad"#;
    let ci = TestClient::new(server.address, Some(CI_KEY));
    let created = ci
        .post(
            "/api/instances",
            &json!({"name": hostile, "host": 1, "path": fake.another_single("hostile").display().to_string()}),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text());
    let browser = Browser::start().await;

    // The ci key is granted host 1 for status, start, stop, runScript and create. Signed in
    // with the keyboard only: the key field has the focus, Enter submits.
    browser
        .client
        .goto(&format!("http://{}/", server.address))
        .await
        .unwrap();
    browser.find("input[name=key]").await;
    let focused = browser.client.active_element().await.unwrap();
    assert_eq!(focused.attr("name").await.unwrap().as_deref(), Some("key"));
    focused
        .send_keys(&format!(
            "{CI_KEY}{}",
            char::from(fantoccini::key::Key::Enter)
        ))
        .await
        .unwrap();
    let list = browser.wait_text("#instance-rows", "mine", 15).await;
    assert!(!list.contains("theirs"), "{list}");
    assert!(list.contains(hostile), "shown literally: {list}");
    let pwned = browser
        .client
        .execute("return window.jetoPwned === undefined", vec![])
        .await
        .unwrap();
    assert_eq!(pwned, json!(true), "a name ran as markup");
    browser
        .client
        .goto(&format!("http://{}/#/instances/{theirs}", server.address))
        .await
        .unwrap();
    let error = browser.wait_text("#error", "404", 15).await;
    assert!(error.contains("cannot see it"), "{error}");

    // Only the granted actions are offered.
    browser
        .client
        .goto(&format!("http://{}/#/instances/{mine}", server.address))
        .await
        .unwrap();
    browser.find("button[data-action=start]").await;
    for absent in ["provision", "reload", "rsync"] {
        assert!(
            browser
                .client
                .find(Locator::Css(&format!("button[data-action={absent}]")))
                .await
                .is_err(),
            "{absent} is offered to a key without it"
        );
    }
    assert!(browser.client.find(Locator::Css("#destroy")).await.is_err());

    // The admin takes `start` away (the server restarts with the new grant) while the page is
    // open: the page reconnects, and the refusal is shown with what to do.
    let config = dir.path().join("jeto.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    let narrowed = text.replace(
        r#"actions = ["status", "start", "stop", "runScript", "create"]"#,
        r#"actions = ["status", "stop", "runScript", "create"]"#,
    );
    assert_ne!(text, narrowed);
    std::fs::write(&config, narrowed).unwrap();
    let _server = restart_underneath(&browser, server, &config).await;
    browser.click("button[data-action=start]").await;
    let error = browser.wait_text("#error", "403", 15).await;
    assert!(error.contains("Could not run start"), "{error}");
    assert!(error.contains("Ask an admin"), "{error}");
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_paint_of_1000_instances_and_an_api_restart_underneath() {
    let _one = BROWSER.lock().await;
    let fake = FakeVagrant::new();
    let dir = tempfile::tempdir().unwrap();
    let server = start_server_with(&fake, dir.path(), "");
    let admin = TestClient::new(server.address, Some(ADMIN_KEY));
    for n in 0..1000 {
        let name = format!("i{n:04}");
        register(&admin, &name, 1 + n % 2, &fake.another_single(&name)).await;
    }
    let browser = Browser::start().await;
    browser.sign_in(server.address, ADMIN_KEY).await;
    browser.find("#instance-rows[data-painted]").await;

    // Measured on a fresh load of the page (the key stays for the tab's session).
    browser
        .client
        .goto(&format!("http://{}/#/instances", server.address))
        .await
        .unwrap();
    browser.client.refresh().await.unwrap();
    browser.find("#instance-rows[data-painted]").await;
    let painted = browser
        .client
        .execute(
            "return performance.getEntriesByName('jeto-instances-painted')[0].startTime",
            vec![],
        )
        .await
        .unwrap()
        .as_f64()
        .unwrap();
    let rows = browser
        .client
        .find_all(Locator::Css("#instance-rows tr"))
        .await
        .unwrap()
        .len();
    println!("first paint of {rows} instances: {painted:.0} ms after navigation start");
    assert_eq!(rows, 1000);
    assert!(painted < 1000.0, "first paint took {painted:.0} ms");

    // Filters: by host and by name.
    browser
        .find("#filter-name")
        .await
        .send_keys("i099")
        .await
        .unwrap();
    browser
        .wait_text(".summary", "10 of 1000 instances", 10)
        .await;

    // The API restarts underneath the page: it says so, then carries on by itself.
    let config = dir.path().join("jeto.toml");
    let _server = restart_underneath(&browser, server, &config).await;
    browser
        .wait_text(".summary", "10 of 1000 instances", 10)
        .await;
    browser.close().await;
}

/// Issue 25, "my keys": a user signs in with a key an admin made for them, makes a key of
/// their own (shown once, working at once) and revokes it (refused at once).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_makes_and_revokes_a_key_of_their_own() {
    let _one = BROWSER.lock().await;
    let fake = FakeVagrant::new();
    let dir = tempfile::tempdir().unwrap();
    let server = start_server_with(&fake, dir.path(), "");
    let admin = TestClient::new(server.address, Some(ADMIN_KEY));
    let ann = admin
        .post(
            "/api/users",
            &json!({"name": "ann", "grants": {"hosts": [1], "actions": ["status"]}}),
        )
        .await
        .json();
    let laptop = admin
        .post("/api/keys", &json!({"name": "laptop", "user": ann["id"]}))
        .await
        .json();
    let browser = Browser::start().await;
    browser
        .sign_in(server.address, laptop["key"].as_str().unwrap())
        .await;
    browser
        .wait_text("#who", "Signed in as ann (key laptop)", 15)
        .await;
    browser.click("#nav a[href='#/keys']").await;
    browser.wait_text("#key-rows", "laptop", 15).await;

    let name = browser.find("#new-key input[type=text]").await;
    name.send_keys("from-browser").await.unwrap();
    browser.click("#new-key button[type=submit]").await;
    let made = browser.wait_text("#new-key-value", "jeto_", 15).await;
    browser.wait_text("#key-rows", "from-browser", 15).await;
    browser.screenshot("dashboard-keys.png").await;
    let as_new = TestClient::new(server.address, Some(made.trim()));
    let me = as_new.get("/api/me").await;
    assert_eq!(me.status, 200, "{}", me.text());
    assert_eq!(me.json()["name"], "ann (key from-browser)");

    let id = me.json()["key"].as_u64().unwrap();
    browser
        .click(&format!("tr[data-key='{id}'] button.revoke"))
        .await;
    let deadline = Instant::now() + Duration::from_secs(15);
    while browser.text("#key-rows").await.contains("from-browser") {
        assert!(Instant::now() < deadline, "the revoked key is still listed");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(as_new.get("/api/me").await.status, 401);
    browser.close().await;
}

/// Issue 25, sign-in with the team's identity provider: the real `oidc-provider` (npm registry)
/// on loopback. Ann signs in through its login and consent pages, sees exactly what her team
/// (named by the provider's groups claim) grants, signs out (her session cookie is refused
/// from then on), signs in again, and is sent back to the sign-in page once the session ends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_with_the_identity_provider_shows_what_the_team_grants() {
    let _one = BROWSER.lock().await;
    let fake = FakeVagrant::new();
    let dir = tempfile::tempdir().unwrap();
    let port = jeto_vagrant::fixture::free_port();
    let provider = OpenIdProvider::start(
        &format!("http://127.0.0.1:{port}/auth/callback"),
        &json!({"ann": ["devs"]}),
    );
    let oidc = format!(
        r#"
[oidc]
issuer = "{issuer}"
client_id = "jeto"
client_secret = "jeto-test-secret"
redirect_url = "http://127.0.0.1:{port}/auth/callback"
display_name = "Test ID"
groups_claim = "groups"
allowed_groups = ["devs"]
session_secs = 12
"#,
        issuer = provider.issuer
    );
    let server = start_server_top(
        &fake,
        dir.path(),
        &format!("listen = \"127.0.0.1:{port}\""),
        &oidc,
    );
    let admin = TestClient::new(server.address, Some(ADMIN_KEY));
    let team = admin
        .post(
            "/api/teams",
            &json!({"name": "devs", "grants": {"hosts": [1], "actions": ["status"]}}),
        )
        .await;
    assert_eq!(team.status, 201, "{}", team.text());
    register(
        &admin,
        "granted-to-devs",
        1,
        &fake.another_single("granted-to-devs"),
    )
    .await;
    register(
        &admin,
        "not-for-devs",
        2,
        &fake.another_single("not-for-devs"),
    )
    .await;

    let browser = Browser::start().await;
    let through_the_provider = |browser: &Browser| {
        let client = browser.client.clone();
        async move {
            client
                .goto(&format!("http://127.0.0.1:{port}/#/signin"))
                .await
                .unwrap();
            let button = client
                .wait()
                .at_most(Duration::from_secs(15))
                .for_element(Locator::Css("#provider-sign-in"))
                .await
                .expect("the sign-in page offers the provider");
            assert_eq!(button.text().await.unwrap(), "Sign in with Test ID");
            button.click().await.unwrap();
            // The provider's own pages: its login form (any password), then its consent;
            // neither when it remembers the person from a sign-in before.
            let jeto = format!("http://127.0.0.1:{port}/");
            let deadline = Instant::now() + Duration::from_secs(20);
            loop {
                let url = client.current_url().await.unwrap();
                if url.as_str().starts_with(&jeto) {
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "never sent back to jeto; at {url}: {}",
                    client.source().await.unwrap_or_default()
                );
                if let Ok(login) = client.find(Locator::Css("input[name=login]")).await {
                    let _ = login.send_keys("ann").await;
                    if let Ok(password) = client.find(Locator::Css("input[name=password]")).await {
                        let _ = password.send_keys("any").await;
                    }
                }
                if let Ok(submit) = client.find(Locator::Css("button[type=submit]")).await {
                    let _ = submit.click().await;
                }
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
        }
    };
    through_the_provider(&browser).await;
    browser
        .wait_text("#who", "Signed in as ann@example.test (sign-in)", 15)
        .await;
    browser.wait_text("main", "granted-to-devs", 15).await;
    assert!(
        !browser.text("main").await.contains("not-for-devs"),
        "host 2 is not the team's"
    );
    browser.screenshot("dashboard-sign-in.png").await;
    let session = browser
        .client
        .get_named_cookie("jeto_session")
        .await
        .expect("the session cookie")
        .value()
        .to_owned();
    let cookie = format!("jeto_session={session}");
    let outside = TestClient::new(server.address, None);
    let me = outside
        .send(http::Method::GET, "/api/me", &[("cookie", &cookie)], "")
        .await;
    assert_eq!(me.json()["teams"], json!(["devs"]), "{}", me.text());

    browser.click("#signout").await;
    browser.find("#provider-sign-in").await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while outside
        .send(http::Method::GET, "/api/me", &[("cookie", &cookie)], "")
        .await
        .status
        != 401
    {
        assert!(
            Instant::now() < deadline,
            "the session outlived its sign-out"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Again; then the session ends (session_secs) and the page asks to sign in again.
    through_the_provider(&browser).await;
    let signed_in = Instant::now();
    browser.wait_text("#who", "ann@example.test", 15).await;
    tokio::time::sleep(
        Duration::from_secs(12).saturating_sub(signed_in.elapsed()) + Duration::from_millis(500),
    )
    .await;
    // The list it shows is refreshed every few seconds; the first refresh refused says so.
    browser
        .wait_text("main", "Your sign-in has ended", 15)
        .await;
    browser.close().await;
    drop(provider);
}

/// Issue 25, what admins configure, changed from the page: a user and a team on the People
/// page (the team's grants reach the user's key at once), a host renamed, a host still in use
/// refused removal with the count, and an instance renamed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_changes_people_hosts_and_instances_from_the_page() {
    let _one = BROWSER.lock().await;
    let fake = FakeVagrant::new();
    let dir = tempfile::tempdir().unwrap();
    let server = start_server_with(&fake, dir.path(), "");
    let admin = TestClient::new(server.address, Some(ADMIN_KEY));
    let web = register(&admin, "web", 1, &fake.another_single("web")).await;
    let browser = Browser::start().await;
    browser.sign_in(server.address, ADMIN_KEY).await;
    browser.wait_text("#who", "Signed in as admin", 15).await;

    browser.click("#nav a[href='#/people']").await;
    let type_into = |css: &'static str, text: &'static str| {
        let browser = &browser;
        async move { browser.find(css).await.send_keys(text).await.unwrap() }
    };
    type_into("input[name=user-name]", "ann").await;
    type_into("input[name=user-hosts]", "1").await;
    type_into("input[name=user-actions]", "status").await;
    browser.click("#user-form button[type=submit]").await;
    browser.wait_text("#user-rows", "ann", 15).await;
    type_into("input[name=team-name]", "devs").await;
    type_into("input[name=team-members]", "ann").await;
    type_into("input[name=team-actions]", "start").await;
    type_into("input[name=team-quota-running]", "1").await;
    browser.click("#team-form button[type=submit]").await;
    browser.wait_text("#team-rows", "ann", 15).await;
    // The team's quota was saved, and its usage shows beside it.
    browser.wait_text("#team-rows", "running 0 of 1", 15).await;
    let teams = admin.get("/api/teams").await.json();
    assert_eq!(teams[0]["quota"], json!({"running": 1}), "{teams}");
    browser.screenshot("dashboard-people.png").await;
    let users = admin.get("/api/users").await.json();
    let ann = users[0]["id"].as_u64().unwrap();
    let key = admin
        .post("/api/keys", &json!({"name": "k", "user": ann}))
        .await
        .json();
    let me = TestClient::new(server.address, key["key"].as_str())
        .get("/api/me")
        .await
        .json();
    assert_eq!(me["teams"], json!(["devs"]), "{me}");
    assert_eq!(me["actions"], json!(["start", "status"]), "{me}");

    browser.click("#nav a[href='#/hosts']").await;
    browser.click("tr[data-host='2'] button.edit").await;
    let name = browser.find("input[name=host-name]").await;
    name.clear().await.unwrap();
    name.send_keys("renamed").await.unwrap();
    browser.click("#host-edit button[type=submit]").await;
    browser.wait_text("#host-rows", "renamed", 15).await;
    assert_eq!(admin.get("/api/hosts/2").await.json()["name"], "renamed");
    browser.click("tr[data-host='1'] button.remove").await;
    browser.client.accept_alert().await.unwrap();
    let refused = browser.wait_text("#error", "409", 15).await;
    assert!(refused.contains("1 instance"), "{refused}");
    assert_eq!(admin.get("/api/hosts/1").await.status, 200);

    browser
        .client
        .goto(&format!("http://{}/#/instances/{web}", server.address))
        .await
        .unwrap();
    type_into("input[name=change-name]", "web-2").await;
    browser.click("#instance-change button[type=submit]").await;
    let deadline = Instant::now() + Duration::from_secs(15);
    while admin.get(&format!("/api/instances/{web}")).await.json()["name"] != "web-2" {
        assert!(Instant::now() < deadline, "the instance was not renamed");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    browser.close().await;
}

/// Issue 26, the dashboard over HTTPS (`[tls]`, a certificate of a test CA; Chromium pins the
/// server's key): sign in, start a machine, and a script's console streaming live.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_works_over_https() {
    let _one = BROWSER.lock().await;
    let fake = FakeVagrant::new();
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new(dir.path());
    let server = start_server_top(&fake, dir.path(), "", &ca.table());
    let base = format!("https://127.0.0.1:{}", server.address.port());
    let folder = fake.another_single("web");
    let client = ca.client();
    let created = client
        .post(format!("{base}/api/instances"))
        .header("X-JETO-KEY", ADMIN_KEY)
        .json(&json!({"name": "web", "host": 1, "path": folder.display().to_string()}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let id = created.json::<serde_json::Value>().await.unwrap()["id"]
        .as_u64()
        .unwrap();
    let browser = Browser::start_with(&[format!(
        "--ignore-certificate-errors-spki-list={}",
        ca.spki_sha256
    )])
    .await;
    browser.sign_in_at(&base, ADMIN_KEY).await;
    browser.wait_text("#who", "Signed in as admin", 15).await;
    browser.wait_text("#instance-rows", "web", 15).await;
    browser.click(&format!("tr[data-instance='{id}'] a")).await;
    browser.click("button[data-action=start]").await;
    browser
        .wait_text("tr[data-machine=default]", "running", 30)
        .await;
    browser.click("button[data-script=slow]").await;
    browser.wait_text("#console", "slow-start", 20).await;
    let status = browser.text("#console-status").await;
    assert!(
        status.contains("running"),
        "streamed while it ran: {status}"
    );
    browser.click("#cancel").await;
    browser.wait_text("#console-status", "cancelled", 30).await;
    assert!(browser
        .client
        .current_url()
        .await
        .unwrap()
        .as_str()
        .starts_with("https://"));
    browser.close().await;
}

/// Issue 27, the page lives on the event stream: no request to the list route while idle, a
/// state changed by another client shows within 2 s, and a console followed across a restart of
/// the server resumes where it was, no line twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_follows_the_event_stream_and_a_console_resumes_without_repeats() {
    let _one = BROWSER.lock().await;
    let fake = FakeVagrant::new();
    let dir = tempfile::tempdir().unwrap();
    let server = start_server_top(&fake, dir.path(), "drain_secs = 1", "");
    let admin = TestClient::new(server.address, Some(ADMIN_KEY));
    let id = register(&admin, "web", 1, &fake.another_single("web")).await;
    assert_eq!(
        admin
            .get(&format!("/api/instances/{id}?max_age=0"))
            .await
            .status,
        200
    );
    let browser = Browser::start().await;
    browser.sign_in(server.address, ADMIN_KEY).await;
    browser.wait_text("#instance-rows", "not created", 15).await;
    let list_reads = || async {
        browser
            .client
            .execute(
                "return performance.getEntriesByType('resource').filter((e) => new URL(e.name).pathname === '/api/instances').length",
                vec![],
            )
            .await
            .unwrap()
            .as_u64()
            .unwrap()
    };
    let before = list_reads().await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(
        list_reads().await,
        before,
        "no request to the list while idle"
    );

    // Another client starts the machine: the open page shows it within 2 s of the end.
    let started = admin
        .post(
            &format!("/api/instances/{id}"),
            &json!({"state": "start", "async": true}),
        )
        .await;
    let location = started.header("location").unwrap().to_owned();
    assert_eq!(
        common::ended(&admin, &location).await["status"],
        "succeeded"
    );
    browser.wait_text("#instance-rows", "running", 2).await;

    // A console followed on the instance page, the server restarted underneath.
    browser.click(&format!("tr[data-instance='{id}'] a")).await;
    browser.click("button[data-script=slow]").await;
    browser.wait_text("#console", "slow-start", 20).await;
    let config = dir.path().join("jeto.toml");
    let _server = restart_underneath(&browser, server, &config).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let console = browser.text("#console").await;
        if console.contains("interrupted")
            || browser
                .text("#console-status")
                .await
                .contains("interrupted")
        {
            assert_eq!(
                console.matches("slow-start").count(),
                1,
                "no line twice: {console:?}"
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the console never said how it ended: {console:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    browser.close().await;
}

/// Issue 27: the instance page says when a machine's state was changed outside Jeto (a raw
/// `vagrant halt`, seen by the watcher), from the event stream, without a reload.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_instance_page_marks_a_state_changed_outside_jeto() {
    let _one = BROWSER.lock().await;
    let fake = FakeVagrant::new();
    let dir = tempfile::tempdir().unwrap();
    let server = start_server_top(&fake, dir.path(), "", "[watch]\ninterval_secs = 2\n");
    let admin = TestClient::new(server.address, Some(ADMIN_KEY));
    let folder = fake.another_single("web");
    let id = register(&admin, "web", 1, &folder).await;
    let started = admin
        .post(&format!("/api/instances/{id}"), &json!({"state": "start"}))
        .await;
    assert_eq!(started.status, 200, "{}", started.text());
    let browser = Browser::start().await;
    browser.sign_in(server.address, ADMIN_KEY).await;
    browser.click(&format!("tr[data-instance='{id}'] a")).await;
    browser.wait_text("#machine-rows", "running", 10).await;
    assert!(!browser.text("#machine-rows").await.contains("outside"));
    fake.run_vagrant(&folder, &["halt"]);
    browser
        .wait_text("#machine-rows", "changed outside Jeto", 8)
        .await;
    browser.close().await;
}

/// Issue 29: the instance page shows when idle stop will halt the running machine and why, and
/// its expiry; Keep up moves the idle stop, Expire in 1 h sets an expiry an hour away.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_instance_page_counts_down_to_idle_stop_and_expiry_and_keeps_up() {
    let _one = BROWSER.lock().await;
    let fake = FakeVagrant::new();
    let dir = tempfile::tempdir().unwrap();
    let server = start_server_top(
        &fake,
        dir.path(),
        "",
        "[lifecycle]\nidle_stop_secs = 600\ncheck_interval_secs = 3600\n",
    );
    let admin = TestClient::new(server.address, Some(ADMIN_KEY));
    let id = register(&admin, "web", 1, &fake.another_single("web")).await;
    let started = admin
        .post(&format!("/api/instances/{id}"), &json!({"state": "start"}))
        .await;
    assert_eq!(started.status, 200, "{}", started.text());
    let before = admin.get(&format!("/api/instances/{id}")).await.json();
    let idle_before = before["idle_stop"]["last_activity"].clone();
    assert!(idle_before.is_string(), "{before}");
    let browser = Browser::start().await;
    browser.sign_in(server.address, ADMIN_KEY).await;
    browser.click(&format!("tr[data-instance='{id}'] a")).await;
    let idle = browser.wait_text("#idle-stop", "halted in", 10).await;
    assert!(idle.contains("last activity"), "{idle}");
    assert!(browser.text("#expiry").await.contains("never"));
    // A second later, so the keep-up is a later activity than the start.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    browser.click("#keep-up").await;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let now = admin.get(&format!("/api/instances/{id}")).await.json();
        if now["idle_stop"]["last_activity"] != idle_before {
            break;
        }
        assert!(Instant::now() < deadline, "Keep up did not count: {now}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    browser.click("#extend").await;
    browser.wait_text("#expiry", "halted in", 10).await;
    let expiry = admin.get(&format!("/api/instances/{id}")).await.json()["expiry"].clone();
    let at = time::OffsetDateTime::parse(
        expiry["at"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    let left = at - time::OffsetDateTime::now_utc();
    assert!(
        left > time::Duration::minutes(55) && left <= time::Duration::minutes(60),
        "{expiry}"
    );
    browser.close().await;
}

/// Issue 30: the instance page links its domains; following the link, the browser (which
/// resolves `*.test` to the proxy on loopback) sees the machine's page through the proxy.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_instance_page_opens_a_domain_and_shows_the_machines_page() {
    let _one = BROWSER.lock().await;
    // The "machine": a web page on this box's own non-loopback address, which the fixture
    // reports as the machine's IP.
    let own = {
        let socket = std::net::UdpSocket::bind("0.0.0.0:0").unwrap();
        socket
            .connect("192.0.2.1:9")
            .expect("a non-loopback address on this box");
        socket.local_addr().unwrap().ip()
    };
    let machine = tokio::net::TcpListener::bind((own, 0)).await.unwrap();
    let machine_port = machine.local_addr().unwrap().port();
    tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        while let Ok((mut stream, _)) = machine.accept().await {
            tokio::spawn(async move {
                let mut request = Vec::new();
                let mut buffer = [0u8; 1024];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buffer).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => request.extend_from_slice(&buffer[..n]),
                    }
                }
                let page = "<!doctype html><title>machine</title><h1 id=\"machine\">hello from the machine</h1>";
                let answer = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: text/html\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{page}",
                    page.len()
                );
                let _ = stream.write_all(answer.as_bytes()).await;
            });
        }
    });
    let fake = FakeVagrant::new();
    let dir = tempfile::tempdir().unwrap();
    let proxy_port = jeto_vagrant::fixture::free_port();
    let server = start_server_top(
        &fake,
        dir.path(),
        "",
        &format!(
            "[[hosts]]\nid = 4\nname = \"web\"\nprovider = \"jeto_fake\"\n\
             params = {{ JETO_FAKE_IPS = \"{own}\", JETO_FAKE_SSH_HOST = \"{own}\" }}\n\
             [proxy]\nlisten = \"127.0.0.1:{proxy_port}\"\n"
        ),
    );
    let admin = TestClient::new(server.address, Some(ADMIN_KEY));
    let id = register(&admin, "web", 4, &fake.another_single("web")).await;
    let started = admin
        .post(&format!("/api/instances/{id}"), &json!({"state": "start"}))
        .await;
    assert_eq!(started.status, 200, "{}", started.text());
    let made = admin
        .post(
            "/api/domains",
            &json!({"name": "web.test", "instance": id, "port": machine_port, "access": {"mode": "public"}}),
        )
        .await;
    assert_eq!(made.status, 201, "{}", made.text());
    assert_eq!(
        made.json()["url"],
        format!("http://web.test:{proxy_port}/"),
        "{}",
        made.text()
    );
    let browser =
        Browser::start_with(&["--host-resolver-rules=MAP *.test 127.0.0.1".to_owned()]).await;
    browser.sign_in(server.address, ADMIN_KEY).await;
    browser.click(&format!("tr[data-instance='{id}'] a")).await;
    browser.wait_text("#domains", "web.test", 10).await;
    browser.click("#domains a.domain").await;
    browser
        .wait_text("#machine", "hello from the machine", 15)
        .await;
    browser.close().await;
}

/// Issue 28: the webhooks page (admins): an endpoint added there shows its secret once; a
/// delivery that failed for too long shows the endpoint paused and the failed attempt; Resume
/// and Send again go to the API.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_webhooks_page_adds_shows_failures_and_resumes() {
    let _one = BROWSER.lock().await;
    let fake = FakeVagrant::new();
    let dir = tempfile::tempdir().unwrap();
    let server = start_server_top(
        &fake,
        dir.path(),
        "",
        "[webhook_delivery]\nfirst_retry_ms = 100\nmax_retry_wait_secs = 1\nretry_for_secs = 1\n",
    );
    let admin = TestClient::new(server.address, Some(ADMIN_KEY));
    // A port nobody listens on: every delivery fails.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hooks", closed.local_addr().unwrap());
    drop(closed);
    let browser = Browser::start().await;
    browser.sign_in(server.address, ADMIN_KEY).await;
    browser.click("a[href='#/webhooks']").await;
    browser
        .find("input[name=webhook-url]")
        .await
        .send_keys(&url)
        .await
        .unwrap();
    browser.click("#webhook-form button[type=submit]").await;
    let secret = browser.wait_text("#webhook-secret", "whsec_", 10).await;
    assert!(secret.contains("shown this once"), "{secret}");
    register(&admin, "web", 1, &fake.another_single("web")).await;
    browser.wait_text("#webhook-rows", "paused", 15).await;
    browser.click("#webhook-rows button.show").await;
    browser.wait_text("#delivery-rows", "failed", 10).await;
    let before = admin.get("/api/webhooks/1/deliveries").await.json();
    browser.click("#delivery-rows button.send-again").await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while admin
        .get("/api/webhooks/1/deliveries")
        .await
        .json()
        .as_array()
        .unwrap()
        .len()
        <= before.as_array().unwrap().len()
    {
        assert!(Instant::now() < deadline, "Send again made no attempt");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    browser.click("#webhook-rows button.resume").await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while !admin.get("/api/webhooks/1").await.json()["paused"].is_null() {
        assert!(Instant::now() < deadline, "Resume did not resume");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    browser.close().await;
}
