//! Reading pages of history: read-only connections on tokio's blocking pool.
//!
//! Each page is read in one read transaction, together with the room's row, so that the page's
//! `last_seq` and `first_kept` describe exactly the snapshot its frames come from. A room opened
//! but without a row yet (see the writer's [`UNSAVED`]) has an empty log. At most
//! [`READERS`] reads run at once (a semaphore); their connections are kept for reuse.

use std::sync::Arc;

use axum::extract::ws::Utf8Bytes;
use rusqlite::{params, Connection, OptionalExtension};

use super::{lock, schema, Inner, READERS, UNSAVED};
use crate::room_log::{Epoch, LogError, LogPage, StoredFrame};

/// The room a read is for, and its incarnation.
pub(super) struct Target {
    pub room: String,
    pub epoch: Epoch,
}

pub(super) enum Query {
    /// Frames with `seq > after`, oldest first.
    After(u64),
    /// The newest frames with `seq < before`, oldest first.
    Before(u64),
}

/// Runs `work` on a pooled read-only connection, on the blocking pool.
async fn with_reader<T: Send + 'static>(
    inner: Arc<Inner>,
    work: impl FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
) -> Result<T, LogError> {
    let _permit = inner
        .reader_permits
        .acquire()
        .await
        .map_err(|_| LogError::unavailable("the room log is closed"))?;
    let reading = Arc::clone(&inner);
    let result = tokio::task::spawn_blocking(move || {
        let connection = match lock(&reading.readers).pop() {
            Some(connection) => connection,
            None => schema::open_reader(&reading.path)?,
        };
        let result = work(&connection);
        let mut pool = lock(&reading.readers);
        if pool.len() < READERS {
            pool.push(connection);
        }
        result
    })
    .await
    .map_err(|error| LogError::unavailable(format!("a read of the room log failed: {error}")))?;
    result
        .map_err(|error| LogError::unavailable(format!("the room log could not be read: {error}")))
}

/// A page of `target`'s log.
pub(super) async fn page(
    inner: Arc<Inner>,
    target: Target,
    query: Query,
    limit: usize,
) -> Result<LogPage, LogError> {
    let target = Arc::new(target);
    let query = Arc::new(query);
    // Twice at most: a room's first commit may land between the read and the look at memory.
    for _ in 0..2 {
        let (reading, asked) = (Arc::clone(&target), Arc::clone(&query));
        let page = with_reader(Arc::clone(&inner), move |connection| {
            read(connection, &reading, &asked, limit)
        })
        .await?;
        if let Some(page) = page {
            return Ok(page);
        }
        let unsaved = match lock(&inner.opened).get(&target.room) {
            Some(meta) if meta.epoch == target.epoch => meta.id == UNSAVED,
            _ => return Err(LogError::gone(&target.room)),
        };
        if unsaved {
            return Ok(LogPage {
                epoch: target.epoch.clone(),
                first_kept: 1,
                last_seq: 0,
                frames: Vec::new(),
            });
        }
    }
    Err(LogError::unavailable(format!(
        "the log of #{} changed while it was read; try again",
        target.room
    )))
}

/// The epoch of a stored room, if there is one.
pub(super) async fn find(inner: Arc<Inner>, room: String) -> Result<Option<Epoch>, LogError> {
    with_reader(inner, move |connection| {
        connection
            .prepare_cached("SELECT epoch FROM rooms WHERE name = ?1")?
            .query_row([room], |row| Ok(Epoch::from_stored(row.get(0)?)))
            .optional()
    })
    .await
}

/// `None` if the file has no row of this incarnation of the room.
fn read(
    connection: &Connection,
    target: &Target,
    query: &Query,
    limit: usize,
) -> rusqlite::Result<Option<LogPage>> {
    let transaction = connection.unchecked_transaction()?;
    let row = transaction
        .prepare_cached("SELECT id, epoch, last_seq, first_kept FROM rooms WHERE name = ?1")?
        .query_row([&target.room], |row| {
            Ok((
                row.get::<_, i64>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, i64>(2)?,
                row.get::<_, i64>(3)?,
            ))
        })
        .optional()?;
    let Some((id, epoch, last_seq, first_kept)) = row else {
        return Ok(None);
    };
    if epoch != target.epoch.as_str() {
        return Ok(None);
    }
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let mut frames: Vec<StoredFrame> = match *query {
        Query::After(after) => {
            let after = i64::try_from(after).unwrap_or(i64::MAX);
            let mut statement = transaction.prepare_cached(
                "SELECT seq, frame FROM frames WHERE room_id = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3",
            )?;
            let rows = statement.query_map(params![id, after, limit], stored)?;
            rows.collect::<rusqlite::Result<_>>()?
        }
        Query::Before(before) => {
            let before = i64::try_from(before).unwrap_or(i64::MAX);
            let mut statement = transaction.prepare_cached(
                "SELECT seq, frame FROM frames WHERE room_id = ?1 AND seq < ?2 ORDER BY seq DESC LIMIT ?3",
            )?;
            let rows = statement.query_map(params![id, before, limit], stored)?;
            rows.collect::<rusqlite::Result<_>>()?
        }
    };
    if matches!(query, Query::Before(_)) {
        frames.reverse();
    }
    transaction.finish()?;
    Ok(Some(LogPage {
        epoch: target.epoch.clone(),
        first_kept: u64::try_from(first_kept).unwrap_or(0),
        last_seq: u64::try_from(last_seq).unwrap_or(0),
        frames,
    }))
}

fn stored(row: &rusqlite::Row<'_>) -> rusqlite::Result<StoredFrame> {
    let seq: i64 = row.get(0)?;
    let frame: String = row.get(1)?;
    Ok(StoredFrame {
        seq: u64::try_from(seq).unwrap_or(0),
        frame: Utf8Bytes::from(frame),
    })
}
