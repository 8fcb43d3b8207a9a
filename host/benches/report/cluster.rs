//! Section 12 of the benchmark report: one, two and three hosts on one PostgreSQL and one projects
//! volume, clients spread over them in turn as a round-robin load balancer spreads them.

use super::orchestrations::{body, run_once, two_file_rules};
use super::*;

const CLIENTS: usize = 6;
const RUNS_PER_CLIENT: usize = 30;
const UPDATES: usize = 30;
const PAGES: usize = 200;

/// What `hosts` hosts give.
struct Figures {
    runs_per_s: f64,
    update_ms: f64,
    page_ms: f64,
}

async fn measure(hosts: usize) -> Figures {
    let llm = FakeLlm::start(two_file_rules()).await;
    let database = blink_test_support::db::fresh_postgres().await;
    let shared = tempfile::tempdir().unwrap();
    let env = vec![
        ("DATABASE_URL", database),
        ("BLINK_LLM_BASE_URL", llm.base_url()),
        ("BLINK_LOG", "warn".into()),
        ("BLINK_PROJECTS_DIR", shared.path().join("projects").display().to_string()),
        ("BLINK_BUILDS_DIR", shared.path().join("builds").display().to_string()),
        ("BLINK_SECRET_KEY", "5".repeat(64)),
        ("BLINK_SANDBOXES", "true".into()),
        ("BLINK_SANDBOX_WARM", "0".into()),
        ("BLINK_PREVIEW_PATHS", "true".into()),
        ("BLINK_PREVIEW_URL", "{origin}/preview/{projectId}/".into()),
    ];
    let mut blinks = Vec::new();
    for _ in 0..hosts {
        blinks.push(Blink::start(BIN, &env).await);
    }
    let token = jwt::user_token("bench-cluster");
    let client = reqwest::Client::new();
    for blink in &blinks {
        run_once(&client, blink, &token, &body()).await;
    }
    // Runs: each client sends its runs to the hosts in turn, starting at a different one.
    let t = Instant::now();
    futures::future::join_all((0..CLIENTS).map(|c| {
        let (client, blinks, token) = (&client, &blinks, &token);
        async move {
            for i in 0..RUNS_PER_CLIENT {
                run_once(client, &blinks[(c + i) % blinks.len()], token, &body()).await;
            }
        }
    }))
    .await;
    let runs_per_s = (CLIENTS * RUNS_PER_CLIENT) as f64 / t.elapsed().as_secs_f64();

    // Previews: the sandbox starts on the first host; updates and page loads go to each in turn,
    // so with N hosts (N-1)/N of them are passed on to the first.
    let project = format!("bench-cluster-{hosts}-{:x}", std::process::id());
    let (status, text) = blinks[0]
        .post(
            "/api/preview",
            Some(&token),
            &json!({ "projectId": project, "files": { "App.tsx": sandbox_app("Update 0") } }),
        )
        .await;
    assert_eq!(status, 200, "{text}");
    let mut updates = Vec::new();
    for i in 1..=UPDATES {
        let blink = &blinks[i % blinks.len()];
        let files = json!({ "projectId": project, "files": { "App.tsx": sandbox_app(&format!("Update {i}")) } });
        let t = Instant::now();
        let (status, text) = blink.post("/api/preview", Some(&token), &files).await;
        assert_eq!(status, 200, "{text}");
        updates.push(t.elapsed());
    }
    let mut pages = Vec::new();
    for i in 0..PAGES {
        let url = format!("{}/preview/{project}/", blinks[i % blinks.len()].url);
        let t = Instant::now();
        let response = client.get(&url).send().await.unwrap();
        assert_eq!(response.status(), 200);
        response.bytes().await.unwrap();
        pages.push(t.elapsed());
    }
    docker(&["rm", "-f", &format!("sandbox-{project}")]);
    Figures { runs_per_s, update_ms: median_ms(&updates), page_ms: median_ms(&pages) }
}

pub(crate) async fn cluster(report: &mut String) {
    let mut figures = Vec::new();
    for hosts in 1..=3 {
        figures.push((hosts, measure(hosts).await));
    }
    let one = &figures[0].1;
    let _ = writeln!(report, "## 12. Many hosts on one PostgreSQL\n");
    let _ = writeln!(
        report,
        "1, 2 and 3 `blink` processes on this machine sharing one PostgreSQL, one projects volume and the Docker engine. Runs: {CLIENTS} clients, {RUNS_PER_CLIENT} runs each (the two-file change of section 2, a model that answers instantly), each client sending to the hosts in turn. Previews: one project's sandbox started on the first host, then {UPDATES} updates (`POST /api/preview`, medians) and {PAGES} page loads through the proxy (medians), sent to the hosts in turn, so with N hosts (N-1)/N of them are passed on to the first. Every host competes for the same cores, so this shows what spreading costs and that nothing serialises on one host, not the scaling of hosts on machines of their own.\n"
    );
    let _ = writeln!(
        report,
        "| hosts | runs/s | × 1 host | preview update | × 1 host | preview page load | × 1 host |\n|---|---|---|---|---|---|---|"
    );
    for (hosts, f) in &figures {
        let _ = writeln!(
            report,
            "| {hosts} | {:.0} | {:.2} | {:.1} ms | {:.2} | {:.2} ms | {:.2} |",
            f.runs_per_s,
            f.runs_per_s / one.runs_per_s,
            f.update_ms,
            f.update_ms / one.update_ms,
            f.page_ms,
            f.page_ms / one.page_ms
        );
    }
    let _ = writeln!(report);
}
