//! Section 9 of the benchmark report: deploys to S3 against the AWS CLI.

use super::*;

fn write_dist(dir: &std::path::Path, count: usize, total: usize) {
    std::fs::create_dir_all(dir.join("assets")).unwrap();
    std::fs::write(dir.join("index.html"), "<!doctype html><div id=\"root\"></div>").unwrap();
    let size = total / count;
    let mut x: u64 = 0x9e3779b97f4a7c15;
    for n in 1..count {
        let bytes: Vec<u8> = (0..size)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        std::fs::write(dir.join(format!("assets/chunk{n:03}.js")), bytes).unwrap();
    }
}

fn aws_sync(s3: &blink_test_support::s3::S3Server, dir: &std::path::Path, prefix: &str) -> Duration {
    use blink_test_support::s3::{ACCESS_KEY, SECRET_KEY};
    let started = Instant::now();
    let output = std::process::Command::new("aws")
        .args(["--endpoint-url", &s3.endpoint, "s3", "sync", "--only-show-errors"])
        .arg(dir)
        .arg(format!("s3://{}/{prefix}", s3.bucket))
        .env("AWS_ACCESS_KEY_ID", ACCESS_KEY)
        .env("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .output()
        .expect("the AWS CLI (scripts/test.sh installs it)");
    assert!(output.status.success(), "aws s3 sync: {}", String::from_utf8_lossy(&output.stderr));
    started.elapsed()
}

/// Section 9: publishing a 300-file, 20 MB build to an S3-compatible server (s3s-fs on
/// loopback) through the host, against `aws s3 sync` of the same folder to the same server;
/// then again after 5 files changed.
pub(crate) async fn deploys(report: &mut String) {
    const REPEATS: usize = 3;
    const FILES: usize = 300;
    const BYTES: usize = 20 * 1024 * 1024;
    let s3 = blink_test_support::s3::S3Server::start("bench");
    let mut env = s3.host_env();
    // The AWS CLI's default concurrency, for a like-for-like comparison.
    env.extend([
        ("BLINK_LOG", "warn".to_string()),
        ("BLINK_S3_PARALLEL", "10".into()),
        ("BLINK_DEPLOY_KEEP", "100".into()),
    ]);
    let blink = Blink::start(BIN, &env).await;
    let client = reqwest::Client::new();
    let user = jwt::user_token("bench-deploy");
    let scratch = tempfile::tempdir().unwrap();
    let (mut host_full, mut cli_full, mut host_redeploy, mut cli_redeploy) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let deploy = |project: String| {
        let (client, url, user) = (client.clone(), blink.url.clone(), user.clone());
        async move {
            let started = Instant::now();
            let response = client
                .post(format!("{url}/api/deploy"))
                .bearer_auth(&user)
                .json(&json!({ "projectId": project }))
                .send()
                .await
                .unwrap();
            let elapsed = started.elapsed();
            let body: Value = response.json().await.unwrap();
            assert!(body["deployId"].is_string(), "{body}");
            (elapsed, body["uploaded"].as_u64().unwrap_or(0))
        }
    };
    let mut uploaded = 0;
    for i in 0..REPEATS {
        let project = uuid::Uuid::new_v4().to_string();
        let dist = blink.data_dir.path().join("builds").join(&project).join("dist");
        write_dist(&dist, FILES, BYTES);
        let cli_dir = scratch.path().join(format!("dist-{i}"));
        copy_dir(&dist, &cli_dir);
        host_full.push(deploy(project.clone()).await.0);
        cli_full.push(aws_sync(&s3, &cli_dir, &format!("cli-{i}/")));
        for n in 1..=5 {
            let changed = format!("changed {i} {n}");
            std::fs::write(dist.join(format!("assets/chunk{n:03}.js")), &changed).unwrap();
            std::fs::write(cli_dir.join(format!("assets/chunk{n:03}.js")), &changed).unwrap();
        }
        let (elapsed, stored) = deploy(project).await;
        host_redeploy.push(elapsed);
        uploaded = stored;
        cli_redeploy.push(aws_sync(&s3, &cli_dir, &format!("cli-{i}/")));
    }
    let started = Instant::now();
    let version = std::process::Command::new("aws").arg("--version").output().unwrap();
    assert!(version.status.success());
    let cli_start = started.elapsed().as_secs_f64() * 1e3;
    let _ = writeln!(report, "## 9. Deploys to an S3-compatible store\n");
    let _ = writeln!(
        report,
        "{FILES} files, {} MiB, to s3s-fs on loopback; 10 uploads in flight for both; medians of {REPEATS}. \
         The host's time is the whole `POST /api/deploy` (hashing, upload, manifest, switch); the CLI's \
         includes its start-up ({cli_start:.0} ms for `aws --version`). On redeploy the host stored \
         {uploaded} files.\n",
        BYTES / 1024 / 1024
    );
    let _ = writeln!(report, "| operation | Blink host ms | aws s3 sync ms | ratio |\n|---|---|---|---|");
    ratio_row(report, "first deploy", median_ms(&host_full), median_ms(&cli_full), 0);
    ratio_row(report, "redeploy, 5 files changed", median_ms(&host_redeploy), median_ms(&cli_redeploy), 0);
    let _ = writeln!(report);
}
