//! A real smart-HTTP git server: `git http-backend` behind basic auth whose password is a token,
//! as GitHub takes an access token. The host pushes to it with libgit2, and tests use the real git
//! CLI ([`git`], [`clone_with_token`]) to look at what arrived or to push "from elsewhere".
//!
//! The server runs on a thread and runtime of its own, so a test may call blocking git (the CLI
//! or libgit2) from inside a single-threaded `#[tokio::test]` without starving the server.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use base64::Engine as _;
use tokio::io::AsyncWriteExt;
use tokio::sync::oneshot;

/// A push of a few hundred MB would be a test bug; the cap only keeps a runaway from eating memory.
const MAX_REQUEST_BODY: usize = 512 << 20;

/// One request the server answered.
#[derive(Clone, Debug)]
pub struct Served {
    pub method: String,
    /// The path below `/git`, e.g. `/demo.git/git-receive-pack`.
    pub path: String,
    pub query: String,
    /// The basic-auth user name, when the credentials were accepted.
    pub user: Option<String>,
    pub status: u16,
    /// Whether the request body came with `Transfer-Encoding: chunked` (libgit2 pushes so, the
    /// git CLI for bodies larger than `http.postBuffer`).
    pub chunked: bool,
    /// Whether the request body was gzip-compressed (`Content-Encoding: gzip`).
    pub gzip: bool,
    /// The request body's length as received (still compressed when `gzip`).
    pub body_len: usize,
    /// What `git http-backend` wrote to stderr, for failing tests to show.
    pub stderr: String,
}

struct ServerState {
    token: String,
    root: PathBuf,
    home: PathBuf,
    served: Mutex<Vec<Served>>,
}

struct Inner {
    state: Arc<ServerState>,
    // Field order matters: the server stops before its repositories are deleted.
    _server: Background,
    _dir: tempfile::TempDir,
}

/// A git server on a free loopback port, stopped (and its repositories deleted) when the last
/// clone is dropped.
#[derive(Clone)]
pub struct GitServer {
    /// `http://127.0.0.1:PORT/git`; a repository `name` is at `{base_url}/{name}.git`.
    pub base_url: String,
    /// The directory holding the bare repositories (`GIT_PROJECT_ROOT`).
    pub root: PathBuf,
    pub addr: SocketAddr,
    inner: Arc<Inner>,
}

impl GitServer {
    /// Starts a server that takes `token` as the basic-auth password, whatever the user name.
    pub async fn start(token: &str) -> Self {
        Self::start_blocking(token)
    }

    /// Like [`GitServer::start`], for tests that have no runtime.
    pub fn start_blocking(token: &str) -> Self {
        let dir =
            tempfile::Builder::new().prefix("blink-git-server").tempdir().expect("create the git server's directory");
        let root = dir.path().join("repos");
        let home = dir.path().join("home");
        std::fs::create_dir_all(&root).unwrap();
        std::fs::create_dir_all(&home).unwrap();
        let state = Arc::new(ServerState {
            token: token.to_string(),
            root: root.clone(),
            home,
            served: Mutex::new(Vec::new()),
        });
        let app = axum::Router::new()
            .route("/git", any(not_found))
            .route("/git/{*path}", any(serve_git))
            .with_state(state.clone());
        let listener = bind_loopback();
        let addr = listener.local_addr().unwrap();
        let server = serve_in_background("git-server", listener, app);
        Self {
            base_url: format!("http://{addr}/git"),
            root,
            addr,
            inner: Arc::new(Inner { state, _server: server, _dir: dir }),
        }
    }

    /// Creates an empty bare repository `name.git` whose default branch is `main`, and returns
    /// its URL (without credentials). `name` may have slashes (`owner/name`).
    pub fn create_repo(&self, name: &str) -> String {
        let path = self.repo_path(name);
        assert!(!path.exists(), "repository {name} already exists");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        git(&self.root, &["init", "--quiet", "--bare", "--initial-branch=main", path.to_str().unwrap()]);
        self.repo_url(name)
    }

    /// The URL of repository `name` (without credentials).
    pub fn repo_url(&self, name: &str) -> String {
        format!("{}/{}.git", self.base_url, repo_name(name))
    }

    /// Where the bare repository `name` is on disk.
    pub fn repo_path(&self, name: &str) -> PathBuf {
        self.root.join(format!("{}.git", repo_name(name)))
    }

    /// How many requests the server answered, refused ones included.
    pub fn requests(&self) -> usize {
        self.inner.state.served.lock().unwrap().len()
    }

    /// How many requests were answered 401. Git clients first ask without credentials and send
    /// them only once challenged, so even a successful clone or push counts one or more here.
    pub fn refused(&self) -> usize {
        self.inner.state.served.lock().unwrap().iter().filter(|s| s.status == 401).count()
    }

    /// Every request answered so far, oldest first.
    pub fn served(&self) -> Vec<Served> {
        self.inner.state.served.lock().unwrap().clone()
    }

    /// The pushes (`git-receive-pack` POSTs) that were accepted.
    pub fn pushes(&self) -> Vec<Served> {
        self.served().into_iter().filter(|s| s.method == "POST" && s.path.ends_with("/git-receive-pack")).collect()
    }
}

fn repo_name(name: &str) -> &str {
    name.trim_matches('/').strip_suffix(".git").unwrap_or(name.trim_matches('/'))
}

async fn not_found() -> StatusCode {
    StatusCode::NOT_FOUND
}

/// The basic-auth user name, when the password is the token.
fn authenticate(headers: &HeaderMap, token: &str) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD.decode(encoded.trim()).ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (user, password) = decoded.split_once(':')?;
    (password == token).then(|| user.to_string())
}

async fn serve_git(State(state): State<Arc<ServerState>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let path = parts.uri.path().strip_prefix("/git").unwrap_or_default().to_string();
    let query = parts.uri.query().unwrap_or_default().to_string();
    let header_has = |name: HeaderName, needle: &str| {
        parts.headers.get_all(name).iter().any(|v| v.to_str().is_ok_and(|v| v.to_ascii_lowercase().contains(needle)))
    };
    let mut served = Served {
        method: parts.method.to_string(),
        path: path.clone(),
        query: query.clone(),
        user: None,
        status: 401,
        chunked: header_has(header::TRANSFER_ENCODING, "chunked"),
        gzip: header_has(header::CONTENT_ENCODING, "gzip"),
        body_len: 0,
        stderr: String::new(),
    };
    let Some(user) = authenticate(&parts.headers, &state.token) else {
        state.served.lock().unwrap().push(served);
        // Without the challenge libgit2 never calls its credentials callback.
        return (StatusCode::UNAUTHORIZED, [(header::WWW_AUTHENTICATE, "Basic realm=\"git\"")], "Unauthorized\n")
            .into_response();
    };
    served.user = Some(user.clone());
    // CGI wants CONTENT_LENGTH, which a chunked body lacks: take the whole (de-chunked) body first.
    let body = match axum::body::to_bytes(body, MAX_REQUEST_BODY).await {
        Ok(body) => body,
        Err(e) => {
            served.status = 400;
            state.served.lock().unwrap().push(served);
            return (StatusCode::BAD_REQUEST, format!("reading the request body: {e}\n")).into_response();
        }
    };
    served.body_len = body.len();

    let mut command = tokio::process::Command::new("git");
    command
        .arg("http-backend")
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", &state.home)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        // Pushing over HTTP is off unless enabled; this enables it for every repository, also those
        // a test makes on its own under `root`.
        .env("GIT_CONFIG_COUNT", "1")
        .env("GIT_CONFIG_KEY_0", "http.receivepack")
        .env("GIT_CONFIG_VALUE_0", "true")
        .env("GIT_PROJECT_ROOT", &state.root)
        .env("GIT_HTTP_EXPORT_ALL", "1")
        .env("GATEWAY_INTERFACE", "CGI/1.1")
        .env("SERVER_PROTOCOL", "HTTP/1.1")
        .env("REQUEST_METHOD", parts.method.as_str())
        .env("PATH_INFO", &path)
        .env("QUERY_STRING", &query)
        .env("REMOTE_USER", &user)
        .env("REMOTE_ADDR", "127.0.0.1")
        .env("CONTENT_LENGTH", body.len().to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    if let Some(content_type) = parts.headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()) {
        command.env("CONTENT_TYPE", content_type);
    }
    // The other headers as CGI passes them: `HTTP_CONTENT_ENCODING` makes http-backend inflate a gzip
    // body itself, and `HTTP_GIT_PROTOCOL` selects protocol v2. The transfer encoding is already
    // undone, and the credentials stay out of the child's environment.
    for (name, value) in &parts.headers {
        if [header::AUTHORIZATION, header::CONTENT_TYPE, header::CONTENT_LENGTH, header::TRANSFER_ENCODING]
            .contains(name)
        {
            continue;
        }
        if let Ok(value) = value.to_str() {
            command.env(format!("HTTP_{}", name.as_str().to_ascii_uppercase().replace('-', "_")), value);
        }
    }
    let mut child = match command.spawn() {
        Ok(child) => child,
        Err(e) => {
            served.status = 500;
            state.served.lock().unwrap().push(served);
            return (StatusCode::INTERNAL_SERVER_ERROR, format!("starting git http-backend: {e}\n")).into_response();
        }
    };
    // Written while the output is read, so neither side can block on a full pipe.
    let mut stdin = child.stdin.take().unwrap();
    let writer = tokio::spawn(async move {
        let _ = stdin.write_all(&body).await;
    });
    let output = child.wait_with_output().await;
    let _ = writer.await;
    let output = match output {
        Ok(output) => output,
        Err(e) => {
            served.status = 500;
            state.served.lock().unwrap().push(served);
            return (StatusCode::INTERNAL_SERVER_ERROR, format!("running git http-backend: {e}\n")).into_response();
        }
    };
    served.stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let response = match parse_cgi(&output.stdout) {
        Some(response) => response,
        None => {
            let message = format!("git http-backend ({}) answered no CGI response:\n{}", output.status, served.stderr);
            (StatusCode::BAD_GATEWAY, message).into_response()
        }
    };
    served.status = response.status().as_u16();
    state.served.lock().unwrap().push(served);
    response
}

/// A CGI response: header lines up to a blank line, `Status: NNN reason` for the status (200 when
/// absent), then the body.
fn parse_cgi(stdout: &[u8]) -> Option<Response> {
    let (head, body) = match find(stdout, b"\r\n\r\n") {
        Some(i) => (&stdout[..i], &stdout[i + 4..]),
        None => {
            let i = find(stdout, b"\n\n")?;
            (&stdout[..i], &stdout[i + 2..])
        }
    };
    let mut response = Response::new(Body::from(body.to_vec()));
    for line in std::str::from_utf8(head).ok()?.lines() {
        let line = line.trim_end_matches('\r');
        if line.is_empty() {
            continue;
        }
        let (name, value) = line.split_once(':')?;
        let value = value.trim();
        if name.eq_ignore_ascii_case("status") {
            let code = value.split_whitespace().next()?.parse().ok()?;
            *response.status_mut() = StatusCode::from_u16(code).ok()?;
        } else {
            let name = HeaderName::from_bytes(name.trim().as_bytes()).ok()?;
            response.headers_mut().append(name, HeaderValue::from_str(value).ok()?);
        }
    }
    Some(response)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// A server on its own thread and runtime, stopped when dropped.
pub(crate) struct Background {
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for Background {
    fn drop(&mut self) {
        drop(self.shutdown.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Serves `app` on a free loopback port from a thread of its own: tests call blocking git (the
/// CLI, libgit2) from async tests, which would starve a server on the test's own runtime.
pub(crate) fn serve_in_background(name: &str, listener: std::net::TcpListener, app: axum::Router) -> Background {
    let (shutdown, stop) = oneshot::channel::<()>();
    let thread = std::thread::Builder::new()
        .name(name.to_string())
        .spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
                    let _ = tcp.set_nodelay(true);
                });
                tokio::select! {
                    _ = axum::serve(listener, app) => {}
                    _ = stop => {}
                }
            });
        })
        .expect("start the server thread");
    Background { shutdown: Some(shutdown), thread: Some(thread) }
}

/// A listener on a free loopback port, ready for [`serve_in_background`].
pub(crate) fn bind_loopback() -> std::net::TcpListener {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    listener.set_nonblocking(true).unwrap();
    listener
}

/// An empty home directory, so that no user or system configuration reaches the git CLI.
fn clean_home() -> PathBuf {
    let home = std::env::temp_dir().join("blink-test-support-git-home");
    std::fs::create_dir_all(&home).expect("create the git home directory");
    home
}

/// The real git CLI in `dir`, with a clean environment (empty home, no system configuration, a
/// fixed author, `main` as the default branch, never a prompt for credentials).
/// The operator's opt-in a host needs to reach this server: plain HTTP on loopback.
pub fn local_remotes() -> [(&'static str, String); 2] {
    [("BLINK_GIT_REMOTE_SCHEMES", "https,http".into()), ("BLINK_GIT_ALLOW_PRIVATE_NETWORKS", "true".into())]
}

pub fn git_command(dir: &Path, args: &[&str]) -> Command {
    let mut command = Command::new("git");
    command
        .args(args)
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", clean_home())
        .env("LANG", "C")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        // A wrong token must fail the command, not wait for someone to type a password.
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_AUTHOR_NAME", "Test Author")
        .env("GIT_AUTHOR_EMAIL", "author@example.test")
        .env("GIT_COMMITTER_NAME", "Test Author")
        .env("GIT_COMMITTER_EMAIL", "author@example.test")
        .env("GIT_CONFIG_COUNT", "2")
        .env("GIT_CONFIG_KEY_0", "init.defaultBranch")
        .env("GIT_CONFIG_VALUE_0", "main")
        // Repositories written by the host may belong to another user than the test's.
        .env("GIT_CONFIG_KEY_1", "safe.directory")
        .env("GIT_CONFIG_VALUE_1", "*")
        .stdin(Stdio::null());
    command
}

/// Runs the real git CLI in `dir` (see [`git_command`]): its stdout without the trailing newline,
/// or the stderr as the error.
pub fn try_git(dir: &Path, args: &[&str]) -> Result<String, String> {
    let output = git_command(dir, args).output().expect("run git");
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).trim_end().to_string())
    } else {
        Err(format!("{}{}", String::from_utf8_lossy(&output.stderr), String::from_utf8_lossy(&output.stdout)))
    }
}

/// Like [`try_git`], panicking with git's stderr when it fails.
pub fn git(dir: &Path, args: &[&str]) -> String {
    try_git(dir, args).unwrap_or_else(|e| panic!("git {} failed in {}:\n{e}", args.join(" "), dir.display()))
}

/// `url` with `token` as the password of user `x-access-token` (GitHub's form for tokens).
pub fn url_with_token(url: &str, token: &str) -> String {
    let (scheme, rest) = url.split_once("://").expect("an absolute URL");
    let token: String = token
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect();
    format!("{scheme}://x-access-token:{token}@{rest}")
}

/// Clones `url` into `dest` with the real git CLI, the token in the URL, so that later `git push`
/// and `git pull` in `dest` are authenticated too.
pub fn clone_with_token(url: &str, token: &str, dest: &Path) {
    let parent = dest.parent().expect("a destination with a parent directory");
    std::fs::create_dir_all(parent).unwrap();
    git(parent, &["clone", "--quiet", &url_with_token(url, token), dest.to_str().unwrap()]);
}
