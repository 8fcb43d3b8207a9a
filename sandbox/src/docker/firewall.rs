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

/// Lets traffic from `bridge` into the host only on `ports` (TCP), and replies. Each port's rule
/// names the process that asked for it; rules of processes that are gone (a host killed, which
/// never withdraws its own) are removed first, so a port a dead host opened is not open to
/// whatever binds it next.
pub(super) async fn allow_only(bridge: &str, ports: &[u16]) -> Result<(), SandboxError> {
    let (created, stderr) = iptables(&["-N", CHAIN]).await?;
    if !created && !stderr.contains("exists") {
        return Err(SandboxError::Network(format!("iptables -N {CHAIN}: {stderr}")));
    }
    remove_stale(CHAIN).await?;
    ensure(CHAIN, &["-m", "conntrack", "--ctstate", "ESTABLISHED,RELATED", "-j", "ACCEPT"], Some(1)).await?;
    let owner = owner_of(std::process::id()).unwrap_or_default();
    for port in ports {
        let port = port.to_string();
        let rule = ["-p", "tcp", "--dport", &port, "-m", "comment", "--comment", &owner, "-j", "ACCEPT"];
        ensure(CHAIN, &rule, Some(2)).await?;
    }
    ensure(CHAIN, &["-j", "DROP"], None).await?;
    ensure("INPUT", &["-i", bridge, "-j", CHAIN], Some(1)).await
}

/// What a port rule says of the process that asked for it: its pid and the time it started (in
/// clock ticks since boot, from `/proc`), so a pid used again by another process does not
/// count as the same owner.
fn owner_of(pid: u32) -> Option<String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name, in parentheses, may hold spaces: the fields after its `)` are plain.
    let after = stat.rsplit_once(')')?.1;
    let started = after.split_whitespace().nth(19)?;
    Some(format!("blink-owner {pid}:{started}"))
}

/// Deletes the port rules of `chain` whose owner is no longer running (and those that name no
/// owner, made before rules did).
async fn remove_stale(chain: &str) -> Result<(), SandboxError> {
    let output = tokio::process::Command::new("iptables")
        .args(["-w", "5", "-S", chain])
        .kill_on_drop(true)
        .output()
        .await
        .map_err(|e| SandboxError::Network(format!("running iptables: {e}")))?;
    let rules = String::from_utf8_lossy(&output.stdout);
    for rule in rules.lines().filter(|r| r.contains("--dport") && r.ends_with("-j ACCEPT")) {
        let live = rule
            .split("--comment \"blink-owner ")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .and_then(|owner| Some((owner.split(':').next()?.parse::<u32>().ok()?, owner.to_string())))
            .is_some_and(|(pid, owner)| owner_of(pid).as_deref() == Some(format!("blink-owner {owner}").as_str()));
        if live {
            continue;
        }
        let Some(spec) = rule.strip_prefix(&format!("-A {chain} ")) else { continue };
        let mut delete = vec!["-D".to_string(), chain.to_string()];
        delete.extend(shell_words(spec));
        let args: Vec<&str> = delete.iter().map(String::as_str).collect();
        // Another host may have removed it an instant ago: nothing to report.
        let _ = iptables(&args).await?;
    }
    Ok(())
}

/// Splits a rule as `iptables -S` prints it: words, with a double-quoted comment as one.
fn shell_words(spec: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut rest = spec.trim();
    while !rest.is_empty() {
        if let Some(quoted) = rest.strip_prefix('"') {
            let end = quoted.find('"').unwrap_or(quoted.len());
            words.push(quoted[..end].to_string());
            rest = quoted.get(end + 1..).unwrap_or("").trim_start();
        } else {
            let end = rest.find(' ').unwrap_or(rest.len());
            words.push(rest[..end].to_string());
            rest = rest[end..].trim_start();
        }
    }
    words
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_split_as_iptables_prints_them() {
        let spec = "-p tcp -m tcp --dport 4000 -m comment --comment \"blink-owner 12:345\" -j ACCEPT";
        assert_eq!(
            shell_words(spec),
            [
                "-p",
                "tcp",
                "-m",
                "tcp",
                "--dport",
                "4000",
                "-m",
                "comment",
                "--comment",
                "blink-owner 12:345",
                "-j",
                "ACCEPT"
            ]
        );
    }

    #[test]
    fn this_process_owns_its_rules_and_a_reused_pid_does_not() {
        let me = owner_of(std::process::id()).unwrap();
        assert!(me.starts_with(&format!("blink-owner {}:", std::process::id())), "{me}");
        assert_ne!(owner_of(1), Some(me));
        assert_eq!(owner_of(u32::MAX), None);
    }
}
