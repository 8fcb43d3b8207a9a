//! What of the host sandboxes reach. The internal network keeps them off every other network, but
//! not off the host itself: through the gateway they reach any host service listening on all
//! addresses (the host's API, a database…). Traffic arriving from the sandbox bridge goes through
//! one chain that lets in replies to the host's own connections (the proxy to a dev server) and
//! the ports the host names (its registry proxy), and drops the rest.

use crate::SandboxError;

/// Shared by every host on this machine: each adds its own ports; the final DROP stays last.
const CHAIN: &str = "BLINK-SANDBOX";

async fn iptables(args: &[&str]) -> Result<(bool, String), SandboxError> {
    let output = tokio::process::Command::new("iptables")
        .args(["-w", "5"])
        .args(args)
        .kill_on_drop(true)
        .output()
        .await
        .map_err(|e| {
            SandboxError::Network(format!("running iptables (needed to fence sandboxes off the host): {e}"))
        })?;
    Ok((output.status.success(), String::from_utf8_lossy(&output.stderr).trim().to_string()))
}

/// Adds `rule` to `chain` unless it is there: at `position` (1-based), or at the end.
async fn ensure(chain: &str, rule: &[&str], position: Option<usize>) -> Result<(), SandboxError> {
    let check: Vec<&str> = ["-C", chain].iter().copied().chain(rule.iter().copied()).collect();
    if iptables(&check).await?.0 {
        return Ok(());
    }
    let at = position.map(|p| p.to_string());
    let mut add: Vec<&str> = match &at {
        Some(at) => vec!["-I", chain, at.as_str()],
        None => vec!["-A", chain],
    };
    add.extend(rule);
    let (ok, stderr) = iptables(&add).await?;
    if ok { Ok(()) } else { Err(SandboxError::Network(format!("iptables {}: {stderr}", add.join(" ")))) }
}

/// Lets traffic from `bridge` into the host only on `ports` (TCP), and replies.
pub(super) async fn allow_only(bridge: &str, ports: &[u16]) -> Result<(), SandboxError> {
    let (created, stderr) = iptables(&["-N", CHAIN]).await?;
    if !created && !stderr.contains("exists") {
        return Err(SandboxError::Network(format!("iptables -N {CHAIN}: {stderr}")));
    }
    ensure(CHAIN, &["-m", "conntrack", "--ctstate", "ESTABLISHED,RELATED", "-j", "ACCEPT"], Some(1)).await?;
    for port in ports {
        let port = port.to_string();
        ensure(CHAIN, &["-p", "tcp", "--dport", &port, "-j", "ACCEPT"], Some(2)).await?;
    }
    ensure(CHAIN, &["-j", "DROP"], None).await?;
    ensure("INPUT", &["-i", bridge, "-j", CHAIN], Some(1)).await
}
