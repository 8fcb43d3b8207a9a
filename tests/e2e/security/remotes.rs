//! Items 2 and 9 (fetch size): a project's remote as an attacker sets it, to read another user's
//! repository off the host's disk, to make the host call internal addresses, or to flood it.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use blink_test_support::git_server::{GitServer, clone_with_token, git, local_remotes};
use blink_test_support::host::Blink;
use blink_test_support::jwt;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const BIN: &str = env!("CARGO_BIN_EXE_blink");
const TOKEN: &str = "ghp_RemotesToken0123456789";
/// What the internal service answers; no error may ever carry it.
const MARKER: &str = "INTERNAL-MARKER-7f3a";

async fn send(blink: &Blink, method: reqwest::Method, path: &str, user: &str, body: Option<Value>) -> (u16, Value) {
    // A host that never gives a remote up never answers: the test fails instead of waiting.
    let mut request = reqwest::Client::new()
        .request(method, format!("{}{path}", blink.url))
        .bearer_auth(user)
        .timeout(std::time::Duration::from_secs(60));
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    assert!(!text.contains(MARKER), "an answer repeated what the internal service said: {text}");
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

async fn set_remote(blink: &Blink, user: &str, project: &str, url: &str) -> (u16, Value) {
    let body = json!({ "remoteUrl": url, "token": TOKEN });
    send(blink, reqwest::Method::PUT, &format!("/api/projects/{project}/git"), user, Some(body)).await
}

/// A new project of `user` with `url` as its remote.
async fn project_with_remote(blink: &Blink, user: &str, project: &str, url: &str) {
    let (status, body) =
        send(blink, reqwest::Method::POST, "/api/projects", user, Some(json!({ "id": project }))).await;
    assert!(status < 300, "{body}");
    let (status, body) = set_remote(blink, user, project, url).await;
    assert_eq!(status, 200, "{body}");
}

async fn pull(blink: &Blink, user: &str, project: &str) -> (u16, Value) {
    send(blink, reqwest::Method::POST, "/api/git/pull", user, Some(json!({ "projectId": project }))).await
}

/// A loopback service that counts the connections it accepts and, once a request's head has
/// arrived, hands each connection to what it was started with.
struct Listener {
    port: u16,
    connections: Arc<AtomicUsize>,
}

/// What a [`Listener`] does with a connection whose request head it read.
enum Answer {
    /// Writes these bytes, whatever was asked.
    Once(String),
    /// Keeps the connection open and says nothing.
    Silent,
    /// Starts a git advertisement (its headers, the length of a long first packet) and never
    /// finishes it: a byte every this often, each well within any per-read timeout.
    Trickle(std::time::Duration),
}

impl Listener {
    async fn start(answer: Option<String>) -> Self {
        Self::answering(answer.map_or(Answer::Silent, Answer::Once)).await
    }

    async fn trickle(every: std::time::Duration) -> Self {
        Self::answering(Answer::Trickle(every)).await
    }

    async fn answering(answer: Answer) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let connections = Arc::new(AtomicUsize::new(0));
        let counted = connections.clone();
        let answer = Arc::new(answer);
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                counted.fetch_add(1, Ordering::SeqCst);
                let answer = answer.clone();
                tokio::spawn(async move {
                    let mut request = Vec::new();
                    let mut buf = [0u8; 4096];
                    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                        match stream.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => request.extend_from_slice(&buf[..n]),
                        }
                    }
                    match &*answer {
                        Answer::Once(answer) => drop(stream.write_all(answer.as_bytes()).await),
                        Answer::Silent => std::future::pending::<()>().await,
                        Answer::Trickle(every) => {
                            let head = "HTTP/1.1 200 OK\r\nContent-Type: application/x-git-upload-pack-advertisement\r\n\
                                        Connection: close\r\n\r\nfff0";
                            let mut sent = stream.write_all(head.as_bytes()).await;
                            while sent.is_ok() {
                                tokio::time::sleep(*every).await;
                                sent = stream.write_all(b"a").await;
                            }
                        }
                    }
                });
            }
        });
        Self { port, connections }
    }

    fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}

/// Item 2: remotes are `https` to public addresses only, unless the operator opts in: another
/// user's repository on the host's disk (`file://`), `http`, loopback by address or by name,
/// IPv4-mapped loopback and the cloud metadata address are refused when set, with nothing sent;
/// a loopback remote stored while the operator allowed it is refused at connection once the
/// policy is back to default; and no error repeats what an internal service answered.
#[tokio::test]
async fn remotes_reach_neither_the_hosts_disk_nor_internal_addresses() {
    use reqwest::Method;
    let (alice, bob) = (jwt::user_token("alice-remotes"), jwt::user_token("bob-remotes"));
    let blink = Blink::start(BIN, &[]).await;
    for (user, project) in [(&alice, "alice-app"), (&bob, "bob-app"), (&bob, "bob-probe")] {
        let (status, body) = send(&blink, Method::POST, "/api/projects", user, Some(json!({ "id": project }))).await;
        assert!(status < 300, "{body}");
    }
    // Alice commits a secret to her repository (the first commit makes her project's files).
    let alice_app = blink.data_dir.path().join("projects/alice-app/app");
    for message in ["First", "Secret"] {
        if message == "Secret" {
            std::fs::write(alice_app.join("alice-secret.txt"), "alice's secret\n").unwrap();
        }
        let commit = json!({ "projectId": "alice-app", "message": message });
        let (status, body) = send(&blink, Method::POST, "/api/git/commit", &alice, Some(commit)).await;
        assert_eq!(status, 200, "{body}");
    }

    let silent = Listener::start(None).await;
    let port = silent.port;
    let alice_git = blink.data_dir.path().join("projects/alice-app/git");
    for url in [
        format!("file://{}", alice_git.display()),
        format!("http://127.0.0.1:{port}/repo.git"),
        format!("https://127.0.0.1:{port}/repo.git"),
        format!("https://localhost:{port}/repo.git"),
        format!("https://[::ffff:127.0.0.1]:{port}/repo.git"),
        format!("https://127.1:{port}/repo.git"),
        "https://169.254.169.254/latest/meta-data/".to_string(),
        format!("git://127.0.0.1:{port}/repo.git"),
        format!("ssh://git@127.0.0.1:{port}/repo.git"),
    ] {
        let (status, body) = set_remote(&blink, &bob, "bob-app", &url).await;
        assert_eq!((status, body["error"].clone()), (422, json!("remote_not_allowed")), "{url}: {body}");
    }
    let (status, _) = send(&blink, Method::GET, "/api/projects/bob-app/git", &bob, None).await;
    assert_eq!(status, 404, "no refused remote was stored");
    let (status, body) = pull(&blink, &bob, "bob-app").await;
    assert_eq!((status, body["error"].clone()), (409, json!("no_remote")), "{body}");
    let bob_app = blink.data_dir.path().join("projects/bob-app/app");
    assert!(!bob_app.join("alice-secret.txt").exists(), "Alice's files reached Bob's project");
    assert_eq!(silent.connections(), 0, "the host connected to a refused remote");

    // The operator allows internal addresses and plain HTTP: Bob stores a loopback remote by
    // name, and probes an internal service that answers in its own words.
    let data_dir = blink.stop().await;
    let blink = Blink::start_in(BIN, data_dir, &local_remotes()).await;
    let by_name = format!("https://localhost:{port}/repo.git");
    let (status, body) = set_remote(&blink, &bob, "bob-app", &by_name).await;
    assert_eq!(status, 200, "{body}");
    let internal = Listener::start(Some(format!(
        "HTTP/1.1 200 OK\r\nContent-Type: text/x-{MARKER}\r\nX-Detail: {MARKER}\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{MARKER}",
        MARKER.len()
    )))
    .await;
    let (status, body) =
        set_remote(&blink, &bob, "bob-probe", &format!("http://127.0.0.1:{}/repo.git", internal.port)).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = pull(&blink, &bob, "bob-probe").await;
    assert_eq!((status, body["error"].clone()), (502, json!("remote_failed")), "{body}");
    assert!(internal.connections() > 0, "the allowed internal remote was reached");
    assert!(!blink.log().contains(MARKER), "the log repeated what the internal service said");

    // Back to the default policy on the same data: the stored loopback remote is refused where
    // the host resolves the name to connect, before any connection.
    let data_dir = blink.stop().await;
    let blink = Blink::start_in(BIN, data_dir, &[]).await;
    let (status, body) = pull(&blink, &bob, "bob-app").await;
    assert_eq!((status, body["error"].clone()), (422, json!("remote_not_allowed")), "{body}");
    let (status, body) = pull(&blink, &bob, "bob-probe").await;
    assert_eq!((status, body["error"].clone()), (422, json!("remote_not_allowed")), "{body}");
    assert_eq!(silent.connections(), 0, "the host connected to a loopback remote under the default policy");
}

/// A pass-through to the git server that records its answers, then replays them byte for byte:
/// every fetch of a fresh project then receives exactly the same bytes.
struct Replay {
    upstream: String,
    replaying: AtomicBool,
    recorded: Mutex<Vec<(String, bytes::Bytes)>>,
    next: AtomicUsize,
}

async fn replay(
    axum::extract::State(replay): axum::extract::State<Arc<Replay>>,
    request: axum::extract::Request,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let (parts, body) = request.into_parts();
    if parts.method == axum::http::Method::GET {
        replay.next.store(0, Ordering::SeqCst);
    }
    let (content_type, body) = if replay.replaying.load(Ordering::SeqCst) {
        let i = replay.next.fetch_add(1, Ordering::SeqCst);
        replay.recorded.lock().unwrap()[i].clone()
    } else {
        let body = axum::body::to_bytes(body, usize::MAX).await.unwrap();
        let url = format!("{}{}", replay.upstream, parts.uri.path_and_query().unwrap());
        let mut forward = reqwest::Client::new().request(parts.method.clone(), url).body(body);
        for name in ["authorization", "content-type", "accept"] {
            if let Some(value) = parts.headers.get(name) {
                forward = forward.header(name, value.as_bytes());
            }
        }
        let answer = forward.send().await.unwrap();
        let status = answer.status().as_u16();
        let content_type = answer.headers()["content-type"].to_str().unwrap().to_string();
        let challenge = answer.headers().get("www-authenticate").map(|v| v.to_str().unwrap().to_string());
        let body = answer.bytes().await.unwrap();
        if status != 200 {
            // A credentials challenge is passed on, not recorded: only what a fetch receives is.
            let status = axum::http::StatusCode::from_u16(status).unwrap();
            let challenge = challenge.unwrap_or_default();
            return (status, [(axum::http::header::WWW_AUTHENTICATE, challenge)], body).into_response();
        }
        replay.recorded.lock().unwrap().push((content_type.clone(), body.clone()));
        (content_type, body)
    };
    ([(axum::http::header::CONTENT_TYPE, content_type)], body).into_response()
}

/// Item 9: a fetch receives at most `BLINK_GIT_MAX_FETCH_BYTES`: a pull of exactly that many
/// bytes lands, one byte more is aborted with `fetch_too_large` and leaves the project as it was;
/// a remote that stalls is given up after `BLINK_GIT_REMOTE_TIMEOUT_SECS`, and one that trickles
/// after `BLINK_GIT_OPERATION_TIMEOUT_SECS` in all.
#[tokio::test]
async fn a_pull_receives_at_most_the_fetch_limit() {
    // A repository of one incompressible 256 KiB file, pushed with the real git CLI.
    let server = GitServer::start(TOKEN).await;
    let url = server.create_repo("big");
    let scratch = tempfile::tempdir().unwrap();
    let clone = scratch.path().join("big");
    clone_with_token(&url, TOKEN, &clone);
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let content: Vec<u8> = (0..256 * 1024)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect();
    std::fs::write(clone.join("big.bin"), &content).unwrap();
    git(&clone, &["add", "-A"]);
    git(&clone, &["commit", "--quiet", "-m", "Big"]);
    git(&clone, &["push", "--quiet", "origin", "main"]);

    let replay_state = Arc::new(Replay {
        upstream: server.base_url.trim_end_matches("/git").to_string(),
        replaying: AtomicBool::new(false),
        recorded: Mutex::new(Vec::new()),
        next: AtomicUsize::new(0),
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let proxied = format!("http://{}/git/big.git", listener.local_addr().unwrap());
    let app = axum::Router::new().fallback(replay).with_state(replay_state.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });

    let user = jwt::user_token("flooder");
    let opt_in = |limit: Option<usize>| {
        let mut env = local_remotes().to_vec();
        env.extend(limit.map(|l| ("BLINK_GIT_MAX_FETCH_BYTES", l.to_string())));
        env
    };

    // Record what one fetch receives, under the default limit.
    let blink = Blink::start(BIN, &opt_in(None)).await;
    project_with_remote(&blink, &user, "recorded", &proxied).await;
    let (status, body) = pull(&blink, &user, "recorded").await;
    assert_eq!((status, body["updated"].clone()), (200, json!(true)), "{body}\n{}", blink.log());
    let fetched: usize = replay_state.recorded.lock().unwrap().iter().map(|(_, body)| body.len()).sum();
    assert!(fetched > content.len(), "one fetch received {fetched} bytes");
    replay_state.replaying.store(true, Ordering::SeqCst);

    // Exactly the limit: the pull lands.
    let data_dir = blink.stop().await;
    let blink = Blink::start_in(BIN, data_dir, &opt_in(Some(fetched))).await;
    project_with_remote(&blink, &user, "exact", &proxied).await;
    let (status, body) = pull(&blink, &user, "exact").await;
    assert_eq!((status, body["updated"].clone()), (200, json!(true)), "{body}\n{}", blink.log());
    let exact = blink.data_dir.path().join("projects/exact/app/big.bin");
    assert_eq!(std::fs::read(exact).unwrap(), content);

    // One byte less: aborted, nothing lands, no pack is left behind.
    let data_dir = blink.stop().await;
    let blink = Blink::start_in(BIN, data_dir, &opt_in(Some(fetched - 1))).await;
    project_with_remote(&blink, &user, "over", &proxied).await;
    let (status, body) = pull(&blink, &user, "over").await;
    assert_eq!((status, body["error"].clone()), (422, json!("fetch_too_large")), "{body}");
    assert!(body["message"].as_str().unwrap().contains(&(fetched - 1).to_string()), "{body}");
    let project = blink.data_dir.path().join("projects/over");
    assert!(!project.join("app/big.bin").exists(), "an aborted fetch changed the project");
    let packs: Vec<_> = std::fs::read_dir(project.join("git/objects/pack"))
        .map(|dir| dir.filter_map(Result::ok).map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(packs.is_empty(), "an aborted fetch left {packs:?}");
    let (status, _) = pull(&blink, &user, "over").await;
    assert_eq!(status, 422, "the limit holds on every try");

    // A remote that accepts and then never answers cannot hold a pull (and a host thread).
    let data_dir = blink.stop().await;
    let mut env = opt_in(None);
    env.push(("BLINK_GIT_REMOTE_TIMEOUT_SECS", "1".to_string()));
    let blink = Blink::start_in(BIN, data_dir, &env).await;
    let stalling = Listener::start(None).await;
    let url = format!("http://127.0.0.1:{}/git/big.git", stalling.port);
    project_with_remote(&blink, &user, "stalled", &url).await;
    let (status, body) = pull(&blink, &user, "stalled").await;
    assert_eq!((status, body["error"].clone()), (502, json!("remote_failed")), "{body}");
    assert!(body["message"].as_str().unwrap().contains("did not answer in time"), "{body}");
    assert_eq!(stalling.connections(), 1);

    // One that answers a byte at a time, each inside the per-read timeout, is given up once the
    // operation's whole time is spent.
    let data_dir = blink.stop().await;
    let mut env = opt_in(None);
    env.extend([("BLINK_GIT_REMOTE_TIMEOUT_SECS", "2".to_string()), ("BLINK_GIT_OPERATION_TIMEOUT_SECS", "3".into())]);
    let blink = Blink::start_in(BIN, data_dir, &env).await;
    let trickling = Listener::trickle(std::time::Duration::from_millis(200)).await;
    let url = format!("http://127.0.0.1:{}/git/slow.git", trickling.port);
    project_with_remote(&blink, &user, "trickled", &url).await;
    let (status, body) = pull(&blink, &user, "trickled").await;
    assert_eq!((status, body["error"].clone()), (502, json!("remote_failed")), "{body}");
    assert!(body["message"].as_str().unwrap().contains("BLINK_GIT_OPERATION_TIMEOUT_SECS"), "{body}");
}
