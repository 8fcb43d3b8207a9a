//! How fast one caller may spend the host: per user on each route that spends model calls,
//! sandboxes, builds, deploys or git work, per address on what anyone may call without a valid
//! token. Each route has its own counter, so a user who previews often keeps their runs.

use std::hash::Hash;
use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;

use axum::http::HeaderMap;
use governor::clock::Clock;
use governor::{DefaultKeyedRateLimiter, Quota};

use super::ApiError;
use crate::config::{Rate, RateSettings};

/// What a user's call spends.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Spend {
    Run,
    Preview,
    Build,
    Deploy,
    Git,
}

pub(crate) struct RateLimits {
    runs: DefaultKeyedRateLimiter<String>,
    previews: DefaultKeyedRateLimiter<String>,
    builds: DefaultKeyedRateLimiter<String>,
    deploys: DefaultKeyedRateLimiter<String>,
    git: DefaultKeyedRateLimiter<String>,
    unauthenticated: DefaultKeyedRateLimiter<IpAddr>,
    health: DefaultKeyedRateLimiter<IpAddr>,
    trust_forwarded_for: bool,
}

/// `rate.calls` at once, then one more each `rate.per / rate.calls`: over any stretch of
/// `rate.per`, at most about `rate.calls`.
pub(crate) fn limiter<K: Hash + Eq + Clone>(rate: Rate) -> DefaultKeyedRateLimiter<K> {
    let calls = NonZeroU32::new(rate.calls).unwrap_or(NonZeroU32::MIN);
    let period = (rate.per / calls.get()).max(std::time::Duration::from_nanos(1));
    let quota = Quota::with_period(period).unwrap_or_else(|| Quota::per_second(calls)).allow_burst(calls);
    DefaultKeyedRateLimiter::keyed(quota)
}

/// `Err(seconds to wait)`, rounded up: coming back after the advertised wait must succeed.
pub(crate) fn check<K: Hash + Eq + Clone>(limiter: &DefaultKeyedRateLimiter<K>, key: &K) -> Result<(), u64> {
    limiter.check_key(key).map_err(|not_until| {
        let wait = not_until.wait_time_from(limiter.clock().now());
        wait.as_secs() + u64::from(wait.subsec_nanos() > 0)
    })
}

impl RateLimits {
    pub(crate) fn new(settings: &RateSettings, trust_forwarded_for: bool) -> Self {
        Self {
            runs: limiter(settings.rate_runs),
            previews: limiter(settings.rate_previews),
            builds: limiter(settings.rate_builds),
            deploys: limiter(settings.rate_deploys),
            git: limiter(settings.rate_git),
            unauthenticated: limiter(settings.rate_unauthenticated),
            health: limiter(settings.rate_health),
            trust_forwarded_for,
        }
    }

    /// Counts a call of `user`'s, or refuses it with when to come back.
    pub(crate) fn spend(&self, spend: Spend, user: &str) -> Result<(), ApiError> {
        let (limiter, what) = match spend {
            Spend::Run => (&self.runs, "runs"),
            Spend::Preview => (&self.previews, "previews"),
            Spend::Build => (&self.builds, "builds"),
            Spend::Deploy => (&self.deploys, "deploys"),
            Spend::Git => (&self.git, "git operations"),
        };
        check(limiter, &user.to_string()).map_err(|retry_after| ApiError::RateLimited { what, retry_after })
    }

    /// Counts a call without a valid token from `peer` (or the address a trusted proxy names).
    pub(crate) fn unauthenticated(&self, peer: Option<SocketAddr>, headers: &HeaderMap) -> Result<(), ApiError> {
        self.by_address(&self.unauthenticated, "requests without a valid token", peer, headers)
    }

    /// Counts a health check from `peer`.
    pub(crate) fn health(&self, peer: Option<SocketAddr>, headers: &HeaderMap) -> Result<(), ApiError> {
        self.by_address(&self.health, "health checks", peer, headers)
    }

    fn by_address(
        &self,
        limiter: &DefaultKeyedRateLimiter<IpAddr>,
        what: &'static str,
        peer: Option<SocketAddr>,
        headers: &HeaderMap,
    ) -> Result<(), ApiError> {
        // Served without a connection's address only in-process (tests of the router alone).
        let Some(peer) = peer else { return Ok(()) };
        let ip = client_address(peer, headers, self.trust_forwarded_for);
        check(limiter, &ip).map_err(|retry_after| ApiError::RateLimited { what, retry_after })
    }

    /// Forgets callers whose limits are back to full, so memory follows the active callers.
    pub(crate) fn sweep(&self) {
        for limiter in [&self.runs, &self.previews, &self.builds, &self.deploys, &self.git] {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
        for limiter in [&self.unauthenticated, &self.health] {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
    }
}

/// The caller's address: the connection's, or the last `X-Forwarded-For` entry when the operator
/// says a proxy in front sets it.
pub(crate) fn client_address(peer: SocketAddr, headers: &HeaderMap, trust_forwarded_for: bool) -> IpAddr {
    if trust_forwarded_for
        && let Some(forwarded) = headers.get("x-forwarded-for").and_then(|v| v.to_str().ok())
        && let Some(last) = forwarded.rsplit(',').next()
        && let Ok(ip) = last.trim().parse()
    {
        return ip;
    }
    peer.ip()
}
