//! The fake GitHub API: repository creation that makes a real, pushable repository.

use blink_test_support::fake_github::FakeGithub;
use blink_test_support::git_server::{GitServer, clone_with_token, git, try_git};
use serde_json::{Value, json};

const TOKEN: &str = "ghp_fake";

async fn create(github: &FakeGithub, auth: Option<&str>, body: Value) -> (u16, Value) {
    let mut request = reqwest::Client::new()
        .post(format!("{}/user/repos", github.base_url))
        .header("accept", "application/vnd.github+json")
        .json(&body);
    if let Some(auth) = auth {
        request = request.header("authorization", auth);
    }
    let response = request.send().await.unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

#[tokio::test]
async fn creating_a_repository_makes_one_the_token_can_push_to() {
    let git_server = GitServer::start(TOKEN).await;
    let github = FakeGithub::start(&git_server, TOKEN, "octo").await;

    let (status, repo) = create(
        &github,
        Some(&format!("Bearer {TOKEN}")),
        json!({ "name": "my site", "private": true, "description": "made by Blink" }),
    )
    .await;
    assert_eq!(status, 201, "{repo}");
    assert_eq!(repo["name"], "my-site");
    assert_eq!(repo["full_name"], "octo/my-site");
    assert_eq!(repo["private"], true);
    assert_eq!(repo["owner"]["login"], "octo");
    assert_eq!(repo["default_branch"], "main");
    assert_eq!(repo["html_url"], "https://github.com/octo/my-site");
    assert_eq!(repo["description"], "made by Blink");
    assert!(repo["id"].as_u64().is_some());
    let clone_url = repo["clone_url"].as_str().unwrap();
    assert_eq!(clone_url, git_server.repo_url("octo/my-site"));

    let tmp = tempfile::tempdir().unwrap();
    let work = tmp.path().join("work");
    clone_with_token(clone_url, TOKEN, &work);
    std::fs::write(work.join("index.html"), "hi").unwrap();
    git(&work, &["add", "."]);
    git(&work, &["commit", "-q", "-m", "site"]);
    git(&work, &["push", "-q", "origin", "main"]);
    assert_eq!(
        git(&git_server.repo_path(&github.git_name("my-site")), &["rev-parse", "main"]),
        git(&work, &["rev-parse", "HEAD"])
    );

    // The `token` scheme works as well as `Bearer`, and names are unique whatever their case.
    let (status, body) = create(&github, Some(&format!("token {TOKEN}")), json!({ "name": "My-Site" })).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["message"], "Repository creation failed.");
    assert_eq!(body["errors"][0]["message"], "name already exists on this account");
    assert_eq!(body["errors"][0]["field"], "name");

    let response = reqwest::Client::new()
        .get(format!("{}/repos/octo/my-site", github.base_url))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.json::<Value>().await.unwrap(), repo);

    let requests = github.requests();
    assert_eq!(requests.len(), 3, "{requests:#?}");
    assert_eq!(requests[0]["method"], "POST");
    assert_eq!(requests[0]["path"], "/user/repos");
    assert_eq!(requests[0]["status"], 201);
    assert_eq!(requests[0]["body"]["name"], "my site");
    assert_eq!(requests[0]["headers"]["authorization"], "Bearer <redacted>");
    assert_eq!(requests[0]["headers"]["accept"], "application/vnd.github+json");
    assert_eq!(requests[1]["headers"]["authorization"], "token <redacted>");
    assert_eq!(requests[1]["status"], 422);
    assert!(!format!("{requests:?}").contains(TOKEN));
    assert_eq!(github.repos(), vec![repo]);
}

#[tokio::test]
async fn a_wrong_or_missing_token_is_refused() {
    let git_server = GitServer::start(TOKEN).await;
    let github = FakeGithub::start(&git_server, TOKEN, "octo").await;

    let (status, body) = create(&github, Some("Bearer nope"), json!({ "name": "x" })).await;
    assert_eq!(status, 401);
    assert_eq!(body, json!({ "message": "Bad credentials", "documentation_url": "https://docs.github.com/rest" }));
    let (status, body) = create(&github, None, json!({ "name": "x" })).await;
    assert_eq!(status, 401);
    assert_eq!(body["message"], "Requires authentication");
    assert!(!git_server.repo_path(&github.git_name("x")).exists());
    assert!(github.repos().is_empty());

    let (status, body) = create(&github, Some(&format!("Bearer {TOKEN}")), json!({ "private": true })).await;
    assert_eq!(status, 422, "{body}");
}

#[tokio::test]
async fn auto_init_makes_a_first_commit_on_main() {
    let git_server = GitServer::start(TOKEN).await;
    let github = FakeGithub::start(&git_server, TOKEN, "octo").await;
    // A repository already on the server counts as existing.
    git_server.create_repo("octo/taken");
    let (status, _) = create(&github, Some(&format!("Bearer {TOKEN}")), json!({ "name": "taken" })).await;
    assert_eq!(status, 422);

    let (status, repo) = create(
        &github,
        Some(&format!("Bearer {TOKEN}")),
        json!({ "name": "fresh", "auto_init": true, "description": "A site" }),
    )
    .await;
    assert_eq!(status, 201, "{repo}");
    let tmp = tempfile::tempdir().unwrap();
    let work = tmp.path().join("work");
    clone_with_token(repo["clone_url"].as_str().unwrap(), TOKEN, &work);
    assert_eq!(std::fs::read_to_string(work.join("README.md")).unwrap(), "# fresh\nA site\n");
    assert_eq!(git(&work, &["rev-parse", "--abbrev-ref", "HEAD"]), "main");
    assert!(try_git(&work, &["rev-parse", "HEAD~1"]).is_err(), "a single commit");
}
