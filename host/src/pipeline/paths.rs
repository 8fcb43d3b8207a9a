//! Project-relative paths: what a request or an agent may name as a file of the project.
//!
//! Generated paths end up on disk in the project's workspace, so nothing that could leave the
//! project (`..`, absolute paths, backslashes, NUL) gets past this check, whoever proposed it.

/// The longest path accepted.
pub(crate) const MAX_PATH_LEN: usize = 512;

/// `path` as a clean project-relative path (`./src/App.tsx` → `src/App.tsx`), or `None` when it is
/// empty or could escape the project.
pub(crate) fn project_path(path: &str) -> Option<String> {
    let trimmed = path.trim().trim_start_matches("./");
    let bad = trimmed.is_empty()
        || trimmed.starts_with('/')
        || trimmed.contains('\\')
        || trimmed.contains('\0')
        || trimmed.len() > MAX_PATH_LEN
        || trimmed.split('/').any(|c| c.is_empty() || c == "." || c == "..");
    (!bad).then(|| trimmed.to_string())
}

/// The app's entry, which a run never deletes.
pub(crate) fn is_entry(path: &str) -> bool {
    matches!(path, "App.tsx" | "src/App.tsx" | "App.jsx" | "src/App.jsx")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_that_leave_the_project_are_refused() {
        for bad in ["../x.tsx", "/etc/passwd", "a/../../b", "", "  ", "a//b", "c:\\x", "a/./b", "x\0y"] {
            assert_eq!(project_path(bad), None, "{bad:?} accepted");
        }
        assert_eq!(project_path(&"a".repeat(MAX_PATH_LEN)).as_deref(), Some("a".repeat(MAX_PATH_LEN).as_str()));
        assert_eq!(project_path(&"a".repeat(MAX_PATH_LEN + 1)), None);
        assert_eq!(project_path("./src/App.tsx").as_deref(), Some("src/App.tsx"));
        assert_eq!(project_path("Navbar.tsx").as_deref(), Some("Navbar.tsx"));
    }
}
