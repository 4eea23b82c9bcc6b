//! Is there a tray to live in? On Linux a tray icon is a StatusNotifierItem: the app registers
//! it with the session bus's `org.kde.StatusNotifierWatcher`, and a panel (the "host": KDE's,
//! GNOME's AppIndicator extension, waybar, …) shows it. No watcher, or a watcher with no host
//! registered, means nobody shows the icon; then hiding the window would leave the user with an
//! invisible process and no way back to it. So the window's close button quits, as it always did
//! (see `close_to_tray`).
//!
//! The question is asked when it matters (at each close request, and while a `--minimized`
//! start waits for a panel), not once at start: panels start late at login and restart. Each
//! probe is two D-Bus round trips on a fresh connection (1.5–10 ms, median about 4 ms, measured
//! by the e2e tests on a busy 2-core machine; logged at debug level), with a 1 s timeout per call
//! so that a stuck watcher cannot freeze the close button. zbus is already built for the single-instance
//! and notification plugins.
//!
//! Other platforms always have a tray (the Windows notification area, the macOS menu bar).

use std::time::Duration;

/// The well-known bus name (and interface) of the StatusNotifier watcher.
pub const WATCHER: &str = "org.kde.StatusNotifierWatcher";

/// The watcher's object path.
const WATCHER_PATH: &str = "/StatusNotifierWatcher";

/// Longest wait for one D-Bus answer.
const CALL_TIMEOUT: Duration = Duration::from_secs(1);

/// True when a tray host will show the icon. Blocking (D-Bus round trips, bounded by
/// [`CALL_TIMEOUT`]): call it from the GUI thread only for a user action, else from a blocking
/// task.
pub fn available() -> bool {
    if !cfg!(target_os = "linux") {
        return true;
    }
    let started = std::time::Instant::now();
    let answer = probe();
    tracing::debug!(
        elapsed_us = started.elapsed().as_micros(),
        "asked the session bus for a tray host"
    );
    match answer {
        Ok(present) => present,
        Err(error) => {
            tracing::debug!(%error, "no tray host: the session bus did not answer");
            false
        }
    }
}

fn probe() -> zbus::Result<bool> {
    let connection = zbus::blocking::connection::Builder::session()?
        .method_timeout(CALL_TIMEOUT)
        .build()?;
    let bus = zbus::blocking::fdo::DBusProxy::new(&connection)?;
    let name = zbus::names::BusName::try_from(WATCHER)?;
    if !bus.name_has_owner(name)? {
        tracing::debug!("no tray host: no {WATCHER} on the session bus");
        return Ok(false);
    }
    let watcher = zbus::blocking::Proxy::new(&connection, WATCHER, WATCHER_PATH, WATCHER)?;
    // A watcher without a host: nobody draws the icon. A watcher that does not say (a minimal
    // implementation without the property) is taken at its word that a panel runs.
    match watcher.get_property::<bool>("IsStatusNotifierHostRegistered") {
        Ok(host) => Ok(host),
        Err(error) => {
            tracing::debug!(%error, "the tray watcher does not say whether a host runs");
            Ok(true)
        }
    }
}
