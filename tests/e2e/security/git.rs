//! Items 1, 9 (the pull's size) and 10 (the `.git` leak): a project's repository never reaches
//! outside the project's folder, never grows it past its limits, and leaves no trace of the host's
//! layout in it. The links are planted straight into the project's folder, as code running in its
//! sandbox can (the folder is its `/app`, writable, and a link's target is only a string).

use std::collections::BTreeMap;
use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};
use std::path::{Path, PathBuf};

use blink_test_support::git_server::{GitServer, clone_with_token, git, local_remotes};
use blink_test_support::host::Blink;
use blink_test_support::{HOSTILE_VALIDATOR, jwt};
use reqwest::Method;
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_blink");
const TOKEN: &str = "ghp_SecurityToken0123456789";
const ADMIN: &str = "operator-secret";

async fn send(blink: &Blink, method: Method, path: &str, token: &str, body: Option<Value>) -> (u16, Value) {
    let mut request = reqwest::Client::new().request(method, format!("{}{path}", blink.url)).bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

fn app_dir(blink: &Blink, project: &str) -> PathBuf {
    blink.data_dir.path().join("projects").join(project).join("app")
}

/// Every file under `dir` (links not followed, but named with their target) with its size and a
/// hash of its content, by relative path.
fn files_under(dir: &Path) -> BTreeMap<String, (usize, u64)> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, (usize, u64)>) {
        let Ok(entries) = std::fs::read_dir(dir) else { return };
        for entry in entries.map(Result::unwrap) {
            let kind = entry.file_type().unwrap();
            let rel = entry.path().strip_prefix(root).unwrap().display().to_string();
            if kind.is_dir() {
                walk(root, &entry.path(), out);
            } else if kind.is_symlink() {
                out.insert(format!("{rel} -> {}", std::fs::read_link(entry.path()).unwrap().display()), (0, 0));
            } else {
                let content = std::fs::read(entry.path()).unwrap();
                out.insert(rel, (content.len(), BuildHasherDefault::<DefaultHasher>::default().hash_one(&content)));
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

/// Creates `project` for `user` with `url` as its remote and commits (and pushes) its files.
async fn project_with_remote(blink: &Blink, user: &str, project: &str, url: &str) {
    let (status, body) = send(blink, Method::POST, "/api/projects", user, Some(json!({ "id": project }))).await;
    assert!(status == 200 || status == 201, "{body}");
    let remote = json!({ "remoteUrl": url, "token": TOKEN, "branch": "main" });
    let (status, body) = send(blink, Method::PUT, &format!("/api/projects/{project}/git"), user, Some(remote)).await;
    assert_eq!(status, 200, "{body}");
    let commit = json!({ "projectId": project, "message": "Start" });
    let (status, body) = send(blink, Method::POST, "/api/git/commit", user, Some(commit)).await;
    assert_eq!((status, body["pushed"].clone()), (200, json!(true)), "{body}\n{}", blink.log());
}

async fn pull(blink: &Blink, user: &str, project: &str) -> (u16, Value) {
    send(blink, Method::POST, "/api/git/pull", user, Some(json!({ "projectId": project }))).await
}

async fn head(blink: &Blink, user: &str, project: &str) -> String {
    let (_, log) = send(blink, Method::GET, &format!("/api/projects/{project}/git/log?limit=1"), user, None).await;
    log["commits"][0]["hash"].as_str().unwrap_or_default().to_string()
}

/// Commits everything in a clone (ignored files too) and pushes it.
fn push_all(clone: &Path, message: &str) {
    git(clone, &["add", "-A", "-f", "."]);
    git(clone, &["commit", "--quiet", "-m", message]);
    git(clone, &["push", "--quiet", "origin", "main"]);
}

/// Item 1: a pull or a restore writes nothing through a symbolic link the sandbox planted in the
/// project's folder: not into the plugins' watch folder (which would make the attacker's component
/// every user's validator), not into another user's project. The pull is refused whole.
#[tokio::test]
async fn a_pull_or_restore_never_writes_through_a_link_the_sandbox_planted() {
    let server = GitServer::start(TOKEN).await;
    let url = server.create_repo("mallory-app");
    let mut env = local_remotes().to_vec();
    env.push(("BLINK_ADMIN_TOKEN", ADMIN.into()));
    let blink = Blink::start(BIN, &env).await;
    let (victim, mallory) = (jwt::user_token("victim"), jwt::user_token("mallory"));
    send(&blink, Method::POST, "/api/projects", &victim, Some(json!({ "id": "victim-shop" }))).await;
    let (status, body) = send(
        &blink,
        Method::POST,
        "/api/git/commit",
        &victim,
        Some(json!({ "projectId": "victim-shop", "message": "Shop" })),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let victim_src = app_dir(&blink, "victim-shop").join("src");
    let victim_before = files_under(&victim_src);
    assert!(victim_before.contains_key("App.tsx"), "{victim_before:?}");
    let watch = blink.data_dir.path().join("plugins-watch");
    std::fs::create_dir_all(&watch).unwrap();
    let (_, plugins) = send(&blink, Method::GET, "/api/admin/plugins", ADMIN, None).await;
    let validator = plugins["validator"]["active"].clone();
    assert!(validator.is_string(), "{plugins}");

    project_with_remote(&blink, &mallory, "mallory-site", &url).await;
    let start = head(&blink, &mallory, "mallory-site").await;
    let scratch = tempfile::tempdir().unwrap();
    let laptop = scratch.path().join("laptop");
    clone_with_token(&url, TOKEN, &laptop);
    let component = std::fs::read(HOSTILE_VALIDATOR).unwrap();
    std::fs::create_dir_all(laptop.join(".blink-packages")).unwrap();
    std::fs::write(laptop.join(".blink-packages/validator-pwn.wasm"), &component).unwrap();
    std::fs::create_dir_all(laptop.join("dist")).unwrap();
    std::fs::write(laptop.join("dist/x.tsx"), "export const pwned = true;\n").unwrap();
    std::fs::write(laptop.join("src/ok.tsx"), "export const ok = true;\n").unwrap();
    push_all(&laptop, "Innocent-looking files");

    // The sandbox's code links folders the repository writes into (both excluded from commits, so
    // the commit taken before a pull leaves the links alone) to the watch folder and the victim.
    let app = app_dir(&blink, "mallory-site");
    let _ = std::fs::remove_dir_all(app.join(".blink-packages"));
    std::os::unix::fs::symlink("../../../plugins-watch", app.join(".blink-packages")).unwrap();
    std::os::unix::fs::symlink("../../victim-shop/app/src", app.join("dist")).unwrap();
    let (status, body) = pull(&blink, &mallory, "mallory-site").await;
    assert_eq!(files_under(&watch), BTreeMap::new(), "a pull wrote into the plugins' watch folder: {body}");
    assert_eq!(files_under(&victim_src), victim_before, "a pull wrote into another user's project: {body}");
    assert_eq!((status, body["error"].clone()), (422, json!("unsafe_path")), "{body}");
    assert!(!app.join("src/ok.tsx").exists(), "a refused pull applies nothing");
    assert_eq!(head(&blink, &mallory, "mallory-site").await, start, "a refused pull moves no history");

    // Without the host's folder in the repository, the link itself is what stops the pull, here
    // through a folder the project does commit (the link is not recorded, nor followed).
    git(&laptop, &["rm", "--quiet", "-r", ".blink-packages"]);
    std::fs::create_dir_all(laptop.join("widgets")).unwrap();
    std::fs::write(laptop.join("widgets/validator-pwn.wasm"), &component).unwrap();
    push_all(&laptop, "More files");
    std::os::unix::fs::symlink("../../../plugins-watch", app.join("widgets")).unwrap();
    let (status, body) = pull(&blink, &mallory, "mallory-site").await;
    assert_eq!(files_under(&watch), BTreeMap::new(), "a pull wrote into the plugins' watch folder: {body}");
    assert_eq!(files_under(&victim_src), victim_before, "a pull wrote into another user's project: {body}");
    assert_eq!((status, body["error"].clone()), (422, json!("unsafe_path")), "{body}");
    assert!(body["message"].as_str().unwrap().contains("symbolic link"), "{body}");
    assert!(!app.join("src/ok.tsx").exists(), "a refused pull applies nothing");
    let (_, plugins) = send(&blink, Method::GET, "/api/admin/plugins", ADMIN, None).await;
    assert_eq!(plugins["validator"]["active"], validator, "{plugins}");

    // Restore: a commit had `cards/Card.tsx`; the folder is gone, then comes back as a link into
    // the victim's project, ignored by a `.gitignore` the sandbox edited.
    std::fs::remove_file(app.join("widgets")).unwrap();
    std::fs::create_dir_all(app.join("cards")).unwrap();
    std::fs::write(app.join("cards/Card.tsx"), "export const Card = () => null;\n").unwrap();
    let commit = |message: &str| json!({ "projectId": "mallory-site", "message": message });
    let (status, body) = send(&blink, Method::POST, "/api/git/commit", &mallory, Some(commit("Card"))).await;
    assert_eq!(status, 200, "{body}");
    let with_card = body["commitHash"].as_str().unwrap().to_string();
    std::fs::remove_dir_all(app.join("cards")).unwrap();
    let (status, body) = send(&blink, Method::POST, "/api/git/commit", &mallory, Some(commit("No card"))).await;
    assert_eq!(status, 200, "{body}");
    let gitignore = std::fs::read_to_string(app.join(".gitignore")).unwrap_or_default();
    std::fs::write(app.join(".gitignore"), format!("{gitignore}cards\n")).unwrap();
    std::os::unix::fs::symlink("../../victim-shop/app/src", app.join("cards")).unwrap();
    let restore = json!({ "commit": with_card });
    let (status, body) =
        send(&blink, Method::POST, "/api/projects/mallory-site/git/restore", &mallory, Some(restore)).await;
    assert_eq!(files_under(&victim_src), victim_before, "a restore wrote into another user's project: {body}");
    assert_eq!((status, body["error"].clone()), (422, json!("unsafe_path")), "{body}");
}

/// Item 10: the project's folder (the sandbox's `/app`) holds no `.git` file and nothing that names
/// the host's data directory, after a commit and a pull; one an earlier version wrote is removed.
#[tokio::test]
async fn the_project_folder_never_holds_a_git_link_or_the_host_layout() {
    let server = GitServer::start(TOKEN).await;
    let url = server.create_repo("tidy");
    let blink = Blink::start(BIN, &local_remotes()).await;
    let user = jwt::user_token("tidy");
    let app = app_dir(&blink, "tidy-site");
    let git_dir = blink.data_dir.path().join("projects/tidy-site/git");
    std::fs::create_dir_all(&app).unwrap();
    std::fs::write(app.join(".git"), format!("gitdir: {}/\n", git_dir.display())).unwrap();
    project_with_remote(&blink, &user, "tidy-site", &url).await;
    let scratch = tempfile::tempdir().unwrap();
    let laptop = scratch.path().join("laptop");
    clone_with_token(&url, TOKEN, &laptop);
    std::fs::write(laptop.join("src/Tidy.tsx"), "export const Tidy = () => null;\n").unwrap();
    push_all(&laptop, "Tidy");
    let (status, body) = pull(&blink, &user, "tidy-site").await;
    assert_eq!((status, body["updated"].clone()), (200, json!(true)), "{body}\n{}", blink.log());
    assert!(app.join("src/Tidy.tsx").exists());

    assert!(std::fs::symlink_metadata(app.join(".git")).is_err(), "the project's folder has a .git");
    let data_dir = blink.data_dir.path().display().to_string();
    for path in files_under(&app).into_keys() {
        let content = std::fs::read(app.join(&path)).unwrap();
        assert!(!String::from_utf8_lossy(&content).contains(&data_dir), "{path} names the data directory");
    }
}

/// `git ls-tree` of a clone's HEAD: how many files, and how many bytes of names and contents.
fn tree_size(clone: &Path) -> (usize, usize) {
    let listing = git(clone, &["ls-tree", "-r", "-l", "-z", "HEAD"]);
    listing.split('\0').filter(|l| !l.is_empty()).fold((0, 0), |(files, bytes), line| {
        let (meta, path) = line.split_once('\t').unwrap();
        let size: usize = meta.split_whitespace().nth(3).unwrap().parse().unwrap();
        (files + 1, bytes + path.len() + size)
    })
}

/// Item 9: a pull may not grow a project past the limits posted files obey
/// (`BLINK_PROJECT_MAX_FILES`, `BLINK_PROJECT_MAX_BYTES`): exactly the limit lands, one byte or one
/// file more is refused with 413 before anything is written.
#[tokio::test]
async fn a_pull_past_the_project_limits_is_refused_whole() {
    let server = GitServer::start(TOKEN).await;
    let url = server.create_repo("big");
    let blink = Blink::start(BIN, &local_remotes()).await;
    let user = jwt::user_token("hoarder");
    project_with_remote(&blink, &user, "big-site", &url).await;
    let scratch = tempfile::tempdir().unwrap();
    let laptop = scratch.path().join("laptop");
    clone_with_token(&url, TOKEN, &laptop);
    let (files, bytes) = tree_size(&laptop);
    let (max_files, max_bytes) = (files + 2, bytes + 4096);
    let limits = [
        local_remotes(),
        [("BLINK_PROJECT_MAX_FILES", max_files.to_string()), ("BLINK_PROJECT_MAX_BYTES", max_bytes.to_string())],
    ]
    .concat();
    let blink = Blink::start_in(BIN, blink.stop().await, &limits).await;
    let app = app_dir(&blink, "big-site");
    let pad = |len: usize| {
        std::fs::write(laptop.join("public/pad.bin"), vec![b'x'; len]).unwrap();
    };
    std::fs::create_dir_all(laptop.join("public")).unwrap();

    // Bytes: exactly the limit lands, one more is refused and changes nothing.
    pad(4096 - "public/pad.bin".len());
    push_all(&laptop, "Pad to the limit");
    assert_eq!(tree_size(&laptop), (files + 1, max_bytes));
    let (status, body) = pull(&blink, &user, "big-site").await;
    assert_eq!((status, body["updated"].clone()), (200, json!(true)), "{body}\n{}", blink.log());
    assert_eq!(std::fs::metadata(app.join("public/pad.bin")).unwrap().len(), 4096 - 14);
    let at_limit = head(&blink, &user, "big-site").await;
    pad(4096 - "public/pad.bin".len() + 1);
    push_all(&laptop, "One byte more");
    let (status, body) = pull(&blink, &user, "big-site").await;
    assert_eq!((status, body["error"].clone()), (413, json!("project_too_large")), "{body}");
    assert_eq!(std::fs::metadata(app.join("public/pad.bin")).unwrap().len(), 4096 - 14, "nothing was applied");
    assert_eq!(head(&blink, &user, "big-site").await, at_limit);

    // Files: exactly the limit lands, one more is refused (the bytes stay at their limit).
    pad(4096 - "public/pad.bin".len() - "public/a".len());
    std::fs::write(laptop.join("public/a"), "").unwrap();
    push_all(&laptop, "One file more");
    assert_eq!(tree_size(&laptop), (max_files, max_bytes));
    let (status, body) = pull(&blink, &user, "big-site").await;
    assert_eq!((status, body["updated"].clone()), (200, json!(true)), "{body}");
    assert!(app.join("public/a").exists());
    pad(4096 - "public/pad.bin".len() - "public/a".len() - "public/b".len());
    std::fs::write(laptop.join("public/b"), "").unwrap();
    push_all(&laptop, "Two files more");
    assert_eq!(tree_size(&laptop), (max_files + 1, max_bytes));
    let (status, body) = pull(&blink, &user, "big-site").await;
    assert_eq!((status, body["error"].clone()), (413, json!("project_too_large")), "{body}");
    assert!(body["message"].as_str().unwrap().contains("BLINK_PROJECT_MAX_FILES"), "{body}");
    assert!(!app.join("public/b").exists(), "nothing was applied");
}
