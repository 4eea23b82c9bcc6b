//! The connection limits in force, resolved once at start from the configuration and the
//! connection cap (which itself may come from the open-file limit).

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use crate::config::ServerConfig;

/// The per-peer cap when none is configured and the server listens beyond 127.0.0.1/::1
/// (shared on a network, or a cluster node). Far above what a browser opens (about six HTTP
/// connections plus a WebSocket per tab), far below the open-file limit.
pub const DEFAULT_MAX_CONNECTIONS_PER_PEER: usize = 256;

/// What every connection of every listener is held to.
#[derive(Debug, Clone)]
pub struct ConnectionLimits {
    /// A request head must be complete this long after the connection was accepted, or after
    /// the first byte of its next request.
    pub header_timeout: Duration,
    /// Between requests, and for one request's body and answer.
    pub idle_timeout: Duration,
    /// Connections waiting on their client at once (at least 1).
    pub max_pending: usize,
    /// Proxies whose `X-Forwarded-For` is believed, as canonical addresses.
    pub trusted_proxies: HashSet<IpAddr>,
}

impl ConnectionLimits {
    /// `max_connections` is the WebSocket cap in force; the pending cap defaults to a quarter.
    pub fn resolve(config: &ServerConfig, max_connections: usize) -> Self {
        Self {
            header_timeout: config.http_header_timeout,
            idle_timeout: config.http_idle_timeout,
            max_pending: config
                .max_pending_connections
                .unwrap_or(max_connections / 4)
                .max(1),
            trusted_proxies: config
                .trusted_proxies
                .iter()
                .map(|ip| ip.to_canonical())
                .collect(),
        }
    }

    pub fn is_trusted_proxy(&self, ip: IpAddr) -> bool {
        !self.trusted_proxies.is_empty() && self.trusted_proxies.contains(&ip.to_canonical())
    }
}

/// The per-peer cap of a listener bound to `bound`: the configured one (0 = off) or, by
/// default, [`DEFAULT_MAX_CONNECTIONS_PER_PEER`] unless bound to 127.0.0.1 or ::1, where the
/// only peers are this machine's programs (and the benchmark opens thousands per address).
pub fn per_peer_cap(configured: Option<usize>, bound: IpAddr) -> Option<usize> {
    match configured {
        Some(0) => None,
        Some(cap) => Some(cap),
        None if bound == IpAddr::V4(Ipv4Addr::LOCALHOST)
            || bound == IpAddr::V6(Ipv6Addr::LOCALHOST) =>
        {
            None
        }
        None => Some(DEFAULT_MAX_CONNECTIONS_PER_PEER),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("an IP address")
    }

    #[test]
    fn the_per_peer_cap_is_off_on_loopback_by_default_only() {
        assert_eq!(per_peer_cap(None, ip("127.0.0.1")), None);
        assert_eq!(per_peer_cap(None, ip("::1")), None);
        assert_eq!(per_peer_cap(None, ip("127.0.0.2")), Some(256));
        assert_eq!(per_peer_cap(None, ip("0.0.0.0")), Some(256));
        assert_eq!(per_peer_cap(None, ip("192.168.1.20")), Some(256));
        assert_eq!(per_peer_cap(Some(5), ip("127.0.0.1")), Some(5));
        assert_eq!(per_peer_cap(Some(0), ip("192.168.1.20")), None);
    }

    #[test]
    fn the_pending_cap_defaults_to_a_quarter_of_the_connection_cap() {
        let config = ServerConfig::default();
        assert_eq!(
            ConnectionLimits::resolve(&config, 19_872).max_pending,
            4_968
        );
        assert_eq!(ConnectionLimits::resolve(&config, 3).max_pending, 1);
        let config = ServerConfig {
            max_pending_connections: Some(50),
            ..ServerConfig::default()
        };
        assert_eq!(ConnectionLimits::resolve(&config, 19_872).max_pending, 50);
    }

    #[test]
    fn trusted_proxies_match_ipv4_mapped_addresses() {
        let config = ServerConfig {
            trusted_proxies: vec![ip("10.0.0.1")],
            ..ServerConfig::default()
        };
        let limits = ConnectionLimits::resolve(&config, 100);
        assert!(limits.is_trusted_proxy(ip("10.0.0.1")));
        assert!(limits.is_trusted_proxy(ip("::ffff:10.0.0.1")));
        assert!(!limits.is_trusted_proxy(ip("10.0.0.2")));
    }
}
