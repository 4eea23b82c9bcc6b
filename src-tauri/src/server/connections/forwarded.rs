//! `X-Forwarded-For`, believed only from a trusted proxy.
//!
//! Anyone can send the header, so it means nothing unless the TCP peer is a proxy we trust
//! (`--trusted-proxy`). A proxy *appends* the address it received the request from, so the
//! list reads `client, proxy1, proxy2` and only its right end is vouched for: the client is the
//! rightmost entry that is not itself a trusted proxy. Entries further left were written by
//! the client and are ignored.

use std::net::{IpAddr, SocketAddr};

use axum::http::HeaderMap;

use super::limits::ConnectionLimits;

const X_FORWARDED_FOR: &str = "x-forwarded-for";

/// The client a trusted proxy names, or `None` when the header is missing or its right end is
/// unreadable (the proxy itself then counts as the client).
pub fn forwarded_client(headers: &HeaderMap, limits: &ConnectionLimits) -> Option<IpAddr> {
    // Several header lines form one list, in order.
    let lines: Vec<&str> = headers
        .get_all(X_FORWARDED_FOR)
        .iter()
        .map(|value| value.to_str().ok())
        .collect::<Option<_>>()?;
    for entry in lines.iter().rev().flat_map(|line| line.rsplit(',')) {
        let address = parse_entry(entry.trim())?;
        if !limits.is_trusted_proxy(address) {
            return Some(address.to_canonical());
        }
    }
    None
}

/// `203.0.113.7`, `2001:db8::1`, or with a port: `203.0.113.7:4711`, `[2001:db8::1]:4711`.
fn parse_entry(entry: &str) -> Option<IpAddr> {
    entry
        .parse::<IpAddr>()
        .ok()
        .or_else(|| entry.parse::<SocketAddr>().ok().map(|addr| addr.ip()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ServerConfig;
    use axum::http::HeaderValue;

    fn limits(trusted: &[&str]) -> ConnectionLimits {
        let config = ServerConfig {
            trusted_proxies: trusted
                .iter()
                .map(|ip| ip.parse().expect("an IP"))
                .collect(),
            ..ServerConfig::default()
        };
        ConnectionLimits::resolve(&config, 100)
    }

    fn headers(lines: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for line in lines {
            headers.append(X_FORWARDED_FOR, HeaderValue::from_str(line).expect("value"));
        }
        headers
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("an IP")
    }

    #[test]
    fn the_rightmost_untrusted_entry_is_the_client() {
        let limits = limits(&["10.0.0.1", "10.0.0.2"]);
        assert_eq!(
            forwarded_client(&headers(&["203.0.113.7"]), &limits),
            Some(ip("203.0.113.7"))
        );
        // The client wrote "1.1.1.1" itself; the proxies vouch only for 203.0.113.7.
        assert_eq!(
            forwarded_client(&headers(&["1.1.1.1, 203.0.113.7, 10.0.0.2"]), &limits),
            Some(ip("203.0.113.7"))
        );
        assert_eq!(
            forwarded_client(&headers(&["1.1.1.1", "203.0.113.7,10.0.0.2"]), &limits),
            Some(ip("203.0.113.7"))
        );
        assert_eq!(
            forwarded_client(&headers(&["[2001:db8::7]:4711"]), &limits),
            Some(ip("2001:db8::7"))
        );
    }

    #[test]
    fn missing_or_unreadable_headers_name_nobody() {
        let limits = limits(&["10.0.0.1"]);
        assert_eq!(forwarded_client(&HeaderMap::new(), &limits), None);
        assert_eq!(forwarded_client(&headers(&["unknown"]), &limits), None);
        assert_eq!(forwarded_client(&headers(&["10.0.0.1"]), &limits), None);
        // A garbled right end is not skipped over to a client-written entry.
        assert_eq!(
            forwarded_client(&headers(&["1.1.1.1, garbage"]), &limits),
            None
        );
    }
}
