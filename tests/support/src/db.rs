//! The databases tests run against: SQLite (the embedded default) and a real PostgreSQL, one
//! fresh database per test.

/// `BLINK_TEST_POSTGRES_URL`: a PostgreSQL URL whose user may create databases. `scripts/test.sh`
/// starts the server and sets it; a missing server fails the test rather than skipping it.
pub fn postgres_admin_url() -> String {
    std::env::var("BLINK_TEST_POSTGRES_URL").unwrap_or_else(|_| {
        panic!("BLINK_TEST_POSTGRES_URL is not set: run ./scripts/test.sh, which starts PostgreSQL and sets it")
    })
}

/// A new, empty PostgreSQL database; returns its URL.
pub async fn fresh_postgres() -> String {
    use sqlx::Connection;
    let admin = postgres_admin_url();
    let name = format!("blink_test_{}", std::process::id()) + &format!("_{}", rand::random::<u32>());
    let mut conn =
        sqlx::PgConnection::connect(&admin).await.unwrap_or_else(|e| panic!("cannot reach PostgreSQL at {admin}: {e}"));
    sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut conn).await.unwrap();
    let base = admin.rsplit_once('/').map_or(admin.as_str(), |(base, _)| base).to_string();
    format!("{base}/{name}")
}

/// The backends every database test runs on: `(name, DATABASE_URL to give the host)`; `None`
/// means the host's embedded SQLite default.
pub async fn backends() -> Vec<(&'static str, Option<String>)> {
    vec![("sqlite", None), ("postgres", Some(fresh_postgres().await))]
}

/// A number a query returns, read straight from the host's database (`url` as the host got it).
pub async fn scalar(url: &str, sql: &str) -> i64 {
    use sqlx::Connection;
    sqlx::any::install_default_drivers();
    let mut conn = sqlx::AnyConnection::connect(url).await.unwrap_or_else(|e| panic!("cannot open {url}: {e}"));
    sqlx::query_scalar::<_, i64>(sql).fetch_one(&mut conn).await.unwrap()
}
