//! Per-address call limits of the legacy routes: one counter per route, so a page that syncs
//! often cannot spend its starts, and a 429 that says when to come back.

use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;

use axum::http::HeaderMap;
use governor::clock::Clock;
use governor::{DefaultKeyedRateLimiter, Quota};

use crate::config::{LegacySettings, Rate};

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

/// `rate.calls` at once, then one more each `rate.per / rate.calls`: over any stretch of
/// `rate.per`, at most about `rate.calls`.
fn limiter(rate: Rate) -> DefaultKeyedRateLimiter<IpAddr> {
    let calls = NonZeroU32::new(rate.calls).unwrap_or(NonZeroU32::MIN);
    let period = (rate.per / calls.get()).max(std::time::Duration::from_nanos(1));
    let quota = Quota::with_period(period).unwrap_or_else(|| Quota::per_second(calls)).allow_burst(calls);
    DefaultKeyedRateLimiter::keyed(quota)
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
        if self.trust_forwarded_for
            && let Some(forwarded) = headers.get("x-forwarded-for").and_then(|v| v.to_str().ok())
            && let Some(last) = forwarded.rsplit(',').next()
            && let Ok(ip) = last.trim().parse()
        {
            return ip;
        }
        peer.ip()
    }

    /// `Err(seconds to wait)` when `client` spent its calls of `route`.
    pub(super) fn check(&self, route: Route, client: IpAddr) -> Result<(), u64> {
        let limiter = match route {
            Route::Start => &self.start,
            Route::Sync => &self.sync,
            Route::Build => &self.build,
            Route::Github => &self.github,
        };
        limiter.check_key(&client).map_err(|not_until| {
            let wait = not_until.wait_time_from(limiter.clock().now());
            // Rounded up: coming back after the advertised wait must succeed.
            wait.as_secs() + u64::from(wait.subsec_nanos() > 0)
        })
    }

    /// Forgets addresses whose limits are back to full, so memory follows the active callers.
    pub(crate) fn sweep(&self) {
        for limiter in [&self.start, &self.sync, &self.build, &self.github] {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
    }
}
