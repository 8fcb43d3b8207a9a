//! How the host reaches a project's remote: which addresses a remote may name, and git's smart
//! HTTP protocol spoken over reqwest so that the address checked is the address connected to.
//!
//! libgit2's own HTTP transport resolves names by itself, and its `file://` and `git://`
//! transports read the host's disk or the network unchecked. This module registers a smart HTTP
//! subtransport for `http://` and `https://` whose client resolves through [`CheckedResolver`]
//! (internal addresses dropped), follows no redirect and uses no proxy; git operations run it
//! through [`Remotes::run`], which hands it the token and counts what the remote sends.

use std::cell::RefCell;
use std::io::{self, Read, Write};
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;

use git2::transport::{Service, SmartSubtransport, SmartSubtransportStream, Transport};
use reqwest::Url;
use reqwest::header::{ACCEPT, CONTENT_TYPE};
use tokio::runtime::Handle;

use super::addresses::{CheckedResolver, InternalName, is_public};

/// Why a remote is refused or a transfer stopped. Messages are the host's own words: nothing a
/// remote answered is repeated, so a remote pointed at an internal service learns its caller nothing.
#[derive(Debug, Clone, thiserror::Error)]
pub(crate) enum TransportError {
    #[error("{0}")]
    Invalid(String),
    #[error("remotes on this host use {allowed}, not {scheme}://")]
    Scheme { scheme: String, allowed: String },
    #[error(
        "{host} is a loopback, private, link-local or otherwise internal address; remotes must be on the public internet"
    )]
    Internal { host: String },
    #[error("the remote's host {0} does not resolve")]
    Unresolvable(String),
    #[error("the remote refused the credentials")]
    Auth,
    #[error("the remote sent more than {limit} bytes, the most this host fetches at once")]
    TooLarge { limit: u64 },
    #[error("{0}")]
    Failed(String),
}

/// The operator's policy for remotes and the HTTP client that enforces it.
#[derive(Clone)]
pub(crate) struct Remotes {
    policy: Arc<Policy>,
}

struct Policy {
    schemes: Vec<String>,
    allow_internal: bool,
    max_fetch_bytes: u64,
    /// How long one git operation may talk to its remote in all: the per-read timeout alone
    /// lets a remote that trickles a byte at a time hold the project's turn for ever.
    operation_timeout: Duration,
    client: reqwest::Client,
}

impl Remotes {
    /// Registers the transport (once per process) and builds the client.
    pub(crate) fn new(
        schemes: Vec<String>,
        allow_internal: bool,
        max_fetch_bytes: u64,
        timeout: Duration,
        operation_timeout: Duration,
    ) -> Result<Self, String> {
        register_transport()?;
        let client = reqwest::Client::builder()
            // Some smart HTTP servers only speak the protocol to agents named `git/…`.
            .user_agent(concat!("git/2.0 (blink-host ", env!("CARGO_PKG_VERSION"), ")"))
            // A proxy would resolve the name itself, out of the resolver's sight.
            .no_proxy()
            // A redirect could lead anywhere; the user sets the final address instead.
            .redirect(reqwest::redirect::Policy::none())
            .dns_resolver(Arc::new(CheckedResolver { allow_internal }))
            // A stalled remote would hold the project's turn and a blocking thread.
            .connect_timeout(timeout)
            .read_timeout(timeout)
            .build()
            .map_err(|e| format!("building the git HTTP client: {e}"))?;
        let policy = Policy { schemes, allow_internal, max_fetch_bytes, operation_timeout, client };
        Ok(Self { policy: Arc::new(policy) })
    }

    /// The URL if its scheme is allowed and, when its host is an address, that address too. Names
    /// are checked where they resolve ([`Remotes::check_resolved`], and at every connection).
    pub(crate) fn check(&self, url: &str) -> Result<Url, TransportError> {
        let policy = &self.policy;
        let parsed = Url::parse(url).map_err(|e| TransportError::Invalid(format!("{url:?} is not a URL: {e}")))?;
        if !policy.schemes.iter().any(|s| s == parsed.scheme()) {
            let allowed = policy.schemes.iter().map(|s| format!("{s}://")).collect::<Vec<_>>().join(" or ");
            return Err(TransportError::Scheme { scheme: parsed.scheme().to_string(), allowed });
        }
        let ip = match parsed.host() {
            None => return Err(TransportError::Invalid(format!("{url:?} names no host"))),
            Some(url::Host::Domain(_)) => None,
            Some(url::Host::Ipv4(ip)) => Some(IpAddr::V4(ip)),
            Some(url::Host::Ipv6(ip)) => Some(IpAddr::V6(ip)),
        };
        match ip {
            Some(ip) if !policy.allow_internal && !is_public(ip) => {
                Err(TransportError::Internal { host: parsed.host_str().unwrap_or_default().to_string() })
            }
            _ => Ok(parsed),
        }
    }

    /// [`Remotes::check`], and every address the host name resolves to now is allowed: a remote
    /// that could only be refused later is refused when it is set.
    pub(crate) async fn check_resolved(&self, url: &str) -> Result<Url, TransportError> {
        let parsed = self.check(url)?;
        if let (Some(url::Host::Domain(name)), false) = (parsed.host(), self.policy.allow_internal) {
            let port = parsed.port_or_known_default().unwrap_or(443);
            let unresolvable = || TransportError::Unresolvable(name.to_string());
            let addresses: Vec<SocketAddr> =
                tokio::net::lookup_host((name, port)).await.map_err(|_| unresolvable())?.collect();
            if addresses.is_empty() {
                return Err(unresolvable());
            }
            if addresses.iter().any(|a| !is_public(a.ip())) {
                return Err(TransportError::Internal { host: name.to_string() });
            }
        }
        Ok(parsed)
    }

    /// Runs `operation` (libgit2 calls on this thread) with this policy and `token` as the
    /// transport's, and returns its result with the transport's own reason when it stopped it.
    /// Call from a blocking thread of the runtime (`spawn_blocking`): requests block on it.
    pub(crate) fn run<T>(&self, token: Option<&str>, operation: impl FnOnce() -> T) -> (T, Option<TransportError>) {
        let session = Arc::new(Session {
            policy: self.policy.clone(),
            token: token.map(str::to_string),
            runtime: Handle::try_current().ok(),
            deadline: tokio::time::Instant::now() + self.policy.operation_timeout,
            received: AtomicU64::new(0),
            failure: Mutex::new(None),
        });
        struct Installed;
        impl Drop for Installed {
            fn drop(&mut self) {
                SESSION.with(|s| s.borrow_mut().take());
            }
        }
        SESSION.with(|s| *s.borrow_mut() = Some(session.clone()));
        let installed = Installed;
        let result = operation();
        drop(installed);
        let failure = session.failure.lock().unwrap_or_else(PoisonError::into_inner).take();
        (result, failure)
    }
}

thread_local! {
    /// The session of the git operation running on this thread: libgit2 builds transports from a
    /// process-wide registry, so this is how one learns its policy, token and byte count.
    static SESSION: RefCell<Option<Arc<Session>>> = const { RefCell::new(None) };
}

struct Session {
    policy: Arc<Policy>,
    token: Option<String>,
    runtime: Option<Handle>,
    deadline: tokio::time::Instant,
    received: AtomicU64,
    failure: Mutex<Option<TransportError>>,
}

impl Session {
    /// Keeps the first reason the transport stopped, for the caller to map to its error.
    fn fail(&self, e: TransportError) -> String {
        let message = e.to_string();
        self.failure.lock().unwrap_or_else(PoisonError::into_inner).get_or_insert(e);
        message
    }
}

fn register_transport() -> Result<(), String> {
    static REGISTERED: OnceLock<Result<(), String>> = OnceLock::new();
    REGISTERED
        .get_or_init(|| {
            for scheme in ["http", "https"] {
                // SAFETY: libgit2 needs registration not to race with transports being created;
                // this runs once, while the server starts, before any remote is opened.
                #[allow(unsafe_code)]
                let registered = unsafe { git2::transport::register(scheme, smart_http) };
                registered.map_err(|e| format!("registering the git {scheme} transport: {}", e.message()))?;
            }
            Ok(())
        })
        .clone()
}

fn smart_http(remote: &git2::Remote<'_>) -> Result<Transport, git2::Error> {
    // Outside `Remotes::run` there is no policy to apply, so there is no connection either.
    let session = SESSION
        .with(|s| s.borrow().clone())
        .ok_or_else(|| git2::Error::from_str("remotes are reached only through a project's git operations"))?;
    Transport::smart(remote, true, SmartHttp { session })
}

struct SmartHttp {
    session: Arc<Session>,
}

impl SmartSubtransport for SmartHttp {
    fn action(&self, url: &str, action: Service) -> Result<Box<dyn SmartSubtransportStream>, git2::Error> {
        let (service, path, post) = match action {
            Service::UploadPackLs => ("upload-pack", "/info/refs?service=git-upload-pack", false),
            Service::UploadPack => ("upload-pack", "/git-upload-pack", true),
            Service::ReceivePackLs => ("receive-pack", "/info/refs?service=git-receive-pack", false),
            Service::ReceivePack => ("receive-pack", "/git-receive-pack", true),
        };
        let session = &self.session;
        // The URL libgit2 connects to, checked again: it is the one that counts.
        Remotes { policy: session.policy.clone() }.check(url).map_err(|e| git2::Error::from_str(&session.fail(e)))?;
        Ok(Box::new(Exchange {
            session: session.clone(),
            url: format!("{}{path}", url.trim_end_matches('/')),
            service,
            post,
            request: Vec::new(),
            response: None,
            pending: bytes::Bytes::new(),
        }))
    }

    fn close(&self) -> Result<(), git2::Error> {
        Ok(())
    }
}

/// One request and its answer: libgit2 writes the request body, then reads the answer.
struct Exchange {
    session: Arc<Session>,
    url: String,
    service: &'static str,
    post: bool,
    request: Vec<u8>,
    response: Option<reqwest::Response>,
    pending: bytes::Bytes,
}

impl Exchange {
    fn fail(&self, e: TransportError) -> io::Error {
        io::Error::other(self.session.fail(e))
    }

    fn out_of_time(&self) -> TransportError {
        let secs = self.session.policy.operation_timeout.as_secs();
        TransportError::Failed(format!("the remote took more than {secs} s in all (BLINK_GIT_OPERATION_TIMEOUT_SECS)"))
    }

    /// `work`, or the operation's deadline passing first.
    async fn within_deadline<T>(&self, work: impl std::future::Future<Output = T>) -> io::Result<T> {
        tokio::time::timeout_at(self.session.deadline, work).await.map_err(|_| self.fail(self.out_of_time()))
    }

    fn runtime(&self) -> io::Result<&Handle> {
        let failed = || TransportError::Failed("git remotes need the host's runtime".into());
        self.session.runtime.as_ref().ok_or_else(|| self.fail(failed()))
    }

    fn send(&mut self) -> io::Result<reqwest::Response> {
        let (session, service) = (&self.session, self.service);
        let client = &session.policy.client;
        let mut request = if self.post {
            client
                .post(&self.url)
                .header(CONTENT_TYPE, format!("application/x-git-{service}-request"))
                .header(ACCEPT, format!("application/x-git-{service}-result"))
                .body(std::mem::take(&mut self.request))
        } else {
            client.get(&self.url).header(ACCEPT, "*/*")
        };
        // GitHub's form for a token; sent at once, since this is the remote it was given for.
        if let Some(token) = &session.token {
            request = request.basic_auth("x-access-token", Some(token));
        }
        let response = self
            .runtime()?
            .block_on(self.within_deadline(request.send()))?
            .map_err(|e| self.fail(connection_error(&e)))?;
        let status = response.status();
        let refused = match status.as_u16() {
            200 => None,
            401 | 403 => Some(TransportError::Auth),
            404 => Some(TransportError::Failed("the remote has no repository at this address".into())),
            300..=399 => Some(TransportError::Failed(
                "the remote redirects elsewhere; set the address it redirects to as the remote".into(),
            )),
            400..=499 => Some(TransportError::Failed(format!("the remote refused the request ({status})"))),
            _ => Some(TransportError::Failed(format!("the remote failed to answer ({status})"))),
        };
        if let Some(refused) = refused {
            return Err(self.fail(refused));
        }
        let expected = if self.post { "result" } else { "advertisement" };
        let expected = format!("application/x-git-{service}-{expected}");
        let content_type = response.headers().get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
        let essence = content_type.split(';').next().unwrap_or_default().trim();
        if !essence.eq_ignore_ascii_case(&expected) {
            return Err(self
                .fail(TransportError::Failed("the remote does not answer as a git server (smart HTTP) would".into())));
        }
        Ok(response)
    }
}

impl Read for Exchange {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.response.is_none() {
            self.response = Some(self.send()?);
        }
        while self.pending.is_empty() {
            let runtime = self.runtime()?.clone();
            let Some(response) = self.response.as_mut() else { return Ok(0) };
            let deadline = self.session.deadline;
            let Ok(chunk) = runtime.block_on(async { tokio::time::timeout_at(deadline, response.chunk()).await })
            else {
                return Err(self.fail(self.out_of_time()));
            };
            let chunk = match chunk {
                Ok(Some(chunk)) => chunk,
                Ok(None) => return Ok(0),
                Err(e) => return Err(self.fail(connection_error(&e))),
            };
            let limit = self.session.policy.max_fetch_bytes;
            let received = self.session.received.fetch_add(chunk.len() as u64, Ordering::Relaxed) + chunk.len() as u64;
            if received > limit {
                return Err(self.fail(TransportError::TooLarge { limit }));
            }
            self.pending = chunk;
        }
        let n = buf.len().min(self.pending.len());
        buf[..n].copy_from_slice(&self.pending.split_to(n));
        Ok(n)
    }
}

impl Write for Exchange {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if self.response.is_some() {
            return Err(self.fail(TransportError::Failed("git wrote after reading the answer".into())));
        }
        self.request.extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A failed connection in the host's words: refused internal names are told apart, nothing
/// else of the underlying error (which may quote an internal service) is repeated.
fn connection_error(e: &reqwest::Error) -> TransportError {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(error) = source {
        if let Some(internal) = error.downcast_ref::<InternalName>() {
            return TransportError::Internal { host: internal.0.clone() };
        }
        source = error.source();
    }
    let what = if e.is_timeout() {
        "the remote did not answer in time"
    } else if e.is_connect() {
        "could not connect to the remote"
    } else {
        "the connection to the remote failed"
    };
    TransportError::Failed(what.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_allowed_schemes_and_public_literals_pass() {
        let remotes =
            Remotes::new(vec!["https".into()], false, 1, Duration::from_secs(1), Duration::from_secs(1)).unwrap();
        assert!(remotes.check("https://github.com/o/r.git").is_ok());
        for refused in [
            "http://github.com/o/r.git",
            "file:///data/projects/a/git",
            "ssh://git@github.com/o/r.git",
            "git://github.com/o/r.git",
            "https://127.0.0.1/r.git",
            "https://127.1/r.git",
            "https://0x7f000001/r.git",
            "https://[::ffff:7f00:1]/r.git",
            "https://169.254.169.254/latest",
            "https://[fe80::1]/r.git",
        ] {
            assert!(remotes.check(refused).is_err(), "{refused} passed");
        }
        let open =
            Remotes::new(vec!["https".into(), "http".into()], true, 1, Duration::from_secs(1), Duration::from_secs(1))
                .unwrap();
        assert!(open.check("http://127.0.0.1:8080/r.git").is_ok());
        assert!(open.check("file:///data/projects/a/git").is_err());
    }
}
