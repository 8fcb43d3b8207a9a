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

/// Runs a statement on the host's database (`url` as the host got it).
pub async fn execute(url: &str, sql: &str) {
    use sqlx::Connection;
    sqlx::any::install_default_drivers();
    let mut conn = sqlx::AnyConnection::connect(url).await.unwrap_or_else(|e| panic!("cannot open {url}: {e}"));
    sqlx::raw_sql(sql).execute(&mut conn).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
}

/// A text a query returns.
pub async fn text(url: &str, sql: &str) -> String {
    use sqlx::Connection;
    sqlx::any::install_default_drivers();
    let mut conn = sqlx::AnyConnection::connect(url).await.unwrap_or_else(|e| panic!("cannot open {url}: {e}"));
    sqlx::query_scalar::<_, String>(sql).fetch_one(&mut conn).await.unwrap()
}

/// A PostgreSQL server of the test's own (its own data directory and port), so a test can stop
/// and restart it without disturbing the shared one.
pub struct PrivatePostgres {
    dir: std::path::PathBuf,
    bin: std::path::PathBuf,
    pub port: u16,
}

impl PrivatePostgres {
    pub fn start() -> Self {
        let versions = std::fs::read_dir("/usr/lib/postgresql").expect("PostgreSQL is installed (scripts/test.sh)");
        let mut versions: Vec<_> = versions.filter_map(|e| e.ok()).map(|e| e.path()).collect();
        versions.sort();
        let bin = versions.last().expect("a PostgreSQL version").join("bin");
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let dir = std::env::temp_dir().join(format!("blink-pg-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        run_as_postgres(&format!("chown postgres {}", dir.display()), true);
        run_as_postgres(
            &format!("{} -D {}/data --auth=trust -U postgres >/dev/null", bin.join("initdb").display(), dir.display()),
            false,
        );
        let server = Self { dir, bin, port };
        server.resume();
        server
    }

    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Stops the server at once, as a crash or an outage would.
    pub fn stop(&self) {
        run_as_postgres(
            &format!(
                "{} -D {}/data -m immediate stop >/dev/null",
                self.bin.join("pg_ctl").display(),
                self.dir.display()
            ),
            false,
        );
    }

    pub fn resume(&self) {
        let options = format!("-p {} -k {} -c listen_addresses=127.0.0.1", self.port, self.dir.display());
        run_as_postgres(
            &format!(
                "{} -D {}/data -o '{options}' -l {}/log -w start >/dev/null",
                self.bin.join("pg_ctl").display(),
                self.dir.display(),
                self.dir.display()
            ),
            false,
        );
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        let _ = std::process::Command::new("su")
            .args([
                "postgres",
                "-c",
                &format!("{} -D {}/data -m immediate stop", self.bin.join("pg_ctl").display(), self.dir.display()),
            ])
            .output();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn run_as_postgres(command: &str, as_root: bool) {
    let status = if as_root {
        std::process::Command::new("sh").args(["-c", command]).status()
    } else {
        std::process::Command::new("su").args(["postgres", "-c", command]).status()
    }
    .unwrap();
    assert!(status.success(), "`{command}` failed");
}
