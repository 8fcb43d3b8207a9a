//! Sealing a sandbox on engines older than Docker 25, which give containers on an internal
//! network a default route through the host (moby/moby#46603 removed it). Through that route a
//! sandbox reaches every address of the host, not only the network's gateway; the engine's
//! isolation rules stop forwarded traffic only.
//!
//! The host deletes the route inside the sandbox's network namespace (`nsenter` and `ip`, as
//! root, beside the engine). So that no code of the project runs before, the container's
//! entrypoint is a gate: a few lines of `sh` that wait until the routing table has no default
//! route, then `exec` the real command. A gate nobody opens gives up, so the container exits
//! instead of spinning.

use bollard::Docker;

use crate::SandboxError;

/// Waits, at most about ten seconds, for `/proc/net/route` to lose its default route (destination
/// `00000000`) or for [`SEALED_MARK`] to appear, then runs the command given as arguments.
const GATE: &str = r#"i=0
while :; do
  open=1
  while read -r iface destination rest; do
    [ "$destination" = 00000000 ] && open=
  done < /proc/net/route
  [ -e /tmp/.blink-sealed ] && open=1
  [ -n "$open" ] && exec "$@"
  i=$((i + 1))
  [ "$i" -gt 20000 ] && { echo "blink: the sandbox was not sealed; not starting" >&2; exit 125; }
done"#;

/// Where the host marks a sealed sandbox whose runtime does not show it in `/proc/net/route`:
/// gVisor's network passthrough sends sockets to the host kernel, where the route is gone, but
/// its own `/proc` keeps the routes it saw at start. The sandbox's `/tmp` is a fresh tmpfs at
/// every start and no code of the project runs before the gate opens, so only the host can have
/// put the mark there.
pub(super) const SEALED_MARK: &str = "/tmp/.blink-sealed";

/// The entrypoint that runs the container's command once the sandbox is sealed.
pub(super) fn gate_entrypoint() -> Vec<String> {
    ["/bin/sh", "-c", GATE, "blink-gate"].map(String::from).to_vec()
}

/// Deletes the default route of the container's network namespace; a route already gone is fine.
pub(super) async fn remove_default_route(docker: &Docker, container: &str) -> Result<(), SandboxError> {
    let inspected = docker
        .inspect_container(container, None)
        .await
        .map_err(|e| SandboxError::Network(format!("inspecting {container} to seal it: {e}")))?;
    if inspected.state.as_ref().and_then(|s| s.running) != Some(true) {
        return Ok(());
    }
    let namespace = inspected.network_settings.and_then(|n| n.sandbox_key).filter(|k| k.starts_with('/'));
    let Some(namespace) = namespace else {
        return Err(SandboxError::Network(format!("the engine reports no network namespace for {container}")));
    };
    let output = tokio::process::Command::new("nsenter")
        .arg(format!("--net={namespace}"))
        .args(["ip", "-4", "route", "del", "default"])
        .kill_on_drop(true)
        .output()
        .await
        .map_err(|e| unsealable(container, &format!("running nsenter: {e}")))?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    if output.status.success() || stderr.contains("No such process") {
        Ok(())
    } else {
        Err(unsealable(container, stderr.trim()))
    }
}

fn unsealable(container: &str, why: &str) -> SandboxError {
    SandboxError::Network(format!(
        "cannot remove the default route this Docker engine (before 25) gives {container}: {why}; \
         the host must run as root beside the engine, with nsenter (util-linux) and ip (iproute2)"
    ))
}
