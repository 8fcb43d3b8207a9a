//! The workspace against a real folder: limits at their edges, escapes and links refused.

use super::*;

#[test]
fn posted_names_land_in_src_unless_they_name_the_template() {
    assert_eq!(workspace_path("App.tsx").unwrap(), "src/App.tsx");
    assert_eq!(workspace_path("components/Nav.tsx").unwrap(), "src/components/Nav.tsx");
    assert_eq!(workspace_path("src/main.tsx").unwrap(), "src/main.tsx");
    assert_eq!(workspace_path("public/logo.svg").unwrap(), "public/logo.svg");
    assert_eq!(workspace_path("package.json").unwrap(), "package.json");
    assert_eq!(workspace_path("index.html").unwrap(), "index.html");
    for bad in ["", "../x", "a/../../x", "/etc/passwd", "a\0b", "a//b", "./a", "C:\\x", "node_modules/x", "dist/a"] {
        assert!(workspace_path(bad).is_err(), "{bad:?} was accepted");
    }
}

#[test]
fn the_file_count_and_size_limits_hold_at_their_edges() {
    let root = tempfile::tempdir().unwrap();
    let ws = Workspaces::new(root.path().to_path_buf(), None, 2, 20);
    let files = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
        pairs.iter().map(|(p, c)| (p.to_string(), c.to_string())).collect()
    };
    // "a.tsx" + 5 bytes twice is exactly 20 bytes, in exactly 2 files.
    assert!(ws.apply("p", &files(&[("a.tsx", "12345"), ("b.tsx", "12345")])).is_ok());
    let err = ws.apply("p", &files(&[("a.tsx", "12345"), ("b.tsx", "123456")])).unwrap_err();
    assert!(matches!(err, WorkspaceError::TooLarge(21, 20)), "{err}");
    let err = ws.apply("p", &files(&[("a.tsx", ""), ("b.tsx", ""), ("c.tsx", "")])).unwrap_err();
    assert!(matches!(err, WorkspaceError::TooManyFiles(3, 2)), "{err}");
    assert_eq!(
        std::fs::read_to_string(ws.app_dir("p").join("src/b.tsx")).unwrap(),
        "12345",
        "refused posts change nothing"
    );
}

#[test]
fn a_tree_is_applied_whole_or_not_at_all_and_never_through_a_link() {
    let root = tempfile::tempdir().unwrap();
    let ws = Workspaces::new(root.path().to_path_buf(), None, 100, 1 << 20);
    let file = |path: &str, text: &str| TrackedFile { path: path.into(), bytes: text.into(), executable: false };
    ws.apply_tree("p", &[file("lib/a.ts", "a"), file("lib/deep/b.ts", "b")], &[]).unwrap();
    let app = ws.app_dir("p");
    // A file becomes a folder, a folder's last file goes and the folder with it.
    ws.apply_tree("p", &[file("lib/a.ts/c.ts", "c")], &["lib/a.ts".into(), "lib/deep/b.ts".into()]).unwrap();
    assert_eq!(std::fs::read_to_string(app.join("lib/a.ts/c.ts")).unwrap(), "c");
    assert!(!app.join("lib/deep").exists());

    let outside = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(outside.path(), app.join("linked")).unwrap();
    for (written, deleted) in [
        (vec![file("src/ok.ts", "ok"), file("linked/x.ts", "pwned")], vec![]),
        (vec![file("src/ok.ts", "ok")], vec!["linked/x.ts".to_string()]),
        (vec![file("src/ok.ts", "ok"), file(".blink-packages/x.wasm", "pwned")], vec![]),
        (vec![file("src/ok.ts", "ok"), file("src/.GIT/config", "pwned")], vec![]),
        (vec![file("src/ok.ts", "ok"), file("src/../../x", "pwned")], vec![]),
    ] {
        let err = ws.apply_tree("p", &written, &deleted).unwrap_err();
        assert!(matches!(err, WorkspaceError::InvalidPath { .. }), "{err}");
        assert!(!app.join("src/ok.ts").exists(), "nothing is written when one path is refused");
    }
    assert_eq!(std::fs::read_dir(outside.path()).unwrap().count(), 0);
}

#[test]
fn a_snapshot_reads_files_only_and_within_the_limits() {
    let root = tempfile::tempdir().unwrap();
    let ws = Workspaces::new(root.path().to_path_buf(), None, 1000, 1 << 20);
    let app = ws.ensure("p").unwrap();
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("secret"), "host secret").unwrap();
    std::os::unix::fs::symlink(outside.path().join("secret"), app.join("src/secret.txt")).unwrap();
    std::os::unix::fs::symlink(outside.path(), app.join("src/outside")).unwrap();
    std::fs::create_dir_all(app.join("node_modules/x")).unwrap();
    std::fs::write(app.join("node_modules/x/index.js"), "x").unwrap();
    let files = ws.snapshot("p", &mut |path| path == "node_modules/").unwrap();
    assert!(files.iter().any(|f| f.path == "src/main.tsx"));
    assert!(files.iter().all(|f| !f.path.contains("secret") && !f.path.starts_with("src/outside")));
    assert!(files.iter().all(|f| !f.path.starts_with("node_modules")));

    // Exactly the limits pass; a byte or a file more is refused.
    let total: usize = files.iter().map(|f| f.path.len() + f.bytes.len()).sum();
    let at = |max_files, max_bytes| Workspaces::new(root.path().to_path_buf(), None, max_files, max_bytes);
    let skip = &mut |path: &str| path == "node_modules/";
    assert!(at(files.len(), total).snapshot("p", skip).is_ok());
    assert!(matches!(at(files.len(), total - 1).snapshot("p", skip), Err(WorkspaceError::TooLarge(..))));
    assert!(matches!(at(files.len() - 1, total).snapshot("p", skip), Err(WorkspaceError::TooManyFiles(..))));
}

#[test]
fn fifos_and_deep_folders_the_sandbox_plants_never_block_or_exhaust_the_host() {
    let root = tempfile::tempdir().unwrap();
    let ws = Workspaces::new(root.path().to_path_buf(), None, 1000, 1 << 20);
    let app = ws.ensure("p").unwrap();
    let mkfifo = |path: &Path| assert!(std::process::Command::new("mkfifo").arg(path).status().unwrap().success());
    // Opening any of these for reading or writing would wait for a peer that never comes.
    mkfifo(&app.join(".gitignore"));
    mkfifo(&app.join("src/pipe.tsx"));
    mkfifo(&app.join("src/App.tsx.blink-tmp"));
    assert_eq!(ws.read_small("p", ".gitignore", 1024).unwrap(), None);
    let files = ws.snapshot("p", &mut |_| false).unwrap();
    assert!(files.iter().all(|f| f.path != "src/pipe.tsx" && f.path != ".gitignore"));
    let posted = [("App.tsx".to_string(), "ok".to_string())].into_iter().collect();
    ws.apply("p", &posted).unwrap();
    assert_eq!(std::fs::read_to_string(app.join("src/App.tsx")).unwrap(), "ok");

    // 64 folders deep is a project; 65 is refused, not walked.
    let deep = |n: usize| (0..n).map(|_| "d").collect::<Vec<_>>().join("/");
    std::fs::create_dir_all(app.join(deep(64))).unwrap();
    assert!(ws.snapshot("p", &mut |_| false).is_ok());
    std::fs::create_dir_all(app.join(deep(65))).unwrap();
    let err = ws.snapshot("p", &mut |_| false).unwrap_err();
    assert!(matches!(err, WorkspaceError::InvalidPath { .. }), "{err}");
}

#[test]
fn apply_writes_changes_removes_dropped_files_and_refuses_escapes() {
    let root = tempfile::tempdir().unwrap();
    let ws = Workspaces::new(root.path().to_path_buf(), None, 100, 1 << 20);
    let files = |pairs: &[(&str, &str)]| pairs.iter().map(|(p, c)| (p.to_string(), c.to_string())).collect();
    let first = ws.apply("p1", &files(&[("App.tsx", "a"), ("Nav.tsx", "n")])).unwrap();
    assert_eq!(first.written, vec!["src/App.tsx", "src/Nav.tsx"]);
    let app = ws.app_dir("p1");
    assert!(app.join("package.json").exists(), "the template is seeded");
    let second = ws.apply("p1", &files(&[("App.tsx", "b")])).unwrap();
    assert_eq!((second.written, second.deleted), (vec!["src/App.tsx".to_string()], vec!["src/Nav.tsx".to_string()]));
    assert!(!app.join("src/Nav.tsx").exists());
    assert!(app.join("src/main.tsx").exists(), "template files nobody posted stay");

    // A symlink planted inside the project (as code in the sandbox could) leads nowhere.
    let outside = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(outside.path(), app.join("src/evil")).unwrap();
    let err = ws.apply("p1", &files(&[("evil/x.tsx", "pwned")])).unwrap_err();
    assert!(matches!(err, WorkspaceError::InvalidPath { .. }), "{err}");
    assert!(!outside.path().join("x.tsx").exists());
    // A bad name anywhere in a post changes nothing.
    assert!(ws.apply("p1", &files(&[("App.tsx", "c"), ("../x", "y")])).is_err());
    assert_eq!(std::fs::read_to_string(app.join("src/App.tsx")).unwrap(), "b");
}
