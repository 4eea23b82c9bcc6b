//! The open-file limit, which is what really caps concurrent connections: each WebSocket is one
//! file descriptor.
//!
//! Many systems start processes with a soft limit of 1,024 while allowing far more (the hard
//! limit). A server that wants thousands of connections raises its own soft limit to the hard
//! one at start, then refuses connections (HTTP 503) a little before running out, keeping a
//! reserve for its own files, rather than failing `accept` in a loop.

/// File descriptors kept for the process itself: listener, epoll, log files, and in desktop
/// mode GTK/WebKit's own sockets and pipes.
pub const RESERVED_DESCRIPTORS: u64 = 128;

/// Raises the soft open-file limit to the hard limit; returns the soft limit now in force
/// (`None` where it cannot be read, e.g. on non-Unix systems).
pub fn raise_open_file_limit() -> Option<u64> {
    #[cfg(unix)]
    {
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit only writes into the struct we pass, which lives on our stack.
        if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
            return None;
        }
        if limit.rlim_cur < limit.rlim_max {
            let raised = libc::rlimit {
                rlim_cur: limit.rlim_max,
                rlim_max: limit.rlim_max,
            };
            // SAFETY: setrlimit only reads the struct we pass.
            if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
                limit = raised;
            }
        }
        // rlim_t is u64 on Linux and macOS but not on every Unix.
        #[allow(clippy::unnecessary_cast)]
        Some(limit.rlim_cur as u64)
    }
    #[cfg(not(unix))]
    {
        None
    }
}

/// The default connection cap for a given open-file limit.
pub fn connection_cap(open_file_limit: Option<u64>) -> usize {
    match open_file_limit {
        Some(limit) => limit.saturating_sub(RESERVED_DESCRIPTORS).max(1) as usize,
        // Unknown limit (non-Unix): a generous cap that still protects memory.
        None => 10_000,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_keeps_a_reserve() {
        assert_eq!(
            connection_cap(Some(20_000)),
            20_000 - RESERVED_DESCRIPTORS as usize
        );
        assert_eq!(connection_cap(Some(10)), 1);
    }

    #[test]
    fn raising_reports_a_limit() {
        #[cfg(unix)]
        assert!(raise_open_file_limit().is_some_and(|limit| limit > 0));
    }
}
