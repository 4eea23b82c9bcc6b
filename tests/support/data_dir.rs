//! A fresh data directory for every server a test starts: no test touches the user's real data
//! directory (the app's default), and no two servers share one (the second would be refused:
//! one process per data directory).
//!
//! The directories live under Cargo's per-target temporary directory (`target/tmp/trw-data/`),
//! so a failing test leaves its room log behind for a look; directories more than an hour old are
//! removed the next time a test makes one.
#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Once;
use std::time::{Duration, SystemTime};

/// The parent of every test's data directory.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("trw-data")
}

/// A new, empty directory named after `name`, unique in this run.
pub fn fresh(name: &str) -> PathBuf {
    static CLEANUP: Once = Once::new();
    static NEXT: AtomicU64 = AtomicU64::new(0);
    CLEANUP.call_once(remove_old);
    let name: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let dir = root().join(format!(
        "{name}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create a test data directory");
    dir
}

fn remove_old() {
    let Ok(entries) = std::fs::read_dir(root()) else {
        return;
    };
    let hour_ago = SystemTime::now() - Duration::from_secs(3600);
    for entry in entries.flatten() {
        let old = entry
            .metadata()
            .and_then(|meta| meta.modified())
            .is_ok_and(|modified| modified < hour_ago);
        if old {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}
