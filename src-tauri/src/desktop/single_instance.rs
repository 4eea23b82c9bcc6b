//! One app per user session: a second launch focuses the first window and exits.
//!
//! On Linux, tauri-plugin-single-instance claims a well-known name on the **D-Bus session bus**
//! (`<identifier>.SingleInstance`). A second launch finds the name taken, calls the first
//! instance over the bus (which shows its window, creating it if needed:
//! [`show_or_create`]) and exits with status 0.
//!
//! Two rules follow from that:
//!
//! 1. **The check must happen before the server binds its port.** Otherwise a second launch
//!    would fail on the port (with `--port`) or quietly start a second server on the next port.
//!    Plugins run their setup before the app's own `setup`, which is where the server starts
//!    (see `desktop::run`).
//! 2. **No bus, no check, no crash.** Without a session bus (a bare SSH session, some containers)
//!    the app cannot find other instances. Older versions of the plugin panic there, so this
//!    module only registers the plugin when a bus actually accepts a connection, and otherwise
//!    logs that it could not check and starts normally.

use std::path::Path;

use tauri::{Builder, Wry};

use super::window::show_or_create;

/// Adds the single-instance plugin when a D-Bus session bus is reachable; logs why not otherwise.
pub fn register(builder: Builder<Wry>) -> Builder<Wry> {
    match session_bus_problem() {
        None => builder.plugin(tauri_plugin_single_instance::init(|app, _argv, _cwd| {
            tracing::info!("another launch of the app: focusing this window instead");
            show_or_create(app);
        })),
        Some(problem) => {
            tracing::warn!("could not check for another instance: {problem}");
            builder
        }
    }
}

/// `None` when a session bus accepts connections; otherwise why the check is impossible.
///
/// Only the transport is probed (can we connect to the socket?), not the D-Bus handshake:
/// that is enough to tell "no bus at all" from "a bus", and it costs well under a millisecond.
fn session_bus_problem() -> Option<String> {
    if !cfg!(target_os = "linux") {
        return None; // other platforms use a named mutex / socket, no bus needed
    }
    let address = match std::env::var("DBUS_SESSION_BUS_ADDRESS") {
        Ok(address) if !address.trim().is_empty() => address,
        _ => match default_session_socket() {
            // systemd user sessions put the bus at $XDG_RUNTIME_DIR/bus without always
            // exporting the variable; zbus finds it there too.
            Some(path) => format!("unix:path={path}"),
            None => return Some("no D-Bus session bus (DBUS_SESSION_BUS_ADDRESS is unset)".into()),
        },
    };
    // An address is a `;`-separated list of alternatives; one that connects is enough.
    let mut last_problem = format!("no usable transport in DBUS_SESSION_BUS_ADDRESS={address}");
    for alternative in address.split(';').filter(|a| !a.is_empty()) {
        match probe(alternative) {
            Ok(()) => return None,
            Err(problem) => last_problem = problem,
        }
    }
    Some(format!("no D-Bus session bus: {last_problem}"))
}

fn default_session_socket() -> Option<String> {
    let runtime_dir = std::env::var_os("XDG_RUNTIME_DIR")?;
    let path = Path::new(&runtime_dir).join("bus");
    path.exists().then(|| path.to_string_lossy().into_owned())
}

/// Connects to one D-Bus address such as `unix:path=/run/user/0/bus` or
/// `unix:abstract=/tmp/dbus-XYZ,guid=…`.
fn probe(address: &str) -> Result<(), String> {
    let (transport, params) = address.split_once(':').unwrap_or((address, ""));
    let param = |key: &str| {
        params
            .split(',')
            .filter_map(|kv| kv.split_once('='))
            .find(|(k, _)| *k == key)
            .map(|(_, v)| unescape(v))
    };
    match transport {
        "unix" => probe_unix(param("path"), param("abstract")),
        // tcp, launchd, autolaunch…: rare on Linux desktops; let the plugin try them.
        _ => Ok(()),
    }
    .map_err(|error| format!("{address}: {error}"))
}

#[cfg(unix)]
fn probe_unix(path: Option<String>, abstract_name: Option<String>) -> std::io::Result<()> {
    use std::os::unix::net::UnixStream;
    if let Some(path) = path {
        return UnixStream::connect(path).map(drop);
    }
    #[cfg(target_os = "linux")]
    if let Some(name) = abstract_name {
        use std::os::linux::net::SocketAddrExt;
        let address = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes())?;
        return UnixStream::connect_addr(&address).map(drop);
    }
    let _ = abstract_name;
    Err(std::io::Error::other(
        "neither path= nor abstract= in the address",
    ))
}

#[cfg(not(unix))]
fn probe_unix(_path: Option<String>, _abstract_name: Option<String>) -> std::io::Result<()> {
    Ok(())
}

/// D-Bus addresses escape bytes as `%XX`.
fn unescape(value: &str) -> String {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok());
        match (bytes[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::{probe, unescape};

    #[test]
    fn unescapes_percent_sequences() {
        assert_eq!(unescape("/tmp/dbus%2dabc"), "/tmp/dbus-abc");
        assert_eq!(unescape("plain"), "plain");
        assert_eq!(unescape("bad%zz"), "bad%zz");
    }

    #[test]
    fn a_missing_socket_is_a_problem() {
        let error = probe("unix:path=/nonexistent/trw-test-bus").unwrap_err();
        assert!(error.contains("/nonexistent/trw-test-bus"), "{error}");
    }
}
