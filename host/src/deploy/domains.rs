//! Host names: each project's default one (`{projectId}.{sites domain}`, a proxied DNS record when
//! Cloudflare is configured) and custom domains, each owned by one project of one user, with a
//! Cloudflare for SaaS custom hostname whose certificate status is polled.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use tokio_util::sync::CancellationToken;

use super::cloudflare::CloudflareError;
use super::{DeployError, Deployer};
use crate::db::DbError;

#[derive(Debug, thiserror::Error)]
pub enum DomainError {
    #[error("{0}")]
    Invalid(String),
    #[error("{0} is already attached to another project")]
    Taken(String),
    #[error("no domain {0} on this project")]
    Unknown(String),
    #[error(transparent)]
    Cloudflare(#[from] CloudflareError),
}

/// A custom domain as its owner sees it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Domain {
    pub hostname: String,
    /// True only once the certificate is active.
    pub ssl: bool,
    /// Cloudflare's status of the certificate; `none` without Cloudflare.
    pub ssl_status: String,
    /// The CNAME the domain's owner must create at their DNS provider.
    pub cname_target: String,
}

const ACTIVE: &str = "active";

/// The host name a user typed, lowercased, or why it is not one.
pub fn normalize(raw: &str, sites_domain: &str) -> Result<String, DomainError> {
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
    pub fn https(&self) -> bool {
        self.cloudflare.is_some()
    }

    /// The domain a user typed, checked: a host name, not this service's own (reserved, the
    /// CDN's origin, or one of `request_hosts`, the names the claiming request arrived by:
    /// claimed, it would take the API).
    pub fn normalize_domain(&self, raw: &str, request_hosts: &[&str]) -> Result<String, DomainError> {
        let name = normalize(raw, &self.domain)?;
        let own = |other: &str| other.trim_end_matches('.').eq_ignore_ascii_case(&name);
        if self.reserved.iter().any(|r| own(r)) || request_hosts.iter().any(|h| own(h)) {
            return Err(DomainError::Invalid(format!("{name} is this host's own name")));
        }
        Ok(name)
    }

    pub async fn reload_domains(&self) -> Result<(), DbError> {
        let all: HashMap<String, String> = self.db.all_domains().await?.into_iter().collect();
        self.custom_domains.store(Arc::new(all));
        Ok(())
    }

    /// Creates the proxied DNS record of the project's host name, once.
    pub async fn ensure_site_dns(&self, project: &str) -> Result<(), DeployError> {
        let Some((cloudflare, origin)) = &self.cloudflare else { return Ok(()) };
        if self.db.site_dns(project).await?.is_some() {
            return Ok(());
        }
        let record = cloudflare.ensure_cname(&self.host_name(project), origin).await.map_err(DomainError::from)?;
        self.db.set_site_dns(project, &record).await?;
        Ok(())
    }

    /// Attaches `hostname` (already normalised) to the project: refused if another project has
    /// it; with Cloudflare, the project's DNS record and the domain's custom hostname are
    /// created, and its certificate status read.
    pub async fn attach_domain(&self, user: &str, project: &str, hostname: &str) -> Result<Domain, DeployError> {
        let owner = self.db.claim_domain(hostname, project, user).await?;
        if owner.project_id != project {
            return Err(DomainError::Taken(hostname.to_string()).into());
        }
        self.reload_domains().await?;
        self.ensure_site_dns(project).await?;
        let mut status = owner.ssl_status;
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
            self.db.set_domain_cloudflare(hostname, &found.id, &status).await?;
        }
        Ok(self.domain_view(project, hostname, status))
    }

    fn domain_view(&self, project: &str, hostname: &str, ssl_status: String) -> Domain {
        Domain {
            hostname: hostname.to_string(),
            ssl: ssl_status == ACTIVE,
            ssl_status,
            cname_target: self.host_name(project),
        }
    }

    /// The project's custom domains, pending certificates read again from Cloudflare.
    pub async fn domains(&self, project: &str) -> Result<Vec<Domain>, DeployError> {
        let mut out = Vec::new();
        for row in self.db.project_domains(project).await? {
            let mut status = row.ssl_status;
            if let (Some((cloudflare, _)), Some(id)) = (&self.cloudflare, &row.cf_hostname_id)
                && status != ACTIVE
            {
                match cloudflare.custom_hostname(id).await {
                    Ok(found) => {
                        status = found.ssl_status();
                        self.db.set_domain_cloudflare(&row.hostname, id, &status).await?;
                    }
                    Err(e) => tracing::warn!(domain = %row.hostname, "certificate status not refreshed: {e}"),
                }
            }
            out.push(self.domain_view(project, &row.hostname, status));
        }
        Ok(out)
    }

    /// Detaches a domain: its custom hostname is deleted and the name is free for anyone.
    pub async fn detach_domain(&self, project: &str, hostname: &str) -> Result<(), DeployError> {
        let name = hostname.trim().trim_end_matches('.').to_ascii_lowercase();
        let row = self.db.project_domains(project).await?.into_iter().find(|d| d.hostname == name);
        let Some(row) = row else { return Err(DomainError::Unknown(name).into()) };
        if let (Some((cloudflare, _)), Some(id)) = (&self.cloudflare, &row.cf_hostname_id) {
            match cloudflare.delete_custom_hostname(id).await {
                Err(e) if !e.is_not_found() => return Err(DomainError::from(e).into()),
                _ => {}
            }
        }
        self.db.delete_domain(&name).await?;
        self.reload_domains().await?;
        Ok(())
    }

    pub(super) async fn forget_domains(&self, project: &str) {
        for row in self.db.project_domains(project).await.unwrap_or_default() {
            if let Err(e) = self.detach_domain(project, &row.hostname).await {
                tracing::warn!(project, domain = %row.hostname, "a deleted project's domain was not released: {e}");
            }
        }
        if let (Some((cloudflare, _)), Ok(Some(record))) = (&self.cloudflare, self.db.site_dns(project).await)
            && let Err(e) = cloudflare.delete_dns_record(&record).await
        {
            tracing::warn!(project, "a deleted project's DNS record was not removed: {e}");
        }
        let _ = self.db.delete_site_dns(project).await;
    }

    /// Reads every pending certificate's status again, every `every`, until shutdown; and
    /// reloads the domain table, which other hosts sharing the database may have changed.
    pub async fn poll_certificates(self, every: Duration, shutdown: CancellationToken) {
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(every) => {}
            }
            if let Some((cloudflare, _)) = &self.cloudflare {
                for row in self.db.pending_domains().await.unwrap_or_default() {
                    let Some(id) = &row.cf_hostname_id else { continue };
                    match cloudflare.custom_hostname(id).await {
                        Ok(found) if found.ssl_status() != row.ssl_status => {
                            tracing::info!(domain = %row.hostname, status = %found.ssl_status(), "certificate");
                            let _ = self.db.set_domain_cloudflare(&row.hostname, id, &found.ssl_status()).await;
                        }
                        Ok(_) => {}
                        Err(e) => tracing::warn!(domain = %row.hostname, "certificate status not read: {e}"),
                    }
                }
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
