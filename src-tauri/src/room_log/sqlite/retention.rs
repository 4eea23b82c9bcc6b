//! What the file keeps: per room, by count (`--history`), by bytes (`--room-history-bytes`) and,
//! optionally, by age (`--retention-days`); and the deletion of evicted rooms' frames.
//!
//! **Never one long transaction.** An append trims its own room in the same transaction, by at
//! most [`TRIM_BATCH`] rows (in the steady state it deletes as many rows as it adds). Anything
//! bigger (a limit lowered between two runs, frames that aged out, an evicted room's history) is
//! queued and done by the writer thread when it has no command waiting, one batch per
//! transaction, so a post never waits behind a large delete.
//!
//! Every [`SCAN_INTERVAL`] (and right after start) the writer looks at every room's counters and
//! oldest frame and queues what is over a limit. Freed pages go back to the file system through
//! `auto_vacuum=INCREMENTAL`: after a batch that deleted rows, up to [`VACUUM_PAGES`] free pages
//! are released.
//!
//! The newest frame of a room is kept whatever its size or the count limit, so that a post is
//! never stored and dropped at once; age is the exception (a room quiet for longer than the
//! retention keeps nothing).

use std::collections::{HashSet, VecDeque};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use rusqlite::{params, Connection};

use super::writer::{load_by_id, sql, unsigned, Writer};
use super::{lock, Retention, RoomMeta};
use crate::protocol::unix_millis;

/// Most rows deleted from one room in one transaction.
pub const TRIM_BATCH: usize = 256;

/// Most rows of an evicted room deleted in one transaction.
pub const DELETE_BATCH: i64 = 512;

/// How often every room is checked against the limits.
pub const SCAN_INTERVAL: Duration = Duration::from_secs(60);

/// Most free pages released after one batch.
pub const VACUUM_PAGES: u32 = 256;

/// What one call of [`trim`] did.
pub(super) struct Trimmed {
    pub deleted: u64,
    /// It stopped at the batch size while the room was still over a limit.
    pub more: bool,
}

/// Deletes `meta`'s oldest frames while the room is over a limit (at most `max_rows`), and
/// updates `meta` (not its row: see [`save`]).
pub(super) fn trim(
    connection: &Connection,
    meta: &mut RoomMeta,
    retention: &Retention,
    cutoff_ms: Option<u64>,
    max_rows: usize,
) -> rusqlite::Result<Trimmed> {
    let over = |meta: &RoomMeta| {
        meta.kept_frames > 1
            && (meta.kept_frames > retention.frames_per_room
                || meta.kept_bytes > retention.bytes_per_room)
    };
    if !over(meta) && cutoff_ms.is_none() {
        return Ok(Trimmed {
            deleted: 0,
            more: false,
        });
    }
    let rows: Vec<(i64, i64, i64)> = {
        let mut statement = connection.prepare_cached(
            "SELECT seq, ts, size FROM frames WHERE room_id = ?1 AND seq >= ?2 ORDER BY seq LIMIT ?3",
        )?;
        let limit = i64::try_from(max_rows).unwrap_or(i64::MAX);
        let rows = statement.query_map(params![meta.id, sql(meta.first_kept), limit], |row| {
            Ok((row.get(0)?, row.get(1)?, row.get(2)?))
        })?;
        rows.collect::<rusqlite::Result<_>>()?
    };
    let mut deleted = 0;
    let mut new_first = meta.first_kept;
    for (seq, ts, size) in &rows {
        let old = cutoff_ms.is_some_and(|cutoff| unsigned(*ts) < cutoff);
        if !(over(meta) || old) {
            break;
        }
        meta.kept_frames = meta.kept_frames.saturating_sub(1);
        meta.kept_bytes = meta.kept_bytes.saturating_sub(unsigned(*size));
        new_first = unsigned(*seq).saturating_add(1);
        deleted += 1;
    }
    if meta.kept_frames == 0 {
        new_first = meta.last_seq.saturating_add(1);
    }
    if new_first > meta.first_kept {
        connection
            .prepare_cached("DELETE FROM frames WHERE room_id = ?1 AND seq < ?2")?
            .execute(params![meta.id, sql(new_first)])?;
        meta.first_kept = new_first;
    }
    Ok(Trimmed {
        deleted,
        more: deleted > 0 && usize::try_from(deleted).unwrap_or(usize::MAX) == max_rows,
    })
}

/// Writes `meta`'s counters to its row (`active_ts`: the newest post's time, after an append).
pub(super) fn save(
    connection: &Connection,
    meta: &RoomMeta,
    active_ts: Option<u64>,
) -> rusqlite::Result<()> {
    connection
        .prepare_cached(
            "UPDATE rooms SET last_seq = ?2, first_kept = ?3, kept_frames = ?4, kept_bytes = ?5,
             active_ts = COALESCE(?6, active_ts) WHERE id = ?1",
        )?
        .execute(params![
            meta.id,
            sql(meta.last_seq),
            sql(meta.first_kept),
            sql(meta.kept_frames),
            sql(meta.kept_bytes),
            active_ts.map(sql),
        ])?;
    Ok(())
}

/// The writer's to-do list between commands.
pub(super) struct Maintenance {
    trim: VecDeque<i64>,
    queued: HashSet<i64>,
    deleted: VecDeque<i64>,
    next_scan: Instant,
    /// Pages were freed since the last vacuum step.
    vacuum: bool,
}

impl Maintenance {
    pub(super) fn new() -> Maintenance {
        Maintenance {
            trim: VecDeque::new(),
            queued: HashSet::new(),
            deleted: VecDeque::new(),
            next_scan: Instant::now(),
            vacuum: false,
        }
    }

    /// How long the writer may wait for a command before maintenance is due.
    pub(super) fn wait(&self) -> Duration {
        if !self.trim.is_empty() || !self.deleted.is_empty() || self.vacuum {
            Duration::ZERO
        } else {
            self.next_scan.saturating_duration_since(Instant::now())
        }
    }

    pub(super) fn trim_later(&mut self, id: i64) {
        if self.queued.insert(id) {
            self.trim.push_back(id);
        }
    }

    pub(super) fn delete_later(&mut self, id: i64) {
        if !self.deleted.contains(&id) {
            self.deleted.push_back(id);
        }
    }
}

impl Writer {
    /// One step: a scan if due, else one batch of deletion, else one batch of trimming, else
    /// one step of vacuum.
    pub(super) fn maintain(&mut self) {
        let result = if Instant::now() >= self.maintenance.next_scan {
            self.maintenance.next_scan = Instant::now() + SCAN_INTERVAL;
            self.scan()
        } else if let Some(id) = self.maintenance.deleted.front().copied() {
            self.delete_frames(id)
        } else if let Some(id) = self.maintenance.trim.pop_front() {
            self.maintenance.queued.remove(&id);
            self.trim_room(id)
        } else if self.maintenance.vacuum {
            self.maintenance.vacuum = false;
            self.vacuum()
        } else {
            Ok(())
        };
        if let Err(error) = result {
            self.roll_back();
            tracing::warn!(%error, "room log maintenance failed; it will be tried again");
            // Try again at the next scan, not in a tight loop.
            self.maintenance.trim.clear();
            self.maintenance.queued.clear();
            self.maintenance.deleted.clear();
            self.maintenance.vacuum = false;
        }
    }

    fn cutoff(&self) -> Option<u64> {
        let max_age = self.options.retention.max_age?;
        let age = u64::try_from(max_age.as_millis()).unwrap_or(u64::MAX);
        Some(unix_millis().saturating_sub(age))
    }

    /// Queues every room over a limit, and every deleted room with frames left.
    fn scan(&mut self) -> rusqlite::Result<()> {
        let cutoff = self.cutoff();
        let retention = self.options.retention;
        let deleted: Vec<i64> = {
            let mut statement = self
                .connection
                .prepare_cached("SELECT id FROM deleted_rooms")?;
            let rows = statement.query_map([], |row| row.get(0))?;
            rows.collect::<rusqlite::Result<_>>()?
        };
        for id in deleted {
            self.maintenance.delete_later(id);
        }
        let rooms: Vec<(i64, i64, i64, i64)> = {
            let mut statement = self
                .connection
                .prepare_cached("SELECT id, first_kept, kept_frames, kept_bytes FROM rooms")?;
            let rows = statement.query_map([], |row| {
                Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
            })?;
            rows.collect::<rusqlite::Result<_>>()?
        };
        for (id, first_kept, frames, bytes) in rooms {
            let (frames, bytes) = (unsigned(frames), unsigned(bytes));
            let over = frames > 1
                && (frames > retention.frames_per_room || bytes > retention.bytes_per_room);
            let aged = match cutoff {
                Some(cutoff) if frames > 0 => {
                    let oldest: i64 = self
                        .connection
                        .prepare_cached(
                            "SELECT ts FROM frames WHERE room_id = ?1 AND seq >= ?2 ORDER BY seq LIMIT 1",
                        )?
                        .query_row(params![id, first_kept], |row| row.get(0))
                        .unwrap_or(i64::MAX);
                    unsigned(oldest) < cutoff
                }
                _ => false,
            };
            if over || aged {
                self.maintenance.trim_later(id);
            }
        }
        Ok(())
    }

    /// One batch of an evicted room's frames.
    fn delete_frames(&mut self, id: i64) -> rusqlite::Result<()> {
        let transaction = self.connection.transaction()?;
        let removed = transaction
            .prepare_cached(
                "DELETE FROM frames WHERE room_id = ?1 AND seq IN
                 (SELECT seq FROM frames WHERE room_id = ?1 ORDER BY seq LIMIT ?2)",
            )?
            .execute(params![id, DELETE_BATCH])?;
        let finished = i64::try_from(removed).unwrap_or(i64::MAX) < DELETE_BATCH;
        if finished {
            transaction
                .prepare_cached("DELETE FROM deleted_rooms WHERE id = ?1")?
                .execute([id])?;
        }
        transaction.commit()?;
        if finished {
            self.maintenance.deleted.pop_front();
        }
        self.note_deleted(u64::try_from(removed).unwrap_or(u64::MAX));
        Ok(())
    }

    /// One batch of one room's retention.
    fn trim_room(&mut self, id: i64) -> rusqlite::Result<()> {
        let cutoff = self.cutoff();
        let retention = self.options.retention;
        let transaction = self.connection.transaction()?;
        let Some((name, mut meta)) = load_by_id(&transaction, id)? else {
            return Ok(()); // deleted meanwhile
        };
        let trimmed = trim(&transaction, &mut meta, &retention, cutoff, TRIM_BATCH)?;
        save(&transaction, &meta, None)?;
        transaction.commit()?;
        {
            let mut opened = lock(&self.opened);
            if let Some(known) = opened.get_mut(&name) {
                if known.id == id {
                    *known = meta;
                }
            }
        }
        if trimmed.more {
            self.maintenance.trim_later(id);
        }
        self.note_deleted(trimmed.deleted);
        Ok(())
    }

    fn note_deleted(&mut self, rows: u64) {
        if rows > 0 {
            self.stats.frames_deleted.fetch_add(rows, Ordering::Relaxed);
            self.maintenance.vacuum = true;
        }
    }

    fn vacuum(&mut self) -> rusqlite::Result<()> {
        let free = |connection: &rusqlite::Connection| -> rusqlite::Result<i64> {
            connection.query_row("PRAGMA freelist_count", [], |row| row.get(0))
        };
        if free(&self.connection)? > 0 {
            // The pragma frees one page per step: step it to the end.
            let mut statement = self
                .connection
                .prepare(&format!("PRAGMA incremental_vacuum({VACUUM_PAGES})"))?;
            let mut rows = statement.query([])?;
            while rows.next()?.is_some() {}
            drop(rows);
            drop(statement);
            self.maintenance.vacuum = free(&self.connection)? > 0;
        }
        Ok(())
    }
}
