//! Who owns each sandbox on the engine, for `blink sandbox prune`: a live host, one gone, or none named.

use blink_sandbox::SandboxBackend;

use crate::preview::PreviewError;

/// Who owns a sandbox, as `blink sandbox prune` sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Owner {
    /// A host serves from this data directory now.
    Live(String),
    /// Its data directory is gone or no host serves from it: nothing will ever stop the sandbox.
    Gone(String),
    /// Made before sandboxes carried their owner.
    Unknown,
}

impl std::fmt::Display for Owner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Live(dir) => write!(f, "its host serves from {dir}"),
            Self::Gone(dir) => write!(f, "no host serves from {dir}"),
            Self::Unknown => f.write_str("it names no owner"),
        }
    }
}

/// Every sandbox on the engine, with whether a live host owns it.
pub(crate) async fn owners(
    backend: &dyn SandboxBackend,
) -> Result<Vec<(blink_sandbox::SandboxInfo, Owner)>, PreviewError> {
    let mut found = Vec::new();
    for sandbox in backend.list().await? {
        let owner = match sandbox.labels.get(blink_sandbox::OWNER_LABEL) {
            None => Owner::Unknown,
            Some(dir) if crate::host_lock::in_use(std::path::Path::new(dir)) => Owner::Live(dir.clone()),
            Some(dir) => Owner::Gone(dir.clone()),
        };
        found.push((sandbox, owner));
    }
    Ok(found)
}
