//! The host's own files: nobody but the host's user reads the data directory, the database or
//! the key that seals users' tokens.

use std::os::unix::fs::PermissionsExt as _;

use blink_test_support::host::Blink;

use super::BIN;

fn mode(path: &std::path::Path) -> u32 {
    std::fs::metadata(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())).permissions().mode() & 0o777
}

/// Item 10: the data directory is created 0700, the embedded database 0600 (an older one
/// readable by others is tightened), and a `secret.key` others can read stops the host.
#[tokio::test]
async fn the_data_directory_database_and_key_are_the_host_users_alone() {
    let scratch = tempfile::tempdir().unwrap();
    let data = scratch.path().join("fresh").join("data");
    let env = [("BLINK_DATA_DIR", data.display().to_string())];
    let blink = Blink::start_in(BIN, tempfile::tempdir_in(scratch.path()).unwrap(), &env).await;
    let status = reqwest::get(format!("{}/healthz", blink.url)).await.unwrap().status();
    assert_eq!(status, 200);
    assert_eq!(mode(&data), 0o700, "the data directory");
    assert_eq!(mode(&data.join("blink.db")), 0o600, "the database");
    assert_eq!(mode(&data.join("secret.key")), 0o600, "the sealing key");
    let log_dir = blink.stop().await;

    // A database left readable by a looser umask is tightened on the next start.
    std::fs::set_permissions(data.join("blink.db"), std::fs::Permissions::from_mode(0o644)).unwrap();
    let blink = Blink::start_in(BIN, log_dir, &env).await;
    assert_eq!(mode(&data.join("blink.db")), 0o600, "the database, tightened");
    let _ = blink.stop().await;

    // A key others can read is refused with a line saying what to do, never used.
    std::fs::set_permissions(data.join("secret.key"), std::fs::Permissions::from_mode(0o644)).unwrap();
    let output = std::process::Command::new(BIN)
        .arg("serve")
        .env_clear()
        .env("BLINK_ADDR", "127.0.0.1:0")
        .env("BLINK_DATA_DIR", &data)
        .env("BLINK_SANDBOXES", "false")
        .env("BLINK_DEV_NO_AUTH", "true")
        .output()
        .unwrap();
    assert!(!output.status.success(), "the host started with a key others can read");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("secret.key can be read by other users (mode 644)"), "{stderr}");
    assert!(stderr.contains("chmod 600"), "{stderr}");
}

/// Beyond the list (found in review): a deleted project's id, taken again by another user, comes
/// with nothing of the old project; its files and repository go before its record.
#[tokio::test]
async fn a_deleted_projects_id_taken_again_holds_nothing_of_the_old_project() {
    let llm = blink_test_support::fake_llm::FakeLlm::start(blink_test_support::fake_llm::footer_rules()).await;
    let blink = Blink::start(BIN, &[("BLINK_LLM_BASE_URL", llm.base_url())]).await;
    let (alice, mallory) =
        (blink_test_support::jwt::user_token("alice-gone"), blink_test_support::jwt::user_token("mallory-next"));
    let chat =
        serde_json::json!({ "projectId": "shop-gone", "messages": [{ "role": "user", "content": "Add a footer" }] });
    let (status, _) = blink.post("/api/orchestrator", Some(&alice), &chat).await;
    assert_eq!(status, 200);
    let project = blink.data_dir.path().join("projects").join("shop-gone");
    assert!(project.join("app/src/Footer.tsx").exists(), "the run wrote Alice's files");
    let client = reqwest::Client::new();
    let commit = serde_json::json!({ "projectId": "shop-gone", "message": "Alice's footer" });
    let committed = client.post(format!("{}/api/git/commit", blink.url)).bearer_auth(&alice).json(&commit);
    assert_eq!(committed.send().await.unwrap().status(), 200);

    let url = format!("{}/api/projects/shop-gone", blink.url);
    let status = client.delete(&url).bearer_auth(&alice).send().await.unwrap().status();
    assert_eq!(status, 204);
    assert!(!project.exists(), "the deleted project's files and repository are gone");

    let created = client
        .post(format!("{}/api/projects", blink.url))
        .bearer_auth(&mallory)
        .json(&serde_json::json!({ "id": "shop-gone" }))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let log: serde_json::Value =
        client.get(format!("{url}/git/log")).bearer_auth(&mallory).send().await.unwrap().json().await.unwrap();
    assert!(!project.join("app/src/Footer.tsx").exists(), "Alice's files came with the id");
    assert_eq!(log, serde_json::json!({ "commits": [] }), "Alice's history came with the id");
}
