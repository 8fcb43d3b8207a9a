//! The few Cloudflare API v4 calls a site needs: a proxied DNS record for each project's host
//! name, and a Cloudflare for SaaS custom hostname (with its certificate) for each custom domain.

use reqwest::Method;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

#[derive(Debug, thiserror::Error)]
pub(crate) enum CloudflareError {
    #[error("Cloudflare refused the request ({status}): {message}")]
    Api { status: u16, codes: Vec<i64>, message: String },
    #[error("Cloudflare could not be reached: {0}")]
    Transport(String),
}

impl CloudflareError {
    /// The object is gone on Cloudflare's side (removed in its dashboard, say).
    pub(crate) fn is_not_found(&self) -> bool {
        matches!(self, CloudflareError::Api { status: 404, .. })
    }

    fn has_code(&self, code: i64) -> bool {
        matches!(self, CloudflareError::Api { codes, .. } if codes.contains(&code))
    }
}

/// "An A, AAAA, or CNAME record with that host already exists."
const DNS_RECORD_EXISTS: i64 = 81053;
/// "Duplicate custom hostname found."
const HOSTNAME_EXISTS: i64 = 1406;

#[derive(Clone)]
pub(crate) struct Cloudflare {
    http: reqwest::Client,
    base: String,
    token: String,
    zone: String,
}

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct CustomHostname {
    pub(crate) id: String,
    #[serde(default)]
    pub(crate) ssl: Option<Ssl>,
}

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Ssl {
    #[serde(default)]
    pub(crate) status: Option<String>,
}

impl CustomHostname {
    /// The certificate's status, as Cloudflare names it (`pending_validation`, `active`, …).
    pub(crate) fn ssl_status(&self) -> String {
        self.ssl.as_ref().and_then(|s| s.status.clone()).unwrap_or_else(|| "initializing".into())
    }
}

#[derive(Deserialize)]
struct Envelope {
    #[serde(default)]
    success: bool,
    #[serde(default)]
    errors: Vec<ApiMessage>,
    #[serde(default)]
    result: Value,
}

#[derive(Deserialize)]
struct ApiMessage {
    #[serde(default)]
    code: i64,
    #[serde(default)]
    message: String,
}

#[derive(Deserialize)]
struct Id {
    id: String,
}

impl Cloudflare {
    pub(crate) fn new(base: &str, token: &str, zone: &str) -> Self {
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(30))
            .build()
            .unwrap_or_else(|_| reqwest::Client::new());
        Self { http, base: base.trim_end_matches('/').to_string(), token: token.to_string(), zone: zone.to_string() }
    }

    async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<Value>,
    ) -> Result<T, CloudflareError> {
        let url = format!("{}/zones/{}{path}", self.base, self.zone);
        let mut request = self.http.request(method, url).bearer_auth(&self.token).query(query);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.map_err(|e| CloudflareError::Transport(e.to_string()))?;
        let status = response.status().as_u16();
        let text = response.text().await.map_err(|e| CloudflareError::Transport(e.to_string()))?;
        let envelope: Envelope = serde_json::from_str(&text).map_err(|_| CloudflareError::Api {
            status,
            codes: vec![],
            message: format!("unexpected answer: {}", text.chars().take(200).collect::<String>()),
        })?;
        if !envelope.success || status >= 400 {
            let message = envelope.errors.iter().map(|e| format!("{} ({})", e.message, e.code)).collect::<Vec<_>>();
            return Err(CloudflareError::Api {
                status,
                codes: envelope.errors.iter().map(|e| e.code).collect(),
                message: if message.is_empty() { "no reason given".into() } else { message.join("; ") },
            });
        }
        serde_json::from_value(envelope.result).map_err(|e| CloudflareError::Api {
            status,
            codes: vec![],
            message: format!("unexpected result: {e}"),
        })
    }

    /// A proxied CNAME `name → target`; its id. An existing record for the name (left by an
    /// earlier attempt) is adopted.
    pub(crate) async fn ensure_cname(&self, name: &str, target: &str) -> Result<String, CloudflareError> {
        let record = json!({ "type": "CNAME", "name": name, "content": target, "proxied": true, "ttl": 1,
                              "comment": "Blink site" });
        match self.call::<Id>(Method::POST, "/dns_records", &[], Some(record)).await {
            Ok(created) => Ok(created.id),
            Err(e) if e.has_code(DNS_RECORD_EXISTS) => {
                let found: Vec<Id> =
                    self.call(Method::GET, "/dns_records", &[("type", "CNAME"), ("name", name)], None).await?;
                found.into_iter().next().map(|r| r.id).ok_or(e)
            }
            Err(e) => Err(e),
        }
    }

    pub(crate) async fn delete_dns_record(&self, id: &str) -> Result<(), CloudflareError> {
        self.call::<Value>(Method::DELETE, &format!("/dns_records/{id}"), &[], None).await.map(drop)
    }

    /// A custom hostname for `hostname`, served from `origin`, with a certificate validated over
    /// HTTP. An existing one (left by an earlier attempt) is adopted.
    pub(crate) async fn ensure_custom_hostname(
        &self,
        hostname: &str,
        origin: &str,
    ) -> Result<CustomHostname, CloudflareError> {
        let body = json!({ "hostname": hostname, "custom_origin_server": origin,
                            "ssl": { "method": "http", "type": "dv" } });
        match self.call(Method::POST, "/custom_hostnames", &[], Some(body)).await {
            Ok(created) => Ok(created),
            Err(e) if e.has_code(HOSTNAME_EXISTS) => {
                let found: Vec<CustomHostname> =
                    self.call(Method::GET, "/custom_hostnames", &[("hostname", hostname)], None).await?;
                found.into_iter().next().ok_or(e)
            }
            Err(e) => Err(e),
        }
    }

    pub(crate) async fn custom_hostname(&self, id: &str) -> Result<CustomHostname, CloudflareError> {
        self.call(Method::GET, &format!("/custom_hostnames/{id}"), &[], None).await
    }

    pub(crate) async fn delete_custom_hostname(&self, id: &str) -> Result<(), CloudflareError> {
        self.call::<Value>(Method::DELETE, &format!("/custom_hostnames/{id}"), &[], None).await.map(drop)
    }
}
