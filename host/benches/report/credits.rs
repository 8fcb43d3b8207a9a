//! Section 3 of the benchmark report: Credits: reserve + settle per model call.

use super::*;

pub(crate) async fn credit_overhead(report: &mut String, per_call_ms: f64) {
    use blink_host::credits::{Credits, Price, Pricing};
    use blink_host::db::{Database, sqlite_url};
    const WARMUP: usize = 50;
    const CALLS: usize = 1000;
    let dir = tempfile::tempdir().unwrap();
    let mut databases = vec![("SQLite (embedded, WAL)", Some(sqlite_url(dir.path())))];
    let postgres = match std::env::var("BLINK_TEST_POSTGRES_URL") {
        Ok(_) => Some(blink_test_support::db::fresh_postgres().await),
        Err(_) => None,
    };
    databases.push(("PostgreSQL (loopback)", postgres));
    let _ = writeln!(report, "## 3. Credit check per model call\n");
    let _ = writeln!(
        report,
        "A reservation (one conditional update + a ledger line, in a transaction) and its settlement (the same), {CALLS} times after {WARMUP} warm-up calls, against the host's own overhead per model call measured in section 2 ({per_call_ms:.2} ms, which already includes one credit check per call).\n"
    );
    let _ = writeln!(
        report,
        "| database | reserve + settle p50 | p99 | share of the per-call host overhead |\n|---|---|---|---|"
    );
    for (name, url) in databases {
        let Some(url) = url else {
            let _ = writeln!(report, "| {name} | not measured: set BLINK_TEST_POSTGRES_URL | | |");
            continue;
        };
        let db = Database::connect(&url).await.unwrap();
        db.migrate().await.unwrap();
        let credits =
            Credits::new(db, Pricing { default: Price { prompt: 500, completion: 1500 }, models: Default::default() });
        credits.ensure_account("bench", None, i64::MAX / 4).await.unwrap();
        let mut h = histogram();
        for i in 0..WARMUP + CALLS {
            let t = Instant::now();
            let reservation = credits.reserve("bench", "run", "m", 30_000).await.unwrap();
            credits.settle("bench", "run", "m", reservation, 1_000, 500).await.unwrap();
            if i >= WARMUP {
                h.record(t.elapsed().as_micros().max(1) as u64).unwrap();
            }
        }
        let p50_ms = us(&h, 0.5) / 1000.0;
        let _ = writeln!(
            report,
            "| {name} | {p50_ms:.3} ms | {:.3} ms | {:.0} % |",
            us(&h, 0.99) / 1000.0,
            100.0 * p50_ms / per_call_ms
        );
    }
    let _ = writeln!(report);
}
