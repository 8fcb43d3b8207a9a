//! Per-address call limits of the legacy routes: one counter per route, so a page that syncs
//! often cannot spend its starts, and a 429 that says when to come back.

use std::net::{IpAddr, SocketAddr};

use axum::http::HeaderMap;
use governor::DefaultKeyedRateLimiter;

use crate::api::limits::{check, client_address, limiter};
use crate::config::LegacySettings;

/// The legacy routes that spend a host's capacity, each with its own limit.
#[derive(Debug, Clone, Copy)]
pub(super) enum Route {
    Start,
    Sync,
    Build,
    Github,
}

pub(crate) struct Limits {
    start: DefaultKeyedRateLimiter<IpAddr>,
    sync: DefaultKeyedRateLimiter<IpAddr>,
    build: DefaultKeyedRateLimiter<IpAddr>,
    github: DefaultKeyedRateLimiter<IpAddr>,
    trust_forwarded_for: bool,
}

impl Limits {
    pub(crate) fn new(settings: &LegacySettings) -> Self {
        Self {
            start: limiter(settings.legacy_rate_start),
            sync: limiter(settings.legacy_rate_sync),
            build: limiter(settings.legacy_rate_build),
            github: limiter(settings.legacy_rate_github),
            trust_forwarded_for: settings.trust_forwarded_for,
        }
    }

    /// The caller's address: the connection's, or the last `X-Forwarded-For` entry when the
    /// operator says a proxy in front sets it.
    pub(super) fn client(&self, peer: SocketAddr, headers: &HeaderMap) -> IpAddr {
        client_address(peer, headers, self.trust_forwarded_for)
    }

    /// `Err(seconds to wait)` when `client` spent its calls of `route`.
    pub(super) fn check(&self, route: Route, client: IpAddr) -> Result<(), u64> {
        let limiter = match route {
            Route::Start => &self.start,
            Route::Sync => &self.sync,
            Route::Build => &self.build,
            Route::Github => &self.github,
        };
        check(limiter, &client)
    }

    /// Forgets addresses whose limits are back to full, so memory follows the active callers.
    pub(crate) fn sweep(&self) {
        for limiter in [&self.start, &self.sync, &self.build, &self.github] {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
    }
}
