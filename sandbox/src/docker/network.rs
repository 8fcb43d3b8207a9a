//! The sandboxes' network: internal (no route out of the machine), with no traffic between
//! sandboxes, and a gateway that is the host's one address on it.

use std::collections::HashMap;
use std::net::IpAddr;

use bollard::models::{Network, NetworkCreateRequest};
use bollard::query_parameters::ListNetworksOptionsBuilder;

use super::{DockerBackend, Engine};
use crate::SANDBOX_LABEL;
use crate::error::{self, SandboxError};

/// The bridge driver's switch for traffic between containers of one network.
const ICC_OPTION: &str = "com.docker.network.bridge.enable_icc";

#[derive(Debug, Clone)]
pub(super) struct NetworkInfo {
    pub(super) id: String,
    pub(super) gateway: IpAddr,
    /// The host's interface for the network.
    pub(super) bridge: String,
}

impl DockerBackend {
    /// Finds the network, creating it if missing; the answer is kept until the engine forgets it.
    pub(super) async fn network(&self, engine: &Engine) -> Result<NetworkInfo, SandboxError> {
        let mut cached = self.network.lock().await;
        if let Some(network) = cached.as_ref() {
            return Ok(network.clone());
        }
        let name = &self.config.network;
        let mut found = self.networks_named(engine).await?;
        if found.is_empty() {
            let request = NetworkCreateRequest {
                name: name.clone(),
                driver: Some("bridge".into()),
                internal: Some(true),
                labels: Some(HashMap::from([(SANDBOX_LABEL.to_string(), "1".to_string())])),
                // A sandbox must not reach another's dev server; the host still reaches them all.
                options: Some(HashMap::from([(ICC_OPTION.to_string(), "false".to_string())])),
                ..Default::default()
            };
            match engine.docker.create_network(request).await {
                Ok(_) => tracing::info!(network = %name, "sandbox network created"),
                Err(e) if error::status(&e) == Some(409) => {}
                Err(e) => return Err(self.engine_error(e)),
            }
            found = self.networks_named(engine).await?;
        }
        // Engines before 25 let two racing creators each make a network of the name. Every caller
        // keeps the oldest (a creator that saw only its own made the oldest) and drops the others.
        found.sort_by_key(|n| (n.created.as_deref().and_then(rfc3339_key), n.id.clone()));
        let mut found = found.into_iter();
        let Some(chosen) = found.next() else {
            return Err(SandboxError::Network(format!("the network {name} disappeared while being set up")));
        };
        for extra in found {
            let ours = extra.labels.as_ref().is_some_and(|l| l.contains_key(SANDBOX_LABEL));
            if let Some(id) = extra.id.filter(|_| ours)
                && let Err(e) = engine.docker.remove_network(&id).await
            {
                tracing::debug!(network = %name, %id, "duplicate network not removed: {e}");
            }
        }
        let network = self.check(chosen)?;
        *cached = Some(network.clone());
        Ok(network)
    }

    async fn networks_named(&self, engine: &Engine) -> Result<Vec<Network>, SandboxError> {
        let name = &self.config.network;
        // The name filter matches substrings; only the exact name counts.
        let filters = HashMap::from([("name", vec![name.clone()])]);
        let options = ListNetworksOptionsBuilder::default().filters(&filters).build();
        let networks = engine.docker.list_networks(Some(options)).await.map_err(|e| self.engine_error(e))?;
        Ok(networks.into_iter().filter(|n| n.name.as_deref() == Some(name.as_str())).collect())
    }

    /// Refuses a network that would let sandboxes out, and finds the host's address on it.
    fn check(&self, network: Network) -> Result<NetworkInfo, SandboxError> {
        let name = &self.config.network;
        if network.internal != Some(true) {
            return Err(SandboxError::Network(format!(
                "the network {name} exists but is not internal, so sandboxes on it could reach out; \
                 remove it (docker network rm {name}) or configure another name"
            )));
        }
        if network.options.as_ref().and_then(|o| o.get(ICC_OPTION)).map(String::as_str) != Some("false") {
            tracing::warn!(network = %name, "sandboxes on this network can reach each other ({ICC_OPTION} is not false)");
        }
        let gateway = network
            .ipam
            .and_then(|ipam| ipam.config)
            .into_iter()
            .flatten()
            .filter_map(|config| config.gateway)
            // Old engines may write the gateway with its prefix length.
            .filter_map(|gateway| gateway.split('/').next().and_then(|ip| ip.parse::<IpAddr>().ok()))
            .min_by_key(|ip| ip.is_ipv6());
        let Some(gateway) = gateway else {
            return Err(SandboxError::Network(format!("the network {name} has no gateway address")));
        };
        let id = network.id.ok_or_else(|| SandboxError::Network(format!("the engine reports no id for {name}")))?;
        // The bridge driver names the interface `br-` and the id's first 12 characters, unless
        // the network was created with a name for it.
        let bridge = network
            .options
            .as_ref()
            .and_then(|o| o.get("com.docker.network.bridge.name").cloned())
            .unwrap_or_else(|| format!("br-{}", id.get(..12).unwrap_or(&id)));
        Ok(NetworkInfo { id, gateway, bridge })
    }
}

/// An RFC 3339 time as (seconds since the epoch, nanoseconds), for ordering the engine's
/// timestamps, whose fractions have varying lengths (so text does not sort).
fn rfc3339_key(text: &str) -> Option<(i64, u32)> {
    let number = |range: std::ops::Range<usize>| text.get(range)?.parse::<i64>().ok();
    let (year, month, day) = (number(0..4)?, number(5..7)?, number(8..10)?);
    let (hour, minute, second) = (number(11..13)?, number(14..16)?, number(17..19)?);
    let rest = text.get(19..)?;
    let (fraction, zone) = match rest.strip_prefix('.') {
        Some(after) => {
            let digits = after.find(|c: char| !c.is_ascii_digit()).unwrap_or(after.len());
            (&after[..digits], &after[digits..])
        }
        None => ("", rest),
    };
    let mut nanos: u32 = 0;
    for (i, digit) in fraction.bytes().take(9).enumerate() {
        nanos += u32::from(digit - b'0') * 10u32.pow(8 - i as u32);
    }
    let offset = match zone {
        "Z" | "z" => 0,
        _ => {
            let sign = match zone.as_bytes().first()? {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let hours: i64 = zone.get(1..3)?.parse().ok()?;
            let minutes: i64 = zone.get(4..6)?.parse().ok()?;
            sign * (hours * 3600 + minutes * 60)
        }
    };
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let year_of_era = y - era * 400;
    let day_of_year = (153 * ((month + 9) % 12) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    let days = era * 146_097 + day_of_era - 719_468;
    Some((days * 86_400 + hour * 3600 + minute * 60 + second - offset, nanos))
}

#[cfg(test)]
mod tests {
    use super::rfc3339_key;

    #[test]
    fn timestamps() {
        assert_eq!(rfc3339_key("1970-01-01T00:00:00Z"), Some((0, 0)));
        assert_eq!(rfc3339_key("2026-11-28T03:25:10.5Z"), Some((1_795_836_310, 500_000_000)));
        assert_eq!(rfc3339_key("2026-11-28T04:25:10.123456789+01:00"), Some((1_795_836_310, 123_456_789)));
        assert!(rfc3339_key("2026-11-28T03:25:10.5Z") > rfc3339_key("2026-11-28T03:25:10.49999Z"));
        assert_eq!(rfc3339_key("yesterday"), None);
    }
}
