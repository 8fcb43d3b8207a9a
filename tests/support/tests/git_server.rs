//! The test git server against real clients: the git CLI and libgit2 (as the host uses it).

use std::io::Write as _;
use std::path::Path;

use blink_test_support::git_server::{GitServer, clone_with_token, git, try_git, url_with_token};
use rand::RngCore as _;

const TOKEN: &str = "ghp_test-token/with+odd=chars";

fn random_bytes(len: usize) -> Vec<u8> {
    let mut bytes = vec![0; len];
    rand::thread_rng().fill_bytes(&mut bytes);
    bytes
}

#[tokio::test]
async fn the_git_cli_clones_and_pushes_with_the_token() {
    let server = GitServer::start(TOKEN).await;
    let url = server.create_repo("demo");
    assert_eq!(url, format!("{}/demo.git", server.base_url));
    let tmp = tempfile::tempdir().unwrap();

    let a = tmp.path().join("a");
    clone_with_token(&url, TOKEN, &a);
    std::fs::write(a.join("README.md"), "hello\n").unwrap();
    git(&a, &["add", "README.md"]);
    git(&a, &["commit", "-q", "-m", "first"]);
    git(&a, &["push", "-q", "origin", "main"]);
    // Incompressible and larger than http.postBuffer, so the CLI sends the pack chunked.
    let big = random_bytes(2 << 20);
    std::fs::write(a.join("big.bin"), &big).unwrap();
    git(&a, &["add", "big.bin"]);
    git(&a, &["commit", "-q", "-m", "big"]);
    git(&a, &["-c", "http.postBuffer=65536", "push", "-q", "origin", "main"]);

    let pushes = server.pushes();
    assert!(pushes.iter().all(|p| p.status == 200 && p.user.as_deref() == Some("x-access-token")), "{pushes:#?}");
    // Before a body too large to buffer, the CLI probes with an empty request (`0000`).
    assert_eq!(
        pushes.iter().map(|p| (p.chunked, p.body_len == 4)).collect::<Vec<_>>(),
        [(false, false), (false, true), (true, false)]
    );
    assert!(pushes[2].body_len > 2 << 20, "{pushes:#?}");

    let b = tmp.path().join("b");
    clone_with_token(&url, TOKEN, &b);
    assert_eq!(std::fs::read_to_string(b.join("README.md")).unwrap(), "hello\n");
    assert_eq!(std::fs::read(b.join("big.bin")).unwrap(), big);
    assert_eq!(git(&b, &["rev-parse", "HEAD"]), git(&a, &["rev-parse", "HEAD"]));
    assert_eq!(git(&b, &["log", "--format=%s"]), "big\nfirst");
    let bare = server.repo_path("demo");
    assert_eq!(git(&bare, &["rev-parse", "main"]), git(&a, &["rev-parse", "HEAD"]));
    assert_eq!(git(&bare, &["symbolic-ref", "HEAD"]), "refs/heads/main");
}

#[tokio::test]
async fn a_wrong_or_missing_token_is_refused_with_a_challenge() {
    let server = GitServer::start(TOKEN).await;
    let url = server.create_repo("private");
    let tmp = tempfile::tempdir().unwrap();

    let err = try_git(tmp.path(), &["clone", &url_with_token(&url, "wrong"), "x"]).unwrap_err();
    assert!(err.contains("Authentication failed"), "{err}");
    // No credentials at all: git would prompt for them, which the clean environment forbids.
    let err = try_git(tmp.path(), &["clone", &url, "y"]).unwrap_err();
    assert!(err.contains("could not read Username"), "{err}");
    assert!(server.served().iter().all(|s| s.status == 401), "{:#?}", server.served());
    assert_eq!(server.refused(), server.requests());

    let response = reqwest::get(format!("{url}/info/refs?service=git-upload-pack")).await.unwrap();
    assert_eq!(response.status(), 401);
    assert_eq!(response.headers()["www-authenticate"], "Basic realm=\"git\"");
    let response = reqwest::Client::new()
        .get(format!("{url}/info/refs?service=git-upload-pack"))
        .basic_auth("anyone", Some(TOKEN))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/x-git-upload-pack-advertisement");

    let response = reqwest::Client::new()
        .get(format!("{}/missing.git/info/refs?service=git-upload-pack", server.base_url))
        .basic_auth("anyone", Some(TOKEN))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
}

/// The CLI compresses large fetch negotiations; http-backend must inflate them (it does, told by
/// `HTTP_CONTENT_ENCODING`).
#[tokio::test]
async fn a_gzipped_request_body_is_inflated() {
    let server = GitServer::start(TOKEN).await;
    let url = server.create_repo("zipped");
    let tmp = tempfile::tempdir().unwrap();
    let work = tmp.path().join("work");
    clone_with_token(&url, TOKEN, &work);
    std::fs::write(work.join("f"), "x").unwrap();
    git(&work, &["add", "f"]);
    git(&work, &["commit", "-q", "-m", "one"]);
    git(&work, &["push", "-q", "origin", "main"]);
    let head = git(&work, &["rev-parse", "HEAD"]);

    let want = format!("want {head}\n");
    let request = format!("{:04x}{want}00000009done\n", want.len() + 4);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(request.as_bytes()).unwrap();
    let response = reqwest::Client::new()
        .post(format!("{url}/git-upload-pack"))
        .basic_auth("x-access-token", Some(TOKEN))
        .header("content-type", "application/x-git-upload-pack-request")
        .header("content-encoding", "gzip")
        .body(gz.finish().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body = response.bytes().await.unwrap();
    assert!(body.starts_with(b"0008NAK\nPACK"), "{:?}", String::from_utf8_lossy(&body[..body.len().min(200)]));
    assert!(server.served().last().unwrap().gzip);
}

fn git2_callbacks<'a>(token: &'a str, attempts: &'a std::cell::Cell<usize>) -> git2::RemoteCallbacks<'a> {
    let mut callbacks = git2::RemoteCallbacks::new();
    callbacks.credentials(move |_url, _user, _allowed| {
        attempts.set(attempts.get() + 1);
        // libgit2 asks again after every 401: give up after one try rather than loop.
        if attempts.get() > 1 {
            return Err(git2::Error::from_str("the token was refused"));
        }
        git2::Cred::userpass_plaintext("x-access-token", token)
    });
    callbacks
}

fn commit_file(repo: &git2::Repository, name: &str, content: &[u8], message: &str) -> git2::Oid {
    std::fs::write(repo.workdir().unwrap().join(name), content).unwrap();
    let mut index = repo.index().unwrap();
    index.add_path(Path::new(name)).unwrap();
    index.write().unwrap();
    let tree = repo.find_tree(index.write_tree().unwrap()).unwrap();
    let signature = git2::Signature::now("Blink", "blink@example.test").unwrap();
    let parent = repo.head().ok().and_then(|h| h.peel_to_commit().ok());
    let parents: Vec<&git2::Commit> = parent.iter().collect();
    repo.commit(Some("HEAD"), &signature, &signature, message, &tree, &parents).unwrap()
}

fn push(repo: &git2::Repository, url: &str, token: &str) -> Result<(), git2::Error> {
    let attempts = std::cell::Cell::new(0);
    let rejected = std::cell::RefCell::new(None);
    let mut callbacks = git2_callbacks(token, &attempts);
    callbacks.push_update_reference(|refname, status| {
        if let Some(status) = status {
            *rejected.borrow_mut() = Some(format!("{refname}: {status}"));
        }
        Ok(())
    });
    let mut options = git2::PushOptions::new();
    options.remote_callbacks(callbacks);
    let mut remote = repo.remote_anonymous(url)?;
    remote.push(&["refs/heads/main:refs/heads/main"], Some(&mut options))?;
    drop(options);
    match rejected.into_inner() {
        Some(rejection) => Err(git2::Error::from_str(&rejection)),
        None => Ok(()),
    }
}

/// What the host does: libgit2, credentials from a callback, over plain HTTP.
#[tokio::test]
async fn libgit2_pushes_and_fetches_with_a_credentials_callback() {
    let server = GitServer::start(TOKEN).await;
    let url = server.create_repo("owner/site");
    let tmp = tempfile::tempdir().unwrap();

    let mut init = git2::RepositoryInitOptions::new();
    init.initial_head("main");
    let repo = git2::Repository::init_opts(tmp.path().join("local"), &init).unwrap();
    commit_file(&repo, "index.html", b"<h1>hi</h1>\n", "first");
    push(&repo, &url, TOKEN).unwrap();
    let big = random_bytes(2 << 20);
    let head = commit_file(&repo, "big.bin", &big, "big");
    push(&repo, &url, TOKEN).unwrap();

    let pushes = server.pushes();
    assert_eq!(pushes.len(), 2, "{:#?}", server.served());
    assert!(pushes.iter().all(|p| p.status == 200 && p.chunked), "libgit2 pushes chunked: {pushes:#?}");
    assert_eq!(git(&server.repo_path("owner/site"), &["rev-parse", "main"]), head.to_string());

    let cloned = tmp.path().join("cloned");
    clone_with_token(&url, TOKEN, &cloned);
    assert_eq!(std::fs::read(cloned.join("big.bin")).unwrap(), big);
    assert_eq!(std::fs::read_to_string(cloned.join("index.html")).unwrap(), "<h1>hi</h1>\n");

    // A commit made elsewhere, fetched back with libgit2.
    std::fs::write(cloned.join("other.txt"), "from elsewhere\n").unwrap();
    git(&cloned, &["add", "other.txt"]);
    git(&cloned, &["commit", "-q", "-m", "elsewhere"]);
    git(&cloned, &["push", "-q", "origin", "main"]);
    let attempts = std::cell::Cell::new(0);
    let mut options = git2::FetchOptions::new();
    options.remote_callbacks(git2_callbacks(TOKEN, &attempts));
    repo.remote_anonymous(&url)
        .unwrap()
        .fetch(&["refs/heads/main:refs/remotes/origin/main"], Some(&mut options), None)
        .unwrap();
    let fetched = repo.find_reference("refs/remotes/origin/main").unwrap().peel_to_commit().unwrap();
    assert_eq!(fetched.id().to_string(), git(&cloned, &["rev-parse", "HEAD"]));
    assert_eq!(fetched.parent_id(0).unwrap(), head);

    // A wrong token fails (after one try of the callback) instead of looping.
    commit_file(&repo, "more.txt", b"more", "more");
    let err = push(&repo, &url, "wrong").unwrap_err();
    assert!(err.message().contains("refused"), "{err}");
    assert_eq!(git(&server.repo_path("owner/site"), &["rev-parse", "main"]), git(&cloned, &["rev-parse", "HEAD"]));
}
