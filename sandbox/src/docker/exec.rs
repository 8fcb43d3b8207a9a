//! Commands run inside a sandbox (`docker exec`), bounded in time and in the output kept.
//!
//! The engine has no way to kill an exec'd process, so each command carries a unique marker in
//! its environment, which its children inherit; on timeout a second exec kills every process of
//! the sandbox that has the marker, so a build's whole process tree goes, not only its parent.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bollard::exec::{StartExecOptions, StartExecResults};
use bollard::models::ExecConfig;
use futures::StreamExt;

use super::{DockerBackend, Engine};
use crate::output::OutputTail;
use crate::{APP_DIR, ExecOutput, SandboxError};

/// The environment variable that marks a command's processes.
const MARKER_VAR: &str = "BLINK_EXEC_ID";
/// Output kept per command: the end, where a failed build's errors are.
const MAX_OUTPUT: usize = 4 << 20;
/// How long the engine may take to report the exit status after the output ended.
const EXIT_STATUS_WAIT: Duration = Duration::from_secs(5);
/// How long killing a timed-out command may take.
const KILL_TIMEOUT: Duration = Duration::from_secs(10);

/// Kills the processes whose environment holds `MARKER_VAR=<argv[1]>`. Node is the one program
/// every sandbox image has. Several rounds, since a dying process tree may still fork.
const KILLER: &str = r#"
const fs = require('fs');
const marker = 'BLINK_EXEC_ID=' + process.argv[1];
let killed = 0;
for (let round = 0; round < 5; round++) {
  let found = 0;
  for (const pid of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(pid) || Number(pid) === process.pid) continue;
    let environ;
    try { environ = fs.readFileSync('/proc/' + pid + '/environ', 'latin1'); } catch { continue; }
    if (!environ.split('\0').includes(marker)) continue;
    try { process.kill(Number(pid), 'SIGKILL'); found++; } catch {}
  }
  killed += found;
  if (found === 0) break;
}
console.log(killed);
"#;

static NEXT_MARKER: AtomicU64 = AtomicU64::new(0);

fn new_marker() -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos();
    format!("{}-{nanos}-{}", std::process::id(), NEXT_MARKER.fetch_add(1, Ordering::Relaxed))
}

pub(super) async fn run(
    backend: &DockerBackend,
    engine: &Engine,
    project: &str,
    container: &str,
    command: &[String],
    env: &[(String, String)],
    timeout: Duration,
) -> Result<ExecOutput, SandboxError> {
    // A timeout too large to add means none.
    let deadline = tokio::time::Instant::now()
        .checked_add(timeout)
        .unwrap_or_else(|| tokio::time::Instant::now() + Duration::from_secs(100 * 365 * 86_400));
    let marker = new_marker();
    let mut environment: Vec<String> = env.iter().map(|(k, v)| format!("{k}={v}")).collect();
    environment.push(format!("{MARKER_VAR}={marker}"));
    let config = ExecConfig {
        attach_stdout: Some(true),
        attach_stderr: Some(true),
        cmd: Some(command.to_vec()),
        env: Some(environment),
        user: Some(backend.config.user.clone()),
        working_dir: Some(APP_DIR.to_string()),
        ..Default::default()
    };
    let docker = &engine.docker;
    let exec = docker.create_exec(container, config).await.map_err(|e| backend.container_error(e, project))?;
    let started = docker
        .start_exec(&exec.id, Some(StartExecOptions { detach: false, tty: false, output_capacity: None }))
        .await
        .map_err(|e| backend.container_error(e, project))?;
    let StartExecResults::Attached { mut output, .. } = started else {
        return Err(SandboxError::Engine("the engine did not attach to the command's output".into()));
    };
    let mut kept = OutputTail::new(MAX_OUTPUT);
    loop {
        match tokio::time::timeout_at(deadline, output.next()).await {
            Ok(Some(Ok(chunk))) => kept.push(chunk.as_ref()),
            Ok(Some(Err(e))) => return Err(backend.engine_error(e)),
            Ok(None) => break,
            Err(_) => {
                drop(output);
                kill(backend, engine, container, &marker).await;
                return Err(SandboxError::Timeout { after: timeout, output: kept.into_string() });
            }
        }
    }
    let exit_code = exit_code(backend, engine, &exec.id).await?;
    Ok(ExecOutput { exit_code, output: kept.into_string() })
}

/// The exit status; the engine may report the command as running for a moment after its output
/// closed.
async fn exit_code(backend: &DockerBackend, engine: &Engine, exec_id: &str) -> Result<i64, SandboxError> {
    let give_up = tokio::time::Instant::now() + EXIT_STATUS_WAIT;
    loop {
        let inspected = engine.docker.inspect_exec(exec_id).await.map_err(|e| backend.engine_error(e))?;
        if inspected.running != Some(true)
            && let Some(code) = inspected.exit_code
        {
            return Ok(code);
        }
        if tokio::time::Instant::now() >= give_up {
            return Err(SandboxError::Engine("the engine did not report the command's exit status".into()));
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Kills a timed-out command's processes. Failing to is logged, not returned: the caller's error
/// is the timeout, and a sandbox whose PIDs are exhausted may not even start the killer.
async fn kill(backend: &DockerBackend, engine: &Engine, container: &str, marker: &str) {
    let command = ["node", "-e", KILLER, marker].map(String::from).to_vec();
    let config = ExecConfig {
        attach_stdout: Some(true),
        attach_stderr: Some(true),
        cmd: Some(command),
        user: Some(backend.config.user.clone()),
        ..Default::default()
    };
    let attempt = async {
        let exec = engine.docker.create_exec(container, config).await?;
        let mut said = Vec::new();
        if let StartExecResults::Attached { mut output, .. } = engine.docker.start_exec(&exec.id, None).await? {
            while let Some(chunk) = output.next().await {
                said.extend_from_slice(chunk?.as_ref());
            }
        }
        Ok::<_, bollard::errors::Error>(String::from_utf8_lossy(&said).trim().to_string())
    };
    match tokio::time::timeout(KILL_TIMEOUT, attempt).await {
        Ok(Ok(killed)) => tracing::debug!(container, killed, "timed-out command killed"),
        Ok(Err(e)) => tracing::warn!(container, "cannot kill a timed-out command: {e}"),
        Err(_) => tracing::warn!(container, "killing a timed-out command did not finish in time"),
    }
}
