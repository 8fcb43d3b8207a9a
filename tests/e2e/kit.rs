//! The plugin authors' kit as its guide says to use it, through the real binary, outside this
//! repository: `blink plugin new`, the project's own `build.sh`, `blink plugin test` against the
//! built-in test model, `blink plugin check`, `blink plugin push` to a running host, and a run
//! served by the pushed agent; for every role, in Rust, Python and JavaScript.

use std::path::{Path, PathBuf};
use std::time::Instant;

use blink_test_support::host::Blink;
use blink_test_support::{jwt, sse};
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_blink");
const ADMIN: &str = "kit-admin-token";

/// `blink …` in `dir`, as an author types it; `(succeeded, stdout, stderr)`.
async fn blink(dir: &Path, args: &[&str]) -> (bool, String, String) {
    let output = tokio::process::Command::new(BIN).args(args).current_dir(dir).output().await.unwrap();
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// `./build.sh` in the project; the component's path, which it prints last.
async fn build(project: &Path, target_dir: &Path) -> PathBuf {
    let output = tokio::process::Command::new("./build.sh")
        .current_dir(project)
        // One target directory for every Rust project of a test: the bindings crate builds once.
        .env("CARGO_TARGET_DIR", target_dir)
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "build.sh failed:\n{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    let path = PathBuf::from(stdout.lines().last().unwrap().trim());
    assert!(path.is_file(), "build.sh printed {path:?}, which is not a file");
    path
}

fn json_of(out: &str) -> Value {
    serde_json::from_str(out).unwrap_or_else(|e| panic!("not JSON ({e}):\n{out}"))
}

#[tokio::test]
async fn the_guide_works_as_printed_from_new_to_a_run_served_in_rust_python_and_javascript() {
    let blink_host = Blink::start(
        BIN,
        &[
            ("BLINK_LLM_PROVIDER", "test".into()),
            ("BLINK_ADMIN_TOKEN", ADMIN.into()),
            // Python and JavaScript components carry their interpreters.
            ("BLINK_PLUGIN_MAX_BYTES", (64 * 1024 * 1024).to_string()),
        ],
    )
    .await;
    let work = tempfile::tempdir().unwrap();
    let target_dir = work.path().join("cargo-target");
    for lang in ["rust", "python", "js"] {
        let started = Instant::now();
        let name = format!("no-alerts-{lang}");
        let (ok, out, err) = blink(work.path(), &["plugin", "new", &name, "--role", "validator", "--lang", lang]).await;
        assert!(ok, "{out}{err}");
        let project = work.path().join(&name);
        assert!(project.join("wit/validator.wit").is_file() && project.join("README.md").is_file());
        let component = build(&project, &target_dir).await;
        let component = component.to_str().unwrap();

        // Offline, on the sample files the template ships: the `alert(` it flags.
        let (ok, out, err) =
            blink(&project, &["plugin", "test", component, "--role", "validator", "--files", "src-to-check/"]).await;
        assert!(ok, "{err}");
        let report = &json_of(&out)["report"];
        assert_eq!(report["warnings"][0]["file"], "Greeting.tsx", "{out}");
        assert_eq!(report["warnings"][0]["line"], 2, "{out}");
        let (ok, out, err) = blink(&project, &["plugin", "check", component, "--role", "validator"]).await;
        assert!(ok && out.starts_with("ok: "), "{out}{err}");

        // Pushed to a running host, it validates the next run.
        let (ok, out, err) = blink(
            &project,
            &["plugin", "push", component, "--role", "validator", "--url", &blink_host.url, "--token", ADMIN],
        )
        .await;
        assert!(ok, "{out}{err}");
        let version = out.split("version ").nth(1).and_then(|v| v.split(' ').next()).unwrap().to_string();
        let response = reqwest::Client::new()
            .post(format!("{}/api/orchestrator", blink_host.url))
            .bearer_auth(jwt::user_token("author"))
            .json(&json!({ "messages": [{ "role": "user", "content": "Build me a counter" }] }))
            .send()
            .await
            .unwrap();
        let run_id = response.headers()["x-blink-run-id"].to_str().unwrap().to_string();
        let events = sse::events(&response.text().await.unwrap());
        let validation = events.iter().find(|e| e["type"] == "validation").expect("a validation event");
        assert_eq!(validation["errors"], json!([]), "{events:#?}");
        let run: Value = reqwest::Client::new()
            .get(format!("{}/api/runs/{run_id}", blink_host.url))
            .bearer_auth(jwt::user_token("author"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(run["agents"]["validator"], version, "{run}");
        println!("{lang}: from `plugin new` to a run served by the pushed validator in {:.0?}", started.elapsed());
    }
}

#[tokio::test]
async fn every_roles_template_builds_and_passes_its_offline_trial_in_rust_python_and_javascript() {
    let work = tempfile::tempdir().unwrap();
    let target_dir = work.path().join("cargo-target");
    // One componentize-js for the JavaScript projects below, in a folder above them, as an author
    // with several agents keeps it: their build.sh finds it there (the guide's test installs it
    // the way a first project does).
    let npm = tokio::process::Command::new("npm")
        .args(["install", "--silent", "--no-audit", "--no-fund", "--prefix"])
        .arg(work.path())
        .arg("@bytecodealliance/componentize-js@0.23.0")
        .output()
        .await
        .unwrap();
    assert!(npm.status.success(), "npm install: {}", String::from_utf8_lossy(&npm.stderr));
    for lang in ["rust", "python", "js"] {
        for role in ["planner", "generator", "fixer"] {
            let started = Instant::now();
            let name = format!("my-{role}-{lang}");
            let (ok, out, err) = blink(work.path(), &["plugin", "new", &name, "--role", role, "--lang", lang]).await;
            assert!(ok, "{out}{err}");
            let component = build(&work.path().join(&name), &target_dir).await;
            let component = component.to_str().unwrap();
            let (ok, out, err) = blink(work.path(), &["plugin", "test", component, "--role", role]).await;
            assert!(ok, "{lang} {role}: {err}");
            let result = json_of(&out);
            match role {
                "planner" => {
                    let paths: Vec<&str> = result["plan"]["steps"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|s| s["path"].as_str().unwrap())
                        .collect();
                    assert_eq!(paths, ["TodoList.tsx", "App.tsx"], "{out}");
                }
                "generator" => {
                    assert_eq!(result["files"].as_array().unwrap().len(), 2, "{out}");
                    assert_eq!(result["builtinValidation"]["errors"], json!([]), "{out}");
                }
                _ => {
                    assert!(!result["diagnostics"].as_array().unwrap().is_empty(), "{out}");
                    assert_eq!(result["fixed"][0]["path"], "Counter.tsx", "{out}");
                    assert_eq!(result["builtinValidationAfter"]["errors"], json!([]), "{out}");
                }
            }
            println!("{lang} {role}: new, build and trial in {:.0?}", started.elapsed());
        }
    }
}

#[tokio::test]
async fn the_kit_refuses_clearly() {
    let work = tempfile::tempdir().unwrap();
    std::fs::create_dir(work.path().join("taken")).unwrap();
    std::fs::write(work.path().join("taken/file"), "mine").unwrap();
    let (ok, _, err) = blink(work.path(), &["plugin", "new", "taken", "--role", "validator"]).await;
    assert!(!ok && err.contains("already exists and is not empty"), "{err}");
    assert_eq!(std::fs::read_to_string(work.path().join("taken/file")).unwrap(), "mine");
    let (ok, _, err) = blink(work.path(), &["plugin", "new", "x", "--role", "critic"]).await;
    assert!(!ok && err.contains("critic"), "{err}");
    // Not a component: said in one line, nothing run.
    std::fs::write(work.path().join("junk.wasm"), "not wasm").unwrap();
    let (ok, _, err) =
        blink(work.path(), &["plugin", "test", "junk.wasm", "--role", "validator", "--files", "."]).await;
    assert!(!ok && err.contains("cannot serve the validator role"), "{err}");
    let (ok, _, err) =
        blink(work.path(), &["plugin", "test", "junk.wasm", "--role", "planner", "--target", "ios"]).await;
    assert!(!ok && err.contains("neither `browser` nor `vite`"), "{err}");
}
