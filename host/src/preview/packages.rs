//! Packages a project adds beyond the template's: checked, installed into the project by npm in
//! its sandbox, and linked where Vite resolves them.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::preview::{Entry, PreviewError, Previews, relevant_lines};

impl Previews {
    /// Installs the packages `package.json` lists beyond the template's. The image's packages are
    /// shared and read-only, so the extra ones go to `.blink-packages/` in the project and are
    /// linked into `node_modules/`, where Vite resolves them; their own dependencies resolve from
    /// where they really are. Peer dependencies (React…) are the image's: never a second copy.
    pub(super) async fn install_if_needed(&self, project: &str, entry: &Entry) -> Result<(), PreviewError> {
        let app_dir = self.workspaces.app_dir(project);
        let manifest = std::fs::read_to_string(app_dir.join("package.json")).unwrap_or_default();
        let template = dependencies(crate::workspace::template_file("package.json").unwrap_or_default());
        let mut extra = Vec::new();
        for (name, spec) in dependencies(&manifest) {
            if template.contains_key(&name) {
                continue;
            }
            if !valid_package(&name, &spec) {
                return Err(PreviewError::InstallFailed(format!(
                    "{name}@{spec} is not a registry package this sandbox can install"
                )));
            }
            extra.push(format!("{name}@{spec}"));
        }
        let key = extra.join(" ");
        if extra.is_empty()
            || entry.installed.lock().unwrap_or_else(|e| e.into_inner()).as_deref() == Some(key.as_str())
        {
            return Ok(());
        }
        let workspaces = self.workspaces.clone();
        let owned = project.to_string();
        tokio::task::spawn_blocking(move || {
            workspaces.write_internal(&owned, ".blink-packages/package.json", b"{\"private\": true}\n")
        })
        .await
        .map_err(|e| PreviewError::Sandbox(e.to_string()))??;
        let env = self.spec(project, app_dir).env;
        let mut install: Vec<String> = [
            "npm",
            "install",
            "--prefix",
            "/app/.blink-packages",
            "--no-save",
            "--no-package-lock",
            "--no-audit",
            "--no-fund",
            "--legacy-peer-deps",
            "--cache",
            "/tmp/.npm",
        ]
        .into_iter()
        .map(String::from)
        .collect();
        install.extend(extra.iter().cloned());
        entry.record(format!("[install] {}", install.join(" ")));
        let out = self.backend.exec(project, &install, &env, self.settings.install_timeout).await?;
        for line in out.output.lines() {
            entry.record(format!("[install] {line}"));
        }
        if out.exit_code != 0 {
            return Err(PreviewError::InstallFailed(install_failure(&out.output)));
        }
        let names: Vec<&str> = extra.iter().map(|e| e.rsplit_once('@').map_or(e.as_str(), |(n, _)| n)).collect();
        let mut link_env = env.clone();
        link_env.push(("BLINK_LINK".into(), names.join(",")));
        let link = vec!["node".to_string(), "-e".to_string(), LINK_SCRIPT.to_string()];
        let out = self.backend.exec(project, &link, &link_env, Duration::from_secs(30)).await?;
        if out.exit_code != 0 {
            return Err(PreviewError::InstallFailed(relevant_lines(&out.output)));
        }
        entry.record(format!("[install] linked {}", names.join(", ")));
        *entry.installed.lock().unwrap_or_else(|e| e.into_inner()) = Some(key);
        // Vite resolves and pre-bundles dependencies when it starts, and remembers a package it
        // could not find: new packages need a fresh dev server.
        self.backend.stop(project).await?;
        self.start(project, entry).await?;
        Ok(())
    }
}

/// Links each package of `BLINK_LINK` from `.blink-packages/node_modules` into `node_modules`.
pub(super) const LINK_SCRIPT: &str = "const fs = require('fs'), path = require('path');\
for (const name of (process.env.BLINK_LINK || '').split(',').filter(Boolean)) {\
  const target = path.join('/app/node_modules', name);\
  fs.mkdirSync(path.dirname(target), { recursive: true });\
  fs.rmSync(target, { recursive: true, force: true });\
  fs.symlinkSync(path.join('/app/.blink-packages/node_modules', name), target, 'dir');\
}";

/// A package name and version range npm takes from a registry: no URLs, paths or git specs, and
/// nothing npm could read as an option.
pub(super) fn valid_package(name: &str, spec: &str) -> bool {
    let name_ok = {
        let bare = name.strip_prefix('@').and_then(|n| n.split_once('/')).map_or(Some(name), |(scope, rest)| {
            (!scope.is_empty()
                && scope.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-._~".contains(c)))
            .then_some(rest)
        });
        bare.is_some_and(|n| {
            !n.is_empty()
                && n.len() <= 214
                && !n.starts_with(['.', '_', '-'])
                && n.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-._~".contains(c))
        })
    };
    let spec_ok = !spec.is_empty()
        && !spec.starts_with('-')
        && spec.chars().all(|c| c.is_ascii_alphanumeric() || " .^~<>=|*-+x".contains(c))
        && spec.len() <= 64;
    name_ok && spec_ok
}

/// npm's failure, said plainly when a package does not exist.
pub(super) fn install_failure(output: &str) -> String {
    let missing: Vec<&str> =
        output.lines().filter_map(|l| l.split('\'').nth(1).filter(|_| l.contains("is not in this registry"))).collect();
    if missing.is_empty() {
        relevant_lines(output)
    } else {
        format!("no such package in the npm registry: {}", missing.join(", "))
    }
}

/// `dependencies` and `devDependencies` of a `package.json`, by name.
pub(super) fn dependencies(manifest: &str) -> BTreeMap<String, String> {
    let value: serde_json::Value = serde_json::from_str(manifest).unwrap_or_default();
    ["dependencies", "devDependencies"]
        .iter()
        .filter_map(|k| value[k].as_object())
        .flat_map(|deps| deps.iter().map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string())))
        .collect()
}
