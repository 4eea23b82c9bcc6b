//! A test double of the **store** (never of the room): the real [`MemoryStore`] underneath, with
//! two switches a unit test can flip: make appends fail (a full disk, Redis down), or hold them
//! until released (a slow disk), to observe what a room does meanwhile.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use futures_util::FutureExt;
use tokio::sync::Semaphore;

use super::{
    Appended, HistoryLimits, LogError, LogFuture, LogHead, LogPage, LogStore, MemoryStore,
    NewEntry, RoomLog,
};

/// The switches, shared by the store and every log it opened.
pub struct Controls {
    fail_appends: AtomicBool,
    hold_appends: AtomicBool,
    released: Semaphore,
    appends_started: AtomicUsize,
}

impl Default for Controls {
    fn default() -> Controls {
        Controls {
            fail_appends: AtomicBool::new(false),
            hold_appends: AtomicBool::new(false),
            released: Semaphore::new(0),
            appends_started: AtomicUsize::new(0),
        }
    }
}

impl Controls {
    /// From now on appends fail (`true`) or work again (`false`).
    pub fn fail_appends(&self, fail: bool) {
        self.fail_appends.store(fail, Ordering::SeqCst);
    }

    /// From now on each append waits for [`Controls::release`].
    pub fn hold_appends(&self) {
        self.hold_appends.store(true, Ordering::SeqCst);
    }

    /// Lets `count` held appends go on, and stops holding new ones.
    pub fn release(&self, count: usize) {
        self.hold_appends.store(false, Ordering::SeqCst);
        self.released.add_permits(count);
    }

    /// Appends called so far (held or not).
    pub fn appends_started(&self) -> usize {
        self.appends_started.load(Ordering::SeqCst)
    }
}

/// A [`MemoryStore`] behind [`Controls`].
#[derive(Clone)]
pub struct ControlledStore {
    inner: MemoryStore,
    pub controls: Arc<Controls>,
}

impl ControlledStore {
    pub fn new(limits: HistoryLimits) -> ControlledStore {
        ControlledStore {
            inner: MemoryStore::new(limits),
            controls: Arc::default(),
        }
    }
}

struct ControlledLog {
    inner: Arc<dyn RoomLog>,
    controls: Arc<Controls>,
}

impl RoomLog for ControlledLog {
    fn append(&self, entries: Vec<NewEntry>) -> LogFuture<'_, Appended> {
        self.controls.appends_started.fetch_add(1, Ordering::SeqCst);
        let held = self.controls.hold_appends.load(Ordering::SeqCst);
        async move {
            if held {
                if let Ok(permit) = self.controls.released.acquire().await {
                    permit.forget();
                }
            }
            if self.controls.fail_appends.load(Ordering::SeqCst) {
                return Err(LogError::unavailable("the disk is full (test double)"));
            }
            self.inner.append(entries).await
        }
        .boxed()
    }

    fn range(&self, after: u64, limit: usize) -> LogFuture<'_, LogPage> {
        self.inner.range(after, limit)
    }

    fn before(&self, before: u64, limit: usize) -> LogFuture<'_, LogPage> {
        self.inner.before(before, limit)
    }

    fn head(&self) -> LogFuture<'_, LogHead> {
        self.inner.head()
    }
}

impl LogStore for ControlledStore {
    fn open<'a>(&'a self, room: &'a str) -> LogFuture<'a, Arc<dyn RoomLog>> {
        async move {
            let inner = self.inner.open(room).await?;
            let log: Arc<dyn RoomLog> = Arc::new(ControlledLog {
                inner,
                controls: Arc::clone(&self.controls),
            });
            Ok(log)
        }
        .boxed()
    }

    fn find<'a>(&'a self, room: &'a str) -> LogFuture<'a, Option<Arc<dyn RoomLog>>> {
        self.inner.find(room)
    }

    fn delete<'a>(&'a self, room: &'a str) -> LogFuture<'a, ()> {
        self.inner.delete(room)
    }
}
