//! A desktop panel stand-in on the session bus: the tray host and the notification server a
//! real desktop (KDE's panel, GNOME with the AppIndicator extension, …) provides.
//!
//! - **`org.kde.StatusNotifierWatcher`** at `/StatusNotifierWatcher`: the registry tray icons
//!   register with. It says a host is registered (`IsStatusNotifierHostRegistered`), which is
//!   what the app asks before it hides its window instead of quitting, and it records every
//!   `RegisterStatusNotifierItem` call (the app's icon registering itself proves the stand-in is
//!   the one the app talks to).
//! - **`org.freedesktop.Notifications`** at `/org/freedesktop/Notifications`: records every
//!   `Notify` call (summary and body) and answers with an id, as a notification daemon does.
//!
//! Both names are released when the panel is dropped, and the drop waits until the bus has
//! really forgotten them, so the next test starts without a tray host.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use zbus::blocking::fdo::DBusProxy;
use zbus::names::BusName;
use zbus::zvariant::OwnedValue;

use crate::support::webdriver::Result;

pub const WATCHER: &str = "org.kde.StatusNotifierWatcher";
pub const NOTIFICATIONS: &str = "org.freedesktop.Notifications";

/// What the panel has seen.
#[derive(Debug, Default)]
pub struct Seen {
    /// `RegisterStatusNotifierItem` arguments.
    pub items: Vec<String>,
    /// `(summary, body)` of each `Notify` call.
    pub notifications: Vec<(String, String)>,
}

type Shared = Arc<Mutex<Seen>>;

struct Watcher(Shared);

#[zbus::interface(name = "org.kde.StatusNotifierWatcher")]
impl Watcher {
    fn register_status_notifier_item(&self, service: &str) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .items
            .push(service.to_owned());
    }

    fn register_status_notifier_host(&self, _service: &str) {}

    #[zbus(property)]
    fn registered_status_notifier_items(&self) -> Vec<String> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .items
            .clone()
    }

    #[zbus(property)]
    fn is_status_notifier_host_registered(&self) -> bool {
        true
    }

    #[zbus(property)]
    fn protocol_version(&self) -> i32 {
        0
    }
}

struct Notifications(Shared);

#[zbus::interface(name = "org.freedesktop.Notifications")]
impl Notifications {
    #[allow(clippy::too_many_arguments)]
    fn notify(
        &self,
        _app_name: &str,
        _replaces_id: u32,
        _app_icon: &str,
        summary: &str,
        body: &str,
        _actions: Vec<String>,
        _hints: HashMap<String, OwnedValue>,
        _expire_timeout: i32,
    ) -> u32 {
        let mut seen = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        seen.notifications
            .push((summary.to_owned(), body.to_owned()));
        u32::try_from(seen.notifications.len()).unwrap_or(u32::MAX)
    }

    fn close_notification(&self, _id: u32) {}

    fn get_capabilities(&self) -> Vec<String> {
        vec!["body".to_owned()]
    }

    fn get_server_information(&self) -> (String, String, String, String) {
        (
            "trw-test-panel".to_owned(),
            "tests".to_owned(),
            "1".to_owned(),
            "1.2".to_owned(),
        )
    }
}

/// The running stand-in; drop it to take the tray away.
pub struct Panel {
    connection: zbus::blocking::Connection,
    seen: Shared,
}

impl Panel {
    /// Claims both names on the session bus (fails if another program holds them).
    pub fn start() -> Result<Panel> {
        let seen = Shared::default();
        let connection = zbus::blocking::connection::Builder::session()?
            .serve_at("/StatusNotifierWatcher", Watcher(Arc::clone(&seen)))?
            .serve_at(
                "/org/freedesktop/Notifications",
                Notifications(Arc::clone(&seen)),
            )?
            .name(WATCHER)?
            .name(NOTIFICATIONS)?
            .build()
            .map_err(|e| format!("the panel stand-in could not claim its names: {e}"))?;
        Ok(Panel { connection, seen })
    }

    /// A copy of what the panel has seen so far.
    pub fn items(&self) -> Vec<String> {
        self.seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .items
            .clone()
    }

    /// `(summary, body)` of every notification so far.
    pub fn notifications(&self) -> Vec<(String, String)> {
        self.seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .notifications
            .clone()
    }
}

impl Drop for Panel {
    fn drop(&mut self) {
        for name in [WATCHER, NOTIFICATIONS] {
            let _ = self.connection.release_name(name);
        }
        // Wait (bounded) until the bus has no owner for the watcher any more.
        let deadline = Instant::now() + Duration::from_secs(5);
        while name_has_owner(WATCHER) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// Whether some connection owns `name` on the session bus.
pub fn name_has_owner(name: &str) -> bool {
    let owned = || -> Result<bool> {
        let connection = zbus::blocking::Connection::session()?;
        let bus = DBusProxy::new(&connection)?;
        Ok(bus.name_has_owner(BusName::try_from(name)?)?)
    };
    owned().unwrap_or(false)
}
