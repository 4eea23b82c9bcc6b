//! One process per data directory: an advisory lock on `<data dir>/lock`.
//!
//! Two processes writing one room log would each number posts from their own counters and
//! acknowledge posts the other then overwrites. So the store takes an exclusive, non-blocking
//! lock on a file in the data directory before it opens the database, and keeps it for as long
//! as it lives. The lock is the operating system's (`flock` on Unix, `LockFileEx` on Windows,
//! through the standard library's `File::try_lock`, stable since Rust 1.89, the version rusqlite
//! needs anyway, so no crate is needed for it): it is released when the process ends, however it
//! ends, so a crash never leaves a stale lock behind. The holder writes its process id into the
//! file, so that the second process can say who holds the directory.
//!
//! The desktop app's single-instance plugin already hands a second window launch over to the
//! first one; this lock covers everything else (a headless server and the app, two servers).

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;

use super::OpenError;

/// The lock file's name inside the data directory.
pub const LOCK_FILE: &str = "lock";

/// Held for as long as the store lives.
#[derive(Debug)]
pub struct DataDirLock {
    _file: File,
}

impl DataDirLock {
    /// Creates `dir` if needed and locks it, or says which process holds it.
    pub fn acquire(dir: &Path) -> Result<DataDirLock, OpenError> {
        let directory = |detail: String| OpenError::Directory {
            dir: dir.to_owned(),
            detail,
        };
        std::fs::create_dir_all(dir).map_err(|error| directory(error.to_string()))?;
        let path = dir.join(LOCK_FILE);
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|error| directory(format!("cannot open {}: {error}", path.display())))?;
        match file.try_lock() {
            Ok(()) => {
                let stamp = format!("pid {}\n", std::process::id());
                let written = file
                    .set_len(0)
                    .and_then(|()| file.seek(SeekFrom::Start(0)))
                    .and_then(|_| file.write_all(stamp.as_bytes()));
                if let Err(error) = written {
                    // The lock is what matters; the pid is only for the message.
                    tracing::warn!(%error, "could not write the process id into the lock file");
                }
                Ok(DataDirLock { _file: file })
            }
            Err(TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                let holder = holder.trim();
                Err(OpenError::Locked {
                    dir: dir.to_owned(),
                    holder: (!holder.is_empty()).then(|| holder.chars().take(64).collect()),
                })
            }
            Err(TryLockError::Error(error)) => Err(directory(format!(
                "cannot lock {}: {error}",
                path.display()
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_on_the_same_directory_names_the_holder() {
        let dir = tempfile::tempdir().expect("temp dir");
        let first = DataDirLock::acquire(dir.path()).expect("first lock");
        let error = DataDirLock::acquire(dir.path()).expect_err("second lock");
        let message = error.to_string();
        assert!(
            message.contains(&dir.path().display().to_string()),
            "{message}"
        );
        assert!(
            message.contains(&format!("pid {}", std::process::id())),
            "{message}"
        );
        drop(first);
        DataDirLock::acquire(dir.path()).expect("free again once the holder is gone");
    }
}
