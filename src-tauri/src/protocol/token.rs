//! The protocol's opaque tokens (session tokens, room-log epochs): their shape, and how they are
//! made.
//!
//! Both must be impossible to guess from the outside (a session token lets its holder take over a
//! name), so they come from the operating system's random source through `getrandom`, and are
//! written as lowercase hex: URL-safe, and inside the `[A-Za-z0-9_-]{1,64}` shape every token of
//! the protocol has ([`super::resume::is_valid_token`]).

use std::fmt::Write as _;

/// Bytes in a session token: 128 bits, the floor set by the protocol contract.
pub const SESSION_TOKEN_BYTES: usize = 16;

/// Bytes in a room-log epoch.
pub const EPOCH_BYTES: usize = 16;

/// `bytes` random bytes from the OS, as `2 * bytes` lowercase hex characters.
///
/// If the OS random source fails (it does not on any supported platform), the bytes fall back to
/// the standard library's randomly keyed SipHash over the time and a counter: still unpredictable
/// to a remote client, and logged loudly, because nothing here should ever fail a connection.
pub fn random_hex(bytes: usize) -> String {
    let mut buffer = vec![0u8; bytes];
    if let Err(error) = getrandom::fill(&mut buffer) {
        tracing::error!(%error, "the OS random source failed; using a weaker fallback");
        fallback_fill(&mut buffer);
    }
    let mut hex = String::with_capacity(bytes * 2);
    for byte in buffer {
        let _ = write!(hex, "{byte:02x}");
    }
    hex
}

fn fallback_fill(buffer: &mut [u8]) {
    use std::collections::hash_map::RandomState;
    use std::hash::{BuildHasher, Hasher};
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    for chunk in buffer.chunks_mut(8) {
        let mut hasher = RandomState::new().build_hasher();
        hasher.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
        hasher.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|elapsed| elapsed.as_nanos())
                .unwrap_or_default(),
        );
        let value = hasher.finish().to_le_bytes();
        chunk.copy_from_slice(&value[..chunk.len()]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_hex_of_the_asked_length_and_differ() {
        let a = random_hex(SESSION_TOKEN_BYTES);
        let b = random_hex(SESSION_TOKEN_BYTES);
        assert_eq!(a.len(), 32);
        assert!(a
            .chars()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
        assert_ne!(a, b);
    }

    #[test]
    fn the_fallback_fills_every_byte() {
        let mut buffer = [0u8; 20];
        fallback_fill(&mut buffer);
        assert!(buffer.iter().any(|&byte| byte != 0));
    }
}
