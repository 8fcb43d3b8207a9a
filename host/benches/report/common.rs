//! Helpers the sections share: ratios and medians, the Docker CLI, a sandbox's app and its HMR socket.

use super::*;

pub(crate) fn docker(args: &[&str]) -> String {
    let out = std::process::Command::new("docker").args(args).output().expect("the docker CLI");
    assert!(out.status.success(), "docker {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

pub(crate) fn sandbox_app(marker: &str) -> String {
    format!("export default function App() {{\n  return <h1>{marker}</h1>;\n}}\n")
}

/// Polls `url` until it answers 200 with `needle` in the body.
pub(crate) async fn until_served(client: &reqwest::Client, url: &str, needle: &str) {
    for _ in 0..2000 {
        if let Ok(r) = client.get(url).send().await
            && r.status() == 200
            && r.text().await.is_ok_and(|t| t.contains(needle))
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("{url} never served {needle:?}");
}

pub(crate) type HmrSocket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Connects to the project's HMR WebSocket through the proxy, as a page's Vite client does.
pub(crate) async fn hmr_socket(client: &reqwest::Client, blink: &Blink, project: &str) -> HmrSocket {
    let vite_client =
        client.get(format!("{}/preview/{project}/@vite/client", blink.url)).send().await.unwrap().text().await.unwrap();
    let ws_token =
        vite_client.split("wsToken = \"").nth(1).and_then(|t| t.split('"').next()).unwrap_or_default().to_string();
    let ws = format!("{}/preview/{project}/?token={ws_token}", blink.url.replacen("http://", "ws://", 1));
    let mut request = tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(ws).unwrap();
    request.headers_mut().insert("sec-websocket-protocol", "vite-hmr".parse().unwrap());
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    let _connected = socket.next().await;
    socket
}

/// Median time from an update posted to the HMR message about it, over `rounds` updates after
/// one warm-up (the first update after a page connects builds Vite's module graph).
pub(crate) async fn hmr_latency(
    client: &reqwest::Client,
    blink: &Blink,
    token: &str,
    project: &str,
    rounds: usize,
) -> f64 {
    let mut socket = hmr_socket(client, blink, project).await;
    let mut samples = Vec::new();
    for round in 0..=rounds {
        let started = Instant::now();
        let body = json!({ "projectId": project, "files": { "App.tsx": sandbox_app(&format!("Update {round}")) } });
        let post = client.post(format!("{}/api/preview", blink.url)).bearer_auth(token).json(&body).send();
        let (response, visible) = tokio::join!(post, hmr_message(&mut socket, started));
        assert_eq!(response.unwrap().status(), 200);
        if round > 0 {
            samples.push(visible);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    median_ms(&samples)
}

/// Waits for Vite's HMR message about App.tsx; returns the time since `started`.
pub(crate) async fn hmr_message(socket: &mut HmrSocket, started: Instant) -> Duration {
    loop {
        let message = tokio::time::timeout(Duration::from_secs(10), socket.next()).await.unwrap().unwrap().unwrap();
        if message.to_text().is_ok_and(|t| t.contains("App.tsx")) {
            return started.elapsed();
        }
    }
}

pub(crate) fn median_ms(samples: &[Duration]) -> f64 {
    let mut sorted: Vec<f64> = samples.iter().map(|d| d.as_secs_f64() * 1e3).collect();
    sorted.sort_by(f64::total_cmp);
    sorted[sorted.len() / 2]
}

/// A table row comparing the host with its baseline: both figures and their ratio.
pub(crate) fn ratio_row(report: &mut String, label: &str, ours: f64, baseline: f64, decimals: usize) {
    let _ = writeln!(report, "| {label} | {ours:.decimals$} | {baseline:.decimals$} | {:.2}× |", ours / baseline);
}

pub(crate) fn mean_ms(samples: &[Duration]) -> f64 {
    samples.iter().map(|d| d.as_secs_f64() * 1e3).sum::<f64>() / samples.len() as f64
}

pub(crate) fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name();
        if name == "node_modules" || name == "dist" {
            continue;
        }
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &to.join(&name));
        } else {
            std::fs::copy(entry.path(), to.join(&name)).unwrap();
        }
    }
}

/// Memory of a container as `docker stats` reports it, in MiB.
pub(crate) fn stats_mib(usage: &str) -> f64 {
    let used = usage.split('/').next().unwrap_or_default().trim();
    let (number, unit) = used.split_at(used.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(used.len()));
    let number: f64 = number.trim().parse().unwrap_or(0.0);
    match unit {
        "GiB" => number * 1024.0,
        "KiB" => number / 1024.0,
        "B" => number / (1024.0 * 1024.0),
        _ => number,
    }
}

/// The resident memory of the process serving from `data_dir`, in MiB.
pub(crate) fn host_rss_mib(data_dir: &std::path::Path) -> f64 {
    let wanted = format!("BLINK_DATA_DIR={}", data_dir.display());
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let environ = std::fs::read(entry.path().join("environ")).unwrap_or_default();
        if environ.split(|b| *b == 0).any(|v| v == wanted.as_bytes()) {
            let status = std::fs::read_to_string(entry.path().join("status")).unwrap_or_default();
            let kib = status.lines().find_map(|l| l.strip_prefix("VmRSS:")).unwrap_or("0 kB");
            return kib.trim().trim_end_matches("kB").trim().parse::<f64>().unwrap_or(0.0) / 1024.0;
        }
    }
    0.0
}

/// Waits until the host's warm pool holds a sandbox again, as it does for a user arriving after
/// the last one.
pub(crate) async fn pool_refilled(client: &reqwest::Client, blink: &Blink, admin: &str) {
    for _ in 0..1200 {
        let status: Value = client
            .get(format!("{}/api/admin/sandboxes", blink.url))
            .bearer_auth(admin)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap_or(Value::Null);
        if status["warm"] == 1 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the warm pool never refilled");
}
