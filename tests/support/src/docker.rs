//! The Docker CLI, for tests that look at sandboxes from outside the host, and their cleanup.

/// Runs `docker` and returns its output; fails the test, naming the problem, if it cannot.
pub fn docker(args: &[&str]) -> String {
    let out = std::process::Command::new("docker")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("the docker CLI is needed for the sandbox tests: {e}"));
    assert!(out.status.success(), "docker {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Removes the sandboxes of these projects when the test ends, however it ends.
pub struct Cleanup(pub Vec<String>);

impl Drop for Cleanup {
    fn drop(&mut self) {
        for project in &self.0 {
            let _ = std::process::Command::new("docker").args(["rm", "-f", &format!("sandbox-{project}")]).output();
        }
    }
}
