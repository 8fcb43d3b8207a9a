//! Host names: each project's default one (`{projectId}.{sites domain}`, a proxied DNS record when
//! Cloudflare is configured) and custom domains. A custom domain is claimed, then proven: its
//! claim carries a token the claimer publishes as a TXT record at `_blink-challenge.{domain}`,
//! which this host looks up. Until then it is pending: not served, blocking no one (several
//! projects may claim a name; the first proven owns it and the other claims are dropped), and
//! expiring after a while. A proven domain gets a Cloudflare for SaaS custom hostname whose
//! certificate status is polled.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use hickory_resolver::Resolver;
use hickory_resolver::config::{NameServerConfig, ResolverConfig};
use hickory_resolver::name_server::TokioConnectionProvider;
use hickory_resolver::proto::xfer::Protocol;
use serde::Serialize;
use tokio_util::sync::CancellationToken;

use super::cloudflare::CloudflareError;
use super::records::{self, ClaimRow, DomainRow};
use super::{DeployError, Deployer};
use crate::db::{DbError, now_ms};

#[derive(Debug, thiserror::Error)]
pub(crate) enum DomainError {
    #[error("{0}")]
    Invalid(String),
    #[error("{0} is already attached to another project")]
    Taken(String),
    #[error("no domain {0} on this project")]
    Unknown(String),
    #[error("{hostname} is not proven yet: publish a TXT record {record} with the value {token}, then verify")]
    Unproven { hostname: String, record: String, token: String },
    #[error("the claim of {0} expired before it was proven: deploy with it again for a new token")]
    Expired(String),
    #[error("the ownership proof of {0} could not be looked up: {1}")]
    Dns(String, String),
    #[error(transparent)]
    Cloudflare(#[from] CloudflareError),
}

/// A custom domain as its owner sees it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Domain {
    pub(crate) hostname: String,
    /// `active` once proven (and served), `pending` until then.
    pub(crate) status: &'static str,
    /// True only once the certificate is active.
    pub(crate) ssl: bool,
    /// Cloudflare's status of the certificate; `none` without Cloudflare.
    pub(crate) ssl_status: String,
    /// The CNAME the domain's owner must create at their DNS provider.
    pub(crate) cname_target: String,
    /// What proves a pending domain.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) verification: Option<Verification>,
}

/// The DNS record that proves a claim, and until when it may be proven.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Verification {
    #[serde(rename = "type")]
    pub(crate) record_type: &'static str,
    pub(crate) name: String,
    pub(crate) value: String,
    pub(crate) expires_at: i64,
}

const ACTIVE: &str = "active";

/// Where a domain's ownership proof is published.
fn challenge_record(hostname: &str) -> String {
    format!("_blink-challenge.{hostname}")
}

/// The host name a user typed, lowercased, or why it is not one.
pub(crate) fn normalize(raw: &str, sites_domain: &str) -> Result<String, DomainError> {
    let name = raw.trim().trim_end_matches('.').to_ascii_lowercase();
    let invalid = |why: &str| Err(DomainError::Invalid(format!("{raw:?} is not a domain this host can serve: {why}")));
    if name.contains("://") || name.contains('/') || name.contains(':') {
        return invalid("give the host name only, like app.example.com");
    }
    if name.len() > 253 {
        return invalid("it is longer than 253 characters");
    }
    let labels: Vec<&str> = name.split('.').collect();
    if labels.len() < 2 {
        return invalid("it needs at least two labels, like example.com");
    }
    for label in &labels {
        if label.is_empty() || label.len() > 63 {
            return invalid("each label is 1 to 63 characters");
        }
        if !label.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-') {
            return invalid("letters, digits and hyphens only (write international names in punycode, xn--…)");
        }
        if label.starts_with('-') || label.ends_with('-') {
            return invalid("a label cannot start or end with a hyphen");
        }
    }
    if labels.last().is_some_and(|tld| tld.bytes().all(|b| b.is_ascii_digit())) {
        return invalid("an IP address is not a domain");
    }
    if name == sites_domain || name.ends_with(&format!(".{sites_domain}")) || name.ends_with("localhost") {
        return invalid("names under this host's own domain are given to projects already");
    }
    Ok(name)
}

impl Deployer {
    /// Cloudflare proxies and certifies project host names, so they are served over HTTPS.
    pub(crate) fn https(&self) -> bool {
        self.cloudflare.is_some()
    }

    /// The domain a user typed, checked: a host name, not this service's own (the operator's
    /// reserved names and the CDN's origin; never a name taken from the request, which its
    /// sender chooses).
    pub(crate) fn normalize_domain(&self, raw: &str) -> Result<String, DomainError> {
        let name = normalize(raw, &self.domain)?;
        let preview = &self.preview_domain;
        if !preview.is_empty() && (name == *preview || name.ends_with(&format!(".{preview}"))) {
            return Err(DomainError::Invalid(format!("names under {preview} are projects' previews")));
        }
        if self.reserved.iter().any(|r| r.eq_ignore_ascii_case(&name)) {
            return Err(DomainError::Invalid(format!("{name} is this host's own name")));
        }
        Ok(name)
    }

    pub(crate) async fn reload_domains(&self) -> Result<(), DbError> {
        let all: HashMap<String, String> = records::all_domains(&self.db).await?.into_iter().collect();
        self.custom_domains.store(Arc::new(all));
        Ok(())
    }

    /// Creates the proxied DNS record of the project's host name, once.
    pub(crate) async fn ensure_site_dns(&self, project: &str) -> Result<(), DeployError> {
        let Some((cloudflare, origin)) = &self.cloudflare else { return Ok(()) };
        if records::site_dns(&self.db, project).await?.is_some() {
            return Ok(());
        }
        let record = cloudflare.ensure_cname(&self.host_name(project), origin).await.map_err(DomainError::from)?;
        records::set_site_dns(&self.db, project, &record).await?;
        Ok(())
    }

    /// Claims `hostname` (already normalised) for the project: refused if another project
    /// proved it; attached at once if this one did, or if its proof is already published; else
    /// a pending claim, whose token the answer carries.
    pub(crate) async fn claim_domain(&self, user: &str, project: &str, hostname: &str) -> Result<Domain, DeployError> {
        if let Some(owner) = records::domain_owner(&self.db, hostname).await? {
            if owner.project_id != project {
                return Err(DomainError::Taken(hostname.to_string()).into());
            }
            return self.attach_domain(project, owner).await;
        }
        let token = format!("blink-verify-{}", uuid::Uuid::new_v4().simple());
        let claim =
            records::claim_pending_domain(&self.db, hostname, project, user, &token, self.claims_expired_before())
                .await?;
        match self.prove(user, project, &claim).await {
            Err(DeployError::Domain(DomainError::Unproven { .. })) => Ok(self.pending_view(project, &claim)),
            Err(DeployError::Domain(DomainError::Dns(name, why))) => {
                tracing::info!(domain = %name, "ownership not checked at claim time: {why}");
                Ok(self.pending_view(project, &claim))
            }
            other => other,
        }
    }

    /// Checks the project's pending claim of `hostname` against DNS, and attaches the domain
    /// once proven.
    pub(crate) async fn verify_domain(&self, user: &str, project: &str, hostname: &str) -> Result<Domain, DeployError> {
        let name = hostname.trim().trim_end_matches('.').to_ascii_lowercase();
        if let Some(owner) = records::domain_owner(&self.db, &name).await? {
            if owner.project_id != project {
                records::delete_domain_claims(&self.db, &name, Some(project)).await?;
                return Err(DomainError::Taken(name).into());
            }
            return self.attach_domain(project, owner).await;
        }
        let Some(claim) = records::domain_claim(&self.db, &name, project).await? else {
            // Dropped just now, as another project proved it.
            if records::domain_owner(&self.db, &name).await?.is_some() {
                return Err(DomainError::Taken(name).into());
            }
            return Err(DomainError::Unknown(name).into());
        };
        self.prove(user, project, &claim).await
    }

    /// Proves a claim by its TXT record: the first project to prove a name owns it, and every
    /// other claim of it is dropped.
    async fn prove(&self, user: &str, project: &str, claim: &ClaimRow) -> Result<Domain, DeployError> {
        let hostname = claim.hostname.as_str();
        if claim.created_at < self.claims_expired_before() {
            records::delete_domain_claims(&self.db, hostname, Some(project)).await?;
            return Err(DomainError::Expired(hostname.to_string()).into());
        }
        let record = challenge_record(hostname);
        let published = self.txt_records(&record).await?;
        if !published.iter().any(|value| value.trim() == claim.token) {
            let token = claim.token.clone();
            return Err(DomainError::Unproven { hostname: hostname.to_string(), record, token }.into());
        }
        let owner = records::claim_domain(&self.db, hostname, project, user).await?;
        if owner.project_id != project {
            records::delete_domain_claims(&self.db, hostname, Some(project)).await?;
            return Err(DomainError::Taken(hostname.to_string()).into());
        }
        records::delete_domain_claims(&self.db, hostname, None).await?;
        self.reload_domains().await?;
        tracing::info!(project, domain = %hostname, "custom domain proven");
        self.attach_domain(project, owner).await
    }

    /// The values of `name`'s TXT records (none when it has none), asked of the configured
    /// resolver afresh each time: a record just published must not be hidden by a cached miss.
    async fn txt_records(&self, name: &str) -> Result<Vec<String>, DomainError> {
        let failed = |why: String| DomainError::Dns(name.to_string(), why);
        let mut builder = match self.dns_resolver {
            Some(server) => {
                let mut config = ResolverConfig::new();
                // TCP too, for an answer too large for a datagram.
                config.add_name_server(NameServerConfig::new(server, Protocol::Udp));
                config.add_name_server(NameServerConfig::new(server, Protocol::Tcp));
                Resolver::builder_with_config(config, TokioConnectionProvider::default())
            }
            None => Resolver::builder_tokio().map_err(|e| failed(e.to_string()))?,
        };
        builder.options_mut().timeout = Duration::from_secs(5);
        builder.options_mut().attempts = 2;
        // A name may hold many TXT records: answers larger than 512 bytes still fit a datagram.
        builder.options_mut().edns0 = true;
        let resolver = builder.build();
        // Fully qualified: never one of the system's search domains appended.
        match resolver.txt_lookup(format!("{name}.")).await {
            Ok(found) => Ok(found
                .iter()
                .map(|txt| txt.txt_data().iter().map(|part| String::from_utf8_lossy(part)).collect())
                .collect()),
            Err(e) if e.is_no_records_found() || e.is_nx_domain() => Ok(Vec::new()),
            Err(e) => Err(failed(e.to_string())),
        }
    }

    fn claims_expired_before(&self) -> i64 {
        now_ms().saturating_sub(i64::try_from(self.claim_ttl.as_millis()).unwrap_or(i64::MAX))
    }

    fn pending_view(&self, project: &str, claim: &ClaimRow) -> Domain {
        let ttl = i64::try_from(self.claim_ttl.as_millis()).unwrap_or(i64::MAX);
        Domain {
            hostname: claim.hostname.clone(),
            status: "pending",
            ssl: false,
            ssl_status: "none".into(),
            cname_target: self.host_name(project),
            verification: Some(Verification {
                record_type: "TXT",
                name: challenge_record(&claim.hostname),
                value: claim.token.clone(),
                expires_at: claim.created_at.saturating_add(ttl),
            }),
        }
    }

    /// Attaches a domain the project proved: with Cloudflare, the project's DNS record and the
    /// domain's custom hostname are created, and its certificate status read.
    async fn attach_domain(&self, project: &str, owner: DomainRow) -> Result<Domain, DeployError> {
        let hostname = owner.hostname.as_str();
        self.ensure_site_dns(project).await?;
        let mut status = owner.ssl_status.clone();
        if let Some((cloudflare, _)) = &self.cloudflare {
            let known = match &owner.cf_hostname_id {
                Some(id) => match cloudflare.custom_hostname(id).await {
                    Err(e) if e.is_not_found() => None,
                    other => Some(other.map_err(DomainError::from)?),
                },
                None => None,
            };
            let found = match known {
                Some(found) => found,
                // New, or removed on Cloudflare's side since: (re)created.
                None => cloudflare
                    .ensure_custom_hostname(hostname, &self.host_name(project))
                    .await
                    .map_err(DomainError::from)?,
            };
            // Cloudflare often issues within seconds of creation: one fresh read.
            let found = if found.ssl_status() == ACTIVE {
                found
            } else {
                cloudflare.custom_hostname(&found.id).await.unwrap_or(found)
            };
            status = found.ssl_status();
            records::set_domain_cloudflare(&self.db, hostname, &found.id, &status).await?;
        }
        Ok(self.domain_view(project, hostname, status))
    }

    fn domain_view(&self, project: &str, hostname: &str, ssl_status: String) -> Domain {
        Domain {
            hostname: hostname.to_string(),
            status: ACTIVE,
            ssl: ssl_status == ACTIVE,
            ssl_status,
            cname_target: self.host_name(project),
            verification: None,
        }
    }

    /// The project's custom domains, pending certificates read again from Cloudflare, then its
    /// claims still waiting for their proof.
    pub(crate) async fn domains(&self, project: &str) -> Result<Vec<Domain>, DeployError> {
        let mut out = Vec::new();
        for row in records::project_domains(&self.db, project).await? {
            let mut status = row.ssl_status;
            if let (Some((cloudflare, _)), Some(id)) = (&self.cloudflare, &row.cf_hostname_id)
                && status != ACTIVE
            {
                match cloudflare.custom_hostname(id).await {
                    Ok(found) => {
                        status = found.ssl_status();
                        records::set_domain_cloudflare(&self.db, &row.hostname, id, &status).await?;
                    }
                    Err(e) => tracing::warn!(domain = %row.hostname, "certificate status not refreshed: {e}"),
                }
            }
            out.push(self.domain_view(project, &row.hostname, status));
        }
        let expired_before = self.claims_expired_before();
        for claim in records::project_claims(&self.db, project).await? {
            if claim.created_at >= expired_before {
                out.push(self.pending_view(project, &claim));
            }
        }
        Ok(out)
    }

    /// Detaches a domain (its custom hostname is deleted and the name is free for anyone), or
    /// withdraws a pending claim.
    pub(crate) async fn detach_domain(&self, project: &str, hostname: &str) -> Result<(), DeployError> {
        let name = hostname.trim().trim_end_matches('.').to_ascii_lowercase();
        let row = records::project_domains(&self.db, project).await?.into_iter().find(|d| d.hostname == name);
        let Some(row) = row else {
            if records::delete_domain_claims(&self.db, &name, Some(project)).await? {
                return Ok(());
            }
            return Err(DomainError::Unknown(name).into());
        };
        if let (Some((cloudflare, _)), Some(id)) = (&self.cloudflare, &row.cf_hostname_id) {
            match cloudflare.delete_custom_hostname(id).await {
                Err(e) if !e.is_not_found() => return Err(DomainError::from(e).into()),
                _ => {}
            }
        }
        records::delete_domain(&self.db, &name).await?;
        self.reload_domains().await?;
        Ok(())
    }

    pub(super) async fn forget_domains(&self, project: &str) {
        for row in records::project_domains(&self.db, project).await.unwrap_or_default() {
            if let Err(e) = self.detach_domain(project, &row.hostname).await {
                tracing::warn!(project, domain = %row.hostname, "a deleted project's domain was not released: {e}");
            }
        }
        let _ = records::delete_project_claims(&self.db, project).await;
        if let (Some((cloudflare, _)), Ok(Some(record))) =
            (&self.cloudflare, records::site_dns(&self.db, project).await)
            && let Err(e) = cloudflare.delete_dns_record(&record).await
        {
            tracing::warn!(project, "a deleted project's DNS record was not removed: {e}");
        }
        let _ = records::delete_site_dns(&self.db, project).await;
    }

    /// Reads every pending certificate's status again, every `every`, until shutdown; sweeps
    /// expired domain claims; and reloads the domain table, which other hosts sharing the
    /// database may have changed.
    pub(crate) async fn poll_certificates(self, every: Duration, shutdown: CancellationToken) {
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(every) => {}
            }
            if let Some((cloudflare, _)) = &self.cloudflare {
                for row in records::pending_domains(&self.db).await.unwrap_or_default() {
                    let Some(id) = &row.cf_hostname_id else { continue };
                    match cloudflare.custom_hostname(id).await {
                        Ok(found) if found.ssl_status() != row.ssl_status => {
                            tracing::info!(domain = %row.hostname, status = %found.ssl_status(), "certificate");
                            let _ =
                                records::set_domain_cloudflare(&self.db, &row.hostname, id, &found.ssl_status()).await;
                        }
                        Ok(_) => {}
                        Err(e) => tracing::warn!(domain = %row.hostname, "certificate status not read: {e}"),
                    }
                }
            }
            if let Err(e) = records::delete_expired_claims(&self.db, self.claims_expired_before()).await {
                tracing::warn!("expired domain claims not swept: {e}");
            }
            if let Err(e) = self.reload_domains().await {
                tracing::warn!("custom domains not reloaded: {e}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::normalize;

    #[test]
    fn host_names_are_checked() {
        assert_eq!(normalize(" App.Client.COM. ", "sites.example").unwrap(), "app.client.com");
        assert_eq!(normalize("xn--bcher-kva.example", "sites.example").unwrap(), "xn--bcher-kva.example");
        for bad in [
            "https://app.client.com",
            "app.client.com/path",
            "client",
            "10.0.0.1",
            "-app.client.com",
            "app..client.com",
            "bücher.example",
            "x.sites.example",
            "sites.example",
            "app.localhost",
            &format!("{}.com", "a".repeat(64)),
        ] {
            assert!(normalize(bad, "sites.example").is_err(), "{bad} was accepted");
        }
    }
}
