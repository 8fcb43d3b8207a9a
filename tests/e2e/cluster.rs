//! Several hosts on one PostgreSQL, as an operator runs them behind a load balancer: a version
//! uploaded on one host is loaded by the others from the database, and a swap, a canary, a
//! settings change or a rollback made on any host is what every host serves for new runs. A
//! change that reached a host without its notice is read by the periodic reconcile. Projects
//! take turns across hosts; a preview, its HMR socket, its build and its logs are served by
//! whichever host a request reaches; a host killed mid-run leaves nothing held.
//!
//! The preview test needs `dockerd` and the sandbox image, as `sandbox.rs` does.
//!
//! Over 500 lines: one test file per surface (several hosts), so a failure names the surface.

use std::time::{Duration, Instant};

use blink_test_support::docker::{Cleanup, docker};
use blink_test_support::fake_llm::{FakeLlm, Rule, footer_rules};
use blink_test_support::host::Blink;
use blink_test_support::previews::{app, eventually_contains, hmr_socket, logs_until, next_update};
use blink_test_support::s3::S3Server;
use blink_test_support::sites::complete;
use blink_test_support::{A11Y_VALIDATOR, HOSTILE_VALIDATOR, db, jwt, sse};
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_blink");
const ADMIN: &str = "cluster-operator";
const MARK: &str = "CLUSTER-PROMPT-MARK";
const STARTING: i64 = 50_000_000;

async fn start(llm: &FakeLlm, database: &str, reconcile_secs: u64) -> Blink {
    Blink::start(
        BIN,
        &[
            ("DATABASE_URL", database.to_string()),
            ("BLINK_LLM_BASE_URL", llm.base_url()),
            ("BLINK_ADMIN_TOKEN", ADMIN.into()),
            ("BLINK_PLUGIN_MAX_BYTES", (8 * 1024 * 1024).to_string()),
            ("BLINK_RECONCILE_SECS", reconcile_secs.to_string()),
        ],
    )
    .await
}

async fn admin(host: &Blink, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
    let mut request = reqwest::Client::new().request(method, format!("{}{path}", host.url)).bearer_auth(ADMIN);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    assert!(status.is_success(), "{path}: {status} {body}\n{}", host.log());
    body
}

/// The validator version that served a run made on `host` now.
async fn served_by(host: &Blink) -> String {
    let (status, text) = host
        .post(
            "/api/orchestrator",
            Some(&jwt::user_token("user-1")),
            &json!({ "messages": [{ "role": "user", "content": "Add a footer" }] }),
        )
        .await;
    assert_eq!(status, 200, "{text}\n{}", host.log());
    assert!(sse::events(&text).iter().any(|e| e["type"] == "result"), "{text}");
    let runs = admin(host, reqwest::Method::GET, "/api/admin/runs?limit=1", None).await;
    runs["runs"][0]["agents"]["validator"].as_str().unwrap().to_string()
}

/// Waits until `host` lists `check` as true of its validator, and says how long that took.
async fn until(host: &Blink, what: &str, check: impl Fn(&Value) -> bool) -> Duration {
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(20) {
        let list = admin(host, reqwest::Method::GET, "/api/admin/plugins", None).await;
        if check(&list["validator"]) {
            return started.elapsed();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("{} never got to {what}\n{}", host.url, host.log());
}

#[tokio::test]
async fn a_change_on_one_host_is_what_every_host_serves() {
    use reqwest::Method;
    let llm = FakeLlm::start(footer_rules()).await;
    let database = db::fresh_postgres().await;
    // No periodic reconcile to speak of: here, only the notices carry the changes.
    let a = start(&llm, &database, 3600).await;
    let b = start(&llm, &database, 3600).await;
    let c = start(&llm, &database, 3600).await;
    let hosts = [&a, &b, &c];
    let builtin = served_by(&c).await;

    // Uploaded and activated on A; C, which never saw the bytes, loads them from the database.
    let bytes = std::fs::read(HOSTILE_VALIDATOR).unwrap();
    let response = reqwest::Client::new()
        .post(format!("{}/api/admin/plugins/validator?activate=false", a.url))
        .bearer_auth(ADMIN)
        .body(bytes)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let version = response.json::<Value>().await.unwrap()["version"]["version"].as_str().unwrap().to_string();
    let local = |host: &Blink| host.data_dir.path().join("plugins").join(format!("{version}.wasm"));
    // Stored, not yet serving: no other host has loaded it.
    assert!(!local(&c).exists());
    admin(&a, Method::POST, &format!("/api/admin/plugins/validator/{version}/activate"), None).await;
    for host in [&b, &c] {
        let took = until(host, "the new version", |v| v["active"] == version.as_str()).await;
        println!("swap on A reached {} in {took:?}", host.url);
    }
    assert_eq!(served_by(&c).await, version, "the next run on C is served by the version A swapped in");
    assert!(local(&c).exists(), "C keeps a copy of the bytes it fetched");

    // A canary set on B holds on every host: each serves both versions.
    admin(&b, Method::POST, "/api/admin/plugins/validator/builtin/activate", None).await;
    admin(&b, Method::PUT, "/api/admin/plugins/validator/canary", Some(json!({ "version": version, "share": 0.5 })))
        .await;
    for host in hosts {
        until(host, "the canary", |v| v["active"] == builtin.as_str() && v["canary"]["share"] == 0.5).await;
    }
    for host in hosts {
        let mut served = std::collections::BTreeMap::<String, u32>::new();
        for _ in 0..16 {
            *served.entry(served_by(host).await).or_default() += 1;
        }
        assert_eq!(served.len(), 2, "{} served both versions: {served:?}", host.url);
    }

    // Settings changed on C reach the planner's model request of a run on A.
    let settings = admin(&a, Method::GET, "/api/admin/agents/settings", None).await;
    let prompt = settings["planner"]["builtin"]["system_prompt"].as_str().unwrap().to_string();
    admin(
        &c,
        Method::PUT,
        "/api/admin/agents/planner/settings",
        Some(json!({ "system_prompt": format!("{MARK}\n{prompt}") })),
    )
    .await;
    let started = Instant::now();
    loop {
        let seen = admin(&a, Method::GET, "/api/admin/agents/settings", None).await;
        if seen["planner"]["settings"]["system_prompt"].as_str().is_some_and(|p| p.starts_with(MARK)) {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(20), "A never read C's settings");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    served_by(&a).await;
    let planned = llm.received().into_iter().rev().find(|r| r.text().contains("You plan changes")).unwrap();
    assert!(planned.text().contains(MARK), "the run on A used the prompt set on C");

    // The canary ended on A, the version activated on B, rolled back on C: all serve the built-in.
    admin(&a, Method::PUT, "/api/admin/plugins/validator/canary", Some(json!({ "version": version, "share": 0 })))
        .await;
    admin(&b, Method::POST, &format!("/api/admin/plugins/validator/{version}/activate"), None).await;
    for host in hosts {
        until(host, "the version, canary ended", |v| v["active"] == version.as_str() && v["canary"].is_null()).await;
    }
    admin(&c, Method::POST, "/api/admin/plugins/validator/rollback", None).await;
    for host in hosts {
        until(host, "the rollback", |v| v["active"] == builtin.as_str()).await;
        assert_eq!(served_by(host).await, builtin);
    }

    // A change no notice announced (written straight into the database) is read by a host's
    // periodic reconcile.
    let d = start(&llm, &database, 1).await;
    db::execute(
        &database,
        &format!("UPDATE plugin_active SET version = '{version}' WHERE role = 'validator'; \
                  INSERT INTO plugin_active (role, version, previous, changed_at) \
                  SELECT 'validator', '{version}', NULL, 0 WHERE NOT EXISTS (SELECT 1 FROM plugin_active WHERE role = 'validator')"),
    )
    .await;
    let took = until(&d, "the unannounced change", |v| v["active"] == version.as_str()).await;
    println!("an unannounced change reached D by its reconcile in {took:?}");
    assert_eq!(served_by(&d).await, version);

    // Bytes in the database that are not the version they claim to be are never loaded: A, which
    // has its own copy, serves the new version; C, which would fetch it, keeps the one it serves.
    let response = reqwest::Client::new()
        .post(format!("{}/api/admin/plugins/validator?activate=false", a.url))
        .bearer_auth(ADMIN)
        .body(std::fs::read(A11Y_VALIDATOR).unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let a11y = response.json::<Value>().await.unwrap()["version"]["version"].as_str().unwrap().to_string();
    db::execute(&database, &format!("UPDATE plugin_blobs SET bytes = '\\x00'::bytea WHERE version = '{a11y}'")).await;
    admin(&a, Method::POST, &format!("/api/admin/plugins/validator/{a11y}/activate"), None).await;
    until(&a, "the a11y validator", |v| v["active"] == a11y.as_str()).await;
    let started = Instant::now();
    while !c.log().contains("do not hash to it") {
        assert!(started.elapsed() < Duration::from_secs(20), "C never refused the bytes\n{}", c.log());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(served_by(&c).await, builtin, "C keeps serving what it served");
}

#[tokio::test]
async fn one_project_takes_turns_across_hosts_and_loses_nothing() {
    let llm = FakeLlm::start(footer_rules()).await;
    let database = db::fresh_postgres().await;
    // One volume for every host's projects and builds, as a shared mount would be.
    let shared = tempfile::tempdir().unwrap();
    let (projects, builds) = (shared.path().join("projects"), shared.path().join("builds"));
    let mut hosts = Vec::new();
    for _ in 0..3 {
        hosts.push(
            Blink::start(
                BIN,
                &[
                    ("DATABASE_URL", database.clone()),
                    ("BLINK_LLM_BASE_URL", llm.base_url()),
                    ("BLINK_PROJECTS_DIR", projects.display().to_string()),
                    ("BLINK_BUILDS_DIR", builds.display().to_string()),
                ],
            )
            .await,
        );
    }
    let user = jwt::user_token("user-1");
    let (status, _) = hosts[0].post("/api/projects", Some(&user), &json!({ "id": "shared" })).await;
    assert_eq!(status, 201);
    // A run through host B writes the project's files where every host sees them.
    let body = json!({ "messages": [{ "role": "user", "content": "Add a footer" }], "projectId": "shared" });
    let (status, text) = hosts[1].post("/api/orchestrator", Some(&user), &body).await;
    assert_eq!(status, 200, "{text}");
    let app = projects.join("shared").join("app");
    assert!(app.join("src").join("Footer.tsx").exists(), "the run's files are in the shared folder");

    // Twelve edits, each committed at once through a different host, all concurrently: the
    // project's turn is taken across hosts, so every commit sees a whole repository.
    let mut commits = Vec::new();
    for i in 0..12 {
        let (url, user, app) = (hosts[i % 3].url.clone(), user.clone(), app.clone());
        commits.push(tokio::spawn(async move {
            std::fs::write(app.join("src").join(format!("Note{i}.tsx")), format!("export const note = {i};\n"))
                .unwrap();
            let response = reqwest::Client::new()
                .post(format!("{url}/api/git/commit"))
                .bearer_auth(&user)
                .json(&json!({ "projectId": "shared", "message": format!("note {i}") }))
                .send()
                .await
                .unwrap();
            (response.status().as_u16(), response.text().await.unwrap())
        }));
    }
    let mut committed = 0;
    for commit in commits {
        let (status, body) = commit.await.unwrap();
        match status {
            200 => committed += 1,
            // Another host's commit took this edit with its own: nothing to commit is an answer.
            409 => assert!(body.contains("nothing_to_commit"), "{body}"),
            _ => panic!("a commit failed while others ran on other hosts: {status} {body}"),
        }
    }
    assert!(committed >= 1);
    // Nothing was lost: every edit is in history, the last host to look finds nothing left over.
    let (status, body) = hosts[2]
        .post("/api/git/commit", Some(&user), &json!({ "projectId": "shared", "message": "anything left?" }))
        .await;
    assert_eq!(status, 409, "every edit was committed: {body}");
    let (_, log) = hosts[0].send(reqwest::Method::GET, "/api/projects/shared/git/log?limit=100", &user).await;
    assert_eq!(log["commits"].as_array().unwrap().len(), committed, "{log}");
}

/// What a client behind a round-robin load balancer reaches: each request the next host.
struct RoundRobin<'a> {
    hosts: Vec<&'a Blink>,
    next: std::cell::Cell<usize>,
}

impl<'a> RoundRobin<'a> {
    fn new(hosts: Vec<&'a Blink>) -> Self {
        Self { hosts, next: std::cell::Cell::new(0) }
    }

    fn host(&self) -> &'a Blink {
        let i = self.next.get();
        self.next.set(i + 1);
        self.hosts[i % self.hosts.len()]
    }
}

#[tokio::test]
async fn any_host_serves_a_projects_sandbox_and_a_killed_host_leaves_nothing_held() {
    assert!(!docker(&["images", "-q", "blink-sandbox:latest"]).is_empty(), "the sandbox image is missing");
    let mut rules = vec![Rule::text(&["SLOW-RUN"], "never answered in time").delay(Duration::from_secs(120))];
    rules.extend(footer_rules());
    let llm = FakeLlm::start(rules).await;
    let database = db::fresh_postgres().await;
    let s3 = S3Server::start("blink-sites");
    let shared = tempfile::tempdir().unwrap();
    let mut env = vec![
        ("DATABASE_URL", database.clone()),
        ("BLINK_LLM_BASE_URL", llm.base_url()),
        ("BLINK_PROJECTS_DIR", shared.path().join("projects").display().to_string()),
        ("BLINK_BUILDS_DIR", shared.path().join("builds").display().to_string()),
        // One key for every host: a sandbox started by one takes news of changed files from all.
        ("BLINK_SECRET_KEY", "7".repeat(64)),
        ("BLINK_SANDBOXES", "true".into()),
        ("BLINK_SANDBOX_WARM", "0".into()),
        ("BLINK_PREVIEW_PATHS", "true".into()),
        ("BLINK_PREVIEW_URL", "{origin}/preview/{projectId}/".into()),
        ("BLINK_INSTANCE_HEARTBEAT_SECS", "1".into()),
        ("BLINK_INSTANCE_EXPIRY_SECS", "3".into()),
        ("BLINK_STARTING_CREDITS", STARTING.to_string()),
        ("BLINK_ADMIN_TOKEN", ADMIN.into()),
    ];
    if let Ok(runtime) = std::env::var("BLINK_SANDBOX_RUNTIME") {
        env.push(("BLINK_SANDBOX_RUNTIME", runtime));
    }
    env.extend(s3.host_env());
    let a = Blink::start(BIN, &env).await;
    let b = Blink::start(BIN, &env).await;
    let c = Blink::start(BIN, &env).await;
    let id = format!("cluster{:x}", std::process::id());
    let _cleanup = Cleanup(vec![id.clone()]);
    let user = jwt::user_token("cluster-user");
    let (status, body) = a.post("/api/projects", Some(&user), &json!({ "id": id })).await;
    assert_eq!(status, 201, "{body}");

    // Started through A; served, page and modules, through C, which runs no sandbox.
    let files = |marker: &str| json!({ "projectId": id, "files": { "App.tsx": app(marker) } });
    let (status, text) = a.post("/api/preview", Some(&user), &files("Marker one")).await;
    assert_eq!(status, 200, "{text}\n{}", a.log());
    let through = |host: &Blink| format!("{}/preview/{id}/", host.url);
    eventually_contains(&format!("{}src/App.tsx", through(&c)), "Marker one").await;
    // A caller's own `x-blink-hop` proves nothing: C still passes the request on.
    let forged = reqwest::Client::new()
        .get(format!("{}src/App.tsx", through(&c)))
        .header("x-blink-hop", "1")
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 200, "a forged mark does not stop C passing the request on");
    let sandboxes = docker(&["ps", "-q", "--filter", &format!("label=blink.project={id}")]);
    assert_eq!(sandboxes.lines().count(), 1, "one sandbox for the project on every host");
    let runs_it = |list: &Value| list["sandboxes"].as_array().unwrap().iter().any(|s| s["projectId"] == id.as_str());
    assert!(runs_it(&admin(&a, reqwest::Method::GET, "/api/admin/sandboxes", None).await));
    for host in [&b, &c] {
        let list = admin(host, reqwest::Method::GET, "/api/admin/sandboxes", None).await;
        assert!(!runs_it(&list), "only A runs the sandbox; {} passes requests on: {list}", host.url);
    }

    // The HMR socket opened through C hears of an update posted through B.
    let mut socket = hmr_socket(&through(&c)).await;
    let (status, text) = b.post("/api/preview", Some(&user), &files("Marker two")).await;
    assert_eq!(status, 200, "{text}\n{}", b.log());
    let update = next_update(&mut socket, Duration::from_secs(15)).await;
    assert!(update.contains("App.tsx"), "{update}");
    let _ = socket.close(None).await;
    eventually_contains(&format!("{}src/App.tsx", through(&b)), "Marker two").await;
    assert_eq!(docker(&["ps", "-q", "--filter", &format!("label=blink.project={id}")]), sandboxes);

    // Built through B (in A's sandbox), deployed through C, the site served by every host from S3.
    let (status, text) = b.post("/api/build", Some(&user), &json!({ "projectId": id })).await;
    assert_eq!(status, 200, "{text}\n{}\n{}", b.log(), a.log());
    let (status, text) = c.post("/api/deploy", Some(&user), &json!({ "projectId": id })).await;
    assert_eq!(status, 200, "{text}\n{}", c.log());
    // Two more deploys at once, through A and B: each takes the project's turn, both are kept.
    let deploy = |host: &Blink| {
        let (url, user, id) = (host.url.clone(), user.clone(), id.clone());
        async move {
            let response = reqwest::Client::new()
                .post(format!("{url}/api/deploy"))
                .bearer_auth(user)
                .json(&json!({ "projectId": id }))
                .send()
                .await
                .unwrap();
            (response.status().as_u16(), response.text().await.unwrap())
        }
    };
    let (first, second) = tokio::join!(deploy(&a), deploy(&b));
    assert_eq!((first.0, second.0), (200, 200), "{first:?} {second:?}");
    let (_, deploys) = a.send(reqwest::Method::GET, &format!("/api/projects/{id}/deploys"), &user).await;
    assert_eq!(deploys["deploys"].as_array().unwrap().len(), 3, "every deploy is kept: {deploys}");
    for host in [&a, &b, &c] {
        let html = complete(host, &format!("{id}.sites.localhost")).await.unwrap();
        assert!(html.contains("<div id=\"root\">"), "{html}");
    }
    // The logs, through C, are the sandbox's on A, the build's lines among them.
    let logs = format!("{}/api/projects/{id}/logs", c.url);
    let heard = logs_until(&logs, &user, &["[build]"], Duration::from_secs(10)).await;
    assert!(heard.contains("[build]"), "the build's lines through C: {heard}");

    // A run on the project through B: its files reach the page A's sandbox serves, through C.
    let (status, text) = b
        .post(
            "/api/orchestrator",
            Some(&user),
            &json!({ "messages": [{ "role": "user", "content": "Add a footer" }], "projectId": id }),
        )
        .await;
    assert_eq!(status, 200, "{text}");
    eventually_contains(&format!("{}src/App.tsx", through(&c)), "Footer").await;
    // No host stops another's sandbox: C refuses, and A's keeps running.
    let (status, refused) = c.send(reqwest::Method::DELETE, &format!("/api/admin/sandboxes/{id}"), ADMIN).await;
    assert_eq!((status, refused["error"].clone()), (503, json!("sandbox_elsewhere")), "{refused}");
    assert_eq!(docker(&["ps", "-q", "--filter", &format!("label=blink.project={id}")]), sandboxes);

    // Runs, one per host in turn, all whole.
    let clients = RoundRobin::new(vec![&a, &b, &c]);
    let run = json!({ "messages": [{ "role": "user", "content": "Add a footer" }] });
    for _ in 0..3 {
        let host = clients.host();
        let (status, text) = host.post("/api/orchestrator", Some(&user), &run).await;
        assert_eq!(status, 200, "{text}");
        assert!(sse::events(&text).iter().any(|e| e["type"] == "result"), "{text}");
    }

    // A dies mid-run, with credits held for a model call and its sandbox serving: B and C carry
    // on, the credits come back, and the preview moves to a live host.
    let balance = || db::scalar(&database, "SELECT balance FROM users WHERE id = 'cluster-user'");
    let before = balance().await;
    let slow = json!({ "messages": [{ "role": "user", "content": "SLOW-RUN please" }] });
    let (a_url, slow_user) = (a.url.clone(), user.clone());
    let doomed = tokio::spawn(async move {
        reqwest::Client::new().post(format!("{a_url}/api/orchestrator")).bearer_auth(slow_user).json(&slow).send().await
    });
    let started = Instant::now();
    while db::scalar(&database, "SELECT count(*) FROM credit_reservations").await == 0 {
        assert!(started.elapsed() < Duration::from_secs(20), "the slow run never held credits\n{}", a.log());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(balance().await < before, "credits are held while the model call runs");
    let _ = a.stop().await;
    let _ = doomed.await;
    for host in [&b, &c] {
        let (status, text) = host.post("/api/orchestrator", Some(&user), &run).await;
        assert_eq!(status, 200, "a live host serves runs while another is dead: {text}");
    }
    let started = Instant::now();
    while db::scalar(&database, "SELECT count(*) FROM credit_reservations").await > 0 {
        assert!(started.elapsed() < Duration::from_secs(30), "the dead host's held credits never came back");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Whatever moved, moved whole: the balance is the starting one plus the ledger, and the
    // dead host's reservation came back as a return.
    let ledger = db::scalar(
        &database,
        "SELECT CAST(COALESCE(SUM(amount), 0) AS BIGINT) FROM credit_ledger WHERE user_id = 'cluster-user'",
    )
    .await;
    assert_eq!(balance().await, STARTING + ledger, "the balance is the starting one plus the ledger");
    assert!(db::scalar(&database, "SELECT count(*) FROM credit_ledger WHERE kind = 'return'").await >= 1);
    // The run A was streaming is recorded as interrupted, not left running.
    let started = Instant::now();
    while db::scalar(&database, "SELECT count(*) FROM runs WHERE outcome LIKE '%running%'").await > 0 {
        assert!(started.elapsed() < Duration::from_secs(30), "the dead host's run was left running");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(db::scalar(&database, "SELECT count(*) FROM runs WHERE outcome LIKE '%interrupted%'").await, 1);
    // Once A counts as dead, an update through B starts serving from a live host.
    let started = Instant::now();
    loop {
        let (status, text) = b.post("/api/preview", Some(&user), &files("Marker three")).await;
        if status == 200 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the preview never moved off the dead host: {status} {text}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    eventually_contains(&format!("{}src/App.tsx", through(&c)), "Marker three").await;
    let list = admin(&b, reqwest::Method::GET, "/api/admin/sandboxes", None).await;
    assert!(runs_it(&list), "B took the project's sandbox over from the dead host: {list}");
    let list = admin(&c, reqwest::Method::GET, "/api/admin/sandboxes", None).await;
    assert!(!runs_it(&list), "C passes requests on to B: {list}");
}

#[test]
fn the_cluster_limits_hold_at_their_edges() {
    // In range at both ends is the other tests' work (1 s and 3600 s); past them, the host refuses
    // to start and names the setting.
    for (name, value) in [
        ("BLINK_RECONCILE_SECS", "0"),
        ("BLINK_RECONCILE_SECS", "3601"),
        ("BLINK_TURN_CONNECTIONS", "0"),
        ("BLINK_TURN_CONNECTIONS", "1001"),
    ] {
        let data = tempfile::tempdir().unwrap();
        let out = std::process::Command::new(BIN)
            .arg("serve")
            .env_clear()
            .env("BLINK_DATA_DIR", data.path())
            .env("BLINK_ADDR", "127.0.0.1:0")
            .env(name, value)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{name}={value} was accepted");
        assert!(stderr.contains(&name.to_ascii_lowercase().replace("blink_", "").replace('_', "-")), "{stderr}");
    }
}
