//! Section 8 of the benchmark report: git through the host against the git command line.

use super::*;

fn write_files(dir: &std::path::Path, count: usize, version: &str) {
    std::fs::create_dir_all(dir.join("src/gen")).unwrap();
    for i in 0..count {
        let body = format!("export const Item{i} = () => <p>{version} {}</p>;\n", "x".repeat(900));
        std::fs::write(dir.join(format!("src/gen/Item{i}.tsx")), body).unwrap();
    }
}

pub(crate) async fn git_ops(report: &mut String) {
    use blink_test_support::git_server::{GitServer, clone_with_token, git, local_remotes, url_with_token};
    const REPEATS: usize = 3;
    const TOKEN: &str = "bench-token";
    let server = GitServer::start(TOKEN).await;
    // The server is plain HTTP on loopback: the operator's opt-in for such remotes.
    let [schemes, private] = local_remotes();
    let blink = Blink::start(BIN, &[("BLINK_LOG", "warn".into()), schemes, private]).await;
    let client = reqwest::Client::new();
    let user = jwt::user_token("bench-git");
    let scratch = tempfile::tempdir().unwrap();
    let (mut host_push, mut cli_push, mut host_pull, mut cli_pull) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for i in 0..REPEATS {
        // Commit + push of 200 files (plus the template), through the host and with git.
        let project = format!("bench-git-{i}");
        let url = server.create_repo(&format!("host-{i}"));
        client
            .post(format!("{}/api/projects", blink.url))
            .bearer_auth(&user)
            .json(&json!({ "id": project }))
            .send()
            .await
            .unwrap();
        let remote = json!({ "remoteUrl": url, "token": TOKEN });
        let set = client
            .put(format!("{}/api/projects/{project}/git", blink.url))
            .bearer_auth(&user)
            .json(&remote)
            .send()
            .await
            .unwrap();
        assert!(set.status().is_success(), "{}", set.text().await.unwrap());
        let app = blink.data_dir.path().join("projects").join(&project).join("app");
        write_files(&app, 200, "v1");
        let started = Instant::now();
        let response = client
            .post(format!("{}/api/git/commit", blink.url))
            .bearer_auth(&user)
            .json(&json!({ "projectId": project, "message": "200 files" }))
            .send()
            .await
            .unwrap();
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["pushed"], true, "{body}");
        host_push.push(started.elapsed());

        let cli_url = server.create_repo(&format!("cli-{i}"));
        let cli = scratch.path().join(format!("cli-{i}"));
        std::fs::create_dir_all(&cli).unwrap();
        copy_dir(std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../sandbox/template")), &cli);
        write_files(&cli, 200, "v1");
        let started = Instant::now();
        git(&cli, &["init", "--quiet"]);
        git(&cli, &["add", "-A"]);
        git(&cli, &["commit", "--quiet", "-m", "200 files"]);
        git(&cli, &["push", "--quiet", &url_with_token(&cli_url, TOKEN), "HEAD:main"]);
        cli_push.push(started.elapsed());

        // A 50-file change pushed from elsewhere; pulled by the host and by a git clone.
        let baseline = scratch.path().join(format!("baseline-{i}"));
        clone_with_token(&url, TOKEN, &baseline);
        let elsewhere = scratch.path().join(format!("elsewhere-{i}"));
        clone_with_token(&url, TOKEN, &elsewhere);
        write_files(&elsewhere, 50, "v2");
        git(&elsewhere, &["commit", "--quiet", "-am", "50 files"]);
        git(&elsewhere, &["push", "--quiet", "origin", "main"]);
        let started = Instant::now();
        let response = client
            .post(format!("{}/api/git/pull", blink.url))
            .bearer_auth(&user)
            .json(&json!({ "projectId": project }))
            .send()
            .await
            .unwrap();
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["updated"], true, "{body}");
        host_pull.push(started.elapsed());
        let started = Instant::now();
        git(&baseline, &["pull", "--quiet", "--no-rebase", "origin", "main"]);
        cli_pull.push(started.elapsed());
    }
    let _ = writeln!(report, "## 8. Git\n");
    let _ = writeln!(
        report,
        "A real smart-HTTP server (`git http-backend`, token required) on loopback; means of {REPEATS}. The baseline is the `git` command line on the same server.\n"
    );
    let _ = writeln!(report, "| operation | Blink host ms | git CLI ms | ratio |");
    let _ = writeln!(report, "|---|---|---|---|");
    ratio_row(
        report,
        "commit + push, 200 files and the template (CLI: init + add + commit + push)",
        mean_ms(&host_push),
        mean_ms(&cli_push),
        0,
    );
    ratio_row(report, "pull of a 50-file change (CLI: `git pull`)", mean_ms(&host_pull), mean_ms(&cli_pull), 0);
    let _ = writeln!(report);
}
