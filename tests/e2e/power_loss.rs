//! Power loss on the embedded SQLite: images of the database as a machine that lost power
//! mid-write would leave it, each opened by a host that must come back whole.
//!
//! While a host serves charged runs and operator grants it is frozen (SIGSTOP) at random moments
//! and its `blink.db` and write-ahead log copied; the log is then cut at a random byte past what
//! the last checkpoint copied into the database file (what a lost page cache can take: any
//! suffix of the log, down to a torn frame). A host started on each image must open it, and
//! after taking over what the dead one held, pass the invariants of the chaos test: the database
//! is intact, every balance is the starting one plus the user's ledger, no reservation is open
//! and no run is left running. The seed is printed; `BLINK_POWER_LOSS_SEED` replays it.

use std::time::Duration;

use blink_test_support::db;
use blink_test_support::fake_llm::{FakeLlm, Rule};
use blink_test_support::host::Blink;
use blink_test_support::jwt;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::json;

const BIN: &str = env!("CARGO_BIN_EXE_blink");
const ADMIN: &str = "power-admin";
const STARTING: i64 = 10_000_000;
const USERS: [&str; 3] = ["power-a", "power-b", "power-c"];
const IMAGES: usize = 6;

fn env(llm: &FakeLlm, dir: &tempfile::TempDir) -> Vec<(&'static str, String)> {
    let config = dir.path().join("agents.json");
    std::fs::write(&config, r#"{"planner": {"thinking": "off"}}"#).unwrap();
    vec![
        ("BLINK_LLM_BASE_URL", llm.base_url()),
        ("BLINK_STARTING_CREDITS", STARTING.to_string()),
        ("BLINK_PRICING", r#"{"default": {"prompt": 1, "completion": 1000}}"#.to_string()),
        ("BLINK_AGENT_CONFIG", config.display().to_string()),
        ("BLINK_ADMIN_TOKEN", ADMIN.to_string()),
        ("BLINK_INSTANCE_HEARTBEAT_SECS", "1".to_string()),
        ("BLINK_INSTANCE_EXPIRY_SECS", "2".to_string()),
    ]
}

#[tokio::test]
async fn a_database_cut_by_a_power_loss_opens_whole() {
    let seed = std::env::var("BLINK_POWER_LOSS_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(rand::random);
    eprintln!("power loss: seed {seed} (BLINK_POWER_LOSS_SEED={seed} replays its cuts)");
    let mut rng = StdRng::seed_from_u64(seed);
    let plan = json!({ "intent": "greeting", "conversational": true, "reply": "Hello!", "steps": [] });
    let llm = FakeLlm::start(vec![
        Rule::text(&["You plan changes"], plan.to_string()).bill_max_tokens().delay(Duration::from_millis(60)),
    ])
    .await;
    let config = tempfile::tempdir().unwrap();
    let env = env(&llm, &config);
    let blink = Blink::start(BIN, &env).await;

    // The workload: each user chats in a loop, and an operator grants and withdraws credits.
    let mut work = Vec::new();
    for user in USERS {
        let origin = blink.url.clone();
        work.push(tokio::spawn(async move {
            let token = jwt::user_token(user);
            let chat = json!({ "messages": [{ "role": "user", "content": "hello" }] });
            loop {
                let response = reqwest::Client::new()
                    .post(format!("{origin}/api/orchestrator"))
                    .bearer_auth(&token)
                    .json(&chat)
                    .send()
                    .await;
                if let Ok(response) = response {
                    let _ = response.bytes().await;
                }
            }
        }));
    }
    {
        let origin = blink.url.clone();
        work.push(tokio::spawn(async move {
            for n in 0i64.. {
                let grant =
                    json!({ "userId": USERS[(n % 3) as usize], "amount": if n % 2 == 0 { 7_000 } else { -3_000 } });
                let _ = reqwest::Client::new()
                    .post(format!("{origin}/api/admin/credits"))
                    .bearer_auth(ADMIN)
                    .json(&grant)
                    .send()
                    .await;
                tokio::time::sleep(Duration::from_millis(15)).await;
            }
        }));
    }

    let data = blink.data_dir.path().to_path_buf();
    let mut images = Vec::new();
    for n in 0..IMAGES {
        tokio::time::sleep(Duration::from_millis(rng.random_range(300..1200))).await;
        blink.pause();
        let wal = std::fs::read(data.join("blink.db-wal")).unwrap_or_default();
        let database = std::fs::read(data.join("blink.db")).unwrap();
        let shm = std::fs::read(data.join("blink.db-shm")).unwrap_or_default();
        blink.resume();
        let kept = cut(&wal, &shm, &mut rng);
        eprintln!("power loss: image {n}: the log cut at byte {kept} of {}", wal.len());
        images.push((database, wal[..kept].to_vec()));
    }
    for task in work {
        task.abort();
    }
    drop(blink);

    for (n, (database, wal)) in images.into_iter().enumerate() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("blink.db"), database).unwrap();
        std::fs::write(dir.path().join("blink.db-wal"), wal).unwrap();
        let url = format!("sqlite://{}", dir.path().join("blink.db").display());
        let blink = Blink::start_in(BIN, dir, &env).await;
        let at = format!("image {n} (BLINK_POWER_LOSS_SEED={seed})");
        let intact = db::text(&url, "PRAGMA integrity_check").await;
        assert_eq!(intact, "ok", "{at}: {intact}");
        let open = "SELECT (SELECT COUNT(*) FROM credit_reservations) \
                    + (SELECT COUNT(*) FROM runs WHERE outcome = '{\"kind\":\"running\"}')";
        let mut left = -1;
        for _ in 0..100 {
            left = db::scalar(&url, open).await;
            if left == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(left, 0, "{at}: reservations or runs left open\n{}", blink.log());
        let users = db::scalar(&url, "SELECT COUNT(*) FROM users").await;
        let wrong = db::scalar(
            &url,
            &format!(
                "SELECT COUNT(*) FROM users u WHERE u.balance <> {STARTING} + \
                 (SELECT COALESCE(SUM(amount), 0) FROM credit_ledger l WHERE l.user_id = u.id)"
            ),
        )
        .await;
        assert_eq!(wrong, 0, "{at}: {wrong} of {users} balances are not starting + ledger");
        // And it serves: a new run is charged and recorded.
        let (status, _) = blink
            .post(
                "/api/orchestrator",
                Some(&jwt::user_token(USERS[0])),
                &json!({ "messages": [{ "role": "user", "content": "hello" }] }),
            )
            .await;
        assert_eq!(status, 200, "{at}");
        eprintln!("power loss: image {n} opens whole ({users} users)");
    }
}

/// Where to cut the log: anywhere from the end of what a checkpoint copied (or is copying) into
/// the database file to its end. Frames up to there were on disk
/// before the database file was written, so no power loss takes them.
fn cut(wal: &[u8], shm: &[u8], rng: &mut StdRng) -> usize {
    const HEADER: usize = 32;
    if wal.len() <= HEADER {
        return wal.len();
    }
    let page_size = u32::from_be_bytes(wal[8..12].try_into().unwrap()) as usize;
    // The index header is two 48-byte copies; the checkpoint information follows, in the
    // machine's byte order: `nBackfill` first, `nBackfillAttempted` at 128 (set before a
    // checkpoint writes into the database file, after the log it copies is synced).
    let word = |at: usize| shm.get(at..at + 4).map_or(0, |b| u32::from_ne_bytes(b.try_into().unwrap()) as usize);
    let backfilled = word(96).max(word(128));
    let floor = (HEADER + backfilled * (24 + page_size)).min(wal.len());
    rng.random_range(floor..=wal.len())
}
