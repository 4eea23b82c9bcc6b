//! A TCP port on 127.0.0.1 that nothing listens on, for a server a test starts itself.
//!
//! Drawn from below the kernel's ephemeral range (`/proc/sys/net/ipv4/ip_local_port_range`,
//! 32768–60999 by default). Binding port 0 would hand out a port *in* that range, and between
//! the test letting it go and its server binding it, any outgoing connection on the machine may
//! take it as its source port ("address already in use" with nothing listening). Below the
//! range, only another listener can take it.

use std::hash::{BuildHasher, Hasher};
use std::net::TcpListener;

/// The lowest port handed out.
const LOWEST: u16 = 20_000;

/// A port that was free a moment ago and that no outgoing connection will take.
pub fn free_port() -> u16 {
    try_free_port().expect("a free port on 127.0.0.1")
}

/// [`free_port`], with the error for callers that report rather than panic (the benchmarks).
pub fn try_free_port() -> std::io::Result<u16> {
    let end = ephemeral_low().max(LOWEST + 1_000);
    let span = u64::from(end - LOWEST);
    for attempt in 0..200 {
        let candidate = LOWEST + (random(attempt) % span) as u16;
        if TcpListener::bind(("127.0.0.1", candidate)).is_ok() {
            return Ok(candidate);
        }
    }
    // Everything tried was taken: the kernel's choice is still better than none.
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
}

/// The first port of the kernel's ephemeral range.
fn ephemeral_low() -> u16 {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|range| range.split_whitespace().next()?.parse().ok())
        .unwrap_or(32_768)
}

/// A different number per call and per process (std's randomly keyed hasher; no crate needed).
fn random(salt: u64) -> u64 {
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(salt);
    hasher.write_u32(std::process::id());
    hasher.finish()
}
