//! The one error type of the sandbox layer, and how engine errors map onto it.

use std::time::Duration;

/// Why a sandbox operation failed.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    /// The engine does not answer (dockerd stopped, socket missing or not permitted).
    #[error("the sandbox engine is unavailable: {0}")]
    EngineUnavailable(String),
    /// The engine has no runtime of the configured name.
    #[error(
        "the sandbox engine has no runtime {runtime:?} (it has {available}); register it with the engine or choose another"
    )]
    RuntimeMissing { runtime: String, available: String },
    /// The sandbox image is not on this machine (it is never pulled).
    #[error("the sandbox image {0} is missing: build it with sandbox/build-image.sh")]
    ImageMissing(String),
    /// The project has no sandbox.
    #[error("no sandbox for project {0}")]
    NotFound(String),
    /// The project's sandbox exists but is stopped, so nothing can run in it.
    #[error("the sandbox of project {0} is not running")]
    NotRunning(String),
    /// A request the backend refuses: a bad project id, an empty command, a non-numeric user.
    #[error("{0}")]
    Invalid(String),
    /// The sandboxes' network is unusable (for instance it exists but is not internal).
    #[error("sandbox network: {0}")]
    Network(String),
    /// The project's directory could not be prepared for the sandbox.
    #[error("preparing the project directory {path}: {source}")]
    AppDir { path: std::path::PathBuf, source: std::io::Error },
    /// A command ran past its time and was killed.
    #[error("the command did not finish within {}s", .after.as_secs_f32())]
    Timeout { after: Duration, output: String },
    /// Any other engine error.
    #[error("sandbox engine error: {0}")]
    Engine(String),
}

/// The engine's HTTP status, when it answered with an error.
pub(crate) fn status(e: &bollard::errors::Error) -> Option<u16> {
    match e {
        bollard::errors::Error::DockerResponseServerError { status_code, .. } => Some(*status_code),
        _ => None,
    }
}

/// The engine's own message, when it answered with an error.
pub(crate) fn message(e: &bollard::errors::Error) -> &str {
    match e {
        bollard::errors::Error::DockerResponseServerError { message, .. } => message,
        _ => "",
    }
}

/// Maps an engine error: transport failures mean the engine is unavailable, the rest keep the
/// engine's message.
pub(crate) fn engine(e: bollard::errors::Error, socket: &str) -> SandboxError {
    use bollard::errors::Error as E;
    match e {
        E::HyperLegacyError { .. } | E::IOError { .. } | E::SocketNotFoundError(_) | E::HyperResponseError { .. } => {
            SandboxError::EngineUnavailable(format!(
                "the Docker engine does not answer at {socket} ({}); is dockerd running?",
                chain(&e)
            ))
        }
        E::RequestTimeoutError => {
            SandboxError::EngineUnavailable(format!("the Docker engine at {socket} did not answer in time"))
        }
        E::DockerResponseServerError { status_code, message } => {
            SandboxError::Engine(format!("{message} (status {status_code})"))
        }
        other => SandboxError::Engine(chain(&other)),
    }
}

/// An error with its causes: hyper's own message ("client error (Connect)") hides the useful part.
fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
