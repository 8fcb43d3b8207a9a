//! Chaos: the real binary SIGKILLed at random moments of a mixed workload, many times, on SQLite
//! and on PostgreSQL, and restarted on the same data; after every restart the invariants a user
//! relies on are checked. The workload: orchestrations charged to two users (conversational and
//! ones that write a project's files), previews in real Docker sandboxes (each update a workspace
//! write), git commits, deploys to a real S3-compatible server, plugin uploads and operator
//! grants.
//!
//! After each restart: balances, runs, files, sites, repositories, plugins, sandboxes and the
//! sandboxes' fence are checked.
//!
//! Every round's plan (which work runs, when the kill lands) comes from one seed, printed first:
//! `BLINK_CHAOS_SEED=<seed>` replays the same plans (the interleaving inside a round is the
//! machine's). `BLINK_CHAOS_KILLS` sets the kills per database (default 20).
//!
//! Over 500 lines: one workload and the invariants held against it, read together.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use blink_test_support::docker::{Cleanup, docker};
use blink_test_support::fake_llm::{FakeLlm, Rule, footer_rules};
use blink_test_support::host::Blink;
use blink_test_support::s3::S3Server;
use blink_test_support::sites::{complete, short_hash, write_build};
use blink_test_support::{A11Y_VALIDATOR, db, jwt, sse};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};
use sha2::Digest;

const BIN: &str = env!("CARGO_BIN_EXE_blink");
const ADMIN: &str = "chaos-admin";
const STARTING: i64 = 50_000_000;
/// Who owns the projects, and a second user who only chats.
const OWNER: &str = "chaos-owner";
const CHATTER: &str = "chaos-chatter";

#[tokio::test]
async fn killed_at_random_on_sqlite_the_host_comes_back_whole() {
    chaos("sqlite", None).await;
}

#[tokio::test]
async fn killed_at_random_on_postgres_the_host_comes_back_whole() {
    chaos("postgres", Some(db::fresh_postgres().await)).await;
}

/// What the clients saw, to hold the host's state against after a restart.
#[derive(Default)]
struct Seen {
    /// Runs started this round: id, the user's token, and every byte its client received.
    runs: Vec<(String, String, Arc<Mutex<String>>)>,
    /// The preview project's `src/App.tsx`: the last content a preview acknowledged, then every
    /// one posted since (each may have landed, whole, before the kill).
    app: Vec<String>,
    /// Likewise the site's releases, by build version; `site_live` once one was acknowledged.
    site: Vec<String>,
    site_live: bool,
    /// Plugin versions whose upload was acknowledged.
    plugins: BTreeSet<String>,
}

struct World {
    backend: &'static str,
    env: Vec<(&'static str, String)>,
    url: String,
    projects: Projects,
    component: Vec<u8>,
    seen: Arc<Mutex<Seen>>,
}

#[derive(Clone)]
struct Projects {
    /// Written by runs.
    generated: String,
    /// Updated by previews.
    previewed: String,
    /// Deployed.
    site: String,
}

fn app(marker: &str) -> String {
    format!("export default function App() {{\n  return <h1>{marker}</h1>;\n}}\n")
}

async fn chaos(backend: &'static str, database: Option<String>) {
    let seed = std::env::var("BLINK_CHAOS_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(rand::random::<u64>);
    let kills: usize = std::env::var("BLINK_CHAOS_KILLS").ok().and_then(|s| s.parse().ok()).unwrap_or(20);
    eprintln!("chaos on {backend}: seed {seed} (BLINK_CHAOS_SEED={seed} replays its plans), {kills} kills");
    let mut rng = StdRng::seed_from_u64(seed);

    let mut rules = vec![{
        let plan = json!({ "intent": "greeting", "conversational": true, "reply": "Hello!", "steps": [] });
        Rule::text(&["You plan changes", "hello there"], plan.to_string())
            .bill_max_tokens()
            .delay(Duration::from_millis(400))
    }];
    rules.extend(footer_rules().into_iter().map(|r| r.delay(Duration::from_millis(150))));
    let llm = FakeLlm::start(rules).await;
    let s3 = S3Server::start("blink-sites");
    let config = tempfile::tempdir().unwrap();
    std::fs::write(config.path().join("agents.json"), r#"{"planner": {"thinking": "off"}}"#).unwrap();
    let mut env = vec![
        ("BLINK_LLM_BASE_URL", llm.base_url()),
        ("BLINK_STARTING_CREDITS", STARTING.to_string()),
        ("BLINK_PRICING", r#"{"default": {"prompt": 1, "completion": 1000}}"#.to_string()),
        ("BLINK_AGENT_CONFIG", config.path().join("agents.json").display().to_string()),
        ("BLINK_INSTANCE_HEARTBEAT_SECS", "1".to_string()),
        ("BLINK_INSTANCE_EXPIRY_SECS", "2".to_string()),
        ("BLINK_ADMIN_TOKEN", ADMIN.to_string()),
        ("BLINK_PLUGIN_MAX_BYTES", (4 * 1024 * 1024).to_string()),
        ("BLINK_SANDBOXES", "true".to_string()),
        ("BLINK_SANDBOX_WARM", "0".to_string()),
        ("BLINK_PREVIEW_PATHS", "true".to_string()),
        ("BLINK_PREVIEW_URL", "{origin}/preview/{projectId}/".to_string()),
    ];
    if let Ok(runtime) = std::env::var("BLINK_SANDBOX_RUNTIME") {
        env.push(("BLINK_SANDBOX_RUNTIME", runtime));
    }
    env.extend(s3.host_env());
    if let Some(url) = &database {
        env.push(("DATABASE_URL", url.clone()));
    }
    let tag = format!("{:x}", rng.random::<u32>());
    let projects = Projects {
        generated: format!("chaos-gen-{backend}-{tag}"),
        previewed: format!("chaos-prev-{backend}-{tag}"),
        site: format!("chaos-site-{backend}-{tag}"),
    };
    let _cleanup = Cleanup(vec![projects.previewed.clone()]);

    let mut blink = Blink::start(BIN, &env).await;
    let url = database.unwrap_or_else(|| format!("sqlite://{}", blink.data_dir.path().join("blink.db").display()));
    let owner = jwt::user_token(OWNER);
    for id in [&projects.generated, &projects.previewed, &projects.site] {
        let (status, body) = blink.post("/api/projects", Some(&owner), &json!({ "id": id })).await;
        assert_eq!(status, 201, "{body}");
    }
    for user in [OWNER, CHATTER] {
        get(&blink, &jwt::user_token(user), "/api/credits").await;
    }
    // A first commit seeds the projects with the template: before any write, that is their file.
    for id in [&projects.previewed, &projects.generated] {
        let (status, body) =
            blink.post("/api/git/commit", Some(&owner), &json!({ "projectId": id, "message": "Start" })).await;
        assert_eq!(status, 200, "{body}");
    }
    let template = std::fs::read_to_string(
        blink.data_dir.path().join("projects").join(&projects.previewed).join("app/src/App.tsx"),
    )
    .unwrap();
    let seen = Arc::new(Mutex::new(Seen { app: vec![template], ..Seen::default() }));
    let component = std::fs::read(A11Y_VALIDATOR).unwrap();
    let world = World { backend, env, url, projects, component, seen };

    for round in 0..kills {
        let plan = Plan::draw(&mut rng);
        eprintln!("chaos on {backend}, round {round}: {plan:?}");
        let work = world.start_work(&blink, round, &plan);
        tokio::time::sleep(plan.kill_after).await;
        let killed = blink.pid();
        let data = blink.stop().await;
        for task in work {
            task.abort();
            let _ = task.await;
        }
        blink = Blink::start_in(BIN, data, &world.env).await;
        world.check(&blink, killed, round, seed).await;
    }

    let count = |sql: &'static str| {
        let url = world.url.clone();
        async move { db::scalar(&url, sql).await }
    };
    eprintln!(
        "chaos on {backend}: {kills} kills survived (BLINK_CHAOS_SEED={seed}); over them {} runs recorded, {} \
         interrupted, {} reservations returned, {} releases live or kept, {} plugin versions stored",
        count("SELECT COUNT(*) FROM runs").await,
        count("SELECT COUNT(*) FROM runs WHERE outcome LIKE '%interrupted%'").await,
        count("SELECT COUNT(*) FROM credit_ledger WHERE kind = 'return'").await,
        count("SELECT COUNT(*) FROM deploys WHERE state = 'complete'").await,
        count("SELECT COUNT(*) FROM plugin_versions").await,
    );

    // After the last restart the whole product works: a preview shows its newest write.
    let marker = format!("after {kills} kills");
    let (status, body) = blink
        .post(
            "/api/preview",
            Some(&owner),
            &json!({ "projectId": world.projects.previewed, "files": { "App.tsx": app(&marker) } }),
        )
        .await;
    assert_eq!(status, 200, "{body}\n{}", blink.log());
    let module = format!("{}/preview/{}/src/App.tsx", blink.url, world.projects.previewed);
    eventually_contains(&module, &marker).await;
}

/// One round: what runs until the kill.
#[derive(Debug)]
struct Plan {
    kill_after: Duration,
    chats: usize,
    previews: bool,
    commits: bool,
    deploys: bool,
    uploads: bool,
    grants: bool,
    task_seed: u64,
}

impl Plan {
    fn draw(rng: &mut StdRng) -> Self {
        // Now and then right after the start, while the host is still taking over.
        let kill_after = if rng.random_bool(0.15) {
            Duration::from_millis(rng.random_range(0..150))
        } else {
            Duration::from_millis(rng.random_range(300..3000))
        };
        Self {
            kill_after,
            chats: rng.random_range(0..4),
            previews: rng.random_bool(0.6),
            commits: rng.random_bool(0.6),
            deploys: rng.random_bool(0.6),
            uploads: rng.random_bool(0.5),
            grants: rng.random_bool(0.5),
            task_seed: rng.random(),
        }
    }
}

impl World {
    fn start_work(&self, blink: &Blink, round: usize, plan: &Plan) -> Vec<tokio::task::JoinHandle<()>> {
        self.seen.lock().unwrap().runs.clear();
        let mut work = Vec::new();
        for n in 0..plan.chats {
            let (origin, seen, projects) = (blink.url.clone(), self.seen.clone(), self.projects.clone());
            let mut rng = StdRng::seed_from_u64(plan.task_seed ^ n as u64);
            work.push(tokio::spawn(async move {
                loop {
                    let (user, body) = if rng.random_bool(0.5) {
                        let chat = json!({ "projectId": projects.generated, "messages": [{ "role": "user", "content": "Add a footer" }] });
                        (OWNER, chat)
                    } else {
                        let user = if rng.random_bool(0.5) { OWNER } else { CHATTER };
                        (user, json!({ "messages": [{ "role": "user", "content": "hello there" }] }))
                    };
                    chat(&origin, &jwt::user_token(user), &body, &seen).await;
                }
            }));
        }
        if plan.previews {
            let (origin, seen, id) = (blink.url.clone(), self.seen.clone(), self.projects.previewed.clone());
            work.push(tokio::spawn(async move {
                for n in 0.. {
                    let content = app(&format!("round {round}, write {n}"));
                    seen.lock().unwrap().app.push(content.clone());
                    let body = json!({ "projectId": id, "files": { "App.tsx": content } });
                    if send(&origin, "/api/preview", &jwt::user_token(OWNER), &body).await == Some(200) {
                        seen.lock().unwrap().app = vec![content];
                    }
                }
            }));
        }
        if plan.commits {
            let (origin, projects) = (blink.url.clone(), self.projects.clone());
            work.push(tokio::spawn(async move {
                for n in 0.. {
                    let id = if n % 2 == 0 { &projects.previewed } else { &projects.generated };
                    let body = json!({ "projectId": id, "message": format!("round {round}, commit {n}") });
                    send(&origin, "/api/git/commit", &jwt::user_token(OWNER), &body).await;
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }));
        }
        if plan.deploys {
            let (origin, seen, id) = (blink.url.clone(), self.seen.clone(), self.projects.site.clone());
            let data = blink.data_dir.path().to_path_buf();
            work.push(tokio::spawn(async move {
                for n in 0.. {
                    let version = format!("r{round}-{n}");
                    write_build(&data, &id, &version, 4, 2_000);
                    seen.lock().unwrap().site.push(version.clone());
                    let body = json!({ "projectId": id });
                    if send(&origin, "/api/deploy", &jwt::user_token(OWNER), &body).await == Some(200) {
                        let mut seen = seen.lock().unwrap();
                        seen.site = vec![version];
                        seen.site_live = true;
                    }
                }
            }));
        }
        if plan.grants {
            let origin = blink.url.clone();
            work.push(tokio::spawn(async move {
                for n in 0i64.. {
                    // Withdrawals beyond the balance too: they take what is there.
                    let amount = if n % 3 == 2 { -STARTING } else { 25_000 };
                    let body = json!({ "userId": CHATTER, "amount": amount, "reason": format!("round {round}") });
                    send(&origin, "/api/admin/credits", ADMIN, &body).await;
                }
            }));
        }
        if plan.uploads {
            let (origin, seen, component) = (blink.url.clone(), self.seen.clone(), self.component.clone());
            work.push(tokio::spawn(async move {
                for n in 0.. {
                    let bytes = with_custom_section(&component, &format!("round {round}, upload {n}"));
                    let response = reqwest::Client::new()
                        .post(format!("{origin}/api/admin/plugins/validator?activate=false&notes=chaos"))
                        .bearer_auth(ADMIN)
                        .header("content-type", "application/wasm")
                        .body(bytes)
                        .send()
                        .await;
                    let Ok(response) = response else { return };
                    if response.status().is_success()
                        && let Ok(body) = response.json::<Value>().await
                        && let Some(version) = body["version"]["version"].as_str()
                    {
                        seen.lock().unwrap().plugins.insert(version.to_string());
                    }
                }
            }));
        }
        work
    }

    /// The invariants, once the restarted host has taken over what the killed one held.
    async fn check(&self, blink: &Blink, killed: u32, round: usize, seed: u64) {
        let at = format!("{} round {round} (BLINK_CHAOS_SEED={seed})", self.backend);
        let url = &self.url;
        // Taken over: no reservation open, no run running, no upload in progress.
        let open = "SELECT (SELECT COUNT(*) FROM credit_reservations) \
                    + (SELECT COUNT(*) FROM runs WHERE outcome = '{\"kind\":\"running\"}') \
                    + (SELECT COUNT(*) FROM deploys WHERE state = 'uploading')";
        let mut left = -1;
        for _ in 0..200 {
            left = db::scalar(url, open).await;
            if left == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(left, 0, "{at}: reservations, runs or uploads still open after the sweep\n{}", blink.log());

        // Every balance is the starting one plus the user's ledger.
        for user in [OWNER, CHATTER] {
            let balance = db::scalar(url, &format!("SELECT balance FROM users WHERE id = '{user}'")).await;
            let ledger = db::scalar(
                url,
                &format!("SELECT CAST(COALESCE(SUM(amount), 0) AS BIGINT) FROM credit_ledger WHERE user_id = '{user}'"),
            )
            .await;
            assert_eq!(balance, STARTING + ledger, "{at}: {user}'s balance is not starting + ledger");
        }

        // Every run the clients saw is recorded, ended, with a prefix of what its client got.
        let runs = std::mem::take(&mut self.seen.lock().unwrap().runs);
        for (id, token, received) in runs {
            let received = sse::received(&received.lock().unwrap());
            let response = reqwest::Client::new()
                .get(format!("{}/api/runs/{id}", blink.url))
                .bearer_auth(&token)
                .send()
                .await
                .unwrap();
            if response.status() == 404 {
                assert!(received.is_empty(), "{at}: run {id} sent {received:?} but was never recorded");
                continue;
            }
            let run: Value = response.json().await.unwrap();
            assert_ne!(run["outcome"]["kind"], "running", "{at}: {run}");
            let stored = run["events"].as_array().unwrap();
            assert!(stored.len() <= received.len(), "{at}: run {id} stored {stored:?}, its client got {received:?}");
            assert_eq!(
                stored[..],
                received[..stored.len()],
                "{at}: run {id}'s events are not a prefix of what was sent"
            );
        }

        // The preview project's file is exactly one write's content: the acknowledged one, or one
        // posted after it.
        let app_file = blink.data_dir.path().join("projects").join(&self.projects.previewed).join("app/src/App.tsx");
        let written = std::fs::read_to_string(&app_file).unwrap_or_else(|e| format!("unreadable: {e}"));
        {
            let mut seen = self.seen.lock().unwrap();
            assert!(seen.app.contains(&written), "{at}: App.tsx is no write's whole content:\n{written}");
            seen.app = vec![written];
        }
        for project in [&self.projects.previewed, &self.projects.generated] {
            let leftovers = leftovers(&blink.data_dir.path().join("projects").join(project).join("app"));
            assert!(leftovers.is_empty(), "{at}: cut-short writes left in {project}: {leftovers:?}");
        }

        // The live site is one whole release: a deployed version, every asset answering.
        let (site, live) = {
            let seen = self.seen.lock().unwrap();
            (seen.site.clone(), seen.site_live)
        };
        if !site.is_empty() {
            match complete(blink, &format!("{}.sites.localhost", self.projects.site)).await {
                Ok(html) => {
                    let version = site.iter().find(|v| html.contains(&short_hash(v)));
                    let version = version.unwrap_or_else(|| panic!("{at}: the live site is none of {site:?}: {html}"));
                    let mut seen = self.seen.lock().unwrap();
                    seen.site = vec![version.clone()];
                    seen.site_live = true;
                }
                Err((404, _)) if !live => {}
                Err(e) => panic!("{at}: the live site is not whole: {e:?}"),
            }
        }

        // Every repository is whole and takes a commit.
        for project in [&self.projects.previewed, &self.projects.generated] {
            let git_dir = blink.data_dir.path().join("projects").join(project).join("git");
            if !git_dir.join("HEAD").exists() {
                continue;
            }
            let fsck = std::process::Command::new("git")
                .args(["--git-dir", &git_dir.display().to_string(), "fsck", "--strict", "--no-dangling"])
                .output()
                .unwrap();
            assert!(fsck.status.success(), "{at}: git fsck of {project}: {}", String::from_utf8_lossy(&fsck.stderr));
            // A change to commit, as a user's edit would make.
            let note = blink.data_dir.path().join("projects").join(project).join("app/public/chaos.txt");
            std::fs::write(&note, format!("checked after {at}\n")).unwrap();
            let body = json!({ "projectId": project, "message": format!("check after round {round}") });
            let (status, text) = blink.post("/api/git/commit", Some(&jwt::user_token(OWNER)), &body).await;
            assert_eq!(status, 200, "{at}: a commit to {project} after the restart: {text}");
        }

        // Every stored plugin version is whole: its bytes hash to its name, and every upload
        // acknowledged is there.
        let plugins = blink.data_dir.path().join("plugins");
        for entry in std::fs::read_dir(&plugins).into_iter().flatten().flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            assert!(!name.ends_with(".tmp"), "{at}: a half-written upload stayed: {name}");
            if let Some(version) = name.strip_suffix(".wasm") {
                let bytes = std::fs::read(entry.path()).unwrap();
                assert_eq!(hex(&bytes), version, "{at}: plugin file {name} is not the version it names");
            }
        }
        let listed = get(blink, ADMIN, "/api/admin/plugins").await;
        let listed: BTreeSet<String> = listed["validator"]["versions"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|v| v["version"].as_str().map(str::to_string))
            .collect();
        let acknowledged = self.seen.lock().unwrap().plugins.clone();
        for version in &acknowledged {
            assert!(listed.contains(version), "{at}: acknowledged plugin version {version} is gone");
            let bytes = reqwest::Client::new()
                .get(format!("{}/api/admin/plugins/validator/{version}", blink.url))
                .bearer_auth(ADMIN)
                .send()
                .await
                .unwrap()
                .bytes()
                .await
                .unwrap();
            assert_eq!(&hex(&bytes), version, "{at}: plugin version {version} downloads other bytes");
        }

        // Every sandbox of this host's runs over a project it has: none is left that no host knows.
        let owner = std::fs::canonicalize(blink.data_dir.path()).unwrap().display().to_string();
        let filter = format!("label=blink.owner={owner}");
        let sandboxes =
            docker(&["ps", "-a", "--filter", &filter, "--format", "{{.Label \"blink.project\"}} {{.State}}"]);
        for line in sandboxes.lines().filter(|l| !l.is_empty()) {
            let (project, state) = line.split_once(' ').unwrap_or((line, ""));
            if state != "running" {
                let name = format!("sandbox-{project}");
                let why =
                    docker(&["inspect", "-f", "{{.State.ExitCode}} {{.State.Error}} {{.State.FinishedAt}}", &name]);
                let logs = std::process::Command::new("docker").args(["logs", "--tail", "30", &name]).output().unwrap();
                panic!(
                    "{at}: sandbox of {project} is {state} ({why})\n{}{}\n{}",
                    String::from_utf8_lossy(&logs.stdout),
                    String::from_utf8_lossy(&logs.stderr),
                    blink.log()
                );
            }
            let dir = blink.data_dir.path().join("projects").join(project).join("app");
            assert!(dir.is_dir(), "{at}: sandbox of {project}, which has no folder");
        }
        // The fence lets sandboxes reach no port the killed host opened.
        let rules = std::process::Command::new("iptables").args(["-S", "BLINK-SANDBOX"]).output().unwrap();
        let rules = String::from_utf8_lossy(&rules.stdout);
        let kept = rules.lines().find(|r| r.contains(&format!("blink-owner {killed}:")));
        assert!(kept.is_none(), "{at}: the sandbox fence keeps a port of the killed host: {kept:?}");
        eprintln!("chaos on {}, round {round}: every invariant holds after the restart", self.backend);
    }
}

/// Starts a chat and records what its client receives until the stream ends or the host dies.
async fn chat(origin: &str, token: &str, body: &Value, seen: &Mutex<Seen>) {
    let response =
        reqwest::Client::new().post(format!("{origin}/api/orchestrator")).bearer_auth(token).json(body).send().await;
    let Ok(response) = response else {
        tokio::time::sleep(Duration::from_millis(50)).await;
        return;
    };
    let Some(id) = response.headers().get("x-blink-run-id").and_then(|v| v.to_str().ok()).map(str::to_string) else {
        return;
    };
    let received = Arc::new(Mutex::new(String::new()));
    seen.lock().unwrap().runs.push((id, token.to_string(), received.clone()));
    let mut body = response.bytes_stream();
    while let Some(Ok(chunk)) = futures::StreamExt::next(&mut body).await {
        received.lock().unwrap().push_str(&String::from_utf8_lossy(&chunk));
    }
}

/// POSTs JSON; the status, or `None` when the host did not answer (it died).
async fn send(origin: &str, path: &str, token: &str, body: &Value) -> Option<u16> {
    let response = reqwest::Client::new().post(format!("{origin}{path}")).bearer_auth(token).json(body).send().await;
    match response {
        Ok(response) => {
            let status = response.status().as_u16();
            // The whole answer: a status alone is not an acknowledgement.
            response.bytes().await.ok().map(|_| status)
        }
        Err(_) => {
            tokio::time::sleep(Duration::from_millis(50)).await;
            None
        }
    }
}

async fn get(blink: &Blink, token: &str, path: &str) -> Value {
    let response = reqwest::Client::new().get(format!("{}{path}", blink.url)).bearer_auth(token).send().await.unwrap();
    response.json().await.unwrap()
}

async fn eventually_contains(url: &str, needle: &str) {
    let mut last = String::new();
    for _ in 0..300 {
        if let Ok(response) = reqwest::get(url).await {
            last = response.text().await.unwrap_or_default();
            if last.contains(needle) {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{url} never contained {needle:?}; last answer {last}");
}

/// The component with a custom section carrying `text` appended: another version, as valid.
fn with_custom_section(component: &[u8], text: &str) -> Vec<u8> {
    let name = b"blink-chaos";
    let mut payload = vec![name.len() as u8];
    payload.extend_from_slice(name);
    payload.extend_from_slice(text.as_bytes());
    assert!(payload.len() < 128, "one LEB128 byte of size");
    let mut bytes = component.to_vec();
    bytes.push(0);
    bytes.push(payload.len() as u8);
    bytes.extend(payload);
    bytes
}

fn hex(bytes: &[u8]) -> String {
    sha2::Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// Temporaries of writes left under `dir` (not under `node_modules`).
fn leftovers(dir: &Path) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let kind = entry.file_type().unwrap();
        if kind.is_dir() && name != "node_modules" {
            found.extend(leftovers(&entry.path()));
        } else if name.ends_with(".blink-tmp") {
            found.push(entry.path().display().to_string());
        }
    }
    found
}
