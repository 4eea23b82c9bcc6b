//! The writer: one transaction per group of commands, answers after the commit.
//!
//! The [`Writer`] owns the writing connection and lives behind a mutex. Its thread
//! ([`WriterThread`]) takes the first queued command (waiting for it), then every other command
//! already queued (up to [`MAX_COMMANDS`]), takes the lock, runs them all in one
//! `BEGIN IMMEDIATE … COMMIT`, and answers each. That is group commit without a timer: nothing
//! waits for company, but whatever arrived while the previous transaction was being committed
//! shares the next one. When the queue is empty, the thread runs a checkpoint if one is wanted
//! ([`super::checkpoint`]) and one small step of maintenance ([`super::retention`]), and looks
//! again. A room that finds the lock free commits its own append with the same
//! [`Writer::execute`] instead of queueing it ([`super::direct`]).
//!
//! **The queue is unbounded but not fed by clients:** a room has at most one append in flight,
//! the directory caps the rooms, and opens and deletes come from the directory's own
//! bookkeeping. So the queue holds at most about one command per live room.
//!
//! **A failed transaction** (a full disk, an I/O error) is rolled back whole: every append and
//! delete in it is answered `unavailable`, and the counters in memory are not touched, so the
//! next append of a room numbers from the same seq.
//!
//! **Opening never fails for want of disk space.** A room that cannot open its log fails to
//! start, and a room that keeps failing to start would, beyond the restart intensity, shut the
//! server down: a full disk must not do that. So a new room whose row could not be written is
//! opened anyway, [`UNSAVED`]: it has an epoch and an empty log in memory, and its first append
//! that commits writes its row.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use rusqlite::{params, Connection, OptionalExtension};
use tokio::sync::oneshot;

use super::checkpoint::{self, CheckpointWanted};
use super::direct::DirectCommits;
use super::retention::{self, Maintenance};
use super::{lock, Command, Opened, RoomMeta, SqliteOptions, WriterStats, UNSAVED};
use crate::protocol::unix_millis;
use crate::room_log::{Appended, Epoch, LogError, NewEntry, StoredFrame};

/// Most commands in one transaction.
pub const MAX_COMMANDS: usize = 1024;

/// A number for SQLite's signed 64-bit integers (every value we store is far below the cap).
pub(super) fn sql(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// A number read back from SQLite (never negative in a file we wrote).
pub(super) fn unsigned(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

pub(super) struct Writer {
    pub(super) connection: Connection,
    pub(super) options: SqliteOptions,
    pub(super) opened: Opened,
    pub(super) stats: Arc<WriterStats>,
    pub(super) maintenance: Maintenance,
}

/// An answer waiting for the commit.
enum Done {
    /// A room opened (`meta`), or `None` if its row could not even be read.
    Open {
        room: String,
        reply: oneshot::Sender<Result<RoomMeta, LogError>>,
        meta: Option<RoomMeta>,
    },
    Append(
        oneshot::Sender<Result<Appended, LogError>>,
        Result<Appended, LogError>,
    ),
    Delete(oneshot::Sender<Result<(), LogError>>, Result<(), LogError>),
}

impl Done {
    /// The answer of a committed transaction.
    fn committed(self) -> Answer {
        match self {
            Done::Open { reply, meta, .. } => Answer::Open(
                reply,
                meta.ok_or_else(|| LogError::unavailable("the room log could not be read")),
            ),
            Done::Append(reply, result) => Answer::Append(reply, result),
            Done::Delete(reply, result) => Answer::Delete(reply, result),
        }
    }
}

/// An outcome for a command's sender.
enum Answer {
    Open(
        oneshot::Sender<Result<RoomMeta, LogError>>,
        Result<RoomMeta, LogError>,
    ),
    Append(
        oneshot::Sender<Result<Appended, LogError>>,
        Result<Appended, LogError>,
    ),
    Delete(oneshot::Sender<Result<(), LogError>>, Result<(), LogError>),
}

/// The outcomes of one [`Writer::execute`], to be sent **after the writer is unlocked**: a
/// sender that gets its answer may append again at once, and should find the writer free.
#[must_use = "the answers must be sent"]
#[derive(Default)]
pub(super) struct Answers(Vec<Answer>);

impl Answers {
    pub(super) fn send(self) {
        for answer in self.0 {
            match answer {
                Answer::Open(reply, result) => {
                    let _ = reply.send(result);
                }
                Answer::Append(reply, result) => {
                    let _ = reply.send(result);
                }
                Answer::Delete(reply, result) => {
                    let _ = reply.send(result);
                }
            }
        }
    }
}

/// What one transaction changed, applied to memory only after its commit.
#[derive(Default)]
struct Changes {
    /// `None`: the room was deleted.
    rooms: HashMap<String, Option<RoomMeta>>,
    done: Vec<Done>,
    deleted_ids: Vec<i64>,
    /// Rows made by this transaction (gone again if it fails).
    created_ids: Vec<i64>,
    trim_ids: Vec<i64>,
    frames: u64,
    frames_deleted: u64,
}

impl Writer {
    pub(super) fn new(
        connection: Connection,
        options: SqliteOptions,
        opened: Opened,
        stats: Arc<WriterStats>,
    ) -> Writer {
        Writer {
            connection,
            options,
            opened,
            stats,
            maintenance: Maintenance::new(),
        }
    }

    /// Whether maintenance is due now (the thread should look without waiting).
    pub(super) fn has_work_due(&self) -> bool {
        self.maintenance.wait().is_zero()
    }

    /// Runs `batch` in one transaction; the answers (after the commit, or the error after the
    /// rollback) are for the caller to send once it has let go of the writer.
    pub(super) fn execute(&mut self, batch: Vec<Command>) -> Answers {
        #[cfg(test)]
        let batch = {
            let mut kept = Vec::with_capacity(batch.len());
            for command in batch {
                match command {
                    Command::Pause { paused, release } => {
                        let _ = paused.send(());
                        let _ = release.recv();
                    }
                    other => kept.push(other),
                }
            }
            kept
        };
        if batch.is_empty() {
            return Answers::default();
        }
        // Only a panic halfway through an earlier batch could have left a transaction open.
        self.roll_back();
        let mut changes = Changes::default();
        let mut commands = batch.into_iter();
        let mut failure = self.connection.execute_batch("BEGIN IMMEDIATE").err();
        if failure.is_none() {
            for command in commands.by_ref() {
                if let Err(error) = self.apply(command, &mut changes) {
                    failure = Some(error);
                    break;
                }
            }
        }
        if failure.is_none() {
            failure = self.connection.execute_batch("COMMIT").err();
        }
        if let Some(error) = failure {
            self.roll_back();
            self.stats.failures.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(%error, "the room log could not be written; the transaction was rolled back");
            let error =
                LogError::unavailable(format!("the room log could not be written ({error})"));
            return self.fail(changes, commands.collect(), &error);
        }
        {
            let mut opened = lock(&self.opened);
            for (room, meta) in changes.rooms {
                match meta {
                    Some(meta) => {
                        opened.insert(room, meta);
                    }
                    None => {
                        opened.remove(&room);
                    }
                }
            }
        }
        self.stats.commits.fetch_add(1, Ordering::Relaxed);
        self.stats
            .frames
            .fetch_add(changes.frames, Ordering::Relaxed);
        self.stats
            .frames_deleted
            .fetch_add(changes.frames_deleted, Ordering::Relaxed);
        for id in changes.deleted_ids {
            self.maintenance.delete_later(id);
        }
        for id in changes.trim_ids {
            self.maintenance.trim_later(id);
        }
        Answers(changes.done.into_iter().map(Done::committed).collect())
    }

    /// Answers a rolled-back transaction's commands, and those it never got to: appends and
    /// deletes fail; opens succeed all the same (see the module docs), unsaved if their row
    /// was new.
    fn fail(&mut self, changes: Changes, rest: Vec<Command>, error: &LogError) -> Answers {
        let mut answers = Vec::new();
        for done in changes.done {
            match done {
                Done::Open {
                    room,
                    reply,
                    meta: Some(mut meta),
                } => {
                    if changes.created_ids.contains(&meta.id) {
                        meta.id = UNSAVED;
                    }
                    answers.push(Answer::Open(reply, Ok(self.remember(room, meta))));
                }
                Done::Open { reply, .. } => answers.push(Answer::Open(reply, Err(error.clone()))),
                Done::Append(reply, _) => answers.push(Answer::Append(reply, Err(error.clone()))),
                Done::Delete(reply, _) => answers.push(Answer::Delete(reply, Err(error.clone()))),
            }
        }
        for command in rest {
            match command {
                Command::Open { room, reply } => {
                    // Outside any transaction: a read, which a full disk still allows.
                    let known = lock(&self.opened).get(&room).cloned();
                    let meta = match known {
                        Some(meta) => Ok(meta),
                        None => match load_by_name(&self.connection, &room) {
                            Ok(Some(meta)) => Ok(meta),
                            Ok(None) => Ok(unsaved()),
                            Err(read_error) => Err(unavailable(&read_error)),
                        },
                    };
                    let meta = meta.map(|meta| self.remember(room, meta));
                    answers.push(Answer::Open(reply, meta));
                }
                Command::Append { reply, .. } => {
                    answers.push(Answer::Append(reply, Err(error.clone())));
                }
                Command::Delete { reply, .. } => {
                    answers.push(Answer::Delete(reply, Err(error.clone())));
                }
                Command::Wake => {}
                #[cfg(test)]
                Command::Pause { .. } => {}
            }
        }
        Answers(answers)
    }

    /// Records an opened room in memory (unless another open got there first) and returns
    /// what memory now holds for it.
    fn remember(&self, room: String, meta: RoomMeta) -> RoomMeta {
        lock(&self.opened).entry(room).or_insert(meta).clone()
    }

    /// After a failed statement or commit: back to autocommit, whatever SQLite already undid.
    pub(super) fn roll_back(&mut self) {
        if !self.connection.is_autocommit() {
            if let Err(error) = self.connection.execute_batch("ROLLBACK") {
                tracing::error!(%error, "the room log could not roll back");
            }
        }
    }

    /// Runs one command inside the transaction. An `Err` is a database error: the whole
    /// transaction fails (the command's answer is already in `changes.done`).
    fn apply(&mut self, command: Command, changes: &mut Changes) -> rusqlite::Result<()> {
        match command {
            Command::Open { room, reply } => {
                let mut meta = match self.load_or_new(&room, changes) {
                    Ok(meta) => meta,
                    Err(error) => {
                        changes.done.push(Done::Open {
                            room,
                            reply,
                            meta: None,
                        });
                        return Err(error);
                    }
                };
                let written = if meta.id == UNSAVED {
                    self.insert_row(&room, &mut meta, changes)
                } else {
                    Ok(())
                };
                if written.is_ok() {
                    changes.rooms.insert(room.clone(), Some(meta.clone()));
                }
                changes.done.push(Done::Open {
                    room,
                    reply,
                    meta: Some(meta),
                });
                written
            }
            Command::Append {
                room,
                epoch,
                entries,
                reply,
            } => match self.append(&room, &epoch, entries, changes) {
                Ok(result) => {
                    changes.done.push(Done::Append(reply, result));
                    Ok(())
                }
                Err(error) => {
                    changes
                        .done
                        .push(Done::Append(reply, Err(unavailable(&error))));
                    Err(error)
                }
            },
            Command::Delete { room, reply } => match self.delete_room(&room, changes) {
                Ok(()) => {
                    changes.done.push(Done::Delete(reply, Ok(())));
                    Ok(())
                }
                Err(error) => {
                    changes
                        .done
                        .push(Done::Delete(reply, Err(unavailable(&error))));
                    Err(error)
                }
            },
            Command::Wake => Ok(()),
            #[cfg(test)]
            Command::Pause { .. } => Ok(()),
        }
    }

    /// The room as this transaction sees it: its own changes first, then memory.
    fn known(&self, room: &str, changes: &Changes) -> Option<Option<RoomMeta>> {
        if let Some(meta) = changes.rooms.get(room) {
            return Some(meta.clone());
        }
        lock(&self.opened).get(room).cloned().map(Some)
    }

    /// The room from memory or its row, or a new one ([`UNSAVED`], a new epoch).
    fn load_or_new(&mut self, room: &str, changes: &Changes) -> rusqlite::Result<RoomMeta> {
        if let Some(Some(meta)) = self.known(room, changes) {
            return Ok(meta);
        }
        Ok(load_by_name(&self.connection, room)?.unwrap_or_else(unsaved))
    }

    /// Writes the row of an [`UNSAVED`] room, which gets its id.
    fn insert_row(
        &mut self,
        room: &str,
        meta: &mut RoomMeta,
        changes: &mut Changes,
    ) -> rusqlite::Result<()> {
        let now = sql(unix_millis());
        self.connection
            .prepare_cached(
                "INSERT INTO rooms (name, epoch, last_seq, first_kept, kept_frames, kept_bytes, active_ts)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?
            .execute(params![
                room,
                meta.epoch.as_str(),
                sql(meta.last_seq),
                sql(meta.first_kept),
                sql(meta.kept_frames),
                sql(meta.kept_bytes),
                now
            ])?;
        meta.id = self.connection.last_insert_rowid();
        changes.created_ids.push(meta.id);
        self.make_room_for_new(room, changes)
    }

    /// Over the room cap, the least recently active room that nobody opened in this run (left
    /// by an earlier run) is deleted.
    fn make_room_for_new(&mut self, new: &str, changes: &mut Changes) -> rusqlite::Result<()> {
        let count: i64 = self
            .connection
            .query_row("SELECT COUNT(*) FROM rooms", [], |row| row.get(0))?;
        if unsigned(count) <= u64::try_from(self.options.max_rooms).unwrap_or(u64::MAX) {
            return Ok(());
        }
        let candidates: Vec<(i64, String)> = {
            let mut statement = self
                .connection
                .prepare_cached("SELECT id, name FROM rooms ORDER BY active_ts LIMIT 64")?;
            let rows = statement.query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?;
            rows.collect::<rusqlite::Result<_>>()?
        };
        let dormant = candidates
            .into_iter()
            .find(|(_, name)| name != new && self.known(name, changes).is_none());
        if let Some((id, name)) = dormant {
            tracing::info!(room = %name, "deleting a room stored by an earlier run to stay within --max-rooms");
            self.delete_row(id, changes)?;
        }
        Ok(())
    }

    fn append(
        &mut self,
        room: &str,
        epoch: &Epoch,
        entries: Vec<NewEntry>,
        changes: &mut Changes,
    ) -> rusqlite::Result<Result<Appended, LogError>> {
        let mut meta = match self.known(room, changes) {
            Some(Some(meta)) if meta.epoch == *epoch => meta,
            _ => return Ok(Err(LogError::gone(room))),
        };
        let count = u64::try_from(entries.len()).unwrap_or(u64::MAX);
        let Some(last) = meta
            .last_seq
            .checked_add(count)
            .filter(|last| i64::try_from(*last).is_ok())
        else {
            return Ok(Err(LogError::unavailable(format!(
                "#{room} has used up its sequence numbers"
            ))));
        };
        if meta.id == UNSAVED {
            self.insert_row(room, &mut meta, changes)?;
        }
        let mut frames = Vec::with_capacity(entries.len());
        let mut newest_ts = 0;
        {
            let mut insert = self.connection.prepare_cached(
                "INSERT INTO frames (room_id, seq, ts, size, frame) VALUES (?1, ?2, ?3, ?4, ?5)",
            )?;
            let mut seq = meta.last_seq;
            for entry in entries {
                seq += 1;
                let frame = entry.template.encode(seq);
                let size = u64::try_from(frame.as_str().len()).unwrap_or(u64::MAX);
                insert.execute(params![
                    meta.id,
                    sql(seq),
                    sql(entry.ts),
                    sql(size),
                    frame.as_str()
                ])?;
                meta.kept_bytes = meta.kept_bytes.saturating_add(size);
                newest_ts = newest_ts.max(entry.ts);
                frames.push(StoredFrame { seq, frame });
            }
        }
        meta.last_seq = last;
        meta.kept_frames = meta.kept_frames.saturating_add(count);
        let trimmed = retention::trim(
            &self.connection,
            &mut meta,
            &self.options.retention,
            None,
            retention::TRIM_BATCH,
        )?;
        if trimmed.more {
            changes.trim_ids.push(meta.id);
        }
        changes.frames_deleted += trimmed.deleted;
        retention::save(&self.connection, &meta, Some(newest_ts))?;
        changes.frames += count;
        let appended = Appended {
            epoch: meta.epoch.clone(),
            frames,
        };
        changes.rooms.insert(room.to_owned(), Some(meta));
        Ok(Ok(appended))
    }

    fn delete_room(&mut self, room: &str, changes: &mut Changes) -> rusqlite::Result<()> {
        let id = match self.known(room, changes) {
            Some(Some(meta)) => Some(meta.id),
            Some(None) => None,
            None => load_by_name(&self.connection, room)?.map(|meta| meta.id),
        };
        if let Some(id) = id.filter(|id| *id != UNSAVED) {
            self.delete_row(id, changes)?;
        }
        changes.rooms.insert(room.to_owned(), None);
        Ok(())
    }

    /// Deletes a room's row now; its frames go in batches later.
    fn delete_row(&mut self, id: i64, changes: &mut Changes) -> rusqlite::Result<()> {
        self.connection
            .prepare_cached("DELETE FROM rooms WHERE id = ?1")?
            .execute([id])?;
        self.connection
            .prepare_cached("INSERT OR IGNORE INTO deleted_rooms (id) VALUES (?1)")?
            .execute([id])?;
        changes.deleted_ids.push(id);
        Ok(())
    }
}

/// The writer thread: the queue's group commits, checkpoints and maintenance.
pub(super) struct WriterThread {
    pub(super) writer: Arc<Mutex<Writer>>,
    pub(super) direct: Arc<DirectCommits>,
    pub(super) checkpoint_wanted: CheckpointWanted,
    pub(super) stats: Arc<WriterStats>,
}

impl WriterThread {
    /// Runs until every sender is gone (the store was dropped).
    pub(super) fn run(self, queue: Receiver<Command>) {
        loop {
            let wait = {
                let writer = lock(&self.writer);
                checkpoint::run_if_wanted(&self.checkpoint_wanted, &writer.connection, &self.stats);
                writer.maintenance.wait()
            };
            self.stats.waiting.store(true, Ordering::Release);
            let received = queue.recv_timeout(wait);
            self.stats.waiting.store(false, Ordering::Release);
            match received {
                Ok(first) => {
                    let mut batch = vec![first];
                    while batch.len() < MAX_COMMANDS {
                        match queue.try_recv() {
                            Ok(command) => batch.push(command),
                            Err(_) => break,
                        }
                    }
                    // A wake-up only brings the thread round the loop (checkpoint, maintenance).
                    batch.retain(|command| !matches!(command, Command::Wake));
                    if !batch.is_empty() {
                        self.execute(batch);
                    }
                }
                Err(RecvTimeoutError::Timeout) => lock(&self.writer).maintain(),
                Err(RecvTimeoutError::Disconnected) => break,
            }
        }
        tracing::debug!("room log writer stopped");
    }

    fn execute(&self, batch: Vec<Command>) {
        let mut writer = lock(&self.writer);
        let started = Instant::now();
        let answers = writer.execute(batch);
        let took = started.elapsed();
        drop(writer);
        answers.send();
        self.direct.committed_by_thread(took);
    }
}

/// A room with no row yet: a new epoch, nothing stored.
fn unsaved() -> RoomMeta {
    RoomMeta {
        id: UNSAVED,
        epoch: Epoch::random(),
        last_seq: 0,
        first_kept: 1,
        kept_frames: 0,
        kept_bytes: 0,
    }
}

fn unavailable(error: &rusqlite::Error) -> LogError {
    LogError::unavailable(format!("the room log could not be written ({error})"))
}

const SELECT_META: &str =
    "SELECT id, name, epoch, last_seq, first_kept, kept_frames, kept_bytes FROM rooms";

fn meta_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<(String, RoomMeta)> {
    let epoch: String = row.get(2)?;
    Ok((
        row.get(1)?,
        RoomMeta {
            id: row.get(0)?,
            epoch: Epoch::from_stored(epoch),
            last_seq: unsigned(row.get(3)?),
            first_kept: unsigned(row.get(4)?),
            kept_frames: unsigned(row.get(5)?),
            kept_bytes: unsigned(row.get(6)?),
        },
    ))
}

pub(super) fn load_by_name(
    connection: &Connection,
    room: &str,
) -> rusqlite::Result<Option<RoomMeta>> {
    connection
        .prepare_cached(&format!("{SELECT_META} WHERE name = ?1"))?
        .query_row([room], meta_from_row)
        .optional()
        .map(|row| row.map(|(_, meta)| meta))
}

pub(super) fn load_by_id(
    connection: &Connection,
    id: i64,
) -> rusqlite::Result<Option<(String, RoomMeta)>> {
    connection
        .prepare_cached(&format!("{SELECT_META} WHERE id = ?1"))?
        .query_row([id], meta_from_row)
        .optional()
}
