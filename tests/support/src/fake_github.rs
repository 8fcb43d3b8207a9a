//! A fake of GitHub's REST API, as much as creating a repository for the authenticated user needs:
//! `POST /user/repos` makes a real bare repository on a [`GitServer`], whose `clone_url` the host
//! can then push to with the same token. Every request is recorded for assertions.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use axum::Json;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::git_server::{Background, GitServer, bind_loopback, git, serve_in_background};

const DOCS: &str = "https://docs.github.com/rest";

struct FakeState {
    git: GitServer,
    token: String,
    owner: String,
    base_url: String,
    next_id: AtomicU64,
    repos: Mutex<Vec<Value>>,
    requests: Mutex<Vec<Value>>,
}

struct Inner {
    state: Arc<FakeState>,
    _server: Background,
}

/// The fake API on a free loopback port, on a thread of its own (like [`GitServer`]), stopped when
/// the last clone is dropped. Repository `name` lives on the git server as `{owner}/{name}`.
#[derive(Clone)]
pub struct FakeGithub {
    /// The API root, as `https://api.github.com` would be (no trailing slash).
    pub base_url: String,
    pub addr: SocketAddr,
    inner: Arc<Inner>,
}

impl FakeGithub {
    /// Starts the API for `owner`, who authenticates with `token` (`Authorization: Bearer` or
    /// `token`), making repositories on `git`.
    pub async fn start(git: &GitServer, token: &str, owner: &str) -> Self {
        Self::start_blocking(git, token, owner)
    }

    /// Like [`FakeGithub::start`], for tests that have no runtime.
    pub fn start_blocking(git: &GitServer, token: &str, owner: &str) -> Self {
        let listener = bind_loopback();
        let addr = listener.local_addr().unwrap();
        let base_url = format!("http://{addr}");
        let state = Arc::new(FakeState {
            git: git.clone(),
            token: token.to_string(),
            owner: owner.to_string(),
            base_url: base_url.clone(),
            next_id: AtomicU64::new(1_000_001),
            repos: Mutex::new(Vec::new()),
            requests: Mutex::new(Vec::new()),
        });
        let app = axum::Router::new().fallback(handle).with_state(state.clone());
        let server = serve_in_background("fake-github", listener, app);
        Self { base_url, addr, inner: Arc::new(Inner { state, _server: server }) }
    }

    /// Every request received, oldest first: `{method, path, query, headers, body, status}`, the
    /// `authorization` header reduced to its scheme (`"Bearer <redacted>"`), the body as JSON when
    /// it parses (else as a string, `null` when empty).
    pub fn requests(&self) -> Vec<Value> {
        self.inner.state.requests.lock().unwrap().clone()
    }

    /// The repositories created so far, as `POST /user/repos` answered them.
    pub fn repos(&self) -> Vec<Value> {
        self.inner.state.repos.lock().unwrap().clone()
    }

    /// The name of repository `name` on the git server (for [`GitServer::repo_path`]).
    pub fn git_name(&self, name: &str) -> String {
        format!("{}/{name}", self.inner.state.owner)
    }
}

fn error(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({ "message": message, "documentation_url": DOCS }))).into_response()
}

/// The token of `Authorization: Bearer TOKEN` or `Authorization: token TOKEN`.
fn presented_token(headers: &HeaderMap) -> Option<&str> {
    let (scheme, token) = headers.get(header::AUTHORIZATION)?.to_str().ok()?.split_once(' ')?;
    (scheme.eq_ignore_ascii_case("bearer") || scheme.eq_ignore_ascii_case("token")).then(|| token.trim())
}

async fn handle(State(state): State<Arc<FakeState>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, 16 << 20).await.unwrap_or_default();
    let json_body: Option<Value> = serde_json::from_slice(&body).ok();
    let response = answer(&state, parts.method.as_str(), parts.uri.path(), &parts.headers, &body);

    let headers: serde_json::Map<String, Value> = parts
        .headers
        .keys()
        .map(|name| {
            let values: Vec<&str> = parts.headers.get_all(name).iter().filter_map(|v| v.to_str().ok()).collect();
            let mut value = values.join(", ");
            if name == header::AUTHORIZATION {
                // Recorded requests end up in test output: keep only the scheme.
                let scheme = value.split_once(' ').map_or(value.as_str(), |(scheme, _)| scheme);
                value = format!("{scheme} <redacted>");
            }
            (name.as_str().to_string(), Value::String(value))
        })
        .collect();
    let recorded_body = match json_body {
        Some(json) => json,
        None if body.is_empty() => Value::Null,
        None => Value::String(String::from_utf8_lossy(&body).into_owned()),
    };
    state.requests.lock().unwrap().push(json!({
        "method": parts.method.as_str(),
        "path": parts.uri.path(),
        "query": parts.uri.query().unwrap_or_default(),
        "headers": headers,
        "body": recorded_body,
        "status": response.status().as_u16(),
    }));
    response
}

fn answer(state: &FakeState, method: &str, path: &str, headers: &HeaderMap, body: &[u8]) -> Response {
    match presented_token(headers) {
        None => return error(StatusCode::UNAUTHORIZED, "Requires authentication"),
        Some(token) if token != state.token => return error(StatusCode::UNAUTHORIZED, "Bad credentials"),
        Some(_) => {}
    }
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    match (method, segments.as_slice()) {
        ("POST", ["user", "repos"]) => create_repo(state, body),
        ("GET", ["user"]) => Json(owner_json(&state.owner)).into_response(),
        ("GET", ["repos", owner, name]) => {
            let full_name = format!("{owner}/{name}");
            let repos = state.repos.lock().unwrap();
            match repos.iter().find(|r| r["full_name"].as_str().is_some_and(|f| f.eq_ignore_ascii_case(&full_name))) {
                Some(repo) => Json(repo.clone()).into_response(),
                None => error(StatusCode::NOT_FOUND, "Not Found"),
            }
        }
        _ => error(StatusCode::NOT_FOUND, "Not Found"),
    }
}

fn owner_json(owner: &str) -> Value {
    json!({
        "login": owner,
        "id": 1,
        "node_id": "U_fake",
        "type": "User",
        "html_url": format!("https://github.com/{owner}"),
    })
}

fn create_repo(state: &FakeState, body: &[u8]) -> Response {
    let Ok(request) = serde_json::from_slice::<Value>(body) else {
        return error(StatusCode::BAD_REQUEST, "Problems parsing JSON");
    };
    let Some(requested) = request["name"].as_str().filter(|n| !n.is_empty()) else {
        return error(StatusCode::UNPROCESSABLE_ENTITY, "Invalid request.\n\n\"name\" wasn't supplied.");
    };
    // GitHub keeps letters, digits, `.`, `-` and `_`, and turns anything else into `-`.
    let name: String =
        requested.chars().map(|c| if c.is_ascii_alphanumeric() || "._-".contains(c) { c } else { '-' }).collect();
    let private = request["private"].as_bool().unwrap_or(false);
    let description = request["description"].as_str().filter(|d| !d.is_empty());
    let owner = &state.owner;
    let full_name = format!("{owner}/{name}");

    let mut repos = state.repos.lock().unwrap();
    // Names are unique whatever their case, also against repositories a test made on the git server.
    let on_disk = std::fs::read_dir(state.git.root.join(owner))
        .map(|dir| {
            dir.filter_map(|e| e.ok())
                .any(|e| e.file_name().to_string_lossy().eq_ignore_ascii_case(&format!("{name}.git")))
        })
        .unwrap_or(false);
    let known = repos.iter().any(|r| r["full_name"].as_str().is_some_and(|f| f.eq_ignore_ascii_case(&full_name)));
    if on_disk || known {
        return (
            StatusCode::UNPROCESSABLE_ENTITY,
            Json(json!({
                "message": "Repository creation failed.",
                "errors": [{
                    "resource": "Repository",
                    "code": "custom",
                    "field": "name",
                    "message": "name already exists on this account",
                }],
                "documentation_url": DOCS,
            })),
        )
            .into_response();
    }

    let clone_url = state.git.create_repo(&full_name);
    if request["auto_init"].as_bool().unwrap_or(false) {
        initial_commit(&state.git.repo_path(&full_name), &name, description);
    }
    let id = state.next_id.fetch_add(1, Ordering::Relaxed);
    let api_url = format!("{}/repos/{full_name}", state.base_url);
    let repo = json!({
        "id": id,
        "node_id": format!("R_fake{id}"),
        "name": name,
        "full_name": full_name,
        "private": private,
        "visibility": if private { "private" } else { "public" },
        "owner": owner_json(owner),
        "html_url": format!("https://github.com/{full_name}"),
        "description": description,
        "fork": false,
        "url": api_url,
        "clone_url": clone_url,
        "git_url": format!("git://github.com/{full_name}.git"),
        "ssh_url": format!("git@github.com:{full_name}.git"),
        "default_branch": "main",
        "size": 0,
        "archived": false,
        "permissions": { "admin": true, "maintain": true, "push": true, "triage": true, "pull": true },
    });
    repos.push(repo.clone());
    (StatusCode::CREATED, [(header::LOCATION, api_url)], Json(repo)).into_response()
}

/// What `auto_init` makes on GitHub: one commit on `main` with a README.
fn initial_commit(bare: &std::path::Path, name: &str, description: Option<&str>) {
    let work = tempfile::tempdir().unwrap();
    let readme = match description {
        Some(description) => format!("# {name}\n{description}\n"),
        None => format!("# {name}\n"),
    };
    std::fs::write(work.path().join("README.md"), readme).unwrap();
    git(work.path(), &["init", "--quiet"]);
    git(work.path(), &["add", "README.md"]);
    git(work.path(), &["commit", "--quiet", "-m", "Initial commit"]);
    git(work.path(), &["push", "--quiet", bare.to_str().unwrap(), "HEAD:refs/heads/main"]);
}
