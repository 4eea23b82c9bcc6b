//! The file's layout, and the checks made before anything is written to an existing file.
//!
//! ```sql
//! schema_version(version)                      -- one row: the layout's version
//! rooms(id, name, epoch, last_seq, first_kept, kept_frames, kept_bytes, active_ts)
//! frames(room_id, seq, ts, size, frame)        -- WITHOUT ROWID, keyed (room_id, seq)
//! deleted_rooms(id)                            -- rooms whose frames are still being deleted
//! ```
//!
//! - **One row per stored frame**, keyed by the room's id and the seq: a page of history is one
//!   index range. `frame` is the encoded JSON text exactly as sent to clients (decoding nothing on
//!   the way out), `ts` the milliseconds the room stamped it with (retention by age), `size` its
//!   length in bytes (retention by bytes, without reading the frame back).
//! - **The epoch lives in the room's row**, with its counters: a room has one epoch at a time, and
//!   deleting a room deletes the row, so a room of the same name made later gets a new id and a
//!   new epoch (ids are `AUTOINCREMENT`: never reused, so a frame can never be attributed to a
//!   successor). The counters are kept in the row so that opening a room reads one row, never its
//!   frames: the server starts in the same time with a million stored messages as with none.
//! - **Deleting a room** deletes its row and lists its id in `deleted_rooms`, in one
//!   transaction; its frames are then deleted in small batches (see `retention`).
//!
//! **Opening an existing file changes nothing in it until it has been checked**: that it is a
//! SQLite database at all, that it is ours (it has a `schema_version` table) and that its
//! version is one this program knows. Otherwise opening fails with an [`OpenError`] that names
//! the file and what to do, and the file is left byte for byte as it was: user data is never
//! deleted or overwritten to get past an error.

use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags};

/// The layout this program writes. A file with a larger number was written by a newer version.
pub const SCHEMA_VERSION: i64 = 1;

const CREATE: &str = "
    CREATE TABLE schema_version (version INTEGER NOT NULL);
    CREATE TABLE rooms (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        name TEXT NOT NULL UNIQUE,
        epoch TEXT NOT NULL,
        last_seq INTEGER NOT NULL,
        first_kept INTEGER NOT NULL,
        kept_frames INTEGER NOT NULL,
        kept_bytes INTEGER NOT NULL,
        active_ts INTEGER NOT NULL
    );
    CREATE TABLE frames (
        room_id INTEGER NOT NULL,
        seq INTEGER NOT NULL,
        ts INTEGER NOT NULL,
        size INTEGER NOT NULL,
        frame TEXT NOT NULL,
        PRIMARY KEY (room_id, seq)
    ) WITHOUT ROWID;
    CREATE TABLE deleted_rooms (id INTEGER PRIMARY KEY);
";

/// Why the room log could not be opened. Every message names the file (or directory) and says
/// what to do; none of these cases changed the file.
#[derive(Debug)]
pub enum OpenError {
    /// The data directory could not be made or used.
    Directory { dir: PathBuf, detail: String },
    /// Another process holds the data directory.
    Locked {
        dir: PathBuf,
        holder: Option<String>,
    },
    /// The file exists but could not be opened or read (permissions, a directory in its place).
    Unreadable { path: PathBuf, detail: String },
    /// The file is not a SQLite database, or a damaged one.
    Corrupt { path: PathBuf, detail: String },
    /// A SQLite database, but not a room log (no `schema_version` table).
    Foreign { path: PathBuf },
    /// Written by a newer version of this program.
    NewerSchema {
        path: PathBuf,
        found: i64,
        supported: i64,
    },
    /// Setting the file up failed (a full disk, for instance).
    Setup { path: PathBuf, detail: String },
}

const ELSEWHERE: &str =
    "or start with another --data-dir (TRW_DATA_DIR), or with --in-memory (TRW_IN_MEMORY=1) to keep no history on disk";

impl std::fmt::Display for OpenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OpenError::Directory { dir, detail } => write!(
                f,
                "cannot use the data directory {}: {detail}. Fix its permissions, {ELSEWHERE}.",
                dir.display()
            ),
            OpenError::Locked { dir, holder } => write!(
                f,
                "the data directory {} is in use by another running copy of this app{}. \
                 Stop that one first, {ELSEWHERE}.",
                dir.display(),
                holder
                    .as_deref()
                    .map_or_else(String::new, |holder| format!(" ({holder})")),
            ),
            OpenError::Unreadable { path, detail } => write!(
                f,
                "cannot open the room log {}: {detail}. It was left as it is. Make it readable \
                 and writable by this user, {ELSEWHERE}.",
                path.display()
            ),
            OpenError::Corrupt { path, detail } => write!(
                f,
                "the room log {} is not a readable SQLite database ({detail}). It was left as it \
                 is. Move it away (or restore it from a backup) and start again, {ELSEWHERE}.",
                path.display()
            ),
            OpenError::Foreign { path } => write!(
                f,
                "{} is a SQLite database but not this app's room log (it has no schema_version \
                 table). It was left as it is. Move it away, {ELSEWHERE}.",
                path.display()
            ),
            OpenError::NewerSchema {
                path,
                found,
                supported,
            } => write!(
                f,
                "the room log {} was written by a newer version of this app (schema version \
                 {found}; this version knows up to {supported}). It was left as it is. Run the \
                 newer version, {ELSEWHERE}.",
                path.display()
            ),
            OpenError::Setup { path, detail } => write!(
                f,
                "cannot set up the room log {}: {detail}. Free some disk space or fix the \
                 permissions, {ELSEWHERE}.",
                path.display()
            ),
        }
    }
}

impl std::error::Error for OpenError {}

/// Opens `path` for writing, creating it (with the current layout) if it does not exist, and
/// checks an existing file before anything is written to it.
pub fn open_checked(path: &Path) -> Result<Connection, OpenError> {
    let exists = path.exists();
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX
        | if exists {
            OpenFlags::empty()
        } else {
            OpenFlags::SQLITE_OPEN_CREATE
        };
    let connection =
        Connection::open_with_flags(path, flags).map_err(|error| OpenError::Unreadable {
            path: path.to_owned(),
            detail: error.to_string(),
        })?;
    if exists {
        if let Err(error) = check(&connection, path) {
            // Leave a WAL file's contents where they are: no checkpoint into a file we refused.
            let _ = connection.set_db_config(
                rusqlite::config::DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE,
                true,
            );
            return Err(error);
        }
    }
    Ok(connection)
}

/// Reads (never writes) the file's tables and version.
fn check(connection: &Connection, path: &Path) -> Result<(), OpenError> {
    let tables = table_names(connection).map_err(|error| classify(path, &error))?;
    if tables.is_empty() {
        return Ok(()); // an empty database (a 0-byte file): nothing to lose, set it up
    }
    if !tables.iter().any(|table| table == "schema_version") {
        return Err(OpenError::Foreign {
            path: path.to_owned(),
        });
    }
    let found: i64 = connection
        .query_row("SELECT MAX(version) FROM schema_version", [], |row| {
            row.get::<_, Option<i64>>(0)
        })
        .map_err(|error| classify(path, &error))?
        .unwrap_or(0);
    if found > SCHEMA_VERSION {
        return Err(OpenError::NewerSchema {
            path: path.to_owned(),
            found,
            supported: SCHEMA_VERSION,
        });
    }
    let missing = ["rooms", "frames", "deleted_rooms"]
        .iter()
        .find(|table| !tables.iter().any(|name| name == *table));
    if found < SCHEMA_VERSION || missing.is_some() {
        return Err(OpenError::Corrupt {
            path: path.to_owned(),
            detail: format!(
                "schema version {found} with {}",
                missing.map_or_else(
                    || "an unknown layout".to_owned(),
                    |table| format!("no {table} table")
                )
            ),
        });
    }
    Ok(())
}

fn table_names(connection: &Connection) -> rusqlite::Result<Vec<String>> {
    let mut statement =
        connection.prepare("SELECT name FROM sqlite_master WHERE type = 'table'")?;
    let names = statement.query_map([], |row| row.get::<_, String>(0))?;
    names.collect()
}

fn classify(path: &Path, error: &rusqlite::Error) -> OpenError {
    use rusqlite::ErrorCode;
    match error.sqlite_error_code() {
        Some(ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt) => OpenError::Corrupt {
            path: path.to_owned(),
            detail: error.to_string(),
        },
        _ => OpenError::Unreadable {
            path: path.to_owned(),
            detail: error.to_string(),
        },
    }
}

/// Pragmas for every writing connection, then the tables if the file is new. `full_fsync`:
/// `synchronous=FULL` (every commit reaches the disk) instead of `NORMAL` (every commit reaches
/// the OS; the WAL is synced at checkpoints).
pub fn prepare(connection: &Connection, path: &Path, full_fsync: bool) -> Result<(), OpenError> {
    let setup = |detail: rusqlite::Error| OpenError::Setup {
        path: path.to_owned(),
        detail: detail.to_string(),
    };
    // auto_vacuum must be chosen before the first table exists; on an existing file it is a no-op.
    connection
        .execute_batch("PRAGMA auto_vacuum = INCREMENTAL;")
        .map_err(setup)?;
    let mode: String = connection
        .query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))
        .map_err(setup)?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(OpenError::Setup {
            path: path.to_owned(),
            detail: format!("the file system does not allow write-ahead logging (mode {mode})"),
        });
    }
    pragmas(connection, full_fsync).map_err(setup)?;
    if table_names(connection).map_err(setup)?.is_empty() {
        let script = format!(
            "BEGIN; {CREATE} INSERT INTO schema_version (version) VALUES ({SCHEMA_VERSION}); COMMIT;"
        );
        connection.execute_batch(&script).map_err(setup)?;
    }
    Ok(())
}

/// Per-connection settings (readers too).
pub fn pragmas(connection: &Connection, full_fsync: bool) -> rusqlite::Result<()> {
    let synchronous = if full_fsync { "FULL" } else { "NORMAL" };
    connection.execute_batch(&format!(
        "PRAGMA synchronous = {synchronous}; PRAGMA busy_timeout = 5000; PRAGMA foreign_keys = OFF;"
    ))
}

/// A read-only connection to a file [`prepare`]d already.
pub fn open_reader(path: &Path) -> rusqlite::Result<Connection> {
    let connection = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    connection.execute_batch("PRAGMA busy_timeout = 5000;")?;
    Ok(connection)
}
