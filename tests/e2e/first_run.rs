//! A newcomer's first run, through the real binary: with nothing configured, `blink serve` on a
//! loopback address prints a development token and a request that works exactly as printed,
//! and says how to configure a model; on any other address it prints no token and lets nobody in.

use std::time::Duration;

use blink_test_support::host::Blink;
use blink_test_support::sse;

const BIN: &str = env!("CARGO_BIN_EXE_blink");

/// The printed lines once the host has said everything it says at start.
async fn printed(blink: &Blink, last: &str) -> Vec<String> {
    for _ in 0..100 {
        let lines = blink.stdout();
        if lines.iter().any(|l| l.contains(last)) {
            return lines;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the host never printed {last:?}: {:?}", blink.stdout());
}

#[tokio::test]
async fn a_first_run_prints_a_token_and_a_request_that_works_as_printed() {
    let blink = Blink::start_unconfigured(BIN, tempfile::tempdir().unwrap(), &[]).await;
    let lines = printed(&blink, "BLINK_LLM_API_KEY").await;
    let export = lines.iter().find(|l| l.trim_start().starts_with("export BLINK_TOKEN=")).expect("a token line");
    let curl = lines.iter().find(|l| l.trim_start().starts_with("curl ")).expect("a request line");
    assert!(lines.iter().any(|l| l.contains("dev-jwt-secret")), "where the secret is: {lines:?}");
    // Pasted into a shell as printed: the stream answers, and says how to configure a model.
    let out = std::process::Command::new("sh").arg("-c").arg(format!("{export}\n{curl}")).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let body = String::from_utf8_lossy(&out.stdout);
    let events = sse::events(&body);
    let error = events.iter().find(|e| e["type"] == "error").unwrap_or_else(|| panic!("{body}"));
    assert_eq!(error["code"], "llm_unavailable", "{body}");

    // The token keeps working after a restart: the secret stays in the data directory.
    let token = export.trim_start().trim_start_matches("export BLINK_TOKEN=").to_string();
    let dir = blink.stop().await;
    let blink = Blink::start_unconfigured(BIN, dir, &[]).await;
    let response =
        reqwest::Client::new().get(format!("{}/api/credits", blink.url)).bearer_auth(&token).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let mode = std::fs::metadata(blink.data_dir.path().join("dev-jwt-secret")).unwrap();
    assert_eq!(std::os::unix::fs::PermissionsExt::mode(&mode.permissions()) & 0o777, 0o600);
}

#[tokio::test]
async fn on_an_address_others_reach_no_token_is_minted() {
    let blink =
        Blink::start_unconfigured(BIN, tempfile::tempdir().unwrap(), &[("BLINK_ADDR", "0.0.0.0:0".to_string())]).await;
    let lines = printed(&blink, "BLINK_LLM_API_KEY").await;
    assert!(!lines.iter().any(|l| l.contains("BLINK_TOKEN")), "{lines:?}");
    assert!(!blink.data_dir.path().join("dev-jwt-secret").exists());
    let port = blink.url.rsplit(':').next().unwrap();
    let response = reqwest::get(format!("http://127.0.0.1:{port}/api/credits")).await.unwrap();
    assert_eq!(response.status(), 401);
}

#[tokio::test]
async fn with_auth_configured_no_token_is_minted() {
    let blink = Blink::start(BIN, &[]).await;
    let lines = printed(&blink, "BLINK_LLM_API_KEY").await;
    assert!(!lines.iter().any(|l| l.contains("BLINK_TOKEN")), "{lines:?}");
}
