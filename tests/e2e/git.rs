//! Projects as git repositories, through the real binary: commit and push to a real smart-HTTP git
//! server (`git http-backend`, token required), pull and merge what a real `git` client pushed,
//! conflicts, history and restore, and repository creation through a fake of GitHub's REST API.

use std::path::{Path, PathBuf};

use blink_test_support::fake_github::FakeGithub;
use blink_test_support::fake_llm::{FakeLlm, footer_rules};
use blink_test_support::git_server::{GitServer, clone_with_token, git, local_remotes};
use blink_test_support::host::Blink;
use blink_test_support::{jwt, sse};
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_blink");
const TOKEN: &str = "ghp_RightToken0123456789";
const WRONG: &str = "ghp_WrongToken9876543210";

async fn send(blink: &Blink, method: reqwest::Method, path: &str, token: &str, body: Option<Value>) -> (u16, Value) {
    let mut request = reqwest::Client::new().request(method, format!("{}{path}", blink.url)).bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    for secret in [TOKEN, WRONG] {
        assert!(!text.contains(secret), "a response carried a token: {text}");
    }
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

fn app_dir(blink: &Blink, project: &str) -> PathBuf {
    blink.data_dir.path().join("projects").join(project).join("app")
}

/// A fresh clone of the remote, as someone else's machine would have it.
fn clone(url: &str, dir: &Path) -> PathBuf {
    let dest = dir.join(format!(
        "clone-{}",
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos()
    ));
    clone_with_token(url, TOKEN, &dest);
    dest
}

#[tokio::test]
async fn commit_push_pull_conflicts_history_and_restore() {
    use reqwest::Method;
    let server = GitServer::start(TOKEN).await;
    let url = server.create_repo("app");
    let llm = FakeLlm::start(footer_rules()).await;
    let [schemes, private] = local_remotes();
    let blink = Blink::start(BIN, &[("BLINK_LLM_BASE_URL", llm.base_url()), schemes, private]).await;
    let user = jwt::user_token("gitter");
    let scratch = tempfile::tempdir().unwrap();
    send(&blink, Method::POST, "/api/projects", &user, Some(json!({ "id": "site" }))).await;

    // The remote: the token is sealed at rest and never shown again.
    let remote = json!({ "remoteUrl": url, "token": TOKEN, "branch": "main" });
    let (status, body) = send(&blink, Method::PUT, "/api/projects/site/git", &user, Some(remote)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, json!({ "remoteUrl": url, "branch": "main", "hasToken": true }));
    let (status, _) = send(
        &blink,
        Method::PUT,
        "/api/projects/site/git",
        &jwt::user_token("mallory"),
        Some(json!({ "remoteUrl": url })),
    )
    .await;
    assert_eq!(status, 404, "someone else's project");
    let with_creds = url.replacen("http://", "http://u:p@", 1);
    let (status, body) =
        send(&blink, Method::PUT, "/api/projects/site/git", &user, Some(json!({ "remoteUrl": with_creds }))).await;
    assert_eq!((status, body["error"].clone()), (400, json!("invalid_git_request")), "{body}");

    // A run with the project applies its result to the project's files; commit and push them.
    let (status, text) = blink
        .post(
            "/api/orchestrator",
            Some(&user),
            &json!({ "projectId": "site", "messages": [{ "role": "user", "content": "Add a footer" }] }),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(sse::events(&text).last().unwrap()["conversational"], false);
    let app = app_dir(&blink, "site");
    assert!(std::fs::read_to_string(app.join("src/Footer.tsx")).unwrap().contains("Made with Blink"));
    let commit = json!({ "projectId": "site", "message": "AI: Added a footer" });
    let (status, body) = send(&blink, Method::POST, "/api/git/commit", &user, Some(commit.clone())).await;
    assert_eq!(status, 200, "{body}\n{}", blink.log());
    assert_eq!(body["pushed"], true, "{body}");
    let first = body["commitHash"].as_str().unwrap().to_string();
    let theirs = clone(&url, scratch.path());
    assert_eq!(git(&theirs, &["rev-parse", "HEAD"]), first);
    assert!(std::fs::read_to_string(theirs.join("src/Footer.tsx")).unwrap().contains("Made with Blink"));
    assert!(theirs.join("package.json").exists(), "the whole project is in the repository");
    assert!(!theirs.join("node_modules").exists() && !theirs.join(".blink").exists());
    assert_eq!(
        git(&theirs, &["log", "-1", "--format=%an <%ae> / %cn"]),
        "gitter@example.com <gitter@example.com> / Blink"
    );
    let (status, body) = send(&blink, Method::POST, "/api/git/commit", &user, Some(commit.clone())).await;
    assert_eq!((status, body["error"].clone()), (409, json!("nothing_to_commit")), "{body}");

    // Someone pushes a binary file, a path with spaces and unicode, and deletes a file; pull.
    let logo: Vec<u8> = (0..4096u32).map(|i| (i * 7919 % 251) as u8).collect();
    std::fs::create_dir_all(theirs.join("public")).unwrap();
    std::fs::write(theirs.join("public/logo.png"), &logo).unwrap();
    std::fs::write(theirs.join("src/Ma page été.tsx"), "export const Page = () => <p>été</p>;\n").unwrap();
    git(&theirs, &["rm", "--quiet", "src/Footer.tsx"]);
    git(&theirs, &["add", "-A"]);
    git(&theirs, &["commit", "--quiet", "-m", "From a laptop"]);
    git(&theirs, &["push", "--quiet", "origin", "main"]);
    let (status, body) = send(&blink, Method::POST, "/api/git/pull", &user, Some(json!({ "projectId": "site" }))).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!((body["updated"].clone(), body["conflicts"].clone()), (json!(true), json!([])), "{body}");
    assert_eq!(std::fs::read(app.join("public/logo.png")).unwrap(), logo, "binary files arrive byte for byte");
    assert!(app.join("src/Ma page été.tsx").exists());
    assert!(!app.join("src/Footer.tsx").exists(), "a deletion on the remote deletes here");

    // The remote moves on while the project changes: the push is refused, the commit kept.
    std::fs::write(theirs.join("README.md"), "# Site\n").unwrap();
    git(&theirs, &["add", "-A"]);
    git(&theirs, &["commit", "--quiet", "-m", "Readme"]);
    git(&theirs, &["push", "--quiet", "origin", "main"]);
    std::fs::write(app.join("src/App.tsx"), "export default function App() { return <h1>Local</h1>; }\n").unwrap();
    let local = json!({ "projectId": "site", "message": "Local heading" });
    let (status, body) = send(&blink, Method::POST, "/api/git/commit", &user, Some(local)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["pushed"], false, "{body}");
    assert!(body["reason"].as_str().unwrap().contains("pull first"), "{body}");
    let kept = body["commitHash"].as_str().unwrap().to_string();
    // Pulling merges (a real merge commit), and the next commit pushes both.
    let (status, body) = send(&blink, Method::POST, "/api/git/pull", &user, Some(json!({ "projectId": "site" }))).await;
    assert_eq!((status, body["updated"].clone()), (200, json!(true)), "{body}");
    assert!(app.join("README.md").exists());
    let (_, log) = send(&blink, Method::GET, "/api/projects/site/git/log", &user, None).await;
    let messages: Vec<&str> =
        log["commits"].as_array().unwrap().iter().map(|c| c["message"].as_str().unwrap()).collect();
    assert!(messages[0].starts_with("Merge main of"), "{messages:?}");
    assert!(
        log["commits"].as_array().unwrap().iter().any(|c| c["hash"] == kept.as_str()),
        "the refused commit is kept"
    );

    // Conflicting edits: the conflict is named, and the project's files are left exactly as they were.
    git(&theirs, &["pull", "--quiet", "--no-rebase", "origin", "main"]);
    std::fs::write(theirs.join("src/App.tsx"), "export default function App() { return <h1>Theirs</h1>; }\n").unwrap();
    git(&theirs, &["commit", "--quiet", "-am", "Their heading"]);
    git(&theirs, &["push", "--quiet", "origin", "main"]);
    let mine = "export default function App() { return <h1>Mine</h1>; }\n";
    std::fs::write(app.join("src/App.tsx"), mine).unwrap();
    let (status, body) = send(&blink, Method::POST, "/api/git/pull", &user, Some(json!({ "projectId": "site" }))).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!((body["updated"].clone(), body["conflicts"].clone()), (json!(false), json!(["src/App.tsx"])), "{body}");
    assert_eq!(std::fs::read_to_string(app.join("src/App.tsx")).unwrap(), mine, "no conflict markers, nothing lost");

    // Restore the first commit: a new commit on top, the files as they were then.
    let (status, body) =
        send(&blink, Method::POST, "/api/projects/site/git/restore", &user, Some(json!({ "commit": first }))).await;
    assert_eq!(status, 200, "{body}");
    assert!(std::fs::read_to_string(app.join("src/Footer.tsx")).unwrap().contains("Made with Blink"));
    assert!(!app.join("public/logo.png").exists());
    let (_, log) = send(&blink, Method::GET, "/api/projects/site/git/log?limit=2", &user, None).await;
    assert_eq!(log["commits"].as_array().unwrap().len(), 2);
    assert!(log["commits"][0]["message"].as_str().unwrap().starts_with("Restore the project"), "{log}");
    let (status, body) =
        send(&blink, Method::POST, "/api/projects/site/git/restore", &user, Some(json!({ "commit": "0".repeat(40) })))
            .await;
    assert_eq!((status, body["error"].clone()), (404, json!("unknown_commit")));

    // A wrong token: a clear error that names the remote, not the token.
    let remote = json!({ "remoteUrl": url, "token": WRONG });
    send(&blink, Method::PUT, "/api/projects/site/git", &user, Some(remote)).await;
    std::fs::write(app.join("src/App.tsx"), "export default function App() { return <h1>Again</h1>; }\n").unwrap();
    let again = json!({ "projectId": "site", "message": "Again" });
    let (status, body) = send(&blink, Method::POST, "/api/git/commit", &user, Some(again)).await;
    assert_eq!((status, body["error"].clone()), (502, json!("remote_auth_failed")), "{body}");
    assert!(body["message"].as_str().unwrap().contains(&url), "{body}");
    let log = blink.log();
    assert!(!log.contains(TOKEN) && !log.contains(WRONG), "a token reached the log");
    let stored = std::fs::read(blink.data_dir.path().join("blink.db")).unwrap();
    assert!(!String::from_utf8_lossy(&stored).contains(TOKEN), "tokens are sealed at rest");
}

#[tokio::test]
async fn a_repository_is_created_on_github_and_pushed_to() {
    use reqwest::Method;
    let server = GitServer::start(TOKEN).await;
    let github = FakeGithub::start(&server, TOKEN, "octo").await;
    let llm = FakeLlm::start(footer_rules()).await;
    let [schemes, private] = local_remotes();
    let blink = Blink::start(
        BIN,
        &[("BLINK_LLM_BASE_URL", llm.base_url()), ("BLINK_GITHUB_API", github.base_url.clone()), schemes, private],
    )
    .await;
    let user = jwt::user_token("creator");
    send(&blink, Method::POST, "/api/projects", &user, Some(json!({ "id": "fresh" }))).await;
    let create = json!({ "name": "fresh-app", "token": TOKEN, "private": true });
    let (status, body) =
        send(&blink, Method::POST, "/api/projects/fresh/git/github", &user, Some(create.clone())).await;
    assert_eq!(status, 201, "{body}\n{}", blink.log());
    assert_eq!(body["fullName"], "octo/fresh-app");
    let request = &github.requests()[0];
    assert_eq!((request["method"].clone(), request["path"].clone()), (json!("POST"), json!("/user/repos")));
    assert_eq!(request["body"]["name"], "fresh-app");
    assert_eq!(request["body"]["private"], true);

    let (status, body) =
        send(&blink, Method::POST, "/api/git/commit", &user, Some(json!({ "projectId": "fresh", "message": "First" })))
            .await;
    assert_eq!((status, body["pushed"].clone()), (200, json!(true)), "{body}");
    let scratch = tempfile::tempdir().unwrap();
    let theirs = clone(body_url(&server, &github), scratch.path()).join("package.json");
    assert!(theirs.exists());

    let (status, body) = send(&blink, Method::POST, "/api/projects/fresh/git/github", &user, Some(create)).await;
    assert_eq!((status, body["error"].clone()), (400, json!("invalid_git_request")), "{body}");
    assert!(body["message"].as_str().unwrap().contains("already exists"), "{body}");
    let bad = json!({ "name": "other", "token": WRONG });
    let (status, body) = send(&blink, Method::POST, "/api/projects/fresh/git/github", &user, Some(bad)).await;
    assert_eq!((status, body["error"].clone()), (502, json!("remote_auth_failed")), "{body}");
    assert!(!blink.log().contains(TOKEN) && !blink.log().contains(WRONG));
}

fn body_url<'a>(server: &'a GitServer, github: &FakeGithub) -> &'a str {
    Box::leak(server.repo_url(&github.git_name("fresh-app")).into_boxed_str())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn operations_on_one_project_take_turns() {
    use reqwest::Method;
    let blink = Blink::start(BIN, &[]).await;
    let user = jwt::user_token("racer");
    for id in ["one", "two"] {
        send(&blink, Method::POST, "/api/projects", &user, Some(json!({ "id": id }))).await;
    }
    // Eight commits at once on one project: one commits, the rest find nothing left to commit;
    // none trips over another's index lock. Another project commits alongside.
    let commit = |id: &'static str| {
        let (blink, user) = (&blink, &user);
        async move {
            send(blink, Method::POST, "/api/git/commit", user, Some(json!({ "projectId": id, "message": "m" }))).await
        }
    };
    let (one, two) = tokio::join!(futures::future::join_all((0..8).map(|_| commit("one"))), commit("two"));
    let committed = one.iter().filter(|(status, _)| *status == 200).count();
    let nothing = one.iter().filter(|(status, body)| *status == 409 && body["error"] == "nothing_to_commit").count();
    assert_eq!((committed, nothing), (1, 7), "{one:?}");
    assert_eq!(two.0, 200, "{:?}", two.1);
    let (_, log) = send(&blink, Method::GET, "/api/projects/one/git/log", &user, None).await;
    assert_eq!(log["commits"].as_array().unwrap().len(), 1);
}
