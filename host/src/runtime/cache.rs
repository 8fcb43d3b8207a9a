//! Compiled components on disk, so a restart does not pay Cranelift again.
//!
//! An entry is keyed by the component's content hash and the engine's compatibility hash (wasmtime
//! version and every setting that changes code generation), written atomically, and recompiled
//! when it cannot be loaded.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

use anyhow::Context;
use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

pub(crate) struct ComponentCache {
    dir: PathBuf,
    engine_key: String,
}

/// The hex SHA-256 of a component: its version identity.
pub(crate) fn content_hash(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

impl ComponentCache {
    pub(crate) fn new(engine: &Engine, dir: &Path) -> anyhow::Result<Self> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating the component cache {}", dir.display()))?;
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        remove_abandoned(dir);
        Ok(Self { dir: dir.to_path_buf(), engine_key: format!("{:016x}", hasher.finish()) })
    }

    /// The compiled component for `bytes`, from the cache when possible.
    pub(crate) fn load(&self, engine: &Engine, hash: &str, bytes: &[u8]) -> anyhow::Result<Component> {
        let path = self.dir.join(format!("{hash}-{}.cwasm", self.engine_key));
        if path.exists() {
            match deserialize(engine, &path) {
                Ok(component) => return Ok(component),
                Err(e) => tracing::warn!(path = %path.display(), "cached component unusable ({e:#}); recompiling"),
            }
        }
        let compiled =
            engine.precompile_component(bytes).map_err(anyhow::Error::from).context("compiling the component")?;
        let tmp = self.dir.join(format!(".{hash}-{}.{}.tmp", self.engine_key, std::process::id()));
        std::fs::write(&tmp, &compiled).with_context(|| format!("writing {}", tmp.display()))?;
        std::fs::rename(&tmp, &path).with_context(|| format!("writing {}", path.display()))?;
        deserialize(engine, &path)
    }
}

/// A compilation writes its temporary for seconds; one an hour old was left by a process killed
/// mid-write. The cache may be shared by hosts, so a younger one may be another's in progress.
const ABANDONED_AFTER: std::time::Duration = std::time::Duration::from_secs(3600);

fn remove_abandoned(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let old = entry
            .metadata()
            .and_then(|m| m.modified())
            .is_ok_and(|at| at.elapsed().is_ok_and(|age| age > ABANDONED_AFTER));
        if name.starts_with('.') && name.ends_with(".tmp") && old {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// Loading native code is only as safe as the file: the cache directory belongs to the host, and
/// every file in it was written by `precompile_component` above, then checked by wasmtime against
/// this engine's configuration.
#[allow(unsafe_code)]
fn deserialize(engine: &Engine, path: &Path) -> anyhow::Result<Component> {
    unsafe { Component::deserialize_file(engine, path) }.map_err(anyhow::Error::from)
}
